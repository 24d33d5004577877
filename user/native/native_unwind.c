// SPDX-License-Identifier: BSD-2-Clause
/*
 * Each mapped ELF file of the process is reported to libdwfl as a module
 * at its mapped range; libdwfl finds its CFI (.eh_frame, .debug_frame) and
 * its debug file (/usr/lib/debug/.build-id, .gnu_debuglink) itself. The
 * files are opened as interp_files.c opens the interpreter: as mapped
 * (/proc/PID/map_files), else through /proc/PID/root. The unwinder reads
 * memory only from the copied stack, so a stale register or a garbage CFI
 * rule can at worst end the unwind, never read the live process.
 */
#include "native/native_unwind.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arch.h"
#include "base/clock.h"
#include "base/proc.h"

#define REFRESH_EVERY_S 1.0
/* The vDSO is one or two pages; anything larger is not it. */
#define VDSO_MAX (64u << 10)

/* What find_elf needs to open one module's file. */
struct module_source {
	struct native_unwinder *u;
	uint64_t start, end;	/* its first mapping */
	char *path;		/* as /proc/PID/maps names it */
};

struct native_unwinder {
	pid_t pid;
	Dwfl *dwfl;
	bool attached;		/* dwfl_attach_state done */
	double next_refresh;
	struct module_source **sources;
	size_t nsources;
	void *vdso;		/* the vDSO image, for its CFI */

	/* the sample being unwound */
	const struct native_stack_event *ev;
	uint64_t stack_len;
	uint64_t *pcs, *sps;
	size_t npcs, max;

	uint64_t stacks, ns, bytes;
	uint64_t generation;	/* bumped when modules were added */
};

static char *debuginfo_path;	/* NULL: libdwfl's default, /usr/lib/debug */

static int open_vdso(struct module_source *src, char **file_name, Elf **elfp)
{
	struct native_unwinder *u = src->u;
	size_t len = src->end - src->start;

	if (len == 0 || len > VDSO_MAX || u->vdso)
		return -1;
	u->vdso = malloc(len);
	if (!u->vdso || proc_read(u->pid, src->start, u->vdso, len)) {
		free(u->vdso);
		u->vdso = NULL;
		return -1;
	}
	*elfp = elf_memory(u->vdso, len);
	*file_name = NULL;
	return -1;
}

/* A regular file only: what a process names in its root may be a FIFO or
 * a device planted there, which must neither block nor be read. */
static int open_regular(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct module_source *src = *userdata;
	char path[PATH_MAX];
	int fd;

	if (!src)
		return -1;
	if (!strcmp(src->path, "[vdso]"))
		return open_vdso(src, file_name, elfp);
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)src->u->pid,
		 src->start, src->end);
	fd = open_regular(path);
	if (fd < 0) {
		if (proc_root_path(src->u->pid, src->path, path, sizeof(path)))
			return -1;
		proc_strip_deleted(path);
		fd = open_regular(path);
		if (fd < 0)
			return -1;
	}
	*file_name = strdup(path);
	return fd;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static bool is_executable_file_map(const struct proc_map *m)
{
	return m->path && m->perms[2] == 'x' && m->inode;
}

/*
 * The vDSO (clock_gettime and friends run in it): where the kernel put it
 * (AT_SYSINFO_EHDR in /proc/PID/auxv) and how long its image is (its
 * section headers come last). 0, or -errno when there is none to read.
 */
static int find_vdso(pid_t pid, struct proc_map *out)
{
	char path[64];
	Elf64_auxv_t aux[64];
	Elf64_Ehdr eh;
	uint64_t base = 0, len;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, aux, sizeof(aux));
	close(fd);
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(aux[0]); i++)
		if (aux[i].a_type == AT_SYSINFO_EHDR)
			base = aux[i].a_un.a_val;
	if (!base || proc_read(pid, base, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return -ENOENT;
	len = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
	if (eh.e_shoff > VDSO_MAX || len < sizeof(eh) || len > VDSO_MAX)
		return -ENOENT;
	out->start = base;
	out->end = base + len;
	out->path = "[vdso]";
	return 0;
}

/* Report one file's run of mappings [first, last] as a module. */
static int report_module(struct native_unwinder *u, const struct proc_map *first,
			 const struct proc_map *last)
{
	struct module_source *src, **ns;
	Dwfl_Module *mod;
	void **slot = NULL;

	/* Reported before (libdwfl returns the same module): keep it. */
	for (size_t i = 0; i < u->nsources; i++)
		if (u->sources[i]->start == first->start && !strcmp(u->sources[i]->path, first->path))
			return 0;
	src = calloc(1, sizeof(*src));
	ns = realloc(u->sources, (u->nsources + 1) * sizeof(*ns));
	if (!src || !ns) {
		free(src);
		if (ns)
			u->sources = ns;
		return -ENOMEM;
	}
	u->sources = ns;
	src->u = u;
	src->start = first->start;
	src->end = first->end;
	src->path = strdup(first->path);
	if (!src->path) {
		free(src);
		return -ENOMEM;
	}
	u->sources[u->nsources++] = src;
	mod = dwfl_report_module(u->dwfl, first->path, first->start, last->end);
	if (!mod)
		return 0;	/* overlaps a module reported before: keep that one */
	dwfl_module_info(mod, &slot, NULL, NULL, NULL, NULL, NULL, NULL);
	if (slot)
		*slot = src;
	return 0;
}

/* Every file with an executable mapping, from its first mapping (file
 * offset 0) to the last one of the same file right after it. */
static int report_modules(struct native_unwinder *u)
{
	struct proc_maps maps;
	int err = proc_maps_read(u->pid, &maps);

	if (err)
		return err;
	dwfl_report_begin_add(u->dwfl);
	for (size_t i = 0; i < maps.n && !err; i++) {
		const struct proc_map *m = &maps.maps[i];
		size_t last = i;
		bool exec = false;

		if (!m->path || m->pgoff)
			continue;
		while (last + 1 < maps.n && maps.maps[last + 1].path && maps.maps[last + 1].inode == m->inode &&
		       maps.maps[last + 1].dev == m->dev && !strcmp(maps.maps[last + 1].path, m->path))
			last++;
		for (size_t k = i; k <= last; k++)
			exec |= is_executable_file_map(&maps.maps[k]);
		if (exec)
			err = report_module(u, m, &maps.maps[last]);
		i = last;
	}
	struct proc_map vdso;

	if (!err && !find_vdso(u->pid, &vdso))
		err = report_module(u, &vdso, &vdso);
	dwfl_report_end(u->dwfl, NULL, NULL);
	proc_maps_free(&maps);
	return err;
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg)
{
	struct native_unwinder *u = arg;

	if (*thread_arg || !u->ev)
		return 0;
	*thread_arg = u;
	return (pid_t)u->ev->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_arg)
{
	struct native_unwinder *u = arg;

	*thread_arg = u;
	return u->ev && (pid_t)u->ev->tid == tid;
}

/* Only the copied stack is memory here. What libdw reads from it are
 * saved registers and return addresses: the latter without a signature
 * (arch.h), so that they lead to their module and its CFI. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct native_unwinder *u = arg;
	uint64_t sp = u->ev->sp, word;

	if (addr < sp || addr - sp > u->stack_len || u->stack_len - (addr - sp) < sizeof(*result))
		return false;
	memcpy(&word, u->ev->stack + (addr - sp), sizeof(word));
	*result = arch_unsigned_word(word);
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct native_unwinder *u = arg;

	return arch_dwfl_set_registers(thread, u->ev);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct native_unwinder *native_unwinder_new(pid_t pid)
{
	struct native_unwinder *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return NULL;
	u->pid = pid;
	u->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!u->dwfl) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	err = report_modules(u);
	if (err) {
		native_unwinder_free(u);
		errno = -err;
		return NULL;
	}
	u->next_refresh = monotonic_s() + REFRESH_EVERY_S;
	/* libdwfl takes the machine from the modules' ELF headers. */
	u->attached = dwfl_attach_state(u->dwfl, NULL, pid, &thread_callbacks, u);
	return u;
}

void native_unwinder_free(struct native_unwinder *u)
{
	if (!u)
		return;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	for (size_t i = 0; i < u->nsources; i++) {
		free(u->sources[i]->path);
		free(u->sources[i]);
	}
	free(u->sources);
	free(u->vdso);
	free(u);
}

Dwfl *native_unwinder_dwfl(struct native_unwinder *u)
{
	return u->dwfl;
}

int native_unwinder_refresh(struct native_unwinder *u)
{
	double now = monotonic_s();
	size_t before = u->nsources;

	if (now < u->next_refresh)
		return 0;
	u->next_refresh = now + REFRESH_EVERY_S;
	if (report_modules(u))
		return 0;
	if (!u->attached)
		u->attached = dwfl_attach_state(u->dwfl, NULL, u->pid, &thread_callbacks, u);
	if (u->nsources == before)
		return 0;
	u->generation++;
	return 1;
}

uint64_t native_unwinder_generation(const struct native_unwinder *u)
{
	return u->generation;
}

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct native_unwinder *u = arg;
	Dwarf_Addr pc;
	Dwarf_Word sp;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation) || !pc)
		return DWARF_CB_ABORT;
	u->sps[u->npcs] = dwfl_frame_reg(state, arch_dwarf_sp, &sp) == 0 ? sp : 0;
	u->pcs[u->npcs++] = activation ? pc : pc - 1;
	return u->npcs < u->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

size_t native_unwind(struct native_unwinder *u, const struct native_stack_event *ev, size_t size,
		     uint64_t *pcs, uint64_t *sps, size_t max)
{
	size_t head = offsetof(struct native_stack_event, stack);
	double t0 = monotonic_s();

	if (size < head || ev->stack_len > REFBPF_NATIVE_STACK_BYTES ||
	    ev->stack_len > size - head || !max || !ev->pc)
		return 0;
	pcs[0] = ev->pc;
	sps[0] = ev->sp;
	if (!dwfl_addrmodule(u->dwfl, ev->pc))
		native_unwinder_refresh(u);
	if (!u->attached)
		return 1;
	u->ev = ev;
	u->stack_len = ev->stack_len;
	u->pcs = pcs;
	u->sps = sps;
	u->npcs = 0;
	u->max = max;
	/* Ends with an error at the outermost frame or the copy's end:
	 * the frames found until then are the answer. */
	dwfl_getthread_frames(u->dwfl, (pid_t)ev->tid, on_frame, u);
	u->ev = NULL;
	if (!u->npcs)
		u->npcs = 1;
	/* A return address in no module: a library loaded since. */
	else if (u->npcs < max && !dwfl_addrmodule(u->dwfl, pcs[u->npcs - 1]))
		native_unwinder_refresh(u);
	u->stacks++;
	u->bytes += ev->stack_len;
	u->ns += (uint64_t)((monotonic_s() - t0) * 1e9);
	return u->npcs;
}

void native_unwinder_stats(const struct native_unwinder *u, uint64_t *stacks, uint64_t *ns,
			   uint64_t *bytes)
{
	*stacks = u->stacks;
	*ns = u->ns;
	*bytes = u->bytes;
}
