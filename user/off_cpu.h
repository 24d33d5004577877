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

#include "profile.h"

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

/*
 * Thread `tid`, named `comm` (NULL: not known), left the CPU at `t_ns` in
 * this stack (copied; nframes 0: a stack that could not be read, whose
 * time is not attributed). Replaces whatever was pending for it. 0 or
 * -ENOMEM.
 */
int off_cpu_leave(struct off_cpu *oc, uint32_t pid, uint32_t tid, const char *comm, uint64_t t_ns,
		  uint32_t flags, const struct pframe *frames, uint32_t nframes);

/*
 * The same, with a stack read from the target's memory at `read_ns`, after
 * the switch-out (whose stack BPF could not read). It counts only if the
 * thread comes back after `read_ns`: it had not run when it was read.
 */
int off_cpu_leave_read_later(struct off_cpu *oc, uint32_t pid, uint32_t tid, const char *comm,
			     uint64_t t_ns, uint32_t flags, const struct pframe *frames,
			     uint32_t nframes, uint64_t read_ns);

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

/* Threads with time pending now (for tests and -v). */
size_t off_cpu_pending(const struct off_cpu *oc);

#endif /* REFBPF_OFF_CPU_H */
