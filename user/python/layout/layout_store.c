// SPDX-License-Identifier: BSD-2-Clause
/*
 * On-disk layout store: one small binary file per (build-id, version),
 * written atomically. A file is trusted only as far as its header says it
 * was written by this build of refbpf for that build-id and version; the
 * layout is validated against the live process before use anyway.
 */
#include "python/layout/layout_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"

#define LAYOUT_STORE_DEFAULT "/var/cache/refbpf/layouts"
/* A new number whenever fields of struct py_version_layout move while its
 * size stays (record_size catches the rest): a record of another order is
 * a miss, not a layout read with its fields swapped. */
#define LAYOUT_STORE_MAGIC "refbpf-layout-6"

struct layout_store_record {
	char magic[16];
	uint32_t record_size;	/* sizeof(struct layout_store_record): catches format changes */
	uint32_t major, minor;
	char build_id[129];
	struct py_version_layout layout;
};

static const char *store_dir(void)
{
	const char *dir = getenv("REFBPF_CACHE_DIR");

	return dir && *dir ? dir : LAYOUT_STORE_DEFAULT;
}

/* Ours alone: owned by us and writable by nobody else. */
static int dir_is_private(const char *dir)
{
	struct stat st;

	return !lstat(dir, &st) && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* Build-ids are hex: anything else never becomes part of a path. */
static int record_path(const char *build_id, int major, int minor, char *out, size_t len)
{
	size_t n = strlen(build_id);

	if (n < 8 || n > 128 || strspn(build_id, "0123456789abcdef") != n)
		return -EINVAL;
	int w = snprintf(out, len, "%s/%s-%d.%d.layout", store_dir(), build_id, major, minor);

	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

int layout_store_load(const char *build_id, int major, int minor, struct py_version_layout *out)
{
	struct layout_store_record rec;
	char path[PATH_MAX];
	struct stat st;
	ssize_t got;
	int fd;

	if (record_path(build_id, major, minor, path, sizeof(path)) || !dir_is_private(store_dir()))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size != (off_t)sizeof(rec)) {
		close(fd);
		return -ENOENT;
	}
	got = read(fd, &rec, sizeof(rec));
	close(fd);
	if (got != (ssize_t)sizeof(rec) || memcmp(rec.magic, LAYOUT_STORE_MAGIC, sizeof(LAYOUT_STORE_MAGIC)) ||
	    rec.record_size != sizeof(rec) || rec.major != (uint32_t)major ||
	    rec.minor != (uint32_t)minor || strncmp(rec.build_id, build_id, sizeof(rec.build_id)) ||
	    rec.layout.version_hex != ((uint32_t)major << 24 | (uint32_t)minor << 16))
		return -ENOENT;
	*out = rec.layout;
	return 0;
}

static int emit_record(FILE *f, void *ctx)
{
	return fwrite(ctx, sizeof(struct layout_store_record), 1, f) == 1 ? 0 : -EIO;
}

void layout_store_save(const char *build_id, int major, int minor,
		       const struct py_version_layout *l)
{
	struct layout_store_record rec;
	char path[PATH_MAX];

	if (record_path(build_id, major, minor, path, sizeof(path)))
		return;
	if (!getenv("REFBPF_CACHE_DIR") || !*getenv("REFBPF_CACHE_DIR")) {
		/* The default lives under /var/cache/refbpf: create both levels. */
		mkdir("/var/cache/refbpf", 0755);
		mkdir(LAYOUT_STORE_DEFAULT, 0755);
	}
	if (!dir_is_private(store_dir()))
		return;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.magic, LAYOUT_STORE_MAGIC, sizeof(LAYOUT_STORE_MAGIC));
	rec.record_size = sizeof(rec);
	rec.major = (uint32_t)major;
	rec.minor = (uint32_t)minor;
	snprintf(rec.build_id, sizeof(rec.build_id), "%s", build_id);
	rec.layout = *l;
	atomic_write(path, emit_record, &rec);
}
