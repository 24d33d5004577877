/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The profile in speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json):
 *
 * - shared.frames: one frame per function, in profile order: "name" its
 *   qualified name, "file" its filename, "line" its first line (as in the
 *   report; the line being executed is not kept). Synthetic frames
 *   (process and thread roots, "<truncated stack>" above stacks whose
 *   outermost frames were cut off) have a name only.
 * - profiles: one "sampled" profile per thread, sorted by (pid, tid), named
 *   "PID 123 worker-1 (tid 456)"; samples are frame-index lists root first,
 *   stacks differing only in lines merged, sorted by their frames.
 *   activeProfileIndex is the thread with the most samples.
 * - weights: seconds, unit "seconds" (samples x period, the period rounded
 *   to the nanosecond, written as exact decimals), so speedscope shows
 *   times; unit "none" with sample counts when the period is unknown.
 *   startValue 0, endValue the thread's total.
 *
 * Every string is JSON-escaped (escape_json_fputs): names read back exactly,
 * invalid UTF-8 as U+FFFD.
 */
#ifndef REFBPF_SPEEDSCOPE_WRITER_H
#define REFBPF_SPEEDSCOPE_WRITER_H

#include "profile/profile.h"

/* Written atomically. 0 or -errno. */
int speedscope_write(const char *path, const struct profile *p);

#endif /* REFBPF_SPEEDSCOPE_WRITER_H */
