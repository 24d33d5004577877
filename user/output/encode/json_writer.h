/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A small streaming JSON writer: values go straight to a stream, commas
 * are placed by the writer, strings are escaped by escape_json_fputs().
 * Output is compact; errors are sticky and read once at the end.
 */
#ifndef REFBPF_JSON_WRITER_H
#define REFBPF_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json_writer {
	FILE *f;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool after_key;		/* the next value completes a "key": pair */
	int err;		/* first error, -errno */
};

void json_init(struct json_writer *w, FILE *f);
void json_object_start(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_start(struct json_writer *w);
void json_array_end(struct json_writer *w);
/* An object member's name; the next call writes its value. */
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s);
void json_uint(struct json_writer *w, uint64_t v);
void json_int(struct json_writer *w, int64_t v);
/* A number already spelled in JSON syntax, e.g. "0.01". */
void json_number(struct json_writer *w, const char *literal);
/* 0, or the first error (-errno of a failed write, -EINVAL for bad nesting). */
int json_error(const struct json_writer *w);

#endif /* REFBPF_JSON_WRITER_H */
