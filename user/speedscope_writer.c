// SPDX-License-Identifier: BSD-2-Clause
#include "speedscope_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "callgraph.h"
#include "json_writer.h"
#include "thread_label.h"

#define SCHEMA_URL "https://www.speedscope.app/file-format-schema.json"
/* PIDs named in the file's title before "..." */
#define TITLE_MAX_PIDS 4

/* A thread's stacks: order[start, end). */
struct thread_group {
	uint32_t pid, tid;
	size_t start, end;
	uint64_t samples;
};

struct ctx {
	const struct profile *p;
	const struct pstack **order;	/* stacks sorted by (pid, tid, frames) */
	struct thread_group *groups;
	size_t ngroups;
	uint64_t period_ns;		/* 0: unknown, weights are counts */
	bool truncated;			/* some stack was: the marker frame is needed */
};

/* The frame index at depth i of a stack: the truncation marker, if any, first. */
static uint32_t frame_at(const struct profile *p, const struct pstack *s, uint32_t i)
{
	if (s->flags & PSTACK_TRUNCATED) {
		if (!i)
			return (uint32_t)p->nfuncs;
		i--;
	}
	return s->frames[i].func;
}

static uint32_t depth(const struct pstack *s)
{
	return s->nframes + !!(s->flags & PSTACK_TRUNCATED);
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

/* By frames (functions only), root first; 0 when they render the same. */
static int cmp_frames(const struct profile *p, const struct pstack *a, const struct pstack *b)
{
	uint32_t na = depth(a), nb = depth(b);

	for (uint32_t i = 0; i < na && i < nb; i++) {
		int c = cmp_u32(frame_at(p, a, i), frame_at(p, b, i));

		if (c)
			return c;
	}
	return cmp_u32(na, nb);
}

static int cmp_stack(const void *x, const void *y, void *arg)
{
	const struct pstack *a = *(const struct pstack *const *)x;
	const struct pstack *b = *(const struct pstack *const *)y;

	if (a->pid != b->pid)
		return cmp_u32(a->pid, b->pid);
	if (a->tid != b->tid)
		return cmp_u32(a->tid, b->tid);
	return cmp_frames(arg, a, b);
}

static int group_threads(struct ctx *c)
{
	const struct profile *p = c->p;

	c->order = malloc((p->nstacks + 1) * sizeof(*c->order));
	c->groups = calloc(p->nstacks + 1, sizeof(*c->groups));
	if (!c->order || !c->groups)
		return -ENOMEM;
	for (size_t i = 0; i < p->nstacks; i++)
		c->order[i] = p->stacks[i];
	qsort_r(c->order, p->nstacks, sizeof(*c->order), cmp_stack, (void *)p);
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = c->order[i];
		struct thread_group *g = c->ngroups ? &c->groups[c->ngroups - 1] : NULL;

		if (!g || g->pid != s->pid || g->tid != s->tid) {
			g = &c->groups[c->ngroups++];
			*g = (struct thread_group){ .pid = s->pid, .tid = s->tid, .start = i };
		}
		g->end = i + 1;
		g->samples += s->count;
		c->truncated |= s->flags & PSTACK_TRUNCATED;
	}
	return 0;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* A weight: exact decimal seconds from nanoseconds, or the count itself. */
static void write_weight(struct json_writer *w, const struct ctx *c, uint64_t count)
{
	uint64_t ns = mul_sat(count, c->period_ns);
	char buf[48];
	int n;

	if (!c->period_ns) {
		json_uint(w, count);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%" PRIu64, ns / 1000000000);
	if (ns % 1000000000) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%09" PRIu64, ns % 1000000000);
		while (buf[n - 1] == '0')
			buf[--n] = '\0';
	}
	json_number(w, buf);
}

static bool is_synthetic(const struct pfunc *f)
{
	return !strcmp(f->filename, CG_SYNTH_FILENAME) && f->firstlineno == 0;
}

static void write_frames(struct json_writer *w, const struct profile *p, bool truncated)
{
	json_key(w, "frames");
	json_array_start(w);
	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct pfunc *f = &p->funcs[i];

		json_object_start(w);
		json_key(w, "name");
		json_string(w, f->qualname[0] ? f->qualname : f->name);
		if (!is_synthetic(f)) {
			json_key(w, "file");
			json_string(w, f->filename);
			json_key(w, "line");
			json_int(w, f->firstlineno);
		}
		json_object_end(w);
	}
	/* index nfuncs: the marker above truncated stacks */
	if (truncated) {
		json_object_start(w);
		json_key(w, "name");
		json_string(w, CG_TRUNCATED_NAME);
		json_object_end(w);
	}
	json_array_end(w);
}

static void thread_name(char *buf, size_t n, const struct profile *p, const struct thread_group *g)
{
	const struct pthread *th = profile_find_thread((struct profile *)p, g->pid, g->tid);

	char label[THREAD_LABEL_MAX];

	if (g->tid == PROFILE_MERGED_TID)
		snprintf(buf, n, "PID %u <%s>", g->pid, PROFILE_MERGED_THREAD_NAME);
	else if (th && (th->name[0] || th->py_name[0]))
		snprintf(buf, n, "PID %u %s (tid %u)", g->pid,
			 (thread_label(label, sizeof(label), th->name, th->py_name), label), g->tid);
	else
		snprintf(buf, n, "PID %u (tid %u)", g->pid, g->tid);
}

static void write_profile(struct json_writer *w, const struct ctx *c, const char *name,
			  const struct thread_group *g)
{
	json_object_start(w);
	json_key(w, "type");
	json_string(w, "sampled");
	json_key(w, "name");
	json_string(w, name);
	json_key(w, "unit");
	json_string(w, c->period_ns ? "seconds" : "none");
	json_key(w, "startValue");
	json_uint(w, 0);
	json_key(w, "endValue");
	write_weight(w, c, g->samples);
	json_key(w, "samples");
	json_array_start(w);
	for (size_t i = g->start; i < g->end; i++) {
		const struct pstack *s = c->order[i];

		/* the first of a run of stacks with the same frames writes it */
		if (i > g->start && !cmp_frames(c->p, c->order[i - 1], s))
			continue;
		json_array_start(w);
		for (uint32_t k = 0; k < depth(s); k++)
			json_uint(w, frame_at(c->p, s, k));
		json_array_end(w);
	}
	json_array_end(w);
	json_key(w, "weights");
	json_array_start(w);
	for (size_t i = g->start; i < g->end;) {
		uint64_t count = 0;
		size_t j = i;

		for (; j < g->end && !cmp_frames(c->p, c->order[i], c->order[j]); j++)
			count += c->order[j]->count;
		write_weight(w, c, count);
		i = j;
	}
	json_array_end(w);
	json_object_end(w);
}

static void write_title(struct json_writer *w, const struct profile *p)
{
	char buf[128];
	size_t n = 0, shown = 0;

	n += (size_t)snprintf(buf, sizeof(buf), "refbpf");
	for (size_t i = 0; i < p->ntargets && n < sizeof(buf); i++) {
		if (!p->targets[i].samples)
			continue;
		if (shown == TITLE_MAX_PIDS) {
			snprintf(buf + n, sizeof(buf) - n, ", ...");
			break;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u", shown ? ", " : ": PID ",
				      p->targets[i].pid);
		shown++;
	}
	json_key(w, "name");
	json_string(w, buf);
}

static void write_file(struct json_writer *w, const struct ctx *c)
{
	struct thread_group none = { 0 };
	size_t active = 0;
	char name[THREAD_LABEL_MAX + 48];

	for (size_t i = 1; i < c->ngroups; i++)
		if (c->groups[i].samples > c->groups[active].samples)
			active = i;
	json_object_start(w);
	json_key(w, "$schema");
	json_string(w, SCHEMA_URL);
	json_key(w, "exporter");
	json_string(w, "refbpf");
	write_title(w, c->p);
	json_key(w, "activeProfileIndex");
	json_uint(w, active);
	json_key(w, "shared");
	json_object_start(w);
	write_frames(w, c->p, c->truncated);
	json_object_end(w);
	json_key(w, "profiles");
	json_array_start(w);
	/* speedscope needs a profile to open the file at all */
	if (!c->ngroups)
		write_profile(w, c, "no samples", &none);
	for (size_t i = 0; i < c->ngroups; i++) {
		thread_name(name, sizeof(name), c->p, &c->groups[i]);
		write_profile(w, c, name, &c->groups[i]);
	}
	json_array_end(w);
	json_object_end(w);
}

static int emit_json(FILE *f, void *ctx)
{
	struct json_writer w;
	int err;

	json_init(&w, f);
	write_file(&w, ctx);
	err = json_error(&w);
	if (!err && fputc('\n', f) == EOF)
		err = errno ? -errno : -EIO;
	return err;
}

int speedscope_write(const char *path, const struct profile *p)
{
	struct ctx c = { .p = p, .period_ns = profile_period_ns(p) };
	int err;

	err = group_threads(&c);
	if (!err)
		err = atomic_write(path, emit_json, &c);
	free(c.order);
	free(c.groups);
	return err;
}
