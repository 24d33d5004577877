// SPDX-License-Identifier: BSD-2-Clause
/*
 * The key of a cached code object is (address, co_firstlineno, hash of
 * co_name), all three read by BPF at sample time. pymalloc hands a freed
 * code object's address to the next one of the same size; the name's hash
 * and the first line tell the new function from the old one.
 */
#include "symbolizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linetable.h"
#include "proc.h"
#include "py_objects.h"

struct code_entry {
	uint64_t code, name_hash;
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
	uint64_t code, instr, name_hash;
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

static uint64_t key_hash(uint64_t code, uint64_t name_hash, int32_t firstlineno)
{
	uint64_t h = code * 0x9e3779b97f4a7c15ull;

	h ^= name_hash + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h ^= (uint64_t)(uint32_t)firstlineno * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

static struct code_entry *find_slot(struct code_entry *slots, size_t nslots, uint64_t code,
				    uint64_t name_hash, int32_t firstlineno)
{
	size_t mask = nslots - 1;
	size_t i = key_hash(code, name_hash, firstlineno) & mask;

	while (slots[i].used && !(slots[i].code == code && slots[i].name_hash == name_hash &&
				   slots[i].firstlineno == firstlineno))
		i = (i + 1) & mask;
	return &slots[i];
}

static int grow(struct symbolizer *s)
{
	size_t n = s->nslots * 2;
	struct code_entry *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->nslots; i++) {
		struct code_entry *e = &s->slots[i];

		if (e->used)
			*find_slot(slots, n, e->code, e->name_hash, e->firstlineno) = *e;
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

/*
 * Read the code object at rec->code and fill `e`. Returns 0, -ESTALE when
 * it is no longer the object the sample saw, or another -errno.
 */
static int load_code(struct symbolizer *s, const struct py_frame_rec *rec, struct code_entry *e)
{
	const struct py_code_layout *c = &s->layout->code;
	uint8_t head[512];
	size_t hsize = code_header_size(s->layout);
	char *filename = NULL, *name = NULL, *qualname = NULL;
	uint8_t *table = NULL;
	size_t table_len = 0;
	int32_t firstlineno;
	uint64_t name_ptr, name_hash = 0;
	int64_t func;
	int err;

	if (hsize > sizeof(head))
		return -EINVAL;
	err = proc_read(s->pid, rec->code, head, hsize);
	if (err)
		return err;
	if (u64_at(head, c->ob_type) != s->code_type_addr)
		return -ESTALE;
	memcpy(&firstlineno, head + c->firstlineno, sizeof(firstlineno));
	name_ptr = u64_at(head, c->name);
	name = py_read_str_hashed(s->pid, c, s->layout->walk.unicode_hash, name_ptr, &name_hash);
	if (!name)
		return -EFAULT;
	err = -ESTALE;
	if (!(rec->reserved & FRAME_UNVALIDATED) &&
	    (firstlineno != rec->firstlineno || name_hash != rec->name_hash))
		goto cleanup;

	err = -EFAULT;
	filename = py_read_str(s->pid, c, u64_at(head, c->filename));
	if (!filename)
		goto cleanup;
	if (c->qualname)
		qualname = py_read_str(s->pid, c, u64_at(head, c->qualname));
	func = profile_intern_func(s->prof, filename, firstlineno, name, qualname ? qualname : name);
	if (func < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	e->code = rec->code;
	e->name_hash = name_hash;
	e->firstlineno = firstlineno;
	e->func = (uint32_t)func;
	/* 3.11+: the code object is a variable-size object of code units. */
	if (c->code_adaptive) {
		int64_t units = (int64_t)u64_at(head, c->bytes_size);

		e->ncode_units = units > 0 && units < (1 << 24) ? (uint32_t)units : 0;
	}
	/* A function without a readable line table still has a name. */
	memset(&e->lines, 0, sizeof(e->lines));
	if (!py_read_bytes(s->pid, c, u64_at(head, c->linetable), &table, &table_len))
		line_table_decode(&e->lines, s->layout->linetable_kind, table, table_len,
				  firstlineno, e->ncode_units);
	err = 0;
cleanup:
	free(filename);
	free(name);
	free(qualname);
	free(table);
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

static struct recent_frame *recent_slot(struct symbolizer *s, const struct py_frame_rec *rec)
{
	uint64_t h = (rec->code ^ (rec->instr * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return &s->recent[(h >> 40) & (RECENT_SLOTS - 1)];
}

int symbolizer_resolve(struct symbolizer *s, const struct py_frame_rec *rec, struct pframe *out)
{
	struct py_frame_rec key = *rec;
	struct code_entry *e;

	s->stats.lookups++;
	if (!(rec->reserved & FRAME_UNVALIDATED)) {
		const struct recent_frame *r = recent_slot(s, rec);

		if (r->code == rec->code && r->instr == rec->instr && r->name_hash == rec->name_hash &&
		    r->firstlineno == rec->firstlineno && rec->code) {
			*out = r->out;
			return 0;
		}
	}
	/* BPF could not read the validation key: read it now instead. */
	if (rec->reserved & FRAME_UNVALIDATED) {
		const struct py_layout *w = &s->layout->walk;
		uint64_t name_ptr = 0;

		if (proc_read(s->pid, rec->code + w->code_firstlineno, &key.firstlineno, 4) ||
		    proc_read(s->pid, rec->code + w->code_name, &name_ptr, 8) ||
		    proc_read(s->pid, name_ptr + w->unicode_hash, &key.name_hash, 8))
			goto unknown;
	}
	e = find_slot(s->slots, s->nslots, key.code, key.name_hash, key.firstlineno);
	if (!e->used) {
		struct code_entry fresh = { 0 };
		int err;

		s->stats.misses++;
		key.reserved &= ~FRAME_UNVALIDATED;
		err = load_code(s, &key, &fresh);
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
			if (grow(s)) {
				line_table_free(&fresh.lines);
				return -ENOMEM;
			}
			e = find_slot(s->slots, s->nslots, key.code, key.name_hash, key.firstlineno);
		}
		fresh.used = true;
		*e = fresh;
		s->nused++;
	}
	int64_t unit = instr_unit(s, e, rec);
	int32_t line = unit >= 0 ? line_table_lookup(&e->lines, (uint32_t)unit) : -1;

	out->func = e->func;
	out->line = line >= 0 ? line : e->firstlineno;
	if (!(rec->reserved & FRAME_UNVALIDATED))
		*recent_slot(s, rec) = (struct recent_frame){ .code = rec->code, .instr = rec->instr,
							      .name_hash = rec->name_hash,
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
