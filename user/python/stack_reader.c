// SPDX-License-Identifier: BSD-2-Clause
#include "python/stack_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "python/target_walk.h"
#include "python/tstate_walk.h"

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
				ts->frames[ts->nframes - 1].flags |= FRAME_ENTRY;
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
		rec->instr = py_walk_shared_instr(&pid, l, frame_buf, f.code, f.instr);
		code_key_read(&pid, l, keys, f.code, rec);
		if (py_walk_is_entry(l, frame_buf))
			rec->flags |= FRAME_ENTRY;
	}
	return 0;
}

struct reader_walk {
	pid_t pid;
	const struct py_layout *l;
	struct code_key_reader *keys;
	struct thread_stack *stacks;
	size_t count, cap;
};

static int read_thread(const struct tstate_visit *v, void *arg)
{
	struct reader_walk *rw = arg;
	struct thread_stack *ts;

	if (GROW(rw->stacks, rw->cap, rw->count, 16))
		return -ENOMEM;
	ts = &rw->stacks[rw->count++];
	memset(ts, 0, sizeof(*ts));
	ts->tstate = v->tstate;
	ts->interpreter = v->interp_index;
	ts->thread_id = py_walk_ptr(&rw->pid, v->tstate + rw->l->tstate_thread_id);
	return read_frames(rw->pid, rw->l, ts, rw->keys);
}

int stack_reader_read(pid_t pid, const struct py_layout *l, struct thread_stack **out, size_t *n)
{
	struct reader_walk rw = { .pid = pid, .l = l, .keys = malloc(sizeof(*rw.keys)) };
	struct tstate_walk_result res;
	int err;

	*out = NULL;
	*n = 0;
	if (!rw.keys)
		return -ENOMEM;
	/* a list that ends in unreadable memory ends there: the threads
	 * before it are read */
	err = tstate_walk(pid, l, read_thread, &rw, &res);
	free(rw.keys);
	if (err && err != -EFAULT) {
		stack_reader_free(rw.stacks, rw.count);
		return err;
	}
	/* New interpreters go to the head of the list: the main one is last.
	 * Number them in creation order, the main interpreter 0. */
	for (size_t i = 0; i < rw.count; i++)
		rw.stacks[i].interpreter = res.interpreters - 1 - rw.stacks[i].interpreter;
	*out = rw.stacks;
	*n = rw.count;
	return 0;
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
