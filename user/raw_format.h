/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The raw profile (--raw FILE): everything a recording collected, before
 * any presentation choice (per-process or per-thread roots, sorting), so
 * `refbpf report FILE` can render any output later, without the target and
 * without root.
 *
 * A line-oriented text format, one record per line, fields separated by
 * single spaces; strings percent-encoded (every byte outside a small safe
 * set as %XX), "!" for a missing string and "%" for an empty one:
 *
 *   refbpf-raw 1
 *   meta KEY=VALUE ...            rate_hz period_s duration_s lost err0..err7
 *                                 [mode=wall] [gil=1] [kernel=1]
 *   func ID FIRSTLINENO FILENAME NAME QUALNAME     (ID 0, 1, 2, ... in order)
 *   stack PID TID FLAGS COUNT FUNC:LINE[,FUNC:LINE...]    root first
 *   thread PID TID NAME
 *   pythread PID TID PYTHON_NAME  after its thread line, when it has one
 *   target PID NSPID STATE SAMPLES VERSION CMDLINE REASON
 *
 * Stacks come after the functions they name; threads name threads that
 * have stacks.
 */
#ifndef REFBPF_RAW_FORMAT_H
#define REFBPF_RAW_FORMAT_H

#include <stddef.h>

#include "profile.h"

/* Written atomically. 0 or -errno. */
int raw_write(const char *path, const struct profile *p);

/*
 * Read a raw profile. NULL on failure with `why` saying where and what
 * ("FILE:LINE: ..."). The file is untrusted: every field is checked.
 */
struct profile *raw_read(const char *path, char *why, size_t whylen);

/* The same from a buffer (for the fuzzer); `name` is used in messages. */
struct profile *raw_parse(const char *buf, size_t len, const char *name, char *why,
			  size_t whylen);

#endif /* REFBPF_RAW_FORMAT_H */
