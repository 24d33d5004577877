// SPDX-License-Identifier: BSD-2-Clause
#include "stack_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "target_walk.h"

#define READER_MAX_INTERPRETERS 256
#define READER_MAX_THREADS 4096

static int read_frames(pid_t pid, const struct py_layout *l, struct thread_stack *ts,
		       struct code_key_reader *keys)
{
	uint8_t frame_buf[REFBPF_READ_SPAN];
	uint64_t frame = py_walk_top_frame(&pid, l, ts->tstate);
	uint32_t span = l->frame_span;

	if (!span || span > REFBPF_READ_SPAN)
		return -EINVAL;
	code_key_reader_start(keys);
	while (frame) {
		struct py_walk_frame f;
		struct py_frame_rec *rec;

		if (ts->nframes >= REFBPF_MAX_FRAMES) {
			ts->truncated = true;
			break;
		}
		memset(frame_buf, 0, sizeof(frame_buf));
		if (target_walk_read(&pid, frame_buf, span, frame)) {
			ts->read_error = true;
			break;
		}
		py_walk_decode_frame(l, frame_buf, &f);
		/* 3.12+: a C-stack shim; the frame before it was its
		 * activation's first (for --native, as BPF marks them) */
		if (!f.code) {
			if (ts->nframes)
				ts->frames[ts->nframes - 1].reserved |= FRAME_ENTRY;
			if (ts->nshims < REFBPF_NATIVE_MAX_SHIMS)
				ts->shims[ts->nshims++] = frame;
			frame = f.previous;
			continue;
		}
		if (!ts->frames)
			ts->frames = calloc(REFBPF_MAX_FRAMES, sizeof(*ts->frames));
		if (!ts->frame_addrs)
			ts->frame_addrs = calloc(REFBPF_MAX_FRAMES, sizeof(*ts->frame_addrs));
		if (!ts->frames || !ts->frame_addrs)
			return -ENOMEM;
		ts->frame_addrs[ts->nframes] = frame;
		frame = f.previous;
		rec = &ts->frames[ts->nframes++];
		rec->code = f.code;
		rec->instr = f.instr;
		code_key_read(&pid, l, keys, f.code, rec);
		if (py_walk_is_entry(l, frame_buf))
			rec->reserved |= FRAME_ENTRY;
	}
	return 0;
}

int stack_reader_read(pid_t pid, const struct py_layout *l, struct thread_stack **out, size_t *n)
{
	uint64_t interp = py_walk_ptr(&pid, l->runtime_addr + l->runtime_interpreters_head);
	struct thread_stack *stacks = NULL;
	size_t count = 0, cap = 0;
	unsigned int interpreters = 0;
	struct code_key_reader *keys = malloc(sizeof(*keys));
	int err = keys ? 0 : -ENOMEM;

	*out = NULL;
	*n = 0;
	if (err)
		return err;
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
			err = read_frames(pid, l, ts, keys);
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
	free(keys);
	*out = stacks;
	*n = count;
	return 0;
fail:
	free(keys);
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

int stack_reader_reread(pid_t pid, const struct py_layout *l, struct thread_stack *ts)
{
	struct code_key_reader *keys = malloc(sizeof(*keys));
	int err;

	if (!keys)
		return -ENOMEM;
	ts->nframes = 0;
	ts->nshims = 0;
	ts->truncated = ts->read_error = false;
	ts->source = STACK_READ;
	err = read_frames(pid, l, ts, keys);
	free(keys);
	return err;
}
