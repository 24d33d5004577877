/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the running kernel offers refbpf's BPF programs, probed at start
 * (never guessed from its version), and the variant of each program part
 * that follows from it. Every kernel from 5.10 with BTF runs every option;
 * the only ones refused are those that need BPF task iterators (`dump`,
 * `--mode wall`) without the kernel's own BTF.
 */
#ifndef REFBPF_KERNEL_FEATURES_H
#define REFBPF_KERNEL_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct kernel_features {
	char release[65];	/* uname -r */
	/* /sys/kernel/btf/vmlinux: the kernel's own BTF (CONFIG_DEBUG_INFO_BTF) */
	bool kernel_btf;
	/* needed by every recording */
	bool perf_event;	/* perf_event programs (4.9) */
	bool raw_tracepoint;	/* raw tracepoint programs (4.17) */
	bool ringbuf;		/* BPF ring buffers (5.8) */
	bool probe_read_user;	/* bpf_probe_read_user() (5.5) */
	/* faster where present; older kernels get another variant */
	bool task_btf;		/* bpf_get_current_task_btf() (5.11) and kernel BTF */
	bool task_pt_regs;	/* bpf_task_pt_regs() (5.15) */
	bool bpf_loop;		/* bpf_loop() (5.17): reported, not needed */
	/* BPF memory charged to the memory cgroup (5.11), not RLIMIT_MEMLOCK */
	bool memcg_charge;
	/* 0, or why not even a trivial program loads (-EPERM: privileges,
	 * or RLIMIT_MEMLOCK before 5.11): then nothing above was probed */
	int load_error;
	unsigned long long memlock;	/* RLIMIT_MEMLOCK's soft limit, bytes */
};

/* Probe this kernel (a few tiny programs and maps are loaded and freed).
 * Needs the privileges that loading refbpf needs. When a trivial program
 * does not load, RLIMIT_MEMLOCK is raised if the process may (kernels
 * before 5.11 charge BPF memory to it) and the load tried again. */
void kernel_features_probe(struct kernel_features *kf);

/* The same, probed once per process and kept. */
const struct kernel_features *kernel_features_get(void);

/* 0 when refbpf can record here; else -ENOTSUP and one line in `why`
 * naming what is missing and the first kernel that has it. */
int kernel_features_refuse_recording(const struct kernel_features *kf, char *why, size_t whylen);

/* 0 when `refbpf dump` can run here; else -ENOTSUP and one line in `why`. */
int kernel_features_refuse_dump(const struct kernel_features *kf, char *why, size_t whylen);

/* 0 when --mode wall can run here; else -ENOTSUP and one line in `why`. */
int kernel_features_refuse_wall(const struct kernel_features *kf, char *why, size_t whylen);

/* -v: the features found and the variants chosen, a few lines. */
void kernel_features_print(FILE *f, const struct kernel_features *kf);

#endif /* REFBPF_KERNEL_FEATURES_H */
