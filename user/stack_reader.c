// SPDX-License-Identifier: BSD-2-Clause
#include "stack_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

static int walk_read(void *ctx, void *dst, size_t len, uint64_t addr)
{
	return addr ? proc_read(*(pid_t *)ctx, addr, dst, len) : -EFAULT;
}

static inline __u64 load64(const void *p)
{
	__u64 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

#define PY_WALK_INLINE inline
#define PY_WALK_LOAD64(ptr) load64(ptr)
#define PY_WALK_READ(ctx, dst, len, addr) walk_read((ctx), (dst), (len), (addr))
#include "py_walk.h"

#define READER_MAX_INTERPRETERS 256
#define READER_MAX_THREADS 4096

static int read_frames(pid_t pid, const struct py_layout *l, struct thread_stack *ts)
{
	uint8_t frame_buf[REFBPF_READ_SPAN], code_buf[REFBPF_READ_SPAN];
	uint64_t frame = py_walk_top_frame(&pid, l, ts->tstate);
	uint32_t span = l->frame_span, cspan = l->code_span;

	if (!span || span > REFBPF_READ_SPAN || cspan > REFBPF_READ_SPAN)
		return -EINVAL;
	while (frame) {
		struct py_walk_frame f;
		struct py_frame_rec *rec;

		if (ts->nframes >= REFBPF_MAX_FRAMES) {
			ts->truncated = true;
			break;
		}
		memset(frame_buf, 0, sizeof(frame_buf));
		if (walk_read(&pid, frame_buf, span, frame)) {
			ts->read_error = true;
			break;
		}
		py_walk_decode_frame(l, frame_buf, &f);
		if (!f.code) {
			frame = f.previous;
			continue;
		}
		if (!ts->frames) {
			ts->frames = calloc(REFBPF_MAX_FRAMES, sizeof(*ts->frames));
			ts->frame_addrs = calloc(REFBPF_MAX_FRAMES, sizeof(*ts->frame_addrs));
			if (!ts->frames || !ts->frame_addrs)
				return -ENOMEM;
		}
		ts->frame_addrs[ts->nframes] = frame;
		frame = f.previous;
		rec = &ts->frames[ts->nframes++];
		rec->code = f.code;
		rec->instr = f.instr;
		rec->reserved = FRAME_UNVALIDATED;
		memset(code_buf, 0, sizeof(code_buf));
		if (cspan && !walk_read(&pid, code_buf, cspan, f.code + l->code_span_start)) {
			__u64 name;

			py_walk_decode_code(l, code_buf, &rec->firstlineno, &name);
			if (name && !walk_read(&pid, &rec->name_hash, sizeof(rec->name_hash),
					       name + l->unicode_hash))
				rec->reserved = 0;
		}
	}
	return 0;
}

int stack_reader_read(pid_t pid, const struct py_layout *l, struct thread_stack **out, size_t *n)
{
	uint64_t interp = py_walk_ptr(&pid, l->runtime_addr + l->runtime_interpreters_head);
	struct thread_stack *stacks = NULL;
	size_t count = 0, cap = 0;
	unsigned int interpreters = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	for (; interp && interpreters < READER_MAX_INTERPRETERS; interpreters++) {
		uint64_t tstate = py_walk_ptr(&pid, interp + l->interp_threads_head);

		while (tstate && count < READER_MAX_THREADS) {
			if (count == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct thread_stack *ns = realloc(stacks, ncap * sizeof(*ns));

				if (!ns) {
					err = -ENOMEM;
					goto fail;
				}
				stacks = ns;
				cap = ncap;
			}
			struct thread_stack *ts = &stacks[count++];

			memset(ts, 0, sizeof(*ts));
			ts->tstate = tstate;
			ts->interpreter = interpreters;
			ts->thread_id = py_walk_ptr(&pid, tstate + l->tstate_thread_id);
			err = read_frames(pid, l, ts);
			if (err)
				goto fail;
			tstate = py_walk_ptr(&pid, tstate + l->tstate_next);
		}
		interp = py_walk_ptr(&pid, interp + l->interp_next);
	}
	/* New interpreters go to the head of the list: the main one is last.
	 * Number them in creation order, the main interpreter 0. */
	for (size_t i = 0; i < count; i++)
		stacks[i].interpreter = interpreters - 1 - stacks[i].interpreter;
	*out = stacks;
	*n = count;
	return 0;
fail:
	stack_reader_free(stacks, count);
	return err;
}

void stack_reader_free(struct thread_stack *stacks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(stacks[i].frames);
		free(stacks[i].frame_addrs);
	}
	free(stacks);
}
