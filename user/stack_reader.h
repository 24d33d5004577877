/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every thread state's current Python stack, read from the target's memory
 * in userspace (`refbpf dump`: a sleeping thread never triggers a
 * cpu-clock sample). The walk is bpf/py_walk.h, the one the BPF sampler
 * uses, with process_vm_readv as its reader.
 */
#ifndef REFBPF_STACK_READER_H
#define REFBPF_STACK_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "py_layout.h"

struct thread_stack {
	uint64_t tstate;
	uint64_t thread_id;		/* the thread pointer (pthread_self) */
	unsigned int interpreter;	/* 0: the main one; then in creation order */
	struct py_frame_rec *frames;	/* innermost first */
	uint64_t *frame_addrs;		/* where each frame was read (dump --locals) */
	uint32_t nframes;
	bool truncated;			/* more than REFBPF_MAX_FRAMES */
	bool read_error;		/* the walk stopped on unreadable memory */
};

/* 0 with every thread state's stack, or -errno. */
int stack_reader_read(pid_t pid, const struct py_layout *l, struct thread_stack **out, size_t *n);
void stack_reader_free(struct thread_stack *stacks, size_t n);

#endif /* REFBPF_STACK_READER_H */
