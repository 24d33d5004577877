// SPDX-License-Identifier: BSD-2-Clause
/*
 * Type codes and layouts follow CPython's Python/marshal.c. FLAG_REF is
 * never set: a pstats file is a tree of small values, sharing them would
 * only save a few bytes.
 */
#include "output/encode/marshal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/escape.h"
#include "base/grow.h"

#define TYPE_INT		'i'
#define TYPE_LONG		'l'
#define TYPE_BINARY_FLOAT	'g'
#define TYPE_DICT		'{'
#define TYPE_NULL		'0'
#define TYPE_SMALL_TUPLE	')'
#define TYPE_ASCII		'a'
#define TYPE_SHORT_ASCII	'z'
#define TYPE_UNICODE		'u'

/* TYPE_LONG digits: 15 bits each, least significant first. */
#define LONG_SHIFT 15

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

void marshal_init(struct marshal_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void marshal_release(struct marshal_buf *b)
{
	free(b->data);
	marshal_init(b);
}

int marshal_error(const struct marshal_buf *b)
{
	return b->err;
}

static int fail(struct marshal_buf *b, int err)
{
	if (!b->err)
		b->err = err;
	return b->err;
}

/* Make room for n more bytes. */
static int reserve(struct marshal_buf *b, size_t n)
{
	if (b->err)
		return b->err;
	return GROW_ROOM(b->data, b->cap, b->len, n, 4096) ? fail(b, -ENOMEM) : 0;
}

static int put(struct marshal_buf *b, const void *p, size_t n)
{
	if (!n || reserve(b, n))
		return b->err;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int put_u8(struct marshal_buf *b, unsigned int v)
{
	unsigned char c = (unsigned char)v;

	return put(b, &c, 1);
}

/* Little-endian, whatever the host. */
static int put_le(struct marshal_buf *b, uint64_t v, int bytes)
{
	unsigned char buf[8];

	for (int i = 0; i < bytes; i++)
		buf[i] = (unsigned char)(v >> (8 * i));
	return put(b, buf, (size_t)bytes);
}

int marshal_dict_begin(struct marshal_buf *b)
{
	return put_u8(b, TYPE_DICT);
}

int marshal_dict_end(struct marshal_buf *b)
{
	return put_u8(b, TYPE_NULL);
}

int marshal_tuple(struct marshal_buf *b, unsigned int n)
{
	if (n > 255)
		return fail(b, -EINVAL);
	put_u8(b, TYPE_SMALL_TUPLE);
	return put_u8(b, n);
}

int marshal_int(struct marshal_buf *b, int64_t v)
{
	uint64_t mag;
	int32_t ndigits = 0;

	if (v >= INT32_MIN && v <= INT32_MAX) {
		put_u8(b, TYPE_INT);
		return put_le(b, (uint32_t)(int32_t)v, 4);
	}
	/* the magnitude of INT64_MIN does not fit an int64_t */
	mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	for (uint64_t m = mag; m; m >>= LONG_SHIFT)
		ndigits++;
	put_u8(b, TYPE_LONG);
	put_le(b, (uint32_t)(v < 0 ? -ndigits : ndigits), 4);
	for (; mag; mag >>= LONG_SHIFT)
		put_le(b, mag & ((1u << LONG_SHIFT) - 1), 2);
	return b->err;
}

int marshal_float(struct marshal_buf *b, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	put_u8(b, TYPE_BINARY_FLOAT);
	return put_le(b, bits, 8);
}

/*
 * Bytes `s` takes once invalid sequences are replaced; *ascii tells whether
 * it is pure ASCII (then it is its length).
 */
static size_t sanitized_len(const char *s, size_t n, int *ascii)
{
	size_t out = 0;
	uint32_t cp;

	*ascii = 1;
	while (n) {
		int len = utf8_char(s, n, &cp);

		if (len != 1)
			*ascii = 0;
		out += len < 0 ? sizeof(replacement) - 1 : (size_t)len;
		len = len < 0 ? -len : len;
		s += len;
		n -= (size_t)len;
	}
	return out;
}

static int put_sanitized(struct marshal_buf *b, const char *s, size_t n)
{
	uint32_t cp;

	while (n) {
		int len = utf8_char(s, n, &cp);

		if (len < 0) {
			put(b, replacement, sizeof(replacement) - 1);
			len = -len;
		} else {
			put(b, s, (size_t)len);
		}
		s += len;
		n -= (size_t)len;
	}
	return b->err;
}

int marshal_str(struct marshal_buf *b, const char *s)
{
	size_t n = strlen(s), out;
	int ascii;

	out = sanitized_len(s, n, &ascii);
	if (out > INT32_MAX)
		return fail(b, -EOVERFLOW);
	if (ascii && n < 256) {
		put_u8(b, TYPE_SHORT_ASCII);
		put_u8(b, (unsigned int)n);
		return put(b, s, n);
	}
	put_u8(b, ascii ? TYPE_ASCII : TYPE_UNICODE);
	put_le(b, (uint32_t)out, 4);
	return put_sanitized(b, s, n);
}
