// SPDX-License-Identifier: BSD-2-Clause
/*
 * Tables are built by sorting, not hashing: strings and locations are
 * collected, sorted and made unique, and ids found by binary search. That
 * also makes the bytes depend on the profile's content only.
 */
#include "output/pprof_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/atomic_file.h"
#include "profile/callgraph.h"
#include "base/escape.h"
#include "base/grow.h"
#include "output/encode/protobuf.h"

/* profile.proto field numbers */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	VALUE_TYPE_TYPE = 1,
	VALUE_TYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,
	MAPPING_ID = 1,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
	FUNCTION_START_LINE = 5,
};

/* Strings every file uses; "" must be index 0, and sorts first. */
static const char *const fixed_strings[] = {
	"", "samples", "count", "nanoseconds", "pid", "tid", "thread_name", "python_thread_name",
	CG_TRUNCATED_NAME, CG_SYNTH_FILENAME,
};

struct strtab {
	char **s;		/* valid UTF-8; sorted and unique once built */
	size_t n, cap;
	char *scratch;		/* a looked-up string, sanitized */
	size_t scratch_cap;
	int err;		/* a lookup ran out of memory */
};

/* func == profile.nfuncs: the truncation marker */
struct loc {
	uint32_t func;
	int32_t line;
};

struct ctx {
	const struct profile *p;
	struct strtab st;
	struct loc *locs;
	size_t nlocs;
	char **comments;	/* one per target, raw */
	uint64_t period_ns;
};

static int str_add(struct strtab *t, const char *raw)
{
	size_t len = utf8_sanitize(NULL, 0, raw);
	char *copy;

	if (GROW(t->s, t->cap, t->n, 64))
		return -ENOMEM;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	utf8_sanitize(copy, len + 1, raw);
	t->s[t->n++] = copy;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void str_sort_unique(struct strtab *t)
{
	size_t out = 0;

	qsort(t->s, t->n, sizeof(*t->s), cmp_str);
	for (size_t i = 0; i < t->n; i++) {
		if (out && !strcmp(t->s[out - 1], t->s[i]))
			free(t->s[i]);
		else
			t->s[out++] = t->s[i];
	}
	t->n = out;
}

/* The index of a string added before the table was built; 0 ("") if absent. */
static uint64_t str_index(struct strtab *t, const char *raw)
{
	size_t len = utf8_sanitize(NULL, 0, raw);
	char *key, **hit;

	if (len >= t->scratch_cap) {
		char *s = realloc(t->scratch, len + 1);

		if (!s) {
			t->err = -ENOMEM;
			return 0;
		}
		t->scratch = s;
		t->scratch_cap = len + 1;
	}
	utf8_sanitize(t->scratch, t->scratch_cap, raw);
	key = t->scratch;
	hit = bsearch(&key, t->s, t->n, sizeof(*t->s), cmp_str);
	return hit ? (uint64_t)(hit - t->s) : 0;
}

static void str_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->scratch);
}

static const char *display_name(const struct pfunc *f)
{
	return f->qualname[0] ? f->qualname : f->name;
}

static int cmp_loc(const void *x, const void *y)
{
	const struct loc *a = x, *b = y;

	if (a->func != b->func)
		return a->func < b->func ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static struct loc frame_loc(const struct profile *p, const struct pframe *fr)
{
	/* pprof's line 0: not known */
	return (struct loc){ fr->func, fr->line < 0 ? 0 : fr->line };
}

static int collect_locations(struct ctx *c)
{
	const struct profile *p = c->p;
	size_t n = 0, out = 0;

	for (size_t i = 0; i < p->nstacks; i++)
		n += p->stacks[i]->nframes + 1;
	c->locs = malloc((n + 1) * sizeof(*c->locs));
	if (!c->locs)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = p->stacks[i];

		for (uint32_t k = 0; k < s->nframes; k++)
			c->locs[n++] = frame_loc(p, &s->frames[k]);
		if (s->flags & PSTACK_TRUNCATED)
			c->locs[n++] = (struct loc){ (uint32_t)p->nfuncs, 0 };
	}
	qsort(c->locs, n, sizeof(*c->locs), cmp_loc);
	for (size_t i = 0; i < n; i++)
		if (!out || cmp_loc(&c->locs[out - 1], &c->locs[i]))
			c->locs[out++] = c->locs[i];
	c->nlocs = out;
	return 0;
}

static uint64_t location_id(const struct ctx *c, struct loc l)
{
	const struct loc *hit = bsearch(&l, c->locs, c->nlocs, sizeof(l), cmp_loc);

	return hit ? (uint64_t)(hit - c->locs) + 1 : 0;
}

static char *target_comment(const struct ptarget *t)
{
	char *s = NULL;
	int n;

	if (t->state == PTARGET_NOT_PROFILED)
		n = asprintf(&s, "PID %u not profiled: %s", t->pid,
			     t->reason ? t->reason : "unknown reason");
	else
		n = asprintf(&s, "PID %u Python %s%s: %s", t->pid, t->version ? t->version : "?",
			     t->state == PTARGET_EXITED ? " (exited)" : "",
			     t->cmdline ? t->cmdline : "");
	return n < 0 ? NULL : s;
}

/* What the values measure: wall mode includes time off the CPU. */
static const char *time_type(const struct profile *p)
{
	return p->mode == PROFILE_MODE_WALL ? "wall" : "cpu";
}

static int collect_strings(struct ctx *c)
{
	const struct profile *p = c->p;
	struct strtab *t = &c->st;
	int err = 0;

	for (size_t i = 0; !err && i < sizeof(fixed_strings) / sizeof(fixed_strings[0]); i++)
		err = str_add(t, fixed_strings[i]);
	if (!err)
		err = str_add(t, time_type(p));
	for (size_t i = 0; !err && i < c->nlocs; i++) {
		const struct pfunc *f;

		if (c->locs[i].func == p->nfuncs || (i && c->locs[i - 1].func == c->locs[i].func))
			continue;
		f = &p->funcs[c->locs[i].func];
		if (str_add(t, display_name(f)) || str_add(t, f->name) || str_add(t, f->filename))
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < p->nthreads; i++) {
		err = str_add(t, p->threads[i].name);
		if (!err && p->threads[i].py_name[0])
			err = str_add(t, p->threads[i].py_name);
	}
	c->comments = calloc(p->ntargets + 1, sizeof(*c->comments));
	if (!c->comments)
		return -ENOMEM;
	for (size_t i = 0; !err && i < p->ntargets; i++) {
		c->comments[i] = target_comment(&p->targets[i]);
		err = c->comments[i] ? str_add(t, c->comments[i]) : -ENOMEM;
	}
	if (!err)
		str_sort_unique(t);
	return err;
}

static void append_message(struct pb_buf *b, uint32_t field, const struct pb_buf *sub)
{
	pb_bytes(b, field, sub->data, sub->len);
	if (!b->err)
		b->err = sub->err;
}

static void value_type(struct ctx *c, struct pb_buf *b, struct pb_buf *sub, uint32_t field,
		       const char *type, const char *unit)
{
	pb_reset(sub);
	pb_varint(sub, VALUE_TYPE_TYPE, str_index(&c->st, type));
	pb_varint(sub, VALUE_TYPE_UNIT, str_index(&c->st, unit));
	append_message(b, field, sub);
}

static void encode_label(struct ctx *c, struct pb_buf *sample, struct pb_buf *label,
			 const char *key, const char *str, uint64_t num)
{
	pb_reset(label);
	pb_varint(label, LABEL_KEY, str_index(&c->st, key));
	if (str)
		pb_varint(label, LABEL_STR, str_index(&c->st, str));
	else
		pb_varint(label, LABEL_NUM, num);
	append_message(sample, SAMPLE_LABEL, label);
}

static uint64_t mul_sat_i64(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) || r > INT64_MAX ? INT64_MAX : r;
}

static int encode_samples(struct ctx *c, struct pb_buf *b)
{
	const struct profile *p = c->p;
	struct pb_buf sample = { 0 }, label = { 0 };
	uint64_t *ids = NULL;
	size_t ids_cap = 0;
	int err = 0;

	for (size_t i = 0; !err && i < p->nstacks; i++) {
		const struct pstack *s = p->stacks[i];
		const struct pthread *th = profile_find_thread((struct profile *)p, s->pid, s->tid);
		uint64_t values[2] = { mul_sat_i64(s->count, 1), mul_sat_i64(s->count, c->period_ns) };
		size_t n = 0;

		if (ids_cap < (size_t)s->nframes + 1) {
			uint64_t *np = realloc(ids, ((size_t)s->nframes + 1) * sizeof(*ids));

			if (!np) {
				err = -ENOMEM;
				break;
			}
			ids = np;
			ids_cap = (size_t)s->nframes + 1;
		}
		/* leaf first */
		for (uint32_t k = s->nframes; k-- > 0;)
			ids[n++] = location_id(c, frame_loc(p, &s->frames[k]));
		if (s->flags & PSTACK_TRUNCATED)
			ids[n++] = location_id(c, (struct loc){ (uint32_t)p->nfuncs, 0 });
		pb_reset(&sample);
		pb_packed(&sample, SAMPLE_LOCATION_ID, ids, n);
		pb_packed(&sample, SAMPLE_VALUE, values, 2);
		encode_label(c, &sample, &label, "pid", NULL, s->pid);
		/* merged threads have no one tid, only their entry's name */
		if (s->tid != PROFILE_MERGED_TID)
			encode_label(c, &sample, &label, "tid", NULL, s->tid);
		if (th && th->name[0])
			encode_label(c, &sample, &label, "thread_name", th->name, 0);
		/* Python's own name for it, as py-spy labels its samples */
		if (th && th->py_name[0])
			encode_label(c, &sample, &label, "python_thread_name", th->py_name, 0);
		append_message(b, PROFILE_SAMPLE, &sample);
		err = b->err;
	}
	free(ids);
	pb_free(&sample);
	pb_free(&label);
	return err;
}

static void encode_function(struct ctx *c, struct pb_buf *b, struct pb_buf *sub, uint32_t func)
{
	const struct profile *p = c->p;
	bool marker = func == p->nfuncs;
	const struct pfunc *f = marker ? NULL : &p->funcs[func];

	pb_reset(sub);
	pb_varint(sub, FUNCTION_ID, (uint64_t)func + 1);
	pb_varint(sub, FUNCTION_NAME, str_index(&c->st, marker ? CG_TRUNCATED_NAME : display_name(f)));
	/*
	 * pprof takes a name equal to its system_name for an undemangled C++
	 * symbol and strips its <...>: "<module>" would print as nothing.
	 */
	if (!marker && strcmp(display_name(f), f->name))
		pb_varint(sub, FUNCTION_SYSTEM_NAME, str_index(&c->st, f->name));
	pb_varint(sub, FUNCTION_FILENAME, str_index(&c->st, marker ? CG_SYNTH_FILENAME : f->filename));
	/* int64 on the wire: a negative line is its two's complement */
	pb_varint(sub, FUNCTION_START_LINE, marker ? 0 : (uint64_t)(int64_t)f->firstlineno);
	append_message(b, PROFILE_FUNCTION, sub);
}

static void encode_tables(struct ctx *c, struct pb_buf *b)
{
	struct pb_buf sub = { 0 }, line = { 0 };

	value_type(c, b, &sub, PROFILE_SAMPLE_TYPE, "samples", "count");
	value_type(c, b, &sub, PROFILE_SAMPLE_TYPE, time_type(c->p), "nanoseconds");
	/* One mapping, marked symbolized: pprof then looks for no binary. */
	pb_reset(&sub);
	pb_varint(&sub, MAPPING_ID, 1);
	pb_varint(&sub, MAPPING_HAS_FUNCTIONS, 1);
	pb_varint(&sub, MAPPING_HAS_FILENAMES, 1);
	pb_varint(&sub, MAPPING_HAS_LINE_NUMBERS, 1);
	append_message(b, PROFILE_MAPPING, &sub);
	for (size_t i = 0; i < c->nlocs; i++) {
		pb_reset(&line);
		pb_varint(&line, LINE_FUNCTION_ID, (uint64_t)c->locs[i].func + 1);
		pb_varint(&line, LINE_LINE, (uint64_t)(int64_t)c->locs[i].line);
		pb_reset(&sub);
		pb_varint(&sub, LOCATION_ID, i + 1);
		pb_varint(&sub, LOCATION_MAPPING_ID, 1);
		append_message(&sub, LOCATION_LINE, &line);
		append_message(b, PROFILE_LOCATION, &sub);
	}
	for (size_t i = 0; i < c->nlocs; i++)
		if (!i || c->locs[i - 1].func != c->locs[i].func)
			encode_function(c, b, &sub, c->locs[i].func);
	for (size_t i = 0; i < c->st.n; i++)
		pb_string(b, PROFILE_STRING_TABLE, c->st.s[i]);
	pb_free(&sub);
	pb_free(&line);
}

static void encode_header(struct ctx *c, struct pb_buf *b)
{
	const struct profile *p = c->p;
	double ns = p->duration_s * 1e9;
	struct pb_buf sub = { 0 };

	if (ns >= 1 && ns < 9e18)
		pb_varint(b, PROFILE_DURATION_NANOS, (uint64_t)ns);
	value_type(c, b, &sub, PROFILE_PERIOD_TYPE, time_type(p), "nanoseconds");
	pb_varint(b, PROFILE_PERIOD, c->period_ns);
	for (size_t i = 0; i < p->ntargets; i++)
		pb_varint(b, PROFILE_COMMENT, str_index(&c->st, c->comments[i]));
	pb_free(&sub);
}

#define GZIP_WINDOW_BITS (15 + 16)	/* zlib: +16 asks for a gzip wrapper */
#define GZIP_CHUNK (1u << 30)

/* A gzip member (mtime 0: deterministic) of data onto f. 0 or -errno. */
static int write_gzip(FILE *f, const uint8_t *data, size_t len)
{
	z_stream zs = { 0 };
	uint8_t out[16384];
	size_t off = 0;
	int flush, err = 0;

	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	do {
		size_t chunk = len - off < GZIP_CHUNK ? len - off : GZIP_CHUNK;

		zs.next_in = (Bytef *)data + off;
		zs.avail_in = (uInt)chunk;
		off += chunk;
		flush = off == len ? Z_FINISH : Z_NO_FLUSH;
		do {
			size_t have;

			zs.next_out = out;
			zs.avail_out = sizeof(out);
			if (deflate(&zs, flush) == Z_STREAM_ERROR) {
				err = -EIO;
				goto cleanup;
			}
			have = sizeof(out) - zs.avail_out;
			if (have && fwrite(out, 1, have, f) != have) {
				err = errno ? -errno : -EIO;
				goto cleanup;
			}
		} while (!zs.avail_out);
	} while (flush != Z_FINISH);
cleanup:
	deflateEnd(&zs);
	return err;
}

static int encode(struct ctx *c, struct pb_buf *b)
{
	int err = collect_locations(c);

	if (!err)
		err = collect_strings(c);
	if (err)
		return err;
	encode_header(c, b);
	encode_tables(c, b);
	err = b->err;
	if (!err)
		err = encode_samples(c, b);
	return err ? err : c->st.err;
}

static int emit_gzip(FILE *f, void *ctx)
{
	const struct pb_buf *b = ctx;

	return write_gzip(f, b->data, b->len);
}

int pprof_write(const char *path, const struct profile *p)
{
	struct ctx c = { .p = p, .period_ns = profile_period_ns(p) };
	struct pb_buf b = { 0 };
	int err;

	err = encode(&c, &b);
	if (!err)
		err = atomic_write(path, emit_gzip, &b);
	for (size_t i = 0; c.comments && i < p->ntargets; i++)
		free(c.comments[i]);
	free(c.comments);
	free(c.locs);
	str_free(&c.st);
	pb_free(&b);
	return err;
}
