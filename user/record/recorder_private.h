/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the recorder's files share: the target table (targets.c), stack
 * assembly (stacks.c), the event loop (recorder.c) and the -v printers
 * and counters (verbose.c). Not for use outside user/record/.
 */
#ifndef REFBPF_RECORDER_PRIVATE_H
#define REFBPF_RECORDER_PRIVATE_H

#include "base/clock.h"
#include "record/recorder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "record/bpf_session.h"
#include "base/grow.h"
#include "base/int_table.h"
#include "base/proc.h"
#include "base/ptrace_access.h"
#include "python/interp_files.h"
#include "base/invoker.h"
#include "native/kernel_symbols.h"
#include "record/off_cpu.h"
#include "native/native_samples.h"
#include "native/native_stacks.h"
#include "python/py_process.h"
#include "python/py_thread_names.h"
#include "python/stack_reader.h"
#include "python/symbolizer.h"
#include "record/thread_list.h"
#include "profile/thread_label.h"
#include "record/waiting_threads.h"

/* Poll interval while a target is being (re)discovered after exec: how
 * late, at worst, sampling starts after its interpreter is ready. A
 * process still not Python after DISCOVERY_FAST_S is looked at less often
 * (with --all every exec on the host is a candidate). */
#define DISCOVERY_POLL_MS 10
#define DISCOVERY_FAST_S 0.3
#define DISCOVERY_SLOW_POLL_S 0.1
/* --all: BPF wakes userspace for the host's execs at most once per
 * EXEC_WAKE_GAP_NS and sends the others without a wake-up; after reading
 * one, userspace polls every DISCOVERY_POLL_MS for this long, so that those
 * are read as soon as a wake-up would have them (bpf/profiler.bpf.c). */
#define EXEC_POLL_AFTER_S (3 * EXEC_WAKE_GAP_NS / 1e9)
/* The progress line on a terminal is redrawn this often. */
#define PROGRESS_EVERY_S 0.5
/* How often live targets are checked in /proc, in case an exit event
 * never comes (a target gone before BPF watched it, a full ring buffer). */
#define LIVENESS_EVERY_S 5.0
/* Python thread names are read again at most this often per process. */
#define NAMES_MIN_INTERVAL_S 0.5

/* Reads in a row, NAMES_MIN_INTERVAL_S apart, for a running thread still
 * without a Python name: a read torn by the target's own writes, or a
 * thread sampled before threading registered it, is named by the next;
 * a thread Python never names (_thread.start_new_thread) stops them. */
#define NAMES_RETRIES 6
/* --all: forget non-Python processes once this many have piled up. */
#define COMPACT_AFTER 1024
/* Otherwise userspace sleeps until its next deadline, or this long at
 * most (BPF wakes it early for new code objects, exits and a filling ring
 * buffer): on a VM a wake-up costs as much as a hundred samples do. */
#define IDLE_POLL_MS 5000

enum rtarget_state {
	RT_ACTIVE,
	RT_EXITED,
	RT_DISCOVERING,		/* exec'd (or new): waiting for its interpreter */
	RT_WATCHING,		/* not Python, but its children are followed (-C) */
	RT_FAILED,		/* never profiled */
	RT_IGNORED,		/* --all: a process that is no Python; not reported */
};

struct rtarget {
	pid_t pid;
	int state;
	bool was_profiled;	/* sampled at some point (for the table) */
	bool watched;		/* handed to BPF */
	bool implicit;		/* found by --all, not named by the user */
	struct py_process proc;
	struct symbolizer *sym;
	struct native_stacks *native;	/* --native */
	uint64_t samples;
	uint64_t window_base;	/* samples before the current window */
	uint32_t own_threads;	/* this window's threads with an entry of their own */
	struct int_table merged;	/* this window's threads past the limit (values unused) */
	bool listed;		/* in some window's header already */
	struct py_thread_names names;	/* Python thread names, from the last read */
	bool names_stale;	/* a thread new or renamed since that read */
	double names_next;	/* not read again before (CLOCK_MONOTONIC) */
	double names_followup;	/* read once more then (threads start in bursts), 0: no */
	uint32_t names_retries;	/* reads in a row that left a running thread unnamed */
	bool seen_dead;		/* gone from /proc at the last liveness check */
	bool refused;		/* its user could not ptrace it (ptrace_access.h) */
	double discover_start, discover_deadline, next_retry;
	double image_start_s;	/* when its exec was read; 0: none seen */
	char reason[256];
};

struct recorder {
	const struct recorder_opts *o;
	struct rtarget **t;
	size_t n, cap;
	size_t live;		/* targets not yet exited or failed */
	size_t discovering;
	double exec_poll_until;	/* poll at DISCOVERY_POLL_MS until then */
	uint64_t execs_read;	/* exec events, for -v */
	size_t ignored;
	struct profile *prof;
	struct bpf_session *bpf;
	struct interp_files *files;	/* what the targets' ELF files told */
	/* Python frames, a marker, kernel frames */
	struct pframe frames[REFBPF_MAX_FRAMES + 1 + REFBPF_MAX_KERNEL_FRAMES];
	struct kernel_symbols *ksyms;	/* --kernel */
	struct off_cpu *off_cpu;	/* --mode wall */
	struct native_samples *native;	/* --native */
	int fatal;		/* -errno from an event callback */
	double first_sample;	/* CLOCK_MONOTONIC of the first sample, 0 before */
	double window_start;	/* CLOCK_MONOTONIC */
	time_t window_wall;	/* the same moment, wall clock */
	uint64_t errs_base[UNWIND_NR];	/* BPF counters before the current window */
	uint64_t unwalked[UNWIND_NR];	/* wall mode: switch-outs without a stack, by why */
	uint64_t reread;		/* ... whose stack was read from memory instead */
	/* --all: processes left out because the user could not ptrace them */
	uint64_t left_out[PTRACE_REFUSALS];
	uint64_t left_out_shown;
	struct int_table index;	/* pid -> its index in t */
};

/* targets.c: the target table and each target's life cycle */
struct rtarget *rec_find_target(struct recorder *r, pid_t pid);
struct rtarget *rec_add_target(struct recorder *r, pid_t pid);
void rec_set_state(struct recorder *r, struct rtarget *t, int state);
int rec_seed_off_cpu(struct recorder *r, struct rtarget *t, uint64_t start_ns);
void rec_begin_discovery(struct recorder *r, struct rtarget *t);
void rec_retry_discovery(struct recorder *r, struct rtarget *t, double now);
void rec_on_fork(struct recorder *r, pid_t child, pid_t parent, __s32 flags);
void rec_check_liveness(struct recorder *r);
bool rec_launched_exited(struct recorder *r);
void rec_record_targets(struct recorder *r);
int rec_discover_all(struct recorder *r);
int rec_add_existing_descendants(struct recorder *r);
int rec_forget_ignored(struct recorder *r);
int rec_configure_bpf(struct recorder *r);

/* stacks.c: stack assembly, from a sample to the profile */
void rec_refresh_thread_names(struct recorder *r, struct rtarget *t, double now);
void rec_refresh_all_thread_names(struct recorder *r);
int rec_on_native_stack(struct recorder *r, const struct native_stack_event *ev, size_t size);
int rec_on_sample(struct recorder *r, const struct sample_event *ev, size_t size);
int rec_add_off_cpu(void *ctx, uint32_t pid, uint32_t tid, uint32_t flags,
		    const struct pframe *frames, uint32_t nframes, uint64_t count,
		    const char *comm);
bool rec_names_due(const struct rtarget *t, double now);
double rec_names_deadline(const struct recorder *r, double later);

/* verbose.c: counters and the -v printers */
void rec_report_left_out(struct recorder *r);
void rec_show_progress(struct recorder *r, double elapsed, bool last);
void rec_collect_counters(struct recorder *r);

/* recorder.c: the event loop */
int rec_on_event(void *ctx, void *data, size_t size);

#endif /* REFBPF_RECORDER_PRIVATE_H */
