// SPDX-License-Identifier: BSD-2-Clause
/*
 * What every layout derives from its offsets, whatever their source (the
 * tables, DWARF, _Py_DebugOffsets): the spans BPF reads at once.
 */
#include "python/layout/py_layout.h"
#include "python/layout/versions.h"

static void span_add(uint16_t *lo, uint16_t *hi, uint16_t at, uint16_t size)
{
	if (at < *lo)
		*lo = at;
	if (at + size > *hi)
		*hi = at + size;
}

/* What BPF reads of a code object for its key (bpf/code_key.h): one span
 * from co_firstlineno to co_linetable, and the str and bytes objects. */
static void finish_code_span(struct py_layout *w, const struct py_code_layout *c)
{
	uint16_t lo = UINT16_MAX, hi = 0;

	w->code_version = c->version;
	w->code_filename = c->filename;
	w->code_qualname = c->qualname;
	w->code_linetable = c->linetable;
	w->str_length = c->unicode_length;
	w->str_state = c->unicode_state;
	w->str_kind_bit = c->unicode_kind_bit;
	w->str_ascii_data = c->unicode_ascii_size;
	w->str_compact_data = c->unicode_compact_size;
	w->bytes_size = c->bytes_size;
	w->bytes_data = c->bytes_sval;
	span_add(&lo, &hi, w->code_firstlineno, 4);
	span_add(&lo, &hi, w->code_name, 8);
	span_add(&lo, &hi, c->filename, 8);
	span_add(&lo, &hi, c->linetable, 8);
	if (c->qualname)
		span_add(&lo, &hi, c->qualname, 8);
	if (c->version)
		span_add(&lo, &hi, c->version, 4);
	w->code_span_start = lo;
	w->code_span = hi - lo;
}

void py_layout_finish(struct py_version_layout *l)
{
	struct py_layout *w = &l->walk;
	uint16_t end = 0;
	uint16_t ends[] = { w->frame_code + 8, w->frame_previous + 8,
			    w->frame_instr + (w->frame_model == FRAME_MODEL_FRAME_OBJECT ? 4 : 8),
			    (w->flags & LAYOUT_HAS_OWNER) ? w->frame_owner + 1 : 0,
			    w->frame_is_entry ? w->frame_is_entry + 1 : 0,
			    (w->flags & LAYOUT_TLBC) ? w->frame_tlbc_index + 4 : 0 };

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (ends[i] > end)
			end = ends[i];
	w->frame_span = end;
	finish_code_span(w, &l->code);

	/* 3.12+: BPF looks for the thread-local thread state next to the
	 * thread pointer, where static TLS puts it (bpf/arch/); an
	 * interpreter loaded by dlopen has it elsewhere, and BPF gives up. */
	const struct py_version_traits *v = py_version_traits((int)(w->version_hex >> 24),
							      (int)(w->version_hex >> 16 & 0xff));

	if (v && (v->flags & LAYOUT_TLS_TSTATE))
		w->flags |= LAYOUT_TLS_TSTATE;
	w->tstate_tls = w->tls_misses = 0;

	/* A thread state's thread_id and frame in one read, with interp
	 * when that stays within the span (BPF then needs no read of
	 * interpreters.head to trust the code counter). */
	uint16_t lo = w->tstate_thread_id < w->tstate_frame ? w->tstate_thread_id : w->tstate_frame;
	uint16_t hi = (w->tstate_thread_id > w->tstate_frame ? w->tstate_thread_id : w->tstate_frame) + 8;

	w->tstate_span_lo = w->tstate_span_len = 0;
	w->flags &= ~LAYOUT_SPAN_HAS_INTERP;
	if (hi - lo > REFBPF_TSTATE_SPAN)
		return;
	if (w->tstate_interp) {
		uint16_t ilo = w->tstate_interp < lo ? w->tstate_interp : lo;
		uint16_t ihi = w->tstate_interp + 8 > hi ? w->tstate_interp + 8 : hi;

		if (ihi - ilo <= REFBPF_TSTATE_SPAN) {
			lo = ilo;
			hi = ihi;
			w->flags |= LAYOUT_SPAN_HAS_INTERP;
		}
	}
	w->tstate_span_lo = lo;
	w->tstate_span_len = hi - lo;
}
