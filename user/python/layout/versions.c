// SPDX-License-Identifier: BSD-2-Clause
#include "python/layout/versions.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "bpf/py_str.h"

#define FRAME_OBJECT .frame_model = FRAME_MODEL_FRAME_OBJECT
/* 3.11+: _PyInterpreterFrame, whose owner says who runs it; owners >= 3
 * are the interpreter's entry frames: FRAME_OWNED_BY_CSTACK (3.11-3.13: 3;
 * 3.14: 4) and FRAME_OWNED_BY_INTERPRETER (3.14, 3.15: 3) */
#define INTERPRETER_FRAME                                          \
	.frame_model = FRAME_MODEL_INTERPRETER_FRAME,              \
	.instr_kind = INSTR_POINTER, .linetable_kind = LINETABLE_PEP657, \
	.frame_owner_skip = 3

static const struct py_version_traits traits[] = {
	{ .minor = 8, FRAME_OBJECT, .instr_kind = INSTR_LASTI_BYTES,
	  .linetable_kind = LINETABLE_LNOTAB, .gil_flag = LAYOUT_GIL_IN_RUNTIME },
	{ .minor = 9, FRAME_OBJECT, .instr_kind = INSTR_LASTI_BYTES,
	  .linetable_kind = LINETABLE_LNOTAB, .gil_flag = LAYOUT_GIL_IN_RUNTIME },
	{ .minor = 10, FRAME_OBJECT, .instr_kind = INSTR_LASTI_UNITS,
	  .linetable_kind = LINETABLE_PEP626, .gil_flag = LAYOUT_GIL_IN_RUNTIME },
	{ .minor = 11, INTERPRETER_FRAME, .flags = LAYOUT_VIA_CFRAME | LAYOUT_HAS_OWNER,
	  .gil_flag = LAYOUT_GIL_IN_RUNTIME, .frame_is_entry = true },
	/* 3.12+: the thread state in static TLS, below the thread pointer */
	{ .minor = 12, INTERPRETER_FRAME,
	  .flags = LAYOUT_VIA_CFRAME | LAYOUT_HAS_OWNER | LAYOUT_TLS_TSTATE,
	  .gil_flag = LAYOUT_GIL_VIA_INTERP, .code_gen = CODE_GEN_GLOBAL, .code_version = true },
	{ .minor = 13, INTERPRETER_FRAME, .flags = LAYOUT_HAS_OWNER | LAYOUT_TLS_TSTATE,
	  .gil_flag = LAYOUT_GIL_VIA_INTERP, .code_gen = CODE_GEN_INTERP,
	  .debug_offsets = true, .ft_builds = true, .code_version = true },
	/* 3.14+: free-threaded builds give each thread its own bytecode */
	{ .minor = 14, INTERPRETER_FRAME, .flags = LAYOUT_HAS_OWNER | LAYOUT_TLS_TSTATE,
	  .gil_flag = LAYOUT_GIL_VIA_INTERP, .code_gen = CODE_GEN_INTERP_ON_FREE,
	  .code_tag_mask = 7, .debug_offsets = true, .ft_flags = LAYOUT_TLBC,
	  .ft_str_kind_bit = PY_STR_KIND_BIT_FT, .ft_builds = true, .code_version = true },
	{ .minor = 15, INTERPRETER_FRAME, .flags = LAYOUT_HAS_OWNER | LAYOUT_TLS_TSTATE,
	  .gil_flag = LAYOUT_GIL_VIA_INTERP, .code_gen = CODE_GEN_INTERP_ON_FREE,
	  .code_tag_mask = 7, .debug_offsets = true, .ft_flags = LAYOUT_TLBC,
	  .ft_str_kind_bit = PY_STR_KIND_BIT_FT, .ft_builds = true, .code_version = true },
};

const struct py_version_traits *py_version_traits(int major, int minor)
{
	if (major != 3)
		return NULL;
	for (size_t i = 0; i < sizeof(traits) / sizeof(traits[0]); i++)
		if (traits[i].minor == minor)
			return &traits[i];
	return NULL;
}

const char *py_versions_supported(void)
{
	static char text[16];

	if (!text[0])
		snprintf(text, sizeof(text), "3.%d-3.%d", traits[0].minor,
			 traits[sizeof(traits) / sizeof(traits[0]) - 1].minor);
	return text;
}

bool py_version_has_debug_offsets(int major, int minor)
{
	for (size_t i = 0; i < sizeof(traits) / sizeof(traits[0]); i++)
		if (major == 3 && traits[i].minor <= minor && traits[i].debug_offsets)
			return true;
	return major > 3;
}

int py_version_apply(struct py_version_layout *l, int major, int minor, bool free_threaded)
{
	const struct py_version_traits *t = py_version_traits(major, minor);
	struct py_layout *w = &l->walk;

	if (!t)
		return -ENOTSUP;
	w->frame_model = t->frame_model;
	w->flags = t->flags & ~LAYOUT_TLS_TSTATE;	/* py_layout_finish sets it */
	/* A free-threaded build keeps a GIL per interpreter too, off
	 * unless something switched it on. */
	w->flags |= t->gil_flag;
	if (free_threaded)
		w->flags |= LAYOUT_GIL_SWITCHABLE | t->ft_flags;
	if (t->code_gen == CODE_GEN_INTERP_ON_FREE)
		w->flags |= LAYOUT_CODE_GEN_ON_FREE;
	w->frame_owner_skip = (t->flags & LAYOUT_HAS_OWNER) ? t->frame_owner_skip : 0;
	w->code_tag_mask = t->code_tag_mask;
	l->code.unicode_kind_bit = free_threaded && t->ft_str_kind_bit ? t->ft_str_kind_bit :
									PY_STR_KIND_BIT;
	l->instr_kind = t->instr_kind;
	l->linetable_kind = t->linetable_kind;
	return 0;
}
