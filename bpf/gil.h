/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --gil: whether a sampled thread holds its interpreter's GIL, waits for
 * it, or neither, from the GIL's state in memory and the futex call the
 * thread sleeps in. No symbol of the interpreter is needed.
 */
#ifndef REFBPF_GIL_H
#define REFBPF_GIL_H

#include "arch.h"
#include "kernel_compat.h"
#include "sampler_state.h"

#define FUTEX_CMD_MASK 0x7f	/* without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME */

/* The futex operations that block: waiting, or taking a PI lock. */
static __always_inline bool futex_blocks(__u64 op)
{
	op &= FUTEX_CMD_MASK;
	return op == 0 /* WAIT */ || op == 6 /* LOCK_PI */ || op == 9 /* WAIT_BITSET */ ||
	       op == 11 /* WAIT_REQUEUE_PI */ || op == 13 /* LOCK_PI2 */;
}

/* The address of the thread's interpreter's struct _gil_runtime_state. */
static __always_inline __u64 gil_address(const struct py_layout *l, __u64 tstate)
{
	if (l->flags & LAYOUT_GIL_IN_RUNTIME)
		return l->runtime_addr + l->gil_at;
	if (l->flags & LAYOUT_GIL_VIA_INTERP) {
		__u64 interp = read_ptr(tstate + l->tstate_interp);

		return interp ? read_ptr(interp + l->gil_at) : 0;
	}
	return 0;
}

/*
 * Does the current thread hold its interpreter's GIL, or wait for it? A
 * thread waiting in take_gil() sleeps in a futex on the GIL's condition
 * variable or mutex, both inside struct _gil_runtime_state: its syscall
 * arguments say so, with no symbol of the interpreter needed.
 */
static __always_inline __u32 gil_state(const struct py_layout *l, __u64 tstate)
{
	__u64 gil = gil_address(l, tstate);
	struct pt_regs *regs;
	__u32 locked = 0;

	if (!gil)
		return GIL_UNKNOWN;
	/* A free-threaded build's GIL is off unless switched on, and then
	 * works as any other. */
	if (l->flags & LAYOUT_GIL_SWITCHABLE) {
		__s32 enabled = 0;

		if (bpf_probe_read_user(&enabled, sizeof(enabled), (void *)(gil + l->gil_enabled)))
			return GIL_UNKNOWN;
		if (!enabled)
			return GIL_DISABLED;
	}
	regs = compat_current_user_regs();
	if (regs && ARCH_SYSCALL_NR(regs) == ARCH_NR_FUTEX && futex_blocks(ARCH_SYSCALL_ARG1(regs)) &&
	    ARCH_SYSCALL_ARG0(regs) - gil < l->gil_size)
		return GIL_WAIT;
	if (bpf_probe_read_user(&locked, sizeof(locked), (void *)(gil + l->gil_locked)))
		return GIL_UNKNOWN;
	return locked && read_ptr(gil + l->gil_holder) == tstate ? GIL_HELD : GIL_NOT_HELD;
}

#endif /* REFBPF_GIL_H */
