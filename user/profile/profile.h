/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The profile model: symbolized call stacks with sample counts, plus what
 * the table's header needs (targets, duration, counters). Filled while
 * recording (or from a raw file), read by every writer.
 */
#ifndef REFBPF_PROFILE_H
#define REFBPF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/unwind_error.h"

/* The deepest Python stack a sample holds: as deep as BPF reads. */
#define PROFILE_MAX_FRAMES REFBPF_MAX_FRAMES

/* A Python function as cProfile keys it, plus its qualified name. */
struct pfunc {
	char *filename;		/* co_filename */
	char *name;		/* co_name: pstats key */
	char *qualname;		/* co_qualname (3.11+), else a copy of name */
	int firstlineno;	/* co_firstlineno */
};

/*
 * What a function is, read from its pstats key. Functions that are not
 * Python code live in cProfile's "~" file at line 0: the synthetic roots
 * (<process ...>, <thread ...>), with --native the C functions, whose
 * names start with "<native " (user/native/native_symbols.h), and with --kernel
 * the kernel's, "<kernel ...": the key says what they are, so a raw file
 * read back keeps it.
 */
enum pfunc_kind {
	PFUNC_PYTHON = 0,
	PFUNC_SYNTHETIC,
	PFUNC_NATIVE,
	PFUNC_KERNEL,
};

enum pfunc_kind pfunc_kind(const struct pfunc *f);

/* One frame of a stored stack. */
struct pframe {
	uint32_t func;		/* index into profile.funcs */
	int32_t line;		/* line being executed, -1 if unknown */
};

enum pstack_flags {
	PSTACK_TRUNCATED = 1 << 0,	/* outermost frames were cut off */
};

/* One distinct (process, thread, stack) with how many samples hit it. */
struct pstack {
	uint32_t pid;
	uint32_t tid;
	uint32_t flags;		/* enum pstack_flags */
	uint32_t nframes;
	uint64_t count;
	struct pframe *frames;	/* root (outermost) first */
};

enum ptarget_state {
	PTARGET_PROFILED = 0,
	PTARGET_EXITED,		/* profiled, then exited during recording */
	PTARGET_NOT_PROFILED,	/* see reason */
};

struct ptarget {
	uint32_t pid;
	uint32_t ns_pid;	/* PID inside its own PID namespace; 0 when the same */
	int state;		/* enum ptarget_state */
	char *version;		/* "3.12.1", NULL when unknown */
	char *cmdline;		/* arguments joined by spaces */
	char *reason;		/* why not profiled; NULL when profiled */
	uint64_t samples;
};

/* Bytes of a Python thread name kept (UTF-8, cut at a character). */
#define PROFILE_PY_THREAD_NAME_MAX 64

/*
 * A sampled thread: its OS name (comm) as last seen, and its Python name
 * (threading.Thread(name=...)), "" when it has none or it was not read.
 */
struct pthread {
	uint32_t pid, tid;
	char name[16];
	char py_name[PROFILE_PY_THREAD_NAME_MAX];
};

/*
 * A process's threads past the recorder's thread limit (a thread-per-request
 * server starts thousands) share one entry with this tid, never a real one,
 * so the profile stays bounded; merged_threads counts them.
 */
#define PROFILE_MERGED_TID 0
#define PROFILE_MERGED_THREAD_NAME "more threads"

/* What a sample stands for. */
enum profile_mode {
	PROFILE_MODE_CPU = 0,	/* on-CPU time only (cpu-clock samples) */
	PROFILE_MODE_WALL,	/* plus every target thread's off-CPU time, from sched_switch */
};

/*
 * Synthetic leaves (cProfile's '~' file, first line 0), after a stack's
 * Python frames and before its kernel frames. */
#define PROFILE_OFF_CPU_NAME "<off-CPU>"	/* wall mode: blocked (I/O, sleep, a lock) */
#define PROFILE_PREEMPTED_NAME "<preempted>"	/* wall mode: runnable, waiting for a CPU */
#define PROFILE_GIL_WAIT_NAME "<GIL wait>"	/* --gil: waiting to take the GIL */
#define PROFILE_NO_GIL_NAME "<no GIL>"		/* --gil: on CPU without the GIL */
/* --gil: on CPU in a free-threaded interpreter whose GIL is switched off */
#define PROFILE_GIL_DISABLED_NAME "<GIL disabled>"
/* Kernel frames are named "<kernel SYMBOL>". */
#define PROFILE_KERNEL_PREFIX "<kernel "

struct profile {
	struct pfunc *funcs;
	size_t nfuncs, funcs_cap;
	struct pstack **stacks;
	size_t nstacks, stacks_cap;

	struct ptarget *targets;
	size_t ntargets, targets_cap;

	uint64_t total_samples;		/* samples with a Python stack */
	uint64_t unwind_errors[UNWIND_SLOTS];	/* by enum unwind_error */
	uint64_t lost_samples;
	double duration_s;
	double period_s;		/* seconds one sample stands for (1 / rate) */
	int mode;			/* enum profile_mode */
	bool gil;			/* --gil: stacks end in GIL markers */
	bool kernel;			/* --kernel: stacks end in kernel frames */
	unsigned int rate_hz;
	uint32_t nthreads;		/* distinct (pid, tid) entries */
	uint64_t merged_threads;	/* threads sampled under a PROFILE_MERGED_TID entry */
	struct pthread *threads;	/* nthreads entries, in order of first sample */
	size_t threads_cap;
	uint32_t last_thread;		/* index in threads of the last profile_add_stack's */

	/* private: hash tables for interning */
	void *func_index;
	void *stack_index;
	void *thread_index;
};

struct profile *profile_new(void);
void profile_free(struct profile *p);

/*
 * Forget every sample, stack, thread and target but keep the functions
 * (their indices stay valid for the symbolizer's cache) and the tables'
 * memory: --every starts each window from here, so memory stays flat.
 */
void profile_reset_samples(struct profile *p);

/* Intern a function. Strings are copied. Returns its index, or -1 on ENOMEM. */
int64_t profile_intern_func(struct profile *p, const char *filename, int firstlineno,
			    const char *name, const char *qualname);

/*
 * Add `count` samples of a stack (frames root first, copied). Identical
 * (pid, tid, flags, frames) stacks share one entry whose count grows.
 * Also adds `count` to total_samples and to the pid's target, and counts
 * the thread. 0, -EINVAL (no frames, unknown function) or -ENOMEM.
 */
int profile_add_stack(struct profile *p, uint32_t pid, uint32_t tid, uint32_t flags,
		      const struct pframe *frames, uint32_t nframes, uint64_t count);

/*
 * Record a target for the table's header. Strings copied; NULLs allowed.
 * Its samples start with those already added for the pid. The pointer is
 * valid until the next profile_add_target.
 */
struct ptarget *profile_add_target(struct profile *p, uint32_t pid, int state,
				   const char *version, const char *cmdline, const char *reason);
struct ptarget *profile_find_target(struct profile *p, uint32_t pid);

/* The thread entry of (pid, tid), NULL if it has no sample. */
struct pthread *profile_find_thread(struct profile *p, uint32_t pid, uint32_t tid);

/* Threads sampled: each entry, except that a merged entry counts its threads. */
uint64_t profile_thread_count(const struct profile *p);

/* Seconds one sample stands for: period_s, else 1 / rate_hz, else 0. */
double profile_period(const struct profile *p);

/* The same in whole nanoseconds, rounded; 0 when unknown or absurd. */
uint64_t profile_period_ns(const struct profile *p);

#endif /* REFBPF_PROFILE_H */
