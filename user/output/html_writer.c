// SPDX-License-Identifier: BSD-2-Clause
/*
 * The page is a fixed skeleton, the embedded style and script, and one
 * JSON document: functions as the call graph groups them (cProfile's
 * keys), the call graph's edges, and the flame tree with each node naming
 * its function by call-graph index.
 */
#include "output/html_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets/report_css.h"
#include "assets/report_js.h"
#include "base/atomic_file.h"
#include "profile/callgraph.h"
#include "base/escape.h"
#include "profile/flame_tree.h"

#define TREE_ROOT (-1)
#define TREE_TRUNCATED (-2)

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	escape_json_html_fputs(s ? s : "", f);
	fputc('"', f);
}

static int cmp_key(const struct cg_func *a, const char *file, int line, const char *name)
{
	int c = strcmp(a->filename, file);

	if (!c)
		c = (a->firstlineno > line) - (a->firstlineno < line);
	return c ? c : strcmp(a->name, name);
}

static const struct callgraph *sort_cg;

static int cmp_index(const void *x, const void *y)
{
	const struct cg_func *a = &sort_cg->funcs[*(const size_t *)x];
	const struct cg_func *b = &sort_cg->funcs[*(const size_t *)y];

	return cmp_key(a, b->filename, b->firstlineno, b->name);
}

/* The call-graph function of a flame node, by pstats key. */
static long tree_func(const struct profile *p, const struct callgraph *cg, const size_t *by_key,
		      size_t n_by_key, const struct flame_node *node)
{
	const struct pfunc *f = flame_node_func(p, node);
	size_t lo = 0, hi = n_by_key;

	if (!f)
		return node->func == FLAME_ROOT ? TREE_ROOT : TREE_TRUNCATED;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp_key(&cg->funcs[by_key[mid]], f->filename, f->firstlineno, f->name);

		if (!c)
			return (long)by_key[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return TREE_TRUNCATED;
}

static void write_data(FILE *f, const struct profile *p, const struct callgraph *cg,
		       const struct flame_tree *t, const size_t *by_key)
{
	fprintf(f, "{\"total\": %" PRIu64 ", \"period\": %.9g, \"duration\": %.3f, \"rate\": %u,\n",
		cg->total, profile_period(p), p->duration_s, p->rate_hz);
	fputs("\"funcs\": [", f);
	for (size_t i = 0; i < cg->nfuncs; i++) {
		const struct cg_func *fn = &cg->funcs[i];

		fputs(i ? ",\n[" : "\n[", f);
		json_str(f, fn->qualname);
		fputs(", ", f);
		json_str(f, fn->filename);
		fprintf(f, ", %d, %" PRIu64 ", %" PRIu64 "]", fn->firstlineno, fn->self, fn->cum);
	}
	fputs("],\n\"edges\": [", f);
	for (size_t i = 0; i < cg->nedges; i++)
		fprintf(f, "%s[%" PRIu32 ", %" PRIu32 ", %" PRIu64 ", %" PRIu64 "]", i ? ",\n" : "\n",
			cg->edges[i].caller, cg->edges[i].callee, cg->edges[i].samples,
			cg->edges[i].self);
	fputs("],\n\"tree\": [", f);
	for (size_t i = 0; i < t->n; i++) {
		const struct flame_node *n = &t->nodes[i];

		fprintf(f, "%s[%ld, %" PRIu32 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", \"%s\"]",
			i ? ",\n" : "\n", tree_func(p, cg, by_key, cg->nfuncs, n), n->depth,
			n->start, n->total, n->self, flame_kind_name(n->kind));
	}
	fputs("]}\n", f);
}

static void write_header(FILE *f, const struct profile *p, const struct callgraph *cg)
{
	fputs("<header><h1>refbpf: ", f);
	fprintf(f, "%" PRIu64 " samples, %.2f s at %u Hz</h1><div class=\"targets\">", cg->total,
		p->duration_s, p->rate_hz);
	for (size_t i = 0; i < p->ntargets; i++) {
		const struct ptarget *t = &p->targets[i];

		fprintf(f, "PID %" PRIu32 "  ", t->pid);
		if (t->state == PTARGET_NOT_PROFILED) {
			fputs("not profiled: ", f);
			escape_xml_fputs(t->reason ? t->reason : "?", f);
		} else {
			fputs("Python ", f);
			escape_xml_fputs(t->version ? t->version : "?", f);
			fputs("  ", f);
			escape_xml_fputs(t->cmdline ? t->cmdline : "?", f);
			fprintf(f, "  %" PRIu64 " samples", t->samples);
		}
		fputs("\n", f);
	}
	fputs("</div></header>\n", f);
}

static void write_page(FILE *f, const struct profile *p, const struct callgraph *cg,
		       const struct flame_tree *t, const size_t *by_key)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	      "<title>refbpf report</title>\n<style>\n", f);
	fputs(asset_report_css, f);
	fputs("</style>\n</head>\n<body>\n", f);
	write_header(f, p, cg);
	fputs("<main>\n<section id=\"table-section\"><h2>Functions</h2>\n"
	      "<div class=\"toolbar\"><input type=\"search\" id=\"filter\" placeholder=\"Filter by name or file\">"
	      " <span id=\"shown\"></span></div>\n"
	      "<div id=\"table-wrap\"><table id=\"functions\"><thead><tr id=\"head-row\"></tr></thead>"
	      "<tbody id=\"rows\"></tbody></table></div></section>\n"
	      "<section id=\"details-section\"><h2>Callers and callees</h2><div id=\"details\"></div></section>\n"
	      "<section id=\"flame-section\"><h2>Flame graph</h2>\n"
	      "<div class=\"toolbar\"><input type=\"search\" id=\"flame-search\" placeholder=\"Search frames (regular expression or text)\">"
	      "<span id=\"matched\"></span> <button id=\"reset\">Reset zoom</button>"
	      " <label><input type=\"checkbox\" id=\"icicle\"> icicle</label></div>\n"
	      "<div id=\"flame\"></div></section>\n</main>\n", f);
	fputs("<script type=\"application/json\" id=\"refbpf-data\">\n", f);
	write_data(f, p, cg, t, by_key);
	fputs("</script>\n<script>\n", f);
	fputs(asset_report_js, f);
	fputs("</script>\n</body></html>\n", f);
}

struct page_job {
	const struct profile *p;
	const struct callgraph *cg;
	const struct flame_tree *t;
	const size_t *by_key;
};

static int emit_page(FILE *f, void *ctx)
{
	const struct page_job *job = ctx;

	write_page(f, job->p, job->cg, job->t, job->by_key);
	return 0;
}

int html_write(const char *path, const struct profile *p)
{
	struct callgraph *cg = callgraph_build(p);
	struct flame_tree t = { 0 };
	size_t *by_key = NULL;
	int err = cg ? flame_tree_build(p, &t) : -ENOMEM;

	if (!err) {
		by_key = malloc((cg->nfuncs ? cg->nfuncs : 1) * sizeof(*by_key));
		err = by_key ? 0 : -ENOMEM;
	}
	if (err)
		goto out;
	for (size_t i = 0; i < cg->nfuncs; i++)
		by_key[i] = i;
	sort_cg = cg;
	qsort(by_key, cg->nfuncs, sizeof(*by_key), cmp_index);
	err = atomic_write(path, emit_page,
			   &(struct page_job){ .p = p, .cg = cg, .t = &t, .by_key = by_key });
out:
	free(by_key);
	flame_tree_free(&t);
	callgraph_free(cg);
	return err;
}
