/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `refbpf dump`'s stacks, each one the thread had at some instant. Memory
 * read while a thread runs tears (frames pushed and popped under the
 * reader), so:
 *  - a thread off the CPU is read from memory, and the read is kept only
 *    if the thread stayed off throughout: not running, and its CPU time
 *    and context switches the same before and after (the kernel moves
 *    both whenever it runs);
 *  - a running thread's stack is taken in its own context, by the
 *    sampler's BPF walk at a cpu-clock perf event on that thread;
 *  - both are tried a few times; a thread for which neither worked gets
 *    source STACK_UNSETTLED and no frames.
 */
#ifndef REFBPF_DUMP_STACKS_H
#define REFBPF_DUMP_STACKS_H

#include <stddef.h>
#include <sys/types.h>

#include "py_process.h"
#include "stack_reader.h"

/* The BPF sampler, loaded when a dump first meets a running thread and
 * kept for the next processes of the same run. */
struct dump_sampler;

struct dump_sampler *dump_sampler_new(void);
void dump_sampler_free(struct dump_sampler *s);

struct dump_stacks {
	struct thread_stack *stacks;	/* one per thread state, source set */
	size_t nstacks;
	struct thread_record *tasks;	/* the process's threads at the last look */
	size_t ntasks;
};

/* Every thread state's stack of process `proc`. 0, or -errno with `why`. */
int dump_stacks_take(const struct py_process *proc, struct dump_sampler *sampler,
		     struct dump_stacks *out, char *why, size_t whylen);
void dump_stacks_free(struct dump_stacks *d);

#endif /* REFBPF_DUMP_STACKS_H */
