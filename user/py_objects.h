/* SPDX-License-Identifier: BSD-2-Clause */
/* Reading Python str and bytes objects out of another process's memory. */
#ifndef REFBPF_PY_OBJECTS_H
#define REFBPF_PY_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "py_layout.h"

/* PY_STR_STATE_KIND and the other PyASCIIObject.state bits */
#include "py_str.h"

/* Longest string or bytes object we copy out of a target. */
#define PY_STR_MAX_CHARS 4096

/* A str or bytes object's data as the target holds it. */
struct py_data {
	uint8_t *data;		/* malloc'd: the first `len` bytes of its data */
	size_t len;
	uint64_t bytes;		/* the bytes of data it has: len, or more */
	uint32_t data_at;	/* where its data starts, from its address */
	unsigned int kind;	/* bytes per character (a bytes object: 1) */
};

/* Longest data read whole; a longer object's is cut at this many bytes. */
#define PY_DATA_MAX (1u << 20)

/* A compact str's data, or a bytes object's. 0, or -errno on a read error
 * or a malformed object (a legacy str). */
int py_read_str_data(pid_t pid, const struct py_code_layout *c, uint64_t addr, struct py_data *out);
int py_read_bytes_data(pid_t pid, const struct py_code_layout *c, uint64_t addr,
		       struct py_data *out);
void py_data_free(struct py_data *d);

/* A str's data as malloc'd UTF-8, at most PY_STR_MAX_CHARS characters. */
char *py_data_utf8(const struct py_data *d);

/* str object -> malloc'd UTF-8. NULL on a read error or a malformed object. */
char *py_read_str(pid_t pid, const struct py_code_layout *c, uint64_t addr);

/* Decode the raw data of a compact str (kind 1/2/4 bytes per char) to UTF-8. */
char *py_str_to_utf8(const uint8_t *data, size_t nchars, unsigned int kind);

/* The same, and its length in bytes: a str may hold U+0000. */
char *py_str_to_utf8_len(const uint8_t *data, size_t nchars, unsigned int kind, size_t *len);

#endif /* REFBPF_PY_OBJECTS_H */
