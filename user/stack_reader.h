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

/* How a stack was taken: `refbpf dump` checks (user/dump_stacks.c); the
 * other readers take it as read. */
enum stack_source {
	STACK_READ = 0,		/* read from memory; the thread may have run meanwhile */
	STACK_READ_STILL,	/* read from memory, the thread off the CPU throughout */
	STACK_SAMPLED,		/* walked by BPF in the thread's own context */
	STACK_UNSETTLED,	/* neither could be had: no frames */
};

struct thread_stack {
	uint64_t tstate;
	uint64_t thread_id;		/* the thread pointer (pthread_self) */
	unsigned int interpreter;	/* 0: the main one; then in creation order */
	struct py_frame_rec *frames;	/* innermost first */
	uint64_t *frame_addrs;		/* where each frame was read (dump --locals) */
	uint32_t nframes;
	bool truncated;			/* more than REFBPF_MAX_FRAMES */
	bool read_error;		/* the walk stopped on unreadable memory */
	uint8_t source;			/* enum stack_source */
	/* 3.12+: the C-stack shim frames met, innermost first, as a sample's
	 * native stack record lists them (--native: user/native_merge.c) */
	uint32_t nshims;
	uint64_t shims[REFBPF_NATIVE_MAX_SHIMS];
};

/* 0 with every thread state's stack, or -errno. */
int stack_reader_read(pid_t pid, const struct py_layout *l, struct thread_stack **out, size_t *n);
void stack_reader_free(struct thread_stack *stacks, size_t n);

/* Read ts->tstate's stack again, into ts (its frames and flags replaced,
 * source STACK_READ). 0 or -errno. */
int stack_reader_reread(pid_t pid, const struct py_layout *l, struct thread_stack *ts);

#endif /* REFBPF_STACK_READER_H */
