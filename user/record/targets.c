// SPDX-License-Identifier: BSD-2-Clause
/* Targets: found, discovered, sampled, watched, exited, and handed to BPF. */
#include "record/recorder_private.h"

struct rtarget *rec_find_target(struct recorder *r, pid_t pid)
{
	uint32_t *at = int_table_find(&r->index, (uint32_t)pid);

	return at ? r->t[*at] : NULL;
}

/* `t` at `at` from now on (a PID seen again replaces its old record). */
static int index_target(struct recorder *r, size_t at)
{
	bool added;
	uint32_t *v = int_table_get(&r->index, (uint32_t)r->t[at]->pid, &added);

	if (!v)
		return -ENOMEM;
	*v = (uint32_t)at;
	return 0;
}

/* After targets were dropped from t: every index anew. */
static int reindex(struct recorder *r)
{
	int_table_clear(&r->index);
	for (size_t i = 0; i < r->n; i++)
		if (index_target(r, i))
			return -ENOMEM;
	return 0;
}

/* A PID seen again (reused after exit) gets a fresh record. */
struct rtarget *rec_add_target(struct recorder *r, pid_t pid)
{
	struct rtarget *t;

	if (GROW(r->t, r->cap, r->n, 16))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	t->proc.pid = pid;
	t->state = RT_FAILED;	/* not live until rec_set_state() says so */
	r->t[r->n] = t;
	if (index_target(r, r->n)) {
		free(t);
		return NULL;
	}
	r->n++;
	return t;
}

void rec_set_state(struct recorder *r, struct rtarget *t, int state)
{
	bool was_live = t->state != RT_EXITED && t->state != RT_FAILED && t->state != RT_IGNORED;
	bool is_live = state != RT_EXITED && state != RT_FAILED && state != RT_IGNORED;

	r->discovering += (state == RT_DISCOVERING) - (t->state == RT_DISCOVERING);
	r->ignored += (state == RT_IGNORED) - (t->state == RT_IGNORED);
	r->live += is_live - was_live;
	t->state = state;
}

/*
 * A process its user could not ptrace (ptrace_access.h), the reason in
 * t->reason: --all leaves it out and counts it, otherwise it is named in
 * the header. Whatever BPF holds for it goes at once.
 */
static void refuse(struct recorder *r, struct rtarget *t, int refusal)
{
	if (r->bpf)
		bpf_session_remove_target(r->bpf, t->pid);
	t->refused = true;
	if (t->implicit && !t->was_profiled) {
		r->left_out[refusal]++;
		rec_set_state(r, t, RT_IGNORED);
	} else {
		rec_set_state(r, t, RT_FAILED);
	}
}

/* Check again a process BPF may be sampling. True when it is refused now. */
static bool access_revoked(struct recorder *r, struct rtarget *t)
{
	char why[sizeof(t->reason)];
	int refusal = ptrace_access_check(t->pid, why, sizeof(why));

	if (refusal <= 0)
		return false;
	memcpy(t->reason, why, sizeof(why));
	refuse(r, t, refusal);
	return true;
}

/* A made switch-out, whose stack was read after the thread's wait began. */
static int on_seed(void *ctx, void *data, size_t size, uint64_t read_ns)
{
	struct recorder *r = ctx;
	int err = rec_on_event(r, data, size);

	if (!err && size >= offsetof(struct sample_event, frames) && *(const __u32 *)data == EVENT_OFF_CPU)
		off_cpu_read_at(r->off_cpu, ((const struct sample_event *)data)->tid, read_ns);
	return err;
}

/*
 * Wall mode: threads already off CPU when recording starts send no
 * switch-out. Each one blocked when it is looked at gets the records BPF
 * sends at a switch-out, made from memory (user/record/waiting_threads.c),
 * and counts from `start_ns` if it comes back after they were read; a
 * thread that runs instead replaces this with the stack of its first
 * switch-out, as any thread does.
 */
int rec_seed_off_cpu(struct recorder *r, struct rtarget *t, uint64_t start_ns)
{
	struct waiting_opts o = { .kernel = r->o->features.kernel,
				  .native = r->o->features.native && t->native };

	return waiting_threads_emit(t->pid, &t->proc.layout.walk, start_ns, &o, on_seed, r);
}

static int start_native(struct recorder *r, struct rtarget *t)
{
	native_stacks_free(t->native);
	t->native = NULL;
	if (!r->o->features.native)
		return 0;
	t->native = native_stacks_new(t->pid, r->prof);
	return t->native ? 0 : -ENOMEM;
}

static int start_sampling(struct recorder *r, struct rtarget *t)
{
	int err;

	symbolizer_free(t->sym);
	t->sym = symbolizer_new(&t->proc, r->prof);
	if (!t->sym)
		return -ENOMEM;
	err = start_native(r, t);
	if (err)
		return err;
	err = bpf_session_add_target(r->bpf, t->pid, &t->proc.layout.walk);
	if (err) {
		snprintf(t->reason, sizeof(t->reason), "cannot configure the BPF program: %s",
			 strerror(-err));
		return err;
	}
	/* An exec from now on drops the layout in BPF; one since discovery
	 * (a setuid program) is seen here. */
	if (ptrace_access_check(t->pid, t->reason, sizeof(t->reason)) > 0) {
		bpf_session_remove_target(r->bpf, t->pid);
		t->refused = true;
		return -EPERM;
	}
	t->was_profiled = true;
	if (r->o->verbose)
		fprintf(stderr,
			"refbpf: PID %d: Python %s (%s)%s, layout from %s; sampled from %.3f (CLOCK_MONOTONIC)\n",
			(int)t->pid, t->proc.version, t->proc.interp_path,
			t->proc.free_threaded ? ", free-threaded" : "", t->proc.layout_source,
			monotonic_s());
	return 0;
}

/* --gil needs to know where the GIL lies: a process without that is
 * refused, with the reason in t->reason. A free-threaded build has a GIL
 * per interpreter too, switched off unless PYTHON_GIL=1 or an extension
 * without Py_mod_gil switched it on: each sample says which. */
static bool refused_for_gil(struct recorder *r, struct rtarget *t)
{
	const struct py_layout *l = &t->proc.layout.walk;

	if (!r->o->features.gil)
		return false;
	if (!(l->flags & (LAYOUT_GIL_IN_RUNTIME | LAYOUT_GIL_VIA_INTERP)))
		snprintf(t->reason, sizeof(t->reason),
			 "Python %s: where its GIL lies is not known (layout from %s): --gil cannot be used",
			 t->proc.version, t->proc.layout_source);
	else
		return false;
	return true;
}

void rec_begin_discovery(struct recorder *r, struct rtarget *t)
{
	/* The old image's code addresses mean nothing now, and the outputs
	 * describes the new image. */
	symbolizer_free(t->sym);
	t->sym = NULL;
	native_stacks_free(t->native);
	t->native = NULL;
	t->proc.version[0] = 0;
	if (!t->samples)
		t->was_profiled = false;
	t->discover_start = monotonic_s();
	t->discover_deadline = t->discover_start + r->o->attach_wait_s;
	t->next_retry = 0;
	rec_set_state(r, t, RT_DISCOVERING);
}

/* Look once more for an interpreter in an exec'd (or new) process. */
void rec_retry_discovery(struct recorder *r, struct rtarget *t, double now)
{
	struct py_process p;
	int status;

	if (now < t->next_retry)
		return;
	/* Every DISCOVERY_POLL_MS, not at every wake-up (with --all the
	 * host's execs bring many). libpython is mapped and initialised
	 * within milliseconds of exec: a process not Python by then rarely
	 * becomes one, and is looked at less often. */
	t->next_retry = now + (now - t->discover_start > DISCOVERY_FAST_S ? DISCOVERY_SLOW_POLL_S :
									 DISCOVERY_POLL_MS / 1e3);
	status = py_process_discover_image(r->files, t->pid, t->image_start_s, &p, t->reason,
					   sizeof(t->reason));

	if (status == PY_OK) {
		py_process_free(&t->proc);
		t->proc = p;
		rec_set_state(r, t, refused_for_gil(r, t) || start_sampling(r, t) ? RT_FAILED : RT_ACTIVE);
		return;
	}
	if (p.cmdline) {
		free(t->proc.cmdline);
		t->proc.cmdline = p.cmdline;
		p.cmdline = NULL;
	}
	py_process_free(&p);
	if (status == PY_NOT_ALLOWED) {
		/* nothing of its new image was read; its old command line
		 * does not describe it */
		free(t->proc.cmdline);
		t->proc.cmdline = NULL;
		refuse(r, t, p.refusal);
	} else if (status == PY_NO_PROCESS) {
		rec_set_state(r, t, t->implicit && !t->was_profiled ? RT_IGNORED : RT_EXITED);
	} else if (status != PY_NOT_READY && status != PY_NOT_PYTHON && status != PY_NOT_STARTED) {
		/* --all names only what is known to be Python. */
		rec_set_state(r, t, t->implicit && status == PY_NO_ACCESS ? RT_IGNORED : RT_FAILED);
	} else if (now >= t->discover_deadline) {
		/* Not Python (a shell, a helper): with -C its children
		 * may still be; --all hears of them anyway. */
		rec_set_state(r, t, t->implicit && !t->was_profiled ? RT_IGNORED :
				r->o->children				 ? RT_WATCHING :
									   RT_FAILED);
		if (t->state == RT_WATCHING && r->o->verbose)
			fprintf(stderr, "refbpf: PID %d: %s after %.1f s; its children are followed\n",
				(int)t->pid, t->reason, now - t->discover_start);
		if (t->pid == r->o->launched && t->state == RT_FAILED)
			fprintf(stderr,
				"refbpf: record: PID %d runs no Python (%s): -C profiles the Python processes it starts\n",
				(int)t->pid, t->reason);
	}
}

void rec_on_fork(struct recorder *r, pid_t child, pid_t parent, __s32 flags)
{
	bool execd = flags & FORK_CHILD_EXECD;
	struct rtarget *p = rec_find_target(r, parent);
	struct rtarget *t = rec_find_target(r, child);

	if (t && t->state != RT_EXITED && t->state != RT_FAILED)
		return;
	t = rec_add_target(r, child);
	if (!t) {
		r->fatal = -ENOMEM;
		return;
	}
	t->watched = true;	/* BPF watches forked children itself */
	t->implicit = p && p->implicit;
	if (execd) {
		/* It exec'd before we heard of the fork: find what it runs now. */
		rec_begin_discovery(r, t);
	} else if (p && p->state == RT_ACTIVE && (flags & FORK_LAYOUT_COPIED) &&
		   access_revoked(r, t)) {
		/* BPF copied the parent's layout: it no longer samples it */
	} else if (p && p->state == RT_ACTIVE && (flags & FORK_LAYOUT_COPIED)) {
		/* Same address space as the parent: same layout, and BPF
		 * already samples it. Code objects are read from the child. */
		t->proc = p->proc;
		t->proc.pid = child;
		t->proc.cmdline = p->proc.cmdline ? strdup(p->proc.cmdline) : NULL;
		t->proc.interp_path = p->proc.interp_path ? strdup(p->proc.interp_path) : NULL;
		t->proc.ns_pid = proc_ns_pid(child);
		if (t->proc.ns_pid == child)
			t->proc.ns_pid = 0;
		t->sym = symbolizer_new(&t->proc, r->prof);
		if (!t->sym || start_native(r, t)) {
			r->fatal = -ENOMEM;
			return;
		}
		t->was_profiled = true;
		rec_set_state(r, t, RT_ACTIVE);
	} else if (p && (p->state == RT_DISCOVERING || p->state == RT_ACTIVE)) {
		/* A copy of a process that was still being discovered when it
		 * forked (a Python just exec'd, forking before we found its
		 * interpreter): it is Python too, and no exec will say so. */
		rec_begin_discovery(r, t);
	} else {
		rec_set_state(r, t, RT_WATCHING);
	}
	if (r->o->verbose)
		fprintf(stderr, "refbpf: PID %d forked PID %d\n", (int)parent, (int)child);
}

static bool is_live(const struct rtarget *t)
{
	return t->state == RT_ACTIVE || t->state == RT_WATCHING || t->state == RT_DISCOVERING;
}

/*
 * BPF reports exits, but not for a process that died before it was
 * watched, nor when the ring buffer was full. A target gone from /proc at
 * two checks in a row has exited: by the second, every sample it sent
 * before dying has been read.
 */
void rec_check_liveness(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		if (t->state != RT_ACTIVE && t->state != RT_WATCHING)
			continue;
		/* prctl(PR_SET_DUMPABLE, 0) needs no exec: look again */
		if (t->state == RT_ACTIVE && access_revoked(r, t))
			continue;
		if (proc_alive(t->pid))
			t->seen_dead = false;
		else if (t->seen_dead)
			rec_set_state(r, t, RT_EXITED);
		else
			t->seen_dead = true;
	}
}

/* `refbpf record`: its program has exited (its descendants may not have). */
bool rec_launched_exited(struct recorder *r)
{
	struct rtarget *t = rec_find_target(r, r->o->launched);

	return !t || t->state == RT_EXITED;
}

void rec_record_targets(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];
		const char *version = t->proc.version[0] ? t->proc.version : NULL;
		struct ptarget *pt;

		/* A window lists what lives or ran in it, and each ended
		 * process once. */
		if (t->listed && !is_live(t) && t->samples == t->window_base)
			continue;
		t->listed = true;
		/* --all lists Python processes only: not a fork that exec'd
		 * something else before its first sample. */
		if (t->state == RT_IGNORED || (t->implicit && !t->samples && !t->proc.version[0]))
			continue;
		if (t->refused) {
			char reason[sizeof(t->reason) + 64];

			snprintf(reason, sizeof(reason), "%s (%llu samples before)", t->reason,
				 (unsigned long long)t->samples);
			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, NULL,
						t->proc.cmdline, t->samples ? reason : t->reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		/* Python once, then exec'd into something else. */
		if (t->was_profiled && !t->proc.version[0]) {
			char reason[128];

			snprintf(reason, sizeof(reason),
				 "not a Python process since its exec (%llu samples before)",
				 (unsigned long long)t->samples);
			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, NULL,
						t->proc.cmdline, reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		if (!t->was_profiled) {
			const char *reason = t->reason[0] ? t->reason :
					     t->state == RT_EXITED ? "exited before running Python" :
								     "not a Python process";

			pt = profile_add_target(r->prof, t->pid, PTARGET_NOT_PROFILED, version,
						t->proc.cmdline, reason);
			if (pt)
				pt->ns_pid = (uint32_t)t->proc.ns_pid;
			continue;
		}
		/* FAILED after profiling: exec'd into something else. */
		pt = profile_add_target(r->prof, t->pid,
					t->state == RT_EXITED || t->state == RT_FAILED ?
						PTARGET_EXITED :
						PTARGET_PROFILED,
					version, t->proc.cmdline, NULL);
		if (pt) {
			pt->samples = t->samples - t->window_base;
			pt->ns_pid = (uint32_t)t->proc.ns_pid;
		}
	}
}

/* --all: every Python process that exists now. None is no error: the
 * ones started later are found as they exec. */
static int discover_every_process(struct recorder *r)
{
	pid_t *pids, self = getpid();
	size_t n;
	int err = proc_all_pids(&pids, &n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		struct py_process p;
		char why[256];
		struct rtarget *t;
		int status;

		if (pids[i] == self)
			continue;
		status = py_process_discover(r->files, pids[i], 0, &p, why, sizeof(why));
		/* kernel threads are nobody's to profile: not counted */
		if (status == PY_NOT_ALLOWED && !proc_kernel_thread(pids[i]))
			r->left_out[p.refusal]++;
		if (status == PY_NOT_ALLOWED || status == PY_NOT_PYTHON || status == PY_NO_PROCESS ||
		    status == PY_NO_ACCESS || status == PY_NOT_STARTED) {
			py_process_free(&p);
			continue;
		}
		t = rec_add_target(r, pids[i]);
		if (!t) {
			py_process_free(&p);
			free(pids);
			return -ENOMEM;
		}
		t->implicit = true;
		t->proc = p;
		snprintf(t->reason, sizeof(t->reason), "%s", why);
		if (status == PY_OK)
			rec_set_state(r, t, RT_ACTIVE);
		else if (status == PY_NOT_READY)
			rec_begin_discovery(r, t);
	}
	free(pids);
	rec_report_left_out(r);
	if (r->o->verbose)
		fprintf(stderr, "refbpf: --all: %zu Python processes now\n", r->live);
	return 0;
}

/* Young enough that a Python may still be loading in it. */
static bool may_still_start(const struct recorder *r, pid_t pid)
{
	double age = proc_age_seconds(pid);

	return age >= 0 && age < r->o->attach_wait_s;
}

/*
 * Discover every PID given. Without -C, none profilable is fatal, and a
 * process still starting is waited for here (saying so). With -C a live
 * process that is not Python (yet) is watched at once for Python
 * descendants: its own Python, if one comes, is looked for while
 * recording, so a young parent (a shell, `unshare ... python3`) delays
 * nothing and its children are seen from their start.
 */
int rec_discover_all(struct recorder *r)
{
	size_t ok = 0;

	if (r->o->all)
		return discover_every_process(r);
	for (size_t i = 0; i < r->o->npids; i++) {
		struct rtarget *t = rec_find_target(r, r->o->pids[i]);
		int status;

		if (t)
			continue;	/* the same PID given twice */
		t = rec_add_target(r, r->o->pids[i]);
		if (!t)
			return -ENOMEM;
		if (t->pid == r->o->launched) {
			/* refbpf's own child, held before its exec, running as
			 * the user who ran refbpf (launch.h): watched now, and
			 * discovered once it has exec'd, through the same check
			 * of who may be read as any other process */
			rec_set_state(r, t, RT_WATCHING);
			ok++;
			continue;
		}
		if (r->o->children)
			status = py_process_discover(r->files, t->pid, 0, &t->proc, t->reason,
						     sizeof(t->reason));
		else
			status = py_process_discover_named(r->files, t->pid, r->o->attach_wait_s, &t->proc,
							   t->reason, sizeof(t->reason));
		if (status == PY_NOT_ALLOWED) {
			t->refused = true;	/* named; its children are not followed */
		} else if (status == PY_OK && refused_for_gil(r, t)) {
			rec_set_state(r, t, RT_FAILED);
		} else if (status == PY_OK) {
			rec_set_state(r, t, RT_ACTIVE);
			ok++;
		} else if (r->o->children && (status == PY_NOT_PYTHON || status == PY_NOT_READY) &&
			   may_still_start(r, t->pid)) {
			rec_begin_discovery(r, t);
			ok++;
		} else if (r->o->children && (status == PY_NOT_PYTHON || status == PY_NOT_READY ||
					      status == PY_NOT_STARTED)) {
			rec_set_state(r, t, RT_WATCHING);
			ok++;
		}
	}
	if (ok)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)r->t[i]->pid, r->t[i]->reason);
	return -ESRCH;
}

/* -C: descendants that already exist when recording starts. */
int rec_add_existing_descendants(struct recorder *r)
{
	pid_t *kids = NULL;
	size_t n = 0;
	int err;

	for (size_t i = 0; i < r->n; i++) {
		if (r->t[i]->state == RT_FAILED)
			continue;
		err = proc_descendants(r->t[i]->pid, &kids, &n);
		if (err)
			return err;
	}
	for (size_t i = 0; i < n; i++) {
		struct rtarget *t;
		int status;

		if (rec_find_target(r, kids[i]))
			continue;
		t = rec_add_target(r, kids[i]);
		if (!t) {
			free(kids);
			return -ENOMEM;
		}
		status = py_process_discover(r->files, t->pid, 0, &t->proc, t->reason, sizeof(t->reason));
		if (status == PY_OK)
			rec_set_state(r, t, RT_ACTIVE);
		else if (status == PY_NOT_ALLOWED)
			t->refused = true;	/* named; not watched */
		else if (proc_alive(t->pid))
			rec_set_state(r, t, RT_WATCHING);
	}
	free(kids);
	return 0;
}

/* --all on a busy host: every exec leaves a record; drop the non-Python
 * ones so memory stays bounded. */
int rec_forget_ignored(struct recorder *r)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];

		if (t->state != RT_IGNORED) {
			r->t[kept++] = t;
			continue;
		}
		symbolizer_free(t->sym);
		native_stacks_free(t->native);
		py_process_free(&t->proc);
		py_thread_names_free(&t->names);
		int_table_clear(&t->merged);
		free(t);
	}
	r->n = kept;
	r->ignored = 0;
	return reindex(r);
}

/* Hand every live target to BPF: sampled ones with their layout. */
int rec_configure_bpf(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rtarget *t = r->t[i];
		int err;

		if (t->watched || t->state == RT_FAILED || t->state == RT_EXITED)
			continue;
		t->watched = true;
		err = bpf_session_watch(r->bpf, t->pid, r->o->children ? WATCH_CHILDREN : 0);
		if (err)
			return err;
		if (t->state == RT_ACTIVE && start_sampling(r, t))
			rec_set_state(r, t, RT_FAILED);
	}
	return 0;
}
