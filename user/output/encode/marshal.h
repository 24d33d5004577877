/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The subset of Python's marshal format (version 4, read by 3.4+) needed
 * for pstats files: dicts, small tuples, ints, floats and str. Values are
 * appended to a growable buffer; the first allocation failure is sticky,
 * so a writer may check once, with marshal_error(), at the end.
 */
#ifndef REFBPF_MARSHAL_H
#define REFBPF_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

struct marshal_buf {
	unsigned char *data;
	size_t len, cap;
	int err;		/* first error (-errno), sticky */
};

void marshal_init(struct marshal_buf *b);
void marshal_release(struct marshal_buf *b);
int marshal_error(const struct marshal_buf *b);

/* A dict is marshal_dict_begin, then key, value, key, value, ..., then marshal_dict_end. */
int marshal_dict_begin(struct marshal_buf *b);
int marshal_dict_end(struct marshal_buf *b);
/* A tuple of n <= 255 items: the n items follow. */
int marshal_tuple(struct marshal_buf *b, unsigned int n);
int marshal_int(struct marshal_buf *b, int64_t v);
int marshal_float(struct marshal_buf *b, double v);
/*
 * A str from NUL-terminated bytes. Invalid UTF-8, lone surrogates included,
 * becomes U+FFFD: marshal.load never fails, and pstats can always print
 * the names (a surrogate would raise in print_stats).
 */
int marshal_str(struct marshal_buf *b, const char *s);

#endif /* REFBPF_MARSHAL_H */
