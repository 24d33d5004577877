/* SPDX-License-Identifier: BSD-2-Clause */
/* Checks made before anything is loaded, so each failure is one clear line. */
#ifndef REFBPF_PRIVILEGES_H
#define REFBPF_PRIVILEGES_H

#include <stddef.h>

/*
 * 0 when this process may load BPF, open perf events and read other
 * processes' memory (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE, or
 * CAP_SYS_ADMIN + CAP_SYS_PTRACE; without CAP_SYS_PTRACE when restricted
 * to what its user could ptrace: invoker.h). Otherwise -EPERM and the
 * missing capabilities named in `why`. After invoker_init().
 */
int privileges_check(char *why, size_t whylen);

/* 0 when kernel BTF is readable at `path` (NULL: the kernel's own). */
int btf_check(const char *path, char *why, size_t whylen);

#endif /* REFBPF_PRIVILEGES_H */
