/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What a value in a target process is, told briefly: a short repr of
 * str, int, float, bool and None (as Python's repr() writes them, strings
 * cut and escaped), the type's name for anything else. An object counts
 * as one of those types only when its ob_type is that exact type object:
 * a subclass, or anything else, is named by its type, never decoded.
 */
#ifndef REFBPF_PY_VALUES_H
#define REFBPF_PY_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "py_reader.h"

/* Characters of a str shown before it is cut ("..." follows). */
#define PY_VALUE_STR_CHARS 64
/* Bytes of a repr: a cut str, escaped, fits. */
#define PY_VALUE_REPR_MAX (PY_VALUE_STR_CHARS * 4 * 4 + 16)
/* Bytes of a type's name kept. */
#define PY_VALUE_TYPE_MAX 96

struct py_value {
	char type[PY_VALUE_TYPE_MAX];	/* "" when its type could not be read */
	char repr[PY_VALUE_REPR_MAX];	/* "" for types shown by name only */
};

/*
 * Describe the object at `addr`. 0 (out filled, repr possibly empty), or
 * -errno when not even its type could be read.
 */
int py_value_describe(struct py_reader *r, uint64_t addr, struct py_value *out);

/* An int given by value (3.14+ tagged ints in a frame's locals). */
void py_value_of_int(int64_t v, struct py_value *out);

/*
 * Python's repr() of a float: the shortest digits that read back as the
 * same double, in fixed notation from 1e-4 up to 1e16, else exponent.
 */
void py_float_repr(double v, char *out, size_t len);

/*
 * An int from its header field (ob_size before 3.12, lv_tag since) and its
 * 30-bit digits, least significant first: 0 with the value when it fits 64
 * bits and sign, -ERANGE when it does not, -EINVAL when malformed. `tagged`:
 * the 3.12+ lv_tag encoding.
 */
int py_long_decode(uint64_t size_field, bool tagged, const uint32_t *digits, size_t ndigits,
		   bool *negative, uint64_t *magnitude);

/* How many digits an int's header says it has (0 when malformed). */
size_t py_long_ndigits(uint64_t size_field, bool tagged);

/* The int at `addr` (type int). 0, -ERANGE (past 64 bits), -EINVAL, -errno. */
int py_long_read(struct py_reader *r, uint64_t addr, bool *negative, uint64_t *magnitude);

/*
 * A str's text (`n` bytes of UTF-8) as Python's repr() writes it: single
 * quotes (double when it holds a single quote and no double one),
 * backslash escapes for the quote, the backslash and control characters
 * (C0, DEL, C1 as \xNN); "..." after the closing quote when `cut`.
 */
void py_str_repr(const char *utf8, size_t n, bool cut, char *out, size_t len);

#endif /* REFBPF_PY_VALUES_H */
