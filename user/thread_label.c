// SPDX-License-Identifier: BSD-2-Clause
#include "thread_label.h"

#include <stdio.h>
#include <string.h>

size_t thread_label(char *buf, size_t len, const char *os_name, const char *py_name)
{
	size_t os_len = os_name ? strlen(os_name) : 0;
	int n;

	if (!py_name || !*py_name)
		n = snprintf(buf, len, "%s", os_len ? os_name : "?");
	else if (!os_len || !strncmp(py_name, os_name, os_len))
		n = snprintf(buf, len, "%s", py_name);
	else
		n = snprintf(buf, len, "%s (OS: %s)", py_name, os_name);
	return n < 0 ? 0 : (size_t)n;
}

void thread_name_copy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (!len)
		return;
	if (n >= len) {
		n = len - 1;
		/* back to the start of a character: never half of one */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = 0;
}
