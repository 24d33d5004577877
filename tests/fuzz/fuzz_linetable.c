// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: the three line-table decoders. Input: kind (1 byte),
 * firstlineno (4), code length in units (2), then the table.
 */
#include <stdint.h>
#include <string.h>

#include "python/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line_table t = { 0 };
	int32_t first;
	uint16_t units;

	if (size < 7)
		return 0;
	memcpy(&first, data + 1, sizeof(first));
	memcpy(&units, data + 5, sizeof(units));
	if (line_table_decode(&t, 1 + data[0] % 3, data + 7, size - 7, first, units) == 0) {
		for (uint32_t u = 0; u < 64; u++)
			line_table_lookup(&t, u * 7);
		/* the decoder's promise: sorted, non-overlapping ranges */
		for (size_t i = 1; i < t.n; i++)
			if (t.ranges[i].start < t.ranges[i - 1].end)
				__builtin_trap();
	}
	line_table_free(&t);
	return 0;
}
