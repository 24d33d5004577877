/* SPDX-License-Identifier: BSD-2-Clause */
/* Reading Python str and bytes objects out of another process's memory. */
#ifndef REFBPF_PY_OBJECTS_H
#define REFBPF_PY_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "py_layout.h"

/* PyASCIIObject.state bits, the same from 3.8 to 3.15 and in free-threaded
 * builds (interned:2, kind:3, compact:1, ascii:1). */
#define PY_STR_STATE_KIND(s) (((s) >> 2) & 7)
#define PY_STR_STATE_COMPACT(s) (((s) >> 5) & 1)
#define PY_STR_STATE_ASCII(s) (((s) >> 6) & 1)

/* Longest string or bytes object we copy out of a target. */
#define PY_STR_MAX_CHARS 4096
#define PY_BYTES_MAX (1u << 20)

/* str object -> malloc'd UTF-8. NULL on a read error or a malformed object. */
char *py_read_str(pid_t pid, const struct py_code_layout *c, uint64_t addr);

/* The same, and the str's cached hash (the field at hash_at) from the same
 * read: code objects are told apart by their name's hash. */
char *py_read_str_hashed(pid_t pid, const struct py_code_layout *c, uint16_t hash_at,
			 uint64_t addr, uint64_t *hash);

/* Decode the raw data of a compact str (kind 1/2/4 bytes per char) to UTF-8. */
char *py_str_to_utf8(const uint8_t *data, size_t nchars, unsigned int kind);

/* The same, and its length in bytes: a str may hold U+0000. */
char *py_str_to_utf8_len(const uint8_t *data, size_t nchars, unsigned int kind, size_t *len);

/* bytes object -> malloc'd copy and its size. 0 or -errno. */
int py_read_bytes(pid_t pid, const struct py_code_layout *c, uint64_t addr, uint8_t **out,
		  size_t *len);

#endif /* REFBPF_PY_OBJECTS_H */
