// SPDX-License-Identifier: BSD-2-Clause
/*
 * profile_fixture: build a profile from a text description and run the
 * writers on it, so tests can check every output without root or BPF.
 *
 *   profile_fixture [--report FILE] [--sort KEY] [--limit N] [--icicle]
 *                   [--OUTPUT FILE]... [--stress N] INPUT
 *
 * --OUTPUT is each output's name in outputs.h: --pstats, --folded,
 * --speedscope, --pprof, --flamegraph, --html, --raw.
 *
 * INPUT ('-' for stdin) holds one record per line; empty lines and lines
 * starting with '#' are ignored:
 *
 *   FUNC<TAB>id<TAB>filename<TAB>firstlineno<TAB>name[<TAB>qualname]
 *   TARGET<TAB>pid<TAB>state<TAB>version<TAB>cmdline[<TAB>reason]
 *   STACK pid tid count flags id[:line],id[:line],...
 *   THREAD<TAB>pid<TAB>tid<TAB>name
 *   META key=value ...
 *
 * FUNC ids are the file's own (any non-negative integers). In FUNC, TARGET
 * and THREAD fields \n \r \t \\ and \xNN are unescaped, so tests can
 * inject control characters and invalid UTF-8; a field of just "-" is NULL.
 * state: profiled, exited, not_profiled. STACK frames are root first; a
 * missing line is -1; flags: 1 = truncated. THREAD names a thread of an
 * earlier STACK (15 bytes kept, as comm). META keys: rate, duration,
 * period, lost, err0 .. err7 (enum unwind_error, unwind_error.h).
 *
 * --stress N then adds N samples spread over N/4 distinct stacks and 64
 * threads and prints "stacks=S threads=T samples=N" for the test to check.
 * A write failure prints "refbpf: cannot write PATH: REASON" and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "output/outputs.h"
#include "profile/profile.h"
#include "output/table_writer.h"

#define MAX_FIELDS 32

struct fixture {
	const char *input;
	struct profile *p;
	int64_t *ids;		/* file id -> profile function index + 1 */
	size_t nids;
	unsigned long lineno;
};

static void parse_error(const struct fixture *fx, const char *msg, const char *what)
{
	fprintf(stderr, "profile_fixture: %s:%lu: %s%s%s\n", fx->input, fx->lineno, msg,
		what ? ": " : "", what ? what : "");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescape in place. NULL for "-", the string otherwise, or NULL + *bad. */
static char *unescape(char *s, bool *bad)
{
	char *out = s;

	if (!strcmp(s, "-"))
		return NULL;
	for (char *in = s; *in; in++) {
		if (*in != '\\') {
			*out++ = *in;
			continue;
		}
		switch (*++in) {
		case 'n':
			*out++ = '\n';
			break;
		case 'r':
			*out++ = '\r';
			break;
		case 't':
			*out++ = '\t';
			break;
		case '\\':
			*out++ = '\\';
			break;
		case 'x':
			/* \x00 would end the string early */
			if (hexval(in[1]) < 0 || hexval(in[2]) < 0 ||
			    (!hexval(in[1]) && !hexval(in[2])))
				goto bad;
			*out++ = (char)(hexval(in[1]) << 4 | hexval(in[2]));
			in += 2;
			break;
		default:
			goto bad;
		}
	}
	*out = '\0';
	return s;
bad:
	*bad = true;
	return NULL;
}

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && end != s && !*end;
}

static int split(char *line, const char *seps, char **fields)
{
	int n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
		if (n == MAX_FIELDS)
			return -1;
		fields[n++] = tok;
	}
	return n;
}

static int parse_func(struct fixture *fx, char *line)
{
	char *f[MAX_FIELDS], *filename, *name, *qualname = NULL;
	int64_t id, first, idx;
	bool bad = false;
	int n = split(line, "\t", f);

	if (n < 5 || n > 6 || !parse_i64(f[1], 0, 1 << 24, &id) ||
	    !parse_i64(f[3], INT32_MIN, INT32_MAX, &first)) {
		parse_error(fx, "expected FUNC id filename firstlineno name [qualname], TAB-separated",
			    NULL);
		return -EINVAL;
	}
	filename = unescape(f[2], &bad);
	name = unescape(f[4], &bad);
	if (n == 6)
		qualname = unescape(f[5], &bad);
	if (bad) {
		parse_error(fx, "bad escape", NULL);
		return -EINVAL;
	}
	if ((size_t)id >= fx->nids) {
		int64_t *ids = realloc(fx->ids, ((size_t)id + 1) * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		memset(ids + fx->nids, 0, ((size_t)id + 1 - fx->nids) * sizeof(*ids));
		fx->ids = ids;
		fx->nids = (size_t)id + 1;
	}
	idx = profile_intern_func(fx->p, filename, (int)first, name, qualname);
	if (idx < 0)
		return -ENOMEM;
	fx->ids[id] = idx + 1;
	return 0;
}

static int parse_state(const char *s)
{
	static const char *const names[] = { "profiled", "exited", "not_profiled" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int parse_target(struct fixture *fx, char *line)
{
	char *f[MAX_FIELDS], *version, *cmdline, *reason = NULL;
	int64_t pid;
	bool bad = false;
	int n = split(line, "\t", f), state;

	if (n < 5 || n > 6 || !parse_i64(f[1], 0, UINT32_MAX, &pid) ||
	    (state = parse_state(f[2])) < 0) {
		parse_error(fx, "expected TARGET pid state version cmdline [reason], TAB-separated",
			    NULL);
		return -EINVAL;
	}
	version = unescape(f[3], &bad);
	cmdline = unescape(f[4], &bad);
	if (n == 6)
		reason = unescape(f[5], &bad);
	if (bad) {
		parse_error(fx, "bad escape", NULL);
		return -EINVAL;
	}
	if (!profile_add_target(fx->p, (uint32_t)pid, state, version, cmdline, reason))
		return -ENOMEM;
	return 0;
}

/* "id[:line],..." into frames; the number of frames, or -1. */
static int parse_frames(struct fixture *fx, char *s, struct pframe *frames, int max)
{
	char *save = NULL;
	int n = 0;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		int64_t id, line = -1;

		if (colon)
			*colon = '\0';
		if (n == max || !parse_i64(tok, 0, INT64_MAX, &id) || (size_t)id >= fx->nids ||
		    !fx->ids[id] || (colon && !parse_i64(colon + 1, -1, INT32_MAX, &line)))
			return -1;
		frames[n].func = (uint32_t)(fx->ids[id] - 1);
		frames[n++].line = (int32_t)line;
	}
	return n;
}

static int parse_stack(struct fixture *fx, char *line)
{
	static struct pframe frames[4096];
	char *f[MAX_FIELDS];
	int64_t pid, tid, flags;
	uint64_t count;
	int n = split(line, " \t", f), nframes = -1;

	if (n == 6 && parse_i64(f[1], 0, UINT32_MAX, &pid) &&
	    parse_i64(f[2], 0, UINT32_MAX, &tid) && parse_u64(f[3], &count) &&
	    parse_i64(f[4], 0, UINT32_MAX, &flags))
		nframes = parse_frames(fx, f[5], frames, 4096);
	if (nframes <= 0) {
		parse_error(fx, "expected STACK pid tid count flags id[:line],... with known ids",
			    NULL);
		return -EINVAL;
	}
	return profile_add_stack(fx->p, (uint32_t)pid, (uint32_t)tid, (uint32_t)flags, frames,
				 (uint32_t)nframes, count);
}

static int parse_thread(struct fixture *fx, char *line)
{
	char *f[MAX_FIELDS], *name;
	int64_t pid, tid;
	struct pthread *th = NULL;
	bool bad = false;
	int n = split(line, "\t", f);

	if (n == 4 && parse_i64(f[1], 0, UINT32_MAX, &pid) && parse_i64(f[2], 0, UINT32_MAX, &tid))
		th = profile_find_thread(fx->p, (uint32_t)pid, (uint32_t)tid);
	if (!th) {
		parse_error(fx, "expected THREAD pid tid name, TAB-separated, after its STACK", NULL);
		return -EINVAL;
	}
	name = unescape(f[3], &bad);
	if (bad || !name) {
		parse_error(fx, "bad escape", NULL);
		return -EINVAL;
	}
	snprintf(th->name, sizeof(th->name), "%s", name);
	return 0;
}

static int parse_meta(struct fixture *fx, char *line)
{
	struct profile *p = fx->p;
	char *f[MAX_FIELDS];
	int n = split(line, " \t", f);

	if (n < 0) {
		parse_error(fx, "too many META fields", NULL);
		return -EINVAL;
	}
	for (int i = 1; i < n; i++) {
		char *eq = strchr(f[i], '=');
		char *end;
		uint64_t v;
		double d;

		if (!eq)
			goto bad;
		*eq++ = '\0';
		if (!strcmp(f[i], "duration") || !strcmp(f[i], "period")) {
			d = strtod(eq, &end);
			if (end == eq || *end)
				goto bad;
			*(!strcmp(f[i], "duration") ? &p->duration_s : &p->period_s) = d;
			continue;
		}
		if (!parse_u64(eq, &v))
			goto bad;
		if (!strcmp(f[i], "rate") && v <= UINT32_MAX)
			p->rate_hz = (unsigned int)v;
		else if (!strcmp(f[i], "lost"))
			p->lost_samples = v;
		else if (!strncmp(f[i], "err", 3) && f[i][3] >= '0' &&
			 f[i][3] < '0' + UNWIND_SLOTS && !f[i][4])
			p->unwind_errors[f[i][3] - '0'] = v;
		else
			goto bad;
	}
	return 0;
bad:
	parse_error(fx, "bad META field", f[n > 1 ? 1 : 0]);
	return -EINVAL;
}

static int parse_line(struct fixture *fx, char *line)
{
	if (!*line || *line == '#')
		return 0;
	if (!strncmp(line, "FUNC\t", 5))
		return parse_func(fx, line);
	if (!strncmp(line, "TARGET\t", 7))
		return parse_target(fx, line);
	if (!strncmp(line, "STACK", 5))
		return parse_stack(fx, line);
	if (!strncmp(line, "THREAD\t", 7))
		return parse_thread(fx, line);
	if (!strncmp(line, "META", 4))
		return parse_meta(fx, line);
	parse_error(fx, "unknown record", line);
	return -EINVAL;
}

static int load(struct fixture *fx)
{
	FILE *in = strcmp(fx->input, "-") ? fopen(fx->input, "re") : stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	if (!in) {
		err = -errno;
		fprintf(stderr, "profile_fixture: cannot read %s: %s\n", fx->input,
			strerror(-err));
		return err;
	}
	while (!err && (len = getline(&line, &cap, in)) >= 0) {
		fx->lineno++;
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		err = parse_line(fx, line);
		if (err == -ENOMEM)
			fprintf(stderr, "profile_fixture: out of memory\n");
	}
	free(line);
	if (in != stdin)
		fclose(in);
	return err;
}

/*
 * Many samples over many distinct stacks: stack k has tid k % 64 and
 * frames spelling k in base 97, so the expected counts are known exactly.
 */
static int stress(struct profile *p, uint64_t nsamples)
{
	uint64_t nstacks = nsamples / 4 ? nsamples / 4 : 1;
	struct pframe frames[16];
	int64_t base;
	char name[32];

	base = (int64_t)p->nfuncs;
	for (int i = 0; i < 97; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (profile_intern_func(p, "stress.py", i + 1, name, name) < 0)
			return -ENOMEM;
	}
	for (uint64_t i = 0; i < nsamples; i++) {
		/* 1000003 is prime, so k visits every stack */
		uint64_t k = i * 1000003 % nstacks;
		uint32_t n = 0;
		int err;

		frames[n++] = (struct pframe){ (uint32_t)base, 1 };
		for (uint64_t v = k; v; v /= 97)
			frames[n++] = (struct pframe){ (uint32_t)(base + (int64_t)(v % 97)), 2 };
		err = profile_add_stack(p, 4242, (uint32_t)(k % 64), 0, frames, n, 1);
		if (err)
			return err;
	}
	printf("stacks=%zu threads=%" PRIu32 " samples=%" PRIu64 "\n", p->nstacks, p->nthreads,
	       p->total_samples);
	return 0;
}

static int write_report(const char *path, const struct profile *p, const struct table_opts *o)
{
	struct atomic_file af;
	FILE *f;
	int err;

	if (!strcmp(path, "-"))
		return table_write(stdout, p, o);
	f = atomic_open(path, &af);
	if (!f)
		return -errno;
	err = table_write(f, p, o);
	if (err) {
		atomic_abort(&af);
		return err;
	}
	return atomic_commit(&af);
}

static int cannot_write(const char *path, int err)
{
	fprintf(stderr, "refbpf: cannot write %s: %s\n", path, strerror(-err));
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: profile_fixture [--report FILE] [--sort KEY] [--limit N] [--icicle]");
	for (int i = 0; i < OUTPUT_NR; i++)
		fprintf(f, " [--%s FILE]", outputs[i].name);
	fprintf(f, " [--stress N] INPUT\n");
}

int main(int argc, char **argv)
{
	/* getopt values of the outputs' options: OPT_OUTPUT + enum output_id */
	enum { OPT_OUTPUT = 0x100 };
	static const struct option fixed[] = {
		{ "report", required_argument, NULL, 'r' },
		{ "sort", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "icicle", no_argument, NULL, 'I' },
		{ "stress", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct option longopts[sizeof(fixed) / sizeof(fixed[0]) + OUTPUT_NR + 1];
	struct fixture fx = { 0 };
	struct table_opts ro = { .sort = TABLE_SORT_CUMULATIVE };
	struct output_style style = { 0 };
	output_paths paths = { 0 };
	const char *report = NULL;
	uint64_t nstress = 0, limit;
	int opt, err, ret = 2;

	memcpy(longopts, fixed, sizeof(fixed));
	for (int i = 0; i < OUTPUT_NR; i++)
		longopts[nfixed + i] = (struct option){ outputs[i].name, required_argument, NULL,
							OPT_OUTPUT + i };
	longopts[nfixed + OUTPUT_NR] = (struct option){ 0 };
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt >= OPT_OUTPUT && opt < OPT_OUTPUT + OUTPUT_NR) {
			paths[opt - OPT_OUTPUT] = optarg;
			continue;
		}
		switch (opt) {
		case 'r':
			report = optarg;
			break;
		case 's':
			ro.sort = table_parse_sort(optarg);
			if (ro.sort < 0) {
				fprintf(stderr, "profile_fixture: unknown sort key %s\n", optarg);
				return 2;
			}
			break;
		case 'l':
			if (!parse_u64(optarg, &limit) || limit > SIZE_MAX) {
				fprintf(stderr, "profile_fixture: bad limit %s\n", optarg);
				return 2;
			}
			ro.limit = (size_t)limit;
			break;
		case 'I':
			style.icicle = true;
			break;
		case 'S':
			if (!parse_u64(optarg, &nstress)) {
				fprintf(stderr, "profile_fixture: bad count %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	fx.input = argv[optind];
	fx.p = profile_new();
	if (!fx.p) {
		fprintf(stderr, "profile_fixture: out of memory\n");
		return 2;
	}
	if (load(&fx))
		goto cleanup;
	if (nstress && stress(fx.p, nstress)) {
		fprintf(stderr, "profile_fixture: stress failed\n");
		goto cleanup;
	}
	ret = 1;
	for (int i = 0; i < OUTPUT_NR; i++) {
		if (paths[i] && (err = outputs[i].write(paths[i], fx.p, &style))) {
			cannot_write(paths[i], err);
			goto cleanup;
		}
	}
	if (report && (err = write_report(report, fx.p, &ro))) {
		cannot_write(report, err);
		goto cleanup;
	}
	ret = 0;
cleanup:
	free(fx.ids);
	profile_free(fx.p);
	return ret;
}
