// SPDX-License-Identifier: BSD-2-Clause
#include "output/encode/protobuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

enum wire_type {
	WIRE_VARINT = 0,
	WIRE_LEN = 2,
};

static int reserve(struct pb_buf *b, size_t n)
{
	if (!b->err && GROW_ROOM(b->data, b->cap, b->len, n, 4096))
		b->err = -ENOMEM;
	return b->err;
}

static void put_raw_varint(struct pb_buf *b, uint64_t v)
{
	/* 10 bytes hold any 64-bit value, 7 bits each */
	if (reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

static void put_tag(struct pb_buf *b, uint32_t field, enum wire_type type)
{
	put_raw_varint(b, (uint64_t)field << 3 | type);
}

void pb_varint(struct pb_buf *b, uint32_t field, uint64_t v)
{
	put_tag(b, field, WIRE_VARINT);
	put_raw_varint(b, v);
}

void pb_bytes(struct pb_buf *b, uint32_t field, const void *data, size_t n)
{
	put_tag(b, field, WIRE_LEN);
	put_raw_varint(b, n);
	if (reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
}

void pb_string(struct pb_buf *b, uint32_t field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

void pb_packed(struct pb_buf *b, uint32_t field, const uint64_t *v, size_t n)
{
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += varint_size(v[i]);
	put_tag(b, field, WIRE_LEN);
	put_raw_varint(b, len);
	for (size_t i = 0; i < n; i++)
		put_raw_varint(b, v[i]);
}

void pb_reset(struct pb_buf *b)
{
	b->len = 0;
	b->err = 0;
}

void pb_free(struct pb_buf *b)
{
	free(b->data);
	*b = (struct pb_buf){ 0 };
}
