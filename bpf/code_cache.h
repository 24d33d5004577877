/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a sample knows of its code objects without reading them: a key
 * read before, taken from the CPU's code_sets while the interpreter's
 * code counter says no code object was freed and another made at its
 * address since (else read_code_key(), sampler_state.h, reads it); and
 * which code objects this CPU has sent (seen_code), so that a sample with
 * a new one wakes userspace at once while code objects come and go.
 */
#ifndef REFBPF_CODE_CACHE_H
#define REFBPF_CODE_CACHE_H

#include "mix64.h"
#include "sampler_state.h"

/* The counter's value, plus one where 0 is a real value; 0 when unreadable
 * or, for a creation counter, when it ran out and stopped. */
static __always_inline __u64 code_counter(const struct py_layout *l)
{
	if (l->flags & LAYOUT_CODE_GEN_ON_FREE) {
		__u64 gen;

		return bpf_probe_read_user(&gen, sizeof(gen), (void *)l->code_gen_addr) ? 0 : gen + 1;
	}
	__u32 next = 0;

	bpf_probe_read_user(&next, sizeof(next), (void *)l->code_gen_addr);
	return next;
}

/*
 * The epoch a sample starts in: the code counter, or 0 when no code object
 * read before may be trusted (no counter known, or another interpreter
 * running besides the one the counter belongs to).
 *
 * A code object's address is reused only after it is freed and another
 * created there, and the counter moves on one of the two. Counters only
 * grow, so one read twice with the same value did not move in between: a
 * code object read in a sample of epoch E is still there, the same
 * function, in any later sample that starts in epoch E.
 */
static __always_inline __u64 code_epoch(const struct py_layout *l, __u64 interp)
{
	if (!l->code_gen_addr)
		return 0;
	/* A per-interpreter counter covers the code its own threads run.
	 * Their interpreter, when read with the thread state; else the only
	 * one, as long as no other became interpreters.head. */
	if (l->code_gen_interp &&
	    (interp != INTERP_UNREAD ? interp :
				       read_ptr(l->runtime_addr + l->runtime_interpreters_head)) !=
		    l->code_gen_interp)
		return 0;
	return code_counter(l);
}

static __always_inline struct code_set *code_set_of(struct scratch *s, __u64 code, __u32 tgid)
{
	__u32 i = (__u32)(refbpf_mix64(code ^ ((__u64)tgid << 40)) >> 32) & (CODE_SETS - 1);

	return &s->code_sets[i];
}

/* The way of `set` that holds `code` of `tgid` read in `epoch`, or NULL. */
static __always_inline const struct code_slot *cached_code(const struct code_set *set, __u64 code,
							   __u32 tgid, __u64 epoch)
{
	for (int i = 0; i < CODE_WAYS; i++) {
		const struct code_slot *cs = &set->way[i];

		if (cs->epoch == epoch && cs->code == code && cs->tgid == tgid)
			return cs;
	}
	return NULL;
}

/* The code object just read, valid in `epoch`, goes first; the ways
 * before the first one out of date (or the last) move down one. */
static __always_inline void remember_code(struct code_set *set, const struct py_frame_rec *rec,
					  __u32 tgid, __u64 epoch)
{
	int stale = CODE_WAYS - 1;

	for (int i = 0; i < CODE_WAYS - 1; i++)
		if (set->way[i].epoch != epoch) {
			stale = i;
			break;
		}
	for (int i = CODE_WAYS - 1; i > 0; i--)
		if (i <= stale)
			set->way[i] = set->way[i - 1];

	struct code_slot *cs = &set->way[0];

	cs->code = rec->code;
	cs->epoch = epoch;
	cs->key = rec->key;
	cs->tgid = tgid;
	cs->firstlineno = rec->firstlineno;
}

/* Note the code object in the CPU's seen_code; one not found there sets
 * w->new_code. */
static __always_inline void note_code(struct scratch *s, struct frame_walk *w,
				      const struct py_frame_rec *rec)
{
	__u64 key = (rec->code ^ (rec->key * 0x9e3779b97f4a7c15ull) ^ w->pid_salt) | 1;
	__u32 slot = (__u32)(refbpf_mix64(key) >> 52) & (SEEN_CODE_SLOTS - 1);

	if (s->seen_code[slot] != key) {
		s->seen_code[slot] = key;
		w->new_code = 1;
	}
}

/*
 * Must a sample with a code object not sent before wake userspace at once?
 * Only while code objects come and go: the one just sampled may be gone by
 * the next poll, seconds later. A counter that has read the same for
 * CODE_QUIET_NS says they do not (3.12 and 3.13 count creations, 3.14
 * frees; a freed code object is soon followed by a new one), and a
 * long-lived server's rarely sampled functions then wake nobody. Without
 * a counter (3.8-3.11, several interpreters) every one wakes.
 */
#define CODE_QUIET_NS 2000000000ull

static __always_inline bool code_churning(__u32 tgid, __u64 epoch)
{
	if (!epoch)
		return true;
	__u64 now = bpf_ktime_get_ns();
	struct code_quiet *q = bpf_map_lookup_elem(&code_quiet, &tgid);

	if (!q || q->epoch != epoch) {
		struct code_quiet fresh = { .epoch = epoch, .since_ns = now };

		bpf_map_update_elem(&code_quiet, &tgid, &fresh, BPF_ANY);
		return true;
	}
	return now - q->since_ns < CODE_QUIET_NS;
}

#endif /* REFBPF_CODE_CACHE_H */
