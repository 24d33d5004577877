/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Replacing an output file atomically: readers (cprofilev re-reads the
 * pstats file on every request) see the old file or the complete new one,
 * never a half-written one, and a failed write leaves nothing behind.
 */
#ifndef REFBPF_ATOMIC_FILE_H
#define REFBPF_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

struct atomic_file {
	char *path;		/* final name */
	char *tmp;		/* temporary file next to it; NULL when direct */
	FILE *f;
};

/*
 * Open a new temporary file in the directory of `path` (created with
 * O_EXCL, mode 0666 less the umask). If `path` exists and is not a regular
 * file (a pipe, /dev/null), or is a name under /dev (but /dev/shm) or
 * /proc (/dev/stdout, which may lead to a regular or an unnamed file), it
 * is written in place instead, and never created.
 * A symlink is followed: its target is replaced; but in a sticky
 * world-writable directory only a symlink of ours or of the directory's
 * owner (errno ELOOP otherwise). Under sudo, a new file belongs to the
 * invoking user (SUDO_UID, SUDO_GID). Returns the stream, or
 * NULL with errno set. Every successful open must end with exactly one
 * atomic_commit() or atomic_abort().
 */
FILE *atomic_open(const char *path, struct atomic_file *af);

/* Flush, fsync, close and rename onto the path. 0, or -errno and nothing left behind. */
int atomic_commit(struct atomic_file *af);

/*
 * strerror(), plus what atomic_open's own refusals mean: -ELOOP is a
 * symlink planted by another user in a sticky shared directory (/tmp),
 * which is never followed.
 */
const char *atomic_strerror(int err);

/* Close and remove the temporary file. */
void atomic_abort(struct atomic_file *af);

/*
 * The whole of it for a writer: open `path`, let `emit` write everything
 * to the stream (returning 0 or -errno), then commit; an emit error or a
 * stream error (the first failed write's errno: ENOSPC, EFBIG) leaves
 * nothing behind. 0 or -errno.
 */
int atomic_write(const char *path, int (*emit)(FILE *f, void *ctx), void *ctx);

#endif /* REFBPF_ATOMIC_FILE_H */
