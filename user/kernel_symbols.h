/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Kernel addresses -> function names, from /proc/kallsyms (--kernel). Root
 * sees the real addresses; without CAP_SYSLOG every address reads as 0 and
 * nothing resolves (refbpf then names frames "<kernel ?>").
 */
#ifndef REFBPF_KERNEL_SYMBOLS_H
#define REFBPF_KERNEL_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel_symbols;

/* NULL with errno set when kallsyms cannot be read. */
struct kernel_symbols *kernel_symbols_load(const char *path);
void kernel_symbols_free(struct kernel_symbols *k);

/* The function containing `addr`, NULL when none does. Valid until freed. */
const char *kernel_symbols_find(const struct kernel_symbols *k, uint64_t addr);

/* Is `addr` in the scheduler's own functions (__sched: schedule,
 * do_nanosleep...), which the kernel leaves out of a sleeping task's
 * stack? False when kallsyms does not say where they lie. */
bool kernel_symbols_in_scheduler(const struct kernel_symbols *k, uint64_t addr);

/* How many function symbols with a real (non-zero) address were read. */
size_t kernel_symbols_count(const struct kernel_symbols *k);

#endif /* REFBPF_KERNEL_SYMBOLS_H */
