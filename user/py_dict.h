/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Dicts and instance attributes read from a target's memory: the compact
 * dict layouts of 3.8-3.10 (dk_size, hash-key-value entries) and 3.11+
 * (dk_log2_size, dk_kind, key-value entries for str keys, split tables
 * whose values live apart), and where an instance keeps its attributes in
 * each version (a __dict__ at tp_dictoffset; 3.11+ managed dicts; 3.13+
 * values inline in the object).
 */
#ifndef REFBPF_PY_DICT_H
#define REFBPF_PY_DICT_H

#include <stdint.h>

#include "py_reader.h"

/* Items visited in one dict at most (sys.modules of a large app: a few
 * thousand). */
#define PY_DICT_MAX_ITEMS 65536

/* Called for each item; nonzero stops the walk and is returned. */
typedef int (*py_dict_visit_fn)(void *ctx, struct py_reader *r, uint64_t key, uint64_t value);

/* Every item of the dict at `dict` with a value, in insertion order. 0,
 * the visitor's nonzero, -EINVAL (not a dict, malformed) or -errno. */
int py_dict_foreach(struct py_reader *r, uint64_t dict, py_dict_visit_fn fn, void *ctx);

/* The value of str key `name` (ASCII). 0, -ENOENT, or as py_dict_foreach. */
int py_dict_get(struct py_reader *r, uint64_t dict, const char *name, uint64_t *value);

/* Attribute `name` among an instance's own attributes (not its class's).
 * 0, -ENOENT (not set, or the instance keeps none we can read), -errno. */
int py_instance_get(struct py_reader *r, uint64_t obj, const char *name, uint64_t *value);

#endif /* REFBPF_PY_DICT_H */
