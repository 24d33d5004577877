/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --mode wall: a thread already off the CPU when recording starts sends no
 * switch-out until it runs again, maybe never. What BPF sends at a
 * switch-out is made for it instead, from a look at it: its Python stack
 * read from memory (user/python/stack_reader.c), its kernel stack (--kernel) and
 * the user registers it entered the kernel with (--native), from a task
 * iterator (bpf/threads.bpf.c), and its user stack from memory at those
 * registers. A thread blocked at the look may wake while it is read: what
 * was read is its wait only if its next switch-in comes after the read
 * ended, which the caller learns from BPF (user/record/off_cpu.c).
 */
#ifndef REFBPF_WAITING_THREADS_H
#define REFBPF_WAITING_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/layout/py_layout.h"

/* Called with each record made, as the ring buffer's callback is, and the
 * time (CLOCK_MONOTONIC ns) by which its stacks were read. */
typedef int (*waiting_event_fn)(void *ctx, void *data, size_t size, uint64_t read_ns);

struct waiting_opts {
	bool kernel;		/* --kernel: each stack's kernel frames */
	bool native;		/* --native: an EVENT_NATIVE_STACK before each */
};

/*
 * For every thread of `pid` blocked at the look, an EVENT_OFF_CPU record of
 * time `t_ns` (CPU number 0), preceded with `native` by its
 * EVENT_NATIVE_STACK. Threads on a CPU or runnable are left to their next
 * switch-out. 0, or the callback's error, or -ENOMEM; a look that cannot
 * be made makes nothing.
 */
int waiting_threads_emit(pid_t pid, const struct py_layout *l, uint64_t t_ns,
			 const struct waiting_opts *o, waiting_event_fn fn, void *ctx);

#endif /* REFBPF_WAITING_THREADS_H */
