/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stacks besides Python's: --native's eval-loop activations, user
 * registers and user stack, sent as an EVENT_NATIVE_STACK record for
 * userspace to unwind; --kernel's kernel stack, sent after the Python
 * frames of the sample.
 */
#ifndef REFBPF_NATIVE_H
#define REFBPF_NATIVE_H

#include "arch.h"
#include "kernel_compat.h"
#include "sampler_state.h"

/* 3.12+: each activation pushes a C-stack shim frame below the frames it
 * runs, so the frame recorded just before the shim was its first one; the
 * shim's address tells which native frame is the activation. */
static __always_inline void mark_activation_entry(struct scratch *s, struct frame_walk *w,
						  __u64 shim)
{
	struct native_stack_event *e = &s->native;

	if (w->n)
		s->ev.frames[(w->n - 1) & (REFBPF_MAX_FRAMES - 1)].flags |= FRAME_ENTRY;
	if (e->nshims < REFBPF_NATIVE_MAX_SHIMS)
		e->shims[e->nshims++ & (REFBPF_NATIVE_MAX_SHIMS - 1)] = shim;
}

/*
 * Copy the user stack from sp up, a page at a time, until
 * REFBPF_NATIVE_STACK_BYTES or the first unreadable page (the top of the
 * stack mapping). Returns the bytes copied.
 */
static __always_inline __u32 copy_user_stack(__u8 *dst, __u64 sp)
{
	__u32 len = 4096 - (__u32)(sp & 4095);

	if (bpf_probe_read_user(dst, len, (void *)sp))
		return 0;
	for (int i = 0; i < REFBPF_NATIVE_STACK_BYTES / 4096 - 1; i++) {
		if (len > REFBPF_NATIVE_STACK_BYTES - 4096)
			break;
		if (bpf_probe_read_user(dst + len, 4096, (void *)(sp + len)))
			break;
		len += 4096;
	}
	return len;
}

/*
 * The sample's user-mode registers and the user stack they point into, as
 * an EVENT_NATIVE_STACK record. The registers: the perf event's own
 * (`event`, its context) when it fired in user mode, else those the
 * thread entered the kernel with (a switch-out passes NULL). The event's
 * are loads from the context, which the verifier rewrites to the
 * registers it points to (a probe read at the context's address would
 * read the kernel's bpf_perf_event_data_kern and the stack past it).
 */
static __always_inline int send_native_stack(const struct perf_event_regs *event,
					     struct scratch *s)
{
	struct native_stack_event *e = &s->native;

	e->type = EVENT_NATIVE_STACK;
	e->pid = s->ev.pid;
	e->tid = s->ev.tid;
	e->cpu = s->ev.cpu;
	e->time_ns = s->ev.time_ns;
	if (event && ARCH_USER_MODE(event)) {
		ARCH_COPY_EVENT_REGS(e, event);
	} else {
		struct pt_regs *regs = compat_current_user_regs();

		if (!regs)
			return -1;
		ARCH_READ_USER_REGS(e, regs);
	}
	e->stack_len = copy_user_stack(e->stack, e->sp);

	__u64 size = offsetof(struct native_stack_event, stack) +
		     (e->stack_len & (2 * REFBPF_NATIVE_STACK_BYTES - 1));

	if (size > sizeof(*e))
		size = sizeof(*e);
	return bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP);
}

/* The kernel stack, innermost first, written right after the last Python
 * frame (struct scratch leaves room for it). Returns how many. */
static __always_inline __u32 add_kernel_stack(void *ctx, struct scratch *s, __u32 n)
{
	if (n > REFBPF_MAX_FRAMES)
		n = REFBPF_MAX_FRAMES;
	long bytes = bpf_get_stack(ctx, (__u8 *)s->ev.frames + (__u64)n * sizeof(struct py_frame_rec),
				   REFBPF_MAX_KERNEL_FRAMES * sizeof(__u64), 0);

	return bytes > 0 ? (__u32)(bytes / sizeof(__u64)) : 0;
}

#endif /* REFBPF_NATIVE_H */
