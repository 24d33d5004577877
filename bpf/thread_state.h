/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Finding the sampled thread's PyThreadState: the one this CPU found for
 * the thread last time, the thread-local variable of 3.12+ once its
 * distance from the thread pointer is learnt, else a walk of every
 * interpreter's thread states. Each is checked against the thread's
 * pointer (CPython's thread_id) before it is used.
 */
#ifndef REFBPF_THREAD_STATE_H
#define REFBPF_THREAD_STATE_H

#include "sampler_state.h"

static __always_inline __u64 tstate_top_frame(const struct py_layout *l, __u64 tstate)
{
	return py_walk_top_frame(NULL, l, tstate);
}

static __always_inline __u64 tstate_buf_u64(const __u8 *buf, __u32 off)
{
	off &= TSTATE_SPAN - 1;
	if (off > TSTATE_SPAN - 8)
		return 0;
	return *(const __u64 *)(buf + off);
}

/*
 * A thread state's thread_id, its top frame (0: none running) and, when
 * the layout's span brings it, its interpreter (else *interp is left
 * alone). A helper call costs more than copying the bytes between the
 * fields, so they come in one read. Returns -1 when unreadable.
 */
static __always_inline int read_tstate(const struct py_layout *l, struct scratch *s, __u64 tstate,
				       __u64 *thread_id, __u64 *frame, __u64 *interp)
{
	__u32 lo = l->tstate_span_lo, len = l->tstate_span_len;

	if (len && len <= TSTATE_SPAN) {
		if (bpf_probe_read_user(s->tstate_buf, len & (2 * TSTATE_SPAN - 1), (void *)(tstate + lo)))
			return -1;
		*thread_id = tstate_buf_u64(s->tstate_buf, l->tstate_thread_id - lo);
		*frame = tstate_buf_u64(s->tstate_buf, l->tstate_frame - lo);
		if (l->flags & LAYOUT_SPAN_HAS_INTERP)
			*interp = tstate_buf_u64(s->tstate_buf, l->tstate_interp - lo);
	} else {
		*thread_id = read_ptr(tstate + l->tstate_thread_id);
		*frame = read_ptr(tstate + l->tstate_frame);
	}
	*frame = py_walk_running_frame(NULL, l, *frame);
	return 0;
}

/* One step: visit one thread state, or move to the next interpreter.
 * Returns 1 when the walk is over. */
static __always_inline int tstate_walk_step(const struct py_layout *l, struct tstate_walk *w)
{
	if (!w->tstate) {
		if (!w->interp) {
			w->done = 1;
			return 1;
		}
		w->tstate = read_ptr(w->interp + l->interp_threads_head);
		w->interp = read_ptr(w->interp + l->interp_next);
		return 0;
	}
	if (read_ptr(w->tstate + l->tstate_thread_id) == w->thread_id) {
		/* One OS thread may own a thread state in several
		 * interpreters: the running one has a frame. */
		__u64 frame = tstate_top_frame(l, w->tstate);

		if (frame) {
			w->found = w->tstate;
			w->found_frame = frame;
			w->done = 1;
			return 1;
		}
		if (!w->fallback)
			w->fallback = w->tstate;
	}
	w->tstate = read_ptr(w->tstate + l->tstate_next);
	return 0;
}

/* Steps per call of a global function (sampler_state.h says why). */
#define TSTATES_PER_CALL 64

#ifndef REFBPF_WALK_BPF_LOOP
/* Up to TSTATES_PER_CALL steps of this CPU's thread-state walk; 1 when
 * the walk is over. */
__noinline int tstate_walk_some(__u32 cpu)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return 1;
	for (int i = 0; i < TSTATES_PER_CALL; i++)
		if (tstate_walk_step(&s->layout, &s->twalk))
			return 1;
	return 0;
}

static __always_inline void walk_tstates(struct scratch *s, __u32 cpu)
{
	for (__u32 i = 0; i < REFBPF_MAX_TSTATES / TSTATES_PER_CALL; i++)
		if (tstate_walk_some(cpu))
			break;
}
#else
/* REFBPF_WALK_BPF_LOOP: one step per bpf_loop() callback. */
static long tstate_walk_cb(__u64 index, void *arg)
{
	struct scratch *s = ((struct walk_ctx *)arg)->s;

	return tstate_walk_step(&s->layout, &s->twalk);
}

static __always_inline void walk_tstates(struct scratch *s, __u32 cpu)
{
	struct walk_ctx c = { .s = s };

	bpf_loop(REFBPF_MAX_TSTATES, tstate_walk_cb, &c, 0);
}
#endif

/*
 * 3.12+ keep the thread state a thread runs in a thread-local variable
 * (_Py_tss_tstate; 3.14 also _Py_tss_gilstate), which static TLS puts at a
 * fixed distance from the thread pointer (below it on x86-64, above on
 * arm64: bpf/arch/). Stripped interpreters do not name it, so BPF looks
 * for it: when a walk has found a thread's state, among the
 * TLS_SCAN_BYTES next to that thread's pointer. Found, a thread
 * not seen before costs one read more than a known one, not a walk; what
 * it reads is checked as a cached thread state is.
 */
#define TLS_SCAN_BYTES TSTATE_SPAN
/* Looks without a find before giving up: a thread sampled while it runs
 * C code with the GIL released holds NULL there, but an interpreter
 * loaded by dlopen has its variable elsewhere. */
#define TLS_MAX_MISSES 32

static __always_inline void learn_tstate_tls(struct scratch *s, __u32 tgid, __u64 thread_pointer,
					     __u64 tstate)
{
	struct py_layout *shared = bpf_map_lookup_elem(&targets, &tgid);
	__u32 kept = 0;

	if (!shared || shared->tstate_tls || shared->tls_misses >= TLS_MAX_MISSES)
		return;
	if (!bpf_probe_read_user(s->tstate_buf, TLS_SCAN_BYTES,
				 (void *)ARCH_TLS_SCAN_START(thread_pointer, TLS_SCAN_BYTES))) {
		for (__u32 off = 0; off < TLS_SCAN_BYTES; off += 8) {
			if (*(__u64 *)(s->tstate_buf + off) == tstate) {
				kept = ARCH_TLS_OFFSET(off, TLS_SCAN_BYTES);
				break;
			}
		}
	}
	if (kept)
		shared->tstate_tls = kept;
	else if (++shared->tls_misses < TLS_MAX_MISSES)
		return;
	/* every CPU's copy of the layout takes it up */
	targets_changed();
}

/* The sampled thread's PyThreadState, its top frame in *frame, and its
 * interpreter in *interp when read on the way (else left alone): the one
 * whose thread_id is the thread's pthread_self(). */
static __always_inline __u64 find_tstate(const struct py_layout *l, struct scratch *s, __u32 cpu,
					 struct tstate_slot *slot, __u32 tgid, __u32 tid,
					 __u64 thread_pointer, __u64 *frame, __u64 *interp, __u32 *err)
{
	__u64 thread_id, self = ARCH_THREAD_ID(thread_pointer, l->thread_id_bias);

	*frame = 0;
	if (slot->tid == tid && slot->tgid == tgid && slot->tstate &&
	    !read_tstate(l, s, slot->tstate, &thread_id, frame, interp) &&
	    thread_id == self && *frame)
		return slot->tstate;
	*interp = INTERP_UNREAD;	/* a stale slot's */

	__u64 ts = 0;

	if (l->tstate_tls && ARCH_TLS_VALID(thread_pointer, l->tstate_tls)) {
		ts = read_ptr(ARCH_TLS_ADDR(thread_pointer, l->tstate_tls));
		if (ts && !read_tstate(l, s, ts, &thread_id, frame, interp) && thread_id == self &&
		    *frame)
			goto found;
		*interp = INTERP_UNREAD;
	}

	struct tstate_walk *w = &s->twalk;

	w->thread_id = self;
	w->interp = read_ptr(l->runtime_addr + l->runtime_interpreters_head);
	w->tstate = 0;
	w->found = 0;
	w->found_frame = 0;
	w->fallback = 0;
	w->done = 0;
	walk_tstates(s, cpu);
	ts = w->found ? w->found : w->fallback;

	if (!ts) {
		*err = w->done ? UNWIND_NO_TSTATE : UNWIND_TSTATE_WALK_LIMIT;
		return 0;
	}
	*frame = w->found_frame;
	if (w->found && (l->flags & LAYOUT_TLS_TSTATE) && !l->tstate_tls &&
	    l->tls_misses < TLS_MAX_MISSES)
		learn_tstate_tls(s, tgid, thread_pointer, ts);
found:
	slot->tid = tid;
	slot->tgid = tgid;
	slot->tstate = ts;
	return ts;
}

#endif /* REFBPF_THREAD_STATE_H */
