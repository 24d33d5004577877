/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython's str objects, for BPF (bpf/code_key.h) and userspace alike: the
 * bits of PyASCIIObject.state, kind:3, compact:1 and ascii:1 in a row,
 * after `interned`, from 3.8 to 3.15. `bit` is where kind starts: after
 * interned:2 (PY_STR_KIND_BIT), or, in free-threaded 3.14+ builds, after
 * an `unsigned char interned` (PY_STR_KIND_BIT_FT). No includes.
 */
#ifndef REFBPF_PY_STR_H
#define REFBPF_PY_STR_H

#define PY_STR_KIND_BIT 2
#define PY_STR_KIND_BIT_FT 8

#define PY_STR_STATE_KIND(s, bit) (((s) >> ((bit) & 31)) & 7)
#define PY_STR_STATE_COMPACT(s, bit) (((s) >> (((bit) + 3) & 31)) & 1)
#define PY_STR_STATE_ASCII(s, bit) (((s) >> (((bit) + 4) & 31)) & 1)

#endif /* REFBPF_PY_STR_H */
