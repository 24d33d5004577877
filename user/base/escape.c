// SPDX-License-Identifier: BSD-2-Clause
#include "base/escape.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

enum escape_mode {
	ESCAPE_TERMINAL,
	ESCAPE_FOLDED,
	ESCAPE_JSON,
	ESCAPE_UTF8,
	ESCAPE_XML,
	ESCAPE_JSON_HTML,
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
	static const char short_forms[][3] = {
		['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
		['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
	};

	if (cp < sizeof(short_forms) / sizeof(short_forms[0]) && short_forms[cp][0])
		put(o, short_forms[cp], 2);
	else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
		 is_bidi_control(cp))
		put_hex(o, "\\u", cp, 4);
	else
		put(o, s, (size_t)len);
}

/* XML text and attribute values: the terminal's visible escapes (XML 1.0
 * cannot carry most control characters even as references), then the five
 * markup characters as entities. */
static void escape_xml_char(struct sink *o, const char *s, int len, uint32_t cp)
{
	switch (cp) {
	case '&':
		put(o, "&amp;", 5);
		return;
	case '<':
		put(o, "&lt;", 4);
		return;
	case '>':
		put(o, "&gt;", 4);
		return;
	case '"':
		put(o, "&quot;", 6);
		return;
	case '\'':
		put(o, "&#39;", 5);
		return;
	}
	escape_terminal_char(o, s, len, cp);
}

static void escape_invalid(struct sink *o, const char *src, int n, enum escape_mode mode)
{
	switch (mode) {
	case ESCAPE_JSON:
	case ESCAPE_JSON_HTML:
		put(o, "\\ufffd", 6);
		break;
	case ESCAPE_UTF8:
		put(o, "\xef\xbf\xbd", 3);
		break;
	default:
		/* each invalid byte shown, so nothing is silently lost */
		for (int i = 0; i < n; i++)
			put_hex(o, "\\x", (unsigned char)src[i], 2);
	}
}

static void escape(struct sink *o, const char *src, enum escape_mode mode)
{
	size_t n = strlen(src);

	while (n) {
		uint32_t cp;
		int len = utf8_char(src, n, &cp);

		if (len < 0) {
			escape_invalid(o, src, -len, mode);
			len = -len;
		} else if (mode == ESCAPE_TERMINAL) {
			escape_terminal_char(o, src, len, cp);
		} else if (mode == ESCAPE_FOLDED) {
			escape_folded_char(o, src, len, cp);
		} else if (mode == ESCAPE_JSON) {
			escape_json_char(o, src, len, cp);
		} else if (mode == ESCAPE_JSON_HTML) {
			/* inside <script>: no "</script>", no "<!--" */
			if (cp == '<' || cp == '>' || cp == '&')
				put_hex(o, "\\u", cp, 4);
			else
				escape_json_char(o, src, len, cp);
		} else if (mode == ESCAPE_XML) {
			escape_xml_char(o, src, len, cp);
		} else {
			put(o, src, (size_t)len);
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

size_t utf8_sanitize(char *dst, size_t dstlen, const char *src)
{
	return escape_buf(dst, dstlen, src, ESCAPE_UTF8);
}

int escape_terminal_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	escape(&o, src, ESCAPE_TERMINAL);
	return o.err;
}

int escape_json_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	escape(&o, src, ESCAPE_JSON);
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

int escape_xml_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	escape(&o, src, ESCAPE_XML);
	return o.err;
}

int escape_json_html_fputs(const char *src, FILE *f)
{
	struct sink o = { .f = f };

	escape(&o, src, ESCAPE_JSON_HTML);
	return o.err;
}
