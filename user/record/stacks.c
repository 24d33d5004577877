// SPDX-License-Identifier: BSD-2-Clause
/* Stack assembly: a sample (or a stack read from memory) into the profile. */
#include "record/recorder_private.h"

/*
 * The tid a sample is stored under: its own, or once its process has had
 * thread_limit threads, PROFILE_MERGED_TID for every thread not seen before.
 * A thread-per-request server then costs a set entry per thread, not a
 * thread and its stacks each, and its per-thread outputs stay readable.
 */
static int thread_key(struct recorder *r, struct rtarget *t, uint32_t tid, uint32_t *key)
{
	bool added;

	*key = tid;
	if (!r->o->thread_limit || t->own_threads < r->o->thread_limit ||
	    profile_find_thread(r->prof, (uint32_t)t->pid, tid))
		return 0;
	if (!int_table_get(&t->merged, tid, &added))
		return -ENOMEM;
	r->prof->merged_threads += added;
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
void rec_refresh_thread_names(struct recorder *r, struct rtarget *t, double now)
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
			name = py_thread_names_find(&t->names, tasks[j].thread_id);
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
void rec_refresh_all_thread_names(struct recorder *r)
{
	double now = monotonic_s();

	for (size_t i = 0; i < r->n; i++)
		if (r->t[i]->state == RT_ACTIVE && r->t[i]->samples)
			rec_refresh_thread_names(r, r->t[i], now);
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
	if (gil && ev->gil == GIL_DISABLED)
		return PROFILE_GIL_DISABLED_NAME;
	return NULL;
}

/* Kernel frames (innermost first in the event) appended outermost first.
 * Off CPU, the frames inside __schedule are the tracepoint's own, and the
 * scheduler's functions are left out as the kernel leaves them out of a
 * sleeping thread's stack (user/record/waiting_threads.c): one wait, one stack. */
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

	/* The frames were written by BPF on another CPU moments ago: each
	 * cache line of them is a miss. Asking for all of them first lets the
	 * misses overlap instead of following one another. */
	for (uint32_t i = 0; i < n; i += 64 / sizeof(ev->frames[0]))
		__builtin_prefetch(&ev->frames[i]);
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

/* A stack record: its sample follows from the same CPU. */
int rec_on_native_stack(struct recorder *r, const struct native_stack_event *ev, size_t size)
{
	struct rtarget *t;

	if (!r->native || size < offsetof(struct native_stack_event, stack))
		return 0;
	t = rec_find_target(r, (pid_t)ev->pid);
	return native_samples_add_stack(r->native, t && t->state == RT_ACTIVE ? t->native : NULL,
					ev, size);
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

/* The switch-out `ev`, in the first `nframes` of r->frames, read from
 * memory at `read_ns` (0: by BPF at the switch-out). */
static int leave(struct recorder *r, const struct sample_event *ev, uint32_t flags,
		 uint32_t nframes, uint64_t read_ns)
{
	struct off_cpu_leave l = { .pid = ev->pid, .tid = ev->tid, .comm = ev->comm,
				   .t_ns = ev->time_ns, .run_ns = ev->run_ns,
				   .read_ns = read_ns, .flags = flags,
				   .frames = nframes ? r->frames : NULL, .nframes = nframes };

	return off_cpu_leave(r->off_cpu, &l);
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
		return leave(r, ev, flags, 0, 0);
	r->reread++;
	return leave(r, ev, flags, (uint32_t)at, monotonic_ns());
}

int rec_on_sample(struct recorder *r, const struct sample_event *ev, size_t size)
{
	struct rtarget *t = rec_find_target(r, (pid_t)ev->pid);
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
		return leave(r, ev, flags, 0, 0);
	}
	at = build_stack(r, t, ev, &flags);
	if (at < 0)
		return at;
	if (ev->type == EVENT_OFF_CPU)
		return leave(r, ev, flags, (uint32_t)at, 0);
	return add_stack(r, t, ev->tid, flags, r->frames, (uint32_t)at, 1, ev->comm);
}

/* Off-CPU time, in periods, from off_cpu_return/flush. */
int rec_add_off_cpu(void *ctx, uint32_t pid, uint32_t tid, uint32_t flags,
		       const struct pframe *frames, uint32_t nframes, uint64_t count,
		       const char *comm)
{
	struct recorder *r = ctx;
	struct rtarget *t = rec_find_target(r, (pid_t)pid);

	if (!t || t->state != RT_ACTIVE)
		return 0;
	/* its name when it blocked: the thread may be gone by now */
	return add_stack(r, t, tid, flags, frames, nframes, count, comm[0] ? comm : NULL);
}

/* Are a target's Python thread names to be read now? */
bool rec_names_due(const struct rtarget *t, double now)
{
	return t->state == RT_ACTIVE && ((t->names_stale && now >= t->names_next) ||
					 (t->names_followup && now >= t->names_followup));
}

/* When a target's Python thread names are next to be read. */
double rec_names_deadline(const struct recorder *r, double later)
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
