/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * An interactive SVG flame graph, self-contained (no network): click a
 * frame to zoom into it, "Reset zoom" or Escape to go back, "Search" for a
 * regular expression or text (matches highlighted, the share of samples
 * under them shown; ?s=REGEX in the URL searches on load), the hovered
 * frame's name, file:line, samples and percent below. The title names the
 * targets (PID, short command line) and the duration. Each frame's class
 * and colour say its kind (flame_colour()): Python (warm, by file),
 * synthetic roots (grey); blue and green are kept for native and kernel
 * frames. Frames narrower than 0.1 px at full width are left out, with
 * their children. The script is user/output/assets/flamegraph.js.
 */
#ifndef REFBPF_FLAMEGRAPH_WRITER_H
#define REFBPF_FLAMEGRAPH_WRITER_H

#include <stdbool.h>

#include "profile/profile.h"

/* Written atomically; `icicle` puts the root at the top. 0 or -errno. */
int flamegraph_write(const char *path, const struct profile *p, bool icicle);

#endif /* REFBPF_FLAMEGRAPH_WRITER_H */
