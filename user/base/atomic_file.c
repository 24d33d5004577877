// SPDX-License-Identifier: BSD-2-Clause
#include "base/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_ATTEMPTS 100

static uint64_t random_suffix(void)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == sizeof(r))
		return r;
	/* no entropy yet: unique enough, O_EXCL catches the rest */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	       ((uint64_t)getpid() << 40) ^ ++counter;
}

/* Create "<dir>/.<base>.<random>.tmp" exclusively. fd, or -errno. */
static int create_tmp(struct atomic_file *af)
{
	const char *slash = strrchr(af->path, '/');
	int dirlen = slash ? (int)(slash - af->path + 1) : 0;
	const char *base = af->path + dirlen;

	for (int i = 0; i < TMP_ATTEMPTS; i++) {
		int fd;

		free(af->tmp);
		if (asprintf(&af->tmp, "%.*s.%s.%012" PRIx64 ".tmp", dirlen, af->path, base,
			     random_suffix() & (uint64_t)0xffffffffffff) < 0) {
			af->tmp = NULL;
			return -ENOMEM;
		}
		fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * The kernel's protected_symlinks rule, applied before we resolve a link
 * ourselves: in a sticky world-writable directory (/tmp) a symlink is
 * followed only if it is ours or the directory owner's, so nobody can
 * plant /tmp/profile.out -> /etc/shadow for root to overwrite.
 */
static bool planted_symlink(const char *path, const struct stat *link)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	struct stat st;
	bool planted = false;

	if (dir && !stat(dir, &st) && (st.st_mode & S_ISVTX) && (st.st_mode & S_IWOTH))
		planted = link->st_uid != geteuid() && link->st_uid != st.st_uid;
	free(dir);
	return planted;
}

/* Under sudo, the files are the invoking user's, as if they wrote them. */
static void give_to_sudo_user(int fd)
{
	const char *uid = getenv("SUDO_UID"), *gid = getenv("SUDO_GID");
	unsigned long u, g;
	char *end;

	if (getuid() != 0 || !uid || !gid)
		return;
	u = strtoul(uid, &end, 10);
	if (*end || !*uid)
		return;
	g = strtoul(gid, &end, 10);
	if (*end || !*gid)
		return;
	/* best effort: the data matters more than its owner */
	if (fchown(fd, (uid_t)u, (gid_t)g))
		return;
}

/* Where a symlink whose target does not exist yet points. */
static char *dangling_target(const char *path)
{
	char target[4096], *out = NULL;
	const char *slash = strrchr(path, '/');
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return NULL;
	target[n] = 0;
	if (target[0] == '/' || !slash)
		return strdup(target);
	if (asprintf(&out, "%.*s/%s", (int)(slash - path), path, target) < 0)
		return NULL;
	return out;
}

const char *atomic_strerror(int err)
{
	if (err == -ELOOP)
		return "refusing to follow a symlink someone else planted in a shared directory";
	return strerror(-err);
}

static void release(struct atomic_file *af)
{
	free(af->path);
	free(af->tmp);
	memset(af, 0, sizeof(*af));
}

/*
 * A name under /dev or /proc stands for a device or an open file
 * (/dev/stdout, /dev/fd/3, /proc/self/fd/1): it is written in place,
 * never replaced, whatever it leads to (a pipe, a terminal, a file that
 * has no name any more). A rename onto it would replace the link itself.
 * /dev/shm is a plain file system of its own.
 */
static bool names_an_open_file(const char *path)
{
	if (!strncmp(path, "/dev/shm/", 9))
		return false;
	return !strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6);
}

/* Write `path` in place, never creating it. 0 or -errno. */
static int open_in_place(const char *path, struct atomic_file *af)
{
	int fd;

	af->path = strdup(path);
	if (!af->path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	af->f = fdopen(fd, "w");
	if (!af->f) {
		int err = -errno;

		close(fd);
		return err;
	}
	return 0;
}

FILE *atomic_open(const char *path, struct atomic_file *af)
{
	struct stat st;
	char *real = NULL;
	int fd = -1, err;

	memset(af, 0, sizeof(*af));
	if (!path || !*path) {
		errno = ENOENT;
		return NULL;
	}
	if (!lstat(path, &st) && S_ISLNK(st.st_mode) && planted_symlink(path, &st)) {
		errno = ELOOP;
		return NULL;
	}
	/* a pipe or device cannot be replaced by rename: write to it */
	if (names_an_open_file(path) || (!stat(path, &st) && !S_ISREG(st.st_mode))) {
		err = open_in_place(path, af);
		goto cleanup;
	}
	/* replace what a symlink points to, not the link (a dangling one
	 * names the file to create) */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode)) {
		real = realpath(path, NULL);
		if (!real)
			real = dangling_target(path);
	}
	af->path = strdup(real ? real : path);
	if (!af->path) {
		err = -ENOMEM;
		goto cleanup;
	}
	fd = create_tmp(af);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	give_to_sudo_user(fd);
	af->f = fdopen(fd, "w");
	if (!af->f) {
		err = -errno;
		close(fd);
		unlink(af->tmp);
		goto cleanup;
	}
	err = 0;
cleanup:
	free(real);
	if (err) {
		release(af);
		errno = -err;
		return NULL;
	}
	return af->f;
}

int atomic_commit(struct atomic_file *af)
{
	int err = 0;

	if (!af->f)
		return -EBADF;
	/* errno is only meaningful when fflush itself failed */
	if (fflush(af->f) == EOF)
		err = -errno;
	else if (ferror(af->f))
		err = -EIO;
	/* a full disk may only show up here, on network and some local filesystems */
	if (!err && af->tmp && fsync(fileno(af->f)))
		err = -errno;
	if (fclose(af->f) == EOF && !err)
		err = -errno;
	af->f = NULL;
	if (!err && af->tmp && rename(af->tmp, af->path))
		err = -errno;
	if (err && af->tmp)
		unlink(af->tmp);
	release(af);
	return err;
}

void atomic_abort(struct atomic_file *af)
{
	if (af->f)
		fclose(af->f);
	if (af->tmp)
		unlink(af->tmp);
	release(af);
}

int atomic_write(const char *path, int (*emit)(FILE *f, void *ctx), void *ctx)
{
	struct atomic_file af;
	FILE *f = atomic_open(path, &af);
	int err;

	if (!f)
		return -errno;
	/* the first failed write's errno says why */
	errno = 0;
	err = emit(f, ctx);
	if (!err && ferror(f))
		err = errno ? -errno : -EIO;
	if (err) {
		atomic_abort(&af);
		return err;
	}
	return atomic_commit(&af);
}
