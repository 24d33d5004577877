// SPDX-License-Identifier: BSD-2-Clause
/*
 * values_check: the value decoders of dump --locals on given inputs, one
 * per line of stdin, one answer per line of stdout:
 *
 *   f BITS                 a double from its 64 bits (hex) -> py_float_repr
 *   l TAGGED SIZE D0 D1 D2 an int's header field (hex) and digits (hex),
 *                          TAGGED 1 for 3.12+ -> "VALUE", "ERANGE", "EINVAL"
 *   s CUT HEX              a UTF-8 text (hex) -> py_str_repr
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "py_values.h"

static size_t unhex(const char *hex, char *out, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n + 1 < cap) {
		unsigned int b;

		if (sscanf(hex, "%2x", &b) != 1)
			break;
		out[n++] = (char)b;
		hex += 2;
	}
	out[n] = 0;
	return n;
}

int main(void)
{
	char line[8192], out[PY_VALUE_REPR_MAX + 64];

	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == 'f') {
			uint64_t bits = strtoull(line + 2, NULL, 16);
			double v;

			memcpy(&v, &bits, sizeof(v));
			py_float_repr(v, out, sizeof(out));
			puts(out);
		} else if (line[0] == 'l') {
			unsigned int tagged;
			uint64_t size, mag;
			uint32_t d[3];
			bool neg;
			int err;

			if (sscanf(line + 2, "%u %" SCNx64 " %x %x %x", &tagged, &size, &d[0], &d[1],
				   &d[2]) != 5)
				return 2;
			err = py_long_decode(size, tagged, d, 3, &neg, &mag);
			if (err)
				puts(err == -ERANGE ? "ERANGE" : "EINVAL");
			else
				printf("%s%" PRIu64 "\n", neg ? "-" : "", mag);
		} else if (line[0] == 's') {
			char text[4096];
			int cut = line[2] == '1';

			size_t n;

			line[strcspn(line, "\n")] = 0;
			n = unhex(line + 4, text, sizeof(text));
			py_str_repr(text, n, cut, out, sizeof(out));
			puts(out);
		} else {
			return 2;
		}
	}
	return 0;
}
