// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: the raw profile reader, then every writer of what it accepts:
 * the text table (each sort) and every row of the table of outputs
 * (output/outputs.c), the flame graph also as an icicle, raw included. What raw writes must read
 * back, and report the same: a profile survives --raw then refbpf report.
 * Files go to a directory of this process's own, rewritten each input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/outputs.h"
#include "output/raw_format.h"
#include "output/table_writer.h"

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
	for (int sort = TABLE_SORT_CUMULATIVE; sort <= TABLE_SORT_FILENAME; sort++) {
		struct table_opts ro = { .sort = sort };

		table_write(f, p, &ro);
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
	/* every output of the table, the flame graph both ways up; the raw
	 * file is read back below */
	for (int i = 0; i < OUTPUT_NR; i++) {
		for (int icicle = 0; icicle < (i == OUTPUT_FLAMEGRAPH ? 2 : 1); icicle++) {
			struct output_style style = { .icicle = icicle };

			if (outputs[i].write(out(outputs[i].name), p, &style) && i == OUTPUT_RAW)
				abort();
		}
	}
	again = raw_read(out(outputs[OUTPUT_RAW].name), why, sizeof(why));
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
