/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reading Python objects out of a target's memory, for thread names and
 * local variables. Target memory is untrusted and changes under us: every
 * read is bounded and checked, every count and size capped, and an object
 * is believed to be of a type only when its ob_type is that type object's
 * address (read from the interpreter's ELF symbols), never by its name.
 *
 * Memory is read through a callback, so the fuzzers can hand the decoders
 * any bytes (tests/fuzz/fuzz_py_objects.c).
 */
#ifndef REFBPF_PY_READER_H
#define REFBPF_PY_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "py_layout.h"
#include "py_object_layout.h"

/* Read `len` bytes at `addr` of the target: 0 or -errno. */
typedef int (*py_mem_read_fn)(void *ctx, uint64_t addr, void *dst, size_t len);

/* Addresses of the objects whose identity tells a value's type. */
struct py_types {
	uint64_t none, true_, false_;	/* the singletons */
	uint64_t str, int_, float_, bool_, bytes, tuple, dict, module, cell;	/* type objects */
};

struct py_reader {
	py_mem_read_fn read;
	void *ctx;
	const struct py_code_layout *code;	/* str and bytes objects */
	const struct py_object_layout *obj;
	const struct py_types *types;
	unsigned int reads;			/* reads made, for -v and the tests */
	/*
	 * py_dict.c's memo for a pass over many instances of one class
	 * (threading._active's Threads): the last type's facts, and where
	 * the last attribute name sat in its shared keys (checked before
	 * use). A reader serves one look at the target, so it is never old.
	 */
	struct {
		uint64_t type, flags, cached_keys;
		int64_t basicsize, dictoffset;
		uint64_t keys, key;		/* shared keys, the name's key object */
		size_t index;
		char name[32];
	} memo;
};

/* A reader of process `*pid` (the pointer must outlive the reader). */
void py_reader_init_pid(struct py_reader *r, pid_t *pid, const struct py_code_layout *code,
			const struct py_object_layout *obj, const struct py_types *types);

/* Can objects be read at all (a layout and the type objects known)? */
bool py_reader_usable(const struct py_reader *r);

/* Bounded, checked reads. 0 or -errno. */
int py_read(struct py_reader *r, uint64_t addr, void *dst, size_t len);
int py_read_ptr(struct py_reader *r, uint64_t addr, uint64_t *out);

/* The object's type (ob_type). 0 or -errno. */
int py_type_of(struct py_reader *r, uint64_t obj, uint64_t *type);

/* Longest str read whole; longer ones are cut (see py_str_read). */
#define PY_READER_STR_MAX 4096

/*
 * A str object's text as UTF-8 (malloc'd, NUL-terminated), at most
 * `max_chars` characters (*cut set when there were more). The object must
 * be of type str. 0, -EINVAL (not a str, or malformed) or -errno.
 */
int py_str_read(struct py_reader *r, uint64_t addr, size_t max_chars, char **out, bool *cut);

/* The same with its length in bytes (a str may hold U+0000). */
int py_str_read_len(struct py_reader *r, uint64_t addr, size_t max_chars, char **out,
		    size_t *len, bool *cut);

/* Is the str object at `addr` exactly `name` (ASCII)? One read. */
bool py_str_equals(struct py_reader *r, uint64_t addr, const char *name);

/* A tuple's items (at most `max`, malloc'd) and its size. 0 or -errno. */
int py_tuple_items(struct py_reader *r, uint64_t tuple, size_t max, uint64_t **items, size_t *n);

#endif /* REFBPF_PY_READER_H */
