/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The walk and the code key of bpf/ (py_walk.h, code_key.h), compiled for
 * userspace: target memory is read with proc_read, the context being a
 * pointer to the target's pid_t, unless the includer defines
 * PY_WALK_READ first (the fuzzers read an image instead).
 */
#ifndef REFBPF_TARGET_WALK_H
#define REFBPF_TARGET_WALK_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include <linux/types.h>

#include "base/proc.h"

static inline int target_walk_read(void *ctx, void *dst, size_t len, uint64_t addr)
{
	return addr ? proc_read(*(pid_t *)ctx, addr, dst, len) : -EFAULT;
}

static inline __u64 target_walk_load64(const void *p)
{
	__u64 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Never past the n bytes: userspace buffers end where their data does. */
static inline __u64 target_walk_load_partial(const void *p, unsigned int n)
{
	__u64 v = 0;

	memcpy(&v, p, n < sizeof(v) ? n : sizeof(v));
	return v;
}

#define PY_WALK_INLINE inline
#define PY_WALK_LOAD64(ptr) target_walk_load64(ptr)
#ifndef PY_WALK_READ
#define PY_WALK_READ(ctx, dst, len, addr) target_walk_read((ctx), (dst), (len), (addr))
#endif
#define CODE_KEY_LOAD_PARTIAL(ptr, n) target_walk_load_partial((ptr), (n))
#include "bpf/py_walk.h"
#include "bpf/code_key.h"

#endif /* REFBPF_TARGET_WALK_H */
