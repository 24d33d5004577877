/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How to walk CPython's state with a struct py_layout, written once for
 * both sides: the BPF sampler's frame walk (bpf/frames.h) and, through
 * user/python/target_walk.h, `refbpf dump` (user/python/stack_reader.c),
 * which reads sleeping threads from userspace, the layout check
 * (user/python/layout_check.c) and the symbolizer's code keys.
 *
 * The includer defines
 *   PY_WALK_INLINE                      how the helpers are inlined
 *   PY_WALK_READ(ctx, dst, len, addr)   read target memory; 0 on success
 * where ctx is whatever the reader needs (NULL in BPF, the PID outside),
 * and may define PY_WALK_LOAD64(ptr), an 8-byte load from a possibly
 * unaligned address (BPF's plain load is fine with that; C's is not).
 *
 * Frames and code objects are read as one span of REFBPF_READ_SPAN bytes
 * at most (struct py_layout says how many) and decoded from that buffer.
 */
#ifndef REFBPF_PY_WALK_H
#define REFBPF_PY_WALK_H

#include "abi.h"

#ifndef PY_WALK_LOAD64
#define PY_WALK_LOAD64(ptr) (*(const __u64 *)(ptr))
#endif

/* Field of `size` bytes (1, 4 or 8) at `off` in a span buffer of
 * REFBPF_READ_SPAN bytes; 0 when out of range. */
static PY_WALK_INLINE __u64 py_walk_field(const __u8 *buf, __u32 off, __u32 size)
{
	off &= REFBPF_READ_SPAN - 1;
	if (off + 8 > REFBPF_READ_SPAN)
		return 0;
	__u64 v = PY_WALK_LOAD64(buf + off);

	if (size == 1)
		return v & 0xff;
	if (size == 4)
		return v & 0xffffffff;
	return v;
}

static PY_WALK_INLINE __u64 py_walk_ptr(void *ctx, __u64 addr)
{
	__u64 v = 0;

	if (PY_WALK_READ(ctx, &v, sizeof(v), addr))
		return 0;
	return v;
}

/* The frame a thread state is running, from the value of its frame field
 * (3.11, 3.12: that is its cframe); 0 when none. */
static PY_WALK_INLINE __u64 py_walk_running_frame(void *ctx, const struct py_layout *l,
						  __u64 frame_field)
{
	if (frame_field && (l->flags & LAYOUT_VIA_CFRAME))
		return py_walk_ptr(ctx, frame_field + l->cframe_current_frame);
	return frame_field;
}

/* The frame a thread state is running, 0 when none. */
static PY_WALK_INLINE __u64 py_walk_top_frame(void *ctx, const struct py_layout *l, __u64 tstate)
{
	return py_walk_running_frame(ctx, l, py_walk_ptr(ctx, tstate + l->tstate_frame));
}

struct py_walk_frame {
	__u64 code;		/* the code object, tag bits cleared; 0: no Python function */
	__u64 instr;		/* f_lasti, or the instruction pointer */
	__u64 previous;		/* the calling frame */
};

/* Is the frame read into `buf` a C-stack shim (3.12+), owned by the C
 * stack rather than by a Python function? */
static PY_WALK_INLINE bool py_walk_is_shim(const struct py_layout *l, const __u8 *buf)
{
	return (l->flags & LAYOUT_HAS_OWNER) &&
	       py_walk_field(buf, l->frame_owner, 1) >= l->frame_owner_skip;
}

/* Decode a frame read into `buf`. A C-stack shim frame gets code 0: it is
 * walked through, not reported. */
static PY_WALK_INLINE void py_walk_decode_frame(const struct py_layout *l, const __u8 *buf,
						struct py_walk_frame *f)
{
	f->code = py_walk_field(buf, l->frame_code, 8) & ~l->code_tag_mask;
	f->instr = l->frame_model == FRAME_MODEL_FRAME_OBJECT ? py_walk_field(buf, l->frame_instr, 4) :
								 py_walk_field(buf, l->frame_instr, 8);
	f->previous = py_walk_field(buf, l->frame_previous, 8);
	if (py_walk_is_shim(l, buf))
		f->code = 0;
}

/* _PyCodeArray: a Py_ssize_t size, then the entries. */
#define PY_WALK_TLBC_ENTRIES 8
/* Thread-local bytecode indices beyond this are not a live thread's. */
#define PY_WALK_TLBC_MAX_INDEX (1u << 20)
/* Nor is an instruction this far into a copy (code objects' own limit on
 * code units is far lower). */
#define PY_WALK_TLBC_MAX_OFFSET (1u << 26)

/*
 * The instruction a frame read into `buf` (running `code`, at `instr`)
 * executes, as its address in the code object's own bytecode
 * (co_code_adaptive): what the symbolizer takes an instruction pointer
 * against. Only LAYOUT_TLBC (free-threaded 3.14+) changes it: there the
 * pointer is into the thread's copy, co_tlbc->entries[tlbc_index], which
 * is co_code_adaptive itself at index 0 (the main thread, and every
 * thread with PYTHON_TLBC=0). The copy is read now, while the frame runs
 * it: a thread that exits frees its copies, and its index goes to the
 * next thread. co_tlbc only grows (a larger array replaces it), so the
 * index a frame got is inside it. 0 when the copy cannot be read: the
 * symbolizer then has no instruction, never another copy's.
 */
static PY_WALK_INLINE __u64 py_walk_shared_instr(void *ctx, const struct py_layout *l,
						 const __u8 *buf, __u64 code, __u64 instr)
{
	if (!(l->flags & LAYOUT_TLBC))
		return instr;
	__u32 index = (__u32)py_walk_field(buf, l->frame_tlbc_index, 4);

	if (!index)
		return instr;
	if (index >= PY_WALK_TLBC_MAX_INDEX)
		return 0;
	__u64 array = py_walk_ptr(ctx, code + l->code_tlbc);

	if (!array)
		return 0;
	__u64 copy = py_walk_ptr(ctx, array + PY_WALK_TLBC_ENTRIES + (__u64)index * 8);

	if (!copy || instr < copy || instr - copy >= PY_WALK_TLBC_MAX_OFFSET)
		return 0;
	return code + l->code_adaptive + (instr - copy);
}

/* Is the frame read into `buf` the first one its eval-loop activation
 * runs (--native: FRAME_ENTRY)? 3.8-3.10 run each frame in an activation
 * of its own; 3.11 flags it (is_entry); 3.12+ put a C-stack shim frame
 * below it instead, which the walker sees on its way. */
static PY_WALK_INLINE bool py_walk_is_entry(const struct py_layout *l, const __u8 *buf)
{
	if (l->frame_model == FRAME_MODEL_FRAME_OBJECT)
		return true;
	return l->frame_is_entry && py_walk_field(buf, l->frame_is_entry, 1);
}

#endif /* REFBPF_PY_WALK_H */
