// SPDX-License-Identifier: BSD-2-Clause
/*
 * The interpreter is whichever mapped ELF defines _PyRuntime (an
 * executable, libpython, a library loaded by apache2), decided by symbols,
 * never by file name. Reading every mapped file's symbol table is the
 * expensive part of discovery, so what each file says is remembered by its
 * identity (device, inode) for the run; files that are not interpreters
 * are remembered as such.
 */
#include "python/interp_files.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/layout/dwarf_layout.h"
#include "base/elf_file.h"
#include "base/grow.h"
#include "python/layout/layout_store.h"

#define BUILD_ID_MAX 64

static const char *const interp_symbol_names[ISYM_NR] = {
	[ISYM_PYRUNTIME] = "_PyRuntime",
	[ISYM_PY_VERSION] = "Py_Version",
	[ISYM_PYCODE_TYPE] = "PyCode_Type",
	[ISYM_PYAITER_CHECK] = "PyAIter_Check",
	[ISYM_PYFRAME_GETCODE] = "PyFrame_GetCode",
	[ISYM_PYCODE_NEWWITHPOSONLY] = "PyCode_NewWithPosOnlyArgs",
	[ISYM_PY_INITIALIZE] = "Py_Initialize",
	[ISYM_NEXT_FUNC_VERSION] = "_Py_next_func_version",
	[ISYM_NONE] = "_Py_NoneStruct",
	[ISYM_TRUE] = "_Py_TrueStruct",
	[ISYM_FALSE] = "_Py_FalseStruct",
	[ISYM_STR_TYPE] = "PyUnicode_Type",
	[ISYM_INT_TYPE] = "PyLong_Type",
	[ISYM_FLOAT_TYPE] = "PyFloat_Type",
	[ISYM_BOOL_TYPE] = "PyBool_Type",
	[ISYM_BYTES_TYPE] = "PyBytes_Type",
	[ISYM_TUPLE_TYPE] = "PyTuple_Type",
	[ISYM_DICT_TYPE] = "PyDict_Type",
	[ISYM_MODULE_TYPE] = "PyModule_Type",
	[ISYM_CELL_TYPE] = "PyCell_Type",
};

struct interp_files {
	struct interp_file **f;
	size_t n, cap;
};

/* The file exactly as mapped when /proc/PID/map_files allows it (it needs
 * CAP_SYS_ADMIN), else by its path inside the process's root. */
static struct elf_file *open_mapped(pid_t pid, const struct proc_map *m)
{
	char path[PATH_MAX];
	struct elf_file *ef;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start,
		 m->end);
	ef = elf_file_open(path);
	if (ef || errno == ENOEXEC)
		return ef;
	if (proc_root_path(pid, m->path, path, sizeof(path)))
		return NULL;
	proc_strip_deleted(path);
	return elf_file_open(path);
}

static void read_facts(struct interp_file *f, pid_t pid, const struct proc_map *m)
{
	struct elf_file *ef = open_mapped(pid, m);

	f->kind = INTERP_FILE_OTHER;
	if (!ef) {
		/* not ELF (locale-archive, a data file) is an answer */
		if (errno != ENOEXEC)
			f->open_error = errno ? errno : EIO;
		return;
	}
	elf_file_lookup(ef, interp_symbol_names, f->syms, ISYM_NR);
	if (!f->syms[ISYM_PYRUNTIME]) {
		if (f->syms[ISYM_PY_INITIALIZE])
			f->kind = INTERP_FILE_OLD_PYTHON;
		elf_file_close(ef);
		return;
	}
	f->kind = INTERP_FILE_PYTHON;
	f->elf = ef;
	if (elf_file_build_id(ef, f->build_id, sizeof(f->build_id)) < 0)
		f->build_id[0] = 0;
}

struct interp_files *interp_files_new(void)
{
	return calloc(1, sizeof(struct interp_files));
}

struct interp_file *interp_files_get(struct interp_files *files, pid_t pid,
				     const struct proc_map *m)
{
	struct interp_file *f;

	for (size_t i = 0; i < files->n; i++)
		if (files->f[i]->dev == m->dev && files->f[i]->inode == m->inode)
			return files->f[i];
	if (GROW(files->f, files->cap, files->n, 64))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = m->dev;
	f->inode = m->inode;
	read_facts(f, pid, m);
	/* A file we could not open now (the process exited or remapped under
	 * us, a path not reachable yet) may be readable the next time, or
	 * through the next process that maps it: never remembered. */
	if (f->open_error) {
		errno = f->open_error;
		free(f);
		return NULL;
	}
	files->f[files->n++] = f;
	return f;
}

int interp_file_matches_memory(struct interp_file *f, pid_t pid, uint64_t bias)
{
	uint8_t in_file[BUILD_ID_MAX], in_memory[BUILD_ID_MAX];
	uint64_t vaddr;
	size_t len;
	int err;

	if (!f->elf || elf_file_build_id_vaddr(f->elf, &vaddr, &len) || len > BUILD_ID_MAX)
		return 1;
	err = elf_file_read_vaddr(f->elf, vaddr, in_file, len);
	if (err)
		return err;
	err = proc_read(pid, vaddr + bias, in_memory, len);
	if (err)
		return err;
	return !memcmp(in_file, in_memory, len);
}

/* The file at the mapped path is the mapped one only if their build-ids
 * agree: DWARF found next to (or by) another build would describe it. */
static bool path_is_mapped_build(const struct interp_file *f, pid_t pid, const char *mapped_path)
{
	char rooted[PATH_MAX], id[sizeof(f->build_id)];
	struct elf_file *ef;
	int n;

	if (!f->build_id[0] || proc_root_path(pid, mapped_path, rooted, sizeof(rooted)))
		return false;
	ef = elf_file_open(rooted);
	if (!ef)
		return false;
	n = elf_file_build_id(ef, id, sizeof(id));
	elf_file_close(ef);
	return n > 0 && !strcmp(id, f->build_id);
}

int interp_file_dwarf_layout(struct interp_file *f, pid_t pid, const char *mapped_path,
			     int major, int minor, struct py_version_layout *out)
{
	if (f->dwarf_status == 0) {
		char root[64];

		f->dwarf_status = -ENOENT;
		if (f->build_id[0] && !layout_store_load(f->build_id, major, minor, &f->dwarf)) {
			f->dwarf_status = 1;
			f->dwarf_stored = true;
		} else if (path_is_mapped_build(f, pid, mapped_path)) {
			snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
			int err = dwarf_layout_from_file_at(root, mapped_path, major, minor, &f->dwarf);

			f->dwarf_status = err ? err : 1;
			if (!err)
				layout_store_save(f->build_id, major, minor, &f->dwarf);
		}
	}
	if (f->dwarf_status != 1 || f->dwarf.version_hex != ((uint32_t)major << 24 | (uint32_t)minor << 16))
		return f->dwarf_status < 0 ? f->dwarf_status : -ENOENT;
	*out = f->dwarf;
	return 0;
}

void interp_files_free(struct interp_files *files)
{
	if (!files)
		return;
	for (size_t i = 0; i < files->n; i++) {
		elf_file_close(files->f[i]->elf);
		free(files->f[i]);
	}
	free(files->f);
	free(files);
}
