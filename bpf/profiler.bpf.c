// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sampler: on every cpu-clock tick of a target process, find the
 * sampled thread's PyThreadState, walk its interpreter frames and send
 * (code address, instruction, validation key) per frame to userspace.
 * No strings, no line tables here: those are resolved in userspace.
 *
 * This file holds the programs, the sample they build and send, and the
 * process-lifetime events; each concern of the walk has its header
 * (included below): the shared state, the code cache, the thread state,
 * the native and kernel stacks, the frames, the GIL.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "abi.h"
#include "arch.h"
#include "mix64.h"
#include "kernel_compat.h"

#define PY_WALK_INLINE __always_inline
#define PY_WALK_READ(ctx, dst, len, addr) bpf_probe_read_user((dst), (len), (void *)(addr))
/* the buffers hold 8 bytes more than they are filled with */
#define CODE_KEY_LOAD_PARTIAL(ptr, n) \
	(*(const __u64 *)(ptr) & ((n) >= 8 ? ~0ull : (1ull << ((n) * 8)) - 1))
#include "py_walk.h"
/* Reading a code key loops over the words of several objects: verified
 * once each as global functions (sampler_state.h), not wherever the walk uses them.
 * Global functions take only scalars before 5.12: each finds the reader
 * and the layout in its CPU's scratch (the reader says which CPU). */
int object_key(__u32 cpu, __u64 addr, __u32 kind);
#define CODE_KEY_OBJECT(ctx, l, r, addr, kind, key) \
	(object_key((r)->cpu, (addr), (kind)) ? -1 : (*(key) = (r)->result, 0))
#include "code_key.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Each concern's helpers, in the order they build on each other. One
 * BPF object still: the programs share the maps and the scratch. */
#include "sampler_state.h"
#include "code_cache.h"
#include "thread_state.h"
#include "native.h"
#include "frames.h"
#include "gil.h"

/* ---- building and sending a sample ---- */

static __always_inline void send_sample(struct scratch *s, bool new_code)
{
	__u32 n = s->ev.nframes, nk = s->ev.nkernel;

	if (n > REFBPF_MAX_FRAMES)
		n = REFBPF_MAX_FRAMES;
	if (nk > REFBPF_MAX_KERNEL_FRAMES)
		nk = REFBPF_MAX_KERNEL_FRAMES;
	__u64 size = offsetof(struct sample_event, frames) +
		     (__u64)n * sizeof(struct py_frame_rec) + (__u64)nk * sizeof(__u64);

	/* the clamps above make this always false: keep clang from dropping
	 * the bound the verifier needs */
	barrier_var(size);
	if (size > sizeof(struct sample_event) + REFBPF_MAX_KERNEL_FRAMES * sizeof(__u64))
		return;
	/* Waking userspace per sample costs more than the sample itself:
	 * it polls on a timer, and is woken only for new code objects or
	 * when the buffer fills. Every 8th sample of a CPU looks: a sample is
	 * 33 KiB at most, so the wake-up comes at most 231 KiB late, and the
	 * other 7 save a helper call. */
	__u64 wakeup = BPF_RB_NO_WAKEUP;

	if (new_code || (!(s->sends++ & 7) &&
			 bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ringbuf_wake_bytes))
		wakeup = BPF_RB_FORCE_WAKEUP;

	if (bpf_ringbuf_output(&events, &s->ev, size, wakeup))
		count_error(UNWIND_RINGBUF_FULL);
}

/*
 * Walk the current thread's Python stack and send it as `type`: a
 * cpu-clock sample (EVENT_SAMPLE), or the stack a thread leaves the CPU
 * in (EVENT_OFF_CPU, sent even without a stack, so userspace knows the
 * thread is off CPU from then on).
 */
static __always_inline int sample_thread(void *ctx, const struct perf_event_regs *event,
					 __u64 pid_tgid, __u32 type, __u32 flags, __u64 run_ns)
{
	__u32 tgid = pid_tgid >> 32;
	__u32 tid = (__u32)pid_tgid;
	bool sample = type == EVENT_SAMPLE;
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return 0;

	const struct py_layout *l = target_layout(s, tgid);

	if (!l)
		return 0;
	s->ev.type = type;
	s->ev.pid = tgid;
	s->ev.tid = tid;
	s->ev.cpu = cpu;
	/* a cpu-clock sample's time is needed only to pair it with its
	 * --native stack: the clock read is saved otherwise */
	s->ev.time_ns = sample && !native_stacks ? 0 : bpf_ktime_get_ns();
	s->ev.tstate = 0;
	s->ev.run_ns = run_ns;
	s->ev.flags = flags;
	s->ev.nframes = 0;
	s->ev.nkernel = 0;
	s->ev.gil = GIL_UNKNOWN;
	__u64 thread_pointer;

	/* names the thread without a /proc read per new thread, even one
	 * gone by the time userspace sees the sample; loaded directly where
	 * the kernel allows, not by a helper call, which costs more than
	 * the copy */
	compat_current_comm_thread_pointer(s->ev.comm, &thread_pointer);
	if (flags & SAMPLE_THREAD_EXIT) {
		send_sample(s, false);
		return 0;
	}

	__u32 err = UNWIND_NO_TSTATE;
	__u64 top = 0, interp = INTERP_UNREAD;
	struct tstate_slot *slot = &s->tstate_slots[tid & (TSTATE_SLOTS - 1)];
	__u64 tstate = find_tstate(l, s, cpu, slot, tgid, tid, thread_pointer, &top, &interp, &err);
	struct frame_walk *w = &s->walk;

	w->frame = top;
	w->interp = interp;
	w->pid_salt = (__u64)tgid << 40;
	w->tgid = tgid;
	w->n = 0;
	w->flags = 0;
	w->new_code = 0;
	w->epoch = 0;
	if (tstate && top)
		walk_frames(s, cpu);
	else if (tstate)
		err = UNWIND_NO_FRAME;
	if (tstate && top && w->n == 0)
		err = (w->flags & SAMPLE_READ_ERROR) ? UNWIND_READ_FAULT : UNWIND_NO_FRAME;
	if (w->n == 0) {
		if (sample && !send_unwalked) {
			count_error(err);
			return 0;
		}
		/* why, and whose: userspace may read that stack itself */
		s->ev.flags |= ((err + 1) << SAMPLE_UNWALKED_SHIFT) & SAMPLE_UNWALKED_MASK;
		s->ev.tstate = tstate;
	} else {
		s->ev.tstate = tstate;
		s->ev.flags |= w->flags;
		s->ev.nframes = w->n;
		s->counts.frames_trusted += w->trusted;
		s->counts.frames_read += w->read;
		if (want_gil)
			s->ev.gil = gil_state(l, tstate);
		if (want_kernel)
			s->ev.nkernel = add_kernel_stack(ctx, s, w->n);
	}
	/* --native: the stack record goes first. Without it a cpu-clock
	 * sample is dropped, not sent Python-only, so every --native sample
	 * is mixed; a switch-out is sent with its Python stack alone, not to
	 * lose its time. */
	if (native_stacks && w->n) {
		if (!send_native_stack(event, s)) {
			s->ev.flags |= SAMPLE_NATIVE_STACK;
		} else if (sample) {
			count_error(UNWIND_RINGBUF_FULL);
			return 0;
		}
	}
	send_sample(s, w->new_code && code_churning(tgid, w->epoch));
	return 0;
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!(pid_tgid >> 32))
		return 0;
	return sample_thread(ctx, (const void *)ctx, pid_tgid, EVENT_SAMPLE, 0, 0);
}

/* ---- off-CPU time (--mode wall) ---- */

#define TASK_DEAD_STATE 0x80	/* TASK_DEAD in prev_state */

/*
 * Every context switch on the host. The thread leaving is `current`, so
 * its memory is readable: its stack is walked as a sample's is. The one
 * coming back only reports the time. Loaded only in wall mode.
 */
SEC("raw_tp/sched_switch")
int on_sched_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	/* prev is still current here: its tgid without a read of the task */
	__u32 ptgid = bpf_get_current_pid_tgid() >> 32;

	if (target_maybe(ptgid) && bpf_map_lookup_elem(&targets, &ptgid)) {
		/* The state prev leaves in, from the task: the tracepoint
		 * passes it as args[3] only since 5.18. A task put back to
		 * TASK_RUNNING by a pending signal stays runnable: preempted. */
		__u32 prev_state = compat_task_state(prev);
		bool preempted = ctx->args[0] || prev_state == 0;	/* TASK_RUNNING */

		/* --native: the user-mode registers it entered the kernel
		 * with, to block: the C frames it waits in. Its CPU time
		 * tells userspace what it ran, should the kernel not report
		 * its next switch-in (seen on 6.18, about 1 in 300). */
		sample_thread(ctx, NULL, bpf_get_current_pid_tgid(), EVENT_OFF_CPU,
			      (prev_state & TASK_DEAD_STATE) ? SAMPLE_THREAD_EXIT :
			      preempted			     ? SAMPLE_PREEMPTED :
								       0,
			      BPF_CORE_READ(prev, se.sum_exec_runtime));
	}
	__u32 ntgid = BPF_CORE_READ(next, tgid);

	if (!target_maybe(ntgid) || !bpf_map_lookup_elem(&targets, &ntgid))
		return 0;

	struct on_cpu_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_error(UNWIND_RINGBUF_FULL);
		return 0;
	}
	e->type = EVENT_ON_CPU;
	e->pid = ntgid;
	e->tid = BPF_CORE_READ(next, pid);
	e->cpu = bpf_get_smp_processor_id();
	e->time_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- process lifetime ---- */

/*
 * Processes whose exec and exit we report (every target, and with -C every
 * descendant), keyed by tgid. A forked child of a Python target inherits
 * its parent's address space, so it is sampled from its first instruction
 * with its parent's layout.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);	/* enum watch_flags */
} watched SEC(".maps");

/* --all: every exec on the host is reported, every Python fork followed. */
const volatile bool watch_all = false;

/* When an exec of a process nobody tracks last woke userspace (--all),
 * and how many did (for -v). */
__u64 untracked_exec_woke_ns = 0;
__u64 untracked_exec_wakeups = 0;

static __always_inline void send_process_event(__u32 type, __u32 tgid, __s32 code, __u32 ppid,
					       __u64 wake_flag)
{
	struct process_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_error(UNWIND_RINGBUF_FULL);
		return;
	}
	e->type = type;
	e->pid = tgid;
	e->exit_code = code;
	e->ppid = ppid;
	bpf_ringbuf_submit(e, wake_flag);
}

/* A process whose exit (and, without --all, exec) userspace wants. */
static __always_inline bool is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&watched, &tgid) || bpf_map_lookup_elem(&targets, &tgid);
}

SEC("raw_tp/sched_process_fork")
int on_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = bpf_get_current_pid_tgid() >> 32;	/* the forking task's */
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct py_layout *layout;
	__u32 *flags;

	/* A new thread is no new process. */
	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;
	flags = bpf_map_lookup_elem(&watched, &ptgid);
	layout = bpf_map_lookup_elem(&targets, &ptgid);
	/* -C follows every descendant; --all needs only a Python process's
	 * forks here (any other process is announced by its exec). */
	if (!(flags && (*flags & WATCH_CHILDREN)) && !(watch_all && layout))
		return 0;
	if (flags && (*flags & WATCH_CHILDREN)) {
		__u32 cflags = WATCH_CHILDREN;

		bpf_map_update_elem(&watched, &ctgid, &cflags, BPF_ANY);
	}
	/* exec bumps self_exec_id: should the child already run another
	 * image when this fires, the parent's layout would be wrong there. */
	__u64 parent_exec_id = have_task_btf ? bpf_get_current_task_btf()->self_exec_id :
		BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), self_exec_id);
	__s32 fork_flags = BPF_CORE_READ(child, self_exec_id) != parent_exec_id ? FORK_CHILD_EXECD : 0;

	if (layout && !fork_flags) {
		target_filter_set(ctgid);
		bpf_map_update_elem(&targets, &ctgid, layout, BPF_ANY);
		targets_changed();
		fork_flags |= FORK_LAYOUT_COPIED;
	}
	send_process_event(EVENT_FORK, ctgid, fork_flags, ptgid, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* Fires for every exiting thread; the process is gone with its last one. */
SEC("raw_tp/sched_process_exit")
int on_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	/* do_exit() fires this in the exiting task: through its BTF pointer
	 * the fields below are plain loads, not a helper call each, where
	 * the kernel has bpf_get_current_task_btf() */
	struct task_struct *task = have_task_btf ? bpf_get_current_task_btf() :
						   (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* Most exits are threads of a live process (a thread per request is
	 * one each): the count of live threads says so before any map
	 * lookup. */
	if ((have_task_btf ? task->signal->live.counter : BPF_CORE_READ(task, signal, live.counter)) != 0)
		return 0;
	if (!is_tracked(tgid))
		return 0;
	if (!bpf_map_delete_elem(&targets, &tgid))
		targets_changed();
	bpf_map_delete_elem(&code_quiet, &tgid);
	bpf_map_delete_elem(&watched, &tgid);
	send_process_event(EVENT_EXIT, tgid,
			   have_task_btf ? task->exit_code : BPF_CORE_READ(task, exit_code), 0,
			   BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* exec replaces the address space: the layout no longer applies. */
SEC("raw_tp/sched_process_exec")
int on_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(task, tgid);

	bool tracked = is_tracked(tgid);

	/* With --all any exec may start a Python. */
	if (!watch_all && !tracked)
		return 0;
	if (!bpf_map_delete_elem(&targets, &tgid))
		targets_changed();
	bpf_map_delete_elem(&code_quiet, &tgid);
	/* A tracked process's exec is wanted now (its layout is gone). The
	 * host's other execs (--all) wake userspace at most once per
	 * EXEC_WAKE_GAP_NS: having read one, it polls every 10 ms for three
	 * times that long (user/record/recorder.c), so the ones sent in between
	 * are read as soon, and a host running thousands of programs a
	 * second does not wake it for each. */
	__u64 now = bpf_ktime_get_ns(), wake = BPF_RB_FORCE_WAKEUP;

	if (!tracked) {
		if (now - *(volatile __u64 *)&untracked_exec_woke_ns < EXEC_WAKE_GAP_NS)
			wake = BPF_RB_NO_WAKEUP;
		else {
			untracked_exec_woke_ns = now;
			__sync_fetch_and_add(&untracked_exec_wakeups, 1);
		}
	}
	send_process_event(EVENT_EXEC, tgid, 0, 0, wake);
	return 0;
}
