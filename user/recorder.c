// SPDX-License-Identifier: BSD-2-Clause
#include "recorder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf_session.h"
#include "py_process.h"
#include "symbolizer.h"

enum rtarget_state {
	RT_ACTIVE,
	RT_EXITED,
	RT_REATTACHING,		/* exec'd: waiting for the new image's interpreter */
	RT_FAILED,		/* never profiled */
};

struct rtarget {
	pid_t pid;
	int state;
	struct py_process proc;
	struct symbolizer *sym;
	uint64_t samples;
	double reattach_deadline;
	char reason[256];
};

struct recorder {
	const struct recorder_opts *o;
	struct rtarget *t;
	size_t n;
	size_t active;		/* RT_ACTIVE or RT_REATTACHING */
	struct profile *prof;
	struct bpf_session *bpf;
	struct pframe frames[REFBPF_MAX_FRAMES];
	int fatal;		/* -errno from an event callback */
	double first_sample;	/* CLOCK_MONOTONIC of the first sample, 0 before */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct rtarget *find_target(struct recorder *r, pid_t pid)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->t[i].pid == pid)
			return &r->t[i];
	return NULL;
}

static int on_sample(struct recorder *r, const struct sample_event *ev, size_t size)
{
	struct rtarget *t = find_target(r, (pid_t)ev->pid);
	uint32_t n = ev->nframes;
	uint32_t flags = 0;

	if (!r->first_sample)
		r->first_sample = now_s();
	if (!t || t->state != RT_ACTIVE || n == 0 || n > REFBPF_MAX_FRAMES ||
	    size < offsetof(struct sample_event, frames) + n * sizeof(ev->frames[0]))
		return 0;
	/* BPF sends the innermost frame first; the profile stores root first. */
	for (uint32_t i = 0; i < n; i++) {
		int err = symbolizer_resolve(t->sym, &ev->frames[n - 1 - i], &r->frames[i]);

		if (err)
			return err;
	}
	if (ev->flags & SAMPLE_TRUNCATED)
		flags |= PSTACK_TRUNCATED;
	t->samples++;
	return profile_add_stack(r->prof, ev->pid, ev->tid, flags, r->frames, n, 1);
}

static void target_gone(struct recorder *r, struct rtarget *t)
{
	if (t->state == RT_ACTIVE || t->state == RT_REATTACHING) {
		r->active--;
		t->state = RT_EXITED;
	}
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct process_event *pe = data;
	struct rtarget *t;
	int err;

	if (size < sizeof(__u32))
		return 0;
	switch (*(const __u32 *)data) {
	case EVENT_SAMPLE:
		err = on_sample(r, data, size);
		if (err) {
			r->fatal = err;
			return err;
		}
		return 0;
	case EVENT_EXIT:
		if (size < sizeof(*pe))
			return 0;
		t = find_target(r, (pid_t)pe->pid);
		if (t)
			target_gone(r, t);
		return 0;
	case EVENT_EXEC:
		if (size < sizeof(*pe))
			return 0;
		t = find_target(r, (pid_t)pe->pid);
		if (t && t->state == RT_ACTIVE) {
			/* The old image's code addresses mean nothing now. */
			t->state = RT_REATTACHING;
			t->reattach_deadline = now_s() + r->o->attach_wait_s;
		}
		return 0;
	}
	return 0;
}

static int start_target(struct recorder *r, struct rtarget *t)
{
	int err;

	symbolizer_free(t->sym);
	t->sym = symbolizer_new(&t->proc, r->prof);
	if (!t->sym)
		return -ENOMEM;
	err = bpf_session_add_target(r->bpf, t->pid, &t->proc.layout.walk);
	if (err) {
		snprintf(t->reason, sizeof(t->reason), "cannot configure the BPF program: %s",
			 strerror(-err));
		return err;
	}
	if (r->o->verbose)
		fprintf(stderr, "refbpf: PID %d: Python %s (%s)%s\n", (int)t->pid, t->proc.version,
			t->proc.interp_path, t->proc.free_threaded ? ", free-threaded" : "");
	return 0;
}

/* An exec'd target: try once more to find an interpreter in the new image. */
static void retry_reattach(struct recorder *r, struct rtarget *t)
{
	struct py_process p;
	int status = py_process_discover(t->pid, 0, &p, t->reason, sizeof(t->reason));

	if (status == PY_OK) {
		py_process_free(&t->proc);
		t->proc = p;
		if (!start_target(r, t)) {
			t->state = RT_ACTIVE;
			return;
		}
	} else {
		py_process_free(&p);
	}
	if (status == PY_NO_PROCESS || now_s() >= t->reattach_deadline)
		target_gone(r, t);
}

static void record_targets(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = &r->t[i];
		const char *version = t->proc.version[0] ? t->proc.version : NULL;
		struct ptarget *pt;

		if (t->state == RT_FAILED) {
			profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, version,
					   t->proc.cmdline, t->reason);
			continue;
		}
		pt = profile_add_target(r->prof, t->pid,
					t->state == RT_EXITED ? PTARGET_EXITED : PTARGET_PROFILED,
					version, t->proc.cmdline, NULL);
		if (pt)
			pt->samples = t->samples;
	}
}

/* Discover every PID; none profilable is the only fatal case. */
static int discover_all(struct recorder *r)
{
	size_t ok = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = &r->t[i];
		int status;

		t->pid = r->o->pids[i];
		status = py_process_discover(t->pid, r->o->attach_wait_s, &t->proc, t->reason,
					     sizeof(t->reason));
		t->state = status == PY_OK ? RT_ACTIVE : RT_FAILED;
		ok += status == PY_OK;
	}
	if (ok)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)r->t[i].pid, r->t[i].reason);
	return -ESRCH;
}

static void recorder_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		symbolizer_free(r->t[i].sym);
		py_process_free(&r->t[i].proc);
	}
	free(r->t);
	bpf_session_close(r->bpf);
	free(r);
}

static void collect_counters(struct recorder *r)
{
	uint64_t errs[UNWIND_NR];

	if (bpf_session_unwind_errors(r->bpf, errs))
		return;
	for (int i = 0; i < UNWIND_NR && i < 8; i++)
		r->prof->unwind_errors[i] = errs[i];
	r->prof->lost_samples = errs[UNWIND_RINGBUF_FULL];
	if (!r->o->verbose)
		return;
	for (size_t i = 0; i < r->n; i++) {
		const struct symbolizer_stats *st;

		if (!r->t[i].sym)
			continue;
		st = symbolizer_stats(r->t[i].sym);
		fprintf(stderr,
			"refbpf: PID %d: %llu frames resolved, %llu code objects read, %llu stale, %llu unreadable\n",
			(int)r->t[i].pid, (unsigned long long)st->lookups,
			(unsigned long long)st->misses, (unsigned long long)st->stale,
			(unsigned long long)st->unreadable);
	}
}

int recorder_run(const struct recorder_opts *o, struct profile *prof)
{
	struct recorder *r = calloc(1, sizeof(*r));
	char why[512];
	double start, now;
	int err = 0;

	if (!r)
		return -ENOMEM;
	r->o = o;
	r->prof = prof;
	r->n = o->npids;
	r->t = calloc(o->npids, sizeof(*r->t));
	if (!r->t) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = discover_all(r);
	if (err)
		goto cleanup;
	err = bpf_session_open(&r->bpf, o->rate_hz, o->btf_path, o->verbose, on_event, r, why,
			       sizeof(why));
	if (err) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = &r->t[i];

		if (t->state != RT_ACTIVE)
			continue;
		if (start_target(r, t)) {
			t->state = RT_FAILED;
			continue;
		}
		r->active++;
	}
	prof->rate_hz = o->rate_hz;
	prof->period_s = 1.0 / o->rate_hz;
	start = now_s();
	if (o->verbose)
		fprintf(stderr, "refbpf: attached %.1f ms after start\n", (start - o->t0) * 1e3);
	now = start;
	while (!*o->stop && r->active > 0) {
		if (o->duration_s > 0 && now - start >= o->duration_s)
			break;
		err = bpf_session_poll(r->bpf, 50);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "refbpf: reading samples failed: %s\n",
				strerror(r->fatal ? -r->fatal : -err));
			r->fatal = r->fatal ? r->fatal : err;
			break;
		}
		for (size_t i = 0; i < r->n; i++)
			if (r->t[i].state == RT_REATTACHING)
				retry_reattach(r, &r->t[i]);
		now = now_s();
	}
	/* Samples still in the ring buffer are part of the profile. */
	if (!r->fatal)
		bpf_session_drain(r->bpf);
	prof->duration_s = now_s() - start;
	if (o->verbose && r->first_sample)
		fprintf(stderr, "refbpf: first sample %.1f ms after start\n",
			(r->first_sample - o->t0) * 1e3);
	collect_counters(r);
	record_targets(r);
	/* What was recorded before a failure is still written. */
	err = r->fatal ? 1 : 0;
cleanup:
	recorder_free(r);
	return err;
}
