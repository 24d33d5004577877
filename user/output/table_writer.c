// SPDX-License-Identifier: BSD-2-Clause
#include "output/table_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

#include "profile/callgraph.h"
#include "base/escape.h"
#include "profile/gil_figures.h"

/* Targets named in the first header line; each has its own line below. */
#define HEADER_TARGETS 4

static const struct {
	const char *name;
	int sort;
} sort_names[] = {
	{ "cumulative", TABLE_SORT_CUMULATIVE },
	{ "cumtime", TABLE_SORT_CUMULATIVE },
	{ "tottime", TABLE_SORT_TOTTIME },
	{ "time", TABLE_SORT_TOTTIME },
	{ "self", TABLE_SORT_TOTTIME },
	{ "samples", TABLE_SORT_SAMPLES },
	{ "ncalls", TABLE_SORT_NCALLS },
	{ "calls", TABLE_SORT_NCALLS },
	{ "name", TABLE_SORT_NAME },
	{ "filename", TABLE_SORT_FILENAME },
	{ "file", TABLE_SORT_FILENAME },
};

int table_parse_sort(const char *s)
{
	for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
		if (!strcmp(s, sort_names[i].name))
			return sort_names[i].sort;
	return -1;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return (a < b) - (a > b);
}

static int cmp_int(int a, int b)
{
	return (a > b) - (a < b);
}

struct sort_ctx {
	const struct callgraph *cg;
	int sort;
};

static int cmp_row(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *ctx = arg;
	const struct cg_func *a = &ctx->cg->funcs[*(const size_t *)x];
	const struct cg_func *b = &ctx->cg->funcs[*(const size_t *)y];
	int c = 0;

	switch (ctx->sort) {
	case TABLE_SORT_TOTTIME:
	case TABLE_SORT_SAMPLES:
		c = cmp_u64_desc(a->self, b->self);
		break;
	case TABLE_SORT_FILENAME:
		c = strcmp(a->filename, b->filename);
		break;
	case TABLE_SORT_NAME:
		break;
	default:
		c = cmp_u64_desc(a->cum, b->cum);
		break;
	}
	if (!c)
		c = strcmp(a->qualname, b->qualname);
	if (!c)
		c = strcmp(a->filename, b->filename);
	if (!c)
		c = cmp_int(a->firstlineno, b->firstlineno);
	/* same key, different qualname: grouped, so only the name is left */
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

static const char *state_note(const struct ptarget *t)
{
	return t->state == PTARGET_EXITED ? "  exited during recording" : "";
}

static void print_targets_summary(FILE *out, const struct profile *p)
{
	uint64_t threads = profile_thread_count(p);

	fputs("refbpf: ", out);
	if (!p->ntargets)
		fputs("no targets", out);
	for (size_t i = 0; i < p->ntargets && i < HEADER_TARGETS; i++) {
		const struct ptarget *t = &p->targets[i];

		fprintf(out, "%sPID %" PRIu32 " ", i ? ", " : "", t->pid);
		if (t->state == PTARGET_NOT_PROFILED) {
			fputs("(not profiled)", out);
			continue;
		}
		fputs("(Python ", out);
		escape_terminal_fputs(t->version ? t->version : "?", out);
		fputs(")", out);
	}
	if (p->ntargets > HEADER_TARGETS)
		fprintf(out, " and %zu more", p->ntargets - HEADER_TARGETS);
	fprintf(out, "; %.2f s at %u Hz, %s mode%s%s; %" PRIu64 " samples, %" PRIu64 " thread%s",
		p->duration_s, p->rate_hz, p->mode == PROFILE_MODE_WALL ? "wall" : "cpu",
		p->kernel ? ", kernel stacks" : "", p->gil ? ", GIL" : "", p->total_samples,
		threads, threads == 1 ? "" : "s");
	if (p->merged_threads)
		fprintf(out, " (%" PRIu64 " merged as <%s>)", p->merged_threads,
			PROFILE_MERGED_THREAD_NAME);
	fputc('\n', out);
}

static void print_losses(FILE *out, const struct profile *p, uint64_t truncated,
			 uint64_t lines_unknown)
{
	uint64_t failed = 0;
	const char *sep = " (";

	for (int i = 0; i < UNWIND_NR; i++)
		failed += p->unwind_errors[i];
	fprintf(out, "Samples lost: %" PRIu64 "; not unwound: %" PRIu64, p->lost_samples, failed);
	for (int i = 0; i < UNWIND_NR; i++) {
		if (!p->unwind_errors[i])
			continue;
		fprintf(out, "%s%s: %" PRIu64, sep, unwind_error_name(i), p->unwind_errors[i]);
		sep = ", ";
	}
	if (failed)
		fputs(")", out);
	if (truncated)
		fprintf(out, "; truncated stacks: %" PRIu64, truncated);
	if (lines_unknown)
		fprintf(out, "; samples on an unknown line: %" PRIu64, lines_unknown);
	fputs("\n", out);
}

static void print_target(FILE *out, const struct ptarget *t)
{
	fprintf(out, "  PID %" PRIu32, t->pid);
	/* A container's process: the PID its own tools (ps, logs) show. */
	if (t->ns_pid && t->ns_pid != t->pid)
		fprintf(out, " (PID %" PRIu32 " in its namespace)", t->ns_pid);
	fputs("  ", out);
	if (t->state == PTARGET_NOT_PROFILED) {
		fputs("not profiled: ", out);
		escape_terminal_fputs(t->reason ? t->reason : "unknown reason", out);
		if (t->cmdline && *t->cmdline) {
			fputs("  ", out);
			escape_terminal_fputs(t->cmdline, out);
		}
		fputs("\n", out);
		return;
	}
	fputs("Python ", out);
	escape_terminal_fputs(t->version ? t->version : "?", out);
	fputs("  ", out);
	escape_terminal_fputs(t->cmdline ? t->cmdline : "?", out);
	fprintf(out, "  %" PRIu64 " samples%s\n", t->samples, state_note(t));
}

static double percent(uint64_t n, uint64_t total);

/* --gil: the whole recording's figures, and what they cannot show. */
static void print_gil_summary(FILE *out, const struct profile *p, const struct gil_figures *g)
{
	uint64_t on_cpu = g->total.held + g->total.not_held + g->total.disabled;

	fprintf(out, "GIL: held in %" PRIu64 " of %" PRIu64 " on-CPU samples (%.1f%%)", g->total.held,
		on_cpu, percent(g->total.held, on_cpu));
	if (p->mode == PROFILE_MODE_WALL)
		fprintf(out, "; waiting for it: %.3f s\n", (double)g->total.wait * profile_period(p));
	else
		fputs("; time waiting for it is off CPU: measured with --mode wall\n", out);
	/* free-threaded interpreters: a GIL exists, switched off */
	if (g->total.disabled)
		fprintf(out, "GIL: switched off (free-threaded) in %" PRIu64 " of %" PRIu64
			" on-CPU samples (%.1f%%)\n", g->total.disabled, on_cpu,
			percent(g->total.disabled, on_cpu));
}

static void print_header(FILE *out, const struct profile *p, const struct callgraph *cg,
			 const struct gil_figures *g)
{
	print_targets_summary(out, p);
	print_losses(out, p, cg->truncated, cg->lines_unknown);
	if (g)
		print_gil_summary(out, p, g);
	for (size_t i = 0; i < p->ntargets; i++)
		print_target(out, &p->targets[i]);
}

static double percent(uint64_t n, uint64_t total)
{
	return total ? 100.0 * (double)n / (double)total : 0.0;
}

static void print_row(FILE *out, const struct cg_func *f, uint64_t total, double period,
		      int width, const struct gil_figure *g)
{
	fprintf(out, "%*" PRIu64 " %6.1f%% %*" PRIu64 " %6.1f%% %9.3f %9.3f  ", width, f->self,
		percent(f->self, total), width, f->cum, percent(f->cum, total),
		(double)f->self * period, (double)f->cum * period);
	if (g && g->held + g->not_held + g->disabled)
		fprintf(out, "%6.1f%% %9.3f  ",
			percent(g->held, g->held + g->not_held + g->disabled),
			(double)g->wait * period);
	else if (g)
		fprintf(out, "%7s %9.3f  ", "-", (double)g->wait * period);
	escape_terminal_fputs(f->filename, out);
	fprintf(out, ":%d(", f->firstlineno);
	escape_terminal_fputs(f->qualname, out);
	fputs(")\n", out);
}

static void print_table(FILE *out, const struct callgraph *cg, const size_t *rows, size_t nrows,
			double period, size_t limit, const struct gil_figures *g)
{
	char digits[24];
	int width = snprintf(digits, sizeof(digits), "%" PRIu64, cg->total);
	size_t shown = limit && limit < nrows ? limit : nrows;

	if (width < 7)
		width = 7;
	fputs("\n", out);
	if (!nrows) {
		fputs("No Python samples were recorded.\n", out);
		return;
	}
	fprintf(out, "%*s %7s %*s %7s %9s %9s  ", width, "self", "self%", width, "cum", "cum%",
		"tottime", "cumtime");
	/* gil%: of its on-CPU samples, those holding the GIL; gilwait:
	 * seconds waiting for the GIL with it on the stack */
	if (g)
		fprintf(out, "%7s %9s  ", "gil%", "gilwait");
	fputs("filename:lineno(function)\n", out);
	for (size_t i = 0; i < shown; i++)
		print_row(out, &cg->funcs[rows[i]], cg->total, period, width,
			  g ? &g->func[rows[i]] : NULL);
	if (shown < nrows)
		fprintf(out, "... %zu more function%s not shown\n", nrows - shown,
			nrows - shown == 1 ? "" : "s");
}

int table_write(FILE *out, const struct profile *p, const struct table_opts *o)
{
	struct callgraph *cg = callgraph_build(p);
	struct sort_ctx ctx = { .cg = cg, .sort = o->sort };
	struct gil_figures gil = { 0 };
	size_t *rows = NULL, nrows = 0;
	int err = -ENOMEM;

	if (!cg || (p->gil && gil_figures_build(p, cg, &gil)))
		goto cleanup;
	rows = malloc(cg->nfuncs * sizeof(*rows));
	if (!rows)
		goto cleanup;
	/* the synthetic root and truncation marker are not functions */
	for (size_t i = 0; i < cg->nfuncs; i++)
		if (cg->funcs[i].kind == CG_FUNC)
			rows[nrows++] = i;
	qsort_r(rows, nrows, sizeof(*rows), cmp_row, &ctx);
	print_header(out, p, cg, p->gil ? &gil : NULL);
	print_table(out, cg, rows, nrows, profile_period(p), o->limit, p->gil ? &gil : NULL);
	if (fflush(out) == EOF)
		err = -errno;
	else
		err = ferror(out) ? -EIO : 0;
cleanup:
	free(rows);
	gil_figures_free(&gil);
	callgraph_free(cg);
	return err;
}
