/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --native: unwind a copied user stack with the CFI of the target's mapped
 * files (libdw), as `perf --call-graph dwarf` does. Nothing is read from
 * the live process but /proc/PID/maps and its files: the stack and the
 * registers come from the sample.
 */
#ifndef REFBPF_NATIVE_UNWIND_H
#define REFBPF_NATIVE_UNWIND_H

#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/abi.h"

/* Native frames kept per sample, innermost first. */
#define NATIVE_MAX_FRAMES 256

struct native_unwinder;

/* One per process. NULL with errno set when its maps cannot be read. */
struct native_unwinder *native_unwinder_new(pid_t pid);
void native_unwinder_free(struct native_unwinder *u);

/*
 * Unwind the stack of one EVENT_NATIVE_STACK record of `size` bytes (as
 * received: every length is checked). pcs[0] gets the interrupted
 * instruction, the others an address inside the call instruction each
 * frame returns to (return address - 1), so all of them look up the right
 * function and line. sps[i] gets frame i's stack pointer (0 if unknown):
 * frame i's locals lie in [sps[i], sps[i + 1]). Returns the frames found
 * (0 when the record is bad).
 */
size_t native_unwind(struct native_unwinder *u, const struct native_stack_event *ev, size_t size,
		     uint64_t *pcs, uint64_t *sps, size_t max);

/* The modules and debug info found for the process, for symbolization. */
Dwfl *native_unwinder_dwfl(struct native_unwinder *u);

/*
 * Modules are reported once; a library loaded later (an extension module
 * imported after attaching) is found by reporting again, at most once a
 * second. Returns 1 when the modules changed (cached symbols are stale).
 */
int native_unwinder_refresh(struct native_unwinder *u);

/* Changes whenever the refresh found new modules. */
uint64_t native_unwinder_generation(const struct native_unwinder *u);

/* For -v: stacks unwound, nanoseconds spent on them, stack bytes copied. */
void native_unwinder_stats(const struct native_unwinder *u, uint64_t *stacks, uint64_t *ns,
			   uint64_t *bytes);

#endif /* REFBPF_NATIVE_UNWIND_H */
