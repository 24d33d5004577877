/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Why a sample of a target thread produced no Python stack: enum
 * unwind_error is BPF's (bpf/abi.h, where each reason is counted);
 * this is its one userspace side: the names people read and how many
 * counters a profile and a raw file keep.
 */
#ifndef REFBPF_UNWIND_ERROR_H
#define REFBPF_UNWIND_ERROR_H

#include <linux/types.h>

#include "bpf/abi.h"

/* Counters a profile keeps: the raw format writes err0 .. err7 whatever
 * the enum holds, so files stay readable both ways when it grows. */
#define UNWIND_SLOTS 8
_Static_assert(UNWIND_NR <= UNWIND_SLOTS, "raw files keep 8 unwind error counters");

/* "no thread state", ...; "?" for a reason this build does not know. */
const char *unwind_error_name(int reason);

#endif /* REFBPF_UNWIND_ERROR_H */
