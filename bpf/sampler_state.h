/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sampler's state, which every concern of bpf/profiler.bpf.c shares:
 * its maps (but `watched`, the process-lifetime programs' alone), the
 * per-CPU scratch every walk keeps its state in, the CPU's code-key
 * reader, the load-time options, and the helpers all of them call (the
 * target's layout, counting a failed sample, reading a pointer). One
 * place, so a map or a scratch field is declared once whichever header
 * uses it.
 *
 * Included by profiler.bpf.c after vmlinux.h, the libbpf headers, abi.h,
 * and py_walk.h and code_key.h set up for BPF (struct scratch holds a
 * code_key_reader).
 */
#ifndef REFBPF_SAMPLER_STATE_H
#define REFBPF_SAMPLER_STATE_H

/* Per-target layout, keyed by tgid (host PID namespace). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct py_layout);
} targets SEC(".maps");

/* Userspace sizes the ring buffer before load (bpf_session.c:
 * ring_bytes) and says from what fill BPF wakes it early. */
const volatile __u64 ringbuf_wake_bytes = RINGBUF_MAX_BYTES / 4;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_MAX_BYTES);
} events SEC(".maps");

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
 * counter's epoch it was read in: sets of CODE_WAYS by a hash of address
 * and process, the one read last first. A stack's functions hash into
 * the sets at random, so a set must hold several: with two ways, 1,000
 * distinct functions in 512 sets read 60 % of their code objects again at
 * every sample (the sets that got three or more evict in turn); four ways
 * in 1,024 sets hold all but about 2 %. A set is two cache lines. */
#define CODE_SETS 1024
#define CODE_WAYS 4

struct code_slot {
	__u64 code;
	__u64 epoch;		/* code_epoch() when it was read; 0: empty */
	__u64 key;
	__u32 tgid;
	__s32 firstlineno;
};

struct code_set {
	struct code_slot way[CODE_WAYS];
} __attribute__((aligned(64)));
#define TSTATE_SPAN REFBPF_TSTATE_SPAN
/* A thread's interpreter, not read with its thread state. */
#define INTERP_UNREAD 1ull
/* The most of a thread's data stack one read brings: a page. */
#define STACK_WINDOW_BYTES 4096

/*
 * The state of the walks (thread_state.h, frames.h), kept in the CPU's scratch, not on the BPF
 * stack: each step is a global function the verifier checks once, knowing
 * nothing of these values, so no branch of a step is judged dead from the
 * walk's first values (6.1's verifier did that to bpf_loop callbacks
 * started with constants on the stack, and dropped every thread state).
 */
struct tstate_walk {
	__u64 thread_id;	/* the thread's pthread_self() */
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

/* Samples are built here, then copied to the ring buffer at their size.
 * One slot per CPU; a plain array because a sample is larger than a
 * per-CPU map value may be. Sized to the CPU count by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/*
 * The CPU's code-key reader (scratch.key), run by global functions the
 * verifier checks once: object_key() is code_key.h's CODE_KEY_OBJECT (as
 * profiler.bpf.c sets it up), read_code_key() reads a code object the
 * code cache (code_cache.h) does not hold.
 */

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

/* Moved after every change to `targets`, by userspace and by the
 * programs, so that each CPU may keep a copy of the layout it used last. */
__u64 targets_gen = 0;

static __always_inline void targets_changed(void)
{
	__sync_fetch_and_add(&targets_gen, 1);
}

/*
 * A filter in front of `targets`: a byte per tgid & TARGET_FILTER_MASK,
 * set (by userspace, and by the fork program) before a tgid is added and
 * never cleared. 0 says "no target" with one load, where a hash lookup
 * costs a hash and a bucket walk: wall mode asks at every context switch
 * on the host, almost always of a task that is no target. A 1 (a target,
 * a past one, or another tgid with the same low bits) is settled by the
 * lookup. Plain bytes, not bits: a byte store needs no atomic, which
 * 5.10 lacks (atomic or came in 5.12).
 */
__u8 target_filter[TARGET_FILTER_SIZE] = {};

static __always_inline bool target_maybe(__u32 tgid)
{
	return *(volatile __u8 *)&target_filter[tgid & TARGET_FILTER_MASK] != 0;
}

static __always_inline void target_filter_set(__u32 tgid)
{
	target_filter[tgid & TARGET_FILTER_MASK] = 1;
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

	const struct py_layout *l = target_maybe(tgid) ? bpf_map_lookup_elem(&targets, &tgid) : NULL;

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
/* --gil: whether each sample's thread holds its GIL (gil.h). */
const volatile bool want_gil = false;
/* --kernel: each sample's kernel stack as well (native.h). */
const volatile bool want_kernel = false;

static __always_inline __u64 read_ptr(__u64 addr)
{
	return py_walk_ptr(NULL, addr);
}

/*
 * What code_churning() (code_cache.h) last read of each target's code
 * counter, and since when. Kept per process, not per CPU: a target that
 * moves to another CPU, or two targets taking turns on one, would
 * otherwise start the quiet period again and wake userspace per sample.
 * Entries go with their target (bpf_session_remove_target, and the exit
 * and exec programs).
 */
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

/*
 * Steps of the walks (thread_state.h, frames.h) run in chunks by global
 * functions: the verifier checks each once, whatever the walk's state,
 * and the loops that call them are short, so no kernel's verifier (5.10's
 * and 6.1's are the slow ones) takes long over them. Global functions take
 * scalars only before Linux 5.12: each finds this CPU's scratch itself.
 *
 * make BPF_CFLAGS=-DREFBPF_WALK_BPF_LOOP: the same steps, one per
 * bpf_loop() callback, for bench/ab.py to weigh against those loops
 * (bpf_loop: 5.17 and later only). The callbacks get the scratch here.
 */
#ifdef REFBPF_WALK_BPF_LOOP
struct walk_ctx {
	struct scratch *s;
};
#endif

#endif /* REFBPF_SAMPLER_STATE_H */
