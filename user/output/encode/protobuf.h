/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A tiny protocol buffers encoder, enough for pprof's profile.proto:
 * varint and length-delimited fields appended to a growing buffer. A
 * nested message is encoded into its own buffer first, then appended with
 * pb_bytes(), since its length comes before it. Errors are sticky.
 */
#ifndef REFBPF_PROTOBUF_H
#define REFBPF_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

struct pb_buf {
	uint8_t *data;
	size_t len, cap;
	int err;		/* -ENOMEM once an append failed */
};

/* A varint field (uint64, or int64 as its two's complement). */
void pb_varint(struct pb_buf *b, uint32_t field, uint64_t v);
/* A length-delimited field: bytes, a string, or an encoded message. */
void pb_bytes(struct pb_buf *b, uint32_t field, const void *data, size_t n);
void pb_string(struct pb_buf *b, uint32_t field, const char *s);
/* A packed repeated varint field; nothing when n is 0. */
void pb_packed(struct pb_buf *b, uint32_t field, const uint64_t *v, size_t n);

/* Empty the buffer for reuse, keeping its memory (and clearing the error). */
void pb_reset(struct pb_buf *b);
void pb_free(struct pb_buf *b);

#endif /* REFBPF_PROTOBUF_H */
