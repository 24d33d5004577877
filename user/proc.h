/* SPDX-License-Identifier: BSD-2-Clause */
/* What /proc tells about a process, and reading its memory. */
#ifndef REFBPF_PROC_H
#define REFBPF_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_map {
	uint64_t start, end, pgoff;
	uint64_t dev, inode;	/* the mapped file's identity (dev as makedev()) */
	char perms[5];
	char *path;		/* NULL for anonymous mappings */
};

struct proc_maps {
	struct proc_map *maps;
	size_t n;
};

/* Parse /proc/PID/maps. 0 or -errno (-ESRCH when the process is gone). */
int proc_maps_read(pid_t pid, struct proc_maps *out);
void proc_maps_free(struct proc_maps *m);

/* Read target memory. 0 when all `len` bytes were read, else -errno. */
int proc_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Read up to `len` bytes at addr, as far as they are mapped (the rest of a
 * stack, say): the bytes read, or -errno when none. */
ssize_t proc_read_upto(pid_t pid, uint64_t addr, void *buf, size_t len);

/*
 * Read an object whose size is in its header: at least `min` bytes at
 * addr, and more up to `cap` as far as the page holding addr + min - 1
 * goes (mapped, as the object is), so the data of a small object comes
 * with its header in one read. The bytes read (>= min), or -errno.
 */
ssize_t proc_read_object(pid_t pid, uint64_t addr, void *buf, size_t min, size_t cap);

/* Command line, arguments joined by spaces (malloc'd), or NULL. */
char *proc_cmdline(pid_t pid);

/* comm (thread or process name) into buf; 0 or -errno. */
int proc_comm(pid_t pid, pid_t tid, char *buf, size_t len);

/* Seconds since the process started, or a negative errno. */
double proc_age_seconds(pid_t pid);

/* 1 for a kernel thread (PF_KTHREAD), 0 otherwise or when gone. */
int proc_kernel_thread(pid_t pid);

/* 1 if the process exists (and is not a zombie), 0 if not. */
int proc_alive(pid_t pid);

/*
 * Append every descendant of `pid` (children, grandchildren...) to the
 * array *out of *n entries (realloc'd). One scan of /proc. 0 or -errno.
 */
int proc_descendants(pid_t pid, pid_t **out, size_t *n);

/* "/proc/PID/root" + path: the file as the process sees it (containers). */
/* Every PID in /proc (the caller frees *out). 0 or -errno. */
int proc_all_pids(pid_t **out, size_t *n);

/* The PID inside its innermost PID namespace (NSpid), 0 if unknown. */
pid_t proc_ns_pid(pid_t pid);

/*
 * A path from /proc/PID/maps as the process itself names it. Maps show a
 * chroot'ed process's files by their path from our root
 * (/srv/ct/root/usr/bin/python3); inside its root that is /usr/bin/python3.
 */
const char *proc_path_inside(pid_t pid, const char *path);

/* "/proc/PID/root" + the path inside: the file as the process sees it. */
int proc_root_path(pid_t pid, const char *path, char *out, size_t outlen);

/* Cut the " (deleted)" the kernel appends to a mapped file's path once the
 * file is unlinked: that path names nothing now, or something else. */
void proc_strip_deleted(char *path);

#endif /* REFBPF_PROC_H */
