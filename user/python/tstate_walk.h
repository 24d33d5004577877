/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every thread state of a target as userspace walks them (`refbpf dump`,
 * the layout check): _PyRuntime's interpreters from the list's head, each
 * one's thread states in list order. BPF walks the same lists in its own
 * resumable steps (bpf/thread_state.h); this is the one userspace walk.
 */
#ifndef REFBPF_TSTATE_WALK_H
#define REFBPF_TSTATE_WALK_H

#include <stdint.h>
#include <sys/types.h>

#include "python/layout/py_layout.h"

#define TSTATE_WALK_MAX_INTERPRETERS 256
#define TSTATE_WALK_MAX_THREADS 4096

struct tstate_visit {
	uint64_t interp;
	uint64_t tstate;
	/* in list order: new interpreters go to the head, so the main one
	 * comes last */
	unsigned int interp_index;
};

/* Return nonzero to stop the walk, which returns that value. */
typedef int (*tstate_visit_fn)(const struct tstate_visit *v, void *arg);

struct tstate_walk_result {
	unsigned int interpreters;	/* interpreter states met */
	unsigned int threads;		/* thread states visited */
	const char *unreadable;		/* what could not be read, or NULL */
};

/*
 * Visit each thread state of `l` (walk.runtime_addr set) in `pid`, up to
 * the limits above. 0 when the lists were followed to their ends; -EFAULT
 * when a pointer of them led to unreadable memory (res->unreadable says
 * which); or the visitor's nonzero return.
 */
int tstate_walk(pid_t pid, const struct py_layout *l, tstate_visit_fn fn, void *arg,
		struct tstate_walk_result *res);

#endif /* REFBPF_TSTATE_WALK_H */
