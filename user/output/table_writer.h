/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The text table: a header (targets, duration, rate, samples, what was
 * lost) and a table of functions in the spirit of
 * `python -m cProfile -s cumulative`. Strings from the targets are
 * printed escaped (see escape.h).
 */
#ifndef REFBPF_TABLE_WRITER_H
#define REFBPF_TABLE_WRITER_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

enum table_sort {
	TABLE_SORT_CUMULATIVE = 0,	/* cumulative samples, descending (default) */
	TABLE_SORT_TOTTIME,		/* self samples, descending */
	TABLE_SORT_SAMPLES,		/* self samples: tottime under our column's name */
	TABLE_SORT_NCALLS,		/* cumulative samples: what we report as calls */
	TABLE_SORT_NAME,		/* function name as shown (qualname), ascending */
	TABLE_SORT_FILENAME,		/* file name, ascending */
};

struct table_opts {
	int sort;		/* enum table_sort */
	size_t limit;		/* rows at most; 0 = all */
};

/*
 * cProfile's names: cumulative (cumtime), tottime (time, self), samples,
 * ncalls (calls), name, filename (file). The enum value, or -1.
 */
int table_parse_sort(const char *s);

/*
 * Write the table. Ties in the sort key are broken by function name, then
 * file name, then line, so the output is deterministic. 0 or -errno.
 */
int table_write(FILE *out, const struct profile *p, const struct table_opts *o);

#endif /* REFBPF_TABLE_WRITER_H */
