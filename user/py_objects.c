// SPDX-License-Identifier: BSD-2-Clause
#include "py_objects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

/* PyASCIIObject.state bits, the same from 3.8 to 3.13 (interned:2, kind:3,
 * compact:1, ascii:1). */
#define STATE_KIND(s) (((s) >> 2) & 7)
#define STATE_COMPACT(s) (((s) >> 5) & 1)
#define STATE_ASCII(s) (((s) >> 6) & 1)

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;	/* lone surrogates are not valid UTF-8 */
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp > 0x10ffff)
		return put_utf8(out, 0xfffd);
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

char *py_str_to_utf8(const uint8_t *data, size_t nchars, unsigned int kind)
{
	char *out, *p;

	if (kind != 1 && kind != 2 && kind != 4)
		return NULL;
	out = malloc(nchars * 4 + 1);
	if (!out)
		return NULL;
	p = out;
	for (size_t i = 0; i < nchars; i++) {
		uint32_t cp;

		if (kind == 1) {
			cp = data[i];
		} else if (kind == 2) {
			uint16_t v;

			memcpy(&v, data + 2 * i, 2);
			cp = v;
		} else {
			memcpy(&cp, data + 4 * i, 4);
		}
		p += put_utf8(p, cp);
	}
	*p = 0;
	return out;
}

char *py_read_str(pid_t pid, const struct py_code_layout *c, uint64_t addr)
{
	uint32_t state = 0;
	int64_t length = 0;
	uint8_t *data = NULL;
	char *out = NULL;

	if (!addr || proc_read(pid, addr + c->unicode_state, &state, sizeof(state)) ||
	    proc_read(pid, addr + c->unicode_length, &length, sizeof(length)))
		return NULL;
	/* Legacy (non-compact) strings keep their data elsewhere; code
	 * objects never use them. */
	if (length < 0 || !STATE_COMPACT(state))
		return NULL;
	unsigned int kind = STATE_KIND(state);
	bool truncated = length > PY_STR_MAX_CHARS;
	size_t n = truncated ? PY_STR_MAX_CHARS : (size_t)length;

	if (kind != 1 && kind != 2 && kind != 4)
		return NULL;
	data = malloc(n * kind + 1);
	if (!data)
		return NULL;
	uint64_t at = addr + (STATE_ASCII(state) ? c->unicode_ascii_size : c->unicode_compact_size);

	if (n && proc_read(pid, at, data, n * kind))
		goto cleanup;
	out = py_str_to_utf8(data, n, kind);
cleanup:
	free(data);
	return out;
}

int py_read_bytes(pid_t pid, const struct py_code_layout *c, uint64_t addr, uint8_t **out,
		  size_t *len)
{
	int64_t size = 0;
	uint8_t *buf;
	int err;

	*out = NULL;
	*len = 0;
	err = proc_read(pid, addr + c->bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || size > PY_BYTES_MAX)
		return -EINVAL;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	err = size ? proc_read(pid, addr + c->bytes_sval, buf, (size_t)size) : 0;
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = (size_t)size;
	return 0;
}
