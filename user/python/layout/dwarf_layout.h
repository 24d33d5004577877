/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A CPython layout derived from the interpreter's own DWARF (pyenv builds
 * with -g, Debian's python3.X-dbg): the facts the built-in tables are
 * checked against, and a source of layouts where no table applies.
 */
#ifndef REFBPF_DWARF_LAYOUT_H
#define REFBPF_DWARF_LAYOUT_H

#include "python/layout/py_layout.h"
#include "python/layout/py_object_layout.h"

/*
 * Fill `out` for CPython major.minor from the DWARF of `path` (a python
 * executable or libpython): in the file itself, else a detached file named
 * by build-id (/usr/lib/debug/.build-id/xx/yyyy.debug) or by
 * .gnu_debuglink (next to the file, in .debug/ there, or under
 * /usr/lib/debug/<dir>/). A detached file must carry the same build-id
 * (or, without one, the debuglink CRC); a dwz supplementary file
 * (.gnu_debugaltlink) is found by its build-id or its recorded name.
 *
 * walk.runtime_addr, code_tag_mask and the spans are left 0, as in the
 * built-in tables. `out` is written only on success.
 *
 * Returns 0; -ENOMSG when DWARF was found but none describes every needed
 * structure (another version's); -ENOENT when none was found (or no file);
 * -ENOTSUP for versions before 3.8 or non-64-bit files; another -errno.
 */
int dwarf_layout_from_file(const char *path, int major, int minor, struct py_version_layout *out);

/*
 * Same, with every file (`path` and the debug files) looked up under
 * `root`, e.g. "/proc/PID/root" for a process in a container. NULL or ""
 * is the host's root; with a root, `path` must be absolute.
 */
int dwarf_layout_from_file_at(const char *root, const char *path, int major, int minor,
			      struct py_version_layout *out);

/*
 * The fields of an object layout that DWARF describes (every offset of
 * struct py_object_layout; not the kinds and places macros define), for
 * tests to check the built-in tables against. 0 or -errno as above.
 */
int dwarf_object_layout_from_file_at(const char *root, const char *path, int major, int minor,
				     struct py_object_layout *out);

#endif /* REFBPF_DWARF_LAYOUT_H */
