/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A copy of a profile whose stacks start with synthetic root frames: one
 * per process (when several were profiled) and one per thread (--threads),
 * so every writer shows them without knowing about them. Synthetic frames
 * are keyed ('~', 0, '<process PID cmdline>') / ('~', 0, '<thread TID name>'),
 * the way cProfile keys what is not Python code.
 */
#ifndef REFBPF_PROFILE_ROOTS_H
#define REFBPF_PROFILE_ROOTS_H

#include <stdbool.h>

#include "profile/profile.h"

/* Number of distinct processes with samples. */
size_t profile_sampled_processes(const struct profile *p);

/* NULL on ENOMEM. */
struct profile *profile_with_roots(const struct profile *src, bool per_process, bool per_thread);

#endif /* REFBPF_PROFILE_ROOTS_H */
