/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Code object -> function and instruction -> line, for one process, read
 * from its memory as samples arrive and cached by (address, validation key)
 * so a freed and reused code address is never shown as the wrong function.
 */
#ifndef REFBPF_SYMBOLIZER_H
#define REFBPF_SYMBOLIZER_H

#include <stdint.h>

#include "profile/profile.h"
#include "python/py_process.h"
#include <linux/types.h>

#include "bpf/abi.h"

struct symbolizer;

struct symbolizer_stats {
	uint64_t lookups, misses;
	uint64_t stale;		/* code object changed between sample and read */
	uint64_t unreadable;	/* code object could not be read */
};

struct symbolizer *symbolizer_new(const struct py_process *proc, struct profile *prof);
void symbolizer_free(struct symbolizer *s);

/*
 * Resolve one frame into a profile function and line. Frames whose code
 * object cannot be read or no longer matches the sample resolve to a
 * placeholder function; this never fails except on ENOMEM (-ENOMEM).
 */
int symbolizer_resolve(struct symbolizer *s, const struct py_frame_rec *rec, struct pframe *out);

const struct symbolizer_stats *symbolizer_stats(const struct symbolizer *s);

#endif /* REFBPF_SYMBOLIZER_H */
