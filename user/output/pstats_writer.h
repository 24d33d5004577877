/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The profile as a pstats file (marshal of the dict cProfile writes), for
 * `python -m pstats`, snakeviz, cprofilev, gprof2dot, and for merging with
 * cProfile's own output: keys are (co_filename, co_firstlineno, co_name).
 *
 * A sampler cannot count calls, so the values mean:
 *   cc = nc = samples in which the function is on the stack (once per
 *             sample, however deep the recursion)
 *   tt      = self samples (innermost frame) x sampling period, seconds
 *   ct      = cc x sampling period, seconds
 * and for each caller of a function, (nc, cc, tt, ct) with
 *   nc = cc = samples in which the caller directly calls it (once each)
 *   tt      = its self samples under that caller x period
 *   ct      = nc x period.
 * One synthetic entry ('~', 0, '<refbpf: all samples>') calls every
 * outermost frame and is the only entry without callers (snakeviz needs
 * one); ('~', 0, '<truncated stack>') sits between it and stacks whose
 * outermost frames were cut off. Without samples, the file holds just the
 * root with zeros: pstats refuses an empty dict.
 */
#ifndef REFBPF_PSTATS_WRITER_H
#define REFBPF_PSTATS_WRITER_H

#include "profile/profile.h"

/* Written atomically. 0 or -errno. */
int pstats_write(const char *path, const struct profile *p);

#endif /* REFBPF_PSTATS_WRITER_H */
