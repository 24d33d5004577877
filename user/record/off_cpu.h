/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Wall mode: each target thread's time off the CPU, measured exactly from
 * its switch-out and switch-in (raw_tp/sched_switch) and added to the stack
 * it left the CPU in. The profile counts samples of one period each, so the
 * time is converted into periods, and what is left over (less than one
 * period) is carried per thread to its next off-CPU interval: nothing is
 * lost to rounding, and every writer sees ordinary samples.
 */
#ifndef REFBPF_OFF_CPU_H
#define REFBPF_OFF_CPU_H

#include <stdint.h>

#include "profile/profile.h"

/* A thread's name (task comm) when it left the CPU. */
#define OFF_CPU_COMM_LEN 16

/* Adds `count` periods of one stack (root first) to the profile; `comm`
 * is the thread's name when it left the CPU ("" when not known): a thread
 * that has exited since keeps it. */
typedef int (*off_cpu_add_fn)(void *ctx, uint32_t pid, uint32_t tid, uint32_t flags,
			      const struct pframe *frames, uint32_t nframes, uint64_t count,
			      const char *comm);

struct off_cpu;

struct off_cpu *off_cpu_new(uint64_t period_ns, off_cpu_add_fn add, void *ctx);
void off_cpu_free(struct off_cpu *oc);

/* A thread leaving the CPU. */
struct off_cpu_leave {
	uint32_t pid, tid;
	const char *comm;		/* its name then, or NULL */
	uint64_t t_ns;			/* when (CLOCK_MONOTONIC) */
	uint64_t run_ns;		/* its CPU time by then, 0 if unknown */
	uint64_t read_ns;		/* its stack was read from memory at this time, after
					 * t_ns; 0: at t_ns, by BPF */
	uint32_t flags;
	const struct pframe *frames;	/* the stack it waits in (nframes 0: not read) */
	uint32_t nframes;
};

/*
 * `l->tid` is off CPU from `l->t_ns`, in `frames` (copied), until it comes
 * back. A stack read after the switch-out counts only if the thread comes
 * back after `read_ns`: it had not run when it was read. A thread that
 * leaves again with no switch-in seen in between (the kernel does not
 * always report one) ran for the CPU time it gained: the rest of that
 * interval was off CPU. 0 or -ENOMEM.
 */
int off_cpu_leave(struct off_cpu *oc, const struct off_cpu_leave *l);

/* The stack `tid` left the CPU in was read from memory by `read_ns`, not
 * at its switch-out: it counts only if the thread comes back after that. */
void off_cpu_read_at(struct off_cpu *oc, uint32_t tid, uint64_t read_ns);

/* It is back on a CPU at `t_ns`: its time off CPU is added. 0 or -errno. */
int off_cpu_return(struct off_cpu *oc, uint32_t tid, uint64_t t_ns);

/* Add the time up to `t_ns` of every thread off CPU now, which stays
 * pending from `t_ns` on (the end of a window or of the recording). */
int off_cpu_flush(struct off_cpu *oc, uint64_t t_ns);

/* The thread is gone, or its whole process (exit, exec). */
void off_cpu_forget_thread(struct off_cpu *oc, uint32_t tid);
void off_cpu_forget_process(struct off_cpu *oc, uint32_t pid);

/* Time off CPU counted so far in stacks that could not be read. */
uint64_t off_cpu_unattributed_ns(const struct off_cpu *oc);

/* Switch-outs seen with no switch-in since the last one, and of those,
 * the ones whose time could not be told (no CPU time to compare). */
uint64_t off_cpu_unseen_returns(const struct off_cpu *oc);
uint64_t off_cpu_unseen_returns_lost(const struct off_cpu *oc);

/* Threads with time pending now (for tests and -v). */
size_t off_cpu_pending(const struct off_cpu *oc);

#endif /* REFBPF_OFF_CPU_H */
