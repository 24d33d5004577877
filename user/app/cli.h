/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-line parsing for `refbpf` (recording), `refbpf record PROGRAM`,
 * `refbpf report FILE`, `top` and `dump`. */
#ifndef REFBPF_CLI_H
#define REFBPF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "output/outputs.h"

struct cli_options {
	pid_t *pids;
	size_t npids;
	unsigned int rate_hz;
	double duration_s;		/* 0: until Ctrl-C */
	int sort;			/* enum table_sort */
	size_t limit;			/* rows, 0 = all */
	output_paths paths;		/* -o, --folded, ...: by enum output_id */
	struct output_style style;	/* --icicle */
	const char *report_input;	/* `refbpf report FILE`: render a raw profile */
	bool top;			/* `refbpf top`: a live view instead of outputs */
	bool dump;			/* `refbpf dump`: every thread's stack now */
	bool json;			/* dump --json */
	bool locals;			/* dump --locals: each frame's local variables */
	char **command;			/* `refbpf record [options] [--] PROGRAM ARGS...` */
	bool as_root;			/* record --as-root: keep root under sudo */
	const char *btf_path;		/* --btf: kernel BTF for kernels without /sys/kernel/btf */
	double every_s;			/* --every: window length, 0: one window */
	unsigned int thread_limit;	/* --thread-limit: threads per process with their own entry */
	unsigned int keep;		/* --keep: windows kept per output, 0: all */
	bool children;			/* -C: follow descendants */
	bool all;			/* --all: every Python process, present and future */
	bool per_thread;		/* --threads: a root per thread */
	bool kernel;			/* --kernel: kernel frames on top */
	bool gil;			/* --gil: GIL held / waited for */
	bool wall;			/* --mode wall: off-CPU time too */
	bool merge_processes;		/* --merge-processes: no root per process */
	bool native;			/* --native: C frames interleaved with Python's */
	int verbose;			/* -v: 1, -vv: 2 (and libbpf's log) */
	bool help, version;
};

/*
 * Parse argv. Returns 0, or -EINVAL after printing a one-line error.
 * `--pid` takes one or more PIDs, comma- or space-separated, so that
 * `-p $(pgrep -f NAME)` works however many PIDs it expands to.
 * `refbpf report FILE [output options]` sets report_input and refuses the
 * options that only make sense while recording. `refbpf record [options]
 * [--] PROGRAM ARGS...` sets command (pointing into argv); options end at
 * PROGRAM. No arguments at all asks for the usage (help).
 */
int cli_parse(int argc, char **argv, struct cli_options *o);
void cli_free(struct cli_options *o);
void cli_usage(FILE *out);

/* Parse a whole decimal number in [min, max]. 0 or -EINVAL. */
int cli_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif /* REFBPF_CLI_H */
