// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sampler: on every cpu-clock tick of a target process, find the
 * sampled thread's PyThreadState, walk its interpreter frames and send
 * (code address, instruction, validation key) per frame to userspace.
 * No strings, no line tables here: those are resolved in userspace.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "refbpf.h"
#include "mix64.h"
#include "kernel_compat.h"

#define PY_WALK_INLINE __always_inline
#define PY_WALK_READ(ctx, dst, len, addr) bpf_probe_read_user((dst), (len), (void *)(addr))
/* the buffers hold 8 bytes more than they are filled with */
#define CODE_KEY_LOAD_PARTIAL(ptr, n) \
	(*(const __u64 *)(ptr) & ((n) >= 8 ? ~0ull : (1ull << ((n) * 8)) - 1))
#include "py_walk.h"
/* Reading a code key loops over the words of several objects: verified
 * once each as global functions (below), not wherever the walk uses them.
 * Global functions take only scalars before 5.12: each finds the reader
 * and the layout in its CPU's scratch (the reader says which CPU). */
int object_key(__u32 cpu, __u64 addr, __u32 kind);
#define CODE_KEY_OBJECT(ctx, l, r, addr, kind, key) \
	(object_key((r)->cpu, (addr), (kind)) ? -1 : (*(key) = (r)->result, 0))
#include "code_key.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Per-target layout, keyed by tgid (host PID namespace). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct py_layout);
} targets SEC(".maps");

#define RINGBUF_BYTES (8 << 20)
/* Wake userspace early when a quarter of the ring buffer is in use. */
#define RINGBUF_WAKEUP_BYTES (RINGBUF_BYTES / 4)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

/* Samples are built here, then copied to the ring buffer at their size.
 * One slot per CPU; a plain array because a sample is larger than a
 * per-CPU map value may be. Sized to the CPU count by userspace. */
/* Code objects this CPU has sent recently, direct-mapped by a hash of
 * (process, address, name hash). A sample with one not in it wakes
 * userspace at once, so a short-lived function is symbolized while its code
 * object still exists; samples of known code are batched. */
#define SEEN_CODE_SLOTS 4096
#define TSTATE_SLOTS 1024

struct tstate_slot {
	__u32 tid;
	__u32 tgid;
	__u64 tstate;
};
/* Code objects validated on this CPU, each stamped with the code
 * counter's epoch it was read in: sets of two by a hash of address and
 * process, the one read last first. Two ways keep a stack's functions
 * that hash alike from evicting each other at every sample; both share a
 * cache line, so the second costs no miss more. */
#define CODE_SETS 512

struct code_slot {
	__u64 code;
	__u64 epoch;		/* code_epoch() when it was read; 0: empty */
	__u64 key;
	__u32 tgid;
	__s32 firstlineno;
};

struct code_set {
	struct code_slot way[2];
} __attribute__((aligned(64)));
#define TSTATE_SPAN REFBPF_TSTATE_SPAN
/* A thread's interpreter, not read with its thread state. */
#define INTERP_UNREAD 1ull
/* The most of a thread's data stack one read brings: a page. */
#define STACK_WINDOW_BYTES 4096

/*
 * The state of the walks below, kept in the CPU's scratch, not on the BPF
 * stack: each step is a global function the verifier checks once, knowing
 * nothing of these values, so no branch of a step is judged dead from the
 * walk's first values (6.1's verifier did that to bpf_loop callbacks
 * started with constants on the stack, and dropped every thread state).
 */
struct tstate_walk {
	__u64 fsbase;
	__u64 interp;
	__u64 tstate;
	__u64 found;		/* matching tstate with a running frame */
	__u64 found_frame;
	__u64 fallback;		/* matching tstate without one */
	__u32 done;
	__u32 pad;
};

struct frame_walk {
	__u64 frame;
	__u64 pid_salt;
	__u64 epoch;		/* code_epoch() at the start; 0: read every code object */
	__u64 interp;		/* the thread's interpreter, or INTERP_UNREAD */
	__u32 tgid;
	__u32 n;
	__u32 flags;
	__u32 trusted;		/* code objects taken from code_sets */
	__u32 read;		/* code objects read */
	__u32 new_code;		/* a code object not in seen_code */
};

struct scratch {
	struct walk_counts counts;	/* first: userspace reads it */
	/* The process sampled last on this CPU: its layout, or that it is no
	 * target. Valid while targets_gen reads layout_gen - 1. */
	__u32 layout_tgid;
	__u32 layout_known;	/* 1: `layout` is its layout; 0: no target */
	__u64 layout_gen;	/* 0: nothing kept */
	struct py_layout layout;
	__u32 sends;		/* samples sent from this CPU */
	struct tstate_walk twalk;
	struct frame_walk walk;
	struct sample_event ev;
	/* --kernel: the kernel stack follows the last Python frame, even
	 * when that is frames[REFBPF_MAX_FRAMES - 1] */
	__u64 kernel_tail[REFBPF_MAX_KERNEL_FRAMES];
	struct native_stack_event native;	/* --native only */
	struct code_key_reader key;	/* reads a code object's key */
	__u8 tstate_buf[TSTATE_SPAN];
	/* 3.11+: a run of the data stack holding several frames, from target
	 * address window_lo to window_hi (frame_bytes). Kept here, not on
	 * the BPF stack, so the verifier does not track their values through
	 * the frame loop. */
	__u8 stack_window[STACK_WINDOW_BYTES + REFBPF_READ_SPAN];
	__u64 window_lo, window_hi;
	__u64 last_frame;	/* the frame walked before this one */
	/* a frame outside the window, read alone */
	__u8 frame_buf[REFBPF_READ_SPAN];
	/* thread -> PyThreadState found last time on this CPU, direct-mapped
	 * by tid; revalidated on every use */
	struct tstate_slot tstate_slots[TSTATE_SLOTS];
	struct code_set code_sets[CODE_SETS];
	__u64 seen_code[SEEN_CODE_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* code_key_read_object() with this CPU's reader, into its result. */
__noinline int object_key(__u32 cpu, __u64 addr, __u32 kind)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return -1;
	return code_key_read_object(NULL, &s->layout, addr, kind, s->key.chunk, s->key.tail,
				    &s->key.result);
}

/* code_key_read() of the code object at `code` into this CPU's reader's
 * rec, with the sample's layout; `first`: the first of this stack. */
__noinline int read_code_key(__u32 cpu, __u64 code, __u32 first)
{
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return -1;
	if (first)
		code_key_reader_start(&s->key);
	s->key.cpu = cpu;
	code_key_read(NULL, &s->layout, &s->key, code, &s->key.rec);
	return 0;
}

/* Moved after every change to `targets`, by userspace and by the programs
 * below, so that each CPU may keep a copy of the layout it used last. */
__u64 targets_gen = 0;

static __always_inline void targets_changed(void)
{
	__sync_fetch_and_add(&targets_gen, 1);
}

/*
 * The layout of process tgid, NULL when it is no target. A sample uses the
 * copy in its CPU's scratch when the same process was sampled last there:
 * lines it touches anyway, instead of a hash lookup's, which miss the cache
 * after each stretch of target code between samples. The generation is
 * read before the lookup, so a change racing with it leaves the copy stale.
 */
static __always_inline const struct py_layout *target_layout(struct scratch *s, __u32 tgid)
{
	__u64 gen = *(volatile __u64 *)&targets_gen + 1;

	if (s->layout_gen == gen && s->layout_tgid == tgid)
		return s->layout_known ? &s->layout : NULL;

	const struct py_layout *l = bpf_map_lookup_elem(&targets, &tgid);

	s->layout_tgid = tgid;
	s->layout_gen = gen;
	s->layout_known = l != NULL;
	if (!l)
		return NULL;
	s->layout = *l;
	return &s->layout;
}

/* Samples of target threads that produced no stack, by enum unwind_error. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_NR);
	__type(key, __u32);
	__type(value, __u64);
} unwind_errors SEC(".maps");

static __always_inline void count_error(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&unwind_errors, &reason);

	if (v)
		*v += 1;
}

/* --native: send each sample's user registers and stack as well. */
const volatile bool native_stacks = false;
/* refbpf dump: a sample without a stack is sent too, saying why. */
const volatile bool send_unwalked = false;

static __always_inline __u64 read_ptr(__u64 addr)
{
	return py_walk_ptr(NULL, addr);
}

/* ---- finding the sampled thread's PyThreadState ---- */

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
	if (read_ptr(w->tstate + l->tstate_thread_id) == w->fsbase) {
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

/*
 * Steps of the walks run in chunks by global functions: the verifier
 * checks each once, whatever the walk's state, and the loops that call
 * them are short, so no kernel's verifier (5.10's and 6.1's are the slow
 * ones) takes long over them. Global functions take scalars only before
 * Linux 5.12: each finds this CPU's scratch itself.
 */
#define TSTATES_PER_CALL 64
#define FRAMES_PER_CALL 8

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
/*
 * make BPF_CFLAGS=-DREFBPF_WALK_BPF_LOOP: the same steps, one per
 * bpf_loop() callback, for bench/ab.py to weigh against the loops above
 * (bpf_loop: 5.17 and later only).
 */
struct walk_ctx {
	struct scratch *s;
};

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
 * fixed distance below the thread pointer. Stripped interpreters do not
 * name it, so BPF looks for it: when a walk has found a thread's state,
 * among the TLS_SCAN_BYTES below that thread's pointer. Found, a thread
 * not seen before costs one read more than a known one, not a walk; what
 * it reads is checked as a cached thread state is.
 */
#define TLS_SCAN_BYTES TSTATE_SPAN
/* Looks without a find before giving up: a thread sampled while it runs
 * C code with the GIL released holds NULL there, but an interpreter
 * loaded by dlopen has its variable elsewhere. */
#define TLS_MAX_MISSES 32

static __always_inline void learn_tstate_tls(struct scratch *s, __u32 tgid, __u64 fsbase,
					     __u64 tstate)
{
	struct py_layout *shared = bpf_map_lookup_elem(&targets, &tgid);
	__u32 below = 0;

	if (!shared || shared->tstate_tls || shared->tls_misses >= TLS_MAX_MISSES)
		return;
	if (!bpf_probe_read_user(s->tstate_buf, TLS_SCAN_BYTES, (void *)(fsbase - TLS_SCAN_BYTES))) {
		for (__u32 off = 0; off < TLS_SCAN_BYTES; off += 8) {
			if (*(__u64 *)(s->tstate_buf + off) == tstate) {
				below = TLS_SCAN_BYTES - off;
				break;
			}
		}
	}
	if (below)
		shared->tstate_tls = below;
	else if (++shared->tls_misses < TLS_MAX_MISSES)
		return;
	/* every CPU's copy of the layout takes it up */
	targets_changed();
}

/* The sampled thread's PyThreadState, its top frame in *frame, and its
 * interpreter in *interp when read on the way (else left alone). */
static __always_inline __u64 find_tstate(const struct py_layout *l, struct scratch *s, __u32 cpu,
					 struct tstate_slot *slot, __u32 tgid, __u32 tid,
					 __u64 fsbase, __u64 *frame, __u64 *interp, __u32 *err)
{
	__u64 thread_id;

	*frame = 0;
	if (slot->tid == tid && slot->tgid == tgid && slot->tstate &&
	    !read_tstate(l, s, slot->tstate, &thread_id, frame, interp) && thread_id == fsbase && *frame)
		return slot->tstate;
	*interp = INTERP_UNREAD;	/* a stale slot's */

	__u64 ts = 0;

	if (l->tstate_tls && fsbase > l->tstate_tls) {
		ts = read_ptr(fsbase - l->tstate_tls);
		if (ts && !read_tstate(l, s, ts, &thread_id, frame, interp) && thread_id == fsbase &&
		    *frame)
			goto found;
		*interp = INTERP_UNREAD;
	}

	struct tstate_walk *w = &s->twalk;

	w->fsbase = fsbase;
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
		learn_tstate_tls(s, tgid, fsbase, ts);
found:
	slot->tid = tid;
	slot->tgid = tgid;
	slot->tstate = ts;
	return ts;
}

/* ---- trusting code objects read before ---- */

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
	__u32 i = (__u32)(refbpf_mix64(code ^ ((__u64)tgid << 40)) >> 55) & (CODE_SETS - 1);

	return &s->code_sets[i];
}

static __always_inline bool slot_holds(const struct code_slot *cs, __u64 code, __u32 tgid,
				       __u64 epoch)
{
	return cs->epoch == epoch && cs->code == code && cs->tgid == tgid;
}

/* The code object just read, valid in `epoch`: the way read last moves
 * to the second way unless it is out of date anyway. */
static __always_inline void remember_code(struct code_set *set, const struct py_frame_rec *rec,
					  __u32 tgid, __u64 epoch)
{
	struct code_slot *cs = &set->way[0];

	if (cs->epoch == epoch && cs->code != rec->code)
		set->way[1] = *cs;
	cs->code = rec->code;
	cs->epoch = epoch;
	cs->key = rec->key;
	cs->tgid = tgid;
	cs->firstlineno = rec->firstlineno;
}

/* ---- walking the frames ---- */

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

/* ---- --native: eval-loop activations and the user stack ---- */

/* 3.12+: each activation pushes a C-stack shim frame below the frames it
 * runs, so the frame recorded just before the shim was its first one; the
 * shim's address tells which native frame is the activation. */
static __always_inline void mark_activation_entry(struct scratch *s, struct frame_walk *w,
						  __u64 shim)
{
	struct native_stack_event *e = &s->native;

	if (w->n)
		s->ev.frames[(w->n - 1) & (REFBPF_MAX_FRAMES - 1)].reserved |= FRAME_ENTRY;
	if (e->nshims < REFBPF_NATIVE_MAX_SHIMS)
		e->shims[e->nshims++ & (REFBPF_NATIVE_MAX_SHIMS - 1)] = shim;
}

/*
 * Copy the user stack from sp up, a page at a time, until
 * REFBPF_NATIVE_STACK_BYTES or the first unreadable page (the top of the
 * stack mapping). Returns the bytes copied.
 */
static __always_inline __u32 copy_user_stack(__u8 *dst, __u64 sp)
{
	__u32 len = 4096 - (__u32)(sp & 4095);

	if (bpf_probe_read_user(dst, len, (void *)sp))
		return 0;
	for (int i = 0; i < REFBPF_NATIVE_STACK_BYTES / 4096 - 1; i++) {
		if (len > REFBPF_NATIVE_STACK_BYTES - 4096)
			break;
		if (bpf_probe_read_user(dst + len, 4096, (void *)(sp + len)))
			break;
		len += 4096;
	}
	return len;
}

/*
 * What a perf event program's context starts with on x86-64: the UAPI
 * struct pt_regs (bpf_user_pt_regs_t), a fixed ABI of 8-byte registers.
 * Declared here without CO-RE: the kernel's own struct pt_regs made cs a
 * 2-byte field in 6.x, and the context takes 8-byte loads only.
 */
struct perf_event_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax;
	__u64 ip, cs, flags, sp, ss;
};

/*
 * The sample's user-mode registers and the user stack they point into, as
 * an EVENT_NATIVE_STACK record. The registers: the perf event's own
 * (`event`, its context) when it fired in user mode, else those the
 * thread entered the kernel with (a switch-out passes NULL). The event's
 * are loads from the context, which the verifier rewrites to the
 * registers it points to (a probe read at the context's address would
 * read the kernel's bpf_perf_event_data_kern and the stack past it).
 */
static __always_inline int send_native_stack(const struct perf_event_regs *event,
					     struct scratch *s)
{
	struct native_stack_event *e = &s->native;

	e->type = EVENT_NATIVE_STACK;
	e->pid = s->ev.pid;
	e->tid = s->ev.tid;
	e->cpu = s->ev.cpu;
	e->time_ns = s->ev.time_ns;
	if (event && (event->cs & 3)) {
		e->ip = event->ip;
		e->sp = event->sp;
		e->bp = event->bp;
		e->bx = event->bx;
		e->r12 = event->r12;
		e->r13 = event->r13;
		e->r14 = event->r14;
		e->r15 = event->r15;
	} else {
		struct pt_regs *regs = compat_current_user_regs();

		if (!regs)
			return -1;
		COPY_UNWIND_REGS(e, regs);
	}
	e->stack_len = copy_user_stack(e->stack, e->sp);

	__u64 size = offsetof(struct native_stack_event, stack) +
		     (e->stack_len & (2 * REFBPF_NATIVE_STACK_BYTES - 1));

	if (size > sizeof(*e))
		size = sizeof(*e);
	return bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP);
}

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
	rec->instr = f.instr;
	/* Recursion: the caller runs the same code object, read a moment
	 * ago in this very sample; its validation key holds. */
	if (w->n) {
		const struct py_frame_rec *callee = &s->ev.frames[(w->n - 1) & (REFBPF_MAX_FRAMES - 1)];

		if (callee->code == f.code && !(callee->reserved & FRAME_UNVALIDATED)) {
			rec->key = callee->key;
			rec->firstlineno = callee->firstlineno;
			rec->reserved = 0;
			w->n++;
			return 0;
		}
	}
	struct code_set *set = code_set_of(s, f.code, w->tgid);
	const struct code_slot *cs = NULL;

	if (w->epoch) {
		if (slot_holds(&set->way[0], f.code, w->tgid, w->epoch))
			cs = &set->way[0];
		else if (slot_holds(&set->way[1], f.code, w->tgid, w->epoch))
			cs = &set->way[1];
	}
	if (cs) {
		rec->key = cs->key;
		rec->firstlineno = cs->firstlineno;
		rec->reserved = 0;
		w->trusted++;
		/* noted in seen_code when it was stored: userspace knows it */
	} else {
		/* the reader's memo is set up by a stack's first read: a
		 * sample whose code objects are all cached does not touch it */
		read_code_key(s->ev.cpu, f.code, !w->read);
		rec->key = s->key.rec.key;
		rec->firstlineno = s->key.rec.firstlineno;
		rec->reserved = s->key.rec.reserved;
		w->read++;
		if (w->epoch && !rec->reserved)
			remember_code(set, rec, w->tgid, w->epoch);
		note_code(s, w, rec);
	}
	if (native_stacks && py_walk_is_entry(l, buf))
		rec->reserved |= FRAME_ENTRY;
	w->n++;
	return 0;
}

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

/* ---- the GIL (--gil) ---- */

const volatile bool want_gil = false;
const volatile bool want_kernel = false;

#define NR_FUTEX 202		/* x86-64 */
#define FUTEX_CMD_MASK 0x7f	/* without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME */

/* The futex operations that block: waiting, or taking a PI lock. */
static __always_inline bool futex_blocks(__u64 op)
{
	op &= FUTEX_CMD_MASK;
	return op == 0 /* WAIT */ || op == 6 /* LOCK_PI */ || op == 9 /* WAIT_BITSET */ ||
	       op == 11 /* WAIT_REQUEUE_PI */ || op == 13 /* LOCK_PI2 */;
}

/* The address of the thread's interpreter's struct _gil_runtime_state. */
static __always_inline __u64 gil_address(const struct py_layout *l, __u64 tstate)
{
	if (l->flags & LAYOUT_GIL_IN_RUNTIME)
		return l->runtime_addr + l->gil_at;
	if (l->flags & LAYOUT_GIL_VIA_INTERP) {
		__u64 interp = read_ptr(tstate + l->tstate_interp);

		return interp ? read_ptr(interp + l->gil_at) : 0;
	}
	return 0;
}

/*
 * Does the current thread hold its interpreter's GIL, or wait for it? A
 * thread waiting in take_gil() sleeps in a futex on the GIL's condition
 * variable or mutex, both inside struct _gil_runtime_state: its syscall
 * arguments say so, with no symbol of the interpreter needed.
 */
static __always_inline __u32 gil_state(const struct py_layout *l, __u64 tstate)
{
	__u64 gil = gil_address(l, tstate);
	struct pt_regs *regs;
	__u32 locked = 0;

	if (!gil)
		return GIL_UNKNOWN;
	regs = compat_current_user_regs();
	if (regs && BPF_CORE_READ(regs, orig_ax) == NR_FUTEX && futex_blocks(BPF_CORE_READ(regs, si)) &&
	    BPF_CORE_READ(regs, di) - gil < l->gil_size)
		return GIL_WAIT;
	if (bpf_probe_read_user(&locked, sizeof(locked), (void *)(gil + l->gil_locked)))
		return GIL_UNKNOWN;
	return locked && read_ptr(gil + l->gil_holder) == tstate ? GIL_HELD : GIL_NOT_HELD;
}

/* ---- building and sending a sample ---- */

/* The kernel stack, innermost first, written right after the last Python
 * frame (struct scratch leaves room for it). Returns how many. */
static __always_inline __u32 add_kernel_stack(void *ctx, struct scratch *s, __u32 n)
{
	if (n > REFBPF_MAX_FRAMES)
		n = REFBPF_MAX_FRAMES;
	long bytes = bpf_get_stack(ctx, (__u8 *)s->ev.frames + (__u64)n * sizeof(struct py_frame_rec),
				   REFBPF_MAX_KERNEL_FRAMES * sizeof(__u64), 0);

	return bytes > 0 ? (__u32)(bytes / sizeof(__u64)) : 0;
}

/*
 * Must a sample with a code object not sent before wake userspace at once?
 * Only while code objects come and go: the one just sampled may be gone by
 * the next poll, seconds later. A counter that has read the same for
 * CODE_QUIET_NS says they do not (3.12 and 3.13 count creations, 3.14
 * frees; a freed code object is soon followed by a new one), and a
 * long-lived server's rarely sampled functions then wake nobody. Without
 * a counter (3.8-3.11, several interpreters) every one wakes.
 *
 * What the counter read is kept per process, not per CPU: a target that
 * moves to another CPU, or two targets taking turns on one, would
 * otherwise start the quiet period again and wake userspace per sample.
 * Entries go with their target (bpf_session_remove_target, and the exit
 * and exec programs below).
 */
#define CODE_QUIET_NS 2000000000ull

struct code_quiet {
	__u64 epoch;
	__u64 since_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);	/* as targets */
	__type(key, __u32);
	__type(value, struct code_quiet);
} code_quiet SEC(".maps");

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

static __always_inline void send_sample(struct scratch *s, bool new_code)
{
	__u32 n = s->ev.nframes, nk = s->ev.nkernel;

	if (n > REFBPF_MAX_FRAMES)
		n = REFBPF_MAX_FRAMES;
	if (nk > REFBPF_MAX_KERNEL_FRAMES)
		nk = REFBPF_MAX_KERNEL_FRAMES;
	__u64 size = offsetof(struct sample_event, frames) +
		     (__u64)n * sizeof(struct py_frame_rec) + (__u64)nk * sizeof(__u64);

	/* the clamps above make this always false: keep clang from dropping
	 * the bound the verifier needs */
	barrier_var(size);
	if (size > sizeof(struct sample_event) + REFBPF_MAX_KERNEL_FRAMES * sizeof(__u64))
		return;
	/* Waking userspace per sample costs more than the sample itself:
	 * it polls on a timer, and is woken only for new code objects or
	 * when the buffer fills. Every 8th sample of a CPU looks: a sample is
	 * 33 KiB at most, so the wake-up comes at most 231 KiB late, and the
	 * other 7 save a helper call. */
	__u64 wakeup = BPF_RB_NO_WAKEUP;

	if (new_code || (!(s->sends++ & 7) &&
			 bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RINGBUF_WAKEUP_BYTES))
		wakeup = BPF_RB_FORCE_WAKEUP;

	if (bpf_ringbuf_output(&events, &s->ev, size, wakeup))
		count_error(UNWIND_RINGBUF_FULL);
}

/*
 * Walk the current thread's Python stack and send it as `type`: a
 * cpu-clock sample (EVENT_SAMPLE), or the stack a thread leaves the CPU
 * in (EVENT_OFF_CPU, sent even without a stack, so userspace knows the
 * thread is off CPU from then on).
 */
static __always_inline int sample_thread(void *ctx, const struct perf_event_regs *event,
					 __u64 pid_tgid,
					 __u32 type, __u32 flags)
{
	__u32 tgid = pid_tgid >> 32;
	__u32 tid = (__u32)pid_tgid;
	bool sample = type == EVENT_SAMPLE;
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &cpu);

	if (!s)
		return 0;

	const struct py_layout *l = target_layout(s, tgid);

	if (!l)
		return 0;
	s->ev.type = type;
	s->ev.pid = tgid;
	s->ev.tid = tid;
	s->ev.cpu = cpu;
	/* a cpu-clock sample's time is needed only to pair it with its
	 * --native stack: the clock read is saved otherwise */
	s->ev.time_ns = sample && !native_stacks ? 0 : bpf_ktime_get_ns();
	s->ev.tstate = 0;
	s->ev.flags = flags;
	s->ev.nframes = 0;
	s->ev.nkernel = 0;
	s->ev.gil = GIL_UNKNOWN;
	__u64 fsbase;

	/* names the thread without a /proc read per new thread, even one
	 * gone by the time userspace sees the sample; loaded directly where
	 * the kernel allows, not by a helper call, which costs more than
	 * the copy */
	compat_current_comm_fsbase(s->ev.comm, &fsbase);
	if (flags & SAMPLE_THREAD_EXIT) {
		send_sample(s, false);
		return 0;
	}

	__u32 err = UNWIND_NO_TSTATE;
	__u64 top = 0, interp = INTERP_UNREAD;
	struct tstate_slot *slot = &s->tstate_slots[tid & (TSTATE_SLOTS - 1)];
	__u64 tstate = find_tstate(l, s, cpu, slot, tgid, tid, fsbase, &top, &interp, &err);
	struct frame_walk *w = &s->walk;

	w->frame = top;
	w->interp = interp;
	w->pid_salt = (__u64)tgid << 40;
	w->tgid = tgid;
	w->n = 0;
	w->flags = 0;
	w->new_code = 0;
	w->epoch = 0;
	if (tstate && top)
		walk_frames(s, cpu);
	else if (tstate)
		err = UNWIND_NO_FRAME;
	if (tstate && top && w->n == 0)
		err = (w->flags & SAMPLE_READ_ERROR) ? UNWIND_READ_FAULT : UNWIND_NO_FRAME;
	if (w->n == 0) {
		if (sample && !send_unwalked) {
			count_error(err);
			return 0;
		}
		/* why, and whose: userspace may read that stack itself */
		s->ev.flags |= ((err + 1) << SAMPLE_UNWALKED_SHIFT) & SAMPLE_UNWALKED_MASK;
		s->ev.tstate = tstate;
	} else {
		s->ev.tstate = tstate;
		s->ev.flags |= w->flags;
		s->ev.nframes = w->n;
		s->counts.frames_trusted += w->trusted;
		s->counts.frames_read += w->read;
		if (want_gil)
			s->ev.gil = gil_state(l, tstate);
		if (want_kernel)
			s->ev.nkernel = add_kernel_stack(ctx, s, w->n);
	}
	/* --native: the stack record goes first. Without it a cpu-clock
	 * sample is dropped, not sent Python-only, so every --native sample
	 * is mixed; a switch-out is sent with its Python stack alone, not to
	 * lose its time. */
	if (native_stacks && w->n) {
		if (!send_native_stack(event, s)) {
			s->ev.flags |= SAMPLE_NATIVE_STACK;
		} else if (sample) {
			count_error(UNWIND_RINGBUF_FULL);
			return 0;
		}
	}
	send_sample(s, w->new_code && code_churning(tgid, w->epoch));
	return 0;
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!(pid_tgid >> 32))
		return 0;
	return sample_thread(ctx, (const void *)ctx, pid_tgid, EVENT_SAMPLE, 0);
}

/* ---- off-CPU time (--mode wall) ---- */

#define TASK_DEAD_STATE 0x80	/* TASK_DEAD in prev_state */

/*
 * Every context switch on the host. The thread leaving is `current`, so
 * its memory is readable: its stack is walked as a sample's is. The one
 * coming back only reports the time. Loaded only in wall mode.
 */
SEC("raw_tp/sched_switch")
int on_sched_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	__u32 ptgid = BPF_CORE_READ(prev, tgid);
	__u32 ntgid = BPF_CORE_READ(next, tgid);

	if (bpf_map_lookup_elem(&targets, &ptgid)) {
		/* The state prev leaves in, from the task: the tracepoint
		 * passes it as args[3] only since 5.18. A task put back to
		 * TASK_RUNNING by a pending signal stays runnable: preempted. */
		__u32 prev_state = compat_task_state(prev);
		bool preempted = ctx->args[0] || prev_state == 0;	/* TASK_RUNNING */

		/* --native: the user-mode registers it entered the kernel
		 * with, to block: the C frames it waits in */
		sample_thread(ctx, NULL, bpf_get_current_pid_tgid(), EVENT_OFF_CPU,
			      (prev_state & TASK_DEAD_STATE) ? SAMPLE_THREAD_EXIT :
			      preempted			     ? SAMPLE_PREEMPTED :
								       0);
	}
	if (!bpf_map_lookup_elem(&targets, &ntgid))
		return 0;

	struct on_cpu_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_error(UNWIND_RINGBUF_FULL);
		return 0;
	}
	e->type = EVENT_ON_CPU;
	e->pid = ntgid;
	e->tid = BPF_CORE_READ(next, pid);
	e->cpu = bpf_get_smp_processor_id();
	e->time_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- process lifetime ---- */

/*
 * Processes whose exec and exit we report (every target, and with -C every
 * descendant), keyed by tgid. A forked child of a Python target inherits
 * its parent's address space, so it is sampled from its first instruction
 * with its parent's layout.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);	/* enum watch_flags */
} watched SEC(".maps");

/* --all: every exec on the host is reported, every Python fork followed. */
const volatile bool watch_all = false;

static __always_inline void send_process_event(__u32 type, __u32 tgid, __s32 code, __u32 ppid)
{
	struct process_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_error(UNWIND_RINGBUF_FULL);
		return;
	}
	e->type = type;
	e->pid = tgid;
	e->exit_code = code;
	e->ppid = ppid;
	/* Process events are rare and wanted now (exec: re-discovery). */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

/* A process whose exit (and, without --all, exec) userspace wants. */
static __always_inline bool is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&watched, &tgid) || bpf_map_lookup_elem(&targets, &tgid);
}

SEC("raw_tp/sched_process_fork")
int on_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = bpf_get_current_pid_tgid() >> 32;	/* the forking task's */
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct py_layout *layout;
	__u32 *flags;

	/* A new thread is no new process. */
	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;
	flags = bpf_map_lookup_elem(&watched, &ptgid);
	layout = bpf_map_lookup_elem(&targets, &ptgid);
	/* -C follows every descendant; --all needs only a Python process's
	 * forks here (any other process is announced by its exec). */
	if (!(flags && (*flags & WATCH_CHILDREN)) && !(watch_all && layout))
		return 0;
	if (flags && (*flags & WATCH_CHILDREN)) {
		__u32 cflags = WATCH_CHILDREN;

		bpf_map_update_elem(&watched, &ctgid, &cflags, BPF_ANY);
	}
	/* exec bumps self_exec_id: should the child already run another
	 * image when this fires, the parent's layout would be wrong there. */
	__u64 parent_exec_id = have_task_btf ? bpf_get_current_task_btf()->self_exec_id :
		BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), self_exec_id);
	__s32 fork_flags = BPF_CORE_READ(child, self_exec_id) != parent_exec_id ? FORK_CHILD_EXECD : 0;

	if (layout && !fork_flags) {
		bpf_map_update_elem(&targets, &ctgid, layout, BPF_ANY);
		targets_changed();
		fork_flags |= FORK_LAYOUT_COPIED;
	}
	send_process_event(EVENT_FORK, ctgid, fork_flags, ptgid);
	return 0;
}

/* Fires for every exiting thread; the process is gone with its last one. */
SEC("raw_tp/sched_process_exit")
int on_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	/* do_exit() fires this in the exiting task: through its BTF pointer
	 * the fields below are plain loads, not a helper call each, where
	 * the kernel has bpf_get_current_task_btf() */
	struct task_struct *task = have_task_btf ? bpf_get_current_task_btf() :
						   (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* Most exits are threads of a live process (a thread per request is
	 * one each): the count of live threads says so before any map
	 * lookup. */
	if ((have_task_btf ? task->signal->live.counter : BPF_CORE_READ(task, signal, live.counter)) != 0)
		return 0;
	if (!is_tracked(tgid))
		return 0;
	if (!bpf_map_delete_elem(&targets, &tgid))
		targets_changed();
	bpf_map_delete_elem(&code_quiet, &tgid);
	bpf_map_delete_elem(&watched, &tgid);
	send_process_event(EVENT_EXIT, tgid,
			   have_task_btf ? task->exit_code : BPF_CORE_READ(task, exit_code), 0);
	return 0;
}

/* exec replaces the address space: the layout no longer applies. */
SEC("raw_tp/sched_process_exec")
int on_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(task, tgid);

	/* With --all any exec may start a Python. */
	if (!watch_all && !is_tracked(tgid))
		return 0;
	if (!bpf_map_delete_elem(&targets, &tgid))
		targets_changed();
	bpf_map_delete_elem(&code_quiet, &tgid);
	send_process_event(EVENT_EXEC, tgid, 0, 0);
	return 0;
}
