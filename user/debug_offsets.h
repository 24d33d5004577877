/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * CPython 3.13+ describes its own layout in _Py_DebugOffsets, the first
 * bytes of _PyRuntime: cookie "xdebugpy", PY_VERSION_HEX, free_threaded,
 * then offsets per structure.
 */
#ifndef REFBPF_DEBUG_OFFSETS_H
#define REFBPF_DEBUG_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "py_layout.h"
#include "py_object_layout.h"

#define DEBUG_OFFSETS_COOKIE "xdebugpy"
/* Bytes to read from _PyRuntime to parse any known version. */
#define DEBUG_OFFSETS_MAX_SIZE 1024

/* 1 if buf starts with the cookie. */
bool debug_offsets_present(const uint8_t *buf, size_t len);

/*
 * Fill `out` from the raw _Py_DebugOffsets bytes. Returns 0, -EINVAL for
 * malformed input (offsets out of range, wrong cookie), or -ENOTSUP for a
 * version whose structure we do not know. Never reads past `len`.
 */
int debug_offsets_parse(const uint8_t *buf, size_t len, struct py_version_layout *out,
			uint64_t *version_hex, bool *free_threaded);

/*
 * Overwrite the fields of `out` that _Py_DebugOffsets describes (sys.modules,
 * locals, tp_name, tp_flags, tuples, dicts, floats, ints), keeping the
 * others. 0, -EINVAL (malformed) or -ENOTSUP (an unknown version). Never
 * reads past `len`.
 */
int debug_offsets_objects(const uint8_t *buf, size_t len, struct py_object_layout *out);

#endif /* REFBPF_DEBUG_OFFSETS_H */
