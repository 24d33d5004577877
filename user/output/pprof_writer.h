/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The profile as pprof's profile.proto (github.com/google/pprof), gzipped,
 * for `go tool pprof` and everything that reads it:
 *
 * - sample_type [samples/count, cpu/nanoseconds]; period_type
 *   cpu/nanoseconds; period = the sampling period in ns (rounded);
 *   duration_nanos; time_nanos is not set (the output is deterministic:
 *   the same profile gives the same bytes);
 * - Function per sampled function: id, name = qualified name, system_name
 *   = co_name when it differs from the qualified name (pprof "demangles" a
 *   name equal to its system_name as C++, turning "<module>" into ""),
 *   filename, start_line = first line. Synthetic frames
 *   (process and thread roots) are functions of file "~", line 0, and
 *   stacks whose outermost frames were cut off start with the function
 *   "<truncated stack>";
 * - Location per distinct (function, line executed): one Line, no
 *   address; an unknown line is the function's first line. All are in one
 *   Mapping marked as symbolized (has_functions, filenames, line numbers),
 *   so pprof does not look for a binary;
 * - Sample per distinct (pid, tid, stack): location_id leaf first, value
 *   [count, count x period], labels pid and tid (numbers) and thread_name
 *   (the thread's comm, when known);
 * - comment: one line per target (PID, version, command line, or why it
 *   was not profiled);
 * - string table sorted, index 0 "". Strings are kept exactly, but invalid
 *   UTF-8 becomes U+FFFD (protobuf strings must be UTF-8).
 */
#ifndef REFBPF_PPROF_WRITER_H
#define REFBPF_PPROF_WRITER_H

#include "profile/profile.h"

/* Written atomically. 0 or -errno. */
int pprof_write(const char *path, const struct profile *p);

#endif /* REFBPF_PPROF_WRITER_H */
