/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Making strings read from a target process safe to print. Function and
 * file names and command lines are attacker-controlled bytes: they must
 * not move the cursor of the terminal that reads our table, nor break the
 * line structure of a text output format.
 */
#ifndef REFBPF_ESCAPE_H
#define REFBPF_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Decode the UTF-8 character at s (n >= 1 bytes available), strictly: no
 * overlong forms, surrogates or code points past U+10FFFF. Returns its
 * length and stores the code point in *cp; or -k when the first k bytes are
 * the longest invalid prefix (to be replaced as one).
 */
int utf8_char(const char *s, size_t n, uint32_t *cp);

/*
 * For a terminal: \n \r \t and \xNN for the other C0 controls, DEL and
 * invalid UTF-8 bytes; \u00NN for C1 controls and \u20NN for bidi
 * overrides. Everything else, backslash included, is kept.
 *
 * Like snprintf: writes at most dstlen bytes including the NUL (when
 * dstlen > 0) and returns the length the full result needs.
 */
size_t escape_terminal(char *dst, size_t dstlen, const char *src);

/* escape_terminal() written to a stream. 0 or -EIO. */
int escape_terminal_fputs(const char *src, FILE *f);

/*
 * For one frame of a collapsed-stack line: C0 and C1 controls (newline
 * included), DEL and invalid UTF-8 bytes as \xNN, the line separators
 * U+2028/U+2029 as \u2028/\u2029, and ';', the frame separator, replaced
 * by ':'. snprintf-like, as escape_terminal().
 */
size_t escape_folded(char *dst, size_t dstlen, const char *src);

/*
 * The inside of a JSON string (no quotes), written to a stream: the value
 * reads back as exactly the name wherever the name is valid UTF-8. '"' and
 * '\\' escaped, \b \f \n \r \t, \u00NN for the other C0 and C1 controls and
 * DEL, \u20NN for U+2028/9 and bidi overrides (lossless, and the file stays
 * safe to cat); each invalid UTF-8 sequence becomes \ufffd, so the file is
 * valid UTF-8. 0 or -EIO.
 */
int escape_json_fputs(const char *src, FILE *f);

/*
 * Valid UTF-8 for formats that require it (protobuf strings): each invalid
 * sequence replaced by U+FFFD as Python's decode(errors="replace") does,
 * everything else kept. snprintf-like, as escape_terminal().
 */
size_t utf8_sanitize(char *dst, size_t dstlen, const char *src);

/*
 * For XML and HTML text and attribute values: escape_terminal()'s visible
 * escapes for control characters, bidi overrides and invalid UTF-8, then
 * & < > " ' as entities. Markup in a name stays text. 0 or -EIO.
 */
int escape_xml_fputs(const char *src, FILE *f);

/*
 * escape_json_fputs() for JSON inside an HTML <script> element: '<', '>'
 * and '&' also as \u003c \u003e \u0026, so no name can close the element.
 */
int escape_json_html_fputs(const char *src, FILE *f);

#endif /* REFBPF_ESCAPE_H */
