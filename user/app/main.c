// SPDX-License-Identifier: BSD-2-Clause
/*
 * refbpf: attach to running CPython processes, sample their Python stacks
 * with eBPF, and write cProfile-style tables, pstats files and flame graphs.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/clock.h"
#include "app/cli.h"
#include "app/dump.h"
#include "base/invoker.h"
#include "record/kernel_features.h"
#include "app/launch.h"
#include "record/libbpf_log.h"
#include "output/outputs.h"
#include "base/privileges.h"
#include "profile/profile.h"
#include "profile/profile_roots.h"
#include "output/raw_format.h"
#include "app/top.h"
#include "app/every_rotation.h"
#include "record/recorder.h"
#include "output/table_writer.h"
#include "python/layout/versions.h"

#define REFBPF_VERSION "0.1.0"
/* How long to wait for an interpreter that is still starting. */
#define ATTACH_WAIT_S 3.0
/* refbpf top redraws this often. */
#define TOP_REFRESH_S 1.0

static volatile sig_atomic_t stop_requested;
/* `refbpf record`: the program refbpf started */
static struct launch *launched;

static void on_stop_signal(int sig, siginfo_t *info, void *uctx)
{
	stop_requested = 1;
	/* Ctrl-C reaches the program from the terminal itself (the kernel
	 * sends it, si_code SI_KERNEL); a signal someone sent refbpf with
	 * kill(2) (si_code <= 0) is meant for the program it runs too, or
	 * refbpf would wait for a program that never heard of it. */
	if (sig != SIGINT || info->si_code <= 0)
		launch_forward_signal(launched, sig);
}

/* `refbpf record`: BPF watches the child now; let it exec. */
static int release_launched(void *ctx)
{
	return launch_release(ctx);
}

static void install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_stop_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the poll loop must wake up and notice. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void print_version(void)
{
	printf("refbpf %s (libbpf %u.%u, libdw, BTF: /sys/kernel/btf/vmlinux or --btf; CPython %s)\n",
	       REFBPF_VERSION, libbpf_major_version(), libbpf_minor_version(),
	       py_versions_supported());
}

/*
 * The outputs of `paths` whose rows are `rooted` as given, then (`table`)
 * the text table on stdout. Files first: a closed stdout must not cost
 * the user their pstats file. Each output on its own: one failing does
 * not cost the others. 0 or 1.
 */
static int write_outputs(const struct cli_options *o, const output_paths paths,
			 const struct profile *prof, bool rooted, bool table)
{
	struct table_opts ro = { .sort = o->sort, .limit = o->limit };
	int status = 0, err;

	for (int i = 0; i < OUTPUT_NR; i++) {
		if (!paths[i] || outputs[i].rooted != rooted)
			continue;
		err = outputs[i].write(paths[i], prof, &o->style);
		if (err) {
			fprintf(stderr, "refbpf: cannot write %s: %s\n", paths[i], atomic_strerror(err));
			status = 1;
		}
	}
	if (!table)
		return status;
	if (table_write(stdout, prof, &ro) || fflush(stdout)) {
		fprintf(stderr, "refbpf: cannot write the table to stdout: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}

/* Roots as asked (several processes, or --all: one per process, unless
 * merged; --threads: one per thread). NULL when none is needed. */
static struct profile *with_roots(const struct cli_options *o, const struct profile *prof,
				  bool all, int *err)
{
	bool per_process = !o->merge_processes && (all || profile_sampled_processes(prof) > 1);
	struct profile *rooted = NULL;

	*err = 0;
	if (per_process || o->per_thread) {
		rooted = profile_with_roots(prof, per_process, o->per_thread);
		if (!rooted)
			*err = -ENOMEM;
	}
	return rooted;
}

/* The raw file (when recording) keeps stacks as recorded, before roots. */
static int render(const struct cli_options *o, const output_paths paths,
		  const struct profile *prof, bool all, bool table)
{
	struct profile *rooted;
	int status, err;

	status = write_outputs(o, paths, prof, false, false);
	rooted = with_roots(o, prof, all, &err);
	if (err) {
		fprintf(stderr, "refbpf: out of memory\n");
		return 1;
	}
	status |= write_outputs(o, paths, rooted ? rooted : prof, true, table);
	profile_free(rooted);
	return status;
}

/*
 * Restricted (invoker.h), files are written as the user: refuse a path
 * the user could not write now, not after the recording. 0 or 1.
 */
static int check_output_paths(const struct cli_options *o)
{
	int err;

	for (int i = 0; i < OUTPUT_NR; i++) {
		if (!o->paths[i])
			continue;
		err = invoker_may_write(o->paths[i]);
		if (err) {
			fprintf(stderr,
				"refbpf: cannot write %s: %s (refbpf runs with %s and writes files as you)\n",
				o->paths[i], strerror(-err), invoker_get()->how);
			return 1;
		}
	}
	return 0;
}

/* For -v: memory must stay flat across windows. */
static long resident_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* --every: each output's files, and what the windows share. */
struct window_state {
	const struct cli_options *o;
	struct window_files files[OUTPUT_NR];
	unsigned int windows;
};

static int on_window(void *ctx, const struct profile *prof, time_t start)
{
	struct window_state *ws = ctx;
	output_paths paths = { 0 };
	char names[OUTPUT_NR][PATH_MAX];
	int status;

	for (int i = 0; i < OUTPUT_NR; i++) {
		if (!ws->o->paths[i])
			continue;
		if (window_path(ws->o->paths[i], start, names[i], sizeof(names[i]))) {
			fprintf(stderr, "refbpf: %s: name too long for a window\n", ws->o->paths[i]);
			return -ENAMETOOLONG;
		}
		paths[i] = names[i];
	}
	status = render(ws->o, paths, prof, ws->o->all, false) ? -EIO : 0;
	ws->windows++;
	char when[32] = "?";
	struct tm tm;

	if (gmtime_r(&start, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("refbpf: window %u from %s: %.1f s, %llu samples ->", ws->windows, when,
	       prof->duration_s, (unsigned long long)prof->total_samples);
	for (int i = 0; i < OUTPUT_NR; i++) {
		if (!paths[i])
			continue;
		printf(" %s", names[i]);
		if (window_retain(&ws->files[i], names[i], ws->o->keep))
			status = -ENOMEM;
	}
	printf("\n");
	fflush(stdout);
	if (ws->o->verbose)
		fprintf(stderr, "refbpf: window %u: resident memory %ld kB\n", ws->windows,
			resident_kb());
	return status;
}

int main(int argc, char **argv)
{
	double t0 = monotonic_s();
	struct cli_options o;
	struct profile *prof = NULL;
	char why[512];
	struct window_state windows = { .o = &o };
	struct top *top = NULL;
	int status = 1;

	if (cli_parse(argc, argv, &o)) {
		cli_free(&o);
		return 2;
	}
	if (o.help || o.version) {
		if (o.help)
			cli_usage(stdout);
		else
			print_version();
		cli_free(&o);
		return 0;
	}
	/* Before anything is read: with file capabilities, act as the user. */
	if (invoker_init(why, sizeof(why))) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	if (o.verbose && invoker_get()->restricted)
		fprintf(stderr,
			"refbpf: runs with %s: reads only processes that uid %u could ptrace, writes files as them\n",
			invoker_get()->how, (unsigned int)invoker_get()->uid);
	if (check_output_paths(&o))
		goto cleanup;
	if (o.report_input) {
		prof = raw_read(o.report_input, why, sizeof(why));
		if (!prof)
			fprintf(stderr, "refbpf: %s\n", why);
		else
			status = render(&o, o.paths, prof, false, true);
		goto cleanup;
	}
	if (privileges_check(why, sizeof(why)) || btf_check(o.btf_path, why, sizeof(why))) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	/* libbpf says nothing past what refbpf makes of it, but with -vv */
	libbpf_log_init(o.verbose >= 2);
	if (o.dump) {
		if (kernel_features_refuse_dump(kernel_features_get(), why, sizeof(why))) {
			fprintf(stderr, "refbpf: %s\n", why);
			goto cleanup;
		}
		status = dump_run(o.pids, o.npids, o.json, o.locals);
		goto cleanup;
	}
	if (o.wall && kernel_features_refuse_wall(kernel_features_get(), why, sizeof(why))) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	prof = profile_new();
	if (!prof) {
		fprintf(stderr, "refbpf: out of memory\n");
		goto cleanup;
	}
	install_signal_handlers();
	pid_t child;

	if (o.command) {
		launched = launch_start(o.command, o.as_root, why, sizeof(why));
		if (!launched) {
			fprintf(stderr, "refbpf: %s\n", why);
			status = 127;
			goto cleanup;
		}
		child = launch_pid(launched);
		o.pids = &child;
		o.npids = 1;
	}

	struct recorder_opts ro = {
		.pids = o.pids,
		.npids = o.npids,
		.rate_hz = o.rate_hz,
		.duration_s = o.duration_s,
		.attach_wait_s = ATTACH_WAIT_S,
		.btf_path = o.btf_path,
		.children = o.children,
		.all = o.all,
		.thread_limit = o.thread_limit,

		.verbose = o.verbose,
		.features = { .kernel = o.kernel, .gil = o.gil, .off_cpu = o.wall, .native = o.native,
			      .children = o.children },
		.stop = &stop_requested,
		.t0 = t0,
		.every_s = o.every_s,
		.on_window = on_window,
		.window_ctx = &windows,
		.launched = launched ? launch_pid(launched) : 0,
		.on_watched = launched ? release_launched : NULL,
		.launch_ctx = launched,
	};

	if (o.top) {
		top = top_new(o.limit, &stop_requested);
		if (!top) {
			fprintf(stderr, "refbpf: out of memory\n");
			goto cleanup;
		}
		ro.every_s = TOP_REFRESH_S;
		ro.on_window = top_on_window;
		ro.window_ctx = top;
	}

	int rec = recorder_run(&ro, prof);

	if (rec < 0)
		goto cleanup;
	if (o.every_s > 0 || o.top)
		status = rec;	/* every window is written (or shown) already */
	else
		status = render(&o, o.paths, prof, o.all, true) || rec;
cleanup:
	if (launched) {
		/* every output is written: now the program's own status */
		int code = launch_finish(launched);

		launched = NULL;
		o.pids = NULL;
		o.npids = 0;
		if (code || !status)
			status = code;
	}
	top_free(top);
	for (size_t i = 0; i < sizeof(windows.files) / sizeof(windows.files[0]); i++)
		window_files_free(&windows.files[i]);
	profile_free(prof);
	cli_free(&o);
	return status;
}
