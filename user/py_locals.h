/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A frame's local variables, read from the target's memory for `refbpf
 * dump --locals`: names from the code object (co_varnames, co_cellvars,
 * co_freevars before 3.11; co_localsplusnames and co_localspluskinds
 * since), values from the frame's slots (f_localsplus; 3.11+ localsplus,
 * tagged _PyStackRef on 3.14+). A cell's content is shown for cell and
 * free variables. Unbound variables are left out, as py-spy does.
 */
#ifndef REFBPF_PY_LOCALS_H
#define REFBPF_PY_LOCALS_H

#include <stddef.h>
#include <stdint.h>

#include "py_layout.h"
#include "py_reader.h"
#include "py_values.h"

/* Variables read per frame at most; a frame with more is marked cut. */
#define PY_LOCALS_MAX 256
/* Characters of a variable's name kept. */
#define PY_LOCAL_NAME_CHARS 64

enum py_local_kind {
	PY_LOCAL_PLAIN = 0,	/* an argument or a local */
	PY_LOCAL_CELL,		/* a local a nested function captures */
	PY_LOCAL_FREE,		/* a variable captured from the enclosing function */
};

struct py_local {
	char *name;		/* malloc'd UTF-8 */
	int kind;		/* enum py_local_kind */
	struct py_value value;
	int error;		/* 0, or -errno: the value could not be read */
};

struct py_frame_locals {
	struct py_local *vars;
	size_t n;
	bool cut;		/* more than PY_LOCALS_MAX */
};

/*
 * The locals of the frame at `frame` (the address the stack walk read it
 * from) running code object `code`. 0; -ESTALE when the frame no longer
 * runs that code (the thread moved on while it was read); -EINVAL when
 * what is read does not make sense; -errno.
 */
int py_locals_read(struct py_reader *r, const struct py_layout *walk, uint64_t frame,
		   uint64_t code, struct py_frame_locals *out);

void py_locals_free(struct py_frame_locals *l);

#endif /* REFBPF_PY_LOCALS_H */
