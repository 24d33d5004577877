// SPDX-License-Identifier: BSD-2-Clause
#include "dump.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "interp_files.h"
#include "profile.h"
#include "ptrace_access.h"
#include "py_process.h"
#include "stack_reader.h"
#include "symbolizer.h"
#include "thread_list.h"

/* How long to wait for an interpreter still starting. */
#define DUMP_ATTACH_WAIT_S 1.0

static void json_string(const char *s, FILE *f)
{
	fputc('"', f);
	escape_json_fputs(s, f);
	fputc('"', f);
}

struct dump_thread {
	const struct thread_stack *stack;
	const struct thread_record *task;	/* NULL: no OS thread has its thread pointer */
	struct pframe *frames;			/* resolved, innermost first */
};

static const struct thread_record *task_of(const struct thread_record *tasks, size_t n,
					   uint64_t thread_id)
{
	for (size_t i = 0; i < n; i++)
		if (tasks[i].fsbase == thread_id)
			return &tasks[i];
	return NULL;
}

static void print_text(const struct py_process *proc, const struct profile *prof,
		       const struct dump_thread *threads, size_t n)
{
	printf("Process %d", (int)proc->pid);
	if (proc->ns_pid)
		printf(" (PID %d in its namespace)", (int)proc->ns_pid);
	fputs(": ", stdout);
	escape_terminal_fputs(proc->cmdline ? proc->cmdline : "?", stdout);
	printf("\nPython %s\n", proc->version);
	for (size_t i = 0; i < n; i++) {
		const struct dump_thread *t = &threads[i];

		if (t->task) {
			printf("\nThread %" PRIu32 " (", t->task->tid);
			escape_terminal_fputs(t->task->comm, stdout);
			printf(")%s", t->task->state ? " sleeping" : " running");
		} else {
			printf("\nThread state 0x%" PRIx64 " (no live OS thread)", t->stack->tstate);
		}
		if (t->stack->interpreter)
			printf(" [sub-interpreter %u]", t->stack->interpreter);
		printf("%s\n", t->stack->nframes ? "" : ": no Python frame");
		for (uint32_t k = 0; k < t->stack->nframes; k++) {
			const struct pfunc *f = &prof->funcs[t->frames[k].func];

			fputs("    ", stdout);
			escape_terminal_fputs(f->qualname, stdout);
			fputs(" (", stdout);
			escape_terminal_fputs(f->filename, stdout);
			printf(":%d)\n", t->frames[k].line >= 0 ? t->frames[k].line : f->firstlineno);
		}
		if (t->stack->truncated)
			puts("    ... (more frames not shown)");
	}
}

static void print_json(const struct py_process *proc, const struct profile *prof,
		       const struct dump_thread *threads, size_t n, bool first)
{
	printf("%s{\"pid\": %d, \"ns_pid\": %d, \"cmdline\": ", first ? "" : ",\n", (int)proc->pid,
	       (int)(proc->ns_pid ? proc->ns_pid : proc->pid));
	json_string(proc->cmdline ? proc->cmdline : "", stdout);
	fputs(", \"python\": ", stdout);
	json_string(proc->version, stdout);
	fputs(", \"threads\": [", stdout);
	for (size_t i = 0; i < n; i++) {
		const struct dump_thread *t = &threads[i];

		printf("%s\n  {\"tid\": ", i ? "," : "");
		if (t->task) {
			printf("%" PRIu32 ", \"name\": ", t->task->tid);
			json_string(t->task->comm, stdout);
			printf(", \"running\": %s", t->task->state ? "false" : "true");
		} else {
			fputs("null, \"name\": null, \"running\": false", stdout);
		}
		printf(", \"interpreter\": %u, \"truncated\": %s, \"frames\": [",
		       t->stack->interpreter, t->stack->truncated ? "true" : "false");
		for (uint32_t k = 0; k < t->stack->nframes; k++) {
			const struct pfunc *f = &prof->funcs[t->frames[k].func];

			fputs(k ? ", {\"function\": " : "{\"function\": ", stdout);
			json_string(f->qualname, stdout);
			fputs(", \"name\": ", stdout);
			json_string(f->name, stdout);
			fputs(", \"file\": ", stdout);
			json_string(f->filename, stdout);
			printf(", \"line\": %d, \"firstlineno\": %d}",
			       t->frames[k].line >= 0 ? t->frames[k].line : f->firstlineno,
			       f->firstlineno);
		}
		fputs("]}", stdout);
	}
	fputs("\n]}", stdout);
}

static int dump_one(pid_t pid, bool json, bool first)
{
	struct py_process proc;
	struct thread_record *tasks = NULL;
	struct thread_stack *stacks = NULL;
	struct dump_thread *threads = NULL;
	struct profile *prof = profile_new();
	struct symbolizer *sym = NULL;
	size_t ntasks = 0, nstacks = 0;
	char why[512];
	int err = -ENOMEM;

	/* with file capabilities: only what the user could ptrace */
	if (ptrace_access_check(pid, why, sizeof(why)) > 0) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		profile_free(prof);
		return -EPERM;
	}
	if (py_process_discover(pid, DUMP_ATTACH_WAIT_S, &proc, why, sizeof(why)) != PY_OK) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		py_process_free(&proc);
		profile_free(prof);
		return -ESRCH;
	}
	if (!prof || !(sym = symbolizer_new(&proc, prof)))
		goto out;
	err = thread_list_read(pid, &tasks, &ntasks, why, sizeof(why));
	if (err) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		goto out;
	}
	err = stack_reader_read(pid, &proc.layout.walk, &stacks, &nstacks);
	if (err) {
		fprintf(stderr, "refbpf: PID %d: cannot read its threads: %s\n", (int)pid,
			strerror(-err));
		goto out;
	}
	threads = calloc(nstacks ? nstacks : 1, sizeof(*threads));
	err = threads ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < nstacks; i++) {
		threads[i].stack = &stacks[i];
		threads[i].task = task_of(tasks, ntasks, stacks[i].thread_id);
		threads[i].frames = calloc(stacks[i].nframes ? stacks[i].nframes : 1,
					   sizeof(*threads[i].frames));
		if (!threads[i].frames)
			err = -ENOMEM;
		for (uint32_t k = 0; !err && k < stacks[i].nframes; k++)
			err = symbolizer_resolve(sym, &stacks[i].frames[k], &threads[i].frames[k]);
	}
	if (!err) {
		if (json)
			print_json(&proc, prof, threads, nstacks, first);
		else
			print_text(&proc, prof, threads, nstacks);
	} else {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, strerror(-err));
	}
out:
	if (err == -ENOMEM)
		fprintf(stderr, "refbpf: out of memory\n");
	for (size_t i = 0; threads && i < nstacks; i++)
		free(threads[i].frames);
	free(threads);
	stack_reader_free(stacks, nstacks);
	free(tasks);
	symbolizer_free(sym);
	profile_free(prof);
	py_process_free(&proc);
	return err;
}

int dump_run(const pid_t *pids, size_t npids, bool json)
{
	int status = 0, dumped = 0;

	if (json)
		fputs("[", stdout);
	for (size_t i = 0; i < npids; i++) {
		if (!json && dumped)
			fputs("\n", stdout);
		if (dump_one(pids[i], json, !dumped))
			status = 1;
		else
			dumped++;
	}
	if (json)
		fputs("]\n", stdout);
	interp_files_clear();
	fflush(stdout);
	return status;
}
