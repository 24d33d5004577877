// SPDX-License-Identifier: BSD-2-Clause
/*
 * Layout validation against a live process. The process keeps running
 * while we read it, so a frame can be popped between two reads: one odd
 * pointer is not proof, and a thread's frames count only when two reads
 * in a row agree. A layout is refused only when several passes in a row
 * each find a pointer that leads nowhere or to something that is not a
 * code object.
 */
#include "python/layout_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/proc.h"
#include "python/target_walk.h"
#include "python/tstate_walk.h"

#define CHECK_PASSES 5
#define CHECK_PASS_GAP_US 2000
#define CHECK_MAX_FRAMES 64

struct check_pass {
	unsigned int interpreters, threads, good_frames, bad_frames;
	unsigned int unsettled;		/* threads whose frames moved while read */
	bool unreadable;		/* a pointer of the chain led to unmapped memory */
	char detail[160];
};

static bool read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return addr && !proc_read(pid, addr, v, sizeof(*v));
}

static void note(struct check_pass *p, const char *what)
{
	if (!p->detail[0])
		snprintf(p->detail, sizeof(p->detail), "%s", what);
}

/* A frame as the check reads it: as the sampler decodes it (bpf/py_walk.h). */
struct checked_frame {
	struct py_walk_frame f;
	bool shim;
	bool unreadable;
};

/* The chain of frames from `frame`, as far as it can be read; its length. */
static int read_chain(pid_t pid, const struct py_layout *w, uint64_t frame,
		      struct checked_frame *out)
{
	uint8_t buf[REFBPF_READ_SPAN];
	int n = 0;

	if (!w->frame_span || w->frame_span > sizeof(buf)) {
		memset(out, 0, sizeof(*out));
		out->unreadable = true;
		return 1;
	}
	for (; frame && n < CHECK_MAX_FRAMES; n++) {
		struct checked_frame *c = &out[n];

		memset(c, 0, sizeof(*c));
		memset(buf, 0, sizeof(buf));
		if (target_walk_read(&pid, buf, w->frame_span, frame)) {
			c->unreadable = true;
			return n + 1;
		}
		py_walk_decode_frame(w, buf, &c->f);
		c->shim = py_walk_is_shim(w, buf);
		frame = c->f.previous;
	}
	return n;
}

/*
 * A running thread pushes and pops frames while they are read, and a
 * chain read then may mix frames of different moments: a popped frame's
 * slot already reused, its code pointer something else. Only a chain
 * that reads the same twice in a row is evidence, for the layout or
 * against it.
 */
static void check_frames(pid_t pid, const struct py_version_layout *l, uint64_t code_type,
			 uint64_t frame, struct check_pass *p)
{
	const struct py_layout *w = &l->walk;
	struct checked_frame first[CHECK_MAX_FRAMES], again[CHECK_MAX_FRAMES];
	int n = read_chain(pid, w, frame, first);
	unsigned int good = 0, bad = 0;

	if (read_chain(pid, w, frame, again) != n || memcmp(first, again, n * sizeof(first[0]))) {
		p->unsettled++;
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct checked_frame *c = &first[i];
		uint64_t type = 0;

		if (c->unreadable) {
			bad++;
			note(p, "a frame pointer leads to unreadable memory");
			break;
		}
		/* Every frame but a C-stack shim runs some code object. */
		if (c->shim)
			continue;
		if (read_u64(pid, c->f.code + l->code.ob_type, &type) && type == code_type) {
			good++;
		} else {
			bad++;
			note(p, "a frame's code object is not of type code");
		}
	}
	p->good_frames += good;
	p->bad_frames += bad;
}

static uint64_t top_frame(pid_t pid, const struct py_layout *w, uint64_t tstate,
			  struct check_pass *p)
{
	uint64_t frame = 0;

	if (!read_u64(pid, tstate + w->tstate_frame, &frame) ||
	    (frame && (w->flags & LAYOUT_VIA_CFRAME) &&
	     !read_u64(pid, frame + w->cframe_current_frame, &frame))) {
		p->bad_frames++;
		note(p, "a thread's frame pointer leads to unreadable memory");
		return 0;
	}
	return frame;
}

struct check_walk {
	pid_t pid;
	const struct py_version_layout *l;
	uint64_t code_type;
	struct check_pass *p;
};

static int check_thread(const struct tstate_visit *v, void *arg)
{
	struct check_walk *cw = arg;

	check_frames(cw->pid, cw->l, cw->code_type, top_frame(cw->pid, &cw->l->walk, v->tstate, cw->p),
		     cw->p);
	return 0;
}

static void check_once(pid_t pid, const struct py_version_layout *l, uint64_t code_type,
		       struct check_pass *p)
{
	struct check_walk cw = { .pid = pid, .l = l, .code_type = code_type, .p = p };
	struct tstate_walk_result res;

	if (tstate_walk(pid, &l->walk, check_thread, &cw, &res)) {
		p->unreadable = true;
		note(p, res.unreadable);
	}
	p->interpreters = res.interpreters;
	p->threads = res.threads;
}

int layout_check(pid_t pid, const struct py_version_layout *l, uint64_t code_type_addr,
		 char *detail, size_t len)
{
	struct check_pass p = { 0 };

	for (int pass = 0; pass < CHECK_PASSES; pass++) {
		p = (struct check_pass){ 0 };
		check_once(pid, l, code_type_addr, &p);
		if (!proc_alive(pid))
			return LAYOUT_CHECK_GONE;
		/* One clean pass is enough: evidence against a layout can be
		 * a race, evidence for it (every pointer leading to a code
		 * object, or to nothing) cannot. */
		if (!p.unreadable && !p.bad_frames) {
			if (p.threads)
				return LAYOUT_CHECK_OK;
			if (p.interpreters)
				snprintf(detail, len, "an interpreter without thread states");
			return LAYOUT_CHECK_NOT_READY;
		}
		usleep(CHECK_PASS_GAP_US);
	}
	snprintf(detail, len, "%s", p.detail);
	return LAYOUT_CHECK_MISMATCH;
}
