/* SPDX-License-Identifier: BSD-2-Clause */
/* The BPF side of a recording: load, attach, configure targets, poll. */
#ifndef REFBPF_BPF_SESSION_H
#define REFBPF_BPF_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/abi.h"

struct bpf_session;

/* Called for every ring buffer record (sample or process event). */
typedef int (*bpf_event_fn)(void *ctx, void *data, size_t size);

/* What the BPF side records beyond Python stacks. */
struct bpf_features {
	bool kernel;		/* --kernel: kernel stacks in samples */
	bool gil;		/* --gil: the GIL state of each sample */
	bool off_cpu;		/* --mode wall: switch-out stacks and switch-in times */
	bool native;		/* --native: user registers and stack with each sample */
	bool children;		/* -C: forks of watched processes reported */
	/* refbpf dump: no sampler on every CPU; samples of the threads
	 * given to bpf_session_sample_thread() only, those without a Python
	 * stack too (nframes 0, SAMPLE_UNWALKED_MASK says why) */
	bool per_thread;
};

/* What a session records and where its records go. */
struct bpf_session_opts {
	unsigned int rate_hz;		/* cpu-clock samples per second per CPU */
	const char *btf_path;		/* BTF libbpf relocates against; NULL: the kernel's */
	bool watch_all;			/* --all: every exec on the host is reported */
	/* 1: print the kernel's features and the variants chosen; 2: and
	 * libbpf's log */
	int verbose;
	struct bpf_features features;	/* --kernel, --gil, --mode wall, --native, ... */
	bpf_event_fn on_event;		/* every ring buffer record */
	void *ctx;			/* on_event's */
};

/*
 * Load the program and attach it to a cpu-clock event at `rate_hz` on every
 * online CPU (unless features.per_thread) and to the process lifetime
 * tracepoints. On failure returns -errno and writes a one-line reason into
 * `why`.
 */
int bpf_session_open(struct bpf_session **out, const struct bpf_session_opts *o, char *why,
		     size_t whylen);
void bpf_session_close(struct bpf_session *s);

/* --all: how many execs of processes nobody tracks woke userspace (BPF
 * sends the others without a wake-up). */
uint64_t bpf_session_exec_wakeups(const struct bpf_session *s);

int bpf_session_add_target(struct bpf_session *s, pid_t pid, const struct py_layout *layout);
int bpf_session_remove_target(struct bpf_session *s, pid_t pid);
/* Report exec and exit of `pid`; `flags` (enum watch_flags) adds its forks. */
int bpf_session_watch(struct bpf_session *s, pid_t pid, __u32 flags);

/* Wait up to timeout_ms for a wake-up, then dispatch every pending record.
 * Count or -errno. */
int bpf_session_poll(struct bpf_session *s, int timeout_ms);
/* Dispatch whatever is pending without waiting. */
int bpf_session_drain(struct bpf_session *s);

/* Sum of the per-CPU unwind error counters, by enum unwind_error. */
int bpf_session_unwind_errors(struct bpf_session *s, uint64_t out[UNWIND_NR]);

/* How the frames sent so far were validated, summed over the CPUs. */
int bpf_session_walk_counts(struct bpf_session *s, struct walk_counts *out);

/*
 * per_thread: sample thread `tid` each time it has run `period_ns` more
 * (a cpu-clock perf event on that thread: the walk runs in its context).
 * A handle for bpf_session_stop_thread(), or -errno.
 */
int bpf_session_sample_thread(struct bpf_session *s, pid_t tid, uint64_t period_ns);
void bpf_session_stop_thread(struct bpf_session *s, int handle);

/* CPUs the sampler is attached to. */
int bpf_session_ncpus(const struct bpf_session *s);

#endif /* REFBPF_BPF_SESSION_H */
