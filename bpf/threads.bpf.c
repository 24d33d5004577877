// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * For `refbpf dump`: every thread of one process with its pthread_self()
 * (the value CPython keeps as thread_id), so a
 * PyThreadState read from memory can be named by its thread ID and comm
 * in any PID namespace, sleeping threads included; and what moves when a
 * thread runs, so a stack read from memory can be checked to have been
 * still. A task iterator: userspace reads one struct thread_record per
 * thread.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "abi.h"
#include "arch.h"
#include "kernel_compat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The process (host tgid) and its thread pointer's bias (abi.h's
 * py_layout.thread_id_bias), set before each look: one loaded program
 * serves every process. */
__u32 target_tgid = 0;
__u32 thread_id_bias = 0;

static __always_inline void fill_thread(struct thread_record *rec, struct task_struct *task)
{
	rec->tid = task->pid;
	rec->state = compat_task_state(task);
	rec->thread_id = ARCH_THREAD_ID(ARCH_THREAD_POINTER(task), thread_id_bias);
	__builtin_memcpy(rec->comm, task->comm, sizeof(rec->comm));
	rec->runtime_ns = task->se.sum_exec_runtime;
	rec->switches = task->nvcsw + task->nivcsw;
}

SEC("iter/task")
int list_threads(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct thread_record rec = {};

	if (!task || task->tgid != target_tgid)
		return 0;
	fill_thread(&rec, task);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

/* A record too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct thread_wait_record);
} wait_scratch SEC(".maps");

/*
 * The same, and where each thread waits: the user registers it entered the
 * kernel with (pt_regs, which a sleeping task keeps), and its kernel
 * stack. For --mode wall, whose threads asleep at the start send no
 * switch-out; meaningful for threads that are not running.
 */
SEC("iter/task")
int list_waiting_threads(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	__u32 zero = 0;
	struct thread_wait_record *rec = bpf_map_lookup_elem(&wait_scratch, &zero);
	struct pt_regs *regs;
	long bytes;

	if (!task || !rec || task->tgid != target_tgid)
		return 0;
	fill_thread(&rec->thread, task);
	regs = compat_task_user_regs(task);
	if (!regs)
		return 0;
	ARCH_READ_USER_REGS(rec, regs);
	bytes = bpf_get_task_stack(task, rec->kernel, sizeof(rec->kernel), 0);
	rec->nkernel = bytes > 0 ? (__u32)(bytes / sizeof(__u64)) : 0;
	bpf_seq_write(seq, rec, sizeof(*rec));
	return 0;
}
