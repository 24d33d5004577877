// SPDX-License-Identifier: BSD-2-Clause
/*
 * Print a CPython layout, one `field=value` per line, from one of three
 * sources so tests can compare them:
 *
 *   layout_dump --builtin MAJOR MINOR          built-in table (3.8-3.12)
 *   layout_dump --dwarf PATH MAJOR MINOR       the interpreter's DWARF (exit 3:
 *                                              it describes another version)
 *   layout_dump --debug-offsets PATH           _Py_DebugOffsets in the file (3.13+)
 *
 * and the object layout (thread names, locals) the same ways:
 *
 *   layout_dump --objects-builtin MAJOR MINOR [t]    built-in table (t: free-threaded)
 *   layout_dump --objects-dwarf PATH MAJOR MINOR     the interpreter's DWARF
 *   layout_dump --objects-debug-offsets PATH         what _Py_DebugOffsets describes
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/layout/debug_offsets.h"
#include "python/layout/dwarf_layout.h"
#include "base/elf_file.h"
#include "python/layout/py_layout.h"
#include "python/layout/py_object_layout.h"

static void print_layout(const struct py_version_layout *l)
{
	const struct py_layout *w = &l->walk;
	const struct py_code_layout *c = &l->code;

#define P(name, value) printf("%s=%u\n", name, (unsigned int)(value))
	P("version", l->version_hex >> 16);
	P("frame_model", w->frame_model);
	/* the GIL's place apart, so a build without one can leave it out */
	P("flags", w->flags & ~(LAYOUT_GIL_IN_RUNTIME | LAYOUT_GIL_VIA_INTERP));
	P("gil_where", (w->flags & LAYOUT_GIL_IN_RUNTIME) ? 1 : (w->flags & LAYOUT_GIL_VIA_INTERP) ? 2 : 0);
	P("gil_at", w->gil_at);
	P("gil_locked", w->gil_locked);
	P("gil_holder", w->gil_holder);
	P("gil_size", w->gil_size);
	P("gil_enabled", w->gil_enabled);
	P("tstate_interp", w->tstate_interp);
	P("runtime_interpreters_head", w->runtime_interpreters_head);
	P("interp_next", w->interp_next);
	P("interp_threads_head", w->interp_threads_head);
	P("tstate_next", w->tstate_next);
	P("tstate_thread_id", w->tstate_thread_id);
	P("tstate_frame", w->tstate_frame);
	P("cframe_current_frame", w->cframe_current_frame);
	P("frame_code", w->frame_code);
	P("frame_previous", w->frame_previous);
	P("frame_instr", w->frame_instr);
	P("frame_owner", w->frame_owner);
	P("frame_owner_skip", w->frame_owner_skip);
	P("frame_is_entry", w->frame_is_entry);
	P("frame_tlbc_index", w->frame_tlbc_index);
	P("code_tlbc", w->code_tlbc);
	P("code_adaptive", w->code_adaptive);
	P("code_firstlineno", w->code_firstlineno);
	P("code_name", w->code_name);
	P("unicode_hash", w->unicode_hash);
	P("interp_code_gen", l->interp_code_gen);
	P("code.ob_type", c->ob_type);
	P("code.filename", c->filename);
	P("code.name", c->name);
	P("code.qualname", c->qualname);
	P("code.firstlineno", c->firstlineno);
	P("code.linetable", c->linetable);
	P("code.code_adaptive", c->code_adaptive);
	P("code.version", c->version);
	P("bytes_size", c->bytes_size);
	P("bytes_sval", c->bytes_sval);
	P("unicode_length", c->unicode_length);
	P("unicode_state", c->unicode_state);
	P("unicode_kind_bit", c->unicode_kind_bit);
	P("unicode_ascii_size", c->unicode_ascii_size);
	P("unicode_compact_size", c->unicode_compact_size);
	P("instr_kind", l->instr_kind);
	P("linetable_kind", l->linetable_kind);
#undef P
}

/* _Py_DebugOffsets as initialised in the file: the start of _PyRuntime. */
static int read_debug_offsets(const char *path, uint8_t *buf, size_t len)
{
	static const char *const names[] = { "_PyRuntime" };
	uint64_t addr;
	struct elf_file *ef = elf_file_open(path);
	int err;

	if (!ef)
		return -errno;
	err = elf_file_lookup(ef, names, &addr, 1) == 1 ? elf_file_read_vaddr(ef, addr, buf, len) :
							  -ENOENT;
	elf_file_close(ef);
	return err;
}

static int from_debug_offsets(const char *path, struct py_version_layout *l)
{
	uint8_t buf[DEBUG_OFFSETS_MAX_SIZE];
	uint64_t version;
	bool ft;
	int err = read_debug_offsets(path, buf, sizeof(buf));

	return err ? err : debug_offsets_parse(buf, sizeof(buf), l, &version, &ft);
}

/* The fields DWARF can tell (all the offsets); `described`: only those
 * _Py_DebugOffsets describes. */
static void print_objects(const struct py_object_layout *o, bool described)
{
#define P(name, value) printf("%s=%u\n", name, (unsigned int)(value))
	P("interp_modules", o->interp_modules);
	P("type_name", o->type_name);
	P("type_flags", o->type_flags);
	P("tuple_items", o->tuple_items);
	P("dict_keys", o->dict_keys);
	P("dict_values", o->dict_values);
	P("float_value", o->float_value);
	P("long_size", o->long_size);
	P("long_digits", o->long_digits);
	P("frame_localsplus", o->frame_localsplus);
	P("code_localsplusnames", o->code_localsplusnames);
	P("code_localspluskinds", o->code_localspluskinds);
	if (described)
		return;
	P("ob_type", o->ob_type);
	P("var_size", o->var_size);
	P("type_basicsize", o->type_basicsize);
	P("type_dictoffset", o->type_dictoffset);
	P("heaptype_cached_keys", o->heaptype_cached_keys);
	P("module_dict", o->module_dict);
	P("keys_size", o->keys_size);
	P("keys_log2_index_bytes", o->keys_log2_index_bytes);
	P("keys_kind", o->keys_kind);
	P("keys_nentries", o->keys_nentries);
	P("keys_indices", o->keys_indices);
	P("values_items", o->values_items);
	P("cell_ref", o->cell_ref);
	P("code_varnames", o->code_varnames);
	P("code_cellvars", o->code_cellvars);
	P("code_freevars", o->code_freevars);
#undef P
}

/*
 * REFBPF_DEBUG_ROOT: an unpacked tree PATH lies in; its debug files are
 * looked up inside it. PATH inside the tree, *root set; else as it is.
 */
static const char *in_debug_root(const char *path, const char **root)
{
	size_t rlen;

	*root = getenv("REFBPF_DEBUG_ROOT");
	rlen = *root ? strlen(*root) : 0;
	if (rlen && !strncmp(path, *root, rlen) && path[rlen] == '/')
		return path + rlen;
	*root = NULL;
	return path;
}

/* The object-layout modes; -1 when argv is none of them. */
static int objects_main(int argc, char **argv)
{
	struct py_object_layout o;
	int err;

	memset(&o, 0, sizeof(o));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--objects-builtin")) {
		const struct py_object_layout *b =
			py_object_layout_builtin(atoi(argv[2]), atoi(argv[3]),
						 argc == 5 && !strcmp(argv[4], "t"));

		if (!b) {
			fprintf(stderr, "layout_dump: no built-in object layout\n");
			return 1;
		}
		print_objects(b, false);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "--objects-dwarf")) {
		const char *root, *path = in_debug_root(argv[2], &root);

		err = dwarf_object_layout_from_file_at(root, path, atoi(argv[3]), atoi(argv[4]), &o);
		if (err) {
			fprintf(stderr, "layout_dump: %s\n", strerror(-err));
			return 1;
		}
		print_objects(&o, false);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--objects-debug-offsets")) {
		uint8_t buf[DEBUG_OFFSETS_MAX_SIZE];

		err = read_debug_offsets(argv[2], buf, sizeof(buf));
		if (!err)
			err = debug_offsets_objects(buf, sizeof(buf), &o);
		if (err) {
			fprintf(stderr, "layout_dump: %s\n", strerror(-err));
			return 1;
		}
		print_objects(&o, true);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct py_version_layout l;
	int err = -EINVAL;

	memset(&l, 0, sizeof(l));
	if (argc >= 2 && !strncmp(argv[1], "--objects-", 10)) {
		int rc = objects_main(argc, argv);

		if (rc >= 0)
			return rc;
	}
	if (argc == 4 && !strcmp(argv[1], "--builtin")) {
		err = py_layout_builtin(atoi(argv[2]), atoi(argv[3]), &l) ? -ENOENT : 0;
	} else if (argc == 5 && !strcmp(argv[1], "--dwarf")) {
		const char *root, *path = in_debug_root(argv[2], &root);

		err = dwarf_layout_from_file_at(root, path, atoi(argv[3]), atoi(argv[4]), &l);
	} else if (argc == 3 && !strcmp(argv[1], "--debug-offsets")) {
		err = from_debug_offsets(argv[2], &l);
	} else {
		fprintf(stderr, "usage: layout_dump --builtin MAJOR MINOR | --dwarf PATH MAJOR MINOR | --debug-offsets PATH\n");
		return 2;
	}
	/* a refusal of the DWARF found, told apart from failing to read any */
	if (err == -ENOMSG) {
		fprintf(stderr, "layout_dump: refused: the DWARF does not describe Python %s.%s\n",
			argv[3], argv[4]);
		return 3;
	}
	if (err) {
		fprintf(stderr, "layout_dump: %s\n", strerror(-err));
		return 1;
	}
	print_layout(&l);
	return 0;
}
