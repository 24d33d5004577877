// SPDX-License-Identifier: BSD-2-Clause
/*
 * A cached code object is found by (address, key): the key BPF computed
 * at sample time (bpf/code_key.h) tells it from any code object that had
 * the address before or after it. A code object is read only to be
 * checked against that key: what is read must give the sample's key, or
 * the frame is marked, never resolved to what lies there now.
 */
#include "python/symbolizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/linetable.h"
#include "base/proc.h"
#include "python/py_objects.h"
#include "python/target_walk.h"

struct code_entry {
	uint64_t code, key;
	int32_t firstlineno;
	bool used;
	uint32_t func;
	uint32_t ncode_units;	/* 0 when unknown */
	struct line_table lines;
};

/*
 * Frames resolved lately, direct-mapped by (code, instruction). Samples
 * repeat the same frames, and a hit skips the key hash, the probe and the
 * line-table search. A hit is exact: code entries are only ever added, so
 * a record resolves the same way for the life of the symbolizer.
 */
#define RECENT_SLOTS 512

struct recent_frame {
	uint64_t code, instr, key;
	int32_t firstlineno;
	struct pframe out;
};

struct symbolizer {
	struct recent_frame recent[RECENT_SLOTS];
	pid_t pid;
	const struct py_version_layout *layout;
	uint64_t code_type_addr;
	struct profile *prof;
	struct code_entry *slots;
	size_t nslots, nused;
	int64_t unknown_func;	/* placeholder, interned lazily */
	struct symbolizer_stats stats;
};

struct symbolizer *symbolizer_new(const struct py_process *proc, struct profile *prof)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = proc->pid;
	s->layout = &proc->layout;
	s->code_type_addr = proc->code_type_addr;
	s->prof = prof;
	s->nslots = 1024;
	s->unknown_func = -1;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used)
			line_table_free(&s->slots[i].lines);
	free(s->slots);
	free(s);
}

const struct symbolizer_stats *symbolizer_stats(const struct symbolizer *s)
{
	return &s->stats;
}

static struct code_entry *find_slot(struct code_entry *slots, size_t nslots, uint64_t code,
				    uint64_t key, int32_t firstlineno)
{
	size_t mask = nslots - 1;
	size_t i = refbpf_mix64(code ^ key) & mask;

	while (slots[i].used && !(slots[i].code == code && slots[i].key == key &&
				   slots[i].firstlineno == firstlineno))
		i = (i + 1) & mask;
	return &slots[i];
}

static int rehash_doubled(struct symbolizer *s)
{
	size_t n = s->nslots * 2;
	struct code_entry *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->nslots; i++) {
		struct code_entry *e = &s->slots[i];

		if (e->used)
			*find_slot(slots, n, e->code, e->key, e->firstlineno) = *e;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = n;
	return 0;
}

static int64_t unknown_func(struct symbolizer *s)
{
	if (s->unknown_func < 0)
		s->unknown_func = profile_intern_func(s->prof, "~", 0, "<unknown code object>",
						      "<unknown code object>");
	return s->unknown_func;
}

/* Largest offset of a code object field we read, plus its size. */
static size_t code_header_size(const struct py_version_layout *l)
{
	const struct py_code_layout *c = &l->code;
	uint16_t fields[] = { c->ob_type, c->filename, c->name, c->qualname,
			      c->firstlineno, c->linetable, c->bytes_size };
	size_t end = 0;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((size_t)fields[i] + 8 > end)
			end = (size_t)fields[i] + 8;
	return end;
}

static uint64_t u64_at(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* The key of an object read whole or in part (bpf/code_key.h), the part
 * BPF hashed read again from the target where it was not. 0 or -errno. */
static int data_key(pid_t pid, const struct py_layout *w, uint64_t addr, uint32_t kind,
		    const struct py_data *d, uint64_t *key)
{
	uint32_t first = code_key_first_read(addr, code_key_head(w, kind)), prefix;
	__u64 tail_at;
	uint8_t tail[CODE_KEY_TAIL];

	if (d->len >= d->bytes) {
		*key = code_key_of_whole(w, addr, kind, d->data_at, d->bytes, d->data);
		return 0;
	}
	code_key_cover(first, d->data_at, d->bytes, &prefix, &tail_at);
	if (prefix > d->len || d->bytes - tail_at > sizeof(tail))
		return -EINVAL;
	int err = proc_read(pid, addr + d->data_at + tail_at, tail, d->bytes - tail_at);

	if (!err)
		*key = code_key_of_data(d->bytes, d->data, 0, prefix, tail, tail_at);
	return err;
}

/* What load_code() reads of a code object besides its header. */
struct code_read {
	struct py_data name, filename, qualname, table;
	char *name_utf8, *filename_utf8, *qualname_utf8;
};

static void code_read_free(struct code_read *r)
{
	py_data_free(&r->name);
	py_data_free(&r->filename);
	py_data_free(&r->qualname);
	py_data_free(&r->table);
	free(r->name_utf8);
	free(r->filename_utf8);
	free(r->qualname_utf8);
}

/* Read the objects the code object (whose header is `head`) shows; with
 * `keys`, also their keys (bpf/code_key.h) into keys[0..3]. 0 or -errno. */
static int read_shown(struct symbolizer *s, const uint8_t *head, struct code_read *r,
		      uint64_t *keys)
{
	const struct py_code_layout *c = &s->layout->code;
	const struct py_layout *w = &s->layout->walk;
	uint64_t name = u64_at(head, c->name), filename = u64_at(head, c->filename);
	uint64_t qualname = c->qualname ? u64_at(head, c->qualname) : 0;
	uint64_t table = u64_at(head, c->linetable);
	int err;

	err = py_read_str_data(s->pid, c, name, &r->name);
	if (!err)
		err = py_read_str_data(s->pid, c, filename, &r->filename);
	if (!err && qualname)
		err = py_read_str_data(s->pid, c, qualname, &r->qualname);
	if (err)
		return err;
	/* A function without a readable line table still has a name; its
	 * key, where it counts, needs the table. */
	if (py_read_bytes_data(s->pid, c, table, &r->table) && keys)
		return -EFAULT;
	if (keys) {
		keys[2] = 0;
		err = data_key(s->pid, w, name, CODE_KEY_STR, &r->name, &keys[0]);
		if (!err)
			err = data_key(s->pid, w, filename, CODE_KEY_STR, &r->filename, &keys[1]);
		if (!err && qualname)
			err = data_key(s->pid, w, qualname, CODE_KEY_STR, &r->qualname, &keys[2]);
		if (!err)
			err = data_key(s->pid, w, table, CODE_KEY_BYTES, &r->table, &keys[3]);
		if (err)
			return err;
	}
	r->name_utf8 = py_data_utf8(&r->name);
	r->filename_utf8 = py_data_utf8(&r->filename);
	r->qualname_utf8 = qualname ? py_data_utf8(&r->qualname) : NULL;
	if (!r->name_utf8 || !r->filename_utf8 || (qualname && !r->qualname_utf8))
		return -EFAULT;
	return 0;
}

/*
 * Read the code object at rec->code and fill `e`. Returns 0, -ESTALE when
 * it is not the object the sample saw (its key differs), or another
 * -errno. Its name, file and lines are kept only when the bytes they come
 * from are those the key was made of: with co_version, the code object
 * still holds the same version after they were read (it cannot be freed
 * while it does); without, the key is made of those very bytes.
 */
static int load_code(struct symbolizer *s, const struct py_frame_rec *rec, struct code_entry *e)
{
	const struct py_code_layout *c = &s->layout->code;
	const struct py_layout *w = &s->layout->walk;
	uint8_t head[512], again[REFBPF_READ_SPAN];
	size_t hsize = code_header_size(s->layout);
	struct code_read r = { 0 };
	uint64_t keys[4] = { 0 }, key;
	int32_t firstlineno;
	bool versioned;
	int64_t func;
	int err;

	if (hsize > sizeof(head) || w->code_span_start + w->code_span > hsize ||
	    w->code_span > sizeof(again))
		return -EINVAL;
	err = proc_read(s->pid, rec->code, head, hsize);
	if (err)
		return err;
	if (u64_at(head, c->ob_type) != s->code_type_addr)
		return -ESTALE;
	memcpy(&firstlineno, head + c->firstlineno, sizeof(firstlineno));
	if (firstlineno != rec->firstlineno)
		return -ESTALE;
	versioned = code_key_version(w, head + w->code_span_start) != 0;
	err = read_shown(s, head, &r, versioned ? NULL : keys);
	if (err)
		goto cleanup;
	err = -ESTALE;
	key = code_key_fold(code_key_span(w, head + w->code_span_start), keys[0], keys[1], keys[2],
			    keys[3]);
	if (key != rec->key)
		goto cleanup;
	if (versioned) {
		err = proc_read(s->pid, rec->code + w->code_span_start, again, w->code_span);
		if (err || memcmp(again, head + w->code_span_start, w->code_span)) {
			err = err ? err : -ESTALE;
			goto cleanup;
		}
	}
	func = profile_intern_func(s->prof, r.filename_utf8, firstlineno, r.name_utf8,
				   r.qualname_utf8 ? r.qualname_utf8 : r.name_utf8);
	if (func < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	e->code = rec->code;
	e->key = key;
	e->firstlineno = firstlineno;
	e->func = (uint32_t)func;
	/* 3.11+: the code object is a variable-size object of code units. */
	if (c->code_adaptive) {
		int64_t units = (int64_t)u64_at(head, c->bytes_size);

		e->ncode_units = units > 0 && units < (1 << 24) ? (uint32_t)units : 0;
	}
	memset(&e->lines, 0, sizeof(e->lines));
	if (r.table.data && r.table.len == r.table.bytes)
		line_table_decode(&e->lines, s->layout->linetable_kind, r.table.data, r.table.len,
				  firstlineno, e->ncode_units);
	err = 0;
cleanup:
	code_read_free(&r);
	return err;
}

/* Code-unit index of the instruction the frame is executing, or -1. */
static int64_t instr_unit(const struct symbolizer *s, const struct code_entry *e,
			  const struct py_frame_rec *rec)
{
	switch (s->layout->instr_kind) {
	case INSTR_LASTI_BYTES:
		return (int32_t)rec->instr < 0 ? -1 : (int32_t)rec->instr / 2;
	case INSTR_LASTI_UNITS:
		return (int32_t)rec->instr;
	case INSTR_POINTER: {
		uint64_t base = e->code + s->layout->code.code_adaptive;

		if (rec->instr < base)
			return -1;
		uint64_t unit = (rec->instr - base) / 2;

		if (e->ncode_units && unit >= e->ncode_units)
			return -1;
		return (int64_t)unit;
	}
	}
	return -1;
}

/* Whether the frame has not started: f_lasti -1 (3.8-3.10), or the
 * instruction pointer one code unit before the code (3.11, 3.12). */
static bool not_started(const struct symbolizer *s, const struct code_entry *e,
			const struct py_frame_rec *rec)
{
	switch (s->layout->instr_kind) {
	case INSTR_LASTI_BYTES:
	case INSTR_LASTI_UNITS:
		return (int32_t)rec->instr == -1;
	case INSTR_POINTER:
		return rec->instr + 2 == e->code + s->layout->code.code_adaptive;
	}
	return false;
}

static struct recent_frame *recent_slot(struct symbolizer *s, const struct py_frame_rec *rec)
{
	uint64_t h = (rec->code ^ (rec->instr * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return &s->recent[(h >> 40) & (RECENT_SLOTS - 1)];
}

int symbolizer_resolve(struct symbolizer *s, const struct py_frame_rec *rec, struct pframe *out)
{
	struct code_entry *e;

	s->stats.lookups++;
	/* Without its key, nothing tells what the sample saw from what lies
	 * at that address now. */
	if (!rec->code || (rec->flags & FRAME_UNVALIDATED)) {
		s->stats.unreadable++;
		goto unknown;
	}
	const struct recent_frame *r = recent_slot(s, rec);

	if (r->code == rec->code && r->instr == rec->instr && r->key == rec->key &&
	    r->firstlineno == rec->firstlineno) {
		*out = r->out;
		return 0;
	}
	e = find_slot(s->slots, s->nslots, rec->code, rec->key, rec->firstlineno);
	if (!e->used) {
		struct code_entry fresh = { 0 };
		int err;

		s->stats.misses++;
		err = load_code(s, rec, &fresh);
		if (err == -ENOMEM)
			return err;
		if (err) {
			if (err == -ESTALE)
				s->stats.stale++;
			else
				s->stats.unreadable++;
			goto unknown;
		}
		if ((s->nused + 1) * 2 > s->nslots) {
			if (rehash_doubled(s)) {
				line_table_free(&fresh.lines);
				return -ENOMEM;
			}
			e = find_slot(s->slots, s->nslots, rec->code, rec->key, rec->firstlineno);
		}
		fresh.used = true;
		*e = fresh;
		s->nused++;
	}
	int64_t unit = instr_unit(s, e, rec);
	int32_t line = unit >= 0 ? line_table_lookup(&e->lines, (uint32_t)unit) : -1;

	out->func = e->func;
	/* A frame that has not run its first instruction is on its first
	 * line, as CPython says (f_lineno); any other instruction the line
	 * table does not place is on a line nobody knows: -1, never a guess. */
	out->line = line >= 0 ? line : not_started(s, e, rec) ? e->firstlineno : -1;
	*recent_slot(s, rec) = (struct recent_frame){ .code = rec->code, .instr = rec->instr,
						      .key = rec->key,
						      .firstlineno = rec->firstlineno,
						      .out = *out };
	return 0;
unknown:;
	int64_t f = unknown_func(s);

	if (f < 0)
		return -ENOMEM;
	out->func = (uint32_t)f;
	out->line = -1;
	return 0;
}
