// SPDX-License-Identifier: BSD-2-Clause
/*
 * _Py_DebugOffsets parsing. The structure itself grows between releases,
 * so each known release family has a table of where each offset lives in
 * it; the values then come from the target.
 */
#include "python/layout/debug_offsets.h"
#include "python/layout/versions.h"

#include <errno.h>
#include <string.h>

/* Position (in bytes, inside _Py_DebugOffsets) of each uint64 we need. */
struct debug_offsets_map {
	uint32_t min_version, max_version;	/* PY_VERSION_HEX major.minor range */
	size_t size;				/* bytes the structure needs */
	uint16_t runtime_interpreters_head;
	uint16_t interp_next, interp_threads_head;
	uint16_t tstate_next, tstate_current_frame, tstate_thread_id;
	uint16_t frame_previous, frame_executable, frame_instr_ptr, frame_owner;
	uint16_t code_filename, code_name, code_qualname, code_linetable, code_firstlineno,
		code_adaptive;
	uint16_t pyobject_ob_type;
	uint16_t bytes_ob_size, bytes_ob_sval;
	uint16_t unicode_state, unicode_length, unicode_ascii_size;
	uint16_t unicode_compact_size;		/* 0: not described (ASCII size + 16) */
	/* The GIL: interp->ceval.gil points to it; the offsets of locked
	 * and last_holder are given inside the interpreter's own _gil. */
	uint16_t interp_ceval_gil, interp_gil_state, interp_gil_locked, interp_gil_holder;
	uint16_t tstate_interp;
	/* 3.14+: position of interpreter_state.code_object_generation */
	uint16_t interp_code_object_generation;
	/* 3.14+, free-threaded builds (0 in GIL builds): positions of
	 * interpreter_state.gil_runtime_state_enabled (an offset inside
	 * struct _gil_runtime_state, not the interpreter), and of the
	 * thread-local bytecode's interpreter_frame.tlbc_index and
	 * code_object.co_tlbc */
	uint16_t interp_gil_enabled, frame_tlbc_index, code_tlbc;
	/* 3.13 does not describe a code counter: offsetof(PyInterpreterState,
	 * func_state.next_version) in GIL and free-threaded builds, the same
	 * in every 3.13 release checked (tests/test_layout_dwarf.py), on
	 * x86-64: the interpreter embeds a GIL state (_gil) before it, whose
	 * size is the architecture's (arm64's 16 bytes more: checked against
	 * the DWARF of Debian's arm64 3.13.5 by tests/kernels/matrix.py) */
	uint32_t func_next_version, func_next_version_ft;
};

static const struct debug_offsets_map maps[] = {
	{
		/* 3.13: checked against the DWARF of a 3.13.0 build, and of
		 * 3.13.5t for the free-threaded GIL's size (py_layout.h). */
		.min_version = 0x030d0000, .max_version = 0x030dffff, .size = 584,
		.runtime_interpreters_head = 40,
		.interp_next = 64, .interp_threads_head = 72,
		.tstate_next = 168, .tstate_current_frame = 184, .tstate_thread_id = 192,
		.frame_previous = 232, .frame_executable = 240, .frame_instr_ptr = 248,
		.frame_owner = 264,
		.code_filename = 280, .code_name = 288, .code_qualname = 296,
		.code_linetable = 304, .code_firstlineno = 312, .code_adaptive = 344,
		.pyobject_ob_type = 360,
		.bytes_ob_size = 520, .bytes_ob_sval = 528,
		.unicode_state = 544, .unicode_length = 552, .unicode_ascii_size = 560,
		.interp_ceval_gil = 112, .interp_gil_state = 120, .interp_gil_locked = 136,
		.interp_gil_holder = 144, .tstate_interp = 176,
		.func_next_version = 17000, .func_next_version_ft = 20092,
	},
	{
		/* 3.14: checked against the DWARF of Debian's 3.14.10, and
		 * the free-threaded positions (and GIL size, py_layout.h)
		 * against 3.14.7t's */
		.min_version = 0x030e0000, .max_version = 0x030effff, .size = 760,
		.runtime_interpreters_head = 40,
		.interp_next = 64, .interp_threads_head = 72,
		.tstate_next = 192, .tstate_current_frame = 208, .tstate_thread_id = 216,
		.frame_previous = 256, .frame_executable = 264, .frame_instr_ptr = 272,
		.frame_owner = 288,
		.code_filename = 320, .code_name = 328, .code_qualname = 336,
		.code_linetable = 344, .code_firstlineno = 352, .code_adaptive = 384,
		.pyobject_ob_type = 408,
		.bytes_ob_size = 600, .bytes_ob_sval = 608,
		.unicode_state = 624, .unicode_length = 632, .unicode_ascii_size = 640,
		.interp_ceval_gil = 120, .interp_gil_state = 128, .interp_gil_locked = 144,
		.interp_gil_holder = 152, .tstate_interp = 200,
		.interp_code_object_generation = 160,
		.interp_gil_enabled = 136, .frame_tlbc_index = 304, .code_tlbc = 392,
	},
	{
		/* 3.15: checked against the DWARF of Debian's 3.15.2, and
		 * the free-threaded positions against 3.15.0rc1t's */
		.min_version = 0x030f0000, .max_version = 0x030fffff, .size = 888,
		.runtime_interpreters_head = 40,
		.interp_next = 64, .interp_threads_head = 72,
		.tstate_next = 192, .tstate_current_frame = 208, .tstate_thread_id = 240,
		.frame_previous = 320, .frame_executable = 328, .frame_instr_ptr = 336,
		.frame_owner = 352,
		.code_filename = 384, .code_name = 392, .code_qualname = 400,
		.code_linetable = 408, .code_firstlineno = 416, .code_adaptive = 448,
		.pyobject_ob_type = 472,
		.bytes_ob_size = 696, .bytes_ob_sval = 704,
		.unicode_state = 720, .unicode_length = 728, .unicode_ascii_size = 736,
		.unicode_compact_size = 744,
		.interp_ceval_gil = 120, .interp_gil_state = 128, .interp_gil_locked = 144,
		.interp_gil_holder = 152, .tstate_interp = 200,
		.interp_code_object_generation = 160,
		.interp_gil_enabled = 136, .frame_tlbc_index = 368, .code_tlbc = 456,
	},
};

bool debug_offsets_present(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, DEBUG_OFFSETS_COOKIE, 8);
}

static uint64_t u64_at(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* Offsets inside a structure that fit our 16-bit fields and the BPF reads. */
static int get_offset(const uint8_t *buf, size_t pos, uint16_t *out, uint64_t limit)
{
	uint64_t v = u64_at(buf, pos);

	if (v >= limit)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int debug_offsets_parse(const uint8_t *buf, size_t len, struct py_version_layout *out,
			uint64_t *version_hex, bool *free_threaded)
{
	const struct debug_offsets_map *m = NULL;
	struct py_layout *w = &out->walk;
	struct py_code_layout *c = &out->code;
	uint64_t version;
	int err = 0;

	if (len < 24 || !debug_offsets_present(buf, len))
		return -EINVAL;
	version = u64_at(buf, 8);
	*version_hex = version;
	*free_threaded = u64_at(buf, 16) != 0;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (version >= maps[i].min_version && version <= maps[i].max_version)
			m = &maps[i];
	if (!m)
		return -ENOTSUP;
	if (len < m->size)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	out->version_hex = (uint32_t)(version & 0xffff0000);
	/* what the version is (frame model, flags, kinds): versions.c */
	if (py_version_apply(out, 3, (int)(version >> 16 & 0xff), *free_threaded))
		return -ENOTSUP;

	/* Structures we walk are far smaller than 64 KiB; frame and code
	 * fields must fit the BPF read span. */
	err |= get_offset(buf, m->runtime_interpreters_head, &w->runtime_interpreters_head, 1 << 16);
	err |= get_offset(buf, m->interp_next, &w->interp_next, 1 << 16);
	err |= get_offset(buf, m->interp_threads_head, &w->interp_threads_head, 1 << 16);
	err |= get_offset(buf, m->tstate_next, &w->tstate_next, 1 << 16);
	err |= get_offset(buf, m->tstate_current_frame, &w->tstate_frame, 1 << 16);
	err |= get_offset(buf, m->tstate_thread_id, &w->tstate_thread_id, 1 << 16);
	err |= get_offset(buf, m->frame_previous, &w->frame_previous, REFBPF_READ_SPAN - 8);
	err |= get_offset(buf, m->frame_executable, &w->frame_code, REFBPF_READ_SPAN - 8);
	err |= get_offset(buf, m->frame_instr_ptr, &w->frame_instr, REFBPF_READ_SPAN - 8);
	err |= get_offset(buf, m->frame_owner, &w->frame_owner, REFBPF_READ_SPAN - 8);
	err |= get_offset(buf, m->code_firstlineno, &w->code_firstlineno, 1 << 12);
	err |= get_offset(buf, m->code_name, &w->code_name, 1 << 12);
	err |= get_offset(buf, m->code_filename, &c->filename, 1 << 12);
	err |= get_offset(buf, m->code_name, &c->name, 1 << 12);
	err |= get_offset(buf, m->code_qualname, &c->qualname, 1 << 12);
	err |= get_offset(buf, m->code_linetable, &c->linetable, 1 << 12);
	err |= get_offset(buf, m->code_firstlineno, &c->firstlineno, 1 << 12);
	err |= get_offset(buf, m->code_adaptive, &c->code_adaptive, 1 << 12);
	err |= get_offset(buf, m->pyobject_ob_type, &c->ob_type, 64);
	err |= get_offset(buf, m->bytes_ob_size, &c->bytes_size, 64);
	err |= get_offset(buf, m->bytes_ob_sval, &c->bytes_sval, 64);
	err |= get_offset(buf, m->unicode_state, &c->unicode_state, 128);
	err |= get_offset(buf, m->unicode_length, &c->unicode_length, 128);
	err |= get_offset(buf, m->unicode_ascii_size, &c->unicode_ascii_size, 128);
	err |= get_offset(buf, m->tstate_interp, &w->tstate_interp, 1 << 16);
	if (err)
		return -EINVAL;
	/* A free-threaded build has its GIL too, switched off unless
	 * something turned it on (LAYOUT_GIL_SWITCHABLE). */
	uint16_t state = 0, locked = 0, holder = 0, enabled = 0;
	/* not described: the same struct in every release (py_layout.h) */
	uint16_t gil_size = *free_threaded ? PY_GIL_STATE_SIZE_FT : PY_GIL_STATE_SIZE;

	err |= get_offset(buf, m->interp_ceval_gil, &w->gil_at, 1 << 16);
	err |= get_offset(buf, m->interp_gil_state, &state, 1 << 16);
	err |= get_offset(buf, m->interp_gil_locked, &locked, 1 << 16);
	err |= get_offset(buf, m->interp_gil_holder, &holder, 1 << 16);
	/* `enabled` is described inside the GIL's struct, not the
	 * interpreter's as locked and holder are; 3.13 does not describe
	 * it: its first member, where it has one */
	if (*free_threaded && m->interp_gil_enabled)
		err |= get_offset(buf, m->interp_gil_enabled, &enabled, 1 << 16);
	if (err || locked < state || holder < state || locked - state + 4 > gil_size ||
	    holder - state + 8 > gil_size || enabled + 4 > gil_size)
		return -EINVAL;
	w->gil_locked = locked - state;
	w->gil_holder = holder - state;
	w->gil_size = gil_size;
	w->gil_enabled = enabled;
	/* Free-threaded 3.14+: each thread's copy of the bytecode. */
	if (w->flags & LAYOUT_TLBC) {
		if (!m->frame_tlbc_index || !m->code_tlbc)
			return -ENOTSUP;
		err |= get_offset(buf, m->frame_tlbc_index, &w->frame_tlbc_index,
				  REFBPF_READ_SPAN - 8);
		err |= get_offset(buf, m->code_tlbc, &w->code_tlbc, 1 << 12);
		if (err || !w->frame_tlbc_index || !w->code_tlbc)
			return -EINVAL;
		w->code_adaptive = c->code_adaptive;
	}
	/* Not described: the str hash follows length, and a compact
	 * non-ASCII string adds utf8_length and utf8 to the ASCII header. */
	w->unicode_hash = c->unicode_length + 8;
	if (m->interp_code_object_generation) {
		uint16_t gen;

		if (get_offset(buf, m->interp_code_object_generation, &gen, 1 << 16))
			return -EINVAL;
		out->interp_code_gen = gen;
	} else {
		out->interp_code_gen = (*free_threaded ? m->func_next_version_ft : m->func_next_version) +
				       PY_GIL_STATE_SIZE - PY_GIL_STATE_SIZE_X86_64;
	}
	/* Not described: co_version, 3.12-3.15's sixth int after
	 * co_firstlineno, before two pointers and co_filename (4 bytes of
	 * padding or none before them). Where that does not hold, code
	 * objects are told apart by content (bpf/code_key.h). */
	if (c->filename - c->firstlineno == 44 || c->filename - c->firstlineno == 48)
		c->version = c->firstlineno + 24;
	c->unicode_compact_size = c->unicode_ascii_size + 16;
	if (m->unicode_compact_size &&
	    get_offset(buf, m->unicode_compact_size, &c->unicode_compact_size, 128))
		return -EINVAL;
	return 0;
}

/* Where the object fields lie inside _Py_DebugOffsets, per release family
 * (the same positions in GIL and free-threaded builds). */
struct debug_objects_map {
	uint32_t min_version, max_version;
	size_t size;
	uint16_t interp_modules, frame_localsplus, code_localsplusnames, code_localspluskinds;
	uint16_t type_name, type_flags, tuple_items, dict_keys, dict_values, float_value;
	uint16_t long_size, long_digits;
};

static const struct debug_objects_map object_maps[] = {
	{
		.min_version = 0x030d0000, .max_version = 0x030dffff, .size = 584,
		.interp_modules = 88, .frame_localsplus = 256, .code_localsplusnames = 328,
		.code_localspluskinds = 336, .type_name = 376, .type_flags = 392,
		.tuple_items = 408, .dict_keys = 456, .dict_values = 464, .float_value = 480,
		.long_size = 496, .long_digits = 504,
	},
	{
		.min_version = 0x030e0000, .max_version = 0x030effff, .size = 760,
		.interp_modules = 96, .frame_localsplus = 280, .code_localsplusnames = 368,
		.code_localspluskinds = 376, .type_name = 424, .type_flags = 440,
		.tuple_items = 456, .dict_keys = 536, .dict_values = 544, .float_value = 560,
		.long_size = 576, .long_digits = 584,
	},
	{
		.min_version = 0x030f0000, .max_version = 0x030fffff, .size = 888,
		.interp_modules = 96, .frame_localsplus = 344, .code_localsplusnames = 432,
		.code_localspluskinds = 440, .type_name = 488, .type_flags = 504,
		.tuple_items = 552, .dict_keys = 632, .dict_values = 640, .float_value = 656,
		.long_size = 672, .long_digits = 680,
	},
};

int debug_offsets_objects(const uint8_t *buf, size_t len, struct py_object_layout *out)
{
	const struct debug_objects_map *m = NULL;
	struct py_object_layout o = *out;
	uint64_t version;
	int err = 0;

	if (len < 24 || !debug_offsets_present(buf, len))
		return -EINVAL;
	version = u64_at(buf, 8);
	for (size_t i = 0; i < sizeof(object_maps) / sizeof(object_maps[0]); i++)
		if (version >= object_maps[i].min_version && version <= object_maps[i].max_version)
			m = &object_maps[i];
	if (!m)
		return -ENOTSUP;
	if (len < m->size)
		return -EINVAL;
	/* objects and frames are far smaller than 4 KiB; an interpreter
	 * state is not */
	err |= get_offset(buf, m->interp_modules, &o.interp_modules, 1 << 16);
	err |= get_offset(buf, m->frame_localsplus, &o.frame_localsplus, 1 << 12);
	err |= get_offset(buf, m->code_localsplusnames, &o.code_localsplusnames, 1 << 12);
	err |= get_offset(buf, m->code_localspluskinds, &o.code_localspluskinds, 1 << 12);
	err |= get_offset(buf, m->type_name, &o.type_name, 1 << 12);
	err |= get_offset(buf, m->type_flags, &o.type_flags, 1 << 12);
	err |= get_offset(buf, m->tuple_items, &o.tuple_items, 1 << 12);
	err |= get_offset(buf, m->dict_keys, &o.dict_keys, 1 << 12);
	err |= get_offset(buf, m->dict_values, &o.dict_values, 1 << 12);
	err |= get_offset(buf, m->float_value, &o.float_value, 1 << 12);
	err |= get_offset(buf, m->long_size, &o.long_size, 1 << 12);
	err |= get_offset(buf, m->long_digits, &o.long_digits, 1 << 12);
	if (err)
		return -EINVAL;
	*out = o;
	return 0;
}
