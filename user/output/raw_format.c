// SPDX-License-Identifier: BSD-2-Clause
/*
 * Raw profile writer and reader. The reader parses bytes someone handed
 * us: bounded line lengths, strict numbers, indices checked against what
 * the file declared, and one-line errors naming the line.
 */
#include "output/raw_format.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "base/grow.h"
#include "profile/thread_label.h"

#define RAW_MAGIC "refbpf-raw 1"
#define RAW_MAX_FILE (1u << 30)
#define RAW_MAX_FIELDS 8

/* ---- writing ---- */

static bool raw_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._/:<>()~+=,@-[]", c);
}

static void put_string(FILE *f, const char *s)
{
	if (!s) {
		fputs(" !", f);
		return;
	}
	fputc(' ', f);
	if (!*s) {
		fputc('%', f);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (raw_safe(c))
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

static void write_body(FILE *f, const struct profile *p)
{
	fprintf(f, "%s\n", RAW_MAGIC);
	fprintf(f, "meta rate_hz=%u period_s=%.17g duration_s=%.17g lost=%" PRIu64, p->rate_hz,
		p->period_s, p->duration_s, p->lost_samples);
	/* only when set: raw files of plain cpu recordings stay as they were */
	if (p->mode == PROFILE_MODE_WALL)
		fputs(" mode=wall", f);
	if (p->gil)
		fputs(" gil=1", f);
	if (p->kernel)
		fputs(" kernel=1", f);
	if (p->merged_threads)
		fprintf(f, " merged_threads=%" PRIu64, p->merged_threads);
	for (int i = 0; i < UNWIND_SLOTS; i++)
		fprintf(f, " err%d=%" PRIu64, i, p->unwind_errors[i]);
	fputc('\n', f);
	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct pfunc *fn = &p->funcs[i];

		fprintf(f, "func %zu %d", i, fn->firstlineno);
		put_string(f, fn->filename);
		put_string(f, fn->name);
		put_string(f, fn->qualname);
		fputc('\n', f);
	}
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = p->stacks[i];

		fprintf(f, "stack %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " ", s->pid, s->tid,
			s->flags, s->count);
		for (uint32_t k = 0; k < s->nframes; k++)
			fprintf(f, "%s%" PRIu32 ":%" PRId32, k ? "," : "", s->frames[k].func,
				s->frames[k].line);
		fputc('\n', f);
	}
	for (uint32_t i = 0; i < p->nthreads; i++) {
		fprintf(f, "thread %" PRIu32 " %" PRIu32, p->threads[i].pid, p->threads[i].tid);
		put_string(f, p->threads[i].name);
		fputc('\n', f);
		/* a record of its own: readers before it pass it over */
		if (p->threads[i].py_name[0]) {
			fprintf(f, "pythread %" PRIu32 " %" PRIu32, p->threads[i].pid,
				p->threads[i].tid);
			put_string(f, p->threads[i].py_name);
			fputc('\n', f);
		}
	}
	for (size_t i = 0; i < p->ntargets; i++) {
		const struct ptarget *t = &p->targets[i];

		fprintf(f, "target %" PRIu32 " %" PRIu32 " %d %" PRIu64, t->pid, t->ns_pid, t->state,
			t->samples);
		put_string(f, t->version);
		put_string(f, t->cmdline);
		put_string(f, t->reason);
		fputc('\n', f);
	}
}

static int emit_raw(FILE *f, void *ctx)
{
	write_body(f, ctx);
	return 0;
}

int raw_write(const char *path, const struct profile *p)
{
	return atomic_write(path, emit_raw, (void *)p);
}

/* ---- reading ---- */

struct raw_reader {
	const char *name;
	size_t lineno;
	char *why;
	size_t whylen;
	struct profile *p;
	uint32_t *func_map;	/* file's func id -> profile index */
	size_t nfunc_map;
	struct pframe *frames;
	size_t frames_cap;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct raw_reader *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->why, r->whylen, "%s:%zu: %s", r->name, r->lineno, msg);
	return -EINVAL;
}

/* Next space-separated field of *line; NULL when there is none. */
static char *next_field(char **line)
{
	char *s = *line, *end;

	if (!s || !*s)
		return NULL;
	end = strchr(s, ' ');
	if (end) {
		*end = 0;
		*line = end + 1;
	} else {
		*line = NULL;
	}
	return s;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_i32(const char *s, int32_t *out)
{
	char *end;
	long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < INT32_MIN || v > INT32_MAX)
		return -EINVAL;
	*out = (int32_t)v;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode a string field in place. 0 (with *out NULL for "!"), or -EINVAL. */
static int decode_string(char *s, char **out)
{
	char *w = s;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "!")) {
		*out = NULL;
		return 0;
	}
	if (!strcmp(s, "%")) {
		*s = 0;
		*out = s;
		return 0;
	}
	for (char *c = s; *c; c++) {
		if (*c != '%') {
			if (!raw_safe((unsigned char)*c))
				return -EINVAL;
			*w++ = *c;
			continue;
		}
		int hi = hexval(c[1]), lo = hi < 0 ? -1 : hexval(c[2]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		*w++ = (char)(hi << 4 | lo);
		c += 2;
	}
	*w = 0;
	*out = s;
	return 0;
}

static int read_meta(struct raw_reader *r, char *rest)
{
	char *field;

	while ((field = next_field(&rest))) {
		char *eq = strchr(field, '=');
		uint64_t v;
		double d;
		char *end;

		if (!eq)
			return fail(r, "meta field without '='");
		*eq = 0;
		const char *key = field, *val = eq + 1;

		if (!strcmp(key, "period_s") || !strcmp(key, "duration_s")) {
			errno = 0;
			d = strtod(val, &end);
			if (errno || end == val || *end || !isfinite(d) || d < 0 || d > 1e9)
				return fail(r, "bad %s", key);
			*(!strcmp(key, "period_s") ? &r->p->period_s : &r->p->duration_s) = d;
		} else if (!strcmp(key, "rate_hz")) {
			if (parse_u64(val, 1000000, &v))
				return fail(r, "bad rate_hz");
			r->p->rate_hz = (unsigned int)v;
		} else if (!strcmp(key, "mode")) {
			if (strcmp(val, "wall") && strcmp(val, "cpu"))
				return fail(r, "bad mode");
			r->p->mode = !strcmp(val, "wall") ? PROFILE_MODE_WALL : PROFILE_MODE_CPU;
		} else if (!strcmp(key, "gil") || !strcmp(key, "kernel")) {
			if (parse_u64(val, 1, &v))
				return fail(r, "bad %s", key);
			*(!strcmp(key, "gil") ? &r->p->gil : &r->p->kernel) = v == 1;
		} else if (!strcmp(key, "lost")) {
			if (parse_u64(val, UINT64_MAX, &r->p->lost_samples))
				return fail(r, "bad lost");
		} else if (!strcmp(key, "merged_threads")) {
			if (parse_u64(val, UINT32_MAX, &r->p->merged_threads))
				return fail(r, "bad merged_threads");
		} else if (!strncmp(key, "err", 3) && key[3] >= '0' && key[3] < '0' + UNWIND_SLOTS &&
			   !key[4]) {
			if (parse_u64(val, UINT64_MAX, &r->p->unwind_errors[key[3] - '0']))
				return fail(r, "bad %s", key);
		}
		/* Unknown keys are from a newer refbpf: skipped. */
	}
	return 0;
}

static int read_func(struct raw_reader *r, char *rest)
{
	char *filename, *name, *qualname;
	uint64_t id;
	int32_t first;
	int64_t idx;

	if (parse_u64(next_field(&rest), UINT32_MAX, &id) || id != r->nfunc_map)
		return fail(r, "function ids must count up from 0");
	if (parse_i32(next_field(&rest), &first) ||
	    decode_string(next_field(&rest), &filename) || decode_string(next_field(&rest), &name) ||
	    decode_string(next_field(&rest), &qualname) || rest)
		return fail(r, "malformed function");
	if (!filename || !name)
		return fail(r, "function without file or name");
	uint32_t *nm = realloc(r->func_map, (r->nfunc_map + 1) * sizeof(*nm));

	if (!nm)
		return -ENOMEM;
	r->func_map = nm;
	idx = profile_intern_func(r->p, filename, first, name, qualname ? qualname : name);
	if (idx < 0)
		return -ENOMEM;
	r->func_map[r->nfunc_map++] = (uint32_t)idx;
	return 0;
}

static int read_stack(struct raw_reader *r, char *rest)
{
	uint64_t pid, tid, flags, count;
	char *frames = NULL, *frame;
	uint32_t n = 0;

	if (parse_u64(next_field(&rest), UINT32_MAX, &pid) ||
	    parse_u64(next_field(&rest), UINT32_MAX, &tid) ||
	    parse_u64(next_field(&rest), PSTACK_TRUNCATED, &flags) ||
	    parse_u64(next_field(&rest), UINT32_MAX, &count) || !count ||
	    !(frames = next_field(&rest)) || rest)
		return fail(r, "malformed stack");
	while ((frame = strsep(&frames, ","))) {
		char *colon = strchr(frame, ':');
		uint64_t id;
		int32_t line;

		if (!colon)
			return fail(r, "malformed frame");
		*colon = 0;
		if (parse_u64(frame, UINT32_MAX, &id) || id >= r->nfunc_map ||
		    parse_i32(colon + 1, &line))
			return fail(r, "frame names an unknown function");
		if (GROW(r->frames, r->frames_cap, n, 64))
			return -ENOMEM;
		r->frames[n].func = r->func_map[id];
		r->frames[n].line = line;
		if (++n > 1u << 20)
			return fail(r, "stack too deep");
	}
	int err = profile_add_stack(r->p, (uint32_t)pid, (uint32_t)tid, (uint32_t)flags, r->frames,
				    n, count);

	return err == -EINVAL ? fail(r, "bad stack") : err;
}

static int read_thread(struct raw_reader *r, char *rest)
{
	uint64_t pid, tid;
	struct pthread *th;
	char *name;

	if (parse_u64(next_field(&rest), UINT32_MAX, &pid) ||
	    parse_u64(next_field(&rest), UINT32_MAX, &tid) ||
	    decode_string(next_field(&rest), &name) || rest)
		return fail(r, "malformed thread");
	th = profile_find_thread(r->p, (uint32_t)pid, (uint32_t)tid);
	if (!th)
		return fail(r, "thread without samples");
	snprintf(th->name, sizeof(th->name), "%s", name ? name : "?");
	return 0;
}

static int read_pythread(struct raw_reader *r, char *rest)
{
	uint64_t pid, tid;
	struct pthread *th;
	char *name;

	if (parse_u64(next_field(&rest), UINT32_MAX, &pid) ||
	    parse_u64(next_field(&rest), UINT32_MAX, &tid) ||
	    decode_string(next_field(&rest), &name) || rest || !name)
		return fail(r, "malformed pythread");
	th = profile_find_thread(r->p, (uint32_t)pid, (uint32_t)tid);
	if (!th)
		return fail(r, "pythread without samples");
	thread_name_copy(th->py_name, sizeof(th->py_name), name);
	return 0;
}

static int read_target(struct raw_reader *r, char *rest)
{
	uint64_t pid, ns_pid, state, samples;
	char *version, *cmdline, *reason;
	struct ptarget *t;

	if (parse_u64(next_field(&rest), UINT32_MAX, &pid) ||
	    parse_u64(next_field(&rest), UINT32_MAX, &ns_pid) ||
	    parse_u64(next_field(&rest), PTARGET_NOT_PROFILED, &state) ||
	    parse_u64(next_field(&rest), UINT64_MAX, &samples) ||
	    decode_string(next_field(&rest), &version) || decode_string(next_field(&rest), &cmdline) ||
	    decode_string(next_field(&rest), &reason) || rest)
		return fail(r, "malformed target");
	t = profile_add_target(r->p, (uint32_t)pid, (int)state, version, cmdline, reason);
	if (!t)
		return -ENOMEM;
	t->ns_pid = (uint32_t)ns_pid;
	t->samples = samples;
	return 0;
}

static int read_line(struct raw_reader *r, char *line)
{
	char *kind = next_field(&line);

	if (!kind)
		return fail(r, "empty line");
	if (!strcmp(kind, "meta"))
		return read_meta(r, line);
	if (!strcmp(kind, "func"))
		return read_func(r, line);
	if (!strcmp(kind, "stack"))
		return read_stack(r, line);
	if (!strcmp(kind, "thread"))
		return read_thread(r, line);
	if (!strcmp(kind, "pythread"))
		return read_pythread(r, line);
	if (!strcmp(kind, "target"))
		return read_target(r, line);
	return 0;	/* a record kind from a newer refbpf */
}

struct profile *raw_parse(const char *buf, size_t len, const char *name, char *why,
			  size_t whylen)
{
	struct raw_reader r = { .name = name, .why = why, .whylen = whylen };
	char *copy = malloc(len + 1), *line, *cursor;
	int err = 0;

	r.p = profile_new();
	if (!copy || !r.p) {
		snprintf(why, whylen, "%s: out of memory", name);
		goto fail;
	}
	memcpy(copy, buf, len);
	copy[len] = 0;
	if (memchr(buf, 0, len)) {
		snprintf(why, whylen, "%s: not a refbpf raw profile (binary data)", name);
		goto fail;
	}
	cursor = copy;
	while (!err && (line = strsep(&cursor, "\n"))) {
		r.lineno++;
		if (r.lineno == 1) {
			if (strcmp(line, RAW_MAGIC)) {
				snprintf(why, whylen, "%s: not a refbpf raw profile (version 1)", name);
				goto fail;
			}
			continue;
		}
		if (!*line && !cursor)
			break;	/* the final newline */
		err = read_line(&r, line);
	}
	if (err == -ENOMEM)
		snprintf(why, whylen, "%s: out of memory", name);
	if (err)
		goto fail;
	free(copy);
	free(r.func_map);
	free(r.frames);
	return r.p;
fail:
	free(copy);
	free(r.func_map);
	free(r.frames);
	profile_free(r.p);
	return NULL;
}

struct profile *raw_read(const char *path, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct profile *p;

	if (!f) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap && (len >= RAW_MAX_FILE || GROW(buf, cap, len, 1 << 16))) {
			snprintf(why, whylen, "%s: too large or out of memory", path);
			free(buf);
			fclose(f);
			return NULL;
		}
		size_t got = fread(buf + len, 1, cap - len, f);

		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	p = raw_parse(buf ? buf : "", len, path, why, whylen);
	free(buf);
	return p;
}
