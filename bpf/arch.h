/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The architecture's facts for the BPF programs and the ABI they share
 * with userspace: one header per architecture under bpf/arch/, chosen by
 * the Makefile's ARCH (for BPF) or the compiler's target (userspace). */
#ifndef REFBPF_ARCH_H
#define REFBPF_ARCH_H

#if defined(__TARGET_ARCH_x86) || (!defined(__bpf__) && defined(__x86_64__))
#include "arch/x86.h"
#elif defined(__TARGET_ARCH_arm64) || (!defined(__bpf__) && defined(__aarch64__))
#include "arch/arm64.h"
#else
#error "refbpf: no bpf/arch/ header for this architecture"
#endif

/* Copy the user registers of ARCH_USER_REGS from `src`, a record of
 * abi.h, to `dst`, another; from a perf event's context (struct
 * perf_event_regs); or read through CO-RE from a kernel struct pt_regs. */
#define ARCH_COPY_ONE_REG(field, reg) __dst->field = __src->field;
#define ARCH_COPY_ONE_EVENT_REG(field, reg) __dst->field = __src->reg;
#define ARCH_READ_ONE_REG(field, reg) __dst->field = BPF_CORE_READ(__src, reg);
#define ARCH_COPY_USER_REGS(dst, src)				\
	do {							\
		typeof(dst) __dst = (dst);			\
		typeof(src) __src = (src);			\
		ARCH_USER_REGS(ARCH_COPY_ONE_REG)		\
	} while (0)
#define ARCH_COPY_EVENT_REGS(dst, event)			\
	do {							\
		typeof(dst) __dst = (dst);			\
		typeof(event) __src = (event);			\
		ARCH_USER_REGS(ARCH_COPY_ONE_EVENT_REG)		\
	} while (0)
#define ARCH_READ_USER_REGS(dst, regs)				\
	do {							\
		typeof(dst) __dst = (dst);			\
		typeof(regs) __src = (regs);			\
		ARCH_USER_REGS(ARCH_READ_ONE_REG)		\
	} while (0)

#endif /* REFBPF_ARCH_H */
