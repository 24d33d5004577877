/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one open-addressing table of integers: a 32-bit key (a pid, a tid)
 * to a 32-bit value (an index into the caller's dense array, say), 8
 * bytes a slot, linear probing, load factor at most 1/2. Keys are never
 * removed one by one: callers that drop entries rebuild the table.
 */
#ifndef REFBPF_INT_TABLE_H
#define REFBPF_INT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct int_entry {
	uint32_t key_plus_one;	/* 0 marks an empty slot */
	uint32_t value;
};

struct int_table {
	struct int_entry *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t count;
};

/* `key`'s value, or NULL. */
uint32_t *int_table_find(const struct int_table *t, uint32_t key);

/*
 * `key`'s value, inserted as 0 when new (*added then true). NULL when out
 * of memory, or for key UINT32_MAX (not storable).
 */
uint32_t *int_table_get(struct int_table *t, uint32_t key, bool *added);

/* Empty, its memory freed: the table is ready for use again. */
void int_table_clear(struct int_table *t);

#endif /* REFBPF_INT_TABLE_H */
