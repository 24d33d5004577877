/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What each CPython minor version is, as opposed to where its fields lie:
 * how frames link, which flags the walk needs, how instruction positions
 * and line tables are encoded, which counter says code objects changed.
 * One row per minor version. The three sources of offsets (the built-in
 * tables, DWARF, _Py_DebugOffsets) supply offsets only and take these
 * from here, so a new minor version starts with a new row.
 */
#ifndef REFBPF_VERSIONS_H
#define REFBPF_VERSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "python/layout/py_layout.h"

/* Which counter tells BPF that code objects may have been freed. */
enum py_code_gen_kind {
	CODE_GEN_NONE = 0,	/* 3.8-3.11: none; code keys are checked by content */
	CODE_GEN_GLOBAL,	/* 3.12: a process-wide global, in .symtab only */
	CODE_GEN_INTERP,	/* 3.13: interp->func_state.next_version, 4 bytes */
	CODE_GEN_INTERP_ON_FREE, /* 3.14+: interp->_code_object_generation, 8 bytes,
				  * bumped when a code object is freed */
};

struct py_version_traits {
	uint8_t minor;			/* of major version 3 */
	uint8_t frame_model;		/* enum py_frame_model */
	uint8_t instr_kind;		/* enum py_instr_kind */
	uint8_t linetable_kind;		/* enum py_linetable_kind */
	/* frame owners from this one up are the interpreter's entry frames,
	 * not Python functions (with LAYOUT_HAS_OWNER) */
	uint8_t frame_owner_skip;
	uint8_t code_gen;		/* enum py_code_gen_kind */
	uint32_t flags;			/* LAYOUT_VIA_CFRAME, LAYOUT_HAS_OWNER, LAYOUT_TLS_TSTATE */
	uint32_t gil_flag;		/* where the GIL lies, in a build that has one */
	/* what a free-threaded build of this version adds: LAYOUT_TLBC (3.14+) */
	uint32_t ft_flags;
	/* where a str's state has kind in a free-threaded build (3.14+:
	 * after a whole byte of `interned`); 0: where GIL builds have it */
	uint16_t ft_str_kind_bit;
	uint64_t code_tag_mask;		/* f_executable is a tagged _PyStackRef */
	bool debug_offsets;		/* _PyRuntime starts with _Py_DebugOffsets */
	bool ft_builds;			/* --disable-gil builds exist (3.13+) */
	bool frame_is_entry;		/* entry frames marked by is_entry (3.11) */
	bool code_version;		/* PyCodeObject has co_version (3.12+) */
};

/* "3.8-3.15": the versions the table has rows for, for messages. */
const char *py_versions_supported(void);

/* The row of 3.`minor`, or NULL for a version refbpf does not support. */
const struct py_version_traits *py_version_traits(int major, int minor);

/* 3.`minor` starts _PyRuntime with _Py_DebugOffsets: its row says so, or
 * (a version newer than every row) the newest row does. */
bool py_version_has_debug_offsets(int major, int minor);

/*
 * Set in `l` what its version decides (frame model, flags, owner skip,
 * tag mask, instruction and line-table kinds); `free_threaded`: a
 * --disable-gil build, whose GIL may be switched on at run time
 * (LAYOUT_GIL_SWITCHABLE) and which adds its ft_flags. -ENOTSUP for an
 * unsupported version.
 */
int py_version_apply(struct py_version_layout *l, int major, int minor, bool free_threaded);

#endif /* REFBPF_VERSIONS_H */
