/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A recording: the targets, the BPF session, and the profile their samples
 * are symbolized into as they arrive.
 */
#ifndef REFBPF_RECORDER_H
#define REFBPF_RECORDER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "bpf_session.h"
#include "profile.h"

struct recorder_opts {
	const pid_t *pids;
	size_t npids;
	unsigned int rate_hz;
	double duration_s;		/* <= 0: until stopped */
	double attach_wait_s;		/* how long to wait for a starting interpreter */
	const char *btf_path;		/* NULL: the kernel's own */
	bool children;			/* -C: follow descendants, present and future */
	bool all;			/* --all: every Python process, present and future */
	/* threads per process with their own profile entry; later ones share
	 * PROFILE_MERGED_TID (0: no limit) */
	unsigned int thread_limit;

	int verbose;			/* -v: 1, -vv: 2 (and libbpf's log) */
	struct bpf_features features;	/* --kernel, --gil, --mode wall, --native */
	volatile sig_atomic_t *stop;	/* set by signal handlers */
	/*
	 * --every: close a window this often (0: one window, the whole
	 * recording). Each window, the last partial one included, is handed
	 * to on_window with its start time and then forgotten, so memory
	 * stays flat; 0 from on_window or recording stops.
	 */
	double every_s;
	int (*on_window)(void *ctx, const struct profile *prof, time_t start);
	void *window_ctx;
	double t0;			/* CLOCK_MONOTONIC at program start, for -v timings */

	/*
	 * `refbpf record`: one of pids is refbpf's own child, held before its
	 * exec (0: none). It is watched without discovery, released by
	 * on_watched once BPF sees its exec, and recording ends when it
	 * exits. on_watched returns 0 or -errno (it could not exec; message
	 * printed), which ends recording before it starts.
	 */
	pid_t launched;
	int (*on_watched)(void *ctx);
	void *launch_ctx;
};

/*
 * Attach to every PID that can be profiled, record until the duration
 * expires, *stop is set, or every target is gone, and fill `prof`.
 * With every_s, the windows have already been handed out when it returns
 * and `prof` holds nothing. Returns 0; 1 when recording failed part-way (message printed; `prof`
 * holds what was recorded and should still be written); or a negative errno
 * when nothing could be recorded (message printed: one line per PID when
 * no target could be profiled, or why the BPF side failed).
 */
int recorder_run(const struct recorder_opts *o, struct profile *prof);

#endif /* REFBPF_RECORDER_H */
