/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The text report: a header (targets, duration, rate, samples, what was
 * lost) and a table of functions in the spirit of
 * `python -m cProfile -s cumulative`. Strings from the targets are
 * printed escaped (see escape.h).
 */
#ifndef REFBPF_REPORT_H
#define REFBPF_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

enum report_sort {
	REPORT_SORT_CUMULATIVE = 0,	/* cumulative samples, descending (default) */
	REPORT_SORT_TOTTIME,		/* self samples, descending */
	REPORT_SORT_SAMPLES,		/* self samples: tottime under our column's name */
	REPORT_SORT_NCALLS,		/* cumulative samples: what we report as calls */
	REPORT_SORT_NAME,		/* function name as shown (qualname), ascending */
	REPORT_SORT_FILENAME,		/* file name, ascending */
};

struct report_opts {
	int sort;		/* enum report_sort */
	size_t limit;		/* rows at most; 0 = all */
};

/*
 * cProfile's names: cumulative (cumtime), tottime (time, self), samples,
 * ncalls (calls), name, filename (file). The enum value, or -1.
 */
int report_parse_sort(const char *s);

/*
 * Write the report. Ties in the sort key are broken by function name, then
 * file name, then line, so the output is deterministic. 0 or -errno.
 */
int report_write(FILE *out, const struct profile *p, const struct report_opts *o);

#endif /* REFBPF_REPORT_H */
