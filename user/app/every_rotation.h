/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Continuous mode (--every): each window's outputs are written under names
 * carrying the window's start time, and only the newest --keep of each are
 * kept, so a collector (Pyroscope, Parca, an OpenTelemetry collector, cron
 * and object storage) can pick files up as they appear.
 */
#ifndef REFBPF_EVERY_ROTATION_H
#define REFBPF_EVERY_ROTATION_H

#include <stddef.h>
#include <time.h>

/*
 * "dir/name-20261125T073800Z.ext" for output "dir/name.ext" and a window
 * starting at `start` (UTC). The extension is everything from the first
 * dot of the file name, so "cpu.pb.gz" keeps ".pb.gz". 0 or -ENAMETOOLONG.
 */
int window_path(const char *path, time_t start, char *out, size_t len);

/* The files one output has written, oldest first. */
struct window_files {
	char **names;
	size_t n;
};

/*
 * Remember `written` (copied) as the newest file of `w`; when more than
 * `keep` are remembered (keep > 0), delete and forget the oldest. Only
 * files this run wrote are ever deleted. 0 or -ENOMEM.
 */
int window_retain(struct window_files *w, const char *written, unsigned int keep);
void window_files_free(struct window_files *w);

#endif /* REFBPF_EVERY_ROTATION_H */
