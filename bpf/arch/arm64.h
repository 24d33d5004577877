/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * arm64 (AArch64): what the BPF programs take from the CPU; the macros
 * are those of bpf/arch/x86.h, which says what each is.
 */
#ifndef REFBPF_ARCH_ARM64_H
#define REFBPF_ARCH_ARM64_H

/* pc, sp, the frame pointer (x29), the link register (x30: a leaf's
 * return address), and the callee-saved x19-x28 a frame's CFI may
 * restore from */
#define ARCH_USER_REGS(X) X(pc, pc) X(sp, sp) X(x29, regs[29]) X(x30, regs[30]) \
	X(x19, regs[19]) X(x20, regs[20]) X(x21, regs[21]) X(x22, regs[22]) X(x23, regs[23]) \
	X(x24, regs[24]) X(x25, regs[25]) X(x26, regs[26]) X(x27, regs[27]) X(x28, regs[28])

/* A perf event program's context: the UAPI struct user_pt_regs
 * (bpf_user_pt_regs_t), which the kernel's struct pt_regs starts with. */
struct perf_event_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

/* PSTATE.M: EL0t, the mode AArch64 user code runs in */
#define ARCH_USER_MODE(e) (((e)->pstate & 0xf) == 0)

#define ARCH_NR_FUTEX 98
/* x0 is the syscall's return value once it returns: orig_x0 keeps the
 * first argument */
#define ARCH_SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#define ARCH_SYSCALL_ARG0(regs) BPF_CORE_READ(regs, orig_x0)
#define ARCH_SYSCALL_ARG1(regs) BPF_CORE_READ(regs, regs[1])

/* TPIDR_EL0. glibc's struct pthread lies right below it (TLS_DTV_AT_TP:
 * THREAD_SELF is the thread pointer minus sizeof(struct pthread)), musl's
 * too; the bias is that size, which each C library release has its own of. */
#define ARCH_THREAD_POINTER(task) ((task)->thread.uw.tp_value)
#define ARCH_THREAD_POINTER_CORE(task) BPF_CORE_READ(task, thread.uw.tp_value)
#define ARCH_THREAD_ID(tp, bias) ((tp) - (bias))

/* Static TLS lies above the thread pointer (TLS variant I), past the
 * 16-byte TCB (the dtv pointer at 0, never a variable): kept is the
 * offset above it. */
#define ARCH_TLS_SCAN_START(tp, len) (tp)
#define ARCH_TLS_OFFSET(off, len) (off)
#define ARCH_TLS_ADDR(tp, kept) ((tp) + (kept))
#define ARCH_TLS_VALID(tp, kept) ((tp) != 0)

/* THREAD_SIZE with 4 KiB pages (Debian's, most distributions'): 16 KiB;
 * task_pt_regs() is at its top as on x86-64 */
#define ARCH_KERNEL_THREAD_SIZE (16u << 10)

#endif /* REFBPF_ARCH_ARM64_H */
