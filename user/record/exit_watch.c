// SPDX-License-Identifier: BSD-2-Clause
#include "record/exit_watch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/grow.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

struct watched_pid {
	pid_t pid;
	int pidfd;
};

struct exit_watch {
	int epoll_fd;
	struct watched_pid *pids;
	size_t n, cap;
};

static int pidfd_open(pid_t pid)
{
	return (int)syscall(__NR_pidfd_open, pid, 0);
}

bool exit_watch_supported(void)
{
	int fd = pidfd_open(getpid());

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct exit_watch *exit_watch_new(void)
{
	struct exit_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epoll_fd < 0) {
		free(w);
		return NULL;
	}
	return w;
}

void exit_watch_free(struct exit_watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		close(w->pids[i].pidfd);
	free(w->pids);
	close(w->epoll_fd);
	free(w);
}

int exit_watch_add(struct exit_watch *w, pid_t pid)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	for (size_t i = 0; i < w->n; i++)
		if (w->pids[i].pid == pid)
			return 0;
	if (GROW(w->pids, w->cap, w->n, 16))
		return -ENOMEM;
	fd = pidfd_open(pid);
	if (fd < 0)
		return -errno;
	ev.data.u64 = (uint64_t)(uint32_t)pid;
	if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		return err;
	}
	w->pids[w->n++] = (struct watched_pid){ .pid = pid, .pidfd = fd };
	return 0;
}

int exit_watch_fd(const struct exit_watch *w)
{
	return w->epoll_fd;
}

static void forget(struct exit_watch *w, pid_t pid)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->pids[i].pid != pid)
			continue;
		/* closing the pidfd takes it out of the epoll set too */
		close(w->pids[i].pidfd);
		w->pids[i] = w->pids[--w->n];
		return;
	}
}

int exit_watch_reap(struct exit_watch *w, pid_t *out, size_t max)
{
	struct epoll_event evs[16];
	int n, got = 0;

	if (max > sizeof(evs) / sizeof(evs[0]))
		max = sizeof(evs) / sizeof(evs[0]);
	n = epoll_wait(w->epoll_fd, evs, (int)max, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		pid_t pid = (pid_t)(uint32_t)evs[i].data.u64;

		forget(w, pid);
		out[got++] = pid;
	}
	return got;
}
