// SPDX-License-Identifier: BSD-2-Clause
#include "base/proc.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/grow.h"

int proc_maps_read(pid_t pid, struct proc_maps *out)
{
	char path[64], *line = NULL;
	size_t linecap = 0, cap = 0;
	FILE *f;
	int err = 0;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &linecap, f) > 0) {
		struct proc_map m = { 0 };
		unsigned int dev_major, dev_minor;
		int name_at = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &m.start, &m.end, m.perms, &m.pgoff, &dev_major, &dev_minor, &m.inode,
			   &name_at) < 7)
			continue;
		char *name = line + name_at;

		m.dev = makedev(dev_major, dev_minor);

		name[strcspn(name, "\n")] = 0;
		if (name[0] == '/') {
			m.path = strdup(name);
			if (!m.path) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		if (GROW(out->maps, cap, out->n, 64)) {
			free(m.path);
			err = -ENOMEM;
			goto cleanup;
		}
		out->maps[out->n++] = m;
	}
cleanup:
	free(line);
	fclose(f);
	if (err)
		proc_maps_free(out);
	return err;
}

void proc_maps_free(struct proc_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->maps[i].path);
	free(m->maps);
	m->maps = NULL;
	m->n = 0;
}

int proc_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t got;

	if (!addr)
		return -EFAULT;
	got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (got < 0)
		return -errno;
	return (size_t)got == len ? 0 : -EFAULT;
}

ssize_t proc_read_upto(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	/* one remote range is read page by page up to the first fault */
	ssize_t got = addr ? process_vm_readv(pid, &local, 1, &remote, 1, 0) : -1;

	if (got < 0)
		return addr ? -errno : -EFAULT;
	return got ? got : -EFAULT;
}

ssize_t proc_read_object(pid_t pid, uint64_t addr, void *buf, size_t min, size_t cap)
{
	static uint64_t page;
	uint64_t to_page_end;
	size_t len = min;
	int err;

	if (!page)
		page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (!min || min > cap || addr > UINT64_MAX - min)
		return -EINVAL;
	to_page_end = page - ((addr + min - 1) % page) - 1;
	len += to_page_end < cap - min ? (size_t)to_page_end : cap - min;
	err = proc_read(pid, addr, buf, len);
	return err ? err : (ssize_t)len;
}

static ssize_t read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t total = 0, got;

	if (fd < 0)
		return -errno;
	while ((size_t)total < len - 1 && (got = read(fd, buf + total, len - 1 - total)) > 0)
		total += got;
	close(fd);
	buf[total] = 0;
	return total;
}

char *proc_cmdline(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n <= 0)
		return NULL;
	while (n > 0 && buf[n - 1] == 0)
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	buf[n] = 0;
	return strdup(buf);
}

int proc_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[96];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	n = read_small_file(path, buf, len);
	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Field 22 of /proc/PID/stat (starttime, clock ticks since boot); comm may hold spaces. */
double proc_age_seconds(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long start;
	struct timespec now;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (double)n;
	char *p = strrchr(buf, ')');

	if (!p)
		return -EINVAL;
	/* after ") ": state is field 3, starttime field 22 */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &start) != 1)
		return -EINVAL;
	clock_gettime(CLOCK_BOOTTIME, &now);
	long hz = sysconf(_SC_CLK_TCK);

	return (double)now.tv_sec + now.tv_nsec / 1e9 - (double)start / (double)(hz > 0 ? hz : 100);
}

#define PF_KTHREAD 0x00200000	/* include/linux/sched.h */

int proc_kernel_thread(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long flags;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	/* after ")": a space before each field, state (3) to flags (9) */
	for (int field = 3; field <= 9 && p; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%lu", &flags) == 1 && (flags & PF_KTHREAD);
}

int proc_alive(pid_t pid)
{
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

const char *proc_path_inside(pid_t pid, const char *path)
{
	char link[64], root[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/root", (int)pid);
	n = readlink(link, root, sizeof(root) - 1);
	if (n <= 1 || (size_t)n >= sizeof(root) - 1)
		return path;
	root[n] = 0;
	return !strncmp(path, root, (size_t)n) && path[n] == '/' ? path + n : path;
}

int proc_root_path(pid_t pid, const char *path, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "/proc/%d/root%s", (int)pid, proc_path_inside(pid, path));

	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

void proc_strip_deleted(char *path)
{
	char *deleted = strstr(path, " (deleted)");

	if (deleted && !deleted[10])
		*deleted = 0;
}

/* Parent PID from /proc/PID/stat (field 4, after the parenthesised comm). */
static pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512];
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	char *p = strrchr(buf, ')');

	if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

static int append_pid(pid_t **out, size_t *n, pid_t pid)
{
	pid_t *no = realloc(*out, (*n + 1) * sizeof(**out));

	if (!no)
		return -ENOMEM;
	*out = no;
	(*out)[(*n)++] = pid;
	return 0;
}

int proc_descendants(pid_t pid, pid_t **out, size_t *n)
{
	struct { pid_t pid, ppid; } *all = NULL;
	size_t nall = 0, cap = 0, first = *n;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int err = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0)
			continue;
		if (GROW(all, cap, nall, 256)) {
			err = -ENOMEM;
			goto cleanup;
		}
		all[nall].pid = (pid_t)v;
		all[nall].ppid = proc_ppid((pid_t)v);
		nall++;
	}
	/* Breadth-first: the children of pid, then theirs, ... */
	for (size_t k = 0; k < nall; k++)
		if (all[k].ppid == pid && (err = append_pid(out, n, all[k].pid)))
			goto cleanup;
	for (size_t level = first; level < *n;) {
		size_t level_end = *n;

		for (size_t k = 0; k < nall; k++)
			for (size_t j = level; j < level_end; j++)
				if (all[k].ppid == (*out)[j]) {
					if ((err = append_pid(out, n, all[k].pid)))
						goto cleanup;
					break;
				}
		level = level_end;
	}
cleanup:
	free(all);
	closedir(d);
	return err;
}

int proc_all_pids(pid_t **out, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)) && !err) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (!*end && v > 0 && v <= INT32_MAX)
			err = append_pid(out, n, (pid_t)v);
	}
	closedir(d);
	return err;
}

pid_t proc_ns_pid(pid_t pid)
{
	char path[64], buf[4096], *line;
	pid_t last = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	line = strstr(buf, "\nNSpid:");
	if (!line)
		return 0;
	/* Host PID first, then one per nested namespace: the last is innermost. */
	for (char *p = line + 7; *p && *p != '\n';) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		last = (pid_t)v;
		p = end;
	}
	return last;
}
