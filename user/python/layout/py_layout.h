/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Per-version CPython layouts: the part the BPF walker needs (struct
 * py_layout, shared with bpf/) and the part only the symbolizer needs (code
 * objects and strings).
 */
#ifndef REFBPF_PY_LAYOUT_H
#define REFBPF_PY_LAYOUT_H

#include <linux/types.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/abi.h"

/*
 * sizeof(struct _gil_runtime_state), the same shape in 3.8-3.15: four
 * 8-byte fields (interval, last_holder, locked, switch_number), then two
 * condition variables and two mutexes, whose size is the architecture's
 * glibc's (a mutex is 40 bytes on x86-64, 48 on arm64: 208 and 224 in all).
 */
#define PY_GIL_STATE_SIZE ((int)(32 + 2 * sizeof(pthread_cond_t) + 2 * sizeof(pthread_mutex_t)))
/* The same on x86-64, where offsets measured past one were taken */
#define PY_GIL_STATE_SIZE_X86_64 208
/*
 * A free-threaded build's (3.13t-3.15t): `int enabled` first, padded to
 * the alignment of the unsigned long that follows. 216 on x86-64, checked
 * against the DWARF of 3.13.5t, 3.14.7t and 3.15.0rc1t
 * (tests/test_layout_dwarf.py); arm64's (232) is derived the same way but
 * unchecked: there is no arm64 free-threaded build to read it from.
 */
#define PY_GIL_STATE_SIZE_FT ((int)(PY_GIL_STATE_SIZE + sizeof(long)))

/* How instruction positions map to line-table offsets. */
enum py_instr_kind {
	INSTR_LASTI_BYTES = 1,	/* 3.8, 3.9: f_lasti is a byte offset */
	INSTR_LASTI_UNITS,	/* 3.10: f_lasti counts 2-byte code units */
	INSTR_POINTER,		/* 3.11+: pointer into co_code_adaptive */
};

/* Line-table format, by version. */
enum py_linetable_kind {
	LINETABLE_LNOTAB = 1,	/* 3.8, 3.9: co_lnotab */
	LINETABLE_PEP626,	/* 3.10: co_linetable */
	LINETABLE_PEP657,	/* 3.11+: location table */
};

struct py_code_layout {
	uint16_t ob_type;		/* PyObject.ob_type */
	uint16_t filename;
	uint16_t name;
	uint16_t qualname;		/* 0 when the version has none (<= 3.10) */
	uint16_t firstlineno;
	uint16_t linetable;		/* co_lnotab (<= 3.9) or co_linetable */
	uint16_t code_adaptive;		/* co_code_adaptive (3.11+), else 0 */
	uint16_t version;		/* co_version (3.12+), else 0 */
	uint16_t bytes_size;		/* PyVarObject.ob_size in a bytes object */
	uint16_t bytes_sval;		/* PyBytesObject.ob_sval */
	uint16_t unicode_length;	/* PyASCIIObject.length */
	uint16_t unicode_state;		/* PyASCIIObject.state */
	uint16_t unicode_kind_bit;	/* where state's kind starts (bpf/py_str.h) */
	uint16_t unicode_ascii_size;	/* sizeof(PyASCIIObject): ASCII data follows */
	uint16_t unicode_compact_size;	/* sizeof(PyCompactUnicodeObject) */
};

struct py_version_layout {
	uint32_t version_hex;		/* major.minor only, e.g. 0x030c0000 */
	struct py_layout walk;		/* runtime_addr left 0 */
	struct py_code_layout code;
	int instr_kind;			/* enum py_instr_kind */
	int linetable_kind;		/* enum py_linetable_kind */
	/* 3.13+: where walk.code_gen_addr lies inside PyInterpreterState
	 * (walk.flags say which counter it is); 0: not known */
	uint16_t interp_code_gen;
};

/* Derive what BPF reads at once (walk.frame_span, code_span, the thread
 * state's span) and the code key's fields of `walk` from the offsets; clear
 * what BPF learns itself. Every layout goes through this before use. */
void py_layout_finish(struct py_version_layout *l);

/* Built-in table for 3.8-3.12 (x86-64, arm64; default GIL builds) into `out`:
 * 0, or -ENOTSUP when there is none. */
int py_layout_builtin(int major, int minor, struct py_version_layout *out);

#endif /* REFBPF_PY_LAYOUT_H */
