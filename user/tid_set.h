/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A set of thread ids: 8 bytes a thread, for counting the threads a
 * process has had once they no longer get a profile entry each.
 */
#ifndef REFBPF_TID_SET_H
#define REFBPF_TID_SET_H

#include <stddef.h>
#include <stdint.h>

struct tid_set {
	uint32_t *slots;	/* tid + 1; 0 marks an empty slot */
	size_t cap;		/* a power of two, or 0 */
	size_t count;
};

/* 1 when `tid` is new (and now in the set), 0 when it was in, -ENOMEM. */
int tid_set_add(struct tid_set *s, uint32_t tid);

void tid_set_clear(struct tid_set *s);

#endif /* REFBPF_TID_SET_H */
