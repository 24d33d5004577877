// SPDX-License-Identifier: BSD-2-Clause
#include "native/native_merge.h"

/* Append innermost first while there is room; count what did not fit. */
struct merged {
	struct pframe *out;
	size_t n, cap;
	bool full;
};

static void push(struct merged *m, const struct pframe *f)
{
	if (m->n < m->cap)
		m->out[m->n++] = *f;
	else
		m->full = true;
}

size_t native_merge(const struct python_frame *py, size_t npy, const struct native_frame *native,
		    size_t nnative, struct pframe *out, size_t cap, bool *truncated)
{
	struct merged m = { .out = out, .cap = cap };
	size_t next_py = 0;

	for (size_t i = 0; i < nnative; i++) {
		if (!native[i].eval_loop) {
			push(&m, &native[i].frame);
			continue;
		}
		/* One activation: its frames, innermost first, to its entry. */
		while (next_py < npy) {
			const struct python_frame *p = &py[next_py++];

			push(&m, &p->frame);
			if (p->entry)
				break;
		}
	}
	while (next_py < npy)
		push(&m, &py[next_py++].frame);
	/* innermost first -> root first */
	for (size_t i = 0; i < m.n / 2; i++) {
		struct pframe t = out[i];

		out[i] = out[m.n - 1 - i];
		out[m.n - 1 - i] = t;
	}
	*truncated = m.full;
	return m.n;
}
