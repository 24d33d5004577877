/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by the BPF program and userspace. Fixed-width kernel types
 * only, no includes but the architecture's (bpf/arch.h): the BPF side gets
 * the types from vmlinux.h, userspace from <linux/types.h>.
 */
#ifndef REFBPF_H
#define REFBPF_H

#include "arch.h"

#define ABI_USER_REG(field, reg) __u64 field;

/* Frames recorded per sample. Deeper stacks keep their innermost frames and
 * are flagged SAMPLE_TRUNCATED. */
#define REFBPF_MAX_FRAMES 1024
/* The ring buffer's size bounds (a power of two each): userspace picks one
 * between them from the sampling rate (user/record/bpf_session.c). */
#define RINGBUF_MIN_BYTES (1u << 20)
#define RINGBUF_MAX_BYTES (8u << 20)
/* BPF's filter in front of its targets map (bpf/sampler_state.h): one
 * byte per tgid & TARGET_FILTER_MASK, set by userspace before it adds a
 * target. */
#define TARGET_FILTER_SIZE 65536
#define TARGET_FILTER_MASK (TARGET_FILTER_SIZE - 1)
/* --all: the exec of a process nobody tracks wakes userspace at most once
 * this often; userspace polls every DISCOVERY_POLL_MS for 3 x this after
 * reading one (EXEC_POLL_AFTER_S, user/record/recorder_private.h). */
#define EXEC_WAKE_GAP_NS 10000000ull
/* Thread states visited when looking for the sampled thread's one. */
#define REFBPF_MAX_TSTATES 2048
/* Bytes read at once from a frame or a code object (a power of two). */
#define REFBPF_READ_SPAN 128
/* The most of a thread state read at once (a power of two). */
#define REFBPF_TSTATE_SPAN 256

/* How the interpreter links its frames. */
enum py_frame_model {
	/* 3.8-3.10: PyFrameObject, f_back, int f_lasti. */
	FRAME_MODEL_FRAME_OBJECT = 1,
	/* 3.11+: _PyInterpreterFrame, previous, instruction pointer. */
	FRAME_MODEL_INTERPRETER_FRAME = 2,
};

enum py_layout_flags {
	/* tstate->cframe->current_frame (3.11, 3.12). */
	LAYOUT_VIA_CFRAME = 1 << 0,
	/* frame owner byte is meaningful (3.11+). */
	LAYOUT_HAS_OWNER = 1 << 1,
	/* The GIL is a struct _gil_runtime_state at _PyRuntime + gil_at (3.8-3.11). */
	LAYOUT_GIL_IN_RUNTIME = 1 << 2,
	/* The GIL is at *(tstate->interp + gil_at): interp->ceval.gil (3.12+). */
	LAYOUT_GIL_VIA_INTERP = 1 << 3,
	/* code_gen_addr is a __u64 bumped whenever a code object is freed
	 * (3.14+: interp->_code_object_generation); without this flag it is
	 * a __u32 bumped whenever one is created, stuck at 0 once it ran out
	 * (3.12: _Py_next_func_version; 3.13: interp->func_state.next_version). */
	LAYOUT_CODE_GEN_ON_FREE = 1 << 4,
	/* tstate_span covers PyThreadState.interp too (tstate_interp). */
	LAYOUT_SPAN_HAS_INTERP = 1 << 5,
	/* The interpreter keeps its current thread state in a thread-local
	 * variable (3.12+: _Py_tss_tstate), which BPF may find (tstate_tls). */
	LAYOUT_TLS_TSTATE = 1 << 6,
	/* Free-threaded 3.14+: each thread runs its own copy of a code
	 * object's bytecode, co_tlbc->entries[frame->tlbc_index] (index 0 is
	 * co_code_adaptive); the frame's instruction pointer points into
	 * that copy (frame_tlbc_index, code_tlbc, code_adaptive). */
	LAYOUT_TLBC = 1 << 7,
	/* Free-threaded builds: the interpreter's GIL exists but may be
	 * disabled (int at gil_enabled in it, 0: disabled) and is enabled
	 * at run time by PYTHON_GIL=1 or an extension not declaring
	 * Py_mod_gil. */
	LAYOUT_GIL_SWITCHABLE = 1 << 8,
};

/*
 * Everything the BPF program needs to walk one process's Python stacks.
 * Offsets in bytes. Filled by userspace (user/python/layout/py_layout.c) per target
 * process, stored in the `targets` map keyed by tgid.
 */
struct py_layout {
	__u64 runtime_addr;		/* &_PyRuntime in the target */
	__u64 code_tag_mask;		/* low bits to clear from the code pointer (3.14 stackrefs) */
	__u32 version_hex;		/* PY_VERSION_HEX */
	__u16 frame_model;		/* enum py_frame_model */
	__u16 flags;			/* enum py_layout_flags */

	__u16 runtime_interpreters_head;
	__u16 interp_next;
	__u16 interp_threads_head;
	__u16 tstate_next;
	__u16 tstate_thread_id;
	__u16 tstate_frame;		/* frame / cframe / current_frame */
	__u16 cframe_current_frame;

	__u16 frame_code;		/* f_code / f_executable */
	__u16 frame_previous;		/* f_back / previous */
	__u16 frame_instr;		/* f_lasti (int) or prev_instr / instr_ptr (pointer) */
	__u16 frame_owner;
	__u16 frame_owner_skip;		/* skip frames whose owner >= this (C-stack shims) */

	__u16 frame_span;		/* bytes read per frame: covers every frame field */

	__u16 code_span_start;		/* code object bytes read per frame: */
	__u16 code_span;		/* [start, start + span) covers the code_ fields */
	__u16 code_firstlineno;
	__u16 code_name;
	__u16 unicode_hash;		/* Py_hash_t in a str object */
	/* What a code object's key is made of (bpf/code_key.h): co_version
	 * (3.12+; 0: none), and the objects whose content makes the key
	 * where it has none; code_qualname 0 before 3.11. */
	__u16 code_version;
	__u16 code_filename;
	__u16 code_qualname;
	__u16 code_linetable;
	/* str objects: length, state, where ASCII and other compact data
	 * start; bytes objects: ob_size and ob_sval */
	__u16 str_length;
	__u16 str_state;
	__u16 str_ascii_data;
	__u16 str_compact_data;
	__u16 bytes_size;
	__u16 bytes_data;

	/* --gil (flags say where the GIL is; none: the build has no GIL) */
	__u16 tstate_interp;		/* PyThreadState.interp */
	__u16 gil_at;			/* see LAYOUT_GIL_IN_RUNTIME / LAYOUT_GIL_VIA_INTERP */
	__u16 gil_locked;		/* int, inside struct _gil_runtime_state */
	__u16 gil_holder;		/* last_holder: a PyThreadState pointer */
	__u16 gil_size;			/* sizeof(struct _gil_runtime_state): its futexes lie inside */
	/* 3.11: _PyInterpreterFrame.is_entry (bool), for --native; 0: none */
	__u16 frame_is_entry;
	/* One read of [tstate + tstate_span_lo, + tstate_span_len) brings
	 * thread_id and frame (and interp, see LAYOUT_SPAN_HAS_INTERP);
	 * 0: they lie too far apart, read each alone. */
	__u16 tstate_span_lo;
	__u16 tstate_span_len;

	/*
	 * A counter the interpreter moves before any code object's address
	 * can be reused: while it reads the same, a code object validated
	 * earlier is still the same function, and BPF skips reading it again
	 * (see LAYOUT_CODE_GEN_ON_FREE for which counter). Set per process by
	 * userspace; 0: none known, every sample reads its code objects.
	 */
	__u64 code_gen_addr;
	/* A per-interpreter counter covers one interpreter: it is trusted
	 * for threads of this one. 0: the counter is process-wide. */
	__u64 code_gen_interp;

	/* Learnt by BPF, not set by userspace (LAYOUT_TLS_TSTATE): where
	 * the thread-local current thread state lies from the thread
	 * pointer (bpf/arch/'s ARCH_TLS_ADDR; 0: not found yet); the looks
	 * that did not find it. */
	__u16 tstate_tls;
	__u16 tls_misses;
	/* The thread pointer minus pthread_self(), CPython's thread_id, in
	 * this process (bpf/arch/'s ARCH_THREAD_ID; user/base/arch/) */
	__u32 thread_id_bias;

	/* LAYOUT_TLBC: _PyInterpreterFrame.tlbc_index (int32), PyCodeObject's
	 * co_tlbc and co_code_adaptive */
	__u16 frame_tlbc_index;
	__u16 code_tlbc;
	__u16 code_adaptive;
	/* LAYOUT_GIL_SWITCHABLE: int enabled, inside struct _gil_runtime_state */
	__u16 gil_enabled;
	/* where kind starts in a str's state (bpf/py_str.h) */
	__u16 str_kind_bit;
	__u16 reserved3;
	__u32 reserved4;
};

/*
 * How the frames of the samples sent were validated, per CPU, at the
 * start of the sampler's scratch (refbpf -v prints them): taken from a
 * code object validated earlier in the same code epoch, or read again.
 */
struct walk_counts {
	__u64 frames_trusted;
	__u64 frames_read;
};

/* Per-frame record: enough to find and validate the code object later. */
struct py_frame_rec {
	__u64 code;		/* PyCodeObject address */
	__u64 instr;		/* f_lasti (<= 3.10) or the raw instruction pointer */
	__u64 key;		/* bpf/code_key.h: tells reused addresses apart */
	__s32 firstlineno;	/* co_firstlineno, read with the key */
	__u32 flags;		/* FRAME_UNVALIDATED, FRAME_ENTRY */
};

/* In py_frame_rec.flags: the key could not be read. */
#define FRAME_UNVALIDATED 1
/* In py_frame_rec.flags, for --native: this frame is the outermost one
 * run by its activation of the eval loop (_PyEval_EvalFrameDefault): every
 * frame in 3.8-3.10, is_entry in 3.11, the frame above a C-stack shim in
 * 3.12+. Userspace swaps each eval-loop activation on the native stack for
 * the Python frames down to the next entry frame. */
#define FRAME_ENTRY 2

enum sample_flags {
	SAMPLE_TRUNCATED = 1 << 0,	/* more frames than REFBPF_MAX_FRAMES */
	SAMPLE_READ_ERROR = 1 << 1,	/* the walk stopped early on a fault */
	SAMPLE_THREAD_EXIT = 1 << 2,	/* EVENT_OFF_CPU: the thread's last switch, it is dead */
	SAMPLE_PREEMPTED = 1 << 3,	/* EVENT_OFF_CPU: still runnable, waiting for a CPU */
	/* --native: an EVENT_NATIVE_STACK of the same (cpu, time_ns) was sent
	 * just before this sample. */
	SAMPLE_NATIVE_STACK = 1 << 8,
	/* EVENT_OFF_CPU without a stack: 1 + enum unwind_error, why not */
	SAMPLE_UNWALKED_SHIFT = 16,
	SAMPLE_UNWALKED_MASK = 0xf << SAMPLE_UNWALKED_SHIFT,
};

enum event_type {
	EVENT_SAMPLE = 1,
	EVENT_EXIT = 2,		/* a target's thread group is gone */
	EVENT_EXEC = 3,		/* a target exec'd: its layout no longer applies */
	EVENT_FORK = 4,		/* a watched process forked a new process */
	/* --mode wall: a target thread left the CPU (struct sample_event,
	 * time_ns = when; nframes 0 when its stack could not be walked) */
	EVENT_OFF_CPU = 5,
	EVENT_ON_CPU = 6,	/* ... and came back (struct on_cpu_event) */
	EVENT_NATIVE_STACK = 16, /* --native: user registers and stack of a sample */
};

/* Kernel frames per sample with --kernel (the kernel's own limit is 127). */
#define REFBPF_MAX_KERNEL_FRAMES 64

/* The sampled thread and the GIL (--gil). */
enum gil_state {
	GIL_UNKNOWN = 0,	/* not asked, or not readable */
	GIL_HELD = 1,
	GIL_NOT_HELD = 2,	/* running without it (C code that released it) */
	GIL_WAIT = 3,		/* blocked on one of the GIL's futexes: waiting to take it */
	GIL_DISABLED = 4,	/* free-threaded: the interpreter's GIL is switched off */
};

/* Per-process flags in the `watched` map. */
enum watch_flags {
	WATCH_CHILDREN = 1 << 0,	/* follow this process's new children (-C) */
};

struct sample_event {
	__u32 type;		/* EVENT_SAMPLE */
	__u32 pid;		/* tgid, host namespace */
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;		/* CLOCK_MONOTONIC; in EVENT_SAMPLE only with --native, else 0 */
	__u64 tstate;
	__u64 run_ns;		/* EVENT_OFF_CPU: the thread's CPU time by then (se.sum_exec_runtime) */
	__u32 flags;		/* enum sample_flags */
	__u32 nframes;
	__u32 nkernel;		/* --kernel: kernel return addresses after frames[nframes] */
	__u32 gil;		/* --gil: enum gil_state */
	char comm[16];		/* the thread's name (task comm) at this sample */
	/* innermost frame first; then nkernel __u64 kernel addresses, innermost first */
	struct py_frame_rec frames[REFBPF_MAX_FRAMES];
};

/* EVENT_ON_CPU: the off-CPU time of a thread ends at time_ns. */
struct on_cpu_event {
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;
};

/*
 * --native: bytes of user stack copied per sample, from the user stack
 * pointer up (a power of two). Enough for the innermost few hundred native
 * frames; an outer part not copied leaves its Python frames unmixed.
 */
#define REFBPF_NATIVE_STACK_BYTES (32 << 10)
/* C-stack shim frames (3.12+) whose addresses a sample records. */
#define REFBPF_NATIVE_MAX_SHIMS 32

/*
 * The user-mode registers CFI unwinding may start from, and the stack they
 * point into. Sent right before the EVENT_SAMPLE it belongs to, by the same
 * program run: userspace pairs them by (cpu, time_ns).
 */
struct native_stack_event {
	__u32 type;		/* EVENT_NATIVE_STACK */
	__u32 pid;
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;		/* equals the sample's */
	/* the user registers CFI unwinding starts from (bpf/arch/) */
	ARCH_USER_REGS(ABI_USER_REG)
	__u32 stack_len;	/* bytes of stack[] valid, from sp up */
	/*
	 * 3.12+: where the C-stack shim frames are, innermost first. Each
	 * eval-loop activation keeps its shim in its own C stack frame, so
	 * the native frame whose stack holds one is an activation, symbols
	 * or not (stripped interpreters, split or cloned eval loops).
	 */
	__u32 nshims;
	__u64 shims[REFBPF_NATIVE_MAX_SHIMS];
	__u8 stack[REFBPF_NATIVE_STACK_BYTES];
};

struct process_event {
	__u32 type;		/* EVENT_EXIT, EVENT_EXEC, EVENT_FORK */
	__u32 pid;
	__s32 exit_code;	/* EVENT_EXIT; EVENT_FORK: enum fork_flags */
	__u32 ppid;		/* EVENT_FORK: the parent's tgid */
};

enum fork_flags {
	/*
	 * The child had already exec'd when the fork was reported: it is
	 * not a copy of its parent, and its exec went unseen. A guard: the
	 * tracepoint fires before the child first runs on today's kernels.
	 */
	FORK_CHILD_EXECD = 1 << 0,
	/* The parent was sampled: the child got its layout at the fork, and
	 * is sampled from its first instruction. Without it, a parent that
	 * became a target only after forking left its child unsampled. */
	FORK_LAYOUT_COPIED = 1 << 1,
};

/* Why a sample of a target thread produced no Python stack. */
enum unwind_error {
	UNWIND_NO_TSTATE = 0,	/* thread has no PyThreadState (native thread, not started) */
	UNWIND_NO_FRAME,	/* thread state without a running Python frame */
	UNWIND_READ_FAULT,	/* target memory not readable from the sampling context */
	UNWIND_RINGBUF_FULL,	/* userspace did not keep up: sample lost */
	UNWIND_TSTATE_WALK_LIMIT, /* more thread states than we walk */
	UNWIND_NR,
};

/* One thread of a `refbpf dump` target, from bpf/threads.bpf.c. */
struct thread_record {
	__u32 tid;		/* host PID namespace */
	__u32 state;		/* task->__state: 0 running or runnable */
	__u64 thread_id;		/* pthread_self(): CPython's thread_id */
	char comm[16];
	/* What moves whenever the thread runs: its CPU time so far and its
	 * context switches, voluntary and not. */
	__u64 runtime_ns;
	__u64 switches;
};

/* The same, with where the thread waits (--mode wall: threads asleep when
 * recording starts): its user registers, saved when it entered the
 * kernel, and its kernel stack, innermost first. */
struct thread_wait_record {
	struct thread_record thread;
	/* the user registers CFI unwinding starts from (bpf/arch/) */
	ARCH_USER_REGS(ABI_USER_REG)
	__u32 nkernel;
	__u32 reserved;
	__u64 kernel[REFBPF_MAX_KERNEL_FRAMES];
};

#endif /* REFBPF_H */
