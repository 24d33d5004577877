/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the BPF programs read of the kernel's own state, written once for
 * every kernel from 5.10: the faster way where the kernel has it, the
 * older one elsewhere. Userspace probes the kernel (user/record/kernel_features.c)
 * and sets the flags below before loading; the verifier drops the branches
 * a flag rules out, so a helper the kernel lacks is never seen by it.
 *
 * The includer has included vmlinux.h, bpf_helpers.h and bpf_core_read.h.
 */
#ifndef REFBPF_KERNEL_COMPAT_H
#define REFBPF_KERNEL_COMPAT_H

/* bpf_get_current_task_btf() (Linux 5.11, and the kernel's own BTF): the
 * current task's fields are plain loads instead of a helper call each. */
const volatile bool have_task_btf = false;
/* bpf_task_pt_regs() (Linux 5.15): a task's user registers. */
const volatile bool have_task_pt_regs = false;

/* task_struct before 5.14 named its state `state` (a long). */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

/* A task's scheduler state (task->__state, or ->state before 5.14). */
static __always_inline __u32 compat_task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre_5_14 *)task, state);
}

/* The current task's comm and thread pointer (bpf/arch/). */
static __always_inline void compat_current_comm_thread_pointer(char comm[16],
							      __u64 *thread_pointer)
{
	if (have_task_btf) {
		struct task_struct *task = bpf_get_current_task_btf();

		__builtin_memcpy(comm, task->comm, 16);
		*thread_pointer = ARCH_THREAD_POINTER(task);
		return;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	bpf_get_current_comm(comm, 16);
	*thread_pointer = ARCH_THREAD_POINTER_CORE(task);
}

/*
 * The user-mode registers `task` entered the kernel with (task_pt_regs()):
 * where the kernel saves them, at the top of its kernel stack, before
 * bpf_task_pt_regs(). `task` is a BTF pointer where have_task_pt_regs
 * (the current task's, or an iterator's). Read them with BPF_CORE_READ.
 */
static __always_inline struct pt_regs *compat_task_user_regs(struct task_struct *task)
{
	if (have_task_pt_regs)
		return (struct pt_regs *)bpf_task_pt_regs(task);

	__u64 stack = (__u64)BPF_CORE_READ(task, stack);

	if (!stack)
		return NULL;
	return (struct pt_regs *)(stack + ARCH_KERNEL_THREAD_SIZE - bpf_core_type_size(struct pt_regs));
}

/* The same for the current task. */
static __always_inline struct pt_regs *compat_current_user_regs(void)
{
	if (have_task_pt_regs)
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return compat_task_user_regs((struct task_struct *)bpf_get_current_task());
}

#endif /* REFBPF_KERNEL_COMPAT_H */
