/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The call graph derived from a profile, shared by the text table and the
 * pstats writer. Functions are grouped by their pstats key (filename,
 * firstlineno, name): two profile functions with that key in common (say
 * two qualnames, or two processes) are one function here, as in cProfile.
 *
 * Every count is in samples, and a sample counts at most once for a
 * function and once for an edge, however often recursion repeats them.
 */
#ifndef REFBPF_CALLGRAPH_H
#define REFBPF_CALLGRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

enum cg_kind {
	CG_FUNC = 0,
	CG_ROOT,		/* caller of every outermost frame */
	CG_TRUNCATED,		/* between the root and a truncated stack */
};

/* Keys of the synthetic functions, in cProfile's style for non-Python code. */
#define CG_SYNTH_FILENAME "~"
#define CG_ROOT_NAME "<refbpf: all samples>"
#define CG_TRUNCATED_NAME "<truncated stack>"

struct cg_func {
	const char *filename;	/* borrowed from the profile */
	const char *name;	/* co_name: the pstats key */
	const char *qualname;	/* for display: co_qualname, else name */
	int firstlineno;
	int kind;		/* enum cg_kind */
	uint64_t self;		/* samples where it is the innermost frame */
	uint64_t cum;		/* samples where it is anywhere on the stack */
	size_t callers;		/* its incoming edges: edges[callers, callers + ncallers) */
	size_t ncallers;
};

struct cg_edge {
	uint32_t caller, callee;	/* indices into funcs */
	uint64_t samples;	/* samples where caller directly calls callee */
	uint64_t self;		/* of those, samples where callee is innermost */
};

struct callgraph {
	struct cg_func *funcs;	/* [0] is the root; sampled functions only */
	size_t nfuncs;
	struct cg_edge *edges;	/* sorted by (callee, caller) */
	size_t nedges;
	uint64_t total;		/* every sample: the root's cum */
	uint64_t truncated;	/* samples of truncated stacks */
	uint64_t lines_unknown;	/* samples with a Python frame on an unknown line */
	uint32_t *func_of;	/* profile function -> cg function; CG_NONE if unsampled */
};

#define CG_NONE UINT32_MAX

/* NULL on ENOMEM. The callgraph borrows strings: free it before the profile. */
struct callgraph *callgraph_build(const struct profile *p);
void callgraph_free(struct callgraph *cg);

#endif /* REFBPF_CALLGRAPH_H */
