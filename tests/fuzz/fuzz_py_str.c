// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: decoding a str's characters as a target holds them (1, 2 or 4
 * bytes each, any values: lone surrogates, code points past U+10FFFF) into
 * UTF-8. Input: kind (first byte, mod 5), then the characters. The output
 * must be valid UTF-8 of at most 4 bytes per character, ending in NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "python/py_objects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the valid UTF-8 sequence at s, 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* shortest form only, no surrogates, nothing past U+10FFFF */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int kind;
	size_t nchars, n;
	char *s;

	if (size < 1)
		return 0;
	kind = data[0] % 5;
	nchars = kind ? (size - 1) / kind : size - 1;
	s = py_str_to_utf8(data + 1, nchars, kind);
	if (kind != 1 && kind != 2 && kind != 4) {
		if (s)
			abort();	/* no such kind: refused */
		return 0;
	}
	if (!s)
		return 0;	/* out of memory */
	n = strlen(s);
	if (n > 4 * nchars)
		abort();
	for (size_t i = 0; i < n;) {
		size_t k = utf8_sequence((const unsigned char *)s + i);

		if (!k)
			abort();
		i += k;
	}
	free(s);
	return 0;
}
