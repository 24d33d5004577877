/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Before a layout is trusted with a process, follow the chain the BPF
 * walker will follow in the live process: _PyRuntime -> interpreters ->
 * thread states -> frames -> code objects, whose type must be PyCode_Type.
 * A wrong offset anywhere shows up as a pointer that leads nowhere or to
 * something that is not a code object.
 */
#ifndef REFBPF_LAYOUT_CHECK_H
#define REFBPF_LAYOUT_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/layout/py_layout.h"

enum layout_check_result {
	LAYOUT_CHECK_OK = 0,
	LAYOUT_CHECK_NOT_READY,	/* no interpreter or thread state yet */
	LAYOUT_CHECK_MISMATCH,	/* the layout does not describe this process */
	LAYOUT_CHECK_GONE,	/* the process exited */
};

/*
 * Check `l` (with walk.runtime_addr set) against `pid`. A thread with no
 * frame at this instant, or a process with no Python frame anywhere, is
 * not a mismatch: only evidence against the layout is. On MISMATCH,
 * `detail` says what was wrong; on NOT_READY it is set when an interpreter
 * exists but has no thread state (for a process that is not starting up,
 * a sign of a wrong layout). Returns enum layout_check_result.
 */
int layout_check(pid_t pid, const struct py_version_layout *l, uint64_t code_type_addr,
		 char *detail, size_t len);

#endif /* REFBPF_LAYOUT_CHECK_H */
