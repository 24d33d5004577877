// SPDX-License-Identifier: BSD-2-Clause
#include "record/bpf_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/grow.h"
#include "record/exit_watch.h"
#include "record/kernel_features.h"
#include "record/libbpf_log.h"
#include "record/sample_period.h"
#include "profiler.skel.h"

struct bpf_session {
	struct profiler_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **perf_links;
	int *perf_fds;
	int ncpus;
	int nattached;
	struct bpf_link *exit_link, *exec_link, *fork_link;
	struct bpf_link *switch_link;	/* wall mode */
	/* Without -C or --all, targets' exits come from their pidfds: no BPF
	 * program runs at each exit of a thread on the host. One epoll set
	 * then holds the ring buffer's and the pidfds'. */
	struct exit_watch *exits;
	int epoll_fd;
	bpf_event_fn fn;
	void *ctx;
	/* per_thread: the sampler on single threads, by handle */
	struct bpf_link **thread_links;
	int *thread_fds;
	int nthread_slots;
};

/* A cpu-clock event of period_ns on one CPU (tid -1) or one thread (cpu -1). */
static int open_cpu_clock(pid_t tid, int cpu, uint64_t period_ns)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* cpu-clock counts nanoseconds: a fixed period gives every
		 * sample the same weight, which a frequency target would not. */
		.sample_period = period_ns,
	};

	return (int)syscall(__NR_perf_event_open, &attr, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static int attach_sampler(struct bpf_session *s, unsigned int rate_hz, char *why, size_t whylen)
{
	int err = 0;

	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		snprintf(why, whylen, "cannot count CPUs");
		return -EINVAL;
	}
	s->perf_fds = calloc((size_t)s->ncpus, sizeof(*s->perf_fds));
	s->perf_links = calloc((size_t)s->ncpus, sizeof(*s->perf_links));
	if (!s->perf_fds || !s->perf_links)
		return -ENOMEM;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		s->perf_fds[cpu] = open_cpu_clock(-1, cpu, sample_period_ns(rate_hz));
		if (s->perf_fds[cpu] < 0) {
			err = -errno;
			/* possible but offline CPUs */
			if (err == -ENODEV)
				continue;
			snprintf(why, whylen, "cannot open a cpu-clock perf event on CPU %d: %s", cpu,
				 strerror(-err));
			return err;
		}
		s->perf_links[cpu] = bpf_program__attach_perf_event(s->skel->progs.on_cpu_sample,
								    s->perf_fds[cpu]);
		if (!s->perf_links[cpu]) {
			err = -errno;
			snprintf(why, whylen, "cannot attach the sampler on CPU %d: %s", cpu,
				 strerror(-err));
			return err;
		}
		s->nattached++;
	}
	if (!s->nattached) {
		snprintf(why, whylen, "no online CPU accepted a cpu-clock perf event");
		return -ENODEV;
	}
	return 0;
}

/* --native samples carry up to REFBPF_NATIVE_STACK_BYTES each: room for
 * about a second of them at 1 kHz on a few CPUs between polls. */
#define NATIVE_RINGBUF_BYTES (32u << 20)
/* What a sample of a 60-frame stack takes in the ring buffer. */
#define PLANNED_SAMPLE_BYTES 2048u

/*
 * The ring buffer's pages stay resident for the whole run, twice over in
 * refbpf's RSS (the kernel maps the data area twice so that no record
 * wraps), so it is sized to what the run sends: about a second of
 * PLANNED_SAMPLE_BYTES samples from every CPU, of which BPF lets a quarter
 * fill before it wakes userspace. Wall mode's records come per context
 * switch of the targets, not per tick, and --native's are large: both keep
 * a large buffer.
 */
static __u32 ring_bytes(const struct bpf_session_opts *o, int ncpus)
{
	const struct bpf_features *f = &o->features;
	__u64 want = (__u64)o->rate_hz * (__u64)(ncpus > 0 ? ncpus : 1) * PLANNED_SAMPLE_BYTES;
	__u32 bytes = RINGBUF_MIN_BYTES;

	if (f->native)
		return NATIVE_RINGBUF_BYTES;
	if (f->off_cpu)
		return RINGBUF_MAX_BYTES;
	if (f->per_thread)
		return RINGBUF_MIN_BYTES;
	while (bytes < want && bytes < RINGBUF_MAX_BYTES)
		bytes <<= 1;
	return bytes;
}

/* One epoll set for the ring buffer's wake-ups and the targets' exits. */
static int watch_exits(struct bpf_session *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	struct epoll_event exit_ev = { .events = EPOLLIN, .data.u32 = 1 };

	s->exits = exit_watch_new();
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (!s->exits || s->epoll_fd < 0)
		return -errno;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(s->rb), &ev) ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, exit_watch_fd(s->exits), &exit_ev))
		return -errno;
	return 0;
}

/* Why loading failed, in one line: what the kernel refused, never its
 * verifier log (-vv shows that). */
static void load_failure(const struct kernel_features *kf, int err, char *why, size_t whylen)
{
	const char *what = libbpf_log_last_failure();

	if (err == -EPERM && !kf->memcg_charge)
		snprintf(why, whylen,
			 "cannot load the BPF program: this kernel (Linux %s, before 5.11) counts BPF memory against RLIMIT_MEMLOCK, which could not be raised: raise `ulimit -l` or grant CAP_SYS_RESOURCE",
			 kf->release);
	else if (err == -EPERM)
		snprintf(why, whylen, "cannot load the BPF program: %s (needs root, or CAP_BPF and CAP_PERFMON)",
			 strerror(-err));
	else if (*what)
		snprintf(why, whylen,
			 "this kernel (Linux %s) refused refbpf's BPF %s: %s (-vv shows the kernel's reasons)",
			 kf->release, what, strerror(-err));
	else
		snprintf(why, whylen, "cannot load the BPF program: %s", strerror(-err));
}

int bpf_session_open(struct bpf_session **out, const struct bpf_session_opts *o, char *why,
		     size_t whylen)
{
	const struct bpf_features *features = &o->features;
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = o->btf_path);
	struct bpf_session *s = calloc(1, sizeof(*s));
	const struct kernel_features *kf;
	int err = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->epoll_fd = -1;
	s->fn = o->on_event;
	s->ctx = o->ctx;
	libbpf_log_init(o->verbose >= 2);
	kf = kernel_features_get();
	if (o->verbose)
		kernel_features_print(stderr, kf);
	err = kernel_features_refuse_recording(kf, why, whylen);
	if (err)
		goto cleanup;
	s->skel = profiler_bpf__open_opts(&opts);
	if (!s->skel) {
		err = -errno;
		snprintf(why, whylen, "cannot open the BPF program: %s", strerror(-err));
		goto cleanup;
	}
	s->skel->rodata->watch_all = o->watch_all;
	s->skel->rodata->want_kernel = features->kernel;
	s->skel->rodata->want_gil = features->gil;
	/* A program on every context switch of the host costs even when it
	 * returns at once: not loaded unless asked for. */
	bpf_program__set_autoload(s->skel->progs.on_sched_switch, features->off_cpu);
	/* Every thread created on the host runs the fork program: a
	 * thread-per-request server pays it per request. Only -C and --all
	 * use what it reports. */
	bool follow_forks = features->children || o->watch_all;

	bpf_program__set_autoload(s->skel->progs.on_process_fork, follow_forks);
	/* Descendants come and go by the thousand: their exits come from
	 * BPF, as on kernels without pidfds. */
	bool exits_by_pidfd = !follow_forks && exit_watch_supported();

	bpf_program__set_autoload(s->skel->progs.on_process_exit, !exits_by_pidfd);
	s->skel->rodata->native_stacks = features->native;
	s->skel->rodata->have_task_btf = kf->task_btf;
	s->skel->rodata->have_task_pt_regs = kf->task_pt_regs;
	s->skel->rodata->send_unwalked = features->per_thread;
	int ncpus = libbpf_num_possible_cpus();
	__u32 ring = ring_bytes(o, ncpus);

	s->skel->rodata->ringbuf_wake_bytes = ring / 4;
	if (o->verbose)
		fprintf(stderr, "refbpf: ring buffer %u KiB (%u Hz on %d CPUs%s)\n", ring >> 10,
			o->rate_hz, ncpus,
			features->native    ? ", --native" :
			features->off_cpu   ? ", --mode wall" :
			features->per_thread ? ", per thread" : "");
	err = bpf_map__set_max_entries(s->skel->maps.scratch_map, (__u32)ncpus);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.events, ring);
	if (!err)
		err = profiler_bpf__load(s->skel);
	if (err) {
		load_failure(kf, err, why, whylen);
		goto cleanup;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), o->on_event, o->ctx, NULL);
	if (!s->rb) {
		err = -errno;
		snprintf(why, whylen, "cannot create the ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	if (exits_by_pidfd) {
		err = watch_exits(s);
		if (err) {
			snprintf(why, whylen, "cannot watch for exits: %s", strerror(-err));
			goto cleanup;
		}
	} else {
		s->exit_link = bpf_program__attach(s->skel->progs.on_process_exit);
	}
	s->exec_link = bpf_program__attach(s->skel->progs.on_process_exec);
	if (follow_forks)
		s->fork_link = bpf_program__attach(s->skel->progs.on_process_fork);
	if ((!exits_by_pidfd && !s->exit_link) || !s->exec_link || (follow_forks && !s->fork_link)) {
		err = -errno;
		snprintf(why, whylen, "cannot attach the process lifetime tracepoints: %s",
			 strerror(-err));
		goto cleanup;
	}
	if (features->off_cpu) {
		s->switch_link = bpf_program__attach(s->skel->progs.on_sched_switch);
		if (!s->switch_link) {
			err = -errno;
			snprintf(why, whylen, "cannot attach to the sched_switch tracepoint: %s",
				 strerror(-err));
			goto cleanup;
		}
	}
	if (!features->per_thread)
		err = attach_sampler(s, o->rate_hz, why, whylen);
	if (err)
		goto cleanup;
	*out = s;
	return 0;
cleanup:
	bpf_session_close(s);
	return err;
}

void bpf_session_close(struct bpf_session *s)
{
	if (!s)
		return;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		if (s->perf_links && s->perf_links[cpu])
			bpf_link__destroy(s->perf_links[cpu]);
		if (s->perf_fds && s->perf_fds[cpu] > 0)
			close(s->perf_fds[cpu]);
	}
	free(s->perf_links);
	free(s->perf_fds);
	for (int i = 0; i < s->nthread_slots; i++)
		bpf_session_stop_thread(s, i);
	free(s->thread_links);
	free(s->thread_fds);
	bpf_link__destroy(s->exit_link);
	bpf_link__destroy(s->exec_link);
	bpf_link__destroy(s->fork_link);
	bpf_link__destroy(s->switch_link);
	ring_buffer__free(s->rb);
	exit_watch_free(s->exits);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	profiler_bpf__destroy(s->skel);
	free(s);
}

/* Each CPU keeps a copy of the layout it used last, valid while the
 * generation has not moved (bpf/sampler_state.h, target_layout). */
static void targets_changed(struct bpf_session *s)
{
	__atomic_fetch_add(&s->skel->bss->targets_gen, 1, __ATOMIC_SEQ_CST);
}

uint64_t bpf_session_exec_wakeups(const struct bpf_session *s)
{
	return __atomic_load_n(&s->skel->bss->untracked_exec_wakeups, __ATOMIC_RELAXED);
}

int bpf_session_add_target(struct bpf_session *s, pid_t pid, const struct py_layout *layout)
{
	__u32 key = (__u32)pid;

	/* the filter first: BPF reads it before the map (bpf/sampler_state.h) */
	__atomic_store_n(&s->skel->bss->target_filter[key & TARGET_FILTER_MASK], 1, __ATOMIC_SEQ_CST);
	int err = bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), layout,
				       sizeof(*layout), BPF_ANY);

	targets_changed(s);
	return err;
}

int bpf_session_remove_target(struct bpf_session *s, pid_t pid)
{
	__u32 key = (__u32)pid;
	int err = bpf_map__delete_elem(s->skel->maps.targets, &key, sizeof(key), 0);

	/* a later process with this PID starts its own quiet period */
	bpf_map__delete_elem(s->skel->maps.code_quiet, &key, sizeof(key), 0);
	targets_changed(s);
	return err == -ENOENT ? 0 : err;
}

int bpf_session_watch(struct bpf_session *s, pid_t pid, __u32 flags)
{
	__u32 key = (__u32)pid;
	int err = bpf_map__update_elem(s->skel->maps.watched, &key, sizeof(key), &flags,
				       sizeof(flags), BPF_ANY);

	/* One gone already, or not a thread group's leader, is found
	 * gone by the recorder's liveness checks instead. */
	if (!err && s->exits && exit_watch_add(s->exits, pid) == -ENOMEM)
		err = -ENOMEM;
	return err;
}

/*
 * Targets that exited, as BPF's exit program reports them: out of the
 * maps, then EVENT_EXIT. Their samples were all in the ring buffer before
 * they exited, and the caller has consumed it.
 */
static int report_exits(struct bpf_session *s)
{
	pid_t pids[16];
	int n = exit_watch_reap(s->exits, pids, sizeof(pids) / sizeof(pids[0]));

	for (int i = 0; i < n; i++) {
		struct process_event e = { .type = EVENT_EXIT, .pid = (__u32)pids[i] };
		__u32 key = (__u32)pids[i];
		int err;

		bpf_session_remove_target(s, pids[i]);
		bpf_map__delete_elem(s->skel->maps.watched, &key, sizeof(key), 0);
		err = s->fn(s->ctx, &e, sizeof(e));
		if (err)
			return err;
	}
	return n;
}

/* Wait like ring_buffer__poll, for a wake-up of the ring buffer or an
 * exit; *exited says whether a watched process has exited. */
static int wait_for_events(struct bpf_session *s, int timeout_ms, bool *exited)
{
	struct epoll_event evs[2];
	int n;

	*exited = false;
	if (!s->exits)
		return ring_buffer__poll(s->rb, timeout_ms);
	n = epoll_wait(s->epoll_fd, evs, 2, timeout_ms);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		*exited |= evs[i].data.u32 == 1;
	return 0;
}

int bpf_session_poll(struct bpf_session *s, int timeout_ms)
{
	bool exited;
	int n = wait_for_events(s, timeout_ms, &exited);

	/* Samples are submitted without a wake-up, so a poll that timed
	 * out may still have records waiting: consume them now. */
	if (n >= 0) {
		int more = ring_buffer__consume(s->rb);

		n = more < 0 ? more : n + more;
	}
	if (n >= 0 && exited) {
		int exits = report_exits(s);

		n = exits < 0 ? exits : n + exits;
	}
	return n;
}

int bpf_session_drain(struct bpf_session *s)
{
	return ring_buffer__consume(s->rb);
}

int bpf_session_unwind_errors(struct bpf_session *s, uint64_t out[UNWIND_NR])
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *vals;

	if (ncpus <= 0)
		return -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 reason = 0; reason < UNWIND_NR; reason++) {
		out[reason] = 0;
		if (bpf_map__lookup_elem(s->skel->maps.unwind_errors, &reason, sizeof(reason), vals,
					 sizeof(*vals) * (size_t)ncpus, 0))
			continue;
		for (int cpu = 0; cpu < ncpus; cpu++)
			out[reason] += vals[cpu];
	}
	free(vals);
	return 0;
}

int bpf_session_walk_counts(struct bpf_session *s, struct walk_counts *out)
{
	const struct bpf_map *map = s->skel->maps.scratch_map;
	size_t size = bpf_map__value_size(map);
	__u32 ncpus = bpf_map__max_entries(map);
	void *val;

	memset(out, 0, sizeof(*out));
	if (size < sizeof(*out))
		return -EINVAL;
	val = malloc(size);
	if (!val)
		return -ENOMEM;
	/* one slot per CPU, starting with its counts */
	for (__u32 cpu = 0; cpu < ncpus; cpu++) {
		const struct walk_counts *c = val;

		if (bpf_map__lookup_elem(map, &cpu, sizeof(cpu), val, size, 0))
			continue;
		out->frames_trusted += c->frames_trusted;
		out->frames_read += c->frames_read;
	}
	free(val);
	return 0;
}

int bpf_session_sample_thread(struct bpf_session *s, pid_t tid, uint64_t period_ns)
{
	int slot = 0;

	while (slot < s->nthread_slots && s->thread_fds[slot] >= 0)
		slot++;
	if (slot == s->nthread_slots) {
		size_t links_cap = (size_t)slot, fds_cap = (size_t)slot, n;

		/* the two arrays grow alike; the smaller capacity is the one kept */
		if (GROW(s->thread_links, links_cap, (size_t)slot, 8) ||
		    GROW(s->thread_fds, fds_cap, (size_t)slot, 8) || links_cap > INT_MAX)
			return -ENOMEM;
		n = links_cap < fds_cap ? links_cap : fds_cap;
		for (size_t i = (size_t)slot; i < n; i++) {
			s->thread_fds[i] = -1;
			s->thread_links[i] = NULL;
		}
		s->nthread_slots = (int)n;
	}
	int fd = open_cpu_clock(tid, -1, period_ns);

	if (fd < 0)
		return -errno;
	s->thread_links[slot] = bpf_program__attach_perf_event(s->skel->progs.on_cpu_sample, fd);
	if (!s->thread_links[slot]) {
		int err = -errno;

		close(fd);
		return err;
	}
	s->thread_fds[slot] = fd;
	return slot;
}

void bpf_session_stop_thread(struct bpf_session *s, int handle)
{
	if (handle < 0 || handle >= s->nthread_slots || s->thread_fds[handle] < 0)
		return;
	bpf_link__destroy(s->thread_links[handle]);
	close(s->thread_fds[handle]);
	s->thread_links[handle] = NULL;
	s->thread_fds[handle] = -1;
}

int bpf_session_ncpus(const struct bpf_session *s)
{
	return s->nattached;
}
