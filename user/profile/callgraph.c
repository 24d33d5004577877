// SPDX-License-Identifier: BSD-2-Clause
/*
 * One pass over the distinct stacks. "Once per sample" is enforced with
 * stamps: a function or edge remembers the last stack that counted it, so
 * recursion within a stack adds nothing more, in O(frames) per stack.
 */
#include "profile/callgraph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

#define NONE UINT32_MAX

struct builder {
	const struct profile *p;
	struct callgraph *cg;
	uint32_t *func_of;	/* profile function -> cg function, NONE if unsampled */
	uint64_t *func_stamp;	/* per cg function: last stack counted + 1 */
	uint64_t *edge_stamp;	/* per edge, likewise */
	size_t edges_cap;
	uint32_t *slots;	/* edge hash table: edge index + 1, 0 when empty */
	size_t nslots;
	uint32_t *path;		/* root, [truncated], frames of the current stack */
	uint32_t truncated;	/* cg index of the truncation marker, or NONE */
};

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* pstats key order, then qualname so each group's display name is stable. */
static int cmp_pfunc(const void *a, const void *b, void *arg)
{
	const struct profile *p = arg;
	const struct pfunc *x = &p->funcs[*(const uint32_t *)a];
	const struct pfunc *y = &p->funcs[*(const uint32_t *)b];
	int c;

	c = strcmp(x->filename, y->filename);
	if (!c)
		c = (x->firstlineno > y->firstlineno) - (x->firstlineno < y->firstlineno);
	if (!c)
		c = strcmp(x->name, y->name);
	if (!c)
		c = strcmp(x->qualname, y->qualname);
	return c;
}

static bool same_key(const struct pfunc *x, const struct pfunc *y)
{
	return x->firstlineno == y->firstlineno && !strcmp(x->name, y->name) &&
	       !strcmp(x->filename, y->filename);
}

static void set_synthetic(struct cg_func *f, int kind, const char *name)
{
	f->filename = CG_SYNTH_FILENAME;
	f->name = name;
	f->qualname = name;
	f->kind = kind;
}

/* Create the cg functions: synthetic ones first, then the sampled groups. */
static int group_functions(struct builder *b)
{
	const struct profile *p = b->p;
	struct callgraph *cg = b->cg;
	uint32_t *order = NULL;
	size_t nused = 0, ngroups = 0, next;
	bool truncated = false;
	int err = -ENOMEM;

	b->func_of = malloc((p->nfuncs + 1) * sizeof(*b->func_of));
	order = malloc((p->nfuncs + 1) * sizeof(*order));
	if (!b->func_of || !order)
		goto cleanup;
	for (size_t i = 0; i < p->nfuncs; i++)
		b->func_of[i] = NONE;
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *ps = p->stacks[i];

		truncated |= ps->flags & PSTACK_TRUNCATED;
		for (uint32_t j = 0; j < ps->nframes; j++) {
			if (b->func_of[ps->frames[j].func] == NONE)
				order[nused++] = ps->frames[j].func;
			b->func_of[ps->frames[j].func] = 0;
		}
	}
	qsort_r(order, nused, sizeof(*order), cmp_pfunc, (void *)p);
	for (size_t i = 0; i < nused; i++)
		if (!i || !same_key(&p->funcs[order[i - 1]], &p->funcs[order[i]]))
			ngroups++;

	cg->nfuncs = 1 + truncated + ngroups;
	cg->funcs = calloc(cg->nfuncs, sizeof(*cg->funcs));
	b->func_stamp = calloc(cg->nfuncs, sizeof(*b->func_stamp));
	if (!cg->funcs || !b->func_stamp)
		goto cleanup;
	set_synthetic(&cg->funcs[0], CG_ROOT, CG_ROOT_NAME);
	if (truncated) {
		b->truncated = 1;
		set_synthetic(&cg->funcs[1], CG_TRUNCATED, CG_TRUNCATED_NAME);
	}
	next = cg->nfuncs - ngroups - 1;
	for (size_t i = 0; i < nused; i++) {
		const struct pfunc *pf = &p->funcs[order[i]];

		if (!i || !same_key(&p->funcs[order[i - 1]], pf)) {
			struct cg_func *f = &cg->funcs[++next];

			f->filename = pf->filename;
			f->name = pf->name;
			f->qualname = pf->qualname[0] ? pf->qualname : pf->name;
			f->firstlineno = pf->firstlineno;
		}
		b->func_of[order[i]] = (uint32_t)next;
	}
	err = 0;
cleanup:
	free(order);
	return err;
}

static size_t edge_slot(const struct builder *b, uint32_t caller, uint32_t callee)
{
	uint64_t h = ((uint64_t)caller << 32 | callee) * 0x9e3779b97f4a7c15ull;
	size_t mask = b->nslots - 1;
	size_t i = (size_t)(h >> 20) & mask;

	while (b->slots[i]) {
		const struct cg_edge *e = &b->cg->edges[b->slots[i] - 1];

		if (e->caller == caller && e->callee == callee)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* Room for one more edge, in the array and in the table (load <= 1/2). */
static int reserve_edge(struct builder *b)
{
	struct callgraph *cg = b->cg;

	size_t edges_cap = b->edges_cap, stamps_cap = b->edges_cap;

	/* the two arrays grow alike; the smaller capacity is the one kept */
	if (GROW(cg->edges, edges_cap, cg->nedges, 256) ||
	    GROW(b->edge_stamp, stamps_cap, cg->nedges, 256))
		return -ENOMEM;
	b->edges_cap = edges_cap < stamps_cap ? edges_cap : stamps_cap;
	if ((cg->nedges + 1) * 2 > b->nslots) {
		size_t n = b->nslots ? b->nslots * 2 : 512;
		uint32_t *old = b->slots;

		b->slots = calloc(n, sizeof(*b->slots));
		if (!b->slots) {
			b->slots = old;
			return -ENOMEM;
		}
		b->nslots = n;
		for (size_t i = 0; i < cg->nedges; i++)
			b->slots[edge_slot(b, cg->edges[i].caller, cg->edges[i].callee)] =
				(uint32_t)i + 1;
		free(old);
	}
	return 0;
}

/* The edge caller -> callee, created on first use. Its index, or -ENOMEM. */
static int64_t find_edge(struct builder *b, uint32_t caller, uint32_t callee)
{
	struct callgraph *cg = b->cg;
	size_t i;

	if (reserve_edge(b))
		return -ENOMEM;
	i = edge_slot(b, caller, callee);
	if (!b->slots[i]) {
		if (cg->nedges >= NONE - 1)
			return -ENOMEM;
		cg->edges[cg->nedges] = (struct cg_edge){ .caller = caller, .callee = callee };
		b->edge_stamp[cg->nedges] = 0;
		b->slots[i] = (uint32_t)++cg->nedges;
	}
	return b->slots[i] - 1;
}

/* A Python frame whose line the line table did not give (markers and
 * roots have none to give). */
static bool has_unknown_line(const struct profile *p, const struct pstack *ps)
{
	for (uint32_t i = 0; i < ps->nframes; i++)
		if (ps->frames[i].line < 0 &&
		    strcmp(p->funcs[ps->frames[i].func].filename, CG_SYNTH_FILENAME))
			return true;
	return false;
}

static int add_stack(struct builder *b, const struct pstack *ps, uint64_t stamp)
{
	struct callgraph *cg = b->cg;
	size_t n = 0;
	int64_t e = -1;

	b->path[n++] = 0;
	if (ps->flags & PSTACK_TRUNCATED)
		b->path[n++] = b->truncated;
	for (uint32_t i = 0; i < ps->nframes; i++)
		b->path[n++] = b->func_of[ps->frames[i].func];

	for (size_t i = 0; i < n; i++) {
		uint32_t f = b->path[i];

		if (b->func_stamp[f] != stamp) {
			b->func_stamp[f] = stamp;
			cg->funcs[f].cum += ps->count;
		}
		if (!i)
			continue;
		e = find_edge(b, b->path[i - 1], f);
		if (e < 0)
			return -ENOMEM;
		if (b->edge_stamp[e] != stamp) {
			b->edge_stamp[e] = stamp;
			cg->edges[e].samples += ps->count;
		}
	}
	/* n >= 2: profile_add_stack refuses empty stacks */
	cg->funcs[b->path[n - 1]].self += ps->count;
	cg->edges[e].self += ps->count;
	cg->total += ps->count;
	if (ps->flags & PSTACK_TRUNCATED)
		cg->truncated += ps->count;
	if (has_unknown_line(b->p, ps))
		cg->lines_unknown += ps->count;
	return 0;
}

static int cmp_edge(const void *a, const void *b)
{
	const struct cg_edge *x = a, *y = b;
	int c = cmp_u64(x->callee, y->callee);

	return c ? c : cmp_u64(x->caller, y->caller);
}

static void index_callers(struct callgraph *cg)
{
	if (!cg->nedges)
		return;
	qsort(cg->edges, cg->nedges, sizeof(*cg->edges), cmp_edge);
	for (size_t i = cg->nedges; i-- > 0;) {
		struct cg_func *f = &cg->funcs[cg->edges[i].callee];

		f->callers = i;
		f->ncallers++;
	}
}

struct callgraph *callgraph_build(const struct profile *p)
{
	struct builder b = { .p = p, .truncated = NONE };
	struct callgraph *cg = calloc(1, sizeof(*cg));
	struct callgraph *ret = NULL;
	size_t maxframes = 0;

	if (!cg)
		return NULL;
	b.cg = cg;
	if (group_functions(&b))
		goto cleanup;
	for (size_t i = 0; i < p->nstacks; i++)
		if (p->stacks[i]->nframes > maxframes)
			maxframes = p->stacks[i]->nframes;
	b.path = malloc((maxframes + 2) * sizeof(*b.path));
	if (!b.path)
		goto cleanup;
	for (size_t i = 0; i < p->nstacks; i++)
		if (add_stack(&b, p->stacks[i], i + 1))
			goto cleanup;
	/* the root is on every stack, even when there are none */
	cg->funcs[0].cum = cg->total;
	index_callers(cg);
	cg->func_of = b.func_of;
	b.func_of = NULL;
	ret = cg;
	cg = NULL;
cleanup:
	free(b.func_of);
	free(b.func_stamp);
	free(b.edge_stamp);
	free(b.slots);
	free(b.path);
	callgraph_free(cg);
	return ret;
}

void callgraph_free(struct callgraph *cg)
{
	if (!cg)
		return;
	free(cg->funcs);
	free(cg->edges);
	free(cg->func_of);
	free(cg);
}
