// SPDX-License-Identifier: BSD-2-Clause
#include "py_values.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/* PyLong digits are 30 bits wide in 64-bit builds. */
#define LONG_SHIFT 30
#define LONG_MASK ((1u << LONG_SHIFT) - 1)
/* 3 digits hold 64 bits. */
#define LONG_MAX_DIGITS 3

size_t py_long_ndigits(uint64_t size_field, bool tagged)
{
	if (tagged)
		return (size_t)(size_field >> 3);	/* sign in the low 2 bits, 1 reserved */
	int64_t s = (int64_t)size_field;

	return s == INT64_MIN ? 0 : (size_t)(s < 0 ? -s : s);
}

int py_long_decode(uint64_t size_field, bool tagged, const uint32_t *digits, size_t ndigits,
		   bool *negative, uint64_t *magnitude)
{
	size_t n = py_long_ndigits(size_field, tagged);
	unsigned __int128 v = 0;

	if (tagged) {
		unsigned int sign = size_field & 3;	/* 0 positive, 1 zero, 2 negative */

		if (sign == 3 || (sign == 1) != (n == 0))
			return -EINVAL;
		*negative = sign == 2;
	} else {
		if ((int64_t)size_field == INT64_MIN)
			return -EINVAL;
		*negative = (int64_t)size_field < 0;
	}
	if (n > ndigits)
		return n > LONG_MAX_DIGITS ? -ERANGE : -EINVAL;
	for (size_t i = n; i-- > 0;) {
		if (digits[i] > LONG_MASK)
			return -EINVAL;
		v = v << LONG_SHIFT | digits[i];
	}
	if (v > UINT64_MAX)
		return -ERANGE;
	*magnitude = (uint64_t)v;
	return 0;
}

int py_long_read(struct py_reader *r, uint64_t addr, bool *negative, uint64_t *magnitude)
{
	const struct py_object_layout *o = r->obj;
	bool tagged = o->version_hex >= 0x030c0000;
	uint32_t digits[LONG_MAX_DIGITS] = { 0 };
	uint64_t size_field;
	size_t n;
	int err;

	err = py_read(r, addr + o->long_size, &size_field, sizeof(size_field));
	if (err)
		return err;
	n = py_long_ndigits(size_field, tagged);
	if (n > LONG_MAX_DIGITS)
		return -ERANGE;
	err = n ? py_read(r, addr + o->long_digits, digits, n * sizeof(digits[0])) : 0;
	if (err)
		return err;
	return py_long_decode(size_field, tagged, digits, n, negative, magnitude);
}

void py_value_of_int(int64_t v, struct py_value *out)
{
	snprintf(out->type, sizeof(out->type), "int");
	snprintf(out->repr, sizeof(out->repr), "%" PRId64, v);
}

void py_float_repr(double v, char *out, size_t len)
{
	char digits[40], *e;
	int exp, ndigits;

	if (isnan(v)) {
		snprintf(out, len, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(out, len, v < 0 ? "-inf" : "inf");
		return;
	}
	/* the shortest %e that reads back as v */
	for (int p = 0; p < 17; p++) {
		snprintf(digits, sizeof(digits), "%.*e", p, v);
		if (strtod(digits, NULL) == v)
			break;
	}
	e = strchr(digits, 'e');
	if (!e) {
		snprintf(out, len, "%s", digits);
		return;
	}
	exp = atoi(e + 1);
	*e = 0;
	/* digits now "[-]d[.ddd]": its significant digits without the point */
	char sig[40];
	size_t k = 0;
	bool neg = digits[0] == '-';

	for (const char *p = digits + neg; *p && k + 1 < sizeof(sig); p++)
		if (*p != '.')
			sig[k++] = *p;
	sig[k] = 0;
	ndigits = (int)k;
	if (exp < -4 || exp >= 16) {
		/* d.ddde+XX, at least two exponent digits */
		snprintf(out, len, "%s%c%s%s%se%c%02d", neg ? "-" : "", sig[0], ndigits > 1 ? "." : "",
			 sig + 1, "", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return;
	}
	char fixed[64];
	size_t f = 0;

	if (neg)
		fixed[f++] = '-';
	if (exp < 0) {
		fixed[f++] = '0';
		fixed[f++] = '.';
		for (int i = 0; i < -exp - 1; i++)
			fixed[f++] = '0';
		for (int i = 0; i < ndigits; i++)
			fixed[f++] = sig[i];
	} else {
		for (int i = 0; i <= exp; i++)
			fixed[f++] = i < ndigits ? sig[i] : '0';
		fixed[f++] = '.';
		if (ndigits > exp + 1)
			for (int i = exp + 1; i < ndigits; i++)
				fixed[f++] = sig[i];
		else
			fixed[f++] = '0';
	}
	fixed[f] = 0;
	snprintf(out, len, "%s", fixed);
}

/* Append to out[*at, len), always NUL-terminated, never past len. */
static void put(char *out, size_t len, size_t *at, const char *s, size_t n)
{
	if (*at >= len)
		return;
	if (n > len - 1 - *at)
		n = len - 1 - *at;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = 0;
}

void py_str_repr(const char *utf8, size_t n, bool cut, char *out, size_t len)
{
	bool has_single = memchr(utf8, '\'', n) != NULL, has_double = memchr(utf8, '"', n) != NULL;
	char quote = has_single && !has_double ? '"' : '\'';
	size_t at = 0;
	char esc[16];

	if (!len)
		return;
	out[0] = 0;
	put(out, len, &at, &quote, 1);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int k = utf8_char(utf8 + i, n - i, &cp);

		if (k < 0) {
			/* not UTF-8 (cannot come from a str): shown as bytes */
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)utf8[i]);
			put(out, len, &at, esc, strlen(esc));
			i += (size_t)-k;
			continue;
		}
		if (cp == (uint32_t)quote || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			put(out, len, &at, esc, 2);
		} else if (cp == '\n' || cp == '\r' || cp == '\t') {
			snprintf(esc, sizeof(esc), "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
			put(out, len, &at, esc, 2);
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			snprintf(esc, sizeof(esc), "\\x%02x", cp);
			put(out, len, &at, esc, 4);
		} else {
			put(out, len, &at, utf8 + i, (size_t)k);
		}
		i += (size_t)k;
	}
	put(out, len, &at, &quote, 1);
	if (cut)
		put(out, len, &at, "...", 3);
}

/* tp_name: a C string in the target, read up to its NUL or our limit. */
static int type_name(struct py_reader *r, uint64_t type, char *out, size_t len)
{
	uint64_t name;
	char buf[PY_VALUE_TYPE_MAX];
	int err = py_read_ptr(r, type + r->obj->type_name, &name);

	if (err)
		return err;
	memset(buf, 0, sizeof(buf));
	/* the name may end near the end of its mapping: shorter reads too */
	for (size_t want = sizeof(buf) - 1; want >= 8; want /= 2) {
		err = py_read(r, name, buf, want);
		if (!err)
			break;
	}
	if (err)
		return err;
	buf[sizeof(buf) - 1] = 0;
	snprintf(out, len, "%s", buf);
	return 0;
}

int py_value_describe(struct py_reader *r, uint64_t addr, struct py_value *out)
{
	const struct py_types *t = r->types;
	uint64_t type, magnitude;
	bool negative, cut;
	char *text;
	int err;

	memset(out, 0, sizeof(*out));
	if (addr == t->none || addr == t->true_ || addr == t->false_) {
		snprintf(out->type, sizeof(out->type), addr == t->none ? "NoneType" : "bool");
		snprintf(out->repr, sizeof(out->repr), "%s",
			 addr == t->none ? "None" : addr == t->true_ ? "True" : "False");
		return 0;
	}
	err = py_type_of(r, addr, &type);
	if (err)
		return err;
	if (type_name(r, type, out->type, sizeof(out->type)))
		snprintf(out->type, sizeof(out->type), "?");
	if (type == t->int_) {
		err = py_long_read(r, addr, &negative, &magnitude);
		if (!err)
			snprintf(out->repr, sizeof(out->repr), "%s%" PRIu64, negative ? "-" : "",
				 magnitude);
		else if (err == -ERANGE)
			snprintf(out->repr, sizeof(out->repr), "<int past 64 bits>");
	} else if (type == t->float_) {
		double v;

		if (!py_read(r, addr + r->obj->float_value, &v, sizeof(v)))
			py_float_repr(v, out->repr, sizeof(out->repr));
	} else if (type == t->str) {
		size_t len;

		if (!py_str_read_len(r, addr, PY_VALUE_STR_CHARS, &text, &len, &cut)) {
			py_str_repr(text, len, cut, out->repr, sizeof(out->repr));
			free(text);
		}
	}
	return 0;
}
