/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `refbpf dump --pid PID`: the Python stack of every thread right now,
 * sleeping ones included, innermost frame first (like py-spy dump), or
 * as JSON with --json. Read from the target's memory from userspace with
 * the walk the BPF sampler uses (bpf/py_walk.h); threads are named through
 * a BPF task iterator.
 */
#ifndef REFBPF_DUMP_H
#define REFBPF_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Dump each PID to stdout, with each frame's local variables when
 * `locals`. 0 when every one was dumped, else 1 (each failure reported on
 * stderr in one line). */
int dump_run(const pid_t *pids, size_t npids, bool json, bool locals);

#endif /* REFBPF_DUMP_H */
