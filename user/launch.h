/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `refbpf record PROGRAM`: the user's program started as refbpf's child,
 * held before its exec until BPF watches it, so it is profiled from its
 * first line. Launching is the user's command, not discovery: refbpf never
 * runs a target's binary to learn about it.
 *
 * Under sudo the program runs as the user who ran sudo (SUDO_UID,
 * SUDO_GID and that user's groups), not as root, unless asked to. The
 * child is then profiled as a --pid target is, through the same discovery
 * and the same checks on who may be read.
 */
#ifndef REFBPF_LAUNCH_H
#define REFBPF_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct launch;

/*
 * Fork the child that will run argv[0] (looked up in PATH), with the
 * credentials it will run under already in place; it waits before exec.
 * NULL with a one-line reason in `why` when it cannot be started.
 */
struct launch *launch_start(char *const argv[], bool as_root, char *why, size_t whylen);

pid_t launch_pid(const struct launch *l);

/*
 * Let the child exec (BPF watches it now). 0 once it runs the program;
 * -errno when exec failed (message printed), the child having exited.
 */
int launch_release(struct launch *l);

/* Pass a signal refbpf received on to the program (async-signal-safe). */
void launch_forward_signal(const struct launch *l, int sig);

/*
 * Wait for the program to exit (a child never released exits without
 * running it) and free `l`. Its exit status, 128+N when signal N killed
 * it, 126 or 127 when it could not run (as shells say).
 */
int launch_finish(struct launch *l);

#endif /* REFBPF_LAUNCH_H */
