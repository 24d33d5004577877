// SPDX-License-Identifier: BSD-2-Clause
/*
 * Built-in layouts for CPython 3.8-3.12 on x86-64 and arm64 (LP64: the same
 * offsets but for the GIL's size), default (GIL) builds:
 * offsets only, what each version is comes from versions.c. 3.13+
 * describe themselves through _Py_DebugOffsets (debug_offsets.c).
 * Every entry is cross-checked against the DWARF of real interpreters by
 * tests/test_layout_dwarf.py.
 */
#include <errno.h>

#include "python/layout/py_layout.h"
#include "python/layout/versions.h"

#define UNICODE_HASH 24
/* struct _gil_runtime_state: last_holder, locked and its size are the same
 * in 3.8-3.12 (its size is the architecture's: py_layout.h) */
#define GIL_STATE_38_312 .gil_holder = 8, .gil_locked = 16, .gil_size = PY_GIL_STATE_SIZE

/* PyObject / PyVarObject / bytes / str fields that 3.8-3.11 share. */
#define CODE_COMMON_38_311                                                   \
	.ob_type = 8, .bytes_size = 16, .bytes_sval = 32, .unicode_length = 16, \
	.unicode_state = 32, .unicode_ascii_size = 48, .unicode_compact_size = 72

static const struct py_version_layout layouts[] = {
	{
		.version_hex = 0x03080000,
		.walk = {
			.runtime_interpreters_head = 32,
			.interp_next = 0, .interp_threads_head = 8,
			.tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			.frame_code = 32, .frame_previous = 24, .frame_instr = 104,
			.code_firstlineno = 40, .code_name = 112,
			.unicode_hash = UNICODE_HASH,
			.gil_at = 1152, GIL_STATE_38_312,
		},
		.code = { CODE_COMMON_38_311, .filename = 104, .name = 112,
			  .firstlineno = 40, .linetable = 120 },
	},
	{
		.version_hex = 0x03090000,
		.walk = {
			.runtime_interpreters_head = 32,
			.interp_next = 0, .interp_threads_head = 8,
			.tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			.frame_code = 32, .frame_previous = 24, .frame_instr = 104,
			.code_firstlineno = 40, .code_name = 112,
			.unicode_hash = UNICODE_HASH,
			.gil_at = 352, GIL_STATE_38_312,
		},
		.code = { CODE_COMMON_38_311, .filename = 104, .name = 112,
			  .firstlineno = 40, .linetable = 120 },
	},
	{
		.version_hex = 0x030a0000,
		.walk = {
			.runtime_interpreters_head = 32,
			.interp_next = 0, .interp_threads_head = 8,
			.tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			.frame_code = 32, .frame_previous = 24, .frame_instr = 96,
			.code_firstlineno = 40, .code_name = 112,
			.unicode_hash = UNICODE_HASH,
			.gil_at = 352, GIL_STATE_38_312,
		},
		.code = { CODE_COMMON_38_311, .filename = 104, .name = 112,
			  .firstlineno = 40, .linetable = 120 },
	},
	{
		.version_hex = 0x030b0000,
		.walk = {
			.runtime_interpreters_head = 40,
			.interp_next = 0, .interp_threads_head = 16,
			.tstate_next = 8, .tstate_thread_id = 152, .tstate_frame = 56,
			.cframe_current_frame = 8,
			.frame_code = 32, .frame_previous = 48, .frame_instr = 56,
			.frame_owner = 69, .frame_is_entry = 68,
			.code_firstlineno = 72, .code_name = 120,
			.unicode_hash = UNICODE_HASH,
			.gil_at = 360, GIL_STATE_38_312,
		},
		.code = { CODE_COMMON_38_311, .filename = 112, .name = 120,
			  .qualname = 128, .firstlineno = 72, .linetable = 136,
			  .code_adaptive = 184 },
	},
	{
		.version_hex = 0x030c0000,
		.walk = {
			.runtime_interpreters_head = 40,
			.interp_next = 0, .interp_threads_head = 72,
			.tstate_next = 8, .tstate_thread_id = 136, .tstate_frame = 56,
			.cframe_current_frame = 0,
			.frame_code = 0, .frame_previous = 8, .frame_instr = 56,
			.frame_owner = 70,
			.code_firstlineno = 68, .code_name = 120,
			.unicode_hash = UNICODE_HASH,
			.gil_at = 384, .tstate_interp = 16, GIL_STATE_38_312,
		},
		.code = { .ob_type = 8, .bytes_size = 16, .bytes_sval = 32,
			  .unicode_length = 16, .unicode_state = 32,
			  .unicode_ascii_size = 40, .unicode_compact_size = 56,
			  .filename = 112, .name = 120, .qualname = 128,
			  .firstlineno = 68, .linetable = 136, .code_adaptive = 192,
			  .version = 92 },
	},
};

int py_layout_builtin(int major, int minor, struct py_version_layout *out)
{
	unsigned int want = (unsigned int)major << 24 | (unsigned int)minor << 16;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if (layouts[i].version_hex != want)
			continue;
		*out = layouts[i];
		return py_version_apply(out, major, minor, false);
	}
	return -ENOTSUP;
}
