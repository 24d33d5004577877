// SPDX-License-Identifier: BSD-2-Clause
#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int show_all;
static char last_failure[96];

/* libbpf says "libbpf: prog 'NAME': failed to load: -22" and
 * "libbpf: map 'NAME': failed to create: ..." when it gives up. */
static void note_failure(const char *msg)
{
	static const struct {
		const char *prefix, *what, *verb;
	} kinds[] = {
		{ "libbpf: prog '", "program", "': failed to load" },
		{ "libbpf: map '", "map", "': failed to create" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t plen = strlen(kinds[i].prefix);
		const char *end;

		if (strncmp(msg, kinds[i].prefix, plen))
			continue;
		end = strstr(msg + plen, kinds[i].verb);
		if (!end || memchr(msg + plen, '\'', (size_t)(end - msg - plen)))
			continue;
		snprintf(last_failure, sizeof(last_failure), "%s '%.*s'", kinds[i].what,
			 (int)(end - msg - plen), msg + plen);
	}
}

__attribute__((format(printf, 2, 0)))
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char msg[512];
	va_list copy;

	va_copy(copy, args);
	vsnprintf(msg, sizeof(msg), fmt, copy);
	va_end(copy);
	if (level == LIBBPF_WARN)
		note_failure(msg);
	if (!show_all)
		return 0;
	return vfprintf(stderr, fmt, args);
}

void libbpf_log_init(int show)
{
	show_all = show;
	last_failure[0] = 0;
	libbpf_set_print(print_libbpf);
}

const char *libbpf_log_last_failure(void)
{
	return last_failure;
}
