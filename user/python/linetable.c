// SPDX-License-Identifier: BSD-2-Clause
/*
 * Each decoder reproduces what the interpreter's own PyCode_Addr2Line
 * answers for that version, so that our line for a frame is the line
 * Python itself would report (f_lineno, tracebacks).
 */
#include "python/linetable.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "python/layout/py_layout.h"

/* Units are 2 bytes; ranges end far below this in any real code object. */
#define MAX_UNITS (1u << 30)

struct builder {
	struct line_table *t;
	size_t cap;
};

/* Append [start, end) in units, merging with an equal-line neighbour. */
static int emit(struct builder *b, uint64_t start, uint64_t end, int64_t line)
{
	struct line_table *t = b->t;

	if (end <= start)
		return 0;
	if (end > MAX_UNITS || line > INT32_MAX || line < -1)
		return -EINVAL;
	if (t->n && t->ranges[t->n - 1].end == start && t->ranges[t->n - 1].line == line) {
		t->ranges[t->n - 1].end = (uint32_t)end;
		return 0;
	}
	if (GROW(t->ranges, b->cap, t->n, 16))
		return -ENOMEM;
	t->ranges[t->n++] = (struct line_range){ (uint32_t)start, (uint32_t)end, (int32_t)line };
	return 0;
}

/*
 * 3.8, 3.9: (byte increment, signed line increment) pairs. A line
 * increment applies to every instruction at or after the accumulated
 * address; the last line extends to the end of the code.
 */
static int decode_lnotab(struct builder *b, const uint8_t *p, size_t len, int64_t line,
			 size_t code_len_units)
{
	uint64_t start = 0, addr = 0;
	int err;

	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		addr += p[i];
		if (addr > start) {
			err = emit(b, start / 2, addr / 2, line);
			if (err)
				return err;
			start = addr;
		}
		line += (int8_t)p[i + 1];
	}
	return emit(b, start / 2, code_len_units ? code_len_units : MAX_UNITS, line);
}

/* 3.10 (PEP 626): (byte length, signed line delta); -128 means no line. */
static int decode_pep626(struct builder *b, const uint8_t *p, size_t len, int64_t line)
{
	uint64_t end = 0;
	int err;

	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		uint64_t start = end;
		int8_t ldelta = (int8_t)p[i + 1];

		end += p[i];
		if (ldelta != -128)
			line += ldelta;
		err = emit(b, start / 2, end / 2, ldelta == -128 ? -1 : line);
		if (err)
			return err;
	}
	return 0;
}

/* 6-bit varint chunks, least significant first, bit 6 = more follow. */
static int read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	uint8_t byte;

	do {
		if (*i >= len || shift > 56)
			return -EINVAL;
		byte = p[(*i)++];
		v |= (uint64_t)(byte & 63) << shift;
		shift += 6;
	} while (byte & 64);
	*out = v;
	return 0;
}

static int read_svarint(const uint8_t *p, size_t len, size_t *i, int64_t *out)
{
	uint64_t u;
	int err = read_varint(p, len, i, &u);

	if (err)
		return err;
	*out = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return 0;
}

enum pep657_code {
	LOC_SHORT_MAX = 9,	/* 0-9: same line, one column byte */
	LOC_ONE_LINE0 = 10,	/* 10-12: line + 0..2, two column bytes */
	LOC_ONE_LINE2 = 12,
	LOC_NO_COLUMNS = 13,	/* line delta only */
	LOC_LONG = 14,		/* line delta, end line, columns */
	LOC_NONE = 15,		/* no location */
};

/*
 * 3.11+ (PEP 657): entries start with a byte whose top bit is set; bits
 * 3-6 give the kind, bits 0-2 the length in code units minus one.
 */
static int decode_pep657(struct builder *b, const uint8_t *p, size_t len, int64_t line)
{
	uint64_t unit = 0;
	size_t i = 0;
	int err;

	while (i < len) {
		uint8_t head = p[i++];
		unsigned int code = (head >> 3) & 15;
		uint64_t length = (head & 7) + 1;
		int64_t delta = 0;

		if (!(head & 128))
			return -EINVAL;
		if (code == LOC_NO_COLUMNS || code == LOC_LONG) {
			err = read_svarint(p, len, &i, &delta);
			if (err)
				return err;
		} else if (code >= LOC_ONE_LINE0 && code <= LOC_ONE_LINE2) {
			delta = code - LOC_ONE_LINE0;
		}
		if (delta > INT32_MAX || delta < -(int64_t)INT32_MAX)
			return -EINVAL;
		line += delta;
		err = emit(b, unit, unit + length, code == LOC_NONE ? -1 : line);
		if (err)
			return err;
		unit += length;
		/* The rest of the entry (columns, end line) does not matter
		 * for lines: skip to the next entry start. */
		while (i < len && !(p[i] & 128))
			i++;
	}
	return 0;
}

int line_table_decode(struct line_table *out, int kind, const uint8_t *table, size_t len,
		      int firstlineno, size_t code_len_units)
{
	struct builder b = { .t = out };
	int err;

	memset(out, 0, sizeof(*out));
	if (!table && len)
		return -EINVAL;
	if (code_len_units > MAX_UNITS)
		code_len_units = MAX_UNITS;
	switch (kind) {
	case LINETABLE_LNOTAB:
		err = decode_lnotab(&b, table, len, firstlineno, code_len_units);
		break;
	case LINETABLE_PEP626:
		err = decode_pep626(&b, table, len, firstlineno);
		break;
	case LINETABLE_PEP657:
		err = decode_pep657(&b, table, len, firstlineno);
		break;
	default:
		err = -EINVAL;
	}
	if (err)
		line_table_free(out);
	return err;
}

int32_t line_table_lookup(const struct line_table *t, uint32_t unit)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct line_range *r = &t->ranges[mid];

		if (unit < r->start)
			hi = mid;
		else if (unit >= r->end)
			lo = mid + 1;
		else
			return r->line;
	}
	return -1;
}

void line_table_free(struct line_table *t)
{
	free(t->ranges);
	t->ranges = NULL;
	t->n = 0;
}
