// SPDX-License-Identifier: BSD-2-Clause
/*
 * The recording loop. Targets come from the command line, and with -C from
 * the fork events BPF reports for their descendants. A forked child of a
 * Python target is sampled from its first instruction (BPF copies the
 * parent's layout); an exec'd one is re-discovered as soon as its new
 * interpreter has started.
 */
#include "record/recorder_private.h"
#include "record/sample_period.h"

int rec_on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct process_event *pe = data;
	struct rtarget *t;
	int err;

	if (size < sizeof(__u32))
		return 0;
	switch (*(const __u32 *)data) {
	case EVENT_SAMPLE:
	case EVENT_OFF_CPU:	/* a switch-out's stack: a sample with a time to come */
		err = rec_on_sample(r, data, size);
		if (err) {
			r->fatal = err;
			return err;
		}
		return 0;
	case EVENT_ON_CPU:
		if (size < sizeof(struct on_cpu_event) || !r->off_cpu)
			return 0;
		err = off_cpu_return(r->off_cpu, ((const struct on_cpu_event *)data)->tid,
				     ((const struct on_cpu_event *)data)->time_ns);
		if (err)
			r->fatal = err;
		return err;
	case EVENT_NATIVE_STACK:
		err = rec_on_native_stack(r, data, size);
		if (err)
			r->fatal = err;
		return err;
	case EVENT_EXIT:
		if (size < sizeof(*pe))
			return 0;
		if (r->off_cpu)
			off_cpu_forget_process(r->off_cpu, pe->pid);
		t = rec_find_target(r, (pid_t)pe->pid);
		if (t && t->state != RT_FAILED)
			rec_set_state(r, t, RT_EXITED);
		return 0;
	case EVENT_EXEC:
		if (size < sizeof(*pe))
			return 0;
		r->exec_poll_until = monotonic_s() + EXEC_POLL_AFTER_S;
		r->execs_read++;
		if (r->off_cpu)
			off_cpu_forget_process(r->off_cpu, pe->pid);
		t = rec_find_target(r, (pid_t)pe->pid);
		if (t && (t->state == RT_ACTIVE || t->state == RT_WATCHING ||
			  t->state == RT_DISCOVERING)) {
			/* a new image: its interpreter starts now, and it gets
			 * its own time to start (a shell that execs Python
			 * near the end of its own is looked at as long) */
			rec_begin_discovery(r, t);
			t->image_start_s = t->discover_start;
		} else if (r->o->all) {
			/* --all: any exec may start a Python. */
			t = rec_add_target(r, (pid_t)pe->pid);
			if (!t)
				return r->fatal = -ENOMEM;
			t->implicit = true;
			rec_begin_discovery(r, t);
			t->image_start_s = t->discover_start;
		}
		return 0;
	case EVENT_FORK:
		if (size < sizeof(*pe))
			return 0;
		rec_on_fork(r, (pid_t)pe->pid, (pid_t)pe->ppid, pe->exit_code);
		return r->fatal;
	}
	return 0;
}

/* How long the loop may sleep: until the next thing it must do on time. */
static int poll_timeout_ms(const struct recorder *r, double now, double start,
			   const double *deadlines, size_t n)
{
	double wait = r->discovering || now < r->exec_poll_until ? DISCOVERY_POLL_MS / 1e3 :
								   IDLE_POLL_MS / 1e3;

	if (r->o->duration_s > 0 && start + r->o->duration_s - now < wait)
		wait = start + r->o->duration_s - now;
	if (r->o->every_s > 0 && r->window_start + r->o->every_s - now < wait)
		wait = r->window_start + r->o->every_s - now;
	for (size_t i = 0; i < n; i++)
		if (deadlines[i] - now < wait)
			wait = deadlines[i] - now;
	return wait > 0 ? (int)(wait * 1e3) + 1 : 0;
}

static void recorder_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		symbolizer_free(r->t[i]->sym);
		native_stacks_free(r->t[i]->native);
		py_process_free(&r->t[i]->proc);
		py_thread_names_free(&r->t[i]->names);
		int_table_clear(&r->t[i]->merged);
		free(r->t[i]);
	}
	free(r->t);
	native_samples_free(r->native);
	int_table_clear(&r->index);
	bpf_session_close(r->bpf);
	kernel_symbols_free(r->ksyms);
	off_cpu_free(r->off_cpu);
	interp_files_free(r->files);
	free(r);
}

/* --every: hand the window out, then start the next one empty. */
static int close_window(struct recorder *r, double now)
{
	int err;

	/* time off CPU so far belongs to this window */
	if (r->off_cpu && off_cpu_flush(r->off_cpu, monotonic_ns()))
		return -ENOMEM;
	rec_collect_counters(r);
	rec_refresh_all_thread_names(r);
	rec_record_targets(r);
	r->prof->duration_s = now - r->window_start;
	err = r->o->on_window(r->o->window_ctx, r->prof, r->window_wall);
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		t->window_base = t->samples;
		/* the next window counts its threads afresh */
		t->own_threads = 0;
		int_table_clear(&t->merged);
		/* Ended and listed: nothing more to say about it. */
		if (t->state == RT_EXITED || t->state == RT_FAILED)
			rec_set_state(r, t, RT_IGNORED);
	}
	profile_reset_samples(r->prof);
	r->window_start = now;
	r->window_wall = time(NULL);
	return err;
}

/* What the chosen features need before BPF loads: kernel symbols, the
 * off-CPU tracker, the native unwinder. */
static int recorder_prepare(struct recorder *r, struct profile *prof)
{
	const struct recorder_opts *o = r->o;

	prof->mode = o->features.off_cpu ? PROFILE_MODE_WALL : PROFILE_MODE_CPU;
	prof->gil = o->features.gil;
	prof->kernel = o->features.kernel;
	if (o->features.kernel) {
		r->ksyms = kernel_symbols_load(NULL);
		if (!r->ksyms) {
			int err = -errno;

			fprintf(stderr, "refbpf: --kernel: cannot read /proc/kallsyms: %s\n",
				strerror(-err));
			return err;
		}
		if (!kernel_symbols_count(r->ksyms))
			fputs("refbpf: --kernel: /proc/kallsyms shows no addresses (it needs CAP_SYSLOG): kernel frames will be named <kernel ?>\n",
			      stderr);
	}
	if (o->features.off_cpu) {
		r->off_cpu = off_cpu_new(sample_period_ns(o->rate_hz), rec_add_off_cpu, r);
		if (!r->off_cpu)
			return -ENOMEM;
	}
	if (o->features.native) {
		r->native = native_samples_new();
		if (!r->native)
			return -ENOMEM;
	}
	return 0;
}

/* Find the targets, load BPF and point it at them. */
static int recorder_attach(struct recorder *r)
{
	const struct recorder_opts *o = r->o;
	char why[512];
	int err;

	/* --all lists every process once BPF reports execs: one started
	 * while BPF loads (seconds on a busy machine) is missed otherwise. */
	err = o->all ? 0 : rec_discover_all(r);
	if (err)
		return err;
	struct bpf_session_opts so = {
		.rate_hz = o->rate_hz,
		.btf_path = o->btf_path,
		.watch_all = o->all,
		.verbose = o->verbose,
		.features = o->features,
		.on_event = rec_on_event,
		.ctx = r,
	};

	err = bpf_session_open(&r->bpf, &so, why, sizeof(why));
	if (err) {
		fprintf(stderr, "refbpf: %s\n", why);
		return err;
	}
	err = o->all ? rec_discover_all(r) : 0;
	if (err)
		return err;
	/* thread names, and wall mode's look at the threads already asleep */
	thread_list_prepare(o->features.off_cpu && (o->features.kernel || o->features.native));
	/* Watch first, then list the existing descendants: a child forked
	 * in between is reported by BPF and found by the scan alike. */
	err = rec_configure_bpf(r);
	if (!err && o->children)
		err = rec_add_existing_descendants(r);
	if (!err)
		err = rec_configure_bpf(r);
	if (err) {
		fprintf(stderr, "refbpf: cannot configure the targets: %s\n", strerror(-err));
		return err;
	}
	return o->on_watched ? o->on_watched(o->launch_ctx) : 0;
}

/* The recording itself: events as they come, and what is due on time
 * (discovery retries, thread names, liveness, --every windows, progress),
 * until the duration, a stop signal or the last target's exit. */
static void recorder_loop(struct recorder *r, double start)
{
	const struct recorder_opts *o = r->o;
	bool progress = !o->verbose && isatty(STDERR_FILENO);
	double now = start, next_progress = start, next_liveness = start + LIVENESS_EVERY_S;
	int err;

	while (!*o->stop && (r->live > 0 || o->all) && !r->fatal) {
		if (o->duration_s > 0 && now - start >= o->duration_s)
			break;
		if (o->launched && rec_launched_exited(r))
			break;
		double deadlines[] = { next_liveness, progress ? next_progress : next_liveness,
				       rec_names_deadline(r, next_liveness) };

		err = bpf_session_poll(r->bpf, poll_timeout_ms(r, now, start, deadlines, 3));
		if (err < 0 && err != -EINTR) {
			r->fatal = r->fatal ? r->fatal : err;
			break;
		}
		now = monotonic_s();
		for (size_t i = 0; i < r->n; i++) {
			struct rtarget *t = r->t[i];

			if (t->state == RT_DISCOVERING)
				rec_retry_discovery(r, t, now);
			else if (rec_names_due(t, now))
				rec_refresh_thread_names(r, t, now);
		}
		if (now >= next_liveness) {
			rec_check_liveness(r);
			next_liveness = now + LIVENESS_EVERY_S;
		}
		if (r->ignored >= COMPACT_AFTER && rec_forget_ignored(r))
			r->fatal = -ENOMEM;
		if (o->every_s > 0 && now - r->window_start >= o->every_s && close_window(r, now))
			r->fatal = r->fatal ? r->fatal : -EIO;
		if (progress && now >= next_progress) {
			rec_show_progress(r, now - start, false);
			next_progress = now + PROGRESS_EVERY_S;
		}
	}
	if (progress)
		rec_show_progress(r, now - start, true);
}

/* Everything collected goes into the profile, whatever ended the run:
 * the ring buffer's last samples, the threads still off CPU, the last
 * --every window. 0, or 1 when the recording failed part way. */
static int recorder_finish(struct recorder *r, struct profile *prof, double start)
{
	const struct recorder_opts *o = r->o;
	double now;

	if (o->all)
		rec_report_left_out(r);
	if (r->fatal)
		fprintf(stderr, "refbpf: recording stopped: %s\n", strerror(-r->fatal));
	else
		/* Samples still in the ring buffer are part of the profile. */
		bpf_session_drain(r->bpf);
	now = monotonic_s();
	prof->duration_s = now - start;
	/* Threads still off CPU: their time up to now counts. */
	if (r->off_cpu && o->every_s <= 0 && !r->fatal && off_cpu_flush(r->off_cpu, (uint64_t)(now * 1e9)))
		r->fatal = -ENOMEM;
	if (o->verbose && r->first_sample)
		fprintf(stderr, "refbpf: first sample %.1f ms after start\n",
			(r->first_sample - o->t0) * 1e3);
	if (o->every_s > 0) {
		/* The last, partial window: nothing collected is lost. */
		if (close_window(r, monotonic_s()) && !r->fatal)
			r->fatal = -EIO;
		return r->fatal ? 1 : 0;
	}
	rec_collect_counters(r);
	rec_refresh_all_thread_names(r);
	rec_record_targets(r);
	/* What was recorded before a failure is still written. */
	return r->fatal ? 1 : 0;
}

int recorder_run(const struct recorder_opts *o, struct profile *prof)
{
	struct recorder *r = calloc(1, sizeof(*r));
	double start;
	int err = 0;

	if (!r)
		return -ENOMEM;
	r->o = o;
	r->prof = prof;
	r->files = interp_files_new();
	if (!r->files) {
		free(r);
		return -ENOMEM;
	}
	err = recorder_prepare(r, prof);
	if (!err)
		err = recorder_attach(r);
	if (err)
		goto cleanup;
	prof->rate_hz = o->rate_hz;
	prof->period_s = sample_period_ns(o->rate_hz) / 1e9;
	start = monotonic_s();
	r->window_start = start;
	r->window_wall = time(NULL);
	for (size_t i = 0; r->off_cpu && i < r->n && !err; i++)
		if (r->t[i]->state == RT_ACTIVE)
			err = rec_seed_off_cpu(r, r->t[i], (uint64_t)(start * 1e9));
	if (err) {
		fprintf(stderr, "refbpf: %s\n", strerror(-err));
		goto cleanup;
	}
	if (o->verbose)
		fprintf(stderr, "refbpf: attached %.1f ms after start\n", (start - o->t0) * 1e3);
	recorder_loop(r, start);
	err = recorder_finish(r, prof, start);
cleanup:
	recorder_free(r);
	return err;
}
