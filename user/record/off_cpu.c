// SPDX-License-Identifier: BSD-2-Clause
/* Threads are kept in an array, found by tid through an int_table; a
 * thread that is gone keeps its entry (small) but not its stack. */
#include "record/off_cpu.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "base/int_table.h"

struct oc_thread {
	uint32_t tid;
	uint32_t pid;
	bool pending;		/* off CPU since `since` */
	uint32_t flags;
	uint64_t since;
	uint64_t run_ns;	/* its CPU time at `since` (0: unknown) */
	uint64_t carry_ns;	/* less than one period, not yet counted */
	uint64_t read_ns;	/* stack read from memory at this time, not at `since` */
	char comm[OFF_CPU_COMM_LEN];	/* its name when it left the CPU */
	struct pframe *frames;
	uint32_t nframes, cap;
};

struct off_cpu {
	uint64_t period_ns;
	off_cpu_add_fn add;
	void *ctx;
	uint64_t unattributed_ns;	/* off CPU in a stack that could not be read */
	uint64_t unseen_returns, unseen_returns_lost;
	struct oc_thread *t;
	size_t n, cap;
	struct int_table by_tid;	/* tid -> its index in t */
};

struct off_cpu *off_cpu_new(uint64_t period_ns, off_cpu_add_fn add, void *ctx)
{
	struct off_cpu *oc = calloc(1, sizeof(*oc));

	if (!oc || !period_ns) {
		free(oc);
		return NULL;
	}
	oc->period_ns = period_ns;
	oc->add = add;
	oc->ctx = ctx;
	return oc;
}

void off_cpu_free(struct off_cpu *oc)
{
	if (!oc)
		return;
	for (size_t i = 0; i < oc->n; i++)
		free(oc->t[i].frames);
	free(oc->t);
	int_table_clear(&oc->by_tid);
	free(oc);
}

static struct oc_thread *find(struct off_cpu *oc, uint32_t tid)
{
	uint32_t *at = int_table_find(&oc->by_tid, tid);

	return at ? &oc->t[*at] : NULL;
}

static struct oc_thread *get(struct off_cpu *oc, uint32_t tid)
{
	struct oc_thread *th = find(oc, tid);
	uint32_t *at;
	bool added;

	if (th)
		return th;
	if (oc->n >= UINT32_MAX || GROW(oc->t, oc->cap, oc->n, 64))
		return NULL;
	at = int_table_get(&oc->by_tid, tid, &added);
	if (!at)
		return NULL;
	*at = (uint32_t)oc->n;
	th = &oc->t[oc->n++];
	*th = (struct oc_thread){ .tid = tid };
	return th;
}

void off_cpu_read_at(struct off_cpu *oc, uint32_t tid, uint64_t read_ns)
{
	struct oc_thread *th = find(oc, tid);

	if (th && th->pending && read_ns > th->read_ns)
		th->read_ns = read_ns;
}

/* Count `off_ns` of a pending thread's interval, which ended by `back_ns`
 * (its switch-in, or the latest it can have been). */
static int count_off(struct off_cpu *oc, struct oc_thread *th, uint64_t off_ns, uint64_t back_ns)
{
	uint64_t total, count;

	/* A stack read after the switch-out is the one the thread blocked in
	 * only if it was still off CPU then. */
	if (th->read_ns && back_ns <= th->read_ns)
		th->nframes = 0;
	th->read_ns = 0;
	if (!off_ns)
		return 0;
	if (!th->nframes) {
		oc->unattributed_ns += off_ns;
		return 0;
	}
	total = th->carry_ns + off_ns;
	count = total / oc->period_ns;
	th->carry_ns = total % oc->period_ns;
	return count ? oc->add(oc->ctx, th->pid, th->tid, th->flags, th->frames, th->nframes, count,
			       th->comm) :
		       0;
}

/* Count the interval [since, t_ns) of a pending thread. */
static int account(struct off_cpu *oc, struct oc_thread *th, uint64_t t_ns)
{
	if (!th->pending || t_ns <= th->since)
		return 0;
	return count_off(oc, th, t_ns - th->since, t_ns);
}

/*
 * `th` leaves the CPU at `l->t_ns` while still off it since `since`: its
 * switch-in in between was not reported. The CPU time it gained is what
 * it ran; the rest of the interval it was off CPU, in the stack it left
 * in. When it came back is not known, so a stack read after it left is
 * not trusted.
 */
static int account_unseen_return(struct off_cpu *oc, struct oc_thread *th,
				 const struct off_cpu_leave *l)
{
	uint64_t span, ran;

	oc->unseen_returns++;
	if (th->pid != l->pid || !th->run_ns || !l->run_ns || l->run_ns < th->run_ns ||
	    l->t_ns <= th->since) {
		oc->unseen_returns_lost++;
		return 0;
	}
	span = l->t_ns - th->since;
	ran = l->run_ns - th->run_ns;
	return count_off(oc, th, ran < span ? span - ran : 0, th->read_ns ? th->since : l->t_ns);
}

int off_cpu_leave(struct off_cpu *oc, const struct off_cpu_leave *l)
{
	struct oc_thread *th = get(oc, l->tid);
	int err;

	if (!th)
		return -ENOMEM;
	if (th->pending) {
		err = account_unseen_return(oc, th, l);
		if (err)
			return err;
	}
	if (l->nframes > th->cap) {
		struct pframe *f = realloc(th->frames, l->nframes * sizeof(*f));

		if (!f)
			return -ENOMEM;
		th->frames = f;
		th->cap = l->nframes;
	}
	/* a new thread that reuses the tid starts without a carry */
	if (th->pid != l->pid)
		th->carry_ns = 0;
	th->pid = l->pid;
	if (l->comm) {
		memcpy(th->comm, l->comm, sizeof(th->comm));
		th->comm[sizeof(th->comm) - 1] = 0;
	} else {
		th->comm[0] = 0;
	}
	th->pending = true;
	th->since = l->t_ns;
	th->run_ns = l->run_ns;
	th->read_ns = l->read_ns;
	th->flags = l->flags;
	th->nframes = l->nframes;
	if (l->nframes)
		memcpy(th->frames, l->frames, l->nframes * sizeof(*l->frames));
	return 0;
}

int off_cpu_return(struct off_cpu *oc, uint32_t tid, uint64_t t_ns)
{
	struct oc_thread *th = find(oc, tid);
	int err;

	if (!th || !th->pending)
		return 0;
	err = account(oc, th, t_ns);
	th->pending = false;
	return err;
}

int off_cpu_flush(struct off_cpu *oc, uint64_t t_ns)
{
	for (size_t i = 0; i < oc->n; i++) {
		struct oc_thread *th = &oc->t[i];
		int err;

		if (!th->pending)
			continue;
		err = account(oc, th, t_ns);
		if (err)
			return err;
		if (t_ns > th->since)
			th->since = t_ns;
	}
	return 0;
}

static void forget(struct oc_thread *th)
{
	th->pending = false;
	th->carry_ns = 0;
	free(th->frames);
	th->frames = NULL;
	th->nframes = th->cap = 0;
}

void off_cpu_forget_thread(struct off_cpu *oc, uint32_t tid)
{
	struct oc_thread *th = find(oc, tid);

	if (th)
		forget(th);
}

void off_cpu_forget_process(struct off_cpu *oc, uint32_t pid)
{
	for (size_t i = 0; i < oc->n; i++)
		if (oc->t[i].pid == pid)
			forget(&oc->t[i]);
}

uint64_t off_cpu_unattributed_ns(const struct off_cpu *oc)
{
	return oc->unattributed_ns;
}

uint64_t off_cpu_unseen_returns(const struct off_cpu *oc)
{
	return oc->unseen_returns;
}

uint64_t off_cpu_unseen_returns_lost(const struct off_cpu *oc)
{
	return oc->unseen_returns_lost;
}

size_t off_cpu_pending(const struct off_cpu *oc)
{
	size_t n = 0;

	for (size_t i = 0; i < oc->n; i++)
		n += oc->t[i].pending;
	return n;
}
