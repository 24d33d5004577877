// SPDX-License-Identifier: BSD-2-Clause
#include "output/outputs.h"
#include "output/flamegraph_writer.h"
#include "output/folded_writer.h"
#include "output/html_writer.h"
#include "output/pprof_writer.h"
#include "output/pstats_writer.h"
#include "output/raw_format.h"
#include "output/speedscope_writer.h"

static int write_pstats(const char *path, const struct profile *p, const struct output_style *s)
{
	return pstats_write(path, p);
}

static int write_folded(const char *path, const struct profile *p, const struct output_style *s)
{
	return folded_write(path, p);
}

static int write_speedscope(const char *path, const struct profile *p,
			    const struct output_style *s)
{
	return speedscope_write(path, p);
}

static int write_pprof(const char *path, const struct profile *p, const struct output_style *s)
{
	return pprof_write(path, p);
}

static int write_flamegraph(const char *path, const struct profile *p,
			    const struct output_style *s)
{
	return flamegraph_write(path, p, s && s->icicle);
}

static int write_html(const char *path, const struct profile *p, const struct output_style *s)
{
	return html_write(path, p);
}

static int write_raw(const char *path, const struct profile *p, const struct output_style *s)
{
	return raw_write(path, p);
}

const struct output_kind outputs[OUTPUT_NR] = {
	[OUTPUT_PSTATS] = {
		.name = "pstats", .option = "--output", .short_option = 'o',
		.write = write_pstats, .rooted = true,
		.help =
			"  -o, --output FILE      write a pstats file (python -m pstats, snakeviz)\n",
	},
	[OUTPUT_FOLDED] = {
		.name = "folded", .option = "--folded",
		.write = write_folded, .rooted = true,
		.help =
			"      --folded FILE      write collapsed stacks (flamegraph.pl, speedscope)\n",
	},
	[OUTPUT_SPEEDSCOPE] = {
		.name = "speedscope", .option = "--speedscope",
		.write = write_speedscope, .rooted = true,
		.help =
			"      --speedscope FILE  write a speedscope JSON file, one profile per thread\n",
	},
	[OUTPUT_PPROF] = {
		.name = "pprof", .option = "--pprof",
		.write = write_pprof, .rooted = true,
		.help =
			"      --pprof FILE       write a gzipped pprof profile (go tool pprof)\n",
	},
	[OUTPUT_FLAMEGRAPH] = {
		.name = "flamegraph", .option = "--flamegraph",
		.write = write_flamegraph, .rooted = true,
		.help =
			"      --flamegraph FILE  write an interactive SVG flame graph\n"
			"      --icicle           draw the flame graph root at the top\n",
	},
	[OUTPUT_HTML] = {
		.name = "html", .option = "--html",
		.write = write_html, .rooted = true,
		.help =
			"      --html FILE        write an interactive HTML report (table, callers\n"
			"                         and callees, flame graph), self-contained\n",
	},
	[OUTPUT_RAW] = {
		.name = "raw", .option = "--raw",
		.write = write_raw, .recording_only = true,
		.help =
			"      --raw FILE         save everything recorded; `refbpf report FILE`\n"
			"                         renders any output from it later, without root\n",
	},
};

void outputs_print_options(FILE *out)
{
	for (int i = 0; i < OUTPUT_NR; i++) {
		if (outputs[i].short_option)
			fprintf(out, "%s-%c", i ? ", " : "", outputs[i].short_option);
		else
			fprintf(out, "%s%s", i ? ", " : "", outputs[i].option);
	}
}
