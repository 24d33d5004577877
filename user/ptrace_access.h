/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * May refbpf read this process? When it runs with privileges its user does
 * not hold (invoker.h), only if the user could ptrace the process
 * themselves: the kernel's rule for PTRACE_MODE_READ_REALCREDS
 * (__ptrace_may_access, then cap_ptrace_access_check) as far as userspace
 * can check it, the kernel's own verdict on it, and Yama's ptrace_scope
 * (refbpf reads memory, which the kernel allows only in attach mode).
 *
 * Every process refbpf reads passes here first: py_process_discover()
 * calls it before it reads anything; the recorder again once BPF samples
 * the process (an exec may have happened in between) and every few
 * seconds while it does; dump at its entry.
 */
#ifndef REFBPF_PTRACE_ACCESS_H
#define REFBPF_PTRACE_ACCESS_H

#include <stddef.h>
#include <sys/types.h>

enum ptrace_refusal {
	PTRACE_ALLOWED = 0,
	PTRACE_OTHER_USER,	/* a real, effective or saved uid not the user's */
	PTRACE_OTHER_GROUP,	/* a real, effective or saved gid not the user's */
	PTRACE_NOT_DUMPABLE,	/* since a setuid exec, or prctl(PR_SET_DUMPABLE, 0) */
	PTRACE_MORE_CAPS,	/* permitted capabilities the user does not hold */
	PTRACE_YAMA,		/* kernel.yama.ptrace_scope */
	PTRACE_KERNEL,		/* the kernel refuses for another reason (a security module) */
	PTRACE_REFUSALS
};

/*
 * PTRACE_ALLOWED (at once when unrestricted), a refusal (enum
 * ptrace_refusal) with a one-line reason in `why` (NULL: none wanted), or
 * -ESRCH when the process is gone (or hidden from the user). Reads nothing
 * of the process but its /proc status and who owns its /proc files.
 */
int ptrace_access_check(pid_t pid, char *why, size_t whylen);

/* For counts: "of other users", "not dumpable", ... */
const char *ptrace_refusal_name(int refusal);

#endif /* REFBPF_PTRACE_ACCESS_H */
