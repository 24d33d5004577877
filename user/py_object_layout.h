/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What reading Python objects other than code and strings needs, per
 * CPython version: dicts (sys.modules, a module's globals, an instance's
 * attributes), type objects, ints, floats, tuples, cells, and where a
 * frame keeps its local variables. Used for thread names (threading's
 * registry of threads) and `dump --locals`, never by the BPF sampler.
 *
 * The built-in tables are checked against the DWARF of real interpreters
 * (tests/test_layout_dwarf.py); on 3.13+ the fields _Py_DebugOffsets
 * describes are taken from the target itself (debug_offsets_objects()).
 */
#ifndef REFBPF_PY_OBJECT_LAYOUT_H
#define REFBPF_PY_OBJECT_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* How a dict's keys object is laid out. */
enum py_dict_kind {
	DICT_KEYS_38 = 1,	/* 3.8-3.10: dk_size; every entry is hash, key, value */
	DICT_KEYS_311,		/* 3.11+: dk_log2_size, dk_log2_index_bytes, dk_kind */
};

/* Where an instance keeps its attributes. */
enum py_instance_kind {
	INSTANCE_DICTOFFSET = 1,	/* 3.8-3.10: a dict pointer at tp_dictoffset */
	INSTANCE_MANAGED_311,	/* 3.11: dict at managed_dict, else values at managed_values */
	INSTANCE_MANAGED_312,	/* 3.12: at managed_dict, values | 1 or a dict */
	INSTANCE_INLINE_313,	/* 3.13+: dict at managed_dict, else values at tp_basicsize */
};

/* Type flags read from tp_flags (stable since they were added). */
#define PY_TPFLAGS_INLINE_VALUES (1ul << 2)	/* 3.13+ */
#define PY_TPFLAGS_MANAGED_DICT (1ul << 4)	/* 3.11+ */
#define PY_TPFLAGS_HEAPTYPE (1ul << 9)

/* Kinds of a 3.11+ dict's keys (dk_kind). */
#define PY_DICT_KEYS_GENERAL 0	/* entries: hash, key, value */
#define PY_DICT_KEYS_UNICODE 1	/* entries: key, value */
#define PY_DICT_KEYS_SPLIT 2	/* entries: key, value unused; values apart */

/* co_localspluskinds bits (3.11+). */
#define PY_CO_FAST_HIDDEN 0x10	/* 3.12+: an inlined comprehension's own */
#define PY_CO_FAST_LOCAL 0x20
#define PY_CO_FAST_CELL 0x40
#define PY_CO_FAST_FREE 0x80

struct py_object_layout {
	uint32_t version_hex;		/* major.minor; 0: no layout known */
	bool free_threaded;

	uint16_t ob_type;		/* PyObject.ob_type */
	uint16_t var_size;		/* PyVarObject.ob_size */
	uint16_t interp_modules;	/* PyInterpreterState: sys.modules */

	uint16_t type_name;		/* tp_name, a const char * */
	uint16_t type_basicsize;
	uint16_t type_flags;
	uint16_t type_dictoffset;
	uint16_t heaptype_cached_keys;	/* ht_cached_keys: instances' shared keys */
	uint16_t module_dict;		/* md_dict */

	int dict_kind;			/* enum py_dict_kind */
	uint16_t dict_keys;		/* ma_keys */
	uint16_t dict_values;		/* ma_values: split tables' values */
	uint16_t keys_size;		/* DICT_KEYS_38: dk_size; 311: dk_log2_size */
	uint16_t keys_log2_index_bytes;	/* DICT_KEYS_311 */
	uint16_t keys_kind;		/* DICT_KEYS_311 */
	uint16_t keys_nentries;
	uint16_t keys_indices;		/* dk_indices: the entries follow them */
	uint16_t values_items;		/* PyDictValues.values (3.11+; 0 before) */

	int instance_kind;		/* enum py_instance_kind */
	int16_t managed_dict;		/* from the object: negative, in its pre-header */
	int16_t managed_values;		/* INSTANCE_MANAGED_311 */

	uint16_t tuple_items;		/* ob_item */
	uint16_t long_size;		/* <= 3.11: ob_size (signed digit count); 3.12+: lv_tag */
	uint16_t long_digits;		/* ob_digit: 30-bit digits in uint32 */
	uint16_t float_value;		/* ob_fval */
	uint16_t cell_ref;		/* ob_ref */

	/* local variables */
	uint16_t code_varnames;		/* <= 3.10: co_varnames, co_cellvars, co_freevars */
	uint16_t code_cellvars;
	uint16_t code_freevars;
	uint16_t code_localsplusnames;	/* 3.11+ */
	uint16_t code_localspluskinds;	/* 3.11+: a bytes object */
	uint16_t frame_localsplus;	/* f_localsplus / localsplus */
	bool stackref_locals;		/* 3.14+: locals are tagged _PyStackRef */
};

/* The built-in table for CPython 3.minor (x86-64); NULL if none. */
const struct py_object_layout *py_object_layout_builtin(int major, int minor, bool free_threaded);

#endif /* REFBPF_PY_OBJECT_LAYOUT_H */
