// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: the raw profile reader, then every writer of what it accepts:
 * the text report (each sort), pstats, folded, speedscope, pprof, the SVG
 * flame graph and icicle, HTML, and raw itself. What raw writes must read
 * back, and report the same: a profile survives --raw then refbpf report.
 * Files go to a directory of this process's own, rewritten each input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/callgraph.h"
#include "output/flamegraph_writer.h"
#include "output/folded_writer.h"
#include "output/html_writer.h"
#include "output/pprof_writer.h"
#include "output/pstats_writer.h"
#include "output/raw_format.h"
#include "output/report.h"
#include "output/speedscope_writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void)
{
	static const char *const names[] = { "p.prof", "f.folded", "s.json", "p.pb.gz",
					     "f.svg",  "i.svg",	   "r.html", "r.raw" };
	char path[96];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static const char *out(const char *name)
{
	static char path[96];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_raw.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* The report of p with every sort, as one malloc'd string. */
static char *reports(const struct profile *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	for (int sort = REPORT_SORT_CUMULATIVE; sort <= REPORT_SORT_FILENAME; sort++) {
		struct report_opts ro = { .sort = sort };

		report_write(f, p, &ro);
	}
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	struct profile *p = raw_parse((const char *)data, size, "fuzz", why, sizeof(why));
	struct profile *again;
	size_t len, len_again;
	char *text, *text_again;

	if (!p)
		return 0;
	text = reports(p, &len);
	pstats_write(out("p.prof"), p);
	folded_write(out("f.folded"), p);
	speedscope_write(out("s.json"), p);
	pprof_write(out("p.pb.gz"), p);
	flamegraph_write(out("f.svg"), p, false);
	flamegraph_write(out("i.svg"), p, true);
	html_write(out("r.html"), p);
	if (raw_write(out("r.raw"), p))
		abort();
	again = raw_read(out("r.raw"), why, sizeof(why));
	if (!again) {
		fprintf(stderr, "raw_write wrote what raw_read refuses: %s\n", why);
		abort();
	}
	text_again = reports(again, &len_again);
	if (len != len_again || memcmp(text, text_again, len)) {
		fprintf(stderr, "the report changed through raw_write and raw_read\n");
		abort();
	}
	free(text);
	free(text_again);
	profile_free(again);
	profile_free(p);
	return 0;
}
