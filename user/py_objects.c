// SPDX-License-Identifier: BSD-2-Clause
#include "py_objects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

#define STATE_KIND(s) PY_STR_STATE_KIND(s)
#define STATE_COMPACT(s) PY_STR_STATE_COMPACT(s)
#define STATE_ASCII(s) PY_STR_STATE_ASCII(s)

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
	size_t len;

	return py_str_to_utf8_len(data, nchars, kind, &len);
}

char *py_str_to_utf8_len(const uint8_t *data, size_t nchars, unsigned int kind, size_t *len)
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
	*len = (size_t)(p - out);
	return out;
}

/* Bytes read at once from a str or bytes object: the header and, for
 * most names, file names and line tables, the data too. */
#define OBJECT_CHUNK 512

static uint64_t chunk_field(const uint8_t *chunk, size_t got, uint16_t at, size_t size)
{
	uint64_t v = 0;

	if ((size_t)at + size <= got)
		memcpy(&v, chunk + at, size);
	return v;
}

char *py_read_str_hashed(pid_t pid, const struct py_code_layout *c, uint16_t hash_at,
			 uint64_t addr, uint64_t *hash)
{
	uint8_t chunk[OBJECT_CHUNK], *data = NULL;
	size_t head = c->unicode_ascii_size;
	ssize_t got;
	char *out = NULL;

	if (!addr || head < (size_t)c->unicode_state + 4 || head < (size_t)c->unicode_length + 8 ||
	    (hash && head < (size_t)hash_at + 8) || head > sizeof(chunk))
		return NULL;
	got = proc_read_object(pid, addr, chunk, head, sizeof(chunk));
	if (got < 0)
		return NULL;
	uint32_t state = (uint32_t)chunk_field(chunk, (size_t)got, c->unicode_state, 4);
	int64_t length = (int64_t)chunk_field(chunk, (size_t)got, c->unicode_length, 8);

	if (hash)
		*hash = chunk_field(chunk, (size_t)got, hash_at, 8);
	/* Legacy (non-compact) strings keep their data elsewhere; code
	 * objects never use them. */
	if (length < 0 || !STATE_COMPACT(state))
		return NULL;
	unsigned int kind = STATE_KIND(state);
	size_t n = length > PY_STR_MAX_CHARS ? PY_STR_MAX_CHARS : (size_t)length;
	size_t at = STATE_ASCII(state) ? c->unicode_ascii_size : c->unicode_compact_size;

	if (kind != 1 && kind != 2 && kind != 4)
		return NULL;
	if (at + n * kind <= (size_t)got)
		return py_str_to_utf8(chunk + at, n, kind);
	data = malloc(n * kind + 1);
	if (data && !proc_read(pid, addr + at, data, n * kind))
		out = py_str_to_utf8(data, n, kind);
	free(data);
	return out;
}

char *py_read_str(pid_t pid, const struct py_code_layout *c, uint64_t addr)
{
	return py_read_str_hashed(pid, c, 0, addr, NULL);
}

int py_read_bytes(pid_t pid, const struct py_code_layout *c, uint64_t addr, uint8_t **out,
		  size_t *len)
{
	uint8_t chunk[OBJECT_CHUNK], *buf;
	size_t head = c->bytes_sval;
	ssize_t got;
	int64_t size;
	int err = 0;

	*out = NULL;
	*len = 0;
	if (head < (size_t)c->bytes_size + 8 || head > sizeof(chunk))
		return -EINVAL;
	got = proc_read_object(pid, addr, chunk, head, sizeof(chunk));
	if (got < 0)
		return (int)got;
	size = (int64_t)chunk_field(chunk, (size_t)got, c->bytes_size, 8);
	if (size < 0 || size > PY_BYTES_MAX)
		return -EINVAL;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	if (head + (size_t)size <= (size_t)got)
		memcpy(buf, chunk + head, (size_t)size);
	else
		err = proc_read(pid, addr + head, buf, (size_t)size);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = (size_t)size;
	return 0;
}
