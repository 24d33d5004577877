// SPDX-License-Identifier: BSD-2-Clause
#include "invoker.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAP_SYS_RESOURCE_BIT 24
#define CAP_SYSLOG_BIT 34
#define BIT(n) (1ull << (n))

/* What refbpf may keep of what it was given: BPF, perf events, kernel
 * symbols for --kernel, the memlock limit of kernels before 5.11. */
#define KEPT_CAPS \
	(BIT(CAP_BPF_BIT) | BIT(CAP_PERFMON_BIT) | BIT(CAP_SYSLOG_BIT) | BIT(CAP_SYS_RESOURCE_BIT))

static struct invoker self;

struct cap_sets {
	uint64_t eff, prm, inh;
};

static int caps_get(struct cap_sets *c)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return -errno;
	c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(const struct cap_sets *c)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh },
		{ (uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32) },
	};

	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* setuid root: all ids become the user's, the permitted set is kept. */
static int become_user(void)
{
	int err = 0;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -errno;
	if (setresgid(self.gid, self.gid, self.gid) || setresuid(self.uid, self.uid, self.uid))
		err = -errno;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return err;
}

int invoker_init(char *why, size_t whylen)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	struct cap_sets c, now;
	int err;

	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid)) {
		err = -errno;
		snprintf(why, whylen, "cannot read this process's ids: %s", strerror(-err));
		return err;
	}
	err = caps_get(&c);
	if (err) {
		snprintf(why, whylen, "cannot read this process's capabilities: %s", strerror(-err));
		return err;
	}
	self.uid = ruid;
	self.gid = rgid;
	self.caps = c.inh;
	/* AT_SECURE: the kernel's own word that this exec gave privileges
	 * (file capabilities, setuid, setgid) that the caller did not have. */
	self.restricted = getauxval(AT_SECURE) || ruid != euid || ruid != suid || rgid != egid ||
			  rgid != sgid;
	if (!self.restricted)
		return 0;
	self.how = euid == 0 && ruid != 0 ? "setuid root" : "file capabilities";
	err = become_user();
	if (err) {
		snprintf(why, whylen, "cannot take the ids of uid %u: %s", (unsigned int)ruid,
			 strerror(-err));
		return err;
	}
	/* CAP_SYS_ADMIN only stands in for CAP_BPF and CAP_PERFMON (kernels
	 * before 5.8); everything else (CAP_SYS_PTRACE, CAP_DAC_*) goes, so the
	 * kernel checks every read of a target and every file as the user's. */
	uint64_t keep = KEPT_CAPS | c.inh;

	if ((c.prm & (BIT(CAP_BPF_BIT) | BIT(CAP_PERFMON_BIT))) !=
	    (BIT(CAP_BPF_BIT) | BIT(CAP_PERFMON_BIT)))
		keep |= BIT(CAP_SYS_ADMIN_BIT);
	c.prm &= keep;
	c.eff = c.prm;
	err = caps_set(&c);
	if (!err)
		err = caps_get(&now);
	if (!err && (now.prm & ~keep))
		err = -EPERM;
	/* The user must not ptrace refbpf itself (it holds CAP_BPF). */
	if (!err && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		err = -errno;
	if (err) {
		snprintf(why, whylen, "cannot drop the capabilities refbpf does not need: %s",
			 strerror(-err));
		return err;
	}
	return 0;
}

const struct invoker *invoker_get(void)
{
	return &self;
}

int invoker_may_write(const char *path)
{
	char *copy = NULL, *dir, *slash;
	struct stat st;
	int err = 0;

	if (!self.restricted)
		return 0;
	/* a pipe or a device is written in place */
	if (!stat(path, &st) && !S_ISREG(st.st_mode))
		return access(path, W_OK) ? -errno : 0;
	/* a file is replaced by a new one in the directory it is (or goes) in */
	copy = realpath(path, NULL);
	if (!copy)
		copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	dir = !slash ? "." : slash == copy ? "/" : copy;
	if (slash && slash != copy)
		*slash = 0;
	/* access(2) checks with the real ids and no capabilities */
	if (access(dir, W_OK | X_OK))
		err = -errno;
	free(copy);
	return err;
}
