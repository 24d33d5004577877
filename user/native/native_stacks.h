/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --native, per process: a sample's copied stack -> its native frames,
 * symbolized, with the eval loop's activations marked for merging with
 * the Python frames (native_merge.h).
 */
#ifndef REFBPF_NATIVE_STACKS_H
#define REFBPF_NATIVE_STACKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "native/native_merge.h"
#include "native/native_symbols.h"
#include "native/native_unwind.h"
#include "profile/profile.h"
#include "bpf/abi.h"

/* Native frames one sample may expand to, inlined ones included. */
#define NATIVE_STACK_FRAMES (NATIVE_MAX_FRAMES * 2)

struct native_stacks;

struct native_stacks *native_stacks_new(pid_t pid, struct profile *prof);
void native_stacks_free(struct native_stacks *ns);

/*
 * The frames of one EVENT_NATIVE_STACK record of `size` bytes, innermost
 * first, at most `cap`. Returns their count, or -ENOMEM.
 */
int native_stacks_read(struct native_stacks *ns, const struct native_stack_event *ev, size_t size,
		       struct native_frame *out, size_t cap);

/* What --native cost in userspace, for -v. */
struct native_costs {
	uint64_t stacks;	/* stacks unwound */
	uint64_t stack_bytes;	/* bytes of stack they carried */
	uint64_t unwind_ns, symbolize_ns;
	uint64_t addresses;	/* distinct addresses symbolized */
	uint64_t lookup_ns;	/* of symbolize_ns, looking them up in the files */
};

/* Add this process's costs to *c. */
void native_stacks_stats(const struct native_stacks *ns, struct native_costs *c);

#endif /* REFBPF_NATIVE_STACKS_H */
