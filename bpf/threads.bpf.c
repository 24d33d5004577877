// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * For `refbpf dump`: every thread of one process with its thread pointer
 * (fsbase, the pthread_self() value CPython keeps as thread_id), so a
 * PyThreadState read from memory can be named by its thread ID and comm
 * in any PID namespace, sleeping threads included. A task iterator:
 * userspace reads one struct thread_record per thread.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "refbpf.h"
#include "kernel_compat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The process (host tgid), set before the iterator is created. */
const volatile __u32 target_tgid = 0;

SEC("iter/task")
int list_threads(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct thread_record rec = {};

	if (!task || task->tgid != target_tgid)
		return 0;
	rec.tid = task->pid;
	rec.state = compat_task_state(task);
	rec.fsbase = task->thread.fsbase;
	__builtin_memcpy(rec.comm, task->comm, sizeof(rec.comm));
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
