/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Finding the CPython interpreter inside a process: which mapped ELF holds
 * _PyRuntime, where it is, which version, which layout.
 */
#ifndef REFBPF_PY_PROCESS_H
#define REFBPF_PY_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/layout/py_layout.h"
#include "python/layout/py_object_layout.h"
#include "python/py_reader.h"

struct py_process {
	pid_t pid;
	pid_t ns_pid;			/* in its own PID namespace, 0 when the same */
	char *cmdline;
	char *interp_path;		/* the ELF holding _PyRuntime, as the process maps it */
	char build_id[129];		/* of that ELF, hex; "" when it has none */
	char version[32];		/* "3.12.1", or "3.10" when the patch level is unknown */
	int major, minor;
	bool free_threaded;
	uint64_t code_type_addr;	/* &PyCode_Type: validates code objects */
	struct py_version_layout layout;	/* walk.runtime_addr filled in */
	const char *layout_source;	/* _Py_DebugOffsets, DWARF or built-in table */
	int refusal;			/* PY_NOT_ALLOWED: enum ptrace_refusal */
	/* for thread names and locals; objects.version_hex 0 when unknown */
	struct py_object_layout objects;
	struct py_types types;
	/* when its current image started (monotonic seconds: its exec as
	 * seen), 0 when unknown: then the process's own start stands in */
	double image_start_s;
};

enum py_discover_status {
	PY_OK = 0,
	PY_NO_PROCESS,		/* no such process (or it exited) */
	PY_NO_ACCESS,		/* not allowed to read its memory or maps */
	PY_NOT_PYTHON,		/* no mapped ELF defines _PyRuntime */
	PY_UNSUPPORTED,		/* a CPython we have no layout for */
	PY_NOT_READY,		/* _PyRuntime found but not initialised yet */
	PY_NOT_STARTED,		/* libpython loaded long ago, never initialised */
	PY_BAD_LAYOUT,		/* the layout does not match what memory holds */
	PY_NOT_ALLOWED,		/* its user could not ptrace it (ptrace_access.h): nothing read */
};

struct interp_files;

/*
 * Discover `pid`, after ptrace_access_check() (the one place every target
 * passes before anything of it is read), waiting up to `wait_s` seconds for an interpreter that is
 * still starting (a process exec'd moments ago). The ELF files it maps are
 * read through the caller's cache `files` (interp_files.h). On failure
 * `why` holds a one-line reason. Returns enum py_discover_status.
 */
int py_process_discover(struct interp_files *files, pid_t pid, double wait_s,
			struct py_process *out, char *why, size_t whylen);
/*
 * The same for a PID the user named: before it waits (a process that has
 * not loaded Python yet, or whose Python is still starting) it says on
 * stderr, in one line, what it waits for and for how long at most; a
 * process that exits meanwhile without having loaded Python is "not a
 * Python process".
 */
int py_process_discover_named(struct interp_files *files, pid_t pid, double wait_s,
			      struct py_process *out, char *why, size_t whylen);
/*
 * One look, without waiting, at a process whose current image started at
 * `image_start_s` (monotonic seconds; its exec as seen). How long ago that
 * was tells a Python still starting from a layout that does not fit,
 * where the process's own start cannot: a shell that runs for minutes,
 * then execs Python, is caught in its interpreter's first moments.
 */
int py_process_discover_image(struct interp_files *files, pid_t pid, double image_start_s,
			      struct py_process *out, char *why, size_t whylen);
void py_process_free(struct py_process *p);

#endif /* REFBPF_PY_PROCESS_H */
