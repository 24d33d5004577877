/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Who runs refbpf, and with whose rights. Installed with file capabilities
 * (or setuid root), refbpf holds privileges its user does not: then it acts
 * as that user (real uid and gid, for files and /proc), keeps only the
 * capabilities BPF needs, and reads only what ptrace_access allows.
 * Root, and a user who really holds the capabilities, are unchanged.
 */
#ifndef REFBPF_INVOKER_H
#define REFBPF_INVOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CAP_SYS_PTRACE_BIT 19
#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

struct invoker {
	bool restricted;	/* runs with privileges its user does not hold */
	const char *how;	/* "file capabilities" or "setuid root": for messages */
	uid_t uid;		/* the user: real ids */
	gid_t gid;
	uint64_t caps;		/* the user's own capabilities: the inheritable set */
};

/*
 * Look at how refbpf was started (AT_SECURE, real against effective ids).
 * When restricted, become the user (all ids real, so files and /proc are
 * opened with the user's rights), keep of the permitted capabilities only
 * those BPF needs and the user's own, and stay non-dumpable. Call it first,
 * before anything is read. 0, or -errno with a one-line reason in `why`.
 */
int invoker_init(char *why, size_t whylen);

/* What invoker_init found (all false/0 before it ran). */
const struct invoker *invoker_get(void);

/*
 * Restricted: whether the user may write `path` (a pipe or device in
 * place; otherwise a new file in the directory the output goes to).
 * 0, or -errno. Unrestricted: always 0 (the write itself decides).
 */
int invoker_may_write(const char *path);

#endif /* REFBPF_INVOKER_H */
