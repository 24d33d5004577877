// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "output/table_writer.h"

#define DEFAULT_RATE_HZ 100
/* past a thread pool, before a thread-per-request server grows without bound */
#define DEFAULT_THREAD_LIMIT 1024
#define MAX_RATE_HZ 100000

enum long_only_option {
	OPT_BTF = 0x100,
	OPT_VERSION,
	OPT_THREADS,
	OPT_MERGE_PROCESSES,
	OPT_NATIVE,
	OPT_EVERY,
	OPT_KEEP,
	OPT_JSON,
	OPT_ICICLE,
	OPT_KERNEL,
	OPT_MODE,
	OPT_GIL,
	OPT_THREAD_LIMIT,
	OPT_LOCALS,
	OPT_AS_ROOT,
	/* the outputs' long-only options: OPT_OUTPUT + enum output_id */
	OPT_OUTPUT = 0x200,
};

static const struct option fixed_options[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "rate", required_argument, NULL, 'F' },
	{ "duration", required_argument, NULL, 'd' },
	{ "sort", required_argument, NULL, 's' },
	{ "limit", required_argument, NULL, 'n' },
	{ "icicle", no_argument, NULL, OPT_ICICLE },
	{ "every", required_argument, NULL, OPT_EVERY },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "locals", no_argument, NULL, OPT_LOCALS },
	{ "as-root", no_argument, NULL, OPT_AS_ROOT },
	{ "btf", required_argument, NULL, OPT_BTF },
	{ "children", no_argument, NULL, 'C' },
	{ "all", no_argument, NULL, 'a' },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ "thread-limit", required_argument, NULL, OPT_THREAD_LIMIT },
	{ "kernel", no_argument, NULL, OPT_KERNEL },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "gil", no_argument, NULL, OPT_GIL },
	{ "merge-processes", no_argument, NULL, OPT_MERGE_PROCESSES },
	{ "native", no_argument, NULL, OPT_NATIVE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
};
#define NFIXED_OPTIONS (sizeof(fixed_options) / sizeof(fixed_options[0]))

/* fixed_options, then one per output, then the terminator */
static void make_long_options(struct option *opts)
{
	memcpy(opts, fixed_options, sizeof(fixed_options));
	for (int i = 0; i < OUTPUT_NR; i++)
		opts[NFIXED_OPTIONS + i] = (struct option){
			outputs[i].option + 2, required_argument, NULL,
			outputs[i].short_option ? outputs[i].short_option : OPT_OUTPUT + i,
		};
	opts[NFIXED_OPTIONS + OUTPUT_NR] = (struct option){ 0 };
}

/* The output -c asks for (an option's getopt value), or -1. */
static int output_of_option(int c)
{
	if (c >= OPT_OUTPUT && c < OPT_OUTPUT + OUTPUT_NR)
		return c - OPT_OUTPUT;
	for (int i = 0; i < OUTPUT_NR && c > 0 && c < 0x100; i++)
		if (outputs[i].short_option == c)
			return i;
	return -1;
}

void cli_usage(FILE *out)
{
	fputs("Usage: refbpf --pid PID [PID...] [options]\n"
	      "       refbpf --all [options]\n"
	      "       refbpf record [options] [--] PROGRAM [ARGS...]\n"
	      "       refbpf report RAWFILE [output options]\n"
	      "       refbpf top --pid PID [PID...] | --all [-C] [-F HZ] [-n ROWS]\n"
	      "       refbpf dump --pid PID [PID...] [--json] [--locals]\n"
	      "\n"
	      "Sample the Python stacks of running CPython processes with eBPF and\n"
	      "print a cumulative-sorted table when recording ends (Ctrl-C, SIGTERM,\n"
	      "-d expiry, or every target gone). `record` starts PROGRAM, profiles it\n"
	      "from its first line (-C: and its children) until it exits, and exits\n"
	      "with its exit status (128+N for signal N).\n"
	      "\n"
	      "  -p, --pid PID...       processes to profile: one or more PIDs, space-\n"
	      "                         or comma-separated, e.g. -p $(pgrep -f server)\n"
	      "  -F, --rate HZ          samples per second per CPU (default 100)\n"
	      "  -d, --duration SECS    stop after SECS seconds (default: Ctrl-C)\n"
	      "      --mode cpu|wall    cpu (default): on-CPU time, sampled; wall: also\n"
	      "                         each thread's off-CPU time (I/O, sleep, locks),\n"
	      "                         exact, from the scheduler, as an <off-CPU> leaf\n"
	      "                         (<preempted>: runnable, waiting for a CPU)\n"
	      "      --kernel           kernel frames on top of the Python stack\n"
	      "      --gil              whether each sample held the GIL; with --mode wall\n"
	      "                         also the time spent waiting for it (<GIL wait>)\n"
	      "  -s, --sort KEY         cumulative (default), tottime, samples, ncalls,\n"
	      "                         name, filename\n"
	      "  -n, --limit N          print at most N rows\n",
	      out);
	for (int i = 0; i < OUTPUT_NR; i++)
		fputs(outputs[i].help, out);
	fputs("      --every SECS       continuous mode: every SECS seconds write each\n"
	      "                         output for that window, named NAME-<UTC start>.EXT\n"
	      "      --keep N           with --every: keep only the newest N windows\n"
	      "  -C, --children         also profile the targets' descendants, present\n"
	      "                         and future (reloader children, workers)\n"
	      "  -a, --all              every Python process on the host, present and\n"
	      "                         future, each under its own root\n"
	      "      --threads          give each thread its own root: id, Python name\n"
	      "                         and OS name, <thread 12 worker (OS: python3)>\n"
	      "      --thread-limit N   threads per process kept apart (default 1024); the\n"
	      "                         later ones of a thread-per-request server are\n"
	      "                         merged into one <more threads> entry\n"
	      "      --merge-processes  no per-process root when several processes\n"
	      "                         were sampled: merge their stacks\n"
	      "      --native           C frames too, interleaved with the Python frames\n"
	      "                         that call them and that they call (unwound from a\n"
	      "                         32 KiB stack copy with the files' CFI; no ptrace)\n"
	      "      --btf PATH         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	      "      --as-root          record: run PROGRAM as root under sudo too (by\n"
	      "                         default it runs as the user who ran sudo)\n"
	      "      --json             dump: JSON instead of text\n"
	      "      --locals           dump: each frame's local variables\n"
	      "  -v, --verbose          say what is attached and found; -vv adds libbpf's log\n"
	      "  -h, --help             this text\n"
	      "      --version          version and compiled-in features\n"
	      "\n"
	      "Examples:\n"
	      "  sudo refbpf --pid $(pgrep -f server_dev)\n"
	      "  sudo refbpf -p 1234 5678 -d 30 -F 199 -o profile.out -s tottime\n"
	      "  sudo refbpf --all -d 60 --folded host.folded\n"
	      "  sudo refbpf -p 1234 -d 30 --speedscope run.json --pprof run.pb.gz\n"
	      "  sudo refbpf -p 1234 -d 60 --raw run.raw; refbpf report run.raw -o run.prof\n"
	      "  sudo refbpf -p 1234 -d 10 --native --flamegraph mixed.svg\n"
	      "  sudo refbpf record -C -o app.prof -- python3 app.py --workers 4\n"
	      "  sudo refbpf dump -p 1234 --locals\n",
	      out);
}

int cli_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Add every PID in `arg` ("1234", "1234,5678", "1234 5678"). */
static int add_pids(struct cli_options *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save)) {
		unsigned long pid;
		pid_t *np;

		if (cli_parse_ulong(tok, 1, INT_MAX, &pid)) {
			fprintf(stderr, "refbpf: invalid PID '%s'\n", tok);
			err = -EINVAL;
			break;
		}
		np = realloc(o->pids, (o->npids + 1) * sizeof(*np));
		if (!np) {
			err = -ENOMEM;
			break;
		}
		o->pids = np;
		o->pids[o->npids++] = (pid_t)pid;
	}
	free(copy);
	return err;
}

static int parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 1e9)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_options *o)
{
	struct option long_options[NFIXED_OPTIONS + OUTPUT_NR + 1];
	const char *recording_only = NULL;
	unsigned long v;
	bool pid_given = false, record = false;
	int c, out;

	const char *optstring = ":p:F:d:s:n:o:Cavh";

	memset(o, 0, sizeof(*o));
	o->rate_hz = DEFAULT_RATE_HZ;
	o->thread_limit = DEFAULT_THREAD_LIMIT;
	o->sort = TABLE_SORT_CUMULATIVE;
	if (argc < 2) {
		/* as perf, py-spy and austin do */
		o->help = true;
		return 0;
	}
	if (!strcmp(argv[1], "record")) {
		record = true;
		/* options end at PROGRAM: its own options are its own */
		optstring = "+:p:F:d:s:n:o:Cavh";
		argc--;
		argv++;
	} else if (argc >= 2 && !strcmp(argv[1], "report")) {
		if (argc < 3 || argv[2][0] == '-') {
			fputs("refbpf: report: give the raw profile to render (written by --raw FILE)\n",
			      stderr);
			return -EINVAL;
		}
		o->report_input = argv[2];
		/* Parse the rest as if FILE were the program name. */
		argc -= 2;
		argv += 2;
	} else if (argc >= 2 && !strcmp(argv[1], "top")) {
		o->top = true;
		argc--;
		argv++;
	} else if (argc >= 2 && !strcmp(argv[1], "dump")) {
		o->dump = true;
		argc--;
		argv++;
	}
	make_long_options(long_options);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, long_options, NULL)) != -1) {
		out = output_of_option(c);
		if (out >= 0) {
			o->paths[out] = optarg;
			if (outputs[out].recording_only)
				recording_only = outputs[out].option;
			continue;
		}
		switch (c) {
		case 'p':
			pid_given = true;
			recording_only = "--pid";
			if (add_pids(o, optarg))
				return -EINVAL;
			break;
		case 'F':
			if (cli_parse_ulong(optarg, 1, MAX_RATE_HZ, &v)) {
				fprintf(stderr, "refbpf: invalid rate '%s' (1-%d Hz)\n", optarg,
					MAX_RATE_HZ);
				return -EINVAL;
			}
			o->rate_hz = (unsigned int)v;
			recording_only = "--rate";
			break;
		case 'd':
			if (parse_duration(optarg, &o->duration_s)) {
				fprintf(stderr, "refbpf: invalid duration '%s' (seconds > 0)\n", optarg);
				return -EINVAL;
			}
			break;
		case 's':
			o->sort = table_parse_sort(optarg);
			if (o->sort < 0) {
				fprintf(stderr,
					"refbpf: unknown sort key '%s' (cumulative, tottime, samples, ncalls, name, filename)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (cli_parse_ulong(optarg, 1, ULONG_MAX, &v)) {
				fprintf(stderr, "refbpf: invalid limit '%s'\n", optarg);
				return -EINVAL;
			}
			o->limit = v;
			break;
		case OPT_EVERY:
			if (parse_duration(optarg, &o->every_s) || o->every_s < 1) {
				fprintf(stderr, "refbpf: invalid window '%s' (seconds >= 1)\n", optarg);
				return -EINVAL;
			}
			recording_only = "--every";
			break;
		case OPT_THREAD_LIMIT:
			if (cli_parse_ulong(optarg, 1, 1000000, &v)) {
				fprintf(stderr, "refbpf: invalid --thread-limit '%s' (1 or more threads)\n",
					optarg);
				return -EINVAL;
			}
			o->thread_limit = (unsigned int)v;
			recording_only = "--thread-limit";
			break;
		case OPT_KEEP:
			if (cli_parse_ulong(optarg, 1, 1000000, &v)) {
				fprintf(stderr, "refbpf: invalid --keep '%s' (1 or more windows)\n", optarg);
				return -EINVAL;
			}
			o->keep = (unsigned int)v;
			recording_only = "--keep";
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LOCALS:
			o->locals = true;
			break;
		case OPT_AS_ROOT:
			o->as_root = true;
			break;
		case OPT_ICICLE:
			o->style.icicle = true;
			break;
		case OPT_BTF:
			o->btf_path = optarg;
			recording_only = "--btf";
			break;
		case 'C':
			o->children = true;
			recording_only = "--children";
			break;
		case 'a':
			o->all = true;
			recording_only = "--all";
			break;
		case OPT_THREADS:
			o->per_thread = true;
			break;
		case OPT_KERNEL:
			o->kernel = true;
			recording_only = "--kernel";
			break;
		case OPT_GIL:
			o->gil = true;
			recording_only = "--gil";
			break;
		case OPT_MODE:
			if (strcmp(optarg, "cpu") && strcmp(optarg, "wall")) {
				fprintf(stderr, "refbpf: unknown mode '%s' (cpu or wall)\n", optarg);
				return -EINVAL;
			}
			o->wall = !strcmp(optarg, "wall");
			recording_only = "--mode";
			break;
		case OPT_MERGE_PROCESSES:
			o->merge_processes = true;
			break;
		case OPT_NATIVE:
			o->native = true;
			recording_only = "--native";
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			o->help = true;
			return 0;
		case OPT_VERSION:
			o->version = true;
			return 0;
		case ':':
			fprintf(stderr, "refbpf: option '%s' needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "refbpf: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (record) {
		/* PROGRAM and its arguments: what is left ("--" was eaten) */
		if (optind >= argc) {
			fputs("refbpf: record: give the program to run, e.g. refbpf record -- python3 app.py\n",
			      stderr);
			return -EINVAL;
		}
		o->command = argv + optind;
	}
	/* getopt moves non-options to the end: with -p they are more PIDs. */
	for (int i = optind; !record && i < argc; i++) {
		if (!pid_given) {
			fprintf(stderr, "refbpf: unexpected argument '%s' (see --help)\n", argv[i]);
			return -EINVAL;
		}
		if (add_pids(o, argv[i]))
			return -EINVAL;
	}
	if (o->style.icicle && !o->paths[OUTPUT_FLAMEGRAPH]) {
		fputs("refbpf: --icicle is how --flamegraph FILE is drawn: give --flamegraph\n", stderr);
		return -EINVAL;
	}
	if (o->report_input) {
		if (recording_only || o->duration_s > 0) {
			fprintf(stderr, "refbpf: report: %s is for recording, not for rendering a raw profile\n",
				recording_only ? recording_only : "--duration");
			return -EINVAL;
		}
		return 0;
	}
	bool files = outputs_any(o->paths);

	if ((o->json || o->locals) && !o->dump) {
		fprintf(stderr, "refbpf: %s is for 'refbpf dump'\n", o->json ? "--json" : "--locals");
		return -EINVAL;
	}
	if (o->as_root && !record) {
		fputs("refbpf: --as-root is for 'refbpf record PROGRAM'\n", stderr);
		return -EINVAL;
	}
	if (o->dump && (o->all || o->children || o->every_s || o->duration_s > 0 ||
			files || o->per_thread || o->kernel || o->gil || o->wall ||
			o->native)) {
		fputs("refbpf: dump takes --pid PID [PID...], --json and --locals only\n", stderr);
		return -EINVAL;
	}
	if (o->top && (files || o->every_s)) {
		fputs("refbpf: top shows a live view and writes no files (record without 'top' for -o, --folded, --raw, --every)\n",
		      stderr);
		return -EINVAL;
	}
	if (o->keep && !o->every_s) {
		fputs("refbpf: --keep needs --every\n", stderr);
		return -EINVAL;
	}
	if (o->every_s && !files) {
		fputs("refbpf: --every needs an output file to write each window to (", stderr);
		outputs_print_options(stderr);
		fputs(")\n", stderr);
		return -EINVAL;
	}
	if (record) {
		if (pid_given || o->all) {
			fputs("refbpf: record starts its own target: --pid and --all are for running processes\n",
			      stderr);
			return -EINVAL;
		}
		return 0;
	}
	if (o->all) {
		if (pid_given) {
			fputs("refbpf: --all and --pid exclude each other\n", stderr);
			return -EINVAL;
		}
		return 0;
	}
	if (!o->npids) {
		fprintf(stderr, pid_given ? "refbpf: --pid was given no PID (did pgrep find nothing?)\n"
					  : "refbpf: no target: give --pid PID or --all (see --help)\n");
		return -EINVAL;
	}
	return 0;
}

void cli_free(struct cli_options *o)
{
	free(o->pids);
	o->pids = NULL;
	o->npids = 0;
}
