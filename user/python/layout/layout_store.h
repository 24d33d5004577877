/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Layouts derived from DWARF, kept on disk by build-id so the DWARF of one
 * interpreter build is read once, not on every run: a server's next
 * profile starts as fast as with a built-in table.
 *
 * The store is $REFBPF_CACHE_DIR, else /var/cache/refbpf/layouts. It is
 * used only when it belongs to the user refbpf runs as and nobody else may
 * write it; anything else makes it a miss, never an error.
 */
#ifndef REFBPF_LAYOUT_STORE_H
#define REFBPF_LAYOUT_STORE_H

#include "python/layout/py_layout.h"

/* 0 and the stored layout, or -ENOENT (absent, unusable or malformed). */
int layout_store_load(const char *build_id, int major, int minor, struct py_version_layout *out);

/* Best effort: a store that cannot be written is skipped silently. */
void layout_store_save(const char *build_id, int major, int minor,
		       const struct py_version_layout *l);

#endif /* REFBPF_LAYOUT_STORE_H */
