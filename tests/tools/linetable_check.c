// SPDX-License-Identifier: BSD-2-Clause
/*
 * Differential check of the line-table decoder. Reads vectors written by
 * tests/pyvectors/dump_linetables.py from stdin:
 *
 *   CODE <kind> <firstlineno> <code_len_units> <hex table|-> <name>
 *   L <unit> <expected line>        (one per instruction)
 *   END
 *
 * and prints every instruction whose decoded line differs from what the
 * interpreter itself said, then a summary. Exit 1 on any mismatch.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/linetable.h"

static int hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (!strcmp(hex, "-"))
		return 0;
	if (n % 2)
		return -EINVAL;
	buf = malloc(n / 2 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(buf);
			return -EINVAL;
		}
		buf[i] = (uint8_t)v;
	}
	*out = buf;
	*len = n / 2;
	return 0;
}

int main(void)
{
	char *line = NULL, name[512] = "";
	size_t cap = 0;
	unsigned long codes = 0, instrs = 0, mismatches = 0, malformed = 0;
	struct line_table table = { 0 };
	bool in_code = false;
	int status = 0;

	while (getline(&line, &cap, stdin) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "CODE ", 5)) {
			int kind, first;
			unsigned long units;
			char *hex = malloc(strlen(line) + 1);
			uint8_t *bytes;
			size_t len;

			if (!hex)
				return 2;
			if (sscanf(line + 5, "%d %d %lu %s %511s", &kind, &first, &units, hex,
				   name) < 4 ||
			    hex_decode(hex, &bytes, &len)) {
				fprintf(stderr, "malformed: %s\n", line);
				free(hex);
				malformed++;
				continue;
			}
			free(hex);
			line_table_free(&table);
			if (line_table_decode(&table, kind, bytes, len, first, units)) {
				printf("DECODE-ERROR %s\n", name);
				mismatches++;
			}
			free(bytes);
			codes++;
			in_code = true;
		} else if (!strncmp(line, "L ", 2) && in_code) {
			unsigned long unit;
			long expected;

			if (sscanf(line + 2, "%lu %ld", &unit, &expected) != 2) {
				malformed++;
				continue;
			}
			int32_t got = line_table_lookup(&table, (uint32_t)unit);

			instrs++;
			if (got != expected) {
				if (mismatches < 50)
					printf("MISMATCH %s unit=%lu expected=%ld got=%d\n", name, unit,
					       expected, got);
				mismatches++;
			}
		} else if (!strcmp(line, "END")) {
			in_code = false;
		}
	}
	line_table_free(&table);
	free(line);
	printf("checked %lu code objects, %lu instructions, %lu mismatches\n", codes, instrs,
	       mismatches);
	if (mismatches || malformed || !codes)
		status = 1;
	return status;
}
