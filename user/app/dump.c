// SPDX-License-Identifier: BSD-2-Clause
#include "app/dump.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/dump_stacks.h"
#include "base/escape.h"
#include "python/interp_files.h"
#include "profile/profile.h"
#include "base/ptrace_access.h"
#include "python/py_locals.h"
#include "python/py_process.h"
#include "python/py_thread_names.h"
#include "python/stack_reader.h"
#include "python/symbolizer.h"
#include "profile/thread_label.h"
#include "record/thread_list.h"

/* What an unsettled thread's line says. */
#define DUMP_UNSETTLED "it ran through every read and could not be sampled"

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
	const char *py_name;			/* Python's name for it, NULL: none */
	struct py_frame_locals *locals;		/* --locals: per frame, else NULL */
	int *locals_err;			/* per frame: 0 or why not read */
};

/* ---- Python thread names and local variables ---- */

/* Each thread's Python name, read once for the dump (names stay in `tn`). */
static void name_threads(struct py_process *proc, struct dump_thread *threads, size_t n,
			 struct py_thread_names *tn)
{
	struct py_reader r;
	pid_t pid = proc->pid;

	py_reader_init_pid(&r, &pid, &proc->layout.code, &proc->objects, &proc->types);
	if (py_thread_names_read(tn, &r, &proc->layout.walk))
		return;
	for (size_t i = 0; i < n; i++)
		threads[i].py_name = py_thread_names_find(tn, threads[i].stack->thread_id);
}

/* --locals: every frame's variables, read after its stack. 0 or -ENOMEM. */
static int read_locals(struct py_process *proc, struct dump_thread *t)
{
	const struct thread_stack *ts = t->stack;
	struct py_reader r;
	pid_t pid = proc->pid;

	t->locals = calloc(ts->nframes ? ts->nframes : 1, sizeof(*t->locals));
	t->locals_err = calloc(ts->nframes ? ts->nframes : 1, sizeof(*t->locals_err));
	if (!t->locals || !t->locals_err)
		return -ENOMEM;
	py_reader_init_pid(&r, &pid, &proc->layout.code, &proc->objects, &proc->types);
	for (uint32_t k = 0; k < ts->nframes; k++) {
		t->locals_err[k] = ts->frame_addrs ?
					   py_locals_read(&r, &proc->layout.walk, ts->frame_addrs[k],
							  ts->frames[k].code, &t->locals[k]) :
					   -ENOENT;
		if (t->locals_err[k] == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

static void free_locals(struct dump_thread *t)
{
	for (uint32_t k = 0; t->locals && k < t->stack->nframes; k++)
		py_locals_free(&t->locals[k]);
	free(t->locals);
	free(t->locals_err);
}

static const char *locals_error(int err)
{
	switch (err) {
	case -ESTALE:
		return "the frame changed while its locals were read (the thread is running)";
	case -ENOTSUP:
		return "locals cannot be read in this Python version";
	case -ENOENT:
		return "the frame's address is not known";
	case -EINVAL:
		return "the frame's code object does not read as one";
	default:
		return "its memory could not be read";
	}
}

static const char *const local_kinds[] = { "local", "cell", "free" };

static void print_locals_text(const struct py_frame_locals *l, int err)
{
	if (err) {
		printf("        (locals: %s)\n", locals_error(err));
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct py_local *v = &l->vars[i];

		fputs("        ", stdout);
		escape_terminal_fputs(v->name, stdout);
		fputs(" = ", stdout);
		if (v->error) {
			fputs("<unreadable>", stdout);
		} else if (v->value.repr[0]) {
			escape_terminal_fputs(v->value.repr, stdout);
		} else {
			fputc('<', stdout);
			escape_terminal_fputs(v->value.type, stdout);
			fputc('>', stdout);
		}
		if (v->kind != PY_LOCAL_PLAIN)
			printf(" (%s)", local_kinds[v->kind]);
		fputc('\n', stdout);
	}
	if (l->cut)
		puts("        ... (more locals not shown)");
}

static void print_locals_json(const struct py_frame_locals *l, int err)
{
	if (err) {
		fputs(", \"locals\": null, \"locals_error\": ", stdout);
		json_string(locals_error(err), stdout);
		return;
	}
	fputs(", \"locals\": [", stdout);
	for (size_t i = 0; i < l->n; i++) {
		const struct py_local *v = &l->vars[i];

		fputs(i ? ", {\"name\": " : "{\"name\": ", stdout);
		json_string(v->name, stdout);
		printf(", \"kind\": \"%s\", \"type\": ", local_kinds[v->kind]);
		if (v->error)
			fputs("null", stdout);
		else
			json_string(v->value.type, stdout);
		fputs(", \"repr\": ", stdout);
		if (!v->error && v->value.repr[0])
			json_string(v->value.repr, stdout);
		else
			fputs("null", stdout);
		fputs("}", stdout);
	}
	printf("], \"locals_cut\": %s", l->cut ? "true" : "false");
}

/* ---- output ---- */

static const struct thread_record *task_of(const struct thread_record *tasks, size_t n,
					   uint64_t thread_id)
{
	for (size_t i = 0; i < n; i++)
		if (tasks[i].thread_id == thread_id)
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
			char label[THREAD_LABEL_MAX];

			thread_label(label, sizeof(label), t->task->comm, t->py_name);
			printf("\nThread %" PRIu32 " ", t->task->tid);
			escape_terminal_fputs(label, stdout);
			printf("%s", t->task->state ? " sleeping" : " running");
		} else {
			printf("\nThread state 0x%" PRIx64 " (no live OS thread)", t->stack->tstate);
		}
		if (t->stack->interpreter)
			printf(" [sub-interpreter %u]", t->stack->interpreter);
		printf("%s\n", t->stack->source == STACK_UNSETTLED ? ": stack not taken (" DUMP_UNSETTLED ")" :
				t->stack->nframes ? "" : ": no Python frame");
		for (uint32_t k = 0; k < t->stack->nframes; k++) {
			const struct pfunc *f = &prof->funcs[t->frames[k].func];

			fputs("    ", stdout);
			escape_terminal_fputs(f->qualname, stdout);
			fputs(" (", stdout);
			escape_terminal_fputs(f->filename, stdout);
			if (t->frames[k].line >= 0)
				printf(":%d)\n", t->frames[k].line);
			else
				fputs(":?)\n", stdout);	/* not a guessed line */
			if (t->locals)
				print_locals_text(&t->locals[k], t->locals_err[k]);
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
		fputs(", \"python_name\": ", stdout);
		if (t->py_name)
			json_string(t->py_name, stdout);
		else
			fputs("null", stdout);
		printf(", \"interpreter\": %u, \"truncated\": %s, \"complete\": %s, \"frames\": [",
		       t->stack->interpreter, t->stack->truncated ? "true" : "false",
		       t->stack->source == STACK_UNSETTLED ? "false" : "true");
		for (uint32_t k = 0; k < t->stack->nframes; k++) {
			const struct pfunc *f = &prof->funcs[t->frames[k].func];

			fputs(k ? ", {\"function\": " : "{\"function\": ", stdout);
			json_string(f->qualname, stdout);
			fputs(", \"name\": ", stdout);
			json_string(f->name, stdout);
			fputs(", \"file\": ", stdout);
			json_string(f->filename, stdout);
			if (t->frames[k].line >= 0)
				printf(", \"line\": %d", t->frames[k].line);
			else
				fputs(", \"line\": null", stdout);
			printf(", \"firstlineno\": %d", f->firstlineno);
			if (t->locals)
				print_locals_json(&t->locals[k], t->locals_err[k]);
			fputs("}", stdout);
		}
		fputs("]}", stdout);
	}
	fputs("\n]}", stdout);
}

static int dump_one(pid_t pid, bool json, bool locals, bool first, struct dump_sampler *sampler)
{
	struct py_thread_names names = { 0 };
	struct py_process proc;
	struct dump_stacks taken = { 0 };
	struct thread_record *tasks = NULL;
	struct thread_stack *stacks = NULL;
	struct dump_thread *threads = NULL;
	struct profile *prof = profile_new();
	struct symbolizer *sym = NULL;
	struct interp_files *files;
	size_t ntasks = 0, nstacks = 0;
	char why[512];
	int err = -ENOMEM, status;

	/* with file capabilities: only what the user could ptrace */
	if (ptrace_access_check(pid, why, sizeof(why)) > 0) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		profile_free(prof);
		return -EPERM;
	}
	files = interp_files_new();
	if (!files) {
		profile_free(prof);
		return -ENOMEM;
	}
	status = py_process_discover_named(files, pid, DUMP_ATTACH_WAIT_S, &proc, why, sizeof(why));
	/* everything discovery needed of the files is in proc now */
	interp_files_free(files);
	if (status != PY_OK) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		py_process_free(&proc);
		profile_free(prof);
		return -ESRCH;
	}
	if (!prof || !(sym = symbolizer_new(&proc, prof)))
		goto out;
	err = dump_stacks_take(&proc, sampler, &taken, why, sizeof(why));
	if (err) {
		fprintf(stderr, "refbpf: PID %d: %s\n", (int)pid, why);
		goto out;
	}
	tasks = taken.tasks;
	ntasks = taken.ntasks;
	stacks = taken.stacks;
	nstacks = taken.nstacks;
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
		if (!err && locals)
			err = read_locals(&proc, &threads[i]);
	}
	if (!err)
		name_threads(&proc, threads, nstacks, &names);
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
	for (size_t i = 0; threads && i < nstacks; i++) {
		free(threads[i].frames);
		free_locals(&threads[i]);
	}
	free(threads);
	py_thread_names_free(&names);
	dump_stacks_free(&taken);
	symbolizer_free(sym);
	profile_free(prof);
	py_process_free(&proc);
	return err;
}

int dump_run(const pid_t *pids, size_t npids, bool json, bool locals)
{
	struct dump_sampler *sampler = dump_sampler_new();
	int status = 0, dumped = 0;

	if (!sampler) {
		fprintf(stderr, "refbpf: out of memory\n");
		return 1;
	}
	if (json)
		fputs("[", stdout);
	for (size_t i = 0; i < npids; i++) {
		if (!json && dumped)
			fputs("\n", stdout);
		if (dump_one(pids[i], json, locals, !dumped, sampler))
			status = 1;
		else
			dumped++;
	}
	if (json)
		fputs("]\n", stdout);
	dump_sampler_free(sampler);
	fflush(stdout);
	return status;
}
