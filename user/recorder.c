// SPDX-License-Identifier: BSD-2-Clause
/*
 * The recording loop. Targets come from the command line, and with -C from
 * the fork events BPF reports for their descendants. A forked child of a
 * Python target is sampled from its first instruction (BPF copies the
 * parent's layout); an exec'd one is re-discovered as soon as its new
 * interpreter has started.
 */
#include "clock.h"
#include "recorder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf_session.h"
#include "proc.h"
#include "ptrace_access.h"
#include "interp_files.h"
#include "invoker.h"
#include "kernel_symbols.h"
#include "off_cpu.h"
#include "native_samples.h"
#include "native_stacks.h"
#include "py_process.h"
#include "py_thread_names.h"
#include "report.h"
#include "stack_reader.h"
#include "symbolizer.h"
#include "thread_list.h"
#include "thread_label.h"
#include "tid_set.h"
#include "waiting_threads.h"

/* Poll interval while a target is being (re)discovered after exec: how
 * late, at worst, sampling starts after its interpreter is ready. A
 * process still not Python after DISCOVERY_FAST_S is looked at less often
 * (with --all every exec on the host is a candidate). */
#define DISCOVERY_POLL_MS 10
#define DISCOVERY_FAST_S 0.3
#define DISCOVERY_SLOW_POLL_S 0.1
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
	bool was_profiled;	/* sampled at some point (for the report) */
	bool watched;		/* handed to BPF */
	bool implicit;		/* found by --all, not named by the user */
	struct py_process proc;
	struct symbolizer *sym;
	struct native_stacks *native;	/* --native */
	uint64_t samples;
	uint64_t window_base;	/* samples before the current window */
	uint32_t own_threads;	/* this window's threads with an entry of their own */
	struct tid_set merged;	/* this window's threads past the limit */
	bool listed;		/* in some window's header already */
	struct py_thread_names names;	/* Python thread names, from the last read */
	bool names_stale;	/* a thread new or renamed since that read */
	double names_next;	/* not read again before (CLOCK_MONOTONIC) */
	double names_followup;	/* read once more then (threads start in bursts), 0: no */
	uint32_t names_retries;	/* reads in a row that left a running thread unnamed */
	bool seen_dead;		/* gone from /proc at the last liveness check */
	bool refused;		/* its user could not ptrace it (ptrace_access.h) */
	double discover_start, discover_deadline, next_retry;
	char reason[256];
};

struct recorder {
	const struct recorder_opts *o;
	struct rtarget **t;
	size_t n, cap;
	size_t live;		/* targets not yet exited or failed */
	size_t discovering;
	size_t ignored;
	struct profile *prof;
	struct bpf_session *bpf;
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
	/* pid -> index + 1 in t, open addressing */
	uint32_t *index;
	size_t index_size;
};

static size_t pid_slot(const struct recorder *r, pid_t pid)
{
	size_t mask = r->index_size - 1, i = ((uint32_t)pid * 2654435761u) & mask;

	while (r->index[i] && r->t[r->index[i] - 1]->pid != pid)
		i = (i + 1) & mask;
	return i;
}

static struct rtarget *find_target(struct recorder *r, pid_t pid)
{
	uint32_t at = r->index_size ? r->index[pid_slot(r, pid)] : 0;

	return at ? r->t[at - 1] : NULL;
}

static int reindex(struct recorder *r, size_t size)
{
	uint32_t *index = calloc(size, sizeof(*index));

	if (!index)
		return -ENOMEM;
	free(r->index);
	r->index = index;
	r->index_size = size;
	for (size_t i = 0; i < r->n; i++)
		r->index[pid_slot(r, r->t[i]->pid)] = (uint32_t)i + 1;
	return 0;
}

/* A PID seen again (reused after exit) gets a fresh record. */
static struct rtarget *add_target(struct recorder *r, pid_t pid)
{
	struct rtarget *t;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct rtarget **nt = realloc(r->t, cap * sizeof(*nt));

		if (!nt)
			return NULL;
		r->t = nt;
		r->cap = cap;
	}
	if ((r->n + 1) * 2 > r->index_size && reindex(r, r->index_size ? r->index_size * 2 : 64))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	t->proc.pid = pid;
	t->state = RT_FAILED;	/* not live until set_state() says so */
	r->t[r->n++] = t;
	r->index[pid_slot(r, pid)] = (uint32_t)r->n;
	return t;
}

static void set_state(struct recorder *r, struct rtarget *t, int state)
{
	bool was_live = t->state != RT_EXITED && t->state != RT_FAILED && t->state != RT_IGNORED;
	bool is_live = state != RT_EXITED && state != RT_FAILED && state != RT_IGNORED;

	r->discovering += (state == RT_DISCOVERING) - (t->state == RT_DISCOVERING);
	r->ignored += (state == RT_IGNORED) - (t->state == RT_IGNORED);
	r->live += is_live - was_live;
	t->state = state;
}

/*
 * A process its user could not ptrace (ptrace_access.h), the reason in
 * t->reason: --all leaves it out and counts it, otherwise it is named in
 * the header. Whatever BPF holds for it goes at once.
 */
static void refuse(struct recorder *r, struct rtarget *t, int refusal)
{
	if (r->bpf)
		bpf_session_remove_target(r->bpf, t->pid);
	t->refused = true;
	if (t->implicit && !t->was_profiled) {
		r->left_out[refusal]++;
		set_state(r, t, RT_IGNORED);
	} else {
		set_state(r, t, RT_FAILED);
	}
}

/* Check again a process BPF may be sampling. True when it is refused now. */
static bool access_revoked(struct recorder *r, struct rtarget *t)
{
	char why[sizeof(t->reason)];
	int refusal = ptrace_access_check(t->pid, why, sizeof(why));

	if (refusal <= 0)
		return false;
	memcpy(t->reason, why, sizeof(why));
	refuse(r, t, refusal);
	return true;
}

/*
 * The tid a sample is stored under: its own, or once its process has had
 * thread_limit threads, PROFILE_MERGED_TID for every thread not seen before.
 * A thread-per-request server then costs a set entry per thread, not a
 * thread and its stacks each, and its per-thread outputs stay readable.
 */
static int thread_key(struct recorder *r, struct rtarget *t, uint32_t tid, uint32_t *key)
{
	int added;

	*key = tid;
	if (!r->o->thread_limit || t->own_threads < r->o->thread_limit ||
	    profile_find_thread(r->prof, (uint32_t)t->pid, tid))
		return 0;
	added = tid_set_add(&t->merged, tid);
	if (added < 0)
		return added;
	r->prof->merged_threads += (uint64_t)added;
	*key = PROFILE_MERGED_TID;
	return 0;
}

/*
 * Add `count` samples of a stack. `comm` is the thread's name when the
 * sample was taken (BPF sends it): a thread renamed after its first sample
 * (threading.Thread names itself as it starts on 3.14) takes its latest
 * name. Without one, the thread's first sample reads its name from /proc
 * while it still exists.
 */
static int add_stack(struct recorder *r, struct rtarget *t, uint32_t tid, uint32_t flags,
		     const struct pframe *frames, uint32_t n, uint64_t count, const char *comm)
{
	uint32_t threads = r->prof->nthreads;
	struct pthread *th;
	int err = thread_key(r, t, tid, &tid);

	if (!err)
		err = profile_add_stack(r->prof, (uint32_t)t->pid, tid, flags, frames, n, count);
	if (err)
		return err;
	t->samples += count;
	if (tid == PROFILE_MERGED_TID) {
		th = &r->prof->threads[r->prof->last_thread];
		if (r->prof->nthreads != threads)
			snprintf(th->name, sizeof(th->name), "%s", PROFILE_MERGED_THREAD_NAME);
		return 0;
	}
	if (r->prof->nthreads != threads) {
		t->own_threads++;
		t->names_stale = true;	/* its Python name is still to be read */
	}
	if (comm) {
		/* the thread profile_add_stack just counted */
		th = &r->prof->threads[r->prof->last_thread];
		if (strncmp(th->name, comm, sizeof(th->name))) {
			memcpy(th->name, comm, sizeof(th->name));
			th->name[sizeof(th->name) - 1] = 0;
			/* 3.14+ rename the OS thread when Python renames it */
			t->names_stale = true;
		}
	} else if (r->prof->nthreads != threads) {
		th = &r->prof->threads[r->prof->nthreads - 1];
		if (proc_comm(t->pid, (pid_t)tid, th->name, sizeof(th->name)))
			snprintf(th->name, sizeof(th->name), "?");
	}
	return 0;
}

/* A read that named not every running thread: another, NAMES_RETRIES at most. */
static void retry_thread_names(struct rtarget *t)
{
	if (t->names_retries < NAMES_RETRIES) {
		t->names_retries++;
		t->names_stale = true;
	}
}

/*
 * Python thread names (threading.Thread(name=...)) of a target's sampled
 * threads, read from its memory when it has new or renamed threads (at
 * most every NAMES_MIN_INTERVAL_S, and once more that long after, for the
 * rest of a burst of new threads whose samples were still on their way)
 * and when a window or the recording ends: each profile thread still
 * running takes its Python name; one that has ended keeps the last it
 * had. Never per sample.
 */
static void refresh_thread_names(struct recorder *r, struct rtarget *t, double now)
{
	struct thread_record *tasks = NULL;
	struct py_reader reader;
	size_t ntasks = 0, unnamed = 0;
	pid_t pid = t->pid;
	int err;
	char why[256];

	t->names_followup = t->names_stale ? now + NAMES_MIN_INTERVAL_S : 0;
	t->names_stale = false;
	t->names_next = now + NAMES_MIN_INTERVAL_S;
	if (!t->proc.objects.version_hex)
		return;
	py_reader_init_pid(&reader, &pid, &t->proc.layout.code, &t->proc.objects, &t->proc.types);
	err = py_thread_names_read(&t->names, &reader, &t->proc.layout.walk);
	/* no names without a read error: threading is not imported there */
	if (err || !t->names.n) {
		if (err && err != -ENOTSUP)
			retry_thread_names(t);
		return;
	}
	/* a thread state's ident is its thread pointer: which task is which */
	if (thread_list_read(pid, &tasks, &ntasks, why, sizeof(why)))
		return;
	for (uint32_t i = 0; i < r->prof->nthreads; i++) {
		struct pthread *th = &r->prof->threads[i];

		if (th->pid != (uint32_t)t->pid || th->tid == PROFILE_MERGED_TID)
			continue;
		for (size_t j = 0; j < ntasks; j++) {
			const char *name;

			if (tasks[j].tid != th->tid)
				continue;
			name = py_thread_names_find(&t->names, tasks[j].fsbase);
			if (name)
				thread_name_copy(th->py_name, sizeof(th->py_name), name);
			else
				unnamed++;
			break;
		}
	}
	if (unnamed)
		retry_thread_names(t);
	else
		t->names_retries = 0;
	if (r->o->verbose >= 2)
		fprintf(stderr, "refbpf: PID %d: %zu Python thread names read (%u memory reads)\n",
			(int)t->pid, t->names.n, t->names.reads);
	free(tasks);
}

/* Every sampled target's thread names, as they are now. */
static void refresh_all_thread_names(struct recorder *r)
{
	double now = monotonic_s();

	for (size_t i = 0; i < r->n; i++)
		if (r->t[i]->state == RT_ACTIVE && r->t[i]->samples)
			refresh_thread_names(r, r->t[i], now);
}

/* A synthetic function: a marker leaf or a kernel frame. */
static int synthetic(struct recorder *r, const char *name, struct pframe *out)
{
	int64_t f = profile_intern_func(r->prof, "~", 0, name, name);

	if (f < 0)
		return -ENOMEM;
	*out = (struct pframe){ .func = (uint32_t)f, .line = -1 };
	return 0;
}

/* The leaf that says what the thread was doing, or NULL for none. */
static const char *marker(const struct recorder *r, const struct sample_event *ev)
{
	bool gil = r->o->features.gil;

	if (gil && ev->gil == GIL_WAIT)
		return PROFILE_GIL_WAIT_NAME;
	if (ev->type == EVENT_OFF_CPU)
		return (ev->flags & SAMPLE_PREEMPTED) ? PROFILE_PREEMPTED_NAME : PROFILE_OFF_CPU_NAME;
	if (gil && ev->gil == GIL_NOT_HELD)
		return PROFILE_NO_GIL_NAME;
	return NULL;
}

/* Kernel frames (innermost first in the event) appended outermost first.
 * Off CPU, the frames inside __schedule are the tracepoint's own, and the
 * scheduler's functions are left out as the kernel leaves them out of a
 * sleeping thread's stack (user/waiting_threads.c): one wait, one stack. */
static int add_kernel_frames(struct recorder *r, const struct sample_event *ev, uint32_t *n)
{
	const __u64 *ips = (const __u64 *)&ev->frames[ev->nframes];
	uint32_t nk = ev->nkernel, first = 0;
	bool off_cpu = ev->type == EVENT_OFF_CPU;
	char name[300];

	if (off_cpu)
		for (uint32_t i = 0; i < nk; i++) {
			const char *sym = kernel_symbols_find(r->ksyms, ips[i]);

			if (sym && !strcmp(sym, "__schedule")) {
				first = i;
				break;
			}
		}
	for (uint32_t i = nk; i-- > first;) {
		const char *sym = kernel_symbols_find(r->ksyms, ips[i]);

		if (off_cpu && kernel_symbols_in_scheduler(r->ksyms, ips[i]))
			continue;
		snprintf(name, sizeof(name), PROFILE_KERNEL_PREFIX "%s>", sym ? sym : "?");
		if (synthetic(r, name, &r->frames[(*n)++]))
			return -ENOMEM;
	}
	return 0;
}

/* The event's stack, root first, into r->frames: Python frames (with
 * --native, C frames in place among them), then the marker leaf, then
 * kernel frames. Returns the frame count or -errno. */
static int build_stack(struct recorder *r, struct rtarget *t, const struct sample_event *ev,
		       uint32_t *flags)
{
	uint32_t n = ev->nframes, at = 0;
	const char *leaf;

	/* BPF sends the innermost frame first; the profile stores root first. */
	for (uint32_t i = 0; i < n; i++) {
		int err = symbolizer_resolve(t->sym, &ev->frames[n - 1 - i], &r->frames[at++]);

		if (err)
			return err;
	}
	if ((ev->flags & SAMPLE_NATIVE_STACK) && t->native && r->native) {
		/* at most REFBPF_MAX_FRAMES: mixed stacks keep the innermost */
		const struct pframe *mixed = native_samples_mix(r->native, ev, r->frames, &at, flags);

		if (mixed != r->frames)
			memcpy(r->frames, mixed, at * sizeof(*mixed));
	}
	leaf = marker(r, ev);
	if (leaf && synthetic(r, leaf, &r->frames[at++]))
		return -ENOMEM;
	if (ev->nkernel && add_kernel_frames(r, ev, &at))
		return -ENOMEM;
	return (int)at;
}

/* ---- --native ---- */

/* A stack record: its sample follows from the same CPU. */
static int on_native_stack(struct recorder *r, const struct native_stack_event *ev, size_t size)
{
	struct rtarget *t;

	if (!r->native || size < offsetof(struct native_stack_event, stack))
		return 0;
	t = find_target(r, (pid_t)ev->pid);
	return native_samples_add_stack(r->native, t && t->state == RT_ACTIVE ? t->native : NULL,
					ev, size);
}

/* For -v and the README's figures. */
static void report_native_costs(struct recorder *r)
{
	struct native_costs c = { 0 };

	for (size_t i = 0; i < r->n; i++)
		if (r->t[i]->native)
			native_stacks_stats(r->t[i]->native, &c);
	if (c.stacks)
		fprintf(stderr,
			"refbpf: --native: %llu stacks unwound, %.1f KiB of stack each, %.1f us each to unwind, %.1f us to symbolize; %llu distinct addresses looked up in %.0f ms\n",
			(unsigned long long)c.stacks, (double)c.stack_bytes / (double)c.stacks / 1024,
			(double)c.unwind_ns / (double)c.stacks / 1e3,
			(double)(c.symbolize_ns - c.lookup_ns) / (double)c.stacks / 1e3,
			(unsigned long long)c.addresses, (double)c.lookup_ns / 1e6);
}

/* For -v: how often BPF trusted a code object it had read before (3.12+
 * keep a counter that says when it may). */
static void report_walk_counts(struct recorder *r)
{
	struct walk_counts c;
	__u64 all;

	if (bpf_session_walk_counts(r->bpf, &c))
		return;
	all = c.frames_trusted + c.frames_read;
	if (all)
		fprintf(stderr,
			"refbpf: BPF: %llu frames from code objects validated before, %llu read again (%.1f%%) since start\n",
			(unsigned long long)c.frames_trusted, (unsigned long long)c.frames_read,
			100.0 * (double)c.frames_read / (double)all);
}

/* A stack read from memory (stack_reader), resolved as a sample's is. */
static int build_read_stack(struct recorder *r, struct rtarget *t, const struct thread_stack *ts,
			    uint32_t *flags)
{
	struct sample_event *ev;
	int at;

	if (!ts->nframes || ts->nframes > REFBPF_MAX_FRAMES)
		return -EINVAL;
	ev = calloc(1, offsetof(struct sample_event, frames) + ts->nframes * sizeof(ev->frames[0]));
	if (!ev)
		return -ENOMEM;
	ev->type = EVENT_OFF_CPU;
	ev->nframes = ts->nframes;
	memcpy(ev->frames, ts->frames, ts->nframes * sizeof(ev->frames[0]));
	if (ts->truncated)
		*flags |= PSTACK_TRUNCATED;
	at = build_stack(r, t, ev, flags);
	free(ev);
	return at;
}

/*
 * Wall mode: BPF could not read the stack a thread blocked in (its memory
 * was not resident for a moment: pages being migrated or collapsed). It is
 * most likely still blocked now, so read that thread state's stack from
 * memory; off_cpu keeps it only if the thread comes back after this read.
 */
static int leave_with_read_stack(struct recorder *r, struct rtarget *t,
				 const struct sample_event *ev, uint32_t flags)
{
	struct thread_stack *stacks = NULL;
	size_t nstacks = 0;
	int at = -ENOENT;

	if (!stack_reader_read(t->pid, &t->proc.layout.walk, &stacks, &nstacks))
		for (size_t i = 0; i < nstacks; i++)
			if (stacks[i].tstate == ev->tstate && stacks[i].nframes) {
				at = build_read_stack(r, t, &stacks[i], &flags);
				break;
			}
	stack_reader_free(stacks, nstacks);
	if (at == -ENOMEM)
		return at;
	if (at <= 0)
		return off_cpu_leave(r->off_cpu, ev->pid, ev->tid, ev->comm, ev->time_ns, flags, NULL,
				     0);
	r->reread++;
	return off_cpu_leave_read_later(r->off_cpu, ev->pid, ev->tid, ev->comm, ev->time_ns, flags,
					r->frames, (uint32_t)at, monotonic_ns());
}

static int on_sample(struct recorder *r, const struct sample_event *ev, size_t size)
{
	struct rtarget *t = find_target(r, (pid_t)ev->pid);
	uint32_t n = ev->nframes;
	uint32_t flags = 0;
	int at;

	if (!r->first_sample)
		r->first_sample = monotonic_s();
	if (!t || t->state != RT_ACTIVE || !t->sym || n > REFBPF_MAX_FRAMES ||
	    ev->nkernel > REFBPF_MAX_KERNEL_FRAMES ||
	    size < offsetof(struct sample_event, frames) + n * sizeof(ev->frames[0]) +
			   ev->nkernel * sizeof(__u64))
		return 0;
	if (ev->type == EVENT_OFF_CPU && !r->off_cpu)
		return 0;
	if (ev->type == EVENT_OFF_CPU && (ev->flags & SAMPLE_THREAD_EXIT)) {
		off_cpu_forget_thread(r->off_cpu, ev->tid);
		return 0;
	}
	if (ev->flags & SAMPLE_TRUNCATED)
		flags |= PSTACK_TRUNCATED;
	if (n == 0) {
		uint32_t why = (ev->flags & SAMPLE_UNWALKED_MASK) >> SAMPLE_UNWALKED_SHIFT;

		if (ev->type != EVENT_OFF_CPU)
			return 0;
		/* off CPU in a stack that could not be read: counted, not attributed */
		if (why && why <= UNWIND_NR)
			r->unwalked[why - 1]++;
		if (why == UNWIND_READ_FAULT + 1 && ev->tstate)
			return leave_with_read_stack(r, t, ev, flags);
		return off_cpu_leave(r->off_cpu, ev->pid, ev->tid, ev->comm, ev->time_ns, flags, NULL,
				     0);
	}
	at = build_stack(r, t, ev, &flags);
	if (at < 0)
		return at;
	if (ev->type == EVENT_OFF_CPU)
		return off_cpu_leave(r->off_cpu, ev->pid, ev->tid, ev->comm, ev->time_ns, flags,
				     r->frames, (uint32_t)at);
	return add_stack(r, t, ev->tid, flags, r->frames, (uint32_t)at, 1, ev->comm);
}

/* Off-CPU time, in periods, from off_cpu_return/flush. */
static int add_off_cpu(void *ctx, uint32_t pid, uint32_t tid, uint32_t flags,
		       const struct pframe *frames, uint32_t nframes, uint64_t count,
		       const char *comm)
{
	struct recorder *r = ctx;
	struct rtarget *t = find_target(r, (pid_t)pid);

	if (!t || t->state != RT_ACTIVE)
		return 0;
	/* its name when it blocked: the thread may be gone by now */
	return add_stack(r, t, tid, flags, frames, nframes, count, comm[0] ? comm : NULL);
}

/*
 * Wall mode: threads already off CPU when recording starts send no
 * switch-out. Each one that stays off while it is looked at gets the
 * records BPF sends at a switch-out, made from memory
 * (user/waiting_threads.c), and counts from `start_ns`; a thread that
 * runs instead replaces this with the stack of its first switch-out, as
 * any thread does.
 */
static int on_event(void *ctx, void *data, size_t size);

static int seed_off_cpu(struct recorder *r, struct rtarget *t, uint64_t start_ns)
{
	struct waiting_opts o = { .kernel = r->o->features.kernel,
				  .native = r->o->features.native && t->native };

	return waiting_threads_emit(t->pid, &t->proc.layout.walk, start_ns, &o, on_event, r);
}

static int start_native(struct recorder *r, struct rtarget *t)
{
	native_stacks_free(t->native);
	t->native = NULL;
	if (!r->o->features.native)
		return 0;
	t->native = native_stacks_new(t->pid, r->prof);
	return t->native ? 0 : -ENOMEM;
}

static int start_sampling(struct recorder *r, struct rtarget *t)
{
	int err;

	symbolizer_free(t->sym);
	t->sym = symbolizer_new(&t->proc, r->prof);
	if (!t->sym)
		return -ENOMEM;
	err = start_native(r, t);
	if (err)
		return err;
	err = bpf_session_add_target(r->bpf, t->pid, &t->proc.layout.walk);
	if (err) {
		snprintf(t->reason, sizeof(t->reason), "cannot configure the BPF program: %s",
			 strerror(-err));
		return err;
	}
	/* An exec from now on drops the layout in BPF; one since discovery
	 * (a setuid program) is seen here. */
	if (ptrace_access_check(t->pid, t->reason, sizeof(t->reason)) > 0) {
		bpf_session_remove_target(r->bpf, t->pid);
		t->refused = true;
		return -EPERM;
	}
	t->was_profiled = true;
	if (r->o->verbose)
		fprintf(stderr,
			"refbpf: PID %d: Python %s (%s)%s, layout from %s; sampled from %.3f (CLOCK_MONOTONIC)\n",
			(int)t->pid, t->proc.version, t->proc.interp_path,
			t->proc.free_threaded ? ", free-threaded" : "", t->proc.layout_source,
			monotonic_s());
	return 0;
}

/* --gil needs a GIL and where it lies: a process without either is
 * refused, with the reason in t->reason. */
static bool refused_for_gil(struct recorder *r, struct rtarget *t)
{
	const struct py_layout *l = &t->proc.layout.walk;

	if (!r->o->features.gil)
		return false;
	if (t->proc.free_threaded)
		snprintf(t->reason, sizeof(t->reason),
			 "free-threaded Python %s has no GIL: --gil does not apply to it",
			 t->proc.version);
	else if (!(l->flags & (LAYOUT_GIL_IN_RUNTIME | LAYOUT_GIL_VIA_INTERP)))
		snprintf(t->reason, sizeof(t->reason),
			 "Python %s: where its GIL lies is not known (layout from %s): --gil cannot be used",
			 t->proc.version, t->proc.layout_source);
	else
		return false;
	return true;
}

static void begin_discovery(struct recorder *r, struct rtarget *t)
{
	/* The old image's code addresses mean nothing now, and the report
	 * describes the new image. */
	symbolizer_free(t->sym);
	t->sym = NULL;
	native_stacks_free(t->native);
	t->native = NULL;
	t->proc.version[0] = 0;
	if (!t->samples)
		t->was_profiled = false;
	t->discover_start = monotonic_s();
	t->discover_deadline = t->discover_start + r->o->attach_wait_s;
	t->next_retry = 0;
	set_state(r, t, RT_DISCOVERING);
}

/* Look once more for an interpreter in an exec'd (or new) process. */
static void retry_discovery(struct recorder *r, struct rtarget *t, double now)
{
	struct py_process p;
	int status;

	if (now < t->next_retry)
		return;
	/* libpython is mapped and initialised within milliseconds of exec:
	 * a process not Python by then rarely becomes one. */
	if (now - t->discover_start > DISCOVERY_FAST_S)
		t->next_retry = now + DISCOVERY_SLOW_POLL_S;
	status = py_process_discover(t->pid, 0, &p, t->reason, sizeof(t->reason));

	if (status == PY_OK) {
		py_process_free(&t->proc);
		t->proc = p;
		set_state(r, t, refused_for_gil(r, t) || start_sampling(r, t) ? RT_FAILED : RT_ACTIVE);
		return;
	}
	if (p.cmdline) {
		free(t->proc.cmdline);
		t->proc.cmdline = p.cmdline;
		p.cmdline = NULL;
	}
	py_process_free(&p);
	if (status == PY_NOT_ALLOWED) {
		/* nothing of its new image was read; its old command line
		 * does not describe it */
		free(t->proc.cmdline);
		t->proc.cmdline = NULL;
		refuse(r, t, p.refusal);
	} else if (status == PY_NO_PROCESS) {
		set_state(r, t, t->implicit && !t->was_profiled ? RT_IGNORED : RT_EXITED);
	} else if (status != PY_NOT_READY && status != PY_NOT_PYTHON && status != PY_NOT_STARTED) {
		/* --all names only what is known to be Python. */
		set_state(r, t, t->implicit && status == PY_NO_ACCESS ? RT_IGNORED : RT_FAILED);
	} else if (now >= t->discover_deadline) {
		/* Not Python (a shell, a helper): with -C its children
		 * may still be; --all hears of them anyway. */
		set_state(r, t, t->implicit && !t->was_profiled ? RT_IGNORED :
				r->o->children				 ? RT_WATCHING :
									   RT_FAILED);
		if (t->state == RT_WATCHING && r->o->verbose)
			fprintf(stderr, "refbpf: PID %d: %s after %.1f s; its children are followed\n",
				(int)t->pid, t->reason, now - t->discover_start);
		if (t->pid == r->o->launched && t->state == RT_FAILED)
			fprintf(stderr,
				"refbpf: record: PID %d runs no Python (%s): -C profiles the Python processes it starts\n",
				(int)t->pid, t->reason);
	}
}

static void on_fork(struct recorder *r, pid_t child, pid_t parent, __s32 flags)
{
	bool execd = flags & FORK_CHILD_EXECD;
	struct rtarget *p = find_target(r, parent);
	struct rtarget *t = find_target(r, child);

	if (t && t->state != RT_EXITED && t->state != RT_FAILED)
		return;
	t = add_target(r, child);
	if (!t) {
		r->fatal = -ENOMEM;
		return;
	}
	t->watched = true;	/* BPF watches forked children itself */
	t->implicit = p && p->implicit;
	if (execd) {
		/* It exec'd before we heard of the fork: find what it runs now. */
		begin_discovery(r, t);
	} else if (p && p->state == RT_ACTIVE && (flags & FORK_LAYOUT_COPIED) &&
		   access_revoked(r, t)) {
		/* BPF copied the parent's layout: it no longer samples it */
	} else if (p && p->state == RT_ACTIVE && (flags & FORK_LAYOUT_COPIED)) {
		/* Same address space as the parent: same layout, and BPF
		 * already samples it. Code objects are read from the child. */
		t->proc = p->proc;
		t->proc.pid = child;
		t->proc.cmdline = p->proc.cmdline ? strdup(p->proc.cmdline) : NULL;
		t->proc.interp_path = p->proc.interp_path ? strdup(p->proc.interp_path) : NULL;
		t->proc.ns_pid = proc_ns_pid(child);
		if (t->proc.ns_pid == child)
			t->proc.ns_pid = 0;
		t->sym = symbolizer_new(&t->proc, r->prof);
		if (!t->sym || start_native(r, t)) {
			r->fatal = -ENOMEM;
			return;
		}
		t->was_profiled = true;
		set_state(r, t, RT_ACTIVE);
	} else if (p && (p->state == RT_DISCOVERING || p->state == RT_ACTIVE)) {
		/* A copy of a process that was still being discovered when it
		 * forked (a Python just exec'd, forking before we found its
		 * interpreter): it is Python too, and no exec will say so. */
		begin_discovery(r, t);
	} else {
		set_state(r, t, RT_WATCHING);
	}
	if (r->o->verbose)
		fprintf(stderr, "refbpf: PID %d forked PID %d\n", (int)parent, (int)child);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct process_event *pe = data;
	struct rtarget *t;
	int err;

	if (size < sizeof(__u32))
		return 0;
	switch (*(const __u32 *)data) {
	case EVENT_SAMPLE:
	case EVENT_OFF_CPU:	/* a switch-out's stack: a sample with a time to come */
		err = on_sample(r, data, size);
		if (err) {
			r->fatal = err;
			return err;
		}
		return 0;
	case EVENT_ON_CPU:
		if (size < sizeof(struct on_cpu_event) || !r->off_cpu)
			return 0;
		err = off_cpu_return(r->off_cpu, ((const struct on_cpu_event *)data)->tid,
				     ((const struct on_cpu_event *)data)->time_ns);
		if (err)
			r->fatal = err;
		return err;
	case EVENT_NATIVE_STACK:
		err = on_native_stack(r, data, size);
		if (err)
			r->fatal = err;
		return err;
	case EVENT_EXIT:
		if (size < sizeof(*pe))
			return 0;
		if (r->off_cpu)
			off_cpu_forget_process(r->off_cpu, pe->pid);
		t = find_target(r, (pid_t)pe->pid);
		if (t && t->state != RT_FAILED)
			set_state(r, t, RT_EXITED);
		return 0;
	case EVENT_EXEC:
		if (size < sizeof(*pe))
			return 0;
		if (r->off_cpu)
			off_cpu_forget_process(r->off_cpu, pe->pid);
		t = find_target(r, (pid_t)pe->pid);
		if (t && (t->state == RT_ACTIVE || t->state == RT_WATCHING ||
			  (t->state == RT_DISCOVERING && !t->implicit))) {
			/* a new image: its interpreter starts now */
			begin_discovery(r, t);
		} else if (r->o->all && (!t || t->state != RT_DISCOVERING)) {
			/* --all: any exec may start a Python. */
			t = add_target(r, (pid_t)pe->pid);
			if (!t)
				return r->fatal = -ENOMEM;
			t->implicit = true;
			begin_discovery(r, t);
		}
		return 0;
	case EVENT_FORK:
		if (size < sizeof(*pe))
			return 0;
		on_fork(r, (pid_t)pe->pid, (pid_t)pe->ppid, pe->exit_code);
		return r->fatal;
	}
	return 0;
}

static bool is_live(const struct rtarget *t)
{
	return t->state == RT_ACTIVE || t->state == RT_WATCHING || t->state == RT_DISCOVERING;
}

/*
 * BPF reports exits, but not for a process that died before it was
 * watched, nor when the ring buffer was full. A target gone from /proc at
 * two checks in a row has exited: by the second, every sample it sent
 * before dying has been read.
 */
static void check_liveness(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		if (t->state != RT_ACTIVE && t->state != RT_WATCHING)
			continue;
		/* prctl(PR_SET_DUMPABLE, 0) needs no exec: look again */
		if (t->state == RT_ACTIVE && access_revoked(r, t))
			continue;
		if (proc_alive(t->pid))
			t->seen_dead = false;
		else if (t->seen_dead)
			set_state(r, t, RT_EXITED);
		else
			t->seen_dead = true;
	}
}

/* Are a target's Python thread names to be read now? */
static bool names_due(const struct rtarget *t, double now)
{
	return t->state == RT_ACTIVE && ((t->names_stale && now >= t->names_next) ||
					 (t->names_followup && now >= t->names_followup));
}

/* When a target's Python thread names are next to be read. */
static double names_deadline(const struct recorder *r, double later)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct rtarget *t = r->t[i];

		if (t->state != RT_ACTIVE)
			continue;
		if (t->names_stale && t->names_next < later)
			later = t->names_next;
		if (t->names_followup && t->names_followup < later)
			later = t->names_followup;
	}
	return later;
}

/* `refbpf record`: its program has exited (its descendants may not have). */
static bool launched_exited(struct recorder *r)
{
	struct rtarget *t = find_target(r, r->o->launched);

	return !t || t->state == RT_EXITED;
}

/* How long the loop may sleep: until the next thing it must do on time. */
static int poll_timeout_ms(const struct recorder *r, double now, double start,
			   const double *deadlines, size_t n)
{
	double wait = r->discovering ? DISCOVERY_POLL_MS / 1e3 : IDLE_POLL_MS / 1e3;

	if (r->o->duration_s > 0 && start + r->o->duration_s - now < wait)
		wait = start + r->o->duration_s - now;
	if (r->o->every_s > 0 && r->window_start + r->o->every_s - now < wait)
		wait = r->window_start + r->o->every_s - now;
	for (size_t i = 0; i < n; i++)
		if (deadlines[i] - now < wait)
			wait = deadlines[i] - now;
	return wait > 0 ? (int)(wait * 1e3) + 1 : 0;
}

static void record_targets(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];
		const char *version = t->proc.version[0] ? t->proc.version : NULL;
		struct ptarget *pt;

		/* A window lists what lives or ran in it, and each ended
		 * process once. */
		if (t->listed && !is_live(t) && t->samples == t->window_base)
			continue;
		t->listed = true;
		/* --all lists Python processes only: not a fork that exec'd
		 * something else before its first sample. */
		if (t->state == RT_IGNORED || (t->implicit && !t->samples && !t->proc.version[0]))
			continue;
		if (t->refused) {
			char reason[sizeof(t->reason) + 64];

			snprintf(reason, sizeof(reason), "%s (%llu samples before)", t->reason,
				 (unsigned long long)t->samples);
			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, NULL,
						t->proc.cmdline, t->samples ? reason : t->reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		/* Python once, then exec'd into something else. */
		if (t->was_profiled && !t->proc.version[0]) {
			char reason[128];

			snprintf(reason, sizeof(reason),
				 "not a Python process since its exec (%llu samples before)",
				 (unsigned long long)t->samples);
			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, NULL,
						t->proc.cmdline, reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		if (!t->was_profiled) {
			const char *reason = t->reason[0] ? t->reason :
					     t->state == RT_EXITED ? "exited before running Python" :
								     "not a Python process";

			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, version,
						t->proc.cmdline, reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		/* FAILED after profiling: exec'd into something else. */
		pt = profile_add_target(r->prof, t->pid,
					t->state == RT_EXITED || t->state == RT_FAILED ?
						PTARGET_EXITED :
						PTARGET_PROFILED,
					version, t->proc.cmdline, NULL);
		if (pt) {
			pt->samples = t->samples - t->window_base;
			pt->ns_pid = (uint32_t)t->proc.ns_pid;
		}
	}
}

/* --all: how many processes the user could not ptrace were left out, and
 * why; once after the scan, then again at the end if more were. */
static void report_left_out(struct recorder *r)
{
	uint64_t n = 0;
	const char *sep = "";

	for (int i = 0; i < PTRACE_REFUSALS; i++)
		n += r->left_out[i];
	if (n == r->left_out_shown)
		return;
	r->left_out_shown = n;
	fprintf(stderr, "refbpf: --all left out %llu process%s that you could not ptrace (",
		(unsigned long long)n, n == 1 ? "" : "es");
	for (int i = 1; i < PTRACE_REFUSALS; i++) {
		if (!r->left_out[i])
			continue;
		fprintf(stderr, "%s%llu %s", sep, (unsigned long long)r->left_out[i],
			ptrace_refusal_name(i));
		sep = ", ";
	}
	fprintf(stderr, "): refbpf runs with %s\n", invoker_get()->how);
}

/* --all: every Python process that exists now. None is no error: the
 * ones started later are found as they exec. */
static int discover_every_process(struct recorder *r)
{
	pid_t *pids, self = getpid();
	size_t n;
	int err = proc_all_pids(&pids, &n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		struct py_process p;
		char why[256];
		struct rtarget *t;
		int status;

		if (pids[i] == self)
			continue;
		status = py_process_discover(pids[i], 0, &p, why, sizeof(why));
		/* kernel threads are nobody's to profile: not counted */
		if (status == PY_NOT_ALLOWED && !proc_kernel_thread(pids[i]))
			r->left_out[p.refusal]++;
		if (status == PY_NOT_ALLOWED || status == PY_NOT_PYTHON || status == PY_NO_PROCESS ||
		    status == PY_NO_ACCESS || status == PY_NOT_STARTED) {
			py_process_free(&p);
			continue;
		}
		t = add_target(r, pids[i]);
		if (!t) {
			py_process_free(&p);
			free(pids);
			return -ENOMEM;
		}
		t->implicit = true;
		t->proc = p;
		snprintf(t->reason, sizeof(t->reason), "%s", why);
		if (status == PY_OK)
			set_state(r, t, RT_ACTIVE);
		else if (status == PY_NOT_READY)
			begin_discovery(r, t);
	}
	free(pids);
	report_left_out(r);
	if (r->o->verbose)
		fprintf(stderr, "refbpf: --all: %zu Python processes now\n", r->live);
	return 0;
}

/* Young enough that a Python may still be loading in it. */
static bool may_still_start(const struct recorder *r, pid_t pid)
{
	double age = proc_age_seconds(pid);

	return age >= 0 && age < r->o->attach_wait_s;
}

/*
 * Discover every PID given. Without -C, none profilable is fatal, and a
 * process still starting is waited for here (saying so). With -C a live
 * process that is not Python (yet) is watched at once for Python
 * descendants: its own Python, if one comes, is looked for while
 * recording, so a young parent (a shell, `unshare ... python3`) delays
 * nothing and its children are seen from their start.
 */
static int discover_all(struct recorder *r)
{
	size_t ok = 0;

	if (r->o->all)
		return discover_every_process(r);
	for (size_t i = 0; i < r->o->npids; i++) {
		struct rtarget *t = find_target(r, r->o->pids[i]);
		int status;

		if (t)
			continue;	/* the same PID given twice */
		t = add_target(r, r->o->pids[i]);
		if (!t)
			return -ENOMEM;
		if (t->pid == r->o->launched) {
			/* refbpf's own child, held before its exec, running as
			 * the user who ran refbpf (launch.h): watched now, and
			 * discovered once it has exec'd, through the same check
			 * of who may be read as any other process */
			set_state(r, t, RT_WATCHING);
			ok++;
			continue;
		}
		if (r->o->children)
			status = py_process_discover(t->pid, 0, &t->proc, t->reason,
						     sizeof(t->reason));
		else
			status = py_process_discover_named(t->pid, r->o->attach_wait_s, &t->proc,
							   t->reason, sizeof(t->reason));
		if (status == PY_NOT_ALLOWED) {
			t->refused = true;	/* named; its children are not followed */
		} else if (status == PY_OK && refused_for_gil(r, t)) {
			set_state(r, t, RT_FAILED);
		} else if (status == PY_OK) {
			set_state(r, t, RT_ACTIVE);
			ok++;
		} else if (r->o->children && (status == PY_NOT_PYTHON || status == PY_NOT_READY) &&
			   may_still_start(r, t->pid)) {
			begin_discovery(r, t);
			ok++;
		} else if (r->o->children && (status == PY_NOT_PYTHON || status == PY_NOT_READY ||
					      status == PY_NOT_STARTED)) {
			set_state(r, t, RT_WATCHING);
			ok++;
		}
	}
	if (ok)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)r->t[i]->pid, r->t[i]->reason);
	return -ESRCH;
}

/* -C: descendants that already exist when recording starts. */
static int add_existing_descendants(struct recorder *r)
{
	pid_t *kids = NULL;
	size_t n = 0;
	int err;

	for (size_t i = 0; i < r->n; i++) {
		if (r->t[i]->state == RT_FAILED)
			continue;
		err = proc_descendants(r->t[i]->pid, &kids, &n);
		if (err)
			return err;
	}
	for (size_t i = 0; i < n; i++) {
		struct rtarget *t;
		int status;

		if (find_target(r, kids[i]))
			continue;
		t = add_target(r, kids[i]);
		if (!t) {
			free(kids);
			return -ENOMEM;
		}
		status = py_process_discover(t->pid, 0, &t->proc, t->reason, sizeof(t->reason));
		if (status == PY_OK)
			set_state(r, t, RT_ACTIVE);
		else if (status == PY_NOT_ALLOWED)
			t->refused = true;	/* named; not watched */
		else if (proc_alive(t->pid))
			set_state(r, t, RT_WATCHING);
	}
	free(kids);
	return 0;
}

/* --all on a busy host: every exec leaves a record; drop the non-Python
 * ones so memory stays bounded. */
static int forget_ignored(struct recorder *r)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		if (t->state != RT_IGNORED) {
			r->t[kept++] = t;
			continue;
		}
		symbolizer_free(t->sym);
		native_stacks_free(t->native);
		py_process_free(&t->proc);
		py_thread_names_free(&t->names);
		tid_set_clear(&t->merged);
		free(t);
	}
	r->n = kept;
	r->ignored = 0;
	return reindex(r, r->index_size);
}

/* On a terminal, one line that says recording is alive and how it goes. */
static void show_progress(struct recorder *r, double elapsed, bool last)
{
	uint64_t errs[UNWIND_NR] = { 0 };
	size_t active = 0;

	bpf_session_unwind_errors(r->bpf, errs);
	for (size_t i = 0; i < r->n; i++)
		active += r->t[i]->state == RT_ACTIVE;
	if (last) {
		fputs("\r\033[K", stderr);
		return;
	}
	fprintf(stderr, "\r\033[Krefbpf: %.0f s, %llu samples (%.0f/s), %llu lost, %zu process%s",
		elapsed, (unsigned long long)r->prof->total_samples,
		elapsed > 0 ? r->prof->total_samples / elapsed : 0.0,
		(unsigned long long)errs[UNWIND_RINGBUF_FULL], active, active == 1 ? "" : "es");
}

static void recorder_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		symbolizer_free(r->t[i]->sym);
		native_stacks_free(r->t[i]->native);
		py_process_free(&r->t[i]->proc);
		py_thread_names_free(&r->t[i]->names);
		tid_set_clear(&r->t[i]->merged);
		free(r->t[i]);
	}
	free(r->t);
	native_samples_free(r->native);
	free(r->index);
	bpf_session_close(r->bpf);
	kernel_symbols_free(r->ksyms);
	off_cpu_free(r->off_cpu);
	interp_files_clear();
	free(r);
}

/* -v, wall mode: time off CPU whose stack BPF could not walk, and why. */
static void report_unwalked(const struct recorder *r)
{
	fprintf(stderr, "refbpf: wall mode: %.1f ms off CPU not attributed (no Python stack); switch-outs without one:",
		(double)off_cpu_unattributed_ns(r->off_cpu) / 1e6);
	for (int i = 0; i < UNWIND_NR; i++)
		fprintf(stderr, "%s %s %llu", i ? "," : "", report_unwind_error_name(i), (unsigned long long)r->unwalked[i]);
	fprintf(stderr, "; %llu read from memory instead\n", (unsigned long long)r->reread);
}

static void collect_counters(struct recorder *r)
{
	uint64_t errs[UNWIND_NR];

	if (bpf_session_unwind_errors(r->bpf, errs))
		return;
	for (int i = 0; i < UNWIND_NR && i < 8; i++)
		r->prof->unwind_errors[i] = errs[i] - r->errs_base[i];
	r->prof->lost_samples = errs[UNWIND_RINGBUF_FULL] - r->errs_base[UNWIND_RINGBUF_FULL];
	memcpy(r->errs_base, errs, sizeof(errs));
	if (!r->o->verbose)
		return;
	report_native_costs(r);
	report_walk_counts(r);
	if (r->off_cpu)
		report_unwalked(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct symbolizer_stats *st;

		if (!r->t[i]->sym)
			continue;
		st = symbolizer_stats(r->t[i]->sym);
		fprintf(stderr,
			"refbpf: PID %d: %llu frames resolved, %llu code objects read, %llu stale, %llu unreadable\n",
			(int)r->t[i]->pid, (unsigned long long)st->lookups,
			(unsigned long long)st->misses, (unsigned long long)st->stale,
			(unsigned long long)st->unreadable);
	}
}

/* --every: hand the window out, then start the next one empty. */
static int close_window(struct recorder *r, double now)
{
	int err;

	/* time off CPU so far belongs to this window */
	if (r->off_cpu && off_cpu_flush(r->off_cpu, monotonic_ns()))
		return -ENOMEM;
	collect_counters(r);
	refresh_all_thread_names(r);
	record_targets(r);
	r->prof->duration_s = now - r->window_start;
	err = r->o->on_window(r->o->window_ctx, r->prof, r->window_wall);
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		t->window_base = t->samples;
		/* the next window counts its threads afresh */
		t->own_threads = 0;
		tid_set_clear(&t->merged);
		/* Ended and listed: nothing more to say about it. */
		if (t->state == RT_EXITED || t->state == RT_FAILED)
			set_state(r, t, RT_IGNORED);
	}
	profile_reset_samples(r->prof);
	r->window_start = now;
	r->window_wall = time(NULL);
	return err;
}

/* Hand every live target to BPF: sampled ones with their layout. */
static int configure_bpf(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];
		int err;

		if (t->watched || t->state == RT_FAILED || t->state == RT_EXITED)
			continue;
		t->watched = true;
		err = bpf_session_watch(r->bpf, t->pid, r->o->children ? WATCH_CHILDREN : 0);
		if (err)
			return err;
		if (t->state == RT_ACTIVE && start_sampling(r, t))
			set_state(r, t, RT_FAILED);
	}
	return 0;
}

int recorder_run(const struct recorder_opts *o, struct profile *prof)
{
	struct recorder *r = calloc(1, sizeof(*r));
	char why[512];
	double start, now;
	int err = 0;

	if (!r)
		return -ENOMEM;
	r->o = o;
	r->prof = prof;
	prof->mode = o->features.off_cpu ? PROFILE_MODE_WALL : PROFILE_MODE_CPU;
	prof->gil = o->features.gil;
	prof->kernel = o->features.kernel;
	if (o->features.kernel) {
		r->ksyms = kernel_symbols_load(NULL);
		if (!r->ksyms) {
			fprintf(stderr, "refbpf: --kernel: cannot read /proc/kallsyms: %s\n",
				strerror(errno));
			err = -errno;
			goto cleanup;
		}
		if (!kernel_symbols_count(r->ksyms))
			fputs("refbpf: --kernel: /proc/kallsyms shows no addresses (it needs CAP_SYSLOG): kernel frames will be named <kernel ?>\n",
			      stderr);
	}
	if (o->features.off_cpu) {
		r->off_cpu = off_cpu_new(1000000000ull / o->rate_hz, add_off_cpu, r);
		if (!r->off_cpu) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (o->features.native) {
		r->native = native_samples_new();
		if (!r->native) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	/* --all lists every process once BPF reports execs: one started
	 * while BPF loads (seconds on a busy machine) is missed otherwise. */
	err = o->all ? 0 : discover_all(r);
	if (err)
		goto cleanup;
	err = bpf_session_open(&r->bpf, o->rate_hz, o->btf_path, o->all, o->verbose, on_event, r, why,
			       sizeof(why), &o->features);
	if (err) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	err = o->all ? discover_all(r) : 0;
	if (err)
		goto cleanup;
	/* thread names, and wall mode's look at the threads already asleep */
	thread_list_prepare(o->features.off_cpu && (o->features.kernel || o->features.native));
	/* Watch first, then list the existing descendants: a child forked
	 * in between is reported by BPF and found by the scan alike. */
	err = configure_bpf(r);
	if (!err && o->children)
		err = add_existing_descendants(r);
	if (!err)
		err = configure_bpf(r);
	if (err) {
		fprintf(stderr, "refbpf: cannot configure the targets: %s\n", strerror(-err));
		goto cleanup;
	}
	if (o->on_watched) {
		err = o->on_watched(o->launch_ctx);
		if (err)
			goto cleanup;
	}
	prof->rate_hz = o->rate_hz;
	prof->period_s = 1.0 / o->rate_hz;
	start = monotonic_s();
	now = start;
	bool progress = !o->verbose && isatty(STDERR_FILENO);
	double next_progress = start;
	double next_liveness = start + LIVENESS_EVERY_S;

	r->window_start = start;
	r->window_wall = time(NULL);
	for (size_t i = 0; r->off_cpu && i < r->n && !err; i++)
		if (r->t[i]->state == RT_ACTIVE)
			err = seed_off_cpu(r, r->t[i], (uint64_t)(start * 1e9));
	if (err) {
		fprintf(stderr, "refbpf: %s\n", strerror(-err));
		goto cleanup;
	}
	if (o->verbose)
		fprintf(stderr, "refbpf: attached %.1f ms after start\n", (start - o->t0) * 1e3);
	while (!*o->stop && (r->live > 0 || o->all) && !r->fatal) {
		if (o->duration_s > 0 && now - start >= o->duration_s)
			break;
		if (o->launched && launched_exited(r))
			break;
		double deadlines[] = { next_liveness, progress ? next_progress : next_liveness,
				       names_deadline(r, next_liveness) };

		err = bpf_session_poll(r->bpf, poll_timeout_ms(r, now, start, deadlines, 3));
		if (err < 0 && err != -EINTR) {
			r->fatal = r->fatal ? r->fatal : err;
			break;
		}
		now = monotonic_s();
		for (size_t i = 0; i < r->n; i++) {
			struct rtarget *t = r->t[i];

			if (t->state == RT_DISCOVERING)
				retry_discovery(r, t, now);
			else if (names_due(t, now))
				refresh_thread_names(r, t, now);
		}
		if (now >= next_liveness) {
			check_liveness(r);
			next_liveness = now + LIVENESS_EVERY_S;
		}
		if (r->ignored >= COMPACT_AFTER && forget_ignored(r))
			r->fatal = -ENOMEM;
		if (o->every_s > 0 && now - r->window_start >= o->every_s && close_window(r, now))
			r->fatal = r->fatal ? r->fatal : -EIO;
		if (progress && now >= next_progress) {
			show_progress(r, now - start, false);
			next_progress = now + PROGRESS_EVERY_S;
		}
	}
	if (progress)
		show_progress(r, now - start, true);
	if (o->all)
		report_left_out(r);
	if (r->fatal)
		fprintf(stderr, "refbpf: recording stopped: %s\n", strerror(-r->fatal));
	else
		/* Samples still in the ring buffer are part of the profile. */
		bpf_session_drain(r->bpf);
	now = monotonic_s();
	prof->duration_s = now - start;
	/* Threads still off CPU: their time up to now counts. */
	if (r->off_cpu && o->every_s <= 0 && !r->fatal && off_cpu_flush(r->off_cpu, (uint64_t)(now * 1e9)))
		r->fatal = -ENOMEM;
	if (o->verbose && r->first_sample)
		fprintf(stderr, "refbpf: first sample %.1f ms after start\n",
			(r->first_sample - o->t0) * 1e3);
	if (o->every_s > 0) {
		/* The last, partial window: nothing collected is lost. */
		if (close_window(r, monotonic_s()) && !r->fatal)
			r->fatal = -EIO;
		err = r->fatal ? 1 : 0;
		goto cleanup;
	}
	collect_counters(r);
	refresh_all_thread_names(r);
	record_targets(r);
	/* What was recorded before a failure is still written. */
	err = r->fatal ? 1 : 0;
cleanup:
	recorder_free(r);
	return err;
}
