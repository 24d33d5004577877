// SPDX-License-Identifier: BSD-2-Clause
/*
 * refbpf: attach to running CPython processes, sample their Python stacks
 * with eBPF, and write cProfile-style reports.
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

#include "atomic_file.h"
#include "clock.h"
#include "cli.h"
#include "dump.h"
#include "flamegraph_writer.h"
#include "folded_writer.h"
#include "html_writer.h"
#include "invoker.h"
#include "kernel_features.h"
#include "launch.h"
#include "libbpf_log.h"
#include "pprof_writer.h"
#include "privileges.h"
#include "profile.h"
#include "profile_roots.h"
#include "pstats_writer.h"
#include "raw_format.h"
#include "top.h"
#include "windows.h"
#include "recorder.h"
#include "report.h"
#include "speedscope_writer.h"

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
	printf("refbpf %s (libbpf %u.%u, libdw, BTF: /sys/kernel/btf/vmlinux or --btf; CPython 3.8-3.15)\n",
	       REFBPF_VERSION, libbpf_major_version(), libbpf_minor_version());
}

static int flame_write(const char *path, const struct profile *p)
{
	return flamegraph_write(path, p, false);
}

static int icicle_write(const char *path, const struct profile *p)
{
	return flamegraph_write(path, p, true);
}

/* Files first: a closed stdout must not cost the user their pstats file. */
static int write_outputs(const struct cli_options *o, const struct profile *prof, bool table)
{
	const struct {
		const char *path;
		int (*write)(const char *path, const struct profile *p);
	} files[] = {
		{ o->raw_path, raw_write },
		{ o->pstats_path, pstats_write },
		{ o->folded_path, folded_write },
		{ o->speedscope_path, speedscope_write },
		{ o->pprof_path, pprof_write },
		{ o->flamegraph_path, o->icicle ? icicle_write : flame_write },
		{ o->html_path, html_write },
	};
	int status = 0, err;

	/* each output on its own: one failing does not cost the others */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *path = files[i].path;

		if (!path)
			continue;
		err = files[i].write(path, prof);
		if (err) {
			fprintf(stderr, "refbpf: cannot write %s: %s\n", path, atomic_strerror(err));
			status = 1;
		}
	}
	struct report_opts ro = { .sort = o->sort, .limit = o->limit };

	if (!table)
		return status;
	if (report_write(stdout, prof, &ro) || fflush(stdout)) {
		fprintf(stderr, "refbpf: cannot write the report to stdout: %s\n", strerror(errno));
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
static int render(const struct cli_options *o, const struct profile *prof, bool all, bool table)
{
	struct cli_options unrooted = *o, rooted_outputs = *o;
	struct profile *rooted;
	int status = 0, err;

	rooted_outputs.raw_path = NULL;
	unrooted.pstats_path = unrooted.folded_path = NULL;
	unrooted.speedscope_path = unrooted.pprof_path = unrooted.flamegraph_path = NULL;
	unrooted.html_path = NULL;
	if (o->raw_path)
		status = write_outputs(&unrooted, prof, false);
	rooted = with_roots(o, prof, all, &err);
	if (err) {
		fprintf(stderr, "refbpf: out of memory\n");
		return 1;
	}
	status |= write_outputs(&rooted_outputs, rooted ? rooted : prof, table);
	profile_free(rooted);
	return status;
}

/*
 * Restricted (invoker.h), files are written as the user: refuse a path
 * the user could not write now, not after the recording. 0 or 1.
 */
static int check_output_paths(const struct cli_options *o)
{
	const char *paths[] = { o->pstats_path, o->folded_path, o->raw_path, o->speedscope_path,
				o->pprof_path, o->flamegraph_path, o->html_path };
	int err;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (!paths[i])
			continue;
		err = invoker_may_write(paths[i]);
		if (err) {
			fprintf(stderr,
				"refbpf: cannot write %s: %s (refbpf runs with %s and writes files as you)\n",
				paths[i], strerror(-err), invoker_get()->how);
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
#define WINDOW_OUTPUTS 7	/* pstats, folded, raw, speedscope, pprof, flame graph, html */
struct window_state {
	const struct cli_options *o;
	struct window_files files[WINDOW_OUTPUTS];
	unsigned int windows;
};

static int on_window(void *ctx, const struct profile *prof, time_t start)
{
	struct window_state *ws = ctx;
	struct cli_options wo = *ws->o;
	const char **paths[WINDOW_OUTPUTS] = { &wo.pstats_path, &wo.folded_path, &wo.raw_path,
						&wo.speedscope_path, &wo.pprof_path,
						&wo.flamegraph_path, &wo.html_path };
	char names[WINDOW_OUTPUTS][PATH_MAX];
	int status;

	for (size_t i = 0; i < WINDOW_OUTPUTS; i++) {
		if (!*paths[i])
			continue;
		if (window_path(*paths[i], start, names[i], sizeof(names[i]))) {
			fprintf(stderr, "refbpf: %s: name too long for a window\n", *paths[i]);
			return -ENAMETOOLONG;
		}
		*paths[i] = names[i];
	}
	status = render(&wo, prof, ws->o->all, false) ? -EIO : 0;
	ws->windows++;
	char when[32] = "?";
	struct tm tm;

	if (gmtime_r(&start, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("refbpf: window %u from %s: %.1f s, %llu samples ->", ws->windows, when,
	       prof->duration_s, (unsigned long long)prof->total_samples);
	for (size_t i = 0; i < WINDOW_OUTPUTS; i++) {
		if (!*paths[i])
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
			status = render(&o, prof, false, true);
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
		status = render(&o, prof, o.all, true) || rec;
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
