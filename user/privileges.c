// SPDX-License-Identifier: BSD-2-Clause
#include "privileges.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#include "invoker.h"


#define KERNEL_BTF "/sys/kernel/btf/vmlinux"

static int effective_caps(uint64_t *caps)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, caps) == 1) {
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

int privileges_check(char *why, size_t whylen)
{
	uint64_t caps = 0;
	char missing[128] = "";

	if (effective_caps(&caps))
		return 0;	/* cannot tell: let the kernel decide */
	bool admin = caps & (1ull << CAP_SYS_ADMIN_BIT);

	if (!admin && !(caps & (1ull << CAP_BPF_BIT)))
		strcat(missing, " CAP_BPF");
	if (!admin && !(caps & (1ull << CAP_PERFMON_BIT)))
		strcat(missing, " CAP_PERFMON");
	/* restricted to what its user could ptrace, refbpf reads with the
	 * user's own rights (invoker_init dropped CAP_SYS_PTRACE) */
	if (!invoker_get()->restricted && !(caps & (1ull << CAP_SYS_PTRACE_BIT)))
		strcat(missing, " CAP_SYS_PTRACE");
	if (!missing[0])
		return 0;
	snprintf(why, whylen, "permission denied: run as root (sudo refbpf ...) or grant%s", missing);
	return -EPERM;
}

int btf_check(const char *path, char *why, size_t whylen)
{
	const char *p = path ? path : KERNEL_BTF;

	if (access(p, R_OK) == 0)
		return 0;
	if (path)
		snprintf(why, whylen, "cannot read BTF file %s: %s", path, strerror(errno));
	else
		snprintf(why, whylen,
			 "this kernel has no BTF (%s is missing): give --btf PATH with its BTF (BTFHub has them for most distribution kernels: https://github.com/aquasecurity/btfhub-archive), or use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
			 KERNEL_BTF);
	return -ENOENT;
}
