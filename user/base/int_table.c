// SPDX-License-Identifier: BSD-2-Clause
#include "base/int_table.h"

#include <stdlib.h>

/* Fibonacci hashing: consecutive pids and tids spread over the table. */
static size_t home_of(uint32_t key, size_t cap)
{
	return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static struct int_entry *slot_of(struct int_entry *slots, size_t cap, uint32_t key)
{
	size_t i = home_of(key, cap);

	while (slots[i].key_plus_one && slots[i].key_plus_one != key + 1)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

uint32_t *int_table_find(const struct int_table *t, uint32_t key)
{
	struct int_entry *e;

	if (!t->cap || key == UINT32_MAX)
		return NULL;
	e = slot_of(t->slots, t->cap, key);
	return e->key_plus_one ? &e->value : NULL;
}

/* Keep the load factor at most 1/2 with one more key in. */
static int reserve(struct int_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct int_entry *slots;

	if ((t->count + 1) * 2 <= t->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].key_plus_one)
			*slot_of(slots, cap, t->slots[i].key_plus_one - 1) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

uint32_t *int_table_get(struct int_table *t, uint32_t key, bool *added)
{
	struct int_entry *e;

	*added = false;
	if (key == UINT32_MAX || reserve(t))
		return NULL;
	e = slot_of(t->slots, t->cap, key);
	if (!e->key_plus_one) {
		*e = (struct int_entry){ .key_plus_one = key + 1 };
		t->count++;
		*added = true;
	}
	return &e->value;
}

void int_table_clear(struct int_table *t)
{
	free(t->slots);
	*t = (struct int_table){ 0 };
}
