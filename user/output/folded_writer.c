// SPDX-License-Identifier: BSD-2-Clause
/*
 * Stacks differing only by thread, or by characters the escaping merges,
 * render to the same line: lines are rendered into one arena, sorted, and
 * equal neighbours summed.
 */
#include "output/folded_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "base/grow.h"
#include "base/escape.h"

struct line {
	size_t off;		/* into the arena, NUL-terminated */
	uint64_t count;
};

struct arena {
	char *data;
	size_t len, cap;
};

static int reserve(struct arena *a, size_t n)
{
	return GROW_ROOM(a->data, a->cap, a->len, n, 65536);
}

static int append(struct arena *a, const char *s, size_t n)
{
	if (reserve(a, n))
		return -ENOMEM;
	memcpy(a->data + a->len, s, n);
	a->len += n;
	return 0;
}

static int append_escaped(struct arena *a, const char *s)
{
	size_t n = escape_folded(NULL, 0, s);

	/* +1: escape_folded always writes its NUL */
	if (reserve(a, n + 1))
		return -ENOMEM;
	escape_folded(a->data + a->len, n + 1, s);
	a->len += n;
	return 0;
}

static int append_frame(struct arena *a, const struct pfunc *f, int32_t line)
{
	char num[16];
	int n;

	/* Synthetic frames (process and thread roots) have no location. */
	if (!strcmp(f->filename, "~") && f->firstlineno == 0)
		return append_escaped(a, f->qualname[0] ? f->qualname : f->name);
	if (append_escaped(a, f->qualname[0] ? f->qualname : f->name) ||
	    append(a, " (", 2) || append_escaped(a, f->filename))
		return -ENOMEM;
	/* a line nobody knows is shown as such, not as another line */
	if (line < 0)
		return append(a, ":?)", 3);
	n = snprintf(num, sizeof(num), ":%d)", (int)line);
	return append(a, num, (size_t)n);
}

static int render(struct arena *a, const struct profile *p, const struct pstack *ps)
{
	if ((ps->flags & PSTACK_TRUNCATED) && append(a, "[truncated];", 12))
		return -ENOMEM;
	for (uint32_t i = 0; i < ps->nframes; i++) {
		const struct pframe *fr = &ps->frames[i];

		if ((i && append(a, ";", 1)) || append_frame(a, &p->funcs[fr->func], fr->line))
			return -ENOMEM;
	}
	return append(a, "", 1);
}

static int cmp_line(const void *x, const void *y, void *arg)
{
	const char *data = arg;

	return strcmp(data + ((const struct line *)x)->off, data + ((const struct line *)y)->off);
}

struct folded_job {
	const struct arena *a;
	const struct line *lines;
	size_t n;
};

static int write_lines(FILE *f, void *ctx)
{
	const struct folded_job *job = ctx;
	const struct arena *a = job->a;
	const struct line *lines = job->lines;
	size_t n = job->n;

	for (size_t i = 0; i < n;) {
		uint64_t count = 0;
		size_t j = i;

		for (; j < n && !strcmp(a->data + lines[i].off, a->data + lines[j].off); j++)
			count += lines[j].count;
		if (fprintf(f, "%s %" PRIu64 "\n", a->data + lines[i].off, count) < 0)
			return errno ? -errno : -EIO;
		i = j;
	}
	return 0;
}

int folded_write(const char *path, const struct profile *p)
{
	struct arena a = { 0 };
	struct line *lines = calloc(p->nstacks + 1, sizeof(*lines));
	int err = -ENOMEM;

	if (!lines)
		goto cleanup;
	for (size_t i = 0; i < p->nstacks; i++) {
		lines[i].off = a.len;
		lines[i].count = p->stacks[i]->count;
		if (render(&a, p, p->stacks[i]))
			goto cleanup;
	}
	if (p->nstacks)
		qsort_r(lines, p->nstacks, sizeof(*lines), cmp_line, a.data);
	err = atomic_write(path, write_lines,
			   &(struct folded_job){ .a = &a, .lines = lines, .n = p->nstacks });
cleanup:
	free(lines);
	free(a.data);
	return err;
}
