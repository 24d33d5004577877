// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer: the raw profile reader, then every renderer of what it accepts. */
#include <stdint.h>
#include <stdio.h>

#include "profile/callgraph.h"
#include "output/raw_format.h"
#include "output/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	struct profile *p = raw_parse((const char *)data, size, "fuzz", why, sizeof(why));
	struct report_opts ro = { .sort = REPORT_SORT_CUMULATIVE };
	FILE *sink;

	if (!p)
		return 0;
	sink = fopen("/dev/null", "w");
	if (sink) {
		report_write(sink, p, &ro);
		fclose(sink);
	}
	profile_free(p);
	return 0;
}
