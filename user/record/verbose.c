// SPDX-License-Identifier: BSD-2-Clause
/* Counters collected from BPF, and what -v prints. */
#include "record/recorder_private.h"

/* For -v, and the cost figures of docs/wall-gil-native.md. */
static void print_native_costs(struct recorder *r)
{
	struct native_costs c = { 0 };

	for (size_t i = 0; i < r->n; i++)
		if (r->t[i]->native)
			native_stacks_stats(r->t[i]->native, &c);
	if (c.stacks)
		fprintf(stderr,
			"refbpf: --native: %llu stacks unwound, %.1f KiB of stack each, %.1f us each to unwind, %.1f us to symbolize; %llu distinct addresses looked up in %.0f ms\n",
			(unsigned long long)c.stacks, (double)c.stack_bytes / (double)c.stacks / 1024,
			(double)c.unwind_ns / (double)c.stacks / 1e3,
			(double)(c.symbolize_ns - c.lookup_ns) / (double)c.stacks / 1e3,
			(unsigned long long)c.addresses, (double)c.lookup_ns / 1e6);
}

/* For -v: how often BPF trusted a code object it had read before (3.12+
 * keep a counter that says when it may). */
static void print_walk_counts(struct recorder *r)
{
	struct walk_counts c;
	__u64 all;

	if (bpf_session_walk_counts(r->bpf, &c))
		return;
	all = c.frames_trusted + c.frames_read;
	if (all)
		fprintf(stderr,
			"refbpf: BPF: %llu frames from code objects validated before, %llu read again (%.1f%%) since start\n",
			(unsigned long long)c.frames_trusted, (unsigned long long)c.frames_read,
			100.0 * (double)c.frames_read / (double)all);
}

/* --all: how many processes the user could not ptrace were left out, and
 * why; once after the scan, then again at the end if more were. */
void rec_report_left_out(struct recorder *r)
{
	uint64_t n = 0;
	const char *sep = "";

	for (int i = 0; i < PTRACE_REFUSALS; i++)
		n += r->left_out[i];
	if (n == r->left_out_shown)
		return;
	r->left_out_shown = n;
	fprintf(stderr, "refbpf: --all left out %llu process%s that you could not ptrace (",
		(unsigned long long)n, n == 1 ? "" : "es");
	for (int i = 1; i < PTRACE_REFUSALS; i++) {
		if (!r->left_out[i])
			continue;
		fprintf(stderr, "%s%llu %s", sep, (unsigned long long)r->left_out[i],
			ptrace_refusal_name(i));
		sep = ", ";
	}
	fprintf(stderr, "): refbpf runs with %s\n", invoker_get()->how);
}

/* On a terminal, one line that says recording is alive and how it goes. */
void rec_show_progress(struct recorder *r, double elapsed, bool last)
{
	uint64_t errs[UNWIND_NR] = { 0 };
	size_t active = 0;

	bpf_session_unwind_errors(r->bpf, errs);
	for (size_t i = 0; i < r->n; i++)
		active += r->t[i]->state == RT_ACTIVE;
	if (last) {
		fputs("\r\033[K", stderr);
		return;
	}
	fprintf(stderr, "\r\033[Krefbpf: %.0f s, %llu samples (%.0f/s), %llu lost, %zu process%s",
		elapsed, (unsigned long long)r->prof->total_samples,
		elapsed > 0 ? r->prof->total_samples / elapsed : 0.0,
		(unsigned long long)errs[UNWIND_RINGBUF_FULL], active, active == 1 ? "" : "es");
}

/* -v, wall mode: time off CPU whose stack BPF could not walk, and why. */
static void print_unwalked(const struct recorder *r)
{
	fprintf(stderr, "refbpf: wall mode: %.1f ms off CPU not attributed (no Python stack); switch-outs without one:",
		(double)off_cpu_unattributed_ns(r->off_cpu) / 1e6);
	for (int i = 0; i < UNWIND_NR; i++)
		fprintf(stderr, "%s %s %llu", i ? "," : "", unwind_error_name(i), (unsigned long long)r->unwalked[i]);
	fprintf(stderr, "; %llu read from memory instead\n", (unsigned long long)r->reread);
	fprintf(stderr, "refbpf: wall mode: %llu switch-ins not reported by the kernel, "
		"told from CPU time (%llu could not be)\n",
		(unsigned long long)off_cpu_unseen_returns(r->off_cpu),
		(unsigned long long)off_cpu_unseen_returns_lost(r->off_cpu));
}

void rec_collect_counters(struct recorder *r)
{
	uint64_t errs[UNWIND_NR];

	if (bpf_session_unwind_errors(r->bpf, errs))
		return;
	for (int i = 0; i < UNWIND_NR; i++)
		r->prof->unwind_errors[i] = errs[i] - r->errs_base[i];
	r->prof->lost_samples = errs[UNWIND_RINGBUF_FULL] - r->errs_base[UNWIND_RINGBUF_FULL];
	memcpy(r->errs_base, errs, sizeof(errs));
	if (!r->o->verbose)
		return;
	print_native_costs(r);
	print_walk_counts(r);
	if (r->off_cpu)
		print_unwalked(r);
	if (r->o->all)
		fprintf(stderr, "refbpf: --all: %llu execs read, %llu of them woke refbpf\n",
			(unsigned long long)r->execs_read,
			(unsigned long long)bpf_session_exec_wakeups(r->bpf));
	for (size_t i = 0; i < r->n; i++) {
		const struct symbolizer_stats *st;

		if (!r->t[i]->sym)
			continue;
		st = symbolizer_stats(r->t[i]->sym);
		fprintf(stderr,
			"refbpf: PID %d: %llu frames resolved, %llu code objects read, %llu stale, %llu unreadable\n",
			(int)r->t[i]->pid, (unsigned long long)st->lookups,
			(unsigned long long)st->misses, (unsigned long long)st->stale,
			(unsigned long long)st->unreadable);
	}
}
