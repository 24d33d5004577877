// SPDX-License-Identifier: BSD-2-Clause
#include "py_locals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 3.14+ _PyStackRef: low bits 0b11 tag an int kept in the word itself;
 * otherwise the low two bits are flags and the rest is the object (0:
 * unbound, even with a flag set). */
#define STACKREF_INT_TAG 3
#define STACKREF_TAG_BITS 3

/* The name and kind of each slot: <= 3.10 from three tuples (locals,
 * then cells, then free variables); 3.11+ from one tuple and a bytes
 * object of kinds. */
struct slots {
	uint64_t *names;
	uint8_t *kinds;		/* PY_LOCAL_* per slot */
	bool *hidden;		/* 3.12+ comprehension-inlined: not shown */
	size_t n;
	bool cut;
};

static void slots_free(struct slots *s)
{
	free(s->names);
	free(s->kinds);
	free(s->hidden);
}

static int slots_alloc(struct slots *s, size_t n)
{
	s->names = calloc(n ? n : 1, sizeof(*s->names));
	s->kinds = calloc(n ? n : 1, sizeof(*s->kinds));
	s->hidden = calloc(n ? n : 1, sizeof(*s->hidden));
	return s->names && s->kinds && s->hidden ? 0 : -ENOMEM;
}

static int slots_38(struct py_reader *r, uint64_t code, struct slots *s)
{
	const struct py_object_layout *o = r->obj;
	const uint16_t at[3] = { o->code_varnames, o->code_cellvars, o->code_freevars };
	const uint8_t kind[3] = { PY_LOCAL_PLAIN, PY_LOCAL_CELL, PY_LOCAL_FREE };
	uint64_t *items[3] = { NULL, NULL, NULL };
	size_t count[3] = { 0, 0, 0 }, left = PY_LOCALS_MAX, k = 0;
	int err = 0;

	for (int i = 0; i < 3 && !err; i++) {
		uint64_t tuple;

		err = py_read_ptr(r, code + at[i], &tuple);
		if (!err)
			err = py_tuple_items(r, tuple, left, &items[i], &count[i]);
		if (!err)
			left -= count[i];
	}
	/* slots follow the same order: f_localsplus[locals][cells][frees] */
	if (!err)
		err = slots_alloc(s, count[0] + count[1] + count[2]);
	for (int i = 0; i < 3 && !err; i++)
		for (size_t j = 0; j < count[i]; j++, k++) {
			s->names[k] = items[i][j];
			s->kinds[k] = kind[i];
		}
	s->n = k;
	s->cut = !left;
	for (int i = 0; i < 3; i++)
		free(items[i]);
	return err;
}

static int slots_311(struct py_reader *r, uint64_t code, struct slots *s)
{
	const struct py_object_layout *o = r->obj;
	const struct py_code_layout *c = r->code;
	uint64_t tuple, kinds_obj, type;
	int64_t kinds_len;
	uint8_t raw[PY_LOCALS_MAX];
	int err;

	err = py_read_ptr(r, code + o->code_localsplusnames, &tuple);
	if (!err)
		err = py_read_ptr(r, code + o->code_localspluskinds, &kinds_obj);
	if (!err)
		err = py_tuple_items(r, tuple, PY_LOCALS_MAX, &s->names, &s->n);
	if (err)
		return err;
	/* one kind byte per name, in a bytes object */
	err = py_type_of(r, kinds_obj, &type);
	if (!err && type != r->types->bytes)
		err = -EINVAL;
	if (!err)
		err = py_read(r, kinds_obj + c->bytes_size, &kinds_len, sizeof(kinds_len));
	if (!err && (kinds_len < (int64_t)s->n || kinds_len > (1 << 16)))
		err = -EINVAL;
	if (!err && s->n)
		err = py_read(r, kinds_obj + c->bytes_sval, raw, s->n);
	if (err)
		return err;
	s->cut = kinds_len > PY_LOCALS_MAX;
	s->kinds = calloc(s->n ? s->n : 1, sizeof(*s->kinds));
	s->hidden = calloc(s->n ? s->n : 1, sizeof(*s->hidden));
	if (!s->kinds || !s->hidden)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		s->kinds[i] = raw[i] & PY_CO_FAST_FREE ? PY_LOCAL_FREE :
			      raw[i] & PY_CO_FAST_CELL ? PY_LOCAL_CELL :
							 PY_LOCAL_PLAIN;
		s->hidden[i] = raw[i] & PY_CO_FAST_HIDDEN;
	}
	return 0;
}

/* The code object the frame runs now (its f_code / f_executable). */
static int frame_code(struct py_reader *r, const struct py_layout *walk, uint64_t frame,
		      uint64_t *code)
{
	int err = py_read_ptr(r, frame + walk->frame_code, code);

	if (!err)
		*code &= ~walk->code_tag_mask;
	return err;
}

/* One slot's value into `v`; 1 when unbound (not shown). */
static int slot_value(struct py_reader *r, uint64_t word, int kind, struct py_local *v)
{
	uint64_t obj = word, type, inner;
	int err;

	if (r->obj->stackref_locals) {
		if ((word & STACKREF_INT_TAG) == STACKREF_INT_TAG) {
			py_value_of_int((int64_t)word >> 2, &v->value);
			return 0;
		}
		obj = word & ~(uint64_t)STACKREF_TAG_BITS;
	}
	if (!obj)
		return 1;
	/* a cell or free variable holds a cell once the function runs */
	if (kind != PY_LOCAL_PLAIN && !py_type_of(r, obj, &type) && type == r->types->cell) {
		err = py_read_ptr(r, obj + r->obj->cell_ref, &inner);
		if (err)
			return err;
		if (!inner)
			return 1;
		obj = inner;
	}
	return py_value_describe(r, obj, &v->value);
}

int py_locals_read(struct py_reader *r, const struct py_layout *walk, uint64_t frame,
		   uint64_t code, struct py_frame_locals *out)
{
	struct slots s = { 0 };
	uint64_t *words = NULL, now;
	int err;

	memset(out, 0, sizeof(*out));
	if (!py_reader_usable(r) || !r->types->cell || !r->types->bytes || !r->types->tuple)
		return -ENOTSUP;
	err = r->obj->version_hex >= 0x030b0000 ? slots_311(r, code, &s) : slots_38(r, code, &s);
	if (!err && s.n) {
		words = calloc(s.n, sizeof(*words));
		err = words ? py_read(r, frame + r->obj->frame_localsplus, words, s.n * 8) : -ENOMEM;
	}
	/* the values belong to `code` only if the frame still runs it */
	if (!err)
		err = frame_code(r, walk, frame, &now);
	if (!err && now != code)
		err = -ESTALE;
	if (!err) {
		out->vars = calloc(s.n ? s.n : 1, sizeof(*out->vars));
		err = out->vars ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !err && i < s.n; i++) {
		struct py_local *v = &out->vars[out->n];
		bool cut;

		if (s.hidden[i])
			continue;
		v->kind = s.kinds[i];
		v->error = slot_value(r, words[i], v->kind, v);
		if (v->error == 1)
			continue;	/* unbound */
		err = py_str_read(r, s.names[i], PY_LOCAL_NAME_CHARS, &v->name, &cut);
		if (err == -ENOMEM)
			break;
		if (err) {
			/* a name that is not a str: the code object is not sane */
			err = -EINVAL;
			break;
		}
		out->n++;
	}
	out->cut = s.cut;
	free(words);
	slots_free(&s);
	if (err)
		py_locals_free(out);
	return err;
}

void py_locals_free(struct py_frame_locals *l)
{
	for (size_t i = 0; l->vars && i < l->n; i++)
		free(l->vars[i].name);
	free(l->vars);
	memset(l, 0, sizeof(*l));
}
