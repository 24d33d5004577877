// SPDX-License-Identifier: BSD-2-Clause
/*
 * The tree is built with a temporary pointer structure (children found by
 * function index in a small hash per node), then flattened depth-first
 * with children ordered by name, so the output does not depend on the
 * order samples arrived in.
 */
#include "profile/flame_tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

#define FLAME_TRUNCATED (UINT32_MAX - 1)

struct build_node {
	uint32_t func;
	uint64_t total, self;
	struct build_node **kids;
	size_t nkids, capkids;
};

static struct build_node *child(struct build_node *n, uint32_t func)
{
	struct build_node *k;

	/* Most nodes have a few children: a linear scan beats a hash. */
	for (size_t i = 0; i < n->nkids; i++)
		if (n->kids[i]->func == func)
			return n->kids[i];
	if (GROW(n->kids, n->capkids, n->nkids, 4))
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->func = func;
	n->kids[n->nkids++] = k;
	return k;
}

static void free_build(struct build_node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		free_build(n->kids[i]);
	free(n->kids);
	free(n);
}

static const struct profile *sort_profile;

static const char *func_name(const struct profile *p, uint32_t func)
{
	if (func == FLAME_ROOT)
		return "all";
	if (func == FLAME_TRUNCATED)
		return "<truncated stack>";
	return p->funcs[func].qualname ? p->funcs[func].qualname : p->funcs[func].name;
}

static int cmp_kids(const void *a, const void *b)
{
	const struct build_node *x = *(const struct build_node *const *)a;
	const struct build_node *y = *(const struct build_node *const *)b;
	int c = strcmp(func_name(sort_profile, x->func), func_name(sort_profile, y->func));

	if (c)
		return c;
	return x->func < y->func ? -1 : x->func > y->func;
}

/* Synthetic functions live in cProfile's "~" file, as the call graph's;
 * so do native and kernel ones, told apart by their names (pfunc_kind). */
static enum flame_kind func_kind(const struct profile *p, uint32_t func)
{
	if (func == FLAME_ROOT || func == FLAME_TRUNCATED)
		return FLAME_SYNTHETIC;
	switch (pfunc_kind(&p->funcs[func])) {
	case PFUNC_PYTHON:
		return FLAME_PYTHON;
	case PFUNC_NATIVE:
		return FLAME_NATIVE;
	case PFUNC_KERNEL:
		return FLAME_KERNEL;
	case PFUNC_SYNTHETIC:
		break;
	}
	return FLAME_SYNTHETIC;
}

static size_t count_nodes(const struct build_node *n)
{
	size_t c = 1;

	for (size_t i = 0; i < n->nkids; i++)
		c += count_nodes(n->kids[i]);
	return c;
}

static void flatten(const struct profile *p, struct build_node *n, uint32_t parent,
		    uint32_t depth, uint64_t start, struct flame_tree *t)
{
	uint32_t me = (uint32_t)t->n;
	struct flame_node *fn = &t->nodes[t->n++];
	uint64_t at = start;

	fn->func = n->func;
	fn->parent = depth ? parent : me;
	fn->depth = depth;
	fn->start = start;
	fn->total = n->total;
	fn->self = n->self;
	fn->kind = (uint8_t)func_kind(p, n->func);
	if (depth > t->max_depth)
		t->max_depth = depth;
	sort_profile = p;
	if (n->nkids)	/* a leaf's kids is NULL, which qsort may not take */
		qsort(n->kids, n->nkids, sizeof(*n->kids), cmp_kids);
	for (size_t i = 0; i < n->nkids; i++) {
		flatten(p, n->kids[i], me, depth + 1, at, t);
		at += n->kids[i]->total;
	}
}

int flame_tree_build(const struct profile *p, struct flame_tree *out)
{
	struct build_node *root = calloc(1, sizeof(*root));
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -ENOMEM;
	root->func = FLAME_ROOT;
	for (size_t i = 0; i < p->nstacks && !err; i++) {
		const struct pstack *s = p->stacks[i];
		struct build_node *n = root;

		root->total += s->count;
		if (s->flags & PSTACK_TRUNCATED) {
			n = child(n, FLAME_TRUNCATED);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			n->total += s->count;
		}
		for (uint32_t k = 0; k < s->nframes; k++) {
			n = child(n, s->frames[k].func);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			n->total += s->count;
		}
		if (!err)
			n->self += s->count;
	}
	if (!err) {
		size_t count = count_nodes(root);

		out->nodes = calloc(count, sizeof(*out->nodes));
		if (!out->nodes)
			err = -ENOMEM;
		else
			flatten(p, root, 0, 0, 0, out);
	}
	free_build(root);
	return err;
}

void flame_tree_free(struct flame_tree *t)
{
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

const char *flame_node_name(const struct profile *p, const struct flame_node *n)
{
	return func_name(p, n->func);
}

const struct pfunc *flame_node_func(const struct profile *p, const struct flame_node *n)
{
	return n->func == FLAME_ROOT || n->func == FLAME_TRUNCATED ? NULL : &p->funcs[n->func];
}

const char *flame_kind_name(enum flame_kind kind)
{
	static const char *const names[] = {
		[FLAME_PYTHON] = "py", [FLAME_SYNTHETIC] = "synth",
		[FLAME_NATIVE] = "native", [FLAME_KERNEL] = "kernel",
	};

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "py";
}

void flame_colour(enum flame_kind kind, const char *file, char *out, size_t len)
{
	/* base hue and hue range per kind; saturation and lightness vary too */
	static const unsigned int hue[][2] = {
		[FLAME_PYTHON] = { 0, 56 }, [FLAME_NATIVE] = { 195, 40 },
		[FLAME_KERNEL] = { 95, 40 },
	};
	uint32_t h = 2166136261u;	/* FNV-1a of the file name */

	if (kind == FLAME_SYNTHETIC || (unsigned int)kind >= sizeof(hue) / sizeof(hue[0])) {
		snprintf(out, len, "hsl(220,10%%,78%%)");
		return;
	}
	for (const unsigned char *c = (const unsigned char *)(file ? file : ""); *c; c++)
		h = (h ^ *c) * 16777619u;
	snprintf(out, len, "hsl(%u,%u%%,%u%%)", hue[kind][0] + h % hue[kind][1],
		 65 + (h >> 8) % 20, 58 + (h >> 16) % 12);
}
