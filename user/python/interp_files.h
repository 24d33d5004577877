/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What refbpf learns from the ELF files a target maps, kept by its owner
 * (the recorder, `refbpf dump`) for the whole run: a reloader's child,
 * gunicorn's workers and `--all` map the same libraries over and over,
 * and each file is read once.
 */
#ifndef REFBPF_INTERP_FILES_H
#define REFBPF_INTERP_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/proc.h"
#include "python/layout/py_layout.h"

enum interp_symbol {
	ISYM_PYRUNTIME,
	ISYM_PY_VERSION,	/* 3.11+ */
	ISYM_PYCODE_TYPE,
	ISYM_PYAITER_CHECK,	/* new in 3.10 */
	ISYM_PYFRAME_GETCODE,	/* new in 3.9 */
	ISYM_PYCODE_NEWWITHPOSONLY, /* new in 3.8 */
	ISYM_PY_INITIALIZE,	/* any CPython */
	ISYM_NEXT_FUNC_VERSION,	/* 3.12's code counter; .symtab only */
	/* objects whose address tells a value's type (py_reader.h) */
	ISYM_NONE,
	ISYM_TRUE,
	ISYM_FALSE,
	ISYM_STR_TYPE,
	ISYM_INT_TYPE,
	ISYM_FLOAT_TYPE,
	ISYM_BOOL_TYPE,
	ISYM_BYTES_TYPE,
	ISYM_TUPLE_TYPE,
	ISYM_DICT_TYPE,
	ISYM_MODULE_TYPE,
	ISYM_CELL_TYPE,
	ISYM_NR,
};

enum interp_file_kind {
	INTERP_FILE_OTHER,	/* not an interpreter (or not readable as ELF) */
	INTERP_FILE_PYTHON,	/* defines _PyRuntime */
	INTERP_FILE_OLD_PYTHON,	/* a CPython before 3.7: no _PyRuntime */
};

struct elf_file;
struct interp_files;

struct interp_file {
	uint64_t dev, inode;		/* identity of the mapped file: the key */
	int kind;			/* enum interp_file_kind */
	int open_error;			/* errno when the file could not be opened */
	uint64_t syms[ISYM_NR];		/* link-time addresses, 0 when absent */
	struct elf_file *elf;		/* kept open for PYTHON files only */
	char build_id[129];		/* hex, "" when the file has none */
	int dwarf_status;		/* 1 ok, 0 not tried yet, -errno failed */
	struct py_version_layout dwarf;	/* valid when dwarf_status == 1 */
	bool dwarf_stored;		/* it came from the layout store, not libdw */
};

/*
 * Facts about the file behind mapping `m` of `pid`. The file is opened as
 * mapped (/proc/PID/map_files, so an upgraded or deleted file is still the
 * right one), else through /proc/PID/root. NULL with errno set when the
 * file cannot be opened now (nothing is remembered then) or on ENOMEM.
 */
struct interp_file *interp_files_get(struct interp_files *files, pid_t pid,
				     const struct proc_map *m);

/*
 * Does the file's build-id match the bytes `pid` has mapped at `bias`?
 * 1 yes (or the file has none to compare), 0 no, -errno unreadable.
 */
int interp_file_matches_memory(struct interp_file *f, pid_t pid, uint64_t bias);

/*
 * The layout the interpreter's own DWARF gives for major.minor, read once
 * per file (and kept on disk by build-id, see layout_store.h). `mapped_path`
 * is the file's path inside the process's root. 0, or -errno when there is
 * no usable DWARF.
 */
int interp_file_dwarf_layout(struct interp_file *f, pid_t pid, const char *mapped_path,
			     int major, int minor, struct py_version_layout *out);

/* An empty cache, NULL on ENOMEM; freeing it closes every file. */
struct interp_files *interp_files_new(void);
void interp_files_free(struct interp_files *files);

#endif /* REFBPF_INTERP_FILES_H */
