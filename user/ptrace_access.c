// SPDX-License-Identifier: BSD-2-Clause
#include "ptrace_access.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "invoker.h"

/* Parent links followed up to init, at most (Yama's descendant test). */
#define MAX_ANCESTORS 4096

struct target_creds {
	unsigned int uid[4], gid[4];	/* real, effective, saved, filesystem */
	uint64_t cap_prm;
};

static int read_creds(pid_t pid, struct target_creds *c)
{
	char path[64], line[256];
	unsigned int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %u %u %u %u", &c->uid[0], &c->uid[1], &c->uid[2],
			   &c->uid[3]) == 4)
			found |= 1;
		else if (sscanf(line, "Gid: %u %u %u %u", &c->gid[0], &c->gid[1], &c->gid[2],
				&c->gid[3]) == 4)
			found |= 2;
		else if (sscanf(line, "CapPrm: %" SCNx64, &c->cap_prm) == 1)
			found |= 4;
	fclose(f);
	/* a process that exits while we read leaves a short file */
	return found == 7 ? 0 : -ESRCH;
}

/*
 * The kernel hands a non-dumpable process's /proc files to root (of the
 * user namespace it was exec'd in): owned by its effective ids, it is
 * dumpable. 1, 0, or -ESRCH.
 */
static int is_dumpable(pid_t pid, const struct target_creds *c)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (stat(path, &st))
		return -ESRCH;
	return st.st_uid == c->uid[1] && st.st_gid == c->gid[1];
}

/*
 * The kernel's verdict: reading /proc/PID/ns/user takes ptrace read
 * access, checked with refbpf's ids (the user's) and without
 * CAP_SYS_PTRACE (invoker_init dropped it). It also tells whether the
 * process lives in our user namespace. 1 allowed, 0 refused, or -ESRCH.
 */
static int kernel_allows(pid_t pid, bool *same_ns)
{
	char path[64], theirs[64], ours[64];
	const char *ns = "user";
	ssize_t n, m;

	m = readlink("/proc/self/ns/user", ours, sizeof(ours));
	if (m < 0)
		ns = "mnt";	/* a kernel without user namespaces */
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	n = readlink(path, theirs, sizeof(theirs));
	if (n < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : 0;
	*same_ns = m < 0 || (m == n && !memcmp(ours, theirs, (size_t)n));
	return 1;
}

/* kernel.yama.ptrace_scope, 0 without Yama. */
static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &scope) != 1)
		scope = 3;	/* unreadable: assume the strictest */
	fclose(f);
	return scope;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], line[256];
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return ppid;
}

/* Yama's scope 1 lets a process attach to its descendants only. */
static bool descends_from_us(pid_t pid)
{
	pid_t self = getpid();

	for (int i = 0; i < MAX_ANCESTORS && pid > 1; i++) {
		pid = parent_of(pid);
		if (pid == self)
			return true;
	}
	return false;
}

/* Yama's rule for attaching, which reading memory needs. */
static bool yama_allows(pid_t pid, int *scope)
{
	*scope = yama_scope();
	return *scope == 0 || (*scope == 1 && descends_from_us(pid));
}

/* The first id of real, effective, saved that is not `mine`, else `mine`. */
static unsigned int other_id(const unsigned int ids[4], unsigned int mine)
{
	for (int i = 0; i < 3; i++)
		if (ids[i] != mine)
			return ids[i];
	return mine;
}

static bool ids_all(const unsigned int ids[4], unsigned int mine)
{
	return other_id(ids, mine) == mine;
}

static void name_id(char *out, size_t len, const char *kind, unsigned int id)
{
	if (id == 0)
		snprintf(out, len, "root");
	else
		snprintf(out, len, "%s %u", kind, id);
}

static void explain(char *why, size_t whylen, int refusal, const struct target_creds *c,
		    int scope)
{
	const struct invoker *inv = invoker_get();
	char who[32], what[160];

	switch (refusal) {
	case PTRACE_OTHER_USER:
		name_id(who, sizeof(who), "uid", other_id(c->uid, inv->uid));
		if (c->uid[0] == inv->uid)
			snprintf(what, sizeof(what), "runs as %s (a setuid program)", who);
		else
			snprintf(what, sizeof(what), "belongs to %s", who);
		break;
	case PTRACE_OTHER_GROUP:
		name_id(who, sizeof(who), "gid", other_id(c->gid, inv->gid));
		snprintf(what, sizeof(what), "runs with group %s, not yours%s", who,
			 c->gid[0] == inv->gid ? " (a setgid program)" : "");
		break;
	case PTRACE_NOT_DUMPABLE:
		snprintf(what, sizeof(what),
			 "is not dumpable (it changed privileges, or asked not to be traced)");
		break;
	case PTRACE_MORE_CAPS:
		snprintf(what, sizeof(what), "holds capabilities you do not have (0x%" PRIx64 ")",
			 c->cap_prm & ~inv->caps);
		break;
	case PTRACE_YAMA:
		snprintf(what, sizeof(what), "kernel.yama.ptrace_scope is %d%s", scope,
			 scope == 1 ? " and refbpf did not start it" : "");
		break;
	default:
		snprintf(what, sizeof(what), "the kernel does not let you ptrace it");
		break;
	}
	snprintf(why, whylen, "%s; refbpf runs with %s, so it only profiles processes that you could ptrace",
		 what, inv->how);
}

int ptrace_access_check(pid_t pid, char *why, size_t whylen)
{
	const struct invoker *inv = invoker_get();
	struct target_creds c;
	bool same_ns = true;
	int refusal = PTRACE_ALLOWED, allowed, dumpable, scope = 0;
	int err;

	/* the user's own CAP_SYS_PTRACE lifts the rule, as it does for ptrace */
	if (!inv->restricted || (inv->caps & (1ull << CAP_SYS_PTRACE_BIT)) || pid == getpid())
		return PTRACE_ALLOWED;
	memset(&c, 0, sizeof(c));
	err = read_creds(pid, &c);
	if (err == -ESRCH)
		return err;
	allowed = err ? 0 : kernel_allows(pid, &same_ns);
	if (allowed < 0)
		return allowed;
	dumpable = err ? 0 : is_dumpable(pid, &c);
	if (dumpable < 0)
		return dumpable;
	/* In a user namespace the user owns, the kernel alone can tell (the
	 * user has every capability there); in ours, the ids, dumpability
	 * and capabilities must all say yes, whatever the kernel says. */
	if (err)
		refusal = PTRACE_KERNEL;
	else if ((same_ns || !allowed) && !ids_all(c.uid, inv->uid))
		refusal = PTRACE_OTHER_USER;
	else if ((same_ns || !allowed) && !ids_all(c.gid, inv->gid))
		refusal = PTRACE_OTHER_GROUP;
	else if ((same_ns || !allowed) && !dumpable)
		refusal = PTRACE_NOT_DUMPABLE;
	else if (!allowed)
		refusal = PTRACE_KERNEL;
	else if (same_ns && (c.cap_prm & ~inv->caps))
		refusal = PTRACE_MORE_CAPS;
	else if (!yama_allows(pid, &scope))
		refusal = PTRACE_YAMA;
	if (refusal && why && whylen)
		explain(why, whylen, refusal, &c, scope);
	return refusal;
}

const char *ptrace_refusal_name(int refusal)
{
	static const char *const names[PTRACE_REFUSALS] = {
		[PTRACE_ALLOWED] = "allowed",
		[PTRACE_OTHER_USER] = "of other users",
		[PTRACE_OTHER_GROUP] = "of other groups",
		[PTRACE_NOT_DUMPABLE] = "not dumpable",
		[PTRACE_MORE_CAPS] = "with capabilities you lack",
		[PTRACE_YAMA] = "outside Yama's ptrace_scope",
		[PTRACE_KERNEL] = "refused by the kernel",
	};

	return refusal >= 0 && refusal < PTRACE_REFUSALS ? names[refusal] : "?";
}
