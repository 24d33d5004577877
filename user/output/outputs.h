/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The file outputs, in one table: each row is the option that asks for
 * it, its writer, whether it is written after roots (per process, per
 * thread) are added, and its lines of --help. The command line, the
 * writing of each recording or --every window, and the test fixture loop
 * over it, so a new format is a writer file and a row here.
 *
 * The text table on stdout is not a row: it is always written, last.
 */
#ifndef REFBPF_OUTPUTS_H
#define REFBPF_OUTPUTS_H

#include <stdbool.h>
#include <stdio.h>

#include "profile/profile.h"

enum output_id {
	OUTPUT_PSTATS = 0,
	OUTPUT_FOLDED,
	OUTPUT_SPEEDSCOPE,
	OUTPUT_PPROF,
	OUTPUT_FLAMEGRAPH,
	OUTPUT_HTML,
	OUTPUT_RAW,
	OUTPUT_NR,
};

/* How some outputs are drawn, from options that are not outputs. */
struct output_style {
	bool icicle;		/* --icicle: the flame graph's root at the top */
};

struct output_kind {
	const char *name;		/* "pstats": also the test fixture's option */
	const char *option;		/* its long option: "--output" */
	char short_option;		/* 'o' for -o, or 0 */
	/* Written atomically: 0 or -errno (atomic_strerror() explains it). */
	int (*write)(const char *path, const struct profile *p, const struct output_style *s);
	/* false: the profile as recorded (the raw file keeps what
	 * `refbpf report` needs to add roots itself) */
	bool rooted;
	bool recording_only;		/* refused by `refbpf report` */
	const char *help;		/* its lines of --help, aligned, '\n' ended */
};

extern const struct output_kind outputs[OUTPUT_NR];

/* The paths asked for, by enum output_id; NULL: not asked for. */
typedef const char *output_paths[OUTPUT_NR];

static inline bool outputs_any(const output_paths paths)
{
	for (int i = 0; i < OUTPUT_NR; i++)
		if (paths[i])
			return true;
	return false;
}

/* "-o, --folded, ..., --raw": every output's option, for messages. */
void outputs_print_options(FILE *out);

#endif /* REFBPF_OUTPUTS_H */
