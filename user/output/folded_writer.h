/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Collapsed stacks, the input of flamegraph.pl, inferno, speedscope:
 *
 *   frame;frame;frame count
 *
 * outermost frame first, one line per distinct stack (threads and
 * processes merged), sorted bytewise. A frame is `qualname (filename:line)`
 * with the line being executed (the function's first line when unknown);
 * synthetic frames ("~", line 0: process and thread roots) are the bare name.
 * Stacks whose outermost frames were cut off start with `[truncated]`.
 * Names are escaped so they cannot break a line or a frame: control
 * characters and invalid UTF-8 bytes become \xNN, U+2028/9 \u2028/9,
 * and ';' becomes ':'.
 */
#ifndef REFBPF_FOLDED_WRITER_H
#define REFBPF_FOLDED_WRITER_H

#include "profile/profile.h"

/* Written atomically. 0 or -errno. */
int folded_write(const char *path, const struct profile *p);

#endif /* REFBPF_FOLDED_WRITER_H */
