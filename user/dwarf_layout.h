/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A CPython layout derived from the interpreter's own DWARF (pyenv builds
 * with -g, Debian's python3.X-dbg by build-id): the facts our built-in
 * tables are checked against.
 */
#ifndef REFBPF_DWARF_LAYOUT_H
#define REFBPF_DWARF_LAYOUT_H

#include "py_layout.h"

/*
 * Fill `out` for CPython major.minor from the DWARF of `path` (a python
 * executable or libpython), found in the file itself or as a detached
 * file under /usr/lib/debug/.build-id/ (or `debug_root` + that path when
 * debug_root is not NULL). Returns 0, -ENOENT when there is no DWARF or a
 * structure is missing, or another -errno.
 */
int dwarf_layout_from_file(const char *path, const char *debug_root, int major, int minor,
			   struct py_version_layout *out);

#endif /* REFBPF_DWARF_LAYOUT_H */
