/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every thread of a process with its thread pointer, read by a BPF task
 * iterator (bpf/threads.bpf.c): what names a PyThreadState found in memory
 * (its thread_id is the thread pointer) by thread ID and comm, and what
 * tells whether a thread ran between two looks (its CPU time and context
 * switches).
 */
#ifndef REFBPF_THREAD_LIST_H
#define REFBPF_THREAD_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "python/layout/py_layout.h"

/* 0 and a malloc'd array, or -errno with `why` set. */
int thread_list_read(pid_t pid, struct thread_record **out, size_t *n, char *why, size_t whylen);

/* Load the iterator now (with `waits`, the one that says where threads
 * wait too), not at the first look: a load takes a while (it parses the
 * kernel's BTF), which a recording should not spend while it runs.
 * Failures are left for the first look to report. */
void thread_list_prepare(bool waits);

/* The iterator loaded once, for several looks at one process. */
struct thread_lister;

/* NULL with `why` set (and errno) when it cannot be loaded. With `waits`,
 * each look also says where each thread waits (thread_lister_read_waits;
 * this needs a kernel that lets task iterators read a task's registers
 * and kernel stack, 5.15+). */
struct thread_lister *thread_lister_open(pid_t pid, bool waits, char *why, size_t whylen);
void thread_lister_close(struct thread_lister *t);
/* The threads now, as thread_list_read gives them. */
int thread_lister_read(struct thread_lister *t, struct thread_record **out, size_t *n, char *why,
		       size_t whylen);
/* The threads now, with where they wait (a lister opened with `waits`). */
int thread_lister_read_waits(struct thread_lister *t, struct thread_wait_record **out, size_t *n,
			     char *why, size_t whylen);

/* The thread whose thread pointer is `thread_id`, NULL when none. */
const struct thread_record *thread_list_find(const struct thread_record *tasks, size_t n,
					     uint64_t thread_id);

/* Did the thread stay off the CPU from `before` to `after` (two looks at
 * one thread)? Not running at either, and neither its CPU time nor its
 * context switches moved: the kernel counts both whenever it runs. */
bool thread_stayed_still(const struct thread_record *before, const struct thread_record *after);

#endif /* REFBPF_THREAD_LIST_H */
