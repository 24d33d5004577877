// SPDX-License-Identifier: BSD-2-Clause
#include "escape.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

enum escape_mode {
	ESCAPE_TERMINAL,
	ESCAPE_FOLDED,
	ESCAPE_JSON,
};

/* Where escaped text goes: a bounded buffer or a stream. */
struct sink {
	char *dst;
	size_t dstlen;
	size_t len;		/* bytes the full result needs */
	FILE *f;
	int err;
};

static void put(struct sink *o, const char *s, size_t n)
{
	if (o->f) {
		if (n && fwrite(s, 1, n, o->f) != n)
			o->err = -EIO;
	} else if (o->len < o->dstlen) {
		size_t room = o->dstlen - o->len;

		memcpy(o->dst + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void put_hex(struct sink *o, const char *prefix, unsigned int v, int digits)
{
	static const char hex[] = "0123456789abcdef";
	char buf[8];
	size_t n = strlen(prefix);

	memcpy(buf, prefix, n);
	while (digits--)
		buf[n++] = hex[(v >> (digits * 4)) & 0xf];
	put(o, buf, n);
}

/* Bidirectional overrides and isolates reorder the text that follows. */
static bool is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void escape_terminal_char(struct sink *o, const char *s, int len, uint32_t cp)
{
	switch (cp) {
	case '\n':
		put(o, "\\n", 2);
		return;
	case '\r':
		put(o, "\\r", 2);
		return;
	case '\t':
		put(o, "\\t", 2);
		return;
	}
	if (cp < 0x20 || cp == 0x7f)
		put_hex(o, "\\x", cp, 2);
	else if ((cp >= 0x80 && cp < 0xa0) || is_bidi_control(cp))
		put_hex(o, "\\u", cp, 4);
	else
		put(o, s, (size_t)len);
}

static void escape_folded_char(struct sink *o, const char *s, int len, uint32_t cp)
{
	/* C1 NEL and U+2028/9 end a line for some readers (Python's splitlines) */
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		put_hex(o, "\\x", cp, 2);
	else if (cp == 0x2028 || cp == 0x2029)
		put_hex(o, "\\u", cp, 4);
	else if (cp == ';')
		put(o, ":", 1);
	else
		put(o, s, (size_t)len);
}

static void escape_json_char(struct sink *o, const char *s, int len, uint32_t cp)
{
	/* < > & too, so the text can sit in an HTML <script> element */
	if (cp == '"')
		put(o, "\\\"", 2);
	else if (cp == '\\')
		put(o, "\\\\", 2);
	else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 || cp == 0x2029)
		put_hex(o, "\\u", cp, 4);
	else
		put(o, s, (size_t)len);
}

static void escape(struct sink *o, const char *src, enum escape_mode mode)
{
	size_t n = strlen(src);

	while (n) {
		uint32_t cp;
		int len = utf8_char(src, n, &cp);

		if (len < 0) {
			/* each invalid byte shown, so nothing is silently lost
			 * (JSON strings are Unicode: there the backslash is text) */
			for (int i = 0; i < -len; i++)
				put_hex(o, mode == ESCAPE_JSON ? "\\\\x" : "\\x", (unsigned char)src[i], 2);
			len = -len;
		} else if (mode == ESCAPE_TERMINAL) {
			escape_terminal_char(o, src, len, cp);
		} else if (mode == ESCAPE_JSON) {
			escape_json_char(o, src, len, cp);
		} else {
			escape_folded_char(o, src, len, cp);
		}
		src += len;
		n -= (size_t)len;
	}
}

static size_t escape_buf(char *dst, size_t dstlen, const char *src, enum escape_mode mode)
{
	struct sink o = { .dst = dst, .dstlen = dstlen };

	escape(&o, src, mode);
	if (dstlen)
		dst[o.len < dstlen ? o.len : dstlen - 1] = '\0';
	return o.len;
}

size_t escape_terminal(char *dst, size_t dstlen, const char *src)
{
	return escape_buf(dst, dstlen, src, ESCAPE_TERMINAL);
}

size_t escape_folded(char *dst, size_t dstlen, const char *src)
{
	return escape_buf(dst, dstlen, src, ESCAPE_FOLDED);
}

int escape_terminal_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	escape(&o, src, ESCAPE_TERMINAL);
	return o.err;
}

int utf8_char(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t v;
	int need;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	/* bounds from Unicode table 3-7: no overlongs, nothing past U+10FFFF */
	if (s[0] < 0xc2) {
		return -1;
	} else if (s[0] < 0xe0) {
		need = 1;
		v = s[0] & 0x1f;
	} else if (s[0] < 0xf0) {
		need = 2;
		v = s[0] & 0x0f;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] < 0xf5) {
		need = 3;
		v = s[0] & 0x07;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return -1;
	}
	for (int i = 1; i <= need; i++) {
		if ((size_t)i >= n || s[i] < lo || s[i] > hi)
			return -i;
		v = v << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return need + 1;
}

int escape_json_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	fputc('"', f);
	escape(&o, src, ESCAPE_JSON);
	fputc('"', f);
	return o.err;
}
