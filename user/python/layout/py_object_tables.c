// SPDX-License-Identifier: BSD-2-Clause
/*
 * Built-in object layouts for CPython 3.8-3.15 on x86-64, default (GIL)
 * builds and free-threaded 3.13t-3.15t. Every offset here is checked against the DWARF of a
 * real interpreter of that version by tests/test_layout_dwarf.py; the
 * managed-dict places (macros, not in DWARF) by reading real objects in
 * tests/test_thread_names.py and tests/test_locals.py.
 */
#include "python/layout/py_object_layout.h"

#include <stddef.h>

/* Objects with a 16-byte PyObject header (GIL builds). */
#define HEAD_16                                                                          \
	.ob_type = 8, .var_size = 16, .type_name = 24, .type_basicsize = 32,             \
	.type_flags = 168, .type_dictoffset = 288, .module_dict = 16, .dict_keys = 32,   \
	.dict_values = 40, .long_digits = 24, .float_value = 16, .cell_ref = 16,         \
	.long_size = 16

/* Free-threaded builds (3.13t+): a 32-byte PyObject header. */
#define HEAD_32                                                                          \
	.ob_type = 24, .var_size = 32, .type_name = 40, .type_basicsize = 48,             \
	.type_flags = 184, .type_dictoffset = 304, .module_dict = 32, .dict_keys = 48,   \
	.dict_values = 56, .long_size = 32, .long_digits = 40, .float_value = 32,        \
	.cell_ref = 32, .code_localsplusnames = 112, .code_localspluskinds = 120

#define KEYS_38 .dict_kind = DICT_KEYS_38, .keys_size = 8, .keys_nentries = 32, .keys_indices = 40
#define KEYS_311                                                                          \
	.dict_kind = DICT_KEYS_311, .keys_size = 8, .keys_log2_index_bytes = 9, .keys_kind = 10, \
	.keys_nentries = 24, .keys_indices = 32

#define CODE_38                                                                          \
	.code_varnames = 72, .code_freevars = 80, .code_cellvars = 88
#define CODE_311 .code_localsplusnames = 96, .code_localspluskinds = 104

static const struct py_object_layout layouts[] = {
	{
		.version_hex = 0x03080000, HEAD_16, KEYS_38, CODE_38,
		.interp_modules = 56, .heaptype_cached_keys = 872,
		.instance_kind = INSTANCE_DICTOFFSET,
		.tuple_items = 24, .frame_localsplus = 360,
	},
	{
		.version_hex = 0x03090000, HEAD_16, KEYS_38, CODE_38,
		.interp_modules = 856, .heaptype_cached_keys = 864,
		.instance_kind = INSTANCE_DICTOFFSET,
		.tuple_items = 24, .frame_localsplus = 360,
	},
	{
		.version_hex = 0x030a0000, HEAD_16, KEYS_38, CODE_38,
		.interp_modules = 856, .heaptype_cached_keys = 872,
		.instance_kind = INSTANCE_DICTOFFSET,
		.tuple_items = 24, .frame_localsplus = 352,
	},
	{
		.version_hex = 0x030b0000, HEAD_16, KEYS_311, CODE_311,
		.interp_modules = 888, .heaptype_cached_keys = 872,
		.instance_kind = INSTANCE_MANAGED_311, .managed_dict = -24, .managed_values = -32,
		.tuple_items = 24, .frame_localsplus = 72,
	},
	{
		.version_hex = 0x030c0000, HEAD_16, KEYS_311, CODE_311,
		.interp_modules = 944, .heaptype_cached_keys = 880,
		.instance_kind = INSTANCE_MANAGED_312, .managed_dict = -24,
		.tuple_items = 24, .frame_localsplus = 72,
	},
	{
		.version_hex = 0x030d0000, HEAD_16, KEYS_311, CODE_311,
		.interp_modules = 7656, .heaptype_cached_keys = 880, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -24,
		.tuple_items = 24, .frame_localsplus = 72,
	},
	{
		/* 3.13t: a 32-byte PyObject header; the managed dict pointer
		 * right before the object (no GC links in its pre-header) */
		.version_hex = 0x030d0000, .free_threaded = true, HEAD_32, KEYS_311,
		.interp_modules = 7664, .heaptype_cached_keys = 896, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -8,
		.tuple_items = 40, .frame_localsplus = 72,
	},
	{
		.version_hex = 0x030e0000, HEAD_16, KEYS_311, CODE_311,
		.interp_modules = 7688, .heaptype_cached_keys = 880, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -24,
		.tuple_items = 32, .frame_localsplus = 80, .stackref_locals = true,
	},
	{
		/* 3.14t: 3.13t's header; tuples cache their hash (as 3.14's);
		 * checked against 3.14.7t */
		.version_hex = 0x030e0000, .free_threaded = true, HEAD_32, KEYS_311,
		.interp_modules = 7712, .heaptype_cached_keys = 896, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -8,
		.tuple_items = 48, .frame_localsplus = 80, .stackref_locals = true,
	},
	{
		.version_hex = 0x030f0000, HEAD_16, KEYS_311, CODE_311,
		.interp_modules = 7592, .heaptype_cached_keys = 888, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -24,
		.tuple_items = 32, .frame_localsplus = 80, .stackref_locals = true,
	},
	{
		/* 3.15t: checked against 3.15.0rc1t */
		.version_hex = 0x030f0000, .free_threaded = true, HEAD_32, KEYS_311,
		.interp_modules = 7592, .heaptype_cached_keys = 904, .values_items = 8,
		.instance_kind = INSTANCE_INLINE_313, .managed_dict = -8,
		.tuple_items = 48, .frame_localsplus = 80, .stackref_locals = true,
	},
};

const struct py_object_layout *py_object_layout_builtin(int major, int minor, bool free_threaded)
{
	unsigned int want = (unsigned int)major << 24 | (unsigned int)minor << 16;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].version_hex == want && layouts[i].free_threaded == free_threaded)
			return &layouts[i];
	return NULL;
}
