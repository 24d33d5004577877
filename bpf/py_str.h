/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython's str objects, for BPF (bpf/code_key.h) and userspace alike: the
 * bits of PyASCIIObject.state, the same from 3.8 to 3.15 and in 3.13t
 * (interned:2, kind:3, compact:1, ascii:1). No includes.
 */
#ifndef REFBPF_PY_STR_H
#define REFBPF_PY_STR_H

#define PY_STR_STATE_KIND(s) (((s) >> 2) & 7)
#define PY_STR_STATE_COMPACT(s) (((s) >> 5) & 1)
#define PY_STR_STATE_ASCII(s) (((s) >> 6) & 1)

#endif /* REFBPF_PY_STR_H */
