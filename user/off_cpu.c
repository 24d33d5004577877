// SPDX-License-Identifier: BSD-2-Clause
/* Threads are kept in an open-addressing table by tid; a thread that is
 * gone keeps its slot (small) but not its stack. */
#include "off_cpu.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct oc_thread {
	uint32_t tid;		/* 0: empty slot */
	uint32_t pid;
	bool pending;		/* off CPU since `since` */
	uint32_t flags;
	uint64_t since;
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
	struct oc_thread *t;
	size_t size, used;	/* size: a power of two */
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
	for (size_t i = 0; i < oc->size; i++)
		free(oc->t[i].frames);
	free(oc->t);
	free(oc);
}

static size_t slot_of(const struct off_cpu *oc, uint32_t tid)
{
	size_t mask = oc->size - 1, i = (tid * 2654435761u) & mask;

	while (oc->t[i].tid && oc->t[i].tid != tid)
		i = (i + 1) & mask;
	return i;
}

static struct oc_thread *find(struct off_cpu *oc, uint32_t tid)
{
	struct oc_thread *th;

	if (!oc->size)
		return NULL;
	th = &oc->t[slot_of(oc, tid)];
	return th->tid ? th : NULL;
}

static int grow(struct off_cpu *oc)
{
	size_t size = oc->size ? oc->size * 2 : 64;
	struct oc_thread *t = calloc(size, sizeof(*t)), *old = oc->t;
	size_t oldsize = oc->size;

	if (!t)
		return -ENOMEM;
	oc->t = t;
	oc->size = size;
	for (size_t i = 0; i < oldsize; i++)
		if (old[i].tid)
			oc->t[slot_of(oc, old[i].tid)] = old[i];
	free(old);
	return 0;
}

static struct oc_thread *get(struct off_cpu *oc, uint32_t tid)
{
	struct oc_thread *th = find(oc, tid);

	if (th)
		return th;
	if ((oc->used + 1) * 2 > oc->size && grow(oc))
		return NULL;
	th = &oc->t[slot_of(oc, tid)];
	th->tid = tid;
	oc->used++;
	return th;
}

int off_cpu_leave(struct off_cpu *oc, uint32_t pid, uint32_t tid, const char *comm, uint64_t t_ns,
		  uint32_t flags, const struct pframe *frames, uint32_t nframes)
{
	return off_cpu_leave_read_later(oc, pid, tid, comm, t_ns, flags, frames, nframes, 0);
}

int off_cpu_leave_read_later(struct off_cpu *oc, uint32_t pid, uint32_t tid, const char *comm,
			     uint64_t t_ns, uint32_t flags, const struct pframe *frames,
			     uint32_t nframes, uint64_t read_ns)
{
	struct oc_thread *th = get(oc, tid);

	if (!th)
		return -ENOMEM;
	if (nframes > th->cap) {
		struct pframe *f = realloc(th->frames, nframes * sizeof(*f));

		if (!f)
			return -ENOMEM;
		th->frames = f;
		th->cap = nframes;
	}
	/* a new thread that reuses the tid starts without a carry */
	if (th->pid != pid)
		th->carry_ns = 0;
	th->pid = pid;
	if (comm) {
		memcpy(th->comm, comm, sizeof(th->comm));
		th->comm[sizeof(th->comm) - 1] = 0;
	} else {
		th->comm[0] = 0;
	}
	th->pending = true;
	th->since = t_ns;
	th->read_ns = read_ns;
	th->flags = flags;
	th->nframes = nframes;
	if (nframes)
		memcpy(th->frames, frames, nframes * sizeof(*frames));
	return 0;
}

/* Count the interval [since, t_ns) of a pending thread. */
static int account(struct off_cpu *oc, struct oc_thread *th, uint64_t t_ns)
{
	uint64_t total, count;

	if (!th->pending || t_ns <= th->since)
		return 0;
	/* A stack read after the switch-out is the one the thread blocked in
	 * only if it was still off CPU then. */
	if (th->read_ns && t_ns <= th->read_ns)
		th->nframes = 0;
	th->read_ns = 0;
	if (!th->nframes) {
		oc->unattributed_ns += t_ns - th->since;
		return 0;
	}
	total = th->carry_ns + (t_ns - th->since);
	count = total / oc->period_ns;
	th->carry_ns = total % oc->period_ns;
	return count ? oc->add(oc->ctx, th->pid, th->tid, th->flags, th->frames, th->nframes, count,
			       th->comm) :
		       0;
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
	for (size_t i = 0; i < oc->size; i++) {
		struct oc_thread *th = &oc->t[i];
		int err;

		if (!th->tid || !th->pending)
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
	for (size_t i = 0; i < oc->size; i++)
		if (oc->t[i].tid && oc->t[i].pid == pid)
			forget(&oc->t[i]);
}

uint64_t off_cpu_unattributed_ns(const struct off_cpu *oc)
{
	return oc->unattributed_ns;
}

size_t off_cpu_pending(const struct off_cpu *oc)
{
	size_t n = 0;

	for (size_t i = 0; i < oc->size; i++)
		n += oc->t[i].tid && oc->t[i].pending;
	return n;
}
