/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --native: one stack from a sample's Python frames and its native frames.
 * Each activation of the eval loop on the native stack is replaced by the
 * Python frames it was running: from the innermost Python frame not yet
 * placed, outwards, through the next frame marked as an activation's entry
 * (FRAME_ENTRY). So a C function called from Python lands above the Python
 * frame that called it, and Python called back from C above that C frame.
 */
#ifndef REFBPF_NATIVE_MERGE_H
#define REFBPF_NATIVE_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

struct native_frame {
	struct pframe frame;	/* unused when eval_loop */
	bool eval_loop;		/* an activation of the eval loop */
};

struct python_frame {
	struct pframe frame;
	bool entry;		/* the outermost frame of its activation */
};

/*
 * Merge `py` and `native`, both innermost first, into `out`, root first.
 * Python frames left when the native stack ends (it was copied only in
 * part) go at the root, in order. At most `cap` frames are kept, the
 * innermost ones; *truncated says whether outer ones were cut off.
 * Returns the number of frames in `out`.
 */
size_t native_merge(const struct python_frame *py, size_t npy, const struct native_frame *native,
		    size_t nnative, struct pframe *out, size_t cap, bool *truncated);

#endif /* REFBPF_NATIVE_MERGE_H */
