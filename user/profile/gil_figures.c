// SPDX-License-Identifier: BSD-2-Clause
#include "profile/gil_figures.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum gil_class {
	GC_HELD = 0,
	GC_NOT_HELD,
	GC_WAIT,
	GC_OFF_CPU,
	GC_DISABLED,
};

/* What a profile function says about the samples it ends. */
static enum gil_class func_class(const struct pfunc *f)
{
	if (strcmp(f->filename, "~") || f->firstlineno)
		return GC_HELD;
	if (!strcmp(f->name, PROFILE_GIL_WAIT_NAME))
		return GC_WAIT;
	if (!strcmp(f->name, PROFILE_NO_GIL_NAME))
		return GC_NOT_HELD;
	if (!strcmp(f->name, PROFILE_GIL_DISABLED_NAME))
		return GC_DISABLED;
	if (!strcmp(f->name, PROFILE_OFF_CPU_NAME) || !strcmp(f->name, PROFILE_PREEMPTED_NAME))
		return GC_OFF_CPU;
	return GC_HELD;
}

static void add(struct gil_figure *f, enum gil_class c, uint64_t n)
{
	if (c == GC_HELD)
		f->held += n;
	else if (c == GC_NOT_HELD)
		f->not_held += n;
	else if (c == GC_WAIT)
		f->wait += n;
	else if (c == GC_DISABLED)
		f->disabled += n;
}

int gil_figures_build(const struct profile *p, const struct callgraph *cg, struct gil_figures *out)
{
	uint8_t *class_of = calloc(p->nfuncs + 1, 1);
	uint64_t *stamp = calloc(cg->nfuncs + 1, sizeof(*stamp));

	memset(out, 0, sizeof(*out));
	out->func = calloc(cg->nfuncs + 1, sizeof(*out->func));
	if (!class_of || !stamp || !out->func) {
		free(class_of);
		free(stamp);
		gil_figures_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->nfuncs; i++)
		class_of[i] = (uint8_t)func_class(&p->funcs[i]);
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *ps = p->stacks[i];
		enum gil_class c = GC_HELD;

		for (uint32_t j = 0; j < ps->nframes; j++)
			if (class_of[ps->frames[j].func] != GC_HELD)
				c = (enum gil_class)class_of[ps->frames[j].func];
		add(&out->total, c, ps->count);
		for (uint32_t j = 0; j < ps->nframes; j++) {
			uint32_t f = cg->func_of[ps->frames[j].func];

			if (f == CG_NONE || stamp[f] == i + 1)
				continue;
			stamp[f] = i + 1;
			add(&out->func[f], c, ps->count);
		}
	}
	free(class_of);
	free(stamp);
	return 0;
}

void gil_figures_free(struct gil_figures *g)
{
	free(g->func);
	g->func = NULL;
}
