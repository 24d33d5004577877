// SPDX-License-Identifier: BSD-2-Clause
/*
 * refbpf: attach to running CPython processes, sample their Python stacks
 * with eBPF, and write cProfile-style reports.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "folded_writer.h"
#include "pprof_writer.h"
#include "privileges.h"
#include "profile.h"
#include "profile_roots.h"
#include "pstats_writer.h"
#include "raw_format.h"
#include "recorder.h"
#include "report.h"
#include "speedscope_writer.h"

#define REFBPF_VERSION "0.1.0"
/* How long to wait for an interpreter that is still starting. */
#define ATTACH_WAIT_S 3.0

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	stop_requested = 1;
}

static void install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
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

/* Files first: a closed stdout must not cost the user their pstats file. */
static int write_outputs(const struct cli_options *o, const struct profile *prof)
{
	const struct {
		const char *path;
		int (*write)(const char *path, const struct profile *p);
	} files[] = {
		{ o->pstats_path, pstats_write },
		{ o->folded_path, folded_write },
		{ o->speedscope_path, speedscope_write },
		{ o->pprof_path, pprof_write },
	};
	int status = 0, err;

	/* each output on its own: one failing does not cost the others */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!files[i].path)
			continue;
		err = files[i].write(files[i].path, prof);
		if (err) {
			fprintf(stderr, "refbpf: cannot write %s: %s\n", files[i].path, strerror(-err));
			status = 1;
		}
	}
	struct report_opts ro = { .sort = o->sort, .limit = o->limit };

	if (report_write(stdout, prof, &ro) || fflush(stdout)) {
		fprintf(stderr, "refbpf: cannot write the report to stdout: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}

/* Roots as asked (several processes, or --all: one per process, unless
 * merged; --threads: one per thread), then every output. */
static int render(const struct cli_options *o, struct profile **prof, bool all)
{
	bool per_process = !o->merge_processes && (all || profile_sampled_processes(*prof) > 1);

	if (per_process || o->per_thread) {
		struct profile *rooted = profile_with_roots(*prof, per_process, o->per_thread);

		if (!rooted) {
			fprintf(stderr, "refbpf: out of memory\n");
			return 1;
		}
		profile_free(*prof);
		*prof = rooted;
	}
	return write_outputs(o, *prof);
}

int main(int argc, char **argv)
{
	double t0 = monotonic_s();
	struct cli_options o;
	struct profile *prof = NULL;
	char why[512];
	int status = 1, err;

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
	if (o.report_input) {
		prof = raw_read(o.report_input, why, sizeof(why));
		if (!prof)
			fprintf(stderr, "refbpf: %s\n", why);
		else
			status = render(&o, &prof, false);
		goto cleanup;
	}
	if (privileges_check(why, sizeof(why)) || btf_check(o.btf_path, why, sizeof(why))) {
		fprintf(stderr, "refbpf: %s\n", why);
		goto cleanup;
	}
	prof = profile_new();
	if (!prof) {
		fprintf(stderr, "refbpf: out of memory\n");
		goto cleanup;
	}
	install_signal_handlers();

	struct recorder_opts ro = {
		.pids = o.pids,
		.npids = o.npids,
		.rate_hz = o.rate_hz,
		.duration_s = o.duration_s,
		.attach_wait_s = ATTACH_WAIT_S,
		.btf_path = o.btf_path,
		.children = o.children,
		.all = o.all,
		.verbose = o.verbose,
		.stop = &stop_requested,
		.t0 = t0,
	};

	int rec = recorder_run(&ro, prof);

	if (rec < 0)
		goto cleanup;
	/* The raw profile keeps stacks as recorded: `report` chooses roots. */
	if (o.raw_path && (err = raw_write(o.raw_path, prof))) {
		fprintf(stderr, "refbpf: cannot write %s: %s\n", o.raw_path, strerror(-err));
		rec = 1;
	}
	status = render(&o, &prof, o.all) || rec;
cleanup:
	profile_free(prof);
	cli_free(&o);
	return status;
}
