// SPDX-License-Identifier: BSD-2-Clause
/*
 * CPython structure offsets from DWARF with libdw.
 *
 * C types are top-level DIEs of some unit. The units' top levels are
 * scanned once, stopping as soon as every wanted type has a definition
 * that holds every member we need: a same-named type without them (another
 * library's `struct _frame`, 3.11's PyFrameObject read as 3.10) is passed
 * over.
 *
 * The files are untrusted (any process's binaries, possibly in a
 * container): they are opened non-blocking and must be regular files, read
 * rather than mapped (a file truncated under a mapping faults), detached
 * debug files must match the binary, typedef chains and anonymous nesting
 * are bounded, and every offset must lie inside its structure.
 */
#include "python/layout/dwarf_layout.h"
#include "python/layout/versions.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DL_DEBUG_DIR "/usr/lib/debug"
#define DL_MAX_FIELDS 8
#define DL_MAX_PEEL 16		/* typedefs and qualifiers in a row */
#define DL_MAX_NEST 8		/* anonymous members inside anonymous members */
#define DL_MAX_OFFSET (1u << 24)
#define DL_MAX_BUILD_ID 64
#define DL_MAX_LINK 256
#define DL_CRC_CHUNK 65536
#define DL_PTR 8		/* 64-bit files only */

enum dl_type_id {
	DL_RUNTIME,
	DL_INTERP,
	DL_TSTATE,
	DL_CFRAME,
	DL_FRAME,
	DL_CODE,
	DL_OBJECT,
	DL_BYTES,
	DL_ASCII,
	DL_COMPACT,
	DL_GIL,
	/* objects (py_object_layout.h) */
	DL_VAROBJ,
	DL_TYPE,
	DL_HEAPTYPE,
	DL_MODULE,
	DL_DICT,
	DL_KEYS,
	DL_VALUES,
	DL_TUPLE,
	DL_LONG,
	DL_FLOAT,
	DL_CELL,
	DL_NR_TYPES,
};

struct dl_field {
	const char *path;	/* member, dotted through nested structs; NULL: sizeof */
	uint16_t *out;
	uint8_t size;		/* the member's size the BPF side reads, 0: any */
	bool optional;		/* a build may lack it: then *out = DL_ABSENT */
	/* path is a str's state: *out = where its kind:3, compact:1,
	 * ascii:1 bit-fields start in it (they must follow each other) */
	bool str_state_bits;
};

/* An optional member the build lacks (free-threaded builds' own). */
#define DL_ABSENT UINT16_MAX

struct dl_type {
	const char *tag;	/* struct tag */
	const char *tdef;	/* typedef name */
	struct dl_field fields[DL_MAX_FIELDS];
	int nfields;
	bool wanted, found;
};

struct dl_plan {
	struct dl_type types[DL_NR_TYPES];
	int left;		/* wanted types not found yet */
};

struct dl_file {
	int fd;
	Elf *elf;
};

struct dl_ctx {
	const char *root;	/* "" for the host */
	const char *path;	/* inside root */
	struct dl_plan plan;
	struct py_version_layout layout;
	struct py_object_layout objects;
	unsigned char build_id[DL_MAX_BUILD_ID];
	size_t build_id_len;
	char debuglink[DL_MAX_LINK];
	GElf_Word debuglink_crc;
	char main_path[PATH_MAX];
	char buf[PATH_MAX];
	bool lacking;		/* DWARF was read that lacks a wanted type */
};

static struct dl_type *dl_want(struct dl_plan *p, int id, const char *tag, const char *tdef)
{
	struct dl_type *t = &p->types[id];

	t->tag = tag;
	t->tdef = tdef;
	t->wanted = true;
	return t;
}

static int dl_add(struct dl_type *t, const char *path, uint16_t *out, uint8_t size)
{
	if (t->nfields >= DL_MAX_FIELDS)
		return -E2BIG;
	t->fields[t->nfields++] = (struct dl_field){ .path = path, .out = out, .size = size };
	return 0;
}

/* The bit-fields of the str state at `path` (struct dl_field.str_state_bits). */
static int dl_add_str_bits(struct dl_type *t, const char *path, uint16_t *out)
{
	int err = dl_add(t, path, out, 4);

	if (!err)
		t->fields[t->nfields - 1].str_state_bits = true;
	return err;
}

/* A member only free-threaded builds have: its presence tells them. */
static int dl_add_ft(struct dl_type *t, const char *path, uint16_t *out, uint8_t size)
{
	int err = dl_add(t, path, out, size);

	if (!err)
		t->fields[t->nfields - 1].optional = true;
	return err;
}

/* What to look for in the DWARF of 3.`minor` (its traits: versions.c), writing into `l`. */
static int dl_plan_init(struct dl_plan *p, int minor, struct py_version_layout *l)
{
	struct py_layout *w = &l->walk;
	struct py_code_layout *c = &l->code;
	const struct py_version_traits *v = py_version_traits(3, minor);
	struct dl_type *t;
	int err = 0;

	if (!v)
		return -ENOTSUP;
	bool fo = v->frame_model == FRAME_MODEL_FRAME_OBJECT, cf = v->flags & LAYOUT_VIA_CFRAME;
	/* The GIL: in _PyRuntime up to 3.11, then each interpreter points
	 * to the one it uses. */
	bool gil_in_runtime = v->gil_flag == LAYOUT_GIL_IN_RUNTIME;

	t = dl_want(p, DL_RUNTIME, "pyruntimestate", "_PyRuntimeState");
	err |= dl_add(t, "interpreters.head", &w->runtime_interpreters_head, DL_PTR);
	if (gil_in_runtime)
		err |= dl_add(t, "ceval.gil", &w->gil_at, 0);
	t = dl_want(p, DL_INTERP, "_is", "PyInterpreterState");
	err |= dl_add(t, "next", &w->interp_next, DL_PTR);
	err |= dl_add(t, fo ? "tstate_head" : "threads.head", &w->interp_threads_head, DL_PTR);
	if (!gil_in_runtime)
		err |= dl_add(t, "ceval.gil", &w->gil_at, DL_PTR);
	/* the code counter (3.12's is a global, not described here) */
	if (v->code_gen == CODE_GEN_INTERP)
		err |= dl_add(t, "func_state.next_version", &l->interp_code_gen, 4);
	else if (v->code_gen == CODE_GEN_INTERP_ON_FREE)
		err |= dl_add(t, "_code_object_generation", &l->interp_code_gen, 8);
	t = dl_want(p, DL_GIL, "_gil_runtime_state", NULL);
	err |= dl_add(t, "locked", &w->gil_locked, 4);
	err |= dl_add(t, "last_holder", &w->gil_holder, DL_PTR);
	err |= dl_add(t, NULL, &w->gil_size, 0);
	if (v->ft_builds)
		err |= dl_add_ft(t, "enabled", &w->gil_enabled, 4);
	t = dl_want(p, DL_TSTATE, "_ts", "PyThreadState");
	if (!gil_in_runtime)
		err |= dl_add(t, "interp", &w->tstate_interp, DL_PTR);
	err |= dl_add(t, "next", &w->tstate_next, DL_PTR);
	err |= dl_add(t, "thread_id", &w->tstate_thread_id, 8);
	err |= dl_add(t, fo ? "frame" : cf ? "cframe" : "current_frame", &w->tstate_frame, DL_PTR);
	if (cf) {
		t = dl_want(p, DL_CFRAME, "_PyCFrame", "_PyCFrame");
		err |= dl_add(t, "current_frame", &w->cframe_current_frame, DL_PTR);
	}
	if (fo) {
		t = dl_want(p, DL_FRAME, "_frame", "PyFrameObject");
		err |= dl_add(t, "f_code", &w->frame_code, DL_PTR);
		err |= dl_add(t, "f_back", &w->frame_previous, DL_PTR);
		err |= dl_add(t, "f_lasti", &w->frame_instr, 4);
	} else {
		t = dl_want(p, DL_FRAME, "_PyInterpreterFrame", "_PyInterpreterFrame");
		/* 3.14's f_executable is a tagged _PyStackRef: still 8 bytes */
		err |= dl_add(t, minor <= 12 ? "f_code" : "f_executable", &w->frame_code, DL_PTR);
		err |= dl_add(t, "previous", &w->frame_previous, DL_PTR);
		err |= dl_add(t, minor <= 12 ? "prev_instr" : "instr_ptr", &w->frame_instr, DL_PTR);
		err |= dl_add(t, "owner", &w->frame_owner, 1);
		if (v->frame_is_entry)
			err |= dl_add(t, "is_entry", &w->frame_is_entry, 1);
		if (v->ft_flags & LAYOUT_TLBC)
			err |= dl_add_ft(t, "tlbc_index", &w->frame_tlbc_index, 4);
	}
	t = dl_want(p, DL_CODE, "PyCodeObject", "PyCodeObject");
	err |= dl_add(t, "co_filename", &c->filename, DL_PTR);
	err |= dl_add(t, "co_name", &c->name, DL_PTR);
	err |= dl_add(t, "co_firstlineno", &c->firstlineno, 4);
	err |= dl_add(t, minor <= 9 ? "co_lnotab" : "co_linetable", &c->linetable, DL_PTR);
	if (!fo) {
		err |= dl_add(t, "co_qualname", &c->qualname, DL_PTR);
		err |= dl_add(t, "co_code_adaptive", &c->code_adaptive, 0);
	}
	if (v->code_version)
		err |= dl_add(t, "co_version", &c->version, 4);
	if (v->ft_flags & LAYOUT_TLBC)
		err |= dl_add_ft(t, "co_tlbc", &w->code_tlbc, DL_PTR);
	t = dl_want(p, DL_OBJECT, "_object", "PyObject");
	err |= dl_add(t, "ob_type", &c->ob_type, DL_PTR);
	/* ob_size where it is read: in a bytes object */
	t = dl_want(p, DL_BYTES, NULL, "PyBytesObject");
	err |= dl_add(t, "ob_base.ob_size", &c->bytes_size, 8);
	err |= dl_add(t, "ob_sval", &c->bytes_sval, 0);
	t = dl_want(p, DL_ASCII, NULL, "PyASCIIObject");
	err |= dl_add(t, "length", &c->unicode_length, 8);
	err |= dl_add(t, "hash", &w->unicode_hash, 8);
	err |= dl_add(t, "state", &c->unicode_state, 0);
	err |= dl_add_str_bits(t, "state", &c->unicode_kind_bit);
	err |= dl_add(t, NULL, &c->unicode_ascii_size, 0);
	t = dl_want(p, DL_COMPACT, NULL, "PyCompactUnicodeObject");
	err |= dl_add(t, NULL, &c->unicode_compact_size, 0);
	return err ? -E2BIG : 0;
}

/* What to look for to check an object layout, writing into `o`. */
static int dl_object_plan_init(struct dl_plan *p, int minor, struct py_object_layout *o)
{
	bool old = minor <= 10;
	struct dl_type *t;
	int err = 0;

	t = dl_want(p, DL_OBJECT, "_object", "PyObject");
	err |= dl_add(t, "ob_type", &o->ob_type, DL_PTR);
	t = dl_want(p, DL_VAROBJ, NULL, "PyVarObject");
	err |= dl_add(t, "ob_size", &o->var_size, 8);
	t = dl_want(p, DL_INTERP, "_is", "PyInterpreterState");
	err |= dl_add(t, minor <= 11 ? "modules" : "imports.modules", &o->interp_modules, DL_PTR);
	t = dl_want(p, DL_TYPE, "_typeobject", "PyTypeObject");
	err |= dl_add(t, "tp_name", &o->type_name, DL_PTR);
	err |= dl_add(t, "tp_basicsize", &o->type_basicsize, 8);
	err |= dl_add(t, "tp_flags", &o->type_flags, 8);
	err |= dl_add(t, "tp_dictoffset", &o->type_dictoffset, 8);
	t = dl_want(p, DL_HEAPTYPE, "_heaptypeobject", "PyHeapTypeObject");
	err |= dl_add(t, "ht_cached_keys", &o->heaptype_cached_keys, DL_PTR);
	t = dl_want(p, DL_MODULE, NULL, "PyModuleObject");
	err |= dl_add(t, "md_dict", &o->module_dict, DL_PTR);
	t = dl_want(p, DL_DICT, NULL, "PyDictObject");
	err |= dl_add(t, "ma_keys", &o->dict_keys, DL_PTR);
	err |= dl_add(t, "ma_values", &o->dict_values, DL_PTR);
	t = dl_want(p, DL_KEYS, "_dictkeysobject", "PyDictKeysObject");
	err |= dl_add(t, old ? "dk_size" : "dk_log2_size", &o->keys_size, old ? 8 : 1);
	if (!old) {
		err |= dl_add(t, "dk_log2_index_bytes", &o->keys_log2_index_bytes, 1);
		err |= dl_add(t, "dk_kind", &o->keys_kind, 1);
		t = dl_want(p, DL_VALUES, "_dictvalues", "PyDictValues");
		err |= dl_add(t, "values", &o->values_items, 0);
		t = &p->types[DL_KEYS];
	}
	err |= dl_add(t, "dk_nentries", &o->keys_nentries, 8);
	err |= dl_add(t, "dk_indices", &o->keys_indices, 0);
	t = dl_want(p, DL_TUPLE, NULL, "PyTupleObject");
	err |= dl_add(t, "ob_item", &o->tuple_items, 0);
	t = dl_want(p, DL_LONG, "_longobject", "PyLongObject");
	err |= dl_add(t, minor <= 11 ? "ob_base.ob_size" : "long_value.lv_tag", &o->long_size, 8);
	err |= dl_add(t, minor <= 11 ? "ob_digit" : "long_value.ob_digit", &o->long_digits, 0);
	t = dl_want(p, DL_FLOAT, NULL, "PyFloatObject");
	err |= dl_add(t, "ob_fval", &o->float_value, 8);
	t = dl_want(p, DL_CELL, NULL, "PyCellObject");
	err |= dl_add(t, "ob_ref", &o->cell_ref, DL_PTR);
	t = dl_want(p, DL_CODE, "PyCodeObject", "PyCodeObject");
	if (old) {
		err |= dl_add(t, "co_varnames", &o->code_varnames, DL_PTR);
		err |= dl_add(t, "co_cellvars", &o->code_cellvars, DL_PTR);
		err |= dl_add(t, "co_freevars", &o->code_freevars, DL_PTR);
		t = dl_want(p, DL_FRAME, "_frame", "PyFrameObject");
		err |= dl_add(t, "f_localsplus", &o->frame_localsplus, 0);
	} else {
		err |= dl_add(t, "co_localsplusnames", &o->code_localsplusnames, DL_PTR);
		err |= dl_add(t, "co_localspluskinds", &o->code_localspluskinds, DL_PTR);
		t = dl_want(p, DL_FRAME, "_PyInterpreterFrame", "_PyInterpreterFrame");
		err |= dl_add(t, "localsplus", &o->frame_localsplus, 0);
	}
	return err ? -E2BIG : 0;
}

static void dl_plan_reset(struct dl_plan *p)
{
	p->left = 0;
	for (int i = 0; i < DL_NR_TYPES; i++) {
		p->types[i].found = false;
		p->left += p->types[i].wanted;
	}
}

/* Through typedefs and qualifiers to a struct or union definition. */
static bool dl_peel(Dwarf_Die *die)
{
	for (int i = 0; i < DL_MAX_PEEL; i++) {
		Dwarf_Attribute attr;

		switch (dwarf_tag(die)) {
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
			return !dwarf_hasattr(die, DW_AT_declaration);
		case DW_TAG_typedef:
		case DW_TAG_const_type:
		case DW_TAG_volatile_type:
		case DW_TAG_atomic_type:
			break;
		default:
			return false;
		}
		if (!dwarf_attr(die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, die))
			return false;
	}
	return false;
}

static int dl_member_offset(Dwarf_Die *m, bool in_union, Dwarf_Word *off)
{
	Dwarf_Attribute attr;
	Dwarf_Op *ops;
	size_t nops;

	if (!dwarf_attr(m, DW_AT_data_member_location, &attr)) {
		/* only union members may leave it out (bit-fields aside) */
		if (!in_union)
			return -ENOENT;
		*off = 0;
	} else if (dwarf_formudata(&attr, off) != 0) {
		/* DWARF 2 style: an expression adding the offset to the base */
		if (dwarf_getlocation(&attr, &ops, &nops) != 0 || nops != 1 ||
		    ops[0].atom != DW_OP_plus_uconst)
			return -ENOENT;
		*off = ops[0].number;
	}
	return *off <= DL_MAX_OFFSET ? 0 : -ERANGE;
}

/* Member `name` of a struct or union, also inside anonymous members. */
static int dl_find_member(Dwarf_Die *st, const char *name, int depth, Dwarf_Word *off,
			  Dwarf_Die *type)
{
	bool in_union = dwarf_tag(st) == DW_TAG_union_type;
	Dwarf_Die m;

	if (depth > DL_MAX_NEST || dwarf_child(st, &m) != 0)
		return -ENOENT;
	do {
		const char *mname = dwarf_diename(&m);
		Dwarf_Attribute attr;
		Dwarf_Word moff, inner;
		Dwarf_Die mtype;

		if (dwarf_tag(&m) != DW_TAG_member || (mname && strcmp(mname, name)))
			continue;
		if (!dwarf_attr(&m, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &mtype) ||
		    dl_member_offset(&m, in_union, &moff))
			continue;
		if (mname) {
			/* a bit-field's bytes are not its own */
			if (dwarf_hasattr(&m, DW_AT_bit_size))
				return -ENOENT;
			*off = moff;
			*type = mtype;
			return 0;
		}
		if (dl_peel(&mtype) && !dl_find_member(&mtype, name, depth + 1, &inner, type)) {
			*off = moff + inner;
			return 0;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return -ENOENT;
}

/* Offset and size of a dotted member path ("threads.head"). */
static int dl_member(Dwarf_Die *st, const char *path, Dwarf_Word *off, Dwarf_Word *size)
{
	char buf[64], *save = NULL, *part, *next;
	Dwarf_Die cur = *st, type = *st;
	Dwarf_Word total = 0;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (part = strtok_r(buf, ".", &save); part; part = next) {
		Dwarf_Word moff;

		next = strtok_r(NULL, ".", &save);
		if (dl_find_member(&cur, part, 0, &moff, &type))
			return -ENOENT;
		total += moff;
		cur = type;
		if (next && !dl_peel(&cur))
			return -ENOENT;
	}
	*off = total;
	/* unknown for flexible arrays */
	if (dwarf_aggregate_size(&type, size) != 0)
		*size = 0;
	return 0;
}

/* Bit position of bit-field `name` in the struct `st` (little-endian). */
static int dl_bit_position(Dwarf_Die *st, const char *name, Dwarf_Word *bit)
{
	Dwarf_Die m;

	if (dwarf_child(st, &m) != 0)
		return -ENOENT;
	do {
		const char *mname = dwarf_diename(&m);
		Dwarf_Attribute attr;
		Dwarf_Word bits, at, loc = 0, unit;

		if (dwarf_tag(&m) != DW_TAG_member || !mname || strcmp(mname, name))
			continue;
		if (!dwarf_attr(&m, DW_AT_bit_size, &attr) || dwarf_formudata(&attr, &bits))
			return -ENOENT;
		/* DWARF 4+: from the start of the struct */
		if (dwarf_attr(&m, DW_AT_data_bit_offset, &attr)) {
			if (dwarf_formudata(&attr, bit))
				return -ENOENT;
			return 0;
		}
		/* DWARF 2 and 3: from the most significant bit of a storage
		 * unit of byte_size bytes at data_member_location */
		if (!dwarf_attr(&m, DW_AT_bit_offset, &attr) || dwarf_formudata(&attr, &at) ||
		    (dwarf_hasattr(&m, DW_AT_data_member_location) &&
		     dl_member_offset(&m, false, &loc)))
			return -ENOENT;
		if (!dwarf_attr(&m, DW_AT_byte_size, &attr) || dwarf_formudata(&attr, &unit) ||
		    at + bits > unit * 8)
			return -ENOENT;
		*bit = loc * 8 + unit * 8 - at - bits;
		return 0;
	} while (dwarf_siblingof(&m, &m) == 0);
	return -ENOENT;
}

/* Where a str state's kind:3 starts, checking compact:1 and ascii:1 follow
 * it inside the 4 bytes read (bpf/py_str.h). */
static int dl_str_kind_bit(Dwarf_Die *st, const char *path, uint16_t *out)
{
	Dwarf_Word off, kind, compact, ascii;
	Dwarf_Die state;

	if (dl_find_member(st, path, 0, &off, &state) || !dl_peel(&state) ||
	    dl_bit_position(&state, "kind", &kind) || dl_bit_position(&state, "compact", &compact) ||
	    dl_bit_position(&state, "ascii", &ascii))
		return -ENOENT;
	if (compact != kind + 3 || ascii != kind + 4 || ascii >= 32)
		return -ERANGE;
	*out = (uint16_t)kind;
	return 0;
}

/* Every field of `t` from the definition `st`, or an error. */
static int dl_resolve(struct dl_type *t, Dwarf_Die *st)
{
	Dwarf_Word size;

	if (dwarf_aggregate_size(st, &size) != 0 || size == 0 || size > DL_MAX_OFFSET)
		return -ENOENT;
	for (int i = 0; i < t->nfields; i++) {
		const struct dl_field *f = &t->fields[i];
		Dwarf_Word off, msize;

		if (!f->path) {
			if (size > UINT16_MAX)
				return -ERANGE;
			*f->out = (uint16_t)size;
			continue;
		}
		if (f->str_state_bits) {
			int err = dl_str_kind_bit(st, f->path, f->out);

			if (err)
				return err;
			continue;
		}
		if (dl_member(st, f->path, &off, &msize)) {
			if (!f->optional)
				return -ENOENT;
			*f->out = DL_ABSENT;
			continue;
		}
		if ((f->size && msize != f->size) || off > UINT16_MAX || off + msize > size)
			return -ERANGE;
		*f->out = (uint16_t)off;
	}
	return 0;
}

static void dl_consider(struct dl_plan *p, Dwarf_Die *die)
{
	int tag = dwarf_tag(die);
	const char *name;

	if (tag != DW_TAG_structure_type && tag != DW_TAG_typedef)
		return;
	name = dwarf_diename(die);
	if (!name)
		return;
	for (int i = 0; i < DL_NR_TYPES; i++) {
		struct dl_type *t = &p->types[i];
		const char *want = tag == DW_TAG_typedef ? t->tdef : t->tag;
		Dwarf_Die def = *die;

		if (!t->wanted || t->found || !want || strcmp(name, want))
			continue;
		if (dl_peel(&def) && !dl_resolve(t, &def)) {
			t->found = true;
			p->left--;
		}
		return;
	}
}

static void dl_scan(Dwarf *dw, struct dl_plan *p)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, die;
	uint8_t unit_type;

	while (p->left > 0 && dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0) {
		/* skeletons (split DWARF) hold no types */
		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial &&
		    unit_type != DW_UT_type)
			continue;
		if (dwarf_child(&cudie, &die) != 0)
			continue;
		do
			dl_consider(p, &die);
		while (p->left > 0 && dwarf_siblingof(&die, &die) == 0);
	}
}

__attribute__((format(printf, 2, 3)))
static int dl_join(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void dl_file_close(struct dl_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

/* A 64-bit ELF file; never a FIFO or device that would block or lie. */
static int dl_file_open(const char *full, struct dl_file *f)
{
	struct stat st;
	int err = 0;

	f->elf = NULL;
	f->fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(f->fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto cleanup;
	}
	f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF)
		err = -ENOEXEC;
	else if (gelf_getclass(f->elf) != ELFCLASS64)
		err = -ENOTSUP;
cleanup:
	if (err)
		dl_file_close(f);
	return err;
}

static bool dl_has_build_id(Elf *elf, const void *id, size_t len)
{
	const void *got;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &got);

	return n > 0 && (size_t)n == len && !memcmp(got, id, len);
}

static void dl_hex(char *out, const unsigned char *id, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * len] = 0;
}

/* The CRC-32 .gnu_debuglink records, for files without a build-id. */
static int dl_crc_check(int fd, GElf_Word want)
{
	unsigned char *buf = malloc(DL_CRC_CHUNK);
	uint32_t crc = 0xffffffff;
	off_t pos = 0;
	ssize_t n;
	int err;

	if (!buf)
		return -ENOMEM;
	while ((n = pread(fd, buf, DL_CRC_CHUNK, pos)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			crc ^= buf[i];
			for (int k = 0; k < 8; k++)
				crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
		}
		pos += n;
	}
	if (n < 0)
		err = -errno;
	else
		err = ~crc == want ? 0 : -ENOENT;
	free(buf);
	return err;
}

/* The supplementary file at `path` if it carries build-id `id`, set as
 * `dw`'s alternate DWARF. */
static int dl_open_alt(const char *path, const void *id, size_t len, Dwarf *dw,
		       struct dl_file *alt, Dwarf **alt_dw)
{
	int err = dl_file_open(path, alt);

	if (err)
		return err;
	if (dl_has_build_id(alt->elf, id, len))
		*alt_dw = dwarf_begin_elf(alt->elf, DWARF_C_READ, NULL);
	if (!*alt_dw) {
		dl_file_close(alt);
		return -ENOENT;
	}
	dwarf_setalt(dw, *alt_dw);
	return 0;
}

/* The supplementary file of a dwz'd debug file (.gnu_debugaltlink), found
 * and checked here so that libdw never looks on its own (blocking opens,
 * outside `root`). */
static int dl_load_alt(struct dl_ctx *c, Dwarf *dw, const char *dw_path, struct dl_file *alt,
		       Dwarf **alt_dw)
{
	char hex[2 * DL_MAX_BUILD_ID + 1], dir[PATH_MAX], *slash;
	const char *name;
	const void *id;
	ssize_t n = dwelf_dwarf_gnu_debugaltlink(dw, &name, &id);
	int err;

	if (n == 0)
		return 0;
	if (n < 2 || n > DL_MAX_BUILD_ID)
		return -ENOENT;
	dl_hex(hex, id, (size_t)n);
	err = dl_join(c->buf, "%s" DL_DEBUG_DIR "/.build-id/%.2s/%s.debug", c->root, hex, hex + 2);
	if (!err && !dl_open_alt(c->buf, id, (size_t)n, dw, alt, alt_dw))
		return 0;
	/* the recorded name: absolute, or relative to the debug file */
	snprintf(dir, sizeof(dir), "%s", dw_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (name[0] == '/')
		err = dl_join(c->buf, "%s%s", c->root, name);
	else
		err = dl_join(c->buf, "%s/%s", slash ? dir : ".", name);
	if (!err && !dl_open_alt(c->buf, id, (size_t)n, dw, alt, alt_dw))
		return 0;
	return -ENOENT;
}

/* 0 when the DWARF of `elf` (at `elf_path`) describes every wanted type. */
static int dl_scan_elf(struct dl_ctx *c, Elf *elf, const char *elf_path)
{
	struct dl_file alt = { .fd = -1 };
	Dwarf *alt_dw = NULL;
	Dwarf *dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	int err;

	if (!dw)
		return -ENOENT;
	dl_plan_reset(&c->plan);
	err = dl_load_alt(c, dw, elf_path, &alt, &alt_dw);
	if (err)
		goto cleanup;
	dl_scan(dw, &c->plan);
	if (alt_dw)
		dl_scan(alt_dw, &c->plan);
	err = c->plan.left ? -ENOENT : 0;
	if (err)
		c->lacking = true;
cleanup:
	dwarf_end(dw);
	if (alt_dw)
		dwarf_end(alt_dw);
	dl_file_close(&alt);
	return err;
}

/* A detached debug file at c->buf, if it belongs to the binary. */
static int dl_try_detached(struct dl_ctx *c, bool by_link)
{
	struct dl_file f = { .fd = -1 };
	char full[PATH_MAX];
	int err;

	if (!strcmp(c->buf, c->main_path))
		return -ENOENT;
	memcpy(full, c->buf, sizeof(full));
	err = dl_file_open(full, &f);
	if (err)
		goto cleanup;
	if (c->build_id_len)
		err = dl_has_build_id(f.elf, c->build_id, c->build_id_len) ? 0 : -ENOENT;
	else
		err = by_link ? dl_crc_check(f.fd, c->debuglink_crc) : -ENOENT;
	if (!err)
		err = dl_scan_elf(c, f.elf, full);
cleanup:
	dl_file_close(&f);
	return err;
}

/* By build-id, then by .gnu_debuglink where gdb looks too. */
static int dl_find_detached(struct dl_ctx *c)
{
	char hex[2 * DL_MAX_BUILD_ID + 1], dir[PATH_MAX], *slash;

	if (c->build_id_len >= 2) {
		dl_hex(hex, c->build_id, c->build_id_len);
		if (!dl_join(c->buf, "%s" DL_DEBUG_DIR "/.build-id/%.2s/%s.debug", c->root, hex,
			     hex + 2) &&
		    !dl_try_detached(c, false))
			return 0;
	}
	if (!c->debuglink[0])
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", c->path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	if (!dl_join(c->buf, "%s%s/%s", c->root, dir, c->debuglink) && !dl_try_detached(c, true))
		return 0;
	if (!dl_join(c->buf, "%s%s/.debug/%s", c->root, dir, c->debuglink) &&
	    !dl_try_detached(c, true))
		return 0;
	if (slash && !dl_join(c->buf, "%s" DL_DEBUG_DIR "%s/%s", c->root, dir, c->debuglink) &&
	    !dl_try_detached(c, true))
		return 0;
	return -ENOENT;
}

/* What identifies the binary's detached debug file. */
static void dl_identify(struct dl_ctx *c, Elf *elf)
{
	const void *id;
	const char *link;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);

	if (n > 0 && n <= DL_MAX_BUILD_ID) {
		memcpy(c->build_id, id, (size_t)n);
		c->build_id_len = (size_t)n;
	}
	link = dwelf_elf_gnu_debuglink(elf, &c->debuglink_crc);
	/* a bare file name: never a path out of the debug directories */
	if (link && strlen(link) < sizeof(c->debuglink) && !strchr(link, '/') &&
	    strcmp(link, ".") && strcmp(link, ".."))
		strcpy(c->debuglink, link);
}

static void dl_finish(struct py_version_layout *l, int major, int minor)
{
	struct py_layout *w = &l->walk;
	const struct py_version_traits *v = py_version_traits(major, minor);
	/* only a free-threaded build's GIL has `enabled` */
	bool ft = v && v->ft_builds && w->gil_enabled != DL_ABSENT;
	/* what the DWARF says, not what the version implies */
	uint16_t kind_bit = l->code.unicode_kind_bit;

	l->version_hex = (uint32_t)major << 24 | (uint32_t)minor << 16;
	/* the plan was made for a supported version: this cannot fail */
	py_version_apply(l, major, minor, ft);
	l->code.unicode_kind_bit = kind_bit;
	if (!ft)
		w->gil_enabled = 0;
	if ((w->flags & LAYOUT_TLBC) && w->frame_tlbc_index != DL_ABSENT &&
	    w->code_tlbc != DL_ABSENT) {
		w->code_adaptive = l->code.code_adaptive;
	} else {
		w->flags &= ~LAYOUT_TLBC;
		w->frame_tlbc_index = w->code_tlbc = 0;
	}
	w->code_firstlineno = l->code.firstlineno;
	w->code_name = l->code.name;
}

/* Scan the file (or its debug files) for the plan `objects` picks. On
 * success, c is returned (the caller frees it) with its layout filled. */
static int dl_run(const char *root, const char *path, int major, int minor, bool objects,
		  struct dl_ctx **out)
{
	struct dl_file main_file = { .fd = -1 };
	struct dl_ctx *c = NULL;
	int err;

	*out = NULL;
	if (!path || (root && root[0] && path[0] != '/')) {
		err = -EINVAL;
		goto cleanup;
	}
	if (major != 3 || minor < 8 || minor > 255) {
		err = -ENOTSUP;
		goto cleanup;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOSYS;
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->root = root ? root : "";
	c->path = path;
	err = objects ? dl_object_plan_init(&c->plan, minor, &c->objects) :
			dl_plan_init(&c->plan, minor, &c->layout);
	if (!err)
		err = dl_join(c->main_path, "%s%s", c->root, path);
	if (!err)
		err = dl_file_open(c->main_path, &main_file);
	if (err)
		goto cleanup;
	dl_identify(c, main_file.elf);
	err = dl_scan_elf(c, main_file.elf, c->main_path);
	if (err)
		err = dl_find_detached(c);
	if (err == -ENOENT && c->lacking)
		err = -ENOMSG;
	if (err)
		goto cleanup;
	*out = c;
	c = NULL;
cleanup:
	dl_file_close(&main_file);
	free(c);
	return err;
}

int dwarf_layout_from_file_at(const char *root, const char *path, int major, int minor,
			      struct py_version_layout *out)
{
	struct dl_ctx *c;
	int err = out ? dl_run(root, path, major, minor, false, &c) : -EINVAL;

	if (err)
		return err;
	dl_finish(&c->layout, major, minor);
	*out = c->layout;
	free(c);
	return 0;
}

int dwarf_object_layout_from_file_at(const char *root, const char *path, int major, int minor,
				     struct py_object_layout *out)
{
	struct dl_ctx *c;
	int err = out ? dl_run(root, path, major, minor, true, &c) : -EINVAL;

	if (err)
		return err;
	c->objects.version_hex = (uint32_t)major << 24 | (uint32_t)minor << 16;
	*out = c->objects;
	free(c);
	return 0;
}

int dwarf_layout_from_file(const char *path, int major, int minor, struct py_version_layout *out)
{
	return dwarf_layout_from_file_at(NULL, path, major, minor, out);
}
