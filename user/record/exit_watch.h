/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Learning that target processes exited from their pidfds, instead of a
 * BPF program on the exit of every thread on the host (a thread-per-request
 * server exits a thread per request).
 */
#ifndef REFBPF_EXIT_WATCH_H
#define REFBPF_EXIT_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct exit_watch;

/* Can this kernel tell (pidfd_open, 5.3+)? */
bool exit_watch_supported(void);

/* An empty watch, or NULL (errno set). */
struct exit_watch *exit_watch_new(void);
void exit_watch_free(struct exit_watch *w);

/* Watch process `pid` (a thread group). 0; -ESRCH when it is already
 * gone; another -errno. Watching a process twice is a no-op. */
int exit_watch_add(struct exit_watch *w, pid_t pid);

/* Readable (poll, epoll) once a watched process has exited. */
int exit_watch_fd(const struct exit_watch *w);

/* Up to `max` watched processes that have exited since the last call,
 * which are no longer watched. How many, or -errno. Does not block. */
int exit_watch_reap(struct exit_watch *w, pid_t *out, size_t max);

#endif /* REFBPF_EXIT_WATCH_H */
