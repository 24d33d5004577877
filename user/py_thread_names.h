/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Python's own thread names (threading.Thread(name=...)), read from the
 * target's memory: threading._active maps each running thread's ident
 * (pthread_self, the thread state's thread_id) to its Thread object, whose
 * _name is in its instance attributes. Found through sys.modules once per
 * interpreter and remembered; each read after that walks _active alone.
 */
#ifndef REFBPF_PY_THREAD_NAMES_H
#define REFBPF_PY_THREAD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "py_layout.h"
#include "py_reader.h"

/* Bytes of a Python thread name kept (UTF-8, cut at a character): as
 * many as a profile keeps. */
#define PY_THREAD_NAME_MAX PROFILE_PY_THREAD_NAME_MAX

struct py_thread_name {
	uint64_t ident;		/* threading.get_ident(): pthread_self() */
	char name[PY_THREAD_NAME_MAX];
};

/* Interpreters whose threads are named (the main one and sub-interpreters). */
#define PY_THREAD_NAMES_MAX_INTERPS 16

struct py_thread_names {
	/* per interpreter: its address and its threading._active (0: not found) */
	uint64_t interp[PY_THREAD_NAMES_MAX_INTERPS];
	uint64_t active[PY_THREAD_NAMES_MAX_INTERPS];
	struct py_thread_name *names;	/* from the last read */
	size_t n, cap;
	unsigned int reads;		/* memory reads the last read took */
};

/*
 * Read every named thread of the process `r` reads, replacing the last
 * read's names. 0 (possibly none: threading not imported yet), or -errno
 * (-ENOTSUP: objects cannot be read in this version).
 */
int py_thread_names_read(struct py_thread_names *tn, struct py_reader *r,
			 const struct py_layout *walk);

/* The name of thread `ident` in the last read, or NULL. */
const char *py_thread_names_find(const struct py_thread_names *tn, uint64_t ident);

void py_thread_names_free(struct py_thread_names *tn);

#endif /* REFBPF_PY_THREAD_NAMES_H */
