/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Walking the sampled thread's frames into the sample: each frame's bytes
 * (3.11+: a window of the data stack that holds several), its code object
 * and instruction, the code object's key from the code cache or read,
 * and, with --native, where each eval-loop activation starts.
 */
#ifndef REFBPF_FRAMES_H
#define REFBPF_FRAMES_H

#include "code_cache.h"
#include "native.h"
#include "sampler_state.h"

/*
 * The bytes of the frame at `frame`, from a read made for an earlier frame
 * when they are in it; NULL when unreadable.
 *
 * 3.11+: a caller sits just below its callee in the thread's data stack,
 * and usually its own callers below it. So the first frame, and any frame
 * found just below the one before it or below the window, are read back to
 * the start of their page (mapped, as the frame is): one read brings the
 * run of frames there. A frame elsewhere (a C-stack shim, a generator's, a
 * frame object before 3.11) is read alone into frame_buf, leaving the
 * window in place: the frames past a shim are usually in it.
 */
static __always_inline const __u8 *frame_bytes(struct scratch *s, const struct py_layout *l,
					       __u64 frame, __u32 span)
{
	__u64 last = s->last_frame;

	s->last_frame = frame;
	if (frame >= s->window_lo && frame + span <= s->window_hi)
		return s->stack_window + ((frame - s->window_lo) & (STACK_WINDOW_BYTES - 1));
	if (l->frame_model != FRAME_MODEL_INTERPRETER_FRAME ||
	    (last && !(frame < last && last - frame < STACK_WINDOW_BYTES) &&
	     !(frame < s->window_lo && s->window_lo - frame < STACK_WINDOW_BYTES))) {
		if (bpf_probe_read_user(s->frame_buf, span, (void *)frame))
			return NULL;
		return s->frame_buf;
	}
	__u64 end = frame + span, lo = frame & ~4095ull;

	if (end - lo > STACK_WINDOW_BYTES)
		lo = end - STACK_WINDOW_BYTES;
	__u32 len = (__u32)(end - lo) & (2 * STACK_WINDOW_BYTES - 1);

	if (len > STACK_WINDOW_BYTES)
		len = STACK_WINDOW_BYTES;
	barrier_var(len);
	if (bpf_probe_read_user(s->stack_window, len, (void *)lo))
		return NULL;
	s->window_lo = lo;
	s->window_hi = lo + len;
	return s->stack_window + ((frame - lo) & (STACK_WINDOW_BYTES - 1));
}

/* One frame of the walk; 1 when the walk is over. */
static __always_inline int frame_walk_step(struct scratch *s)
{
	struct frame_walk *w = &s->walk;
	const struct py_layout *l = &s->layout;
	__u64 frame = w->frame;

	if (!frame)
		return 1;
	if (w->n >= REFBPF_MAX_FRAMES) {
		w->flags |= SAMPLE_TRUNCATED;
		return 1;
	}
	__u32 span = l->frame_span & (REFBPF_READ_SPAN - 1);

	if (!span) {
		w->flags |= SAMPLE_READ_ERROR;
		return 1;
	}
	const __u8 *buf = frame_bytes(s, l, frame, span);

	if (!buf) {
		w->flags |= SAMPLE_READ_ERROR;
		return 1;
	}
	struct py_walk_frame f;

	py_walk_decode_frame(l, buf, &f);
	w->frame = f.previous;
	if (native_stacks && !f.code)
		mark_activation_entry(s, w, frame);
	if (!f.code)
		return 0;

	__u32 n = w->n & (REFBPF_MAX_FRAMES - 1);
	struct py_frame_rec *rec = &s->ev.frames[n];

	rec->code = f.code;
	rec->instr = py_walk_shared_instr(NULL, l, buf, f.code, f.instr);
	/* Recursion: the caller runs the same code object, read a moment
	 * ago in this very sample; its validation key holds. */
	if (w->n) {
		const struct py_frame_rec *callee = &s->ev.frames[(w->n - 1) & (REFBPF_MAX_FRAMES - 1)];

		if (callee->code == f.code && !(callee->flags & FRAME_UNVALIDATED)) {
			rec->key = callee->key;
			rec->firstlineno = callee->firstlineno;
			rec->flags = 0;
			w->n++;
			return 0;
		}
	}
	struct code_set *set = code_set_of(s, f.code, w->tgid);
	const struct code_slot *cs = w->epoch ? cached_code(set, f.code, w->tgid, w->epoch) : NULL;

	if (cs) {
		rec->key = cs->key;
		rec->firstlineno = cs->firstlineno;
		rec->flags = 0;
		w->trusted++;
		/* noted in seen_code when it was stored: userspace knows it */
	} else {
		/* the reader's memo is set up by a stack's first read: a
		 * sample whose code objects are all cached does not touch it */
		read_code_key(s->ev.cpu, f.code, !w->read);
		rec->key = s->key.rec.key;
		rec->firstlineno = s->key.rec.firstlineno;
		rec->flags = s->key.rec.flags;
		w->read++;
		if (w->epoch && !rec->flags)
			remember_code(set, rec, w->tgid, w->epoch);
		note_code(s, w, rec);
	}
	if (native_stacks && py_walk_is_entry(l, buf))
		rec->flags |= FRAME_ENTRY;
	w->n++;
	return 0;
}

/* Frames per call of a global function (sampler_state.h says why). */
#define FRAMES_PER_CALL 8

#ifndef REFBPF_WALK_BPF_LOOP
/* Up to FRAMES_PER_CALL frames of this CPU's walk; 1 when it is over. */
__noinline int frame_walk_some(__u32 cpu)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return 1;
	for (int i = 0; i < FRAMES_PER_CALL; i++)
		if (frame_walk_step(s))
			return 1;
	return 0;
}

/* REFBPF_MAX_FRAMES frames, and one step more that finds whether the
 * stack goes on (SAMPLE_TRUNCATED). */
static __always_inline void walk_frames_once(struct scratch *s, __u32 cpu)
{
	for (__u32 i = 0; i < REFBPF_MAX_FRAMES / FRAMES_PER_CALL + 1; i++)
		if (frame_walk_some(cpu))
			break;
}
#else
/* REFBPF_WALK_BPF_LOOP: one frame per bpf_loop() callback. */
static long frame_walk_cb(__u64 index, void *arg)
{
	return frame_walk_step(((struct walk_ctx *)arg)->s);
}

static __always_inline void walk_frames_once(struct scratch *s, __u32 cpu)
{
	struct walk_ctx c = { .s = s };

	bpf_loop(REFBPF_MAX_FRAMES + 1, frame_walk_cb, &c, 0);
}
#endif

/*
 * Walk from w->frame. When the counter moved during a walk that trusted
 * code objects read before, one of them may have been freed and its
 * address reused since: walk again reading every one.
 */
static __always_inline void walk_frames(struct scratch *s, __u32 cpu)
{
	const struct py_layout *l = &s->layout;
	struct frame_walk *w = &s->walk;
	__u64 top = w->frame;

	w->epoch = code_epoch(l, w->interp);
	for (int pass = 0; pass < 2; pass++) {
		if (native_stacks)
			s->native.nshims = 0;
		s->window_lo = s->window_hi = s->last_frame = 0;
		w->frame = top;
		w->n = 0;
		w->flags = 0;
		w->trusted = 0;
		w->read = 0;
		walk_frames_once(s, cpu);
		/* The thread's frames run in the interpreter checked at the
		 * start: only its counter matters now. */
		if (!w->trusted || code_counter(l) == w->epoch)
			return;
		w->epoch = 0;
	}
}

#endif /* REFBPF_FRAMES_H */
