/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --gil figures per function, from the marker leaves the recorder puts on
 * each stack: `<GIL wait>` (waiting to take the GIL), `<no GIL>` (on CPU
 * without it), `<GIL disabled>` (on CPU in a free-threaded interpreter
 * whose GIL is off), `<off-CPU>` or `<preempted>` (wall mode: off CPU for
 * another reason); a
 * stack without a marker was on CPU holding the GIL. Each sample counts
 * once per function, however deep its recursion, as in the call graph.
 */
#ifndef REFBPF_GIL_FIGURES_H
#define REFBPF_GIL_FIGURES_H

#include <stdint.h>

#include "profile/callgraph.h"
#include "profile/profile.h"

struct gil_figure {
	uint64_t held;		/* on CPU, holding the GIL */
	uint64_t not_held;	/* on CPU, without it */
	uint64_t wait;		/* waiting for it (on or off CPU) */
	uint64_t disabled;	/* on CPU, the interpreter's GIL switched off */
};

struct gil_figures {
	struct gil_figure *func;	/* per call-graph function */
	struct gil_figure total;	/* over every sample */
};

/* 0, or -ENOMEM. Free with gil_figures_free. */
int gil_figures_build(const struct profile *p, const struct callgraph *cg, struct gil_figures *out);
void gil_figures_free(struct gil_figures *g);

#endif /* REFBPF_GIL_FIGURES_H */
