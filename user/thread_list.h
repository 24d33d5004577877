/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every thread of a process with its thread pointer, read by a BPF task
 * iterator (bpf/threads.bpf.c): what names a PyThreadState found in memory
 * (its thread_id is the thread pointer) by thread ID and comm.
 */
#ifndef REFBPF_THREAD_LIST_H
#define REFBPF_THREAD_LIST_H

#include <stddef.h>
#include <sys/types.h>

#include "py_layout.h"

/* 0 and a malloc'd array, or -errno with `why` set. */
int thread_list_read(pid_t pid, struct thread_record **out, size_t *n, char *why, size_t whylen);

#endif /* REFBPF_THREAD_LIST_H */
