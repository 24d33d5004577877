// SPDX-License-Identifier: BSD-2-Clause
#include "kernel_features.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <bpf/bpf.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#define KERNEL_BTF "/sys/kernel/btf/vmlinux"

/* libbpf's probes answer 1 (yes), 0 (no) or a negative error (cannot
 * tell, e.g. EPERM): only a yes counts. */
static bool helper(enum bpf_prog_type type, enum bpf_func_id id)
{
	return libbpf_probe_bpf_helper(type, id, NULL) == 1;
}

/* 0 when the smallest program loads, else -errno. libbpf's own probes
 * answer "no" (program and map types) or "yes" (helpers) when nothing
 * loads at all, so that is asked first. */
static int load_trivial(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static unsigned long long memlock_limit(void)
{
	struct rlimit r;

	return getrlimit(RLIMIT_MEMLOCK, &r) ? 0 : (unsigned long long)r.rlim_cur;
}

void kernel_features_probe(struct kernel_features *kf)
{
	const struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct utsname u;

	memset(kf, 0, sizeof(*kf));
	if (!uname(&u))
		snprintf(kf->release, sizeof(kf->release), "%s", u.release);
	kf->kernel_btf = access(KERNEL_BTF, R_OK) == 0;
	kf->load_error = load_trivial();
	/* BPF memory over RLIMIT_MEMLOCK (before 5.11) fails with EPERM too;
	 * raising it may fail without CAP_SYS_RESOURCE: that is fine here,
	 * the load below tells */
	if (kf->load_error == -EPERM && !setrlimit(RLIMIT_MEMLOCK, &unlimited))
		kf->load_error = load_trivial();
	kf->memlock = memlock_limit();
	if (kf->load_error)
		return;
	kf->perf_event = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL) == 1;
	kf->raw_tracepoint = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL) == 1;
	kf->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	kf->probe_read_user = helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_probe_read_user);
	/* A kernel without its own BTF cannot type what these return, and
	 * a --btf file cannot stand in for it: the verifier checks loads
	 * through them against the kernel's BTF. */
	kf->task_btf = kf->kernel_btf &&
		       helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_get_current_task_btf);
	kf->task_pt_regs = kf->task_btf && helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs);
	kf->bpf_loop = helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop);
	/* The memory cgroup charge came with this helper in 5.11: libbpf
	 * tells the two apart the same way (and raises RLIMIT_MEMLOCK when
	 * it may, before 5.11). */
	kf->memcg_charge = helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_coarse_ns);
}

const struct kernel_features *kernel_features_get(void)
{
	static struct kernel_features kf;
	static bool probed;

	if (!probed) {
		kernel_features_probe(&kf);
		probed = true;
	}
	return &kf;
}

/* Why not even a trivial program loads, in one line. */
static void load_error_why(const struct kernel_features *kf, const char *what, char *why,
			   size_t whylen)
{
	if (kf->load_error == -EPERM)
		snprintf(why, whylen,
			 "cannot load BPF programs%s: %s: run as root (or with CAP_BPF and CAP_PERFMON); a kernel before 5.11 (this is %s) also counts BPF memory against RLIMIT_MEMLOCK (now %llu KiB), which needs raising: `ulimit -l unlimited` or CAP_SYS_RESOURCE",
			 what, strerror(-kf->load_error), kf->release, kf->memlock >> 10);
	else
		snprintf(why, whylen, "cannot load BPF programs%s: %s", what, strerror(-kf->load_error));
}

int kernel_features_refuse_recording(const struct kernel_features *kf, char *why, size_t whylen)
{
	if (kf->load_error) {
		load_error_why(kf, "", why, whylen);
		return kf->load_error;
	}

	const struct {
		bool have;
		const char *what;
		const char *since;
	} needs[] = {
		{ kf->perf_event, "BPF programs on perf events", "4.9" },
		{ kf->raw_tracepoint, "BPF raw tracepoints", "4.17" },
		{ kf->probe_read_user, "bpf_probe_read_user()", "5.5" },
		{ kf->ringbuf, "BPF ring buffers", "5.8" },
	};

	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		if (needs[i].have)
			continue;
		snprintf(why, whylen, "this kernel (Linux %s) has no %s, which refbpf needs (Linux %s and later)",
			 kf->release, needs[i].what, needs[i].since);
		return -ENOTSUP;
	}
	return 0;
}

int kernel_features_refuse_dump(const struct kernel_features *kf, char *why, size_t whylen)
{
	if (kf->load_error) {
		load_error_why(kf, " for dump", why, whylen);
		return kf->load_error;
	}
	if (kf->kernel_btf)
		return 0;
	snprintf(why, whylen,
		 "dump needs the kernel's own BTF for its BPF task iterator (CONFIG_DEBUG_INFO_BTF, %s; Linux 5.8 and later): --btf cannot stand in for it",
		 KERNEL_BTF);
	return -ENOTSUP;
}

int kernel_features_refuse_wall(const struct kernel_features *kf, char *why, size_t whylen)
{
	if (kf->load_error || kf->kernel_btf)
		return 0;	/* the load says why, if it fails */
	/* without it a thread asleep from before the recording would be
	 * missing until it runs, its blocked time not counted */
	snprintf(why, whylen,
		 "--mode wall needs the kernel's own BTF for its BPF task iterator, which finds the threads already asleep when recording starts (CONFIG_DEBUG_INFO_BTF, %s; Linux 5.8 and later): --btf cannot stand in for it",
		 KERNEL_BTF);
	return -ENOTSUP;
}

void kernel_features_print(FILE *f, const struct kernel_features *kf)
{
	if (kf->load_error) {
		fprintf(f, "refbpf: kernel %s: BPF programs do not load (%s): nothing probed\n",
			kf->release, strerror(-kf->load_error));
		return;
	}
	fprintf(f, "refbpf: kernel %s: own BTF %s, bpf_get_current_task_btf %s (5.11), bpf_task_pt_regs %s (5.15), bpf_loop %s (5.17), BPF memory charged to %s\n",
		kf->release, kf->kernel_btf ? "yes" : "no", kf->task_btf ? "yes" : "no",
		kf->task_pt_regs ? "yes" : "no", kf->bpf_loop ? "yes" : "no",
		kf->memcg_charge ? "the memory cgroup" : "RLIMIT_MEMLOCK");
	fprintf(f, "refbpf: BPF variants: task fields by %s, user registers from %s, walks in bounded loops of global functions\n",
		kf->task_btf ? "BTF pointer" : "probe reads",
		kf->task_pt_regs ? "bpf_task_pt_regs" : "the top of the kernel stack");
}
