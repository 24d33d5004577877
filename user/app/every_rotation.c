// SPDX-License-Identifier: BSD-2-Clause
#include "app/every_rotation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int window_path(const char *path, time_t start, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	/* A leading dot names a hidden file, not an extension. */
	const char *dot = strchr(base + (*base == '.'), '.');
	size_t stem = dot ? (size_t)(dot - path) : strlen(path);
	char stamp[32];
	struct tm tm;
	int n;

	if (!gmtime_r(&start, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		return -EINVAL;
	n = snprintf(out, len, "%.*s-%s%s", (int)stem, path, stamp, dot ? dot : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int window_retain(struct window_files *w, const char *written, unsigned int keep)
{
	char *copy = strdup(written);
	char **names = realloc(w->names, (w->n + 1) * sizeof(*names));

	if (!copy || !names) {
		free(copy);
		if (names)
			w->names = names;
		return -ENOMEM;
	}
	w->names = names;
	w->names[w->n++] = copy;
	while (keep && w->n > keep) {
		unlink(w->names[0]);
		free(w->names[0]);
		memmove(w->names, w->names + 1, (w->n - 1) * sizeof(*w->names));
		w->n--;
	}
	return 0;
}

void window_files_free(struct window_files *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->names[i]);
	free(w->names);
	w->names = NULL;
	w->n = 0;
}
