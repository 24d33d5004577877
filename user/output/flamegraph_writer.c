// SPDX-License-Identifier: BSD-2-Clause
#include "output/flamegraph_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "assets/flamegraph_js.h"
#include "base/atomic_file.h"
#include "base/escape.h"
#include "profile/flame_tree.h"

#define SVG_WIDTH 1200
#define SVG_PAD 10
#define FRAME_HEIGHT 16
#define HEADER_HEIGHT 40
#define FOOTER_HEIGHT 30
#define MIN_FRAME_PX 0.1
#define TITLE_TARGETS 3
#define TITLE_CMDLINE_MAX 40

static const char svg_style[] =
	"text { font-family: monospace; font-size: 12px; fill: #000; }\n"
	"#title { font-size: 16px; }\n"
	".button { cursor: pointer; fill: #226; text-decoration: underline; }\n"
	".hidden { display: none; }\n"
	"g.f { cursor: pointer; }\n"
	"g.f:hover rect { stroke: #000; stroke-width: 0.5; }\n"
	"g.f.parent { opacity: 0.5; }\n"
	"g.f.match rect { fill: #e040e0; }\n";

/* A command line shortened for a title: the program's basename, the
 * arguments cut at a character boundary. */
static void write_short_cmdline(FILE *f, const char *cmdline)
{
	const char *space = strchr(cmdline, ' ');
	const char *slash = NULL;
	char buf[TITLE_CMDLINE_MAX + 1];
	size_t n;

	for (const char *c = cmdline; *c && (!space || c < space); c++)
		if (*c == '/')
			slash = c;
	if (slash && slash[1] && slash[1] != ' ')
		cmdline = slash + 1;
	n = strlen(cmdline);
	if (n > TITLE_CMDLINE_MAX) {
		n = TITLE_CMDLINE_MAX;
		/* not inside a UTF-8 sequence: continuation bytes are 10xxxxxx */
		while (n && ((unsigned char)cmdline[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf, cmdline, n);
	buf[n] = '\0';
	escape_xml_fputs(buf, f);
	if (n < strlen(cmdline))
		fputs("...", f);
}

static void write_title(FILE *f, const struct profile *p)
{
	size_t shown = 0;

	fputs("refbpf:", f);
	for (size_t i = 0; i < p->ntargets; i++) {
		const struct ptarget *t = &p->targets[i];

		if (t->state == PTARGET_NOT_PROFILED)
			continue;
		if (shown++ == TITLE_TARGETS) {
			fputs(" ...", f);
			break;
		}
		fprintf(f, "%s PID %" PRIu32 " ", shown > 1 ? "," : "", t->pid);
		if (t->cmdline && *t->cmdline) {
			write_short_cmdline(f, t->cmdline);
			fputs(" ", f);
		}
		fputs("(Python ", f);
		escape_xml_fputs(t->version ? t->version : "?", f);
		fputs(")", f);
	}
	fprintf(f, " - %.1f s at %u Hz, %" PRIu64 " samples", p->duration_s, p->rate_hz,
		p->total_samples);
}

static void write_frame(FILE *f, const struct profile *p, const struct flame_node *n,
			uint64_t total, bool icicle, uint32_t max_depth)
{
	const struct pfunc *fn = flame_node_func(p, n);
	double y = icicle ? HEADER_HEIGHT + (double)n->depth * FRAME_HEIGHT :
			    HEADER_HEIGHT + (double)(max_depth - n->depth) * FRAME_HEIGHT;
	char colour[48];

	flame_colour(n->kind, fn ? fn->filename : NULL, colour, sizeof(colour));
	fprintf(f, "<g class=\"f %s\" data-s=\"%" PRIu64 "\" data-w=\"%" PRIu64 "\" data-d=\"%" PRIu32
		   "\" data-n=\"", flame_kind_name(n->kind), n->start, n->total, n->depth);
	escape_xml_fputs(flame_node_name(p, n), f);
	fputs("\"><title>", f);
	escape_xml_fputs(flame_node_name(p, n), f);
	/* a native or kernel frame's "~:0" is its pstats key, not a place */
	if (fn && pfunc_kind(fn) != PFUNC_NATIVE && pfunc_kind(fn) != PFUNC_KERNEL) {
		fputs(" (", f);
		escape_xml_fputs(fn->filename, f);
		fprintf(f, ":%d)", fn->firstlineno);
	}
	fprintf(f, " - %" PRIu64 " samples (%.2f%%), self %" PRIu64 "</title>", n->total,
		total ? 100.0 * (double)n->total / (double)total : 0.0, n->self);
	fprintf(f, "<rect y=\"%.0f\" height=\"%d\" rx=\"2\" fill=\"%s\"/><text y=\"%.0f\"></text></g>\n",
		y, FRAME_HEIGHT - 1, colour, y + FRAME_HEIGHT - 4);
}

static void write_body(FILE *f, const struct profile *p, const struct flame_tree *t, bool icicle)
{
	uint64_t total = t->n ? t->nodes[0].total : 0;
	int height = HEADER_HEIGHT + (int)(t->max_depth + 1) * FRAME_HEIGHT + FOOTER_HEIGHT;
	double px_per_sample = total ? (double)(SVG_WIDTH - 2 * SVG_PAD) / (double)total : 0;
	uint32_t skip_below = UINT32_MAX;	/* depth of a left-out subtree */

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" id=\"refbpf-flame\" "
		   "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-total=\"%" PRIu64
		   "\" data-icicle=\"%d\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height, total, icicle);
	/* the document's own title names it in a browser tab */
	fputs("<title>", f);
	write_title(f, p);
	fputs("</title>\n", f);
	fprintf(f, "<style>\n%s</style>\n<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n",
		svg_style, asset_flamegraph_js);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#fdfdf6\"/>\n");
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", SVG_WIDTH / 2);
	write_title(f, p);
	fputs("</text>\n", f);
	fprintf(f, "<text id=\"reset\" class=\"button hidden\" x=\"%d\" y=\"24\">Reset zoom</text>\n",
		SVG_PAD);
	fprintf(f, "<text id=\"search\" class=\"button\" x=\"%d\" y=\"24\" text-anchor=\"end\">Search</text>\n",
		SVG_WIDTH - SVG_PAD);
	fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", SVG_PAD, height - 10);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
		SVG_WIDTH - SVG_PAD, height - 10);
	fputs("<g id=\"frames\">\n", f);
	for (size_t i = 0; i < t->n; i++) {
		const struct flame_node *n = &t->nodes[i];

		/* depth-first order: a subtree ends at the next node as shallow */
		if (n->depth <= skip_below)
			skip_below = UINT32_MAX;
		if (skip_below != UINT32_MAX)
			continue;
		if ((double)n->total * px_per_sample < MIN_FRAME_PX) {
			skip_below = n->depth;
			continue;
		}
		write_frame(f, p, n, total, icicle, t->max_depth);
	}
	fputs("</g>\n</svg>\n", f);
}

struct svg_job {
	const struct profile *p;
	const struct flame_tree *t;
	bool icicle;
};

static int emit_svg(FILE *f, void *ctx)
{
	const struct svg_job *job = ctx;

	write_body(f, job->p, job->t, job->icicle);
	return 0;
}

int flamegraph_write(const char *path, const struct profile *p, bool icicle)
{
	struct flame_tree t;
	int err = flame_tree_build(p, &t);

	if (err)
		return err;
	err = atomic_write(path, emit_svg, &(struct svg_job){ .p = p, .t = &t, .icicle = icicle });
	flame_tree_free(&t);
	return err;
}
