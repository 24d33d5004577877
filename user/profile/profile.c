// SPDX-License-Identifier: BSD-2-Clause
/*
 * The profile model. Functions and stacks are interned through open
 * addressing hash tables so that profile_add_stack, called once per sample
 * while recording, costs O(frames) and never scans what is already stored.
 */
#include "profile/profile.h"

#include <errno.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "bpf/mix64.h"

/*
 * A table of indices into an array owned by the profile. The full hash is
 * kept in each slot: growing never rehashes strings or frames, and most
 * mismatches are rejected without touching the stored object.
 */
struct islot {
	uint64_t hash;
	uint32_t idx;		/* index + 1; 0 marks an empty slot */
};

struct itab {
	struct islot *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t count;
};

/* Does stored object `idx` equal `key`? NULL when the hash is the key. */
typedef bool (*match_fn)(const struct profile *p, uint32_t idx, const void *key);

struct func_key {
	const char *filename, *name, *qualname;
	int firstlineno;
};

struct stack_key {
	uint32_t pid, tid, flags, nframes;
	const struct pframe *frames;
};

/* FNV-1a, continued from `h`; the terminating NUL separates fields. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	do {
		h ^= *c;
		h *= 0x100000001b3ull;
	} while (*c++);
	return h;
}

static uint64_t hash_u64(uint64_t h, uint64_t v)
{
	return refbpf_mix64(h ^ v) + 0x9e3779b97f4a7c15ull;
}

static struct islot *itab_find(struct itab *t, uint64_t hash, match_fn match,
			       const struct profile *p, const void *key)
{
	size_t mask = t->cap - 1;
	size_t i = refbpf_mix64(hash) & mask;

	for (;;) {
		struct islot *s = &t->slots[i];

		if (!s->idx)
			return s;
		if (s->hash == hash && (!match || match(p, s->idx - 1, key)))
			return s;
		i = (i + 1) & mask;
	}
}

/* Make room for one more entry, keeping the load factor at most 1/2. */
static int itab_reserve(struct itab *t)
{
	struct islot *slots;
	size_t cap;

	if ((t->count + 1) * 2 <= t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 64;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct islot *s = &t->slots[i];
		size_t j = refbpf_mix64(s->hash) & (cap - 1);

		if (!s->idx)
			continue;
		while (slots[j].idx)
			j = (j + 1) & (cap - 1);
		slots[j] = *s;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static void itab_free(struct itab *t)
{
	if (t)
		free(t->slots);
	free(t);
}

struct profile *profile_new(void)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->func_index = calloc(1, sizeof(struct itab));
	p->stack_index = calloc(1, sizeof(struct itab));
	p->thread_index = calloc(1, sizeof(struct itab));
	if (!p->func_index || !p->stack_index || !p->thread_index) {
		profile_free(p);
		return NULL;
	}
	return p;
}

/* Empty a table but keep its slots: the next window fills it again. */
static void itab_clear(struct itab *t)
{
	if (t->cap)
		memset(t->slots, 0, t->cap * sizeof(*t->slots));
	t->count = 0;
}

void profile_reset_samples(struct profile *p)
{
	for (size_t i = 0; i < p->nstacks; i++)
		free(p->stacks[i]);
	p->nstacks = 0;
	for (size_t i = 0; i < p->ntargets; i++) {
		free(p->targets[i].version);
		free(p->targets[i].cmdline);
		free(p->targets[i].reason);
	}
	p->ntargets = 0;
	p->nthreads = 0;
	p->merged_threads = 0;
	p->total_samples = 0;
	p->lost_samples = 0;
	memset(p->unwind_errors, 0, sizeof(p->unwind_errors));
	p->duration_s = 0;
	itab_clear(p->stack_index);
	itab_clear(p->thread_index);
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nfuncs; i++) {
		free(p->funcs[i].filename);
		free(p->funcs[i].name);
		free(p->funcs[i].qualname);
	}
	free(p->funcs);
	/* frames live in the same allocation as their stack */
	for (size_t i = 0; i < p->nstacks; i++)
		free(p->stacks[i]);
	free(p->stacks);
	for (size_t i = 0; i < p->ntargets; i++) {
		free(p->targets[i].version);
		free(p->targets[i].cmdline);
		free(p->targets[i].reason);
	}
	free(p->targets);
	free(p->threads);
	itab_free(p->func_index);
	itab_free(p->stack_index);
	itab_free(p->thread_index);
	free(p);
}

static bool func_match(const struct profile *p, uint32_t idx, const void *key)
{
	const struct pfunc *f = &p->funcs[idx];
	const struct func_key *k = key;

	return f->firstlineno == k->firstlineno && !strcmp(f->name, k->name) &&
	       !strcmp(f->filename, k->filename) && !strcmp(f->qualname, k->qualname);
}

int64_t profile_intern_func(struct profile *p, const char *filename, int firstlineno,
			    const char *name, const char *qualname)
{
	struct func_key k = {
		.filename = filename ? filename : "",
		.name = name ? name : "",
		.firstlineno = firstlineno,
	};
	struct itab *t = p->func_index;
	struct pfunc f = { .firstlineno = firstlineno };
	struct islot *s;
	uint64_t h;

	k.qualname = qualname ? qualname : k.name;
	h = hash_str(hash_str(hash_str(hash_u64(0, (uint32_t)firstlineno), k.filename), k.name),
		     k.qualname);
	if (itab_reserve(t))
		return -1;
	s = itab_find(t, h, func_match, p, &k);
	if (s->idx)
		return s->idx - 1;
	/* pframe.func is 32 bits and slot 0 means empty */
	if (p->nfuncs >= UINT32_MAX - 1)
		return -1;
	if (GROW(p->funcs, p->funcs_cap, p->nfuncs, 16))
		return -1;
	f.filename = strdup(k.filename);
	f.name = strdup(k.name);
	f.qualname = strdup(k.qualname);
	if (!f.filename || !f.name || !f.qualname)
		goto cleanup;
	p->funcs[p->nfuncs] = f;
	s->hash = h;
	s->idx = (uint32_t)p->nfuncs + 1;
	t->count++;
	return (int64_t)p->nfuncs++;
cleanup:
	free(f.filename);
	free(f.name);
	free(f.qualname);
	return -1;
}

static bool stack_match(const struct profile *p, uint32_t idx, const void *key)
{
	const struct pstack *ps = p->stacks[idx];
	const struct stack_key *k = key;

	if (ps->pid != k->pid || ps->tid != k->tid || ps->flags != k->flags ||
	    ps->nframes != k->nframes)
		return false;
	for (uint32_t i = 0; i < k->nframes; i++)
		if (ps->frames[i].func != k->frames[i].func ||
		    ps->frames[i].line != k->frames[i].line)
			return false;
	return true;
}

static uint64_t stack_hash(const struct stack_key *k)
{
	uint64_t h = hash_u64(hash_u64(0, (uint64_t)k->pid << 32 | k->tid),
			      (uint64_t)k->flags << 32 | k->nframes);

	/* once per frame of every sample: one multiply per frame, the
	 * full mix once at the end (the table compares whole stacks anyway) */
	for (uint32_t i = 0; i < k->nframes; i++) {
		h ^= (uint64_t)k->frames[i].func << 32 | (uint32_t)k->frames[i].line;
		h = (h << 27 | h >> 37) * 0x9e3779b97f4a7c15ull;
	}
	return refbpf_mix64(h);
}

/* Room in the thread table must have been reserved: this cannot fail. */
static void count_thread(struct profile *p, uint32_t pid, uint32_t tid)
{
	struct itab *t = p->thread_index;
	uint64_t key = (uint64_t)pid << 32 | tid;
	/* the hash is the key itself: no stored array to compare against */
	struct islot *s = itab_find(t, key, NULL, p, NULL);

	if (!s->idx) {
		s->hash = key;
		s->idx = p->nthreads + 1;
		t->count++;
		p->threads[p->nthreads++] = (struct pthread){ .pid = pid, .tid = tid };
	}
	p->last_thread = s->idx - 1;
}

struct pthread *profile_find_thread(struct profile *p, uint32_t pid, uint32_t tid)
{
	uint64_t key = (uint64_t)pid << 32 | tid;
	struct itab *t = p->thread_index;
	struct islot *s;

	if (!t->cap)
		return NULL;
	s = itab_find(t, key, NULL, p, NULL);
	return s->idx ? &p->threads[s->idx - 1] : NULL;
}

uint64_t profile_thread_count(const struct profile *p)
{
	uint64_t n = p->nthreads;

	for (size_t i = 0; i < p->nthreads; i++)
		if (p->threads[i].tid == PROFILE_MERGED_TID)
			n--;
	return n + p->merged_threads;
}

static void count_target(struct profile *p, uint32_t pid, uint64_t count)
{
	struct ptarget *t = profile_find_target(p, pid);

	if (t)
		t->samples += count;
}

/* Store a copy of a stack not seen before, with a zero count. */
static struct pstack *new_stack(struct profile *p, const struct stack_key *k)
{
	struct pstack *ps;
	size_t size;

	if (p->nstacks >= UINT32_MAX - 1 ||
	    __builtin_mul_overflow((size_t)k->nframes, sizeof(*k->frames), &size) ||
	    __builtin_add_overflow(size, sizeof(*ps), &size))
		return NULL;
	if (GROW(p->stacks, p->stacks_cap, p->nstacks, 16))
		return NULL;
	/* one allocation: profile_free frees stack and frames together */
	ps = malloc(size);
	if (!ps)
		return NULL;
	*ps = (struct pstack){ .pid = k->pid, .tid = k->tid, .flags = k->flags,
			       .nframes = k->nframes };
	ps->frames = (struct pframe *)(ps + 1);
	memcpy(ps->frames, k->frames, k->nframes * sizeof(*k->frames));
	p->stacks[p->nstacks++] = ps;
	return ps;
}

int profile_add_stack(struct profile *p, uint32_t pid, uint32_t tid, uint32_t flags,
		      const struct pframe *frames, uint32_t nframes, uint64_t count)
{
	struct stack_key k = { pid, tid, flags, nframes, frames };
	struct itab *t = p->stack_index;
	struct pstack *ps;
	struct islot *s;
	uint64_t h;

	if (!nframes)
		return -EINVAL;
	if (!count)
		return 0;
	for (uint32_t i = 0; i < nframes; i++)
		if (frames[i].func >= p->nfuncs)
			return -EINVAL;
	h = stack_hash(&k);
	/* allocate everything first, so a failure changes no count */
	if (itab_reserve(t) || itab_reserve(p->thread_index))
		return -ENOMEM;
	if (GROW(p->threads, p->threads_cap, p->nthreads, 16))
		return -ENOMEM;
	s = itab_find(t, h, stack_match, p, &k);
	if (s->idx) {
		ps = p->stacks[s->idx - 1];
	} else {
		ps = new_stack(p, &k);
		if (!ps)
			return -ENOMEM;
		s->hash = h;
		s->idx = (uint32_t)p->nstacks;
		t->count++;
	}
	ps->count += count;
	p->total_samples += count;
	count_thread(p, pid, tid);
	count_target(p, pid, count);
	return 0;
}

struct ptarget *profile_add_target(struct profile *p, uint32_t pid, int state,
				   const char *version, const char *cmdline, const char *reason)
{
	struct ptarget t = { .pid = pid, .state = state };
	struct ptarget *ret;

	if (GROW(p->targets, p->targets_cap, p->ntargets, 16))
		return NULL;
	if ((version && !(t.version = strdup(version))) ||
	    (cmdline && !(t.cmdline = strdup(cmdline))) ||
	    (reason && !(t.reason = strdup(reason))))
		goto cleanup;
	/* stacks may arrive before their target is registered */
	for (size_t i = 0; i < p->nstacks; i++)
		if (p->stacks[i]->pid == pid)
			t.samples += p->stacks[i]->count;
	ret = &p->targets[p->ntargets++];
	*ret = t;
	return ret;
cleanup:
	free(t.version);
	free(t.cmdline);
	free(t.reason);
	return NULL;
}

struct ptarget *profile_find_target(struct profile *p, uint32_t pid)
{
	for (size_t i = 0; i < p->ntargets; i++)
		if (p->targets[i].pid == pid)
			return &p->targets[i];
	return NULL;
}

double profile_period(const struct profile *p)
{
	if (p->period_s > 0)
		return p->period_s;
	return p->rate_hz ? 1.0 / p->rate_hz : 0.0;
}

uint64_t profile_period_ns(const struct profile *p)
{
	double ns = profile_period(p) * 1e9;

	/* written as !(in range) so NaN from a raw file is refused too */
	if (!(ns >= 0.5 && ns < 1e15))
		return 0;
	return (uint64_t)(ns + 0.5);
}

enum pfunc_kind pfunc_kind(const struct pfunc *f)
{
	if (strcmp(f->filename, "~") || f->firstlineno != 0)
		return PFUNC_PYTHON;
	if (!strncmp(f->name, "<native ", 8))
		return PFUNC_NATIVE;
	if (!strncmp(f->name, PROFILE_KERNEL_PREFIX, strlen(PROFILE_KERNEL_PREFIX)))
		return PFUNC_KERNEL;
	return PFUNC_SYNTHETIC;
}
