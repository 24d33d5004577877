// SPDX-License-Identifier: BSD-2-Clause
/*
 * Structure member offsets from DWARF with libdw. Types are looked up by
 * struct tag or typedef name among the top-level DIEs of each compile unit,
 * stopping as soon as every wanted type has a full definition.
 */
#include "dwarf_layout.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_file.h"

enum wanted_type {
	T_RUNTIME,		/* struct pyruntimestate */
	T_INTERP,		/* struct _is */
	T_TSTATE,		/* struct _ts */
	T_FRAME_OBJECT,		/* struct _frame (<= 3.10) */
	T_CFRAME,		/* struct _PyCFrame (3.11, 3.12) */
	T_INTERP_FRAME,		/* struct _PyInterpreterFrame (3.11+) */
	T_CODE,			/* struct PyCodeObject */
	T_OBJECT,		/* struct _object */
	T_VAROBJECT,		/* PyVarObject */
	T_BYTES,		/* PyBytesObject */
	T_ASCII,		/* PyASCIIObject */
	T_COMPACT,		/* PyCompactUnicodeObject */
	T_NR,
};

static const char *const type_names[T_NR] = {
	[T_RUNTIME] = "pyruntimestate", [T_INTERP] = "_is", [T_TSTATE] = "_ts",
	[T_FRAME_OBJECT] = "_frame", [T_CFRAME] = "_PyCFrame",
	[T_INTERP_FRAME] = "_PyInterpreterFrame", [T_CODE] = "PyCodeObject",
	[T_OBJECT] = "_object", [T_VAROBJECT] = "PyVarObject", [T_BYTES] = "PyBytesObject",
	[T_ASCII] = "PyASCIIObject", [T_COMPACT] = "PyCompactUnicodeObject",
};

struct types {
	Dwarf_Die die[T_NR];
	bool found[T_NR];
};

/* Through typedefs and qualifiers to the structure itself. */
static bool peel(Dwarf_Die *die)
{
	for (int depth = 0; depth < 16; depth++) {
		int tag = dwarf_tag(die);
		Dwarf_Attribute attr;

		if (tag == DW_TAG_structure_type || tag == DW_TAG_union_type)
			return !dwarf_hasattr(die, DW_AT_declaration);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type)
			return false;
		if (!dwarf_attr(die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, die))
			return false;
	}
	return false;
}

static void consider(struct types *t, Dwarf_Die *die, bool wanted[T_NR])
{
	int tag = dwarf_tag(die);
	const char *name;

	if (tag != DW_TAG_structure_type && tag != DW_TAG_typedef)
		return;
	name = dwarf_diename(die);
	if (!name)
		return;
	for (int i = 0; i < T_NR; i++) {
		Dwarf_Die def = *die;

		if (!wanted[i] || t->found[i] || strcmp(name, type_names[i]) || !peel(&def))
			continue;
		t->die[i] = def;
		t->found[i] = true;
	}
}

static bool all_found(const struct types *t, const bool wanted[T_NR])
{
	for (int i = 0; i < T_NR; i++)
		if (wanted[i] && !t->found[i])
			return false;
	return true;
}

static void find_types(Dwarf *dw, struct types *t, bool wanted[T_NR])
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	while (!all_found(t, wanted) &&
	       dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;

		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &child) == 0) {
			do
				consider(t, &child, wanted);
			while (dwarf_siblingof(&child, &child) == 0);
		}
		off = next;
	}
}

static int member_location(Dwarf_Die *member, uint64_t *off)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;

	if (!dwarf_attr(member, DW_AT_data_member_location, &attr))
		return 0;	/* union members start at 0 */
	if (dwarf_formudata(&attr, &v))
		return -ENOENT;
	*off = v;
	return 0;
}

/* Offset of `name` in the structure, looking into anonymous members. */
static int find_member(Dwarf_Die *st, const char *name, uint64_t *off, Dwarf_Die *type)
{
	Dwarf_Die m;

	if (dwarf_child(st, &m))
		return -ENOENT;
	do {
		const char *mname;
		uint64_t moff = 0;
		Dwarf_Attribute attr;
		Dwarf_Die mtype;

		if (dwarf_tag(&m) != DW_TAG_member || member_location(&m, &moff))
			continue;
		if (!dwarf_attr(&m, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &mtype))
			continue;
		mname = dwarf_diename(&m);
		if (mname && !strcmp(mname, name)) {
			*off = moff;
			*type = mtype;
			return 0;
		}
		if (!mname && peel(&mtype) && !find_member(&mtype, name, off, type)) {
			*off += moff;
			return 0;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return -ENOENT;
}

/* Offset of a dotted member path ("interpreters.head"). */
static int offset_of(Dwarf_Die *st, const char *path, uint16_t *out)
{
	char buf[128], *save = NULL;
	Dwarf_Die cur = *st, type;
	uint64_t total = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		uint64_t off;

		if (find_member(&cur, part, &off, &type))
			return -ENOENT;
		total += off;
		cur = type;
		if (save && *save && !peel(&cur))
			return -ENOENT;
	}
	if (total > UINT16_MAX)
		return -ERANGE;
	*out = (uint16_t)total;
	return 0;
}

static int size_of(Dwarf_Die *st, uint16_t *out)
{
	int size = dwarf_bytesize(st);

	if (size <= 0 || size > UINT16_MAX)
		return -ENOENT;
	*out = (uint16_t)size;
	return 0;
}

/* DWARF in the file itself, or detached and named by build-id. */
static Dwarf *open_dwarf(const char *path, const char *debug_root, int *fd_out)
{
	char id[129], debug[4096];
	struct elf_file *ef;
	Dwarf *dw;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		dw = dwarf_begin(fd, DWARF_C_READ);
		if (dw) {
			*fd_out = fd;
			return dw;
		}
		close(fd);
	}
	ef = elf_file_open(path);
	if (!ef)
		return NULL;
	int n = elf_file_build_id(ef, id, sizeof(id));

	elf_file_close(ef);
	if (n < 4)
		return NULL;
	snprintf(debug, sizeof(debug), "%s/usr/lib/debug/.build-id/%.2s/%s.debug",
		 debug_root ? debug_root : "", id, id + 2);
	fd = open(debug, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	dw = dwarf_begin(fd, DWARF_C_READ);
	if (!dw) {
		close(fd);
		return NULL;
	}
	*fd_out = fd;
	return dw;
}

struct field {
	int type;
	const char *path;	/* NULL: the type's size */
	uint16_t *out;
};

static int fill(struct types *t, const struct field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct field *f = &fields[i];
		int err = f->path ? offset_of(&t->die[f->type], f->path, f->out) :
				    size_of(&t->die[f->type], f->out);

		if (err)
			return err;
	}
	return 0;
}

int dwarf_layout_from_file(const char *path, const char *debug_root, int major, int minor,
			   struct py_version_layout *out)
{
	struct types *t = calloc(1, sizeof(*t));
	struct py_layout *w = &out->walk;
	struct py_code_layout *c = &out->code;
	bool wanted[T_NR];
	bool frame_object = minor <= 10, cframe = minor == 11 || minor == 12;
	int fd = -1, err;
	Dwarf *dw = NULL;

	if (!t)
		return -ENOMEM;
	if (major != 3 || minor < 8) {
		err = -ENOTSUP;
		goto cleanup;
	}
	dw = open_dwarf(path, debug_root, &fd);
	if (!dw) {
		err = -ENOENT;
		goto cleanup;
	}
	for (int i = 0; i < T_NR; i++)
		wanted[i] = true;
	wanted[T_FRAME_OBJECT] = frame_object;
	wanted[T_CFRAME] = cframe;
	wanted[T_INTERP_FRAME] = !frame_object;
	find_types(dw, t, wanted);
	if (!all_found(t, wanted)) {
		err = -ENOENT;
		goto cleanup;
	}

	memset(out, 0, sizeof(*out));
	out->version_hex = (uint32_t)major << 24 | (uint32_t)minor << 16;
	w->frame_model = frame_object ? FRAME_MODEL_FRAME_OBJECT : FRAME_MODEL_INTERPRETER_FRAME;
	w->flags = (frame_object ? 0 : LAYOUT_HAS_OWNER) | (cframe ? LAYOUT_VIA_CFRAME : 0);
	w->frame_owner_skip = frame_object ? 0 : 3;
	out->instr_kind = minor <= 9 ? INSTR_LASTI_BYTES : minor == 10 ? INSTR_LASTI_UNITS :
									  INSTR_POINTER;
	out->linetable_kind = minor <= 9 ? LINETABLE_LNOTAB : minor == 10 ? LINETABLE_PEP626 :
									    LINETABLE_PEP657;
	int fr = frame_object ? T_FRAME_OBJECT : T_INTERP_FRAME;
	const struct field fields[] = {
		{ T_RUNTIME, "interpreters.head", &w->runtime_interpreters_head },
		{ T_INTERP, "next", &w->interp_next },
		{ T_INTERP, minor <= 10 ? "tstate_head" : "threads.head", &w->interp_threads_head },
		{ T_TSTATE, "next", &w->tstate_next },
		{ T_TSTATE, "thread_id", &w->tstate_thread_id },
		{ T_TSTATE, frame_object ? "frame" : cframe ? "cframe" : "current_frame",
		  &w->tstate_frame },
		{ fr, frame_object ? "f_code" : minor <= 12 ? "f_code" : "f_executable",
		  &w->frame_code },
		{ fr, frame_object ? "f_back" : "previous", &w->frame_previous },
		{ fr, frame_object ? "f_lasti" : minor <= 12 ? "prev_instr" : "instr_ptr",
		  &w->frame_instr },
		{ T_CODE, "co_firstlineno", &w->code_firstlineno },
		{ T_CODE, "co_name", &w->code_name },
		{ T_ASCII, "hash", &w->unicode_hash },
		{ T_OBJECT, "ob_type", &c->ob_type },
		{ T_CODE, "co_filename", &c->filename },
		{ T_CODE, "co_name", &c->name },
		{ T_CODE, "co_firstlineno", &c->firstlineno },
		{ T_CODE, minor <= 9 ? "co_lnotab" : "co_linetable", &c->linetable },
		{ T_VAROBJECT, "ob_size", &c->bytes_size },
		{ T_BYTES, "ob_sval", &c->bytes_sval },
		{ T_ASCII, "length", &c->unicode_length },
		{ T_ASCII, "state", &c->unicode_state },
		{ T_ASCII, NULL, &c->unicode_ascii_size },
		{ T_COMPACT, NULL, &c->unicode_compact_size },
	};

	err = fill(t, fields, sizeof(fields) / sizeof(fields[0]));
	if (!err && cframe)
		err = offset_of(&t->die[T_CFRAME], "current_frame", &w->cframe_current_frame);
	if (!err && !frame_object)
		err = offset_of(&t->die[T_INTERP_FRAME], "owner", &w->frame_owner);
	if (!err && minor >= 11)
		err = offset_of(&t->die[T_CODE], "co_qualname", &c->qualname);
	if (!err && minor >= 11)
		err = offset_of(&t->die[T_CODE], "co_code_adaptive", &c->code_adaptive);
cleanup:
	if (dw)
		dwarf_end(dw);
	if (fd >= 0)
		close(fd);
	free(t);
	return err;
}
