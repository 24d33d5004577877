// SPDX-License-Identifier: BSD-2-Clause
/*
 * Process discovery: the interpreter is whichever mapped ELF defines
 * _PyRuntime (an executable, libpython, or a library inside apache2) -
 * decided by symbols, never by file name. Files are opened through
 * /proc/PID/root so processes in other mount namespaces work.
 */
#include "base/arch.h"
#include "base/clock.h"
#include "python/py_process.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "python/layout/debug_offsets.h"
#include "base/elf_file.h"
#include "base/escape.h"
#include "python/interp_files.h"
#include "base/invoker.h"
#include "python/layout_check.h"
#include "base/proc.h"
#include "base/ptrace_access.h"
#include "python/layout/versions.h"

struct interp_elf {
	char path[4096];		/* as mapped, inside the process's root */
	struct interp_file *file;
	uint64_t bias;
};

/* Mapped path without the " (deleted)" suffix the kernel appends. */
static void mapped_path(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	proc_strip_deleted(out);
}

/* Lowest-offset mapping of the file: it anchors the bias. */
static const struct proc_map *first_mapping(const struct proc_maps *maps,
					    const struct proc_map *of)
{
	const struct proc_map *best = of;

	for (size_t i = 0; i < maps->n; i++) {
		const struct proc_map *m = &maps->maps[i];

		if (m->path && m->inode == of->inode && m->dev == of->dev && m->pgoff < best->pgoff)
			best = m;
	}
	return best;
}

/*
 * Find the ELF that defines _PyRuntime. Returns PY_OK, PY_NOT_PYTHON,
 * PY_UNSUPPORTED (a CPython older than 3.7, without _PyRuntime) or
 * PY_BAD_LAYOUT (the file cannot be tied to what is mapped).
 */
static int find_interpreter_elf(struct interp_files *files, pid_t pid, const struct proc_maps *maps,
				struct interp_elf *out, char *why, size_t whylen)
{
	char unreadable[256] = "";
	int old_python = 0;

	for (size_t i = 0; i < maps->n; i++) {
		const struct proc_map *m = &maps->maps[i];
		struct interp_file *f;
		int match;

		if (!m->path || !m->inode || (i && maps->maps[i - 1].inode == m->inode &&
					      maps->maps[i - 1].dev == m->dev))
			continue;
		f = interp_files_get(files, pid, m);
		if (!f) {
			if ((errno == EACCES || errno == EPERM) && !unreadable[0])
				mapped_path(proc_path_inside(pid, m->path), unreadable,
					    sizeof(unreadable));
			continue;
		}
		if (f->kind == INTERP_FILE_OLD_PYTHON)
			old_python = 1;
		if (f->kind != INTERP_FILE_PYTHON)
			continue;
		const struct proc_map *first = first_mapping(maps, m);

		mapped_path(proc_path_inside(pid, m->path), out->path, sizeof(out->path));
		out->file = f;
		if (elf_file_load_bias(f->elf, first->start, first->pgoff, &out->bias)) {
			snprintf(why, whylen, "cannot compute the load address of %s", out->path);
			return PY_BAD_LAYOUT;
		}
		match = interp_file_matches_memory(f, pid, out->bias);
		if (match == 0) {
			snprintf(why, whylen,
				 "%s on disk is not the build the process mapped (build-id differs; upgraded since it started?)",
				 out->path);
			return PY_BAD_LAYOUT;
		}
		return PY_OK;
	}
	if (old_python) {
		snprintf(why, whylen, "unsupported Python version (older than 3.7; %s are supported)",
			 py_versions_supported());
		return PY_UNSUPPORTED;
	}
	if (unreadable[0]) {
		/* It may well be Python: we cannot tell. */
		if (invoker_get()->restricted)
			snprintf(why, whylen, "cannot read %s (permission denied): refbpf reads files as you",
				 unreadable);
		else
			snprintf(why, whylen,
				 "cannot read %s (permission denied): run as root or also grant CAP_DAC_READ_SEARCH",
				 unreadable);
		return PY_NO_ACCESS;
	}
	snprintf(why, whylen, "not a Python process (no mapped ELF file defines _PyRuntime)");
	return PY_NOT_PYTHON;
}

static void format_version(uint64_t hex, char *out, size_t len)
{
	unsigned int major = (hex >> 24) & 0xff, minor = (hex >> 16) & 0xff, micro = (hex >> 8) & 0xff;
	unsigned int level = (hex >> 4) & 0xf, serial = hex & 0xf;
	const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";

	if (*tag)
		snprintf(out, len, "%u.%u.%u%s%u", major, minor, micro, tag, serial);
	else
		snprintf(out, len, "%u.%u.%u", major, minor, micro);
}

/* What thread names and locals need: the built-in table, with what
 * _Py_DebugOffsets says (3.13+) in place of it. None: not read. */
static void choose_object_layout(struct py_process *out, const uint8_t *head, size_t len)
{
	const struct py_object_layout *o =
		py_object_layout_builtin(out->major, out->minor, out->free_threaded);

	memset(&out->objects, 0, sizeof(out->objects));
	if (!o)
		return;
	out->objects = *o;
	if (debug_offsets_present(head, len) && debug_offsets_objects(head, len, &out->objects))
		memset(&out->objects, 0, sizeof(out->objects));
}

/* Addresses that tell a value's type (py_reader.h). */
static void find_types(const struct interp_elf *ie, struct py_types *t)
{
	const uint64_t *s = ie->file->syms;
	const struct {
		uint64_t *out;
		int sym;
	} map[] = {
		{ &t->none, ISYM_NONE },	{ &t->true_, ISYM_TRUE },
		{ &t->false_, ISYM_FALSE },	{ &t->str, ISYM_STR_TYPE },
		{ &t->int_, ISYM_INT_TYPE },	{ &t->float_, ISYM_FLOAT_TYPE },
		{ &t->bool_, ISYM_BOOL_TYPE },	{ &t->bytes, ISYM_BYTES_TYPE },
		{ &t->tuple, ISYM_TUPLE_TYPE }, { &t->dict, ISYM_DICT_TYPE },
		{ &t->module, ISYM_MODULE_TYPE }, { &t->cell, ISYM_CELL_TYPE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		*map[i].out = s[map[i].sym] ? s[map[i].sym] + ie->bias : 0;
}

/* Older than this and still no thread state, or no C library: not a
 * process starting up. */
#define NO_THREADS_MAX_AGE_S 5.0

/* How long ago the process's current image started, as far as we know. */
static double image_age(const struct py_process *p)
{
	return p->image_start_s > 0 ? monotonic_s() - p->image_start_s : proc_age_seconds(p->pid);
}

static int choose_layout(pid_t pid, const struct interp_elf *ie, struct py_process *out,
			 char *why, size_t whylen)
{
	uint64_t runtime = ie->file->syms[ISYM_PYRUNTIME] + ie->bias;
	uint8_t head[DEBUG_OFFSETS_MAX_SIZE];
	uint64_t hex = 0;
	int err;

	/* _PyRuntime is far larger than this in every version. */
	err = proc_read(pid, runtime, head, sizeof(head));
	if (err) {
		snprintf(why, whylen, "cannot read the interpreter state: %s", strerror(-err));
		return err == -EPERM || err == -EACCES ? PY_NO_ACCESS : PY_NO_PROCESS;
	}
	if (debug_offsets_present(head, sizeof(head))) {
		err = debug_offsets_parse(head, sizeof(head), &out->layout, &hex, &out->free_threaded);
		format_version(hex, out->version, sizeof(out->version));
		/* "3.13.5t", as free-threaded builds name themselves */
		if (out->free_threaded)
			strncat(out->version, "t", sizeof(out->version) - strlen(out->version) - 1);
		out->major = (hex >> 24) & 0xff;
		out->minor = (hex >> 16) & 0xff;
		if (err == -ENOTSUP) {
			snprintf(why, whylen, "unsupported Python version %s (its debug offsets are not known yet)",
				 out->version);
			return PY_UNSUPPORTED;
		}
		if (err) {
			snprintf(why, whylen, "Python %s: malformed _Py_DebugOffsets", out->version);
			return PY_BAD_LAYOUT;
		}
		out->layout_source = "_Py_DebugOffsets";
	} else {
		if (ie->file->syms[ISYM_PY_VERSION]) {
			uint32_t v = 0;

			if (proc_read(pid, ie->file->syms[ISYM_PY_VERSION] + ie->bias, &v, sizeof(v)))
				return PY_NO_PROCESS;
			hex = v;
			format_version(hex, out->version, sizeof(out->version));
		} else {
			/* 3.8-3.10 keep their version only in code; tell them
			 * apart by the API each release added. */
			unsigned int minor = ie->file->syms[ISYM_PYAITER_CHECK]	     ? 10 :
					     ie->file->syms[ISYM_PYFRAME_GETCODE]	     ? 9 :
					     ie->file->syms[ISYM_PYCODE_NEWWITHPOSONLY] ? 8 :
										   7;

			hex = 0x03000000ull | (uint64_t)minor << 16;
			snprintf(out->version, sizeof(out->version), "3.%u", minor);
		}
		out->major = (hex >> 24) & 0xff;
		out->minor = (hex >> 16) & 0xff;
		/* 3.13+ always start _PyRuntime with _Py_DebugOffsets. Missing,
		 * the loader is still placing the library's segments (its
		 * first mapping spans the file, and _PyRuntime's address shows
		 * other bytes of it): look again. */
		if (py_version_has_debug_offsets(out->major, out->minor)) {
			snprintf(why, whylen, "Python %s has not finished loading", out->version);
			return PY_NOT_READY;
		}
		struct py_version_layout builtin;

		if (py_layout_builtin(out->major, out->minor, &builtin)) {
			snprintf(why, whylen, "unsupported Python version %s (%s are supported)",
				 out->version, py_versions_supported());
			return PY_UNSUPPORTED;
		}
		/* The interpreter's own DWARF describes exactly this build
		 * (a distro patch, an unusual configure option); the table
		 * is for builds without it. */
		if (!interp_file_dwarf_layout(ie->file, pid, ie->path, out->major, out->minor,
					      &out->layout)) {
			out->layout_source = ie->file->dwarf_stored ? "DWARF (stored by build-id)" :
								      "DWARF";
		} else {
			out->layout = builtin;
			out->layout_source = "built-in table";
		}
	}
	out->layout.walk.runtime_addr = runtime;
	out->layout.walk.version_hex = (uint32_t)hex;
	choose_object_layout(out, head, sizeof(head));
	/* 3.12 counts code objects created in a process-wide global, named
	 * only in .symtab: unstripped builds. */
	const struct py_version_traits *traits = py_version_traits(out->major, out->minor);

	if (traits && traits->code_gen == CODE_GEN_GLOBAL && ie->file->syms[ISYM_NEXT_FUNC_VERSION])
		out->layout.walk.code_gen_addr = ie->file->syms[ISYM_NEXT_FUNC_VERSION] + ie->bias;
	py_layout_finish(&out->layout);
	/* BPF knows a thread by its pthread_self(), which CPython keeps */
	char bias_why[200];
	int bias_err = arch_thread_id_bias(pid, &out->layout.walk.thread_id_bias, bias_why,
					  sizeof(bias_why));

	/* (no C library mapped yet: a process just exec'd, whose loader
	 * has mapped the executable but not yet its libraries) */
	if (bias_err == -ENOENT && image_age(out) < NO_THREADS_MAX_AGE_S) {
		snprintf(why, whylen, "Python %s has not finished loading", out->version);
		return PY_NOT_READY;
	}
	if (bias_err) {
		snprintf(why, whylen, "Python %s: %s", out->version, bias_why);
		return bias_err == -ESRCH ? PY_NO_PROCESS : PY_UNSUPPORTED;
	}
	if (out->layout.walk.code_span > REFBPF_READ_SPAN) {
		snprintf(why, whylen, "Python %s: the code object's fields lie %u bytes apart in the %s layout (BPF reads %u at most)",
			 out->version, out->layout.walk.code_span, out->layout_source, REFBPF_READ_SPAN);
		return PY_BAD_LAYOUT;
	}
	return PY_OK;
}

/* Older than this, a layout mismatch is not start-up noise. */
#define BAD_LAYOUT_SETTLE_S 1.0

/* The chain the BPF walker follows holds in the live process. */
static int check_layout(pid_t pid, const struct py_process *p, char *why, size_t whylen)
{
	char detail[160] = "";

	switch (layout_check(pid, &p->layout, p->code_type_addr, detail, sizeof(detail))) {
	case LAYOUT_CHECK_OK:
		return PY_OK;
	case LAYOUT_CHECK_NOT_READY:
		/* Every Python has a thread state moments after it starts;
		 * a long-running one without any means the layout is wrong. */
		if (detail[0] && image_age(p) > NO_THREADS_MAX_AGE_S) {
			snprintf(why, whylen,
				 "Python %s: no thread state found through the %s layout (%s); refusing to profile it",
				 p->version, p->layout_source, detail);
			return PY_BAD_LAYOUT;
		}
		/* libpython loaded long ago and never started (the httpd
		 * parent of mod_wsgi): waiting would not help. */
		if (image_age(p) > NO_THREADS_MAX_AGE_S) {
			snprintf(why, whylen,
				 "Python %s is loaded but not initialised: no interpreter runs in it",
				 p->version);
			return PY_NOT_STARTED;
		}
		snprintf(why, whylen, "Python %s has not finished starting", p->version);
		return PY_NOT_READY;
	case LAYOUT_CHECK_GONE:
		snprintf(why, whylen, "no such process (it exited)");
		return PY_NO_PROCESS;
	default:
		/* An interpreter in its first moments may still be wiring its
		 * state up: look again rather than give up on it. */
		if (image_age(p) < BAD_LAYOUT_SETTLE_S) {
			snprintf(why, whylen, "Python %s has not finished starting", p->version);
			return PY_NOT_READY;
		}
		snprintf(why, whylen,
			 "Python %s: its memory does not match the %s layout (%s); refusing to profile it",
			 p->version, p->layout_source, detail);
		return PY_BAD_LAYOUT;
	}
}

/*
 * 3.13+ keep their code counter in the interpreter: usable while the
 * process has one interpreter, the main one (a new interpreter becomes
 * interpreters.head, which BPF checks on every sample). A process with
 * subinterpreters already running goes without.
 */
static void find_interp_code_counter(pid_t pid, struct py_process *p)
{
	struct py_layout *w = &p->layout.walk;
	uint64_t head = 0, next = 1;

	if (!p->layout.interp_code_gen)
		return;
	if (proc_read(pid, w->runtime_addr + w->runtime_interpreters_head, &head, sizeof(head)) ||
	    !head || proc_read(pid, head + w->interp_next, &next, sizeof(next)) || next)
		return;
	w->code_gen_addr = head + p->layout.interp_code_gen;
	w->code_gen_interp = head;
}

static int discover_once(struct interp_files *files, pid_t pid, struct py_process *out, char *why,
			 size_t whylen)
{
	struct proc_maps maps;
	struct interp_elf ie;
	int err, status;

	err = proc_maps_read(pid, &maps);
	if (err) {
		snprintf(why, whylen, err == -ESRCH ? "no such process" : "cannot read its memory map: %s",
			 strerror(-err));
		return err == -ESRCH ? PY_NO_PROCESS : PY_NO_ACCESS;
	}
	memset(&ie, 0, sizeof(ie));
	status = find_interpreter_elf(files, pid, &maps, &ie, why, whylen);
	proc_maps_free(&maps);
	if (status != PY_OK)
		return status;
	free(out->interp_path);
	out->interp_path = strdup(ie.path);
	snprintf(out->build_id, sizeof(out->build_id), "%s", ie.file->build_id);
	out->code_type_addr = ie.file->syms[ISYM_PYCODE_TYPE] ? ie.file->syms[ISYM_PYCODE_TYPE] + ie.bias : 0;
	find_types(&ie, &out->types);
	status = choose_layout(pid, &ie, out, why, whylen);
	if (status != PY_OK)
		return status;
	if (!out->code_type_addr) {
		snprintf(why, whylen, "Python %s: PyCode_Type not found in %s", out->version, ie.path);
		return PY_BAD_LAYOUT;
	}
	status = check_layout(pid, out, why, whylen);
	if (status == PY_OK)
		find_interp_code_counter(pid, out);
	return status;
}

/*
 * Say once, on stderr, what a wait for `pid` is for and how long it lasts
 * at most: a named process that is not Python yet (or whose Python is
 * still starting) would otherwise keep its user waiting in silence.
 */
static void announce_wait(pid_t pid, int status, double wait_s, double age, const char *why)
{
	char comm[32] = "?";

	if (proc_comm(pid, pid, comm, sizeof(comm)))
		snprintf(comm, sizeof(comm), "?");
	fprintf(stderr, "refbpf: PID %d (", (int)pid);
	escape_terminal_fputs(comm, stderr);
	if (status == PY_NOT_PYTHON)
		fprintf(stderr,
			"): no Python loaded yet (it started %.1f s ago); waiting up to %.1f s for one\n",
			age, wait_s);
	else
		fprintf(stderr, "): %s: waiting up to %.1f s\n", why, wait_s);
	fflush(stderr);
}

/* The wait loop of py_process_discover(), announced or not. */
static int discover_waiting(struct interp_files *files, pid_t pid, double image_start_s,
			    double wait_s, bool announce, struct py_process *out, char *why,
			    size_t whylen)
{
	double deadline = monotonic_s() + wait_s, age = 0;
	int status, waited_on = PY_OK;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->image_start_s = image_start_s;
	out->refusal = ptrace_access_check(pid, why, whylen);
	if (out->refusal > 0)
		return PY_NOT_ALLOWED;
	if (out->refusal < 0 || !proc_alive(pid)) {
		out->refusal = 0;
		snprintf(why, whylen, "no such process");
		return PY_NO_PROCESS;
	}
	for (;;) {
		status = discover_once(files, pid, out, why, whylen);
		if (status == PY_OK || status == PY_NO_PROCESS || status == PY_NO_ACCESS ||
		    status == PY_UNSUPPORTED || status == PY_BAD_LAYOUT || status == PY_NOT_STARTED ||
		    monotonic_s() >= deadline)
			break;
		/* A process that started moments ago may still be loading
		 * libpython (NOT_PYTHON) or initialising it (NOT_READY). */
		if (!proc_alive(pid)) {
			/* gone, or a zombie whose maps are empty */
			status = PY_NO_PROCESS;
			break;
		}
		if (status == PY_NOT_PYTHON) {
			age = image_age(out);
			if (age < 0 || age > wait_s)
				break;
		}
		if (announce && waited_on == PY_OK)
			announce_wait(pid, status,
				      status == PY_NOT_PYTHON ? wait_s - age :
								deadline - monotonic_s(),
				      age, why);
		waited_on = status;
		usleep(10 * 1000);
	}
	if (status == PY_NO_PROCESS && !proc_alive(pid)) {
		/* What it was while we waited is the truth about it. */
		if (waited_on == PY_NOT_PYTHON)
			snprintf(why, whylen,
				 "not a Python process (it exited without loading Python)");
		else if (waited_on == PY_NOT_READY)
			snprintf(why, whylen, "exited before its Python finished starting");
		else
			snprintf(why, whylen, "no such process (it exited)");
	}
	out->cmdline = proc_cmdline(pid);
	out->ns_pid = proc_ns_pid(pid);
	if (out->ns_pid == pid)
		out->ns_pid = 0;
	return status;
}

int py_process_discover(struct interp_files *files, pid_t pid, double wait_s,
			struct py_process *out, char *why, size_t whylen)
{
	return discover_waiting(files, pid, 0, wait_s, false, out, why, whylen);
}

int py_process_discover_named(struct interp_files *files, pid_t pid, double wait_s,
			      struct py_process *out, char *why, size_t whylen)
{
	return discover_waiting(files, pid, 0, wait_s, true, out, why, whylen);
}

int py_process_discover_image(struct interp_files *files, pid_t pid, double image_start_s,
			      struct py_process *out, char *why, size_t whylen)
{
	return discover_waiting(files, pid, image_start_s, 0, false, out, why, whylen);
}

void py_process_free(struct py_process *p)
{
	free(p->cmdline);
	free(p->interp_path);
	p->cmdline = NULL;
	p->interp_path = NULL;
}
