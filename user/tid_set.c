// SPDX-License-Identifier: BSD-2-Clause
#include "tid_set.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot_of(uint32_t tid, size_t cap)
{
	return (size_t)(((uint64_t)tid * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* Keep the load factor at most 1/2 with one more tid in. */
static int reserve(struct tid_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 256;
	uint32_t *slots;

	if ((s->count + 1) * 2 <= s->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->slots[i])
			continue;
		for (j = slot_of(s->slots[i] - 1, cap); slots[j]; j = (j + 1) & (cap - 1))
			;
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int tid_set_add(struct tid_set *s, uint32_t tid)
{
	size_t i;

	/* tid + 1 must not wrap to the empty mark */
	if (tid == UINT32_MAX)
		return -EINVAL;
	if (reserve(s))
		return -ENOMEM;
	for (i = slot_of(tid, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == tid + 1)
			return 0;
	s->slots[i] = tid + 1;
	s->count++;
	return 1;
}

void tid_set_clear(struct tid_set *s)
{
	free(s->slots);
	*s = (struct tid_set){ 0 };
}
