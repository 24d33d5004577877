/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * x86-64: what the BPF programs take from the CPU. A port to another
 * architecture is a file like this one (bpf/arch.h picks it), its
 * userspace side (user/base/arch/), and vmlinux/ARCH/vmlinux.h.
 *
 *   ARCH_USER_REGS(X)	the user registers CFI unwinding starts from
 *			(--native, wall mode's waits): X(field, reg) for
 *			each, `field` the name of abi.h's records (pc and sp
 *			first, the stack copy starts at sp), `reg` that of
 *			struct perf_event_regs and of the kernel's struct
 *			pt_regs alike
 *   ARCH_USER_MODE(e)	a perf event fired in user mode
 *   ARCH_NR_FUTEX	futex(2)'s syscall number
 *   ARCH_SYSCALL_NR/ARG0/ARG1(regs)  a task's syscall and its first two
 *			arguments, from its saved struct pt_regs (CO-RE)
 *   ARCH_THREAD_POINTER(task)  the thread pointer of a BTF-typed task (an
 *			iterator's); ARCH_THREAD_POINTER_CORE(task) the same
 *			through CO-RE reads, for a task pointer without BTF
 *   ARCH_THREAD_ID(tp, bias)  what pthread_self() returns (CPython's
 *			thread_id) from the thread pointer and the C
 *			library's distance between them (py_layout's
 *			thread_id_bias, from user/base/arch/)
 *   ARCH_TLS_SCAN_START(tp, len)  where the search for a static TLS
 *			variable reads `len` bytes; ARCH_TLS_OFFSET(off, len)
 *			what is kept of a find at byte `off` of them (never
 *			0), ARCH_TLS_ADDR(tp, kept) where it lies then, and
 *			ARCH_TLS_VALID(tp, kept) whether that address can be
 *   ARCH_KERNEL_THREAD_SIZE  the size of a task's kernel stack, whose top
 *			holds its user registers (before bpf_task_pt_regs())
 */
#ifndef REFBPF_ARCH_X86_H
#define REFBPF_ARCH_X86_H

#define ARCH_USER_REGS(X) X(pc, ip) X(sp, sp) X(bp, bp) X(bx, bx) \
	X(r12, r12) X(r13, r13) X(r14, r14) X(r15, r15)

/*
 * What a perf event program's context starts with: the UAPI struct
 * pt_regs (bpf_user_pt_regs_t), a fixed ABI of 8-byte registers.
 * Declared here without CO-RE: the kernel's own struct pt_regs made cs a
 * 2-byte field in 6.x, and the context takes 8-byte loads only.
 */
struct perf_event_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax;
	__u64 ip, cs, flags, sp, ss;
};

#define ARCH_USER_MODE(e) ((e)->cs & 3)

#define ARCH_NR_FUTEX 202
#define ARCH_SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#define ARCH_SYSCALL_ARG0(regs) BPF_CORE_READ(regs, di)
#define ARCH_SYSCALL_ARG1(regs) BPF_CORE_READ(regs, si)

/* fsbase; glibc's struct pthread starts there (TLS_TCB_AT_TP) */
#define ARCH_THREAD_POINTER(task) ((task)->thread.fsbase)
#define ARCH_THREAD_POINTER_CORE(task) BPF_CORE_READ(task, thread.fsbase)
#define ARCH_THREAD_ID(tp, bias) (tp)

/* Static TLS lies below the thread pointer (TLS variant II): kept is the
 * distance below it. */
#define ARCH_TLS_SCAN_START(tp, len) ((tp) - (len))
#define ARCH_TLS_OFFSET(off, len) ((len) - (off))
#define ARCH_TLS_ADDR(tp, kept) ((tp) - (kept))
#define ARCH_TLS_VALID(tp, kept) ((tp) > (kept))

/* THREAD_SIZE: 16 KiB (32 KiB only with KASAN, which no distribution
 * kernel enables) */
#define ARCH_KERNEL_THREAD_SIZE (16u << 10)

#endif /* REFBPF_ARCH_X86_H */
