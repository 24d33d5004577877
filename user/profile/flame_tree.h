/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A profile's stacks merged into one tree, the shape of a flame graph:
 * each node is a function called along one path from the root, wide in
 * proportion to the samples that had that path on their stack. Shared by
 * the SVG flame graph and the HTML report.
 */
#ifndef REFBPF_FLAME_TREE_H
#define REFBPF_FLAME_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

#define FLAME_ROOT UINT32_MAX	/* the func of the tree's root: all samples */

/*
 * What a frame is, for its colour. Native frames come with --native;
 * kernel frames have their colour kept for them.
 */
enum flame_kind {
	FLAME_PYTHON = 0,
	FLAME_SYNTHETIC,	/* all, <process ...>, <thread ...>, <truncated stack> */
	FLAME_NATIVE,
	FLAME_KERNEL,
};

struct flame_node {
	uint32_t func;		/* index into profile.funcs, FLAME_ROOT for the root */
	uint32_t parent;	/* index of the parent node; the root's is itself */
	uint32_t depth;		/* 0 for the root */
	uint64_t start;		/* samples left of it among its siblings' subtrees */
	uint64_t total;		/* samples with this path on their stack */
	uint64_t self;		/* of those, samples where it is the innermost frame */
	uint8_t kind;		/* enum flame_kind */
};

struct flame_tree {
	struct flame_node *nodes;	/* depth-first, children by function name */
	size_t n;
	uint32_t max_depth;
};

/* 0 or -ENOMEM. Truncated stacks hang under a "<truncated stack>" node. */
int flame_tree_build(const struct profile *p, struct flame_tree *out);
void flame_tree_free(struct flame_tree *t);

/* What a node shows: the function's qualified name, or the root's label. */
const char *flame_node_name(const struct profile *p, const struct flame_node *n);

/* The node's function; NULL for the root and "<truncated stack>". */
const struct pfunc *flame_node_func(const struct profile *p, const struct flame_node *n);

/* The kind's name as the SVG's class and the HTML report's data use it. */
const char *flame_kind_name(enum flame_kind kind);

/*
 * The frame's fill as a CSS colour: Python frames warm (hue 0-55), one
 * colour per file so a module's functions are spotted together; synthetic
 * frames grey; native blue and kernel green, by file as Python's. The
 * HTML report's script computes the same colours (user/output/assets/report.js).
 */
void flame_colour(enum flame_kind kind, const char *file, char *out, size_t len);

#endif /* REFBPF_FLAME_TREE_H */
