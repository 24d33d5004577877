// SPDX-License-Identifier: BSD-2-Clause
#include "profile_roots.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread_label.h"

/* Long command lines are cut: a root frame is a label, not a record. */
#define ROOT_CMDLINE_MAX 60

size_t profile_sampled_processes(const struct profile *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->ntargets; i++)
		n += p->targets[i].samples > 0;
	return n;
}

static int64_t process_root(struct profile *dst, const struct profile *src, uint32_t pid)
{
	const struct ptarget *t = profile_find_target((struct profile *)src, pid);
	char name[128];

	if (t && t->cmdline)
		snprintf(name, sizeof(name), "<process %u %.*s%s>", pid, ROOT_CMDLINE_MAX,
			 t->cmdline, strlen(t->cmdline) > ROOT_CMDLINE_MAX ? "..." : "");
	else
		snprintf(name, sizeof(name), "<process %u>", pid);
	return profile_intern_func(dst, "~", 0, name, name);
}

static int64_t thread_root(struct profile *dst, const struct profile *src, uint32_t pid,
			   uint32_t tid)
{
	const struct pthread *th = profile_find_thread((struct profile *)src, pid, tid);
	char name[THREAD_LABEL_MAX + 32], label[THREAD_LABEL_MAX];

	if (tid == PROFILE_MERGED_TID) {
		snprintf(name, sizeof(name), "<%s>", PROFILE_MERGED_THREAD_NAME);
	} else {
		thread_label(label, sizeof(label), th ? th->name : NULL, th ? th->py_name : NULL);
		snprintf(name, sizeof(name), "<thread %u %s>", tid, label);
	}
	return profile_intern_func(dst, "~", 0, name, name);
}

static int copy_meta(struct profile *dst, const struct profile *src)
{
	for (size_t i = 0; i < src->nfuncs; i++) {
		const struct pfunc *f = &src->funcs[i];

		/* Interned in order: every function keeps its index. */
		if (profile_intern_func(dst, f->filename, f->firstlineno, f->name, f->qualname) !=
		    (int64_t)i)
			return -ENOMEM;
	}
	for (size_t i = 0; i < src->ntargets; i++) {
		const struct ptarget *t = &src->targets[i];

		struct ptarget *copy = profile_add_target(dst, t->pid, t->state, t->version,
							  t->cmdline, t->reason);

		if (copy)
			copy->ns_pid = t->ns_pid;
		if (!copy)
			return -ENOMEM;
	}
	memcpy(dst->unwind_errors, src->unwind_errors, sizeof(dst->unwind_errors));
	dst->lost_samples = src->lost_samples;
	dst->duration_s = src->duration_s;
	dst->period_s = src->period_s;
	dst->rate_hz = src->rate_hz;
	dst->mode = src->mode;
	dst->gil = src->gil;
	dst->kernel = src->kernel;
	dst->merged_threads = src->merged_threads;
	return 0;
}

struct profile *profile_with_roots(const struct profile *src, bool per_process, bool per_thread)
{
	struct profile *dst = profile_new();
	struct pframe *frames = NULL;
	size_t cap = 0;
	int err;

	if (!dst)
		return NULL;
	err = copy_meta(dst, src);
	for (size_t i = 0; !err && i < src->nstacks; i++) {
		const struct pstack *s = src->stacks[i];
		size_t n = 0;

		if (s->nframes + 2 > cap) {
			cap = s->nframes + 2;
			free(frames);
			frames = malloc(cap * sizeof(*frames));
			if (!frames) {
				err = -ENOMEM;
				break;
			}
		}
		if (per_process) {
			int64_t f = process_root(dst, src, s->pid);

			if (f < 0) {
				err = -ENOMEM;
				break;
			}
			frames[n++] = (struct pframe){ (uint32_t)f, -1 };
		}
		if (per_thread) {
			int64_t f = thread_root(dst, src, s->pid, s->tid);

			if (f < 0) {
				err = -ENOMEM;
				break;
			}
			frames[n++] = (struct pframe){ (uint32_t)f, -1 };
		}
		memcpy(frames + n, s->frames, s->nframes * sizeof(*frames));
		err = profile_add_stack(dst, s->pid, s->tid, s->flags, frames, (uint32_t)n + s->nframes,
					s->count);
	}
	for (size_t i = 0; !err && i < src->nthreads; i++) {
		struct pthread *th = profile_find_thread(dst, src->threads[i].pid, src->threads[i].tid);

		if (th) {
			memcpy(th->name, src->threads[i].name, sizeof(th->name));
			memcpy(th->py_name, src->threads[i].py_name, sizeof(th->py_name));
		}
	}
	free(frames);
	if (err) {
		profile_free(dst);
		return NULL;
	}
	return dst;
}
