// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF sends a sample's stack record right before the sample, from the same
 * program run on the same CPU; records of other CPUs may come in between.
 * So one pending record per CPU, matched to its sample by (time, thread).
 */
#include "native/native_samples.h"

#include <errno.h>
#include <stdlib.h>

#include "native/native_merge.h"

/* A mixed stack keeps its innermost frames, as a Python one does: every
 * reader of the profile (top, raw files) may rely on that bound. */
#define MIXED_MAX REFBPF_MAX_FRAMES
/* CPU numbers beyond this are not trusted to size an array. */
#define MAX_CPUS 4096

/* The native frames of the stack record a CPU sent last. */
struct pending {
	uint64_t time_ns;
	uint32_t tid;
	int n;			/* -1: none */
	struct native_frame frames[NATIVE_STACK_FRAMES];
};

struct native_samples {
	struct pending **cpus;
	size_t ncpus;
	struct python_frame py[REFBPF_MAX_FRAMES];
	struct pframe mixed[MIXED_MAX];
};

struct native_samples *native_samples_new(void)
{
	return calloc(1, sizeof(struct native_samples));
}

void native_samples_free(struct native_samples *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ncpus; i++)
		free(s->cpus[i]);
	free(s->cpus);
	free(s);
}

static struct pending *pending_for(struct native_samples *s, uint32_t cpu)
{
	if (cpu >= MAX_CPUS)
		return NULL;
	if (cpu >= s->ncpus) {
		struct pending **c = realloc(s->cpus, (cpu + 1) * sizeof(*c));

		if (!c)
			return NULL;
		for (size_t i = s->ncpus; i <= cpu; i++)
			c[i] = NULL;
		s->cpus = c;
		s->ncpus = cpu + 1;
	}
	if (!s->cpus[cpu]) {
		s->cpus[cpu] = malloc(sizeof(*s->cpus[cpu]));
		if (s->cpus[cpu])
			s->cpus[cpu]->n = -1;
	}
	return s->cpus[cpu];
}

int native_samples_add_stack(struct native_samples *s, struct native_stacks *ns,
			     const struct native_stack_event *ev, size_t size)
{
	struct pending *p;
	int n;

	if (size < offsetof(struct native_stack_event, stack))
		return 0;
	p = pending_for(s, ev->cpu);
	if (!p)
		return 0;
	p->n = -1;
	if (!ns)
		return 0;
	n = native_stacks_read(ns, ev, size, p->frames, NATIVE_STACK_FRAMES);
	if (n < 0)
		return n;
	p->time_ns = ev->time_ns;
	p->tid = ev->tid;
	p->n = n;
	return 0;
}

const struct pframe *native_samples_mix(struct native_samples *s, const struct sample_event *ev,
					const struct pframe *python, uint32_t *n, uint32_t *flags)
{
	struct pending *p = ev->cpu < s->ncpus ? s->cpus[ev->cpu] : NULL;
	bool truncated;
	size_t mixed;

	if (!p || p->n < 0 || p->time_ns != ev->time_ns || p->tid != ev->tid ||
	    *n > REFBPF_MAX_FRAMES)
		return python;
	/* ev->frames are innermost first, `python` root first. */
	for (uint32_t i = 0; i < *n; i++) {
		s->py[i].frame = python[*n - 1 - i];
		s->py[i].entry = ev->frames[i].flags & FRAME_ENTRY;
	}
	mixed = native_merge(s->py, *n, p->frames, (size_t)p->n, s->mixed, MIXED_MAX, &truncated);
	p->n = -1;
	if (truncated)
		*flags |= PSTACK_TRUNCATED;
	*n = (uint32_t)mixed;
	return s->mixed;
}
