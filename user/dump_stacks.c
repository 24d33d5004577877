// SPDX-License-Identifier: BSD-2-Clause
#include "dump_stacks.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf_session.h"
#include "clock.h"
#include "thread_list.h"

/* Rounds of reading (and of sampling the running threads) before a thread
 * is given up as unsettled. */
#define DUMP_TRIES 6
/* A running thread is sampled once it has run this long more. */
#define SAMPLE_PERIOD_NS 200000ull
/* How long a round waits for the running threads' samples: a thread that
 * went off the CPU meanwhile is read from memory in the same round. */
#define SAMPLE_WAIT_S 0.05
#define SAMPLE_POLL_US 2000

/* The first usable sample of a thread in this round. */
struct taken {
	uint32_t tid;
	struct sample_event *ev;
};

struct dump_sampler {
	struct bpf_session *bpf;
	bool unavailable;	/* could not be loaded: running threads are read only */
	struct taken *taken;
	size_t ntaken, cap;
};

struct dump_sampler *dump_sampler_new(void)
{
	return calloc(1, sizeof(struct dump_sampler));
}

static void forget_samples(struct dump_sampler *s)
{
	for (size_t i = 0; i < s->ntaken; i++)
		free(s->taken[i].ev);
	s->ntaken = 0;
}

void dump_sampler_free(struct dump_sampler *s)
{
	if (!s)
		return;
	forget_samples(s);
	free(s->taken);
	bpf_session_close(s->bpf);
	free(s);
}

static struct taken *taken_by(struct dump_sampler *s, uint32_t tid)
{
	for (size_t i = 0; i < s->ntaken; i++)
		if (s->taken[i].tid == tid)
			return &s->taken[i];
	return NULL;
}

/* A sample's stack is usable when the walk ended well: a whole stack, or
 * none because the thread runs no Python code now. */
static bool usable(const struct sample_event *ev)
{
	uint32_t why = (ev->flags & SAMPLE_UNWALKED_MASK) >> SAMPLE_UNWALKED_SHIFT;

	if (ev->nframes)
		return !(ev->flags & SAMPLE_READ_ERROR);
	return why == UNWIND_NO_FRAME + 1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct dump_sampler *s = ctx;
	const struct sample_event *ev = data;
	size_t need;

	if (size < offsetof(struct sample_event, frames) || ev->type != EVENT_SAMPLE ||
	    ev->nframes > REFBPF_MAX_FRAMES)
		return 0;
	need = offsetof(struct sample_event, frames) + ev->nframes * sizeof(ev->frames[0]);
	if (size < need || !usable(ev) || taken_by(s, ev->tid))
		return 0;
	if (s->ntaken == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct taken *t = realloc(s->taken, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		s->taken = t;
		s->cap = cap;
	}
	struct sample_event *copy = malloc(need);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, ev, need);
	s->taken[s->ntaken++] = (struct taken){ .tid = ev->tid, .ev = copy };
	return 0;
}

/* Load the sampler for `proc` (once per run; a failure is not retried). */
static bool sampler_ready(struct dump_sampler *s, const struct py_process *proc)
{
	static const struct bpf_features per_thread = { .per_thread = true };
	char why[256];

	if (!s->bpf && !s->unavailable &&
	    bpf_session_open(&s->bpf, 1, NULL, false, false, on_event, s, why, sizeof(why),
			     &per_thread)) {
		fprintf(stderr, "refbpf: dump: %s: running threads are read from memory only\n", why);
		s->unavailable = true;
	}
	return s->bpf && !bpf_session_add_target(s->bpf, proc->pid, &proc->layout.walk);
}

/* ---- one dump ---- */

struct take {
	const struct py_process *proc;
	struct dump_sampler *sampler;
	struct thread_lister *lister;
	struct dump_stacks *out;
	/* Per stack: this round's sample found its thread running another of
	 * its thread states (one in another interpreter): this one does not
	 * move then, and holds if reads before and after the sample agree. */
	bool *idle;
	char *why;
	size_t whylen;
};

static int look(struct take *t, struct thread_record **tasks, size_t *n)
{
	return thread_lister_read(t->lister, tasks, n, t->why, t->whylen);
}

static bool same_frames(const struct thread_stack *a, const struct thread_stack *b)
{
	if (a->nframes != b->nframes || a->truncated != b->truncated || a->read_error != b->read_error)
		return false;
	for (uint32_t i = 0; i < a->nframes; i++)
		if (a->frames[i].code != b->frames[i].code || a->frames[i].instr != b->frames[i].instr ||
		    a->frames[i].key != b->frames[i].key)
			return false;
	return true;
}

/*
 * A thread state no OS thread runs cannot move: read it once more, and it
 * holds if both reads agree.
 */
static int settle_orphan(struct take *t, struct thread_stack *ts)
{
	struct thread_stack again = { .tstate = ts->tstate };
	int err = stack_reader_reread(t->proc->pid, &t->proc->layout.walk, &again);

	if (!err && same_frames(ts, &again))
		ts->source = STACK_READ_STILL;
	free(again.frames);
	free(again.frame_addrs);
	return err == -ENOMEM ? err : 0;
}

/* Judge the reads of stacks[] made between two looks at the threads. */
static int judge_reads(struct take *t, const struct thread_record *before, size_t nbefore,
		       const struct thread_record *after, size_t nafter)
{
	struct dump_stacks *d = t->out;

	for (size_t i = 0; i < d->nstacks; i++) {
		struct thread_stack *ts = &d->stacks[i];

		if (ts->source != STACK_READ)
			continue;
		const struct thread_record *a = thread_list_find(after, nafter, ts->thread_id);

		if (!a) {
			int err = settle_orphan(t, ts);

			if (err)
				return err;
			continue;
		}
		if (thread_stayed_still(thread_list_find(before, nbefore, ts->thread_id), a) &&
		    !ts->read_error)
			ts->source = STACK_READ_STILL;
	}
	return 0;
}

/* Read the stacks not settled yet again, between two looks. */
static int reread_pending(struct take *t)
{
	struct dump_stacks *d = t->out;
	struct thread_record *before = NULL;
	size_t nbefore = 0;
	int err = look(t, &before, &nbefore);

	for (size_t i = 0; !err && i < d->nstacks; i++) {
		struct thread_stack *ts = &d->stacks[i], prev = *ts;

		if (ts->source != STACK_READ)
			continue;
		prev.frames = NULL;
		if (t->idle[i] && ts->nframes) {
			prev.frames = malloc(ts->nframes * sizeof(*ts->frames));
			if (!prev.frames) {
				err = -ENOMEM;
				break;
			}
			memcpy(prev.frames, ts->frames, ts->nframes * sizeof(*ts->frames));
		}
		err = stack_reader_reread(t->proc->pid, &t->proc->layout.walk, ts);
		if (!err && t->idle[i] && same_frames(&prev, ts) && !ts->read_error)
			ts->source = STACK_READ_STILL;
		t->idle[i] = false;
		free(prev.frames);
	}
	if (!err) {
		free(d->tasks);
		d->tasks = NULL;
		err = look(t, &d->tasks, &d->ntasks);
	}
	if (!err)
		err = judge_reads(t, before, nbefore, d->tasks, d->ntasks);
	free(before);
	return err;
}

/* The stack of `ts` from a sample of its thread. */
static int use_sample(struct thread_stack *ts, const struct sample_event *ev)
{
	if (ev->nframes && !ts->frames) {
		ts->frames = calloc(REFBPF_MAX_FRAMES, sizeof(*ts->frames));
		if (!ts->frames)
			return -ENOMEM;
	}
	memcpy(ts->frames, ev->frames, ev->nframes * sizeof(ev->frames[0]));
	/* BPF sends no frame addresses: the read's are not this stack's */
	free(ts->frame_addrs);
	ts->frame_addrs = NULL;
	ts->nframes = ev->nframes;
	ts->truncated = ev->flags & SAMPLE_TRUNCATED;
	ts->read_error = false;
	ts->source = STACK_SAMPLED;
	return 0;
}

static bool any_pending(const struct dump_stacks *d)
{
	for (size_t i = 0; i < d->nstacks; i++)
		if (d->stacks[i].source == STACK_READ)
			return true;
	return false;
}

/* Whether any stack not settled yet belongs to a thread that runs now. */
static bool any_running(const struct dump_stacks *d)
{
	for (size_t i = 0; i < d->nstacks; i++) {
		const struct thread_record *task;

		if (d->stacks[i].source != STACK_READ)
			continue;
		task = thread_list_find(d->tasks, d->ntasks, d->stacks[i].thread_id);
		if (task && !task->state)
			return true;
	}
	return false;
}

/*
 * Sample the threads of unsettled stacks that run now, each in its own
 * context, until each has a sample or SAMPLE_WAIT_S has passed.
 */
static int sample_running(struct take *t)
{
	struct dump_stacks *d = t->out;
	struct dump_sampler *s = t->sampler;
	int *handles = calloc(d->nstacks ? d->nstacks : 1, sizeof(*handles));
	size_t wanted = 0;
	int err = 0;

	if (!handles)
		return -ENOMEM;
	forget_samples(s);
	for (size_t i = 0; i < d->nstacks; i++) {
		const struct thread_record *task =
			thread_list_find(d->tasks, d->ntasks, d->stacks[i].thread_id);

		handles[i] = -1;
		if (d->stacks[i].source != STACK_READ || !task || task->state)
			continue;
		handles[i] = bpf_session_sample_thread(s->bpf, (pid_t)task->tid, SAMPLE_PERIOD_NS);
		wanted += handles[i] >= 0;
	}
	double deadline = monotonic_s() + SAMPLE_WAIT_S;

	while (wanted && s->ntaken < wanted && monotonic_s() < deadline) {
		usleep(SAMPLE_POLL_US);
		err = bpf_session_drain(s->bpf);
		if (err < 0)
			break;
		err = 0;
	}
	for (size_t i = 0; i < d->nstacks; i++)
		bpf_session_stop_thread(s->bpf, handles[i]);
	free(handles);
	if (!err) {
		int more = bpf_session_drain(s->bpf);

		err = more < 0 ? more : 0;
	}
	for (size_t i = 0; !err && i < d->nstacks; i++) {
		struct thread_stack *ts = &d->stacks[i];
		const struct thread_record *task;
		const struct taken *got;

		if (ts->source != STACK_READ)
			continue;
		task = thread_list_find(d->tasks, d->ntasks, ts->thread_id);
		got = task ? taken_by(s, task->tid) : NULL;
		/* one OS thread may own thread states in several interpreters:
		 * the sample walked the one it runs */
		if (got && got->ev->tstate == ts->tstate)
			err = use_sample(ts, got->ev);
		else if (got && got->ev->tstate)
			t->idle[i] = true;
	}
	forget_samples(s);
	return err;
}

int dump_stacks_take(const struct py_process *proc, struct dump_sampler *sampler,
		     struct dump_stacks *out, char *why, size_t whylen)
{
	struct take t = { .proc = proc, .sampler = sampler, .out = out, .why = why,
			  .whylen = whylen };
	struct thread_record *before = NULL;
	size_t nbefore = 0;
	bool sampling = false;
	int err;

	memset(out, 0, sizeof(*out));
	why[0] = 0;
	t.lister = thread_lister_open(proc->pid, false, why, whylen);
	if (!t.lister)
		return -errno;
	err = look(&t, &before, &nbefore);
	if (!err) {
		err = stack_reader_read(proc->pid, &proc->layout.walk, &out->stacks, &out->nstacks);
		if (err)
			snprintf(why, whylen, "cannot read its threads: %s", strerror(-err));
	}
	if (!err && !(t.idle = calloc(out->nstacks ? out->nstacks : 1, sizeof(*t.idle))))
		err = -ENOMEM;
	if (!err)
		err = look(&t, &out->tasks, &out->ntasks);
	if (!err)
		err = judge_reads(&t, before, nbefore, out->tasks, out->ntasks);
	for (int round = 1; !err && round < DUMP_TRIES && any_pending(out); round++) {
		if (any_running(out) && (sampling || (sampling = sampler_ready(sampler, proc))))
			err = sample_running(&t);
		if (!err)
			err = reread_pending(&t);
	}
	for (size_t i = 0; !err && i < out->nstacks; i++) {
		if (out->stacks[i].source != STACK_READ)
			continue;
		out->stacks[i].source = STACK_UNSETTLED;
		out->stacks[i].nframes = 0;
	}
	if (sampling)
		bpf_session_remove_target(sampler->bpf, proc->pid);
	if (err == -ENOMEM)
		snprintf(why, whylen, "out of memory");
	else if (err && !why[0])
		snprintf(why, whylen, "%s", strerror(-err));
	free(before);
	free(t.idle);
	thread_lister_close(t.lister);
	if (err)
		dump_stacks_free(out);
	return err;
}

void dump_stacks_free(struct dump_stacks *d)
{
	stack_reader_free(d->stacks, d->nstacks);
	free(d->tasks);
	memset(d, 0, sizeof(*d));
}
