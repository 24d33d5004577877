// SPDX-License-Identifier: BSD-2-Clause
#include "python/py_objects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/proc.h"

/* CODE_KEY_MAX_DATA */
#include "python/target_walk.h"

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

/* The rest of an object's data after `got` bytes of it came with its
 * header: all of it up to PY_DATA_MAX. */
static int read_data(pid_t pid, uint64_t addr, const uint8_t *chunk, size_t got,
		     struct py_data *d)
{
	size_t n = d->bytes > PY_DATA_MAX ? PY_DATA_MAX : (size_t)d->bytes;
	size_t have = got > d->data_at ? got - d->data_at : 0;

	d->data = malloc(n + 1);
	if (!d->data)
		return -ENOMEM;
	if (have > n)
		have = n;
	memcpy(d->data, chunk + d->data_at, have);
	if (n > have) {
		int err = proc_read(pid, addr + d->data_at + have, d->data + have, n - have);

		if (err) {
			py_data_free(d);
			return err;
		}
	}
	d->len = n;
	return 0;
}

int py_read_str_data(pid_t pid, const struct py_code_layout *c, uint64_t addr, struct py_data *out)
{
	uint8_t chunk[OBJECT_CHUNK];
	size_t head = c->unicode_ascii_size;
	ssize_t got;

	memset(out, 0, sizeof(*out));
	if (!addr || head < (size_t)c->unicode_state + 4 || head < (size_t)c->unicode_length + 8 ||
	    head > sizeof(chunk) || c->unicode_compact_size > sizeof(chunk))
		return -EINVAL;
	got = proc_read_object(pid, addr, chunk, head, sizeof(chunk));
	if (got < 0)
		return (int)got;
	uint32_t state = (uint32_t)chunk_field(chunk, (size_t)got, c->unicode_state, 4);
	int64_t length = (int64_t)chunk_field(chunk, (size_t)got, c->unicode_length, 8);

	/* Legacy (non-compact) strings keep their data elsewhere; code
	 * objects never use them. */
	out->kind = PY_STR_STATE_KIND(state, c->unicode_kind_bit);
	if (length < 0 || length > CODE_KEY_MAX_DATA ||
	    !PY_STR_STATE_COMPACT(state, c->unicode_kind_bit) ||
	    (out->kind != 1 && out->kind != 2 && out->kind != 4))
		return -EINVAL;
	out->data_at = PY_STR_STATE_ASCII(state, c->unicode_kind_bit) ? c->unicode_ascii_size :
								       c->unicode_compact_size;
	out->bytes = (uint64_t)length * out->kind;
	return read_data(pid, addr, chunk, (size_t)got, out);
}

int py_read_bytes_data(pid_t pid, const struct py_code_layout *c, uint64_t addr,
		       struct py_data *out)
{
	uint8_t chunk[OBJECT_CHUNK];
	size_t head = c->bytes_sval;
	ssize_t got;

	memset(out, 0, sizeof(*out));
	if (!addr || head < (size_t)c->bytes_size + 8 || head > sizeof(chunk))
		return -EINVAL;
	got = proc_read_object(pid, addr, chunk, head, sizeof(chunk));
	if (got < 0)
		return (int)got;
	int64_t size = (int64_t)chunk_field(chunk, (size_t)got, c->bytes_size, 8);

	if (size < 0 || size > CODE_KEY_MAX_DATA)
		return -EINVAL;
	out->kind = 1;
	out->data_at = c->bytes_sval;
	out->bytes = (uint64_t)size;
	return read_data(pid, addr, chunk, (size_t)got, out);
}

void py_data_free(struct py_data *d)
{
	free(d->data);
	d->data = NULL;
	d->len = 0;
}

char *py_data_utf8(const struct py_data *d)
{
	size_t n = d->len / d->kind;

	return py_str_to_utf8(d->data, n > PY_STR_MAX_CHARS ? PY_STR_MAX_CHARS : n, d->kind);
}

char *py_read_str(pid_t pid, const struct py_code_layout *c, uint64_t addr)
{
	struct py_data d;
	char *out;

	if (py_read_str_data(pid, c, addr, &d))
		return NULL;
	out = py_data_utf8(&d);
	py_data_free(&d);
	return out;
}
