// SPDX-License-Identifier: BSD-2-Clause
#include "record/waiting_threads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/proc.h"
#include "python/stack_reader.h"
#include "record/thread_list.h"

/* What one look found of one thread. */
struct look {
	struct thread_wait_record *waits;	/* NULL when only threads were listed */
	struct thread_record *threads;
	size_t n;
};

static const struct thread_record *look_thread(const struct look *k, size_t i)
{
	return k->waits ? &k->waits[i].thread : &k->threads[i];
}

static size_t look_find(const struct look *k, uint64_t thread_id)
{
	for (size_t i = 0; i < k->n; i++)
		if (look_thread(k, i)->thread_id == thread_id)
			return i;
	return k->n;
}

static int take_look(struct thread_lister *t, bool waits, struct look *k)
{
	char why[256];

	memset(k, 0, sizeof(*k));
	return waits ? thread_lister_read_waits(t, &k->waits, &k->n, why, sizeof(why)) :
		       thread_lister_read(t, &k->threads, &k->n, why, sizeof(why));
}

static void drop_look(struct look *k)
{
	free(k->waits);
	free(k->threads);
	memset(k, 0, sizeof(*k));
}

/* The user stack from the registers' sp up, as BPF copies a sample's. */
static struct native_stack_event *read_native(pid_t pid, const struct thread_wait_record *w,
					      const struct thread_stack *ts, uint64_t t_ns, size_t *size)
{
	struct native_stack_event *e = calloc(1, sizeof(*e));
	ssize_t got;

	if (!e)
		return NULL;
	got = proc_read_upto(pid, w->sp, e->stack, sizeof(e->stack));
	if (got <= 0) {
		free(e);
		return NULL;
	}
	e->type = EVENT_NATIVE_STACK;
	e->pid = (__u32)pid;
	e->tid = w->thread.tid;
	e->time_ns = t_ns;
	ARCH_COPY_USER_REGS(e, w);
	e->stack_len = (__u32)got;
	e->nshims = ts->nshims;
	memcpy(e->shims, ts->shims, ts->nshims * sizeof(ts->shims[0]));
	*size = offsetof(struct native_stack_event, stack) + (size_t)got;
	return e;
}

/* The EVENT_OFF_CPU record BPF would have sent at the thread's switch-out. */
static struct sample_event *make_sample(pid_t pid, const struct thread_stack *ts,
					const struct thread_record *th,
					const struct thread_wait_record *w, uint64_t t_ns,
					bool kernel, size_t *size)
{
	uint32_t nk = kernel && w ? w->nkernel : 0;
	struct sample_event *ev;

	if (nk > REFBPF_MAX_KERNEL_FRAMES)
		nk = REFBPF_MAX_KERNEL_FRAMES;
	*size = offsetof(struct sample_event, frames) + ts->nframes * sizeof(ev->frames[0]) +
		nk * sizeof(__u64);
	ev = calloc(1, *size);
	if (!ev)
		return NULL;
	ev->type = EVENT_OFF_CPU;
	ev->pid = (__u32)pid;
	ev->tid = th->tid;
	ev->time_ns = t_ns;
	ev->tstate = ts->tstate;
	ev->run_ns = th->runtime_ns;
	ev->flags = ts->truncated ? SAMPLE_TRUNCATED : 0;
	ev->nframes = ts->nframes;
	ev->nkernel = nk;
	memcpy(ev->comm, th->comm, sizeof(ev->comm));
	memcpy(ev->frames, ts->frames, ts->nframes * sizeof(ev->frames[0]));
	if (nk)
		memcpy(&ev->frames[ts->nframes], w->kernel, nk * sizeof(__u64));
	return ev;
}

/* Send one thread's records: its native stack first, as BPF does. */
static int emit(pid_t pid, const struct thread_stack *ts, const struct look *before, size_t at,
		struct native_stack_event *native, size_t nsize, uint64_t t_ns, uint64_t read_ns,
		const struct waiting_opts *o, waiting_event_fn fn, void *ctx)
{
	const struct thread_wait_record *w = before->waits ? &before->waits[at] : NULL;
	struct sample_event *ev;
	size_t size;
	int err = 0;

	ev = make_sample(pid, ts, look_thread(before, at), w, t_ns, o->kernel, &size);
	if (!ev)
		return -ENOMEM;
	if (native) {
		ev->flags |= SAMPLE_NATIVE_STACK;
		err = fn(ctx, native, nsize, read_ns);
	}
	if (!err)
		err = fn(ctx, ev, size, read_ns);
	free(ev);
	return err;
}

int waiting_threads_emit(pid_t pid, const struct py_layout *l, uint64_t t_ns,
			 const struct waiting_opts *o, waiting_event_fn fn, void *ctx)
{
	bool waits = o->kernel || o->native;
	char why[256];
	struct thread_lister *t = thread_lister_open(pid, waits, why, sizeof(why));
	struct thread_stack *stacks = NULL;
	struct look before = { 0 };
	struct native_stack_event **natives = NULL;
	size_t *nsizes = NULL;
	size_t nstacks = 0;
	uint64_t read_ns;
	int err = 0;

	/* A kernel that lets no iterator read a task's registers still
	 * gives the Python stacks. */
	if (!t && waits) {
		waits = false;
		t = thread_lister_open(pid, false, why, sizeof(why));
	}
	if (!t)
		return errno == ENOMEM ? -ENOMEM : 0;
	if (take_look(t, waits, &before))
		goto cleanup;
	err = stack_reader_read(pid, l, &stacks, &nstacks);
	if (err) {
		err = err == -ENOMEM ? err : 0;
		goto cleanup;
	}
	natives = calloc(nstacks ? nstacks : 1, sizeof(*natives));
	nsizes = calloc(nstacks ? nstacks : 1, sizeof(*nsizes));
	if (!natives || !nsizes) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* the user stacks within the look as well: one moment of each */
	for (size_t i = 0; i < nstacks && o->native && before.waits; i++) {
		size_t b = look_find(&before, stacks[i].thread_id);

		if (b < before.n && before.waits[b].thread.state && stacks[i].nframes)
			natives[i] = read_native(pid, &before.waits[b], &stacks[i], t_ns, &nsizes[i]);
	}
	/* Everything about the threads was read by now. A thread blocked at
	 * the look counts from t_ns, in what was read, if it comes back on
	 * the CPU after this; one that came back before it may have moved
	 * in between, and its time until then is counted without a stack. */
	read_ns = monotonic_ns();
	for (size_t i = 0; i < nstacks && !err; i++) {
		const struct thread_stack *ts = &stacks[i];
		size_t b = look_find(&before, ts->thread_id);

		if (!ts->nframes || ts->read_error || b == before.n || !look_thread(&before, b)->state)
			continue;
		err = emit(pid, ts, &before, b, natives[i], nsizes[i], t_ns, read_ns, o, fn, ctx);
	}
cleanup:
	for (size_t i = 0; natives && i < nstacks; i++)
		free(natives[i]);
	free(natives);
	free(nsizes);
	drop_look(&before);
	stack_reader_free(stacks, nstacks);
	thread_lister_close(t);
	return err;
}
