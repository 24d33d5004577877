// SPDX-License-Identifier: BSD-2-Clause
/*
 * tlbc_probe: what a free-threaded 3.14+ process's memory says of one code
 * object's thread-local bytecode, read as refbpf reads it (discovery, the
 * thread-state walk, bpf/py_walk.h), so tests can check both against
 * each other.
 *
 *   tlbc_probe PID CODE
 *   tlbc_probe --self
 *
 * CODE is the code object's address (id(f.__code__)). Prints
 *   layout tlbc=0|1 main=ADDR units=N
 *   entry INDEX ADDR                       each copy in co_tlbc, 0 first
 *   frame thread=ID index=I instr=ADDR copy=ADDR in_copy=0|1 shared=ADDR
 * where `main` is co_code_adaptive, a frame is one running CODE in the
 * thread whose thread_id (threading.get_ident()) is ID, `copy` is
 * co_tlbc->entries[I], `in_copy` whether the frame's instruction lies in
 * that copy, and `shared` what py_walk_shared_instr() makes of it (the
 * address BPF records). Exits 1 when discovery or a read fails.
 *
 * --self checks py_walk_shared_instr() on a code object, co_tlbc array and
 * frame laid out in this process's own memory (read through /proc, as a
 * target's): prints "ok", or the case that went wrong and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "python/interp_files.h"
#include "python/py_process.h"
#include "python/target_walk.h"
#include "python/tstate_walk.h"

#define PROBE_MAX_ENTRIES 1024
#define PROBE_MAX_FRAMES 256

struct probe {
	pid_t pid;
	const struct py_version_layout *l;
	uint64_t code, array, units;
	int64_t size;
};

static int read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return proc_read(pid, addr, v, sizeof(*v));
}

static int print_frames(const struct tstate_visit *v, void *arg)
{
	struct probe *p = arg;
	const struct py_layout *w = &p->l->walk;
	uint8_t buf[REFBPF_READ_SPAN];
	uint64_t thread = 0, frame;

	if (read_u64(p->pid, v->tstate + w->tstate_thread_id, &thread))
		return -1;
	frame = py_walk_top_frame(&p->pid, w, v->tstate);
	for (int n = 0; frame && n < PROBE_MAX_FRAMES; n++) {
		struct py_walk_frame f;
		int32_t index;
		uint64_t copy = 0;

		memset(buf, 0, sizeof(buf));
		if (proc_read(p->pid, frame, buf, w->frame_span))
			return -1;
		py_walk_decode_frame(w, buf, &f);
		frame = f.previous;
		if (f.code != p->code)
			continue;
		memcpy(&index, buf + w->frame_tlbc_index, sizeof(index));
		if (index < 0 || index >= p->size ||
		    read_u64(p->pid, p->array + PY_WALK_TLBC_ENTRIES + 8 * (uint64_t)index, &copy))
			return -1;
		printf("frame thread=%#llx index=%d instr=%#llx copy=%#llx in_copy=%d shared=%#llx\n",
		       (unsigned long long)thread, index, (unsigned long long)f.instr,
		       (unsigned long long)copy,
		       copy && f.instr >= copy && f.instr < copy + 2 * p->units,
		       (unsigned long long)py_walk_shared_instr(&p->pid, w, buf, f.code, f.instr));
	}
	return 0;
}

/* What py_walk_shared_instr() makes of `instr` in a frame with `index`,
 * against `want`; 1 when it differs. */
static int self_case(const char *what, const struct py_layout *w, uint64_t code, int32_t index,
		     uint64_t instr, uint64_t want)
{
	pid_t pid = getpid();
	uint8_t frame[REFBPF_READ_SPAN] = { 0 };
	uint64_t got;

	memcpy(frame + w->frame_tlbc_index, &index, sizeof(index));
	got = py_walk_shared_instr(&pid, w, frame, code, instr);
	if (got == want)
		return 0;
	printf("%s: index %d, instruction %#llx: %#llx, not %#llx\n", what, index,
	       (unsigned long long)instr, (unsigned long long)got, (unsigned long long)want);
	return 1;
}

static int self_check(void)
{
	static uint8_t code[512], copy[256];
	static uint64_t array[4];
	struct py_layout w = { .flags = LAYOUT_TLBC, .frame_tlbc_index = 72, .code_tlbc = 200,
			       .code_adaptive = 256 };
	uint64_t c = (uint64_t)(uintptr_t)code, own = c + w.code_adaptive;
	uint64_t mine = (uint64_t)(uintptr_t)copy, at = (uint64_t)(uintptr_t)array;
	int bad = 0;

	/* co_tlbc: size 3; the code object's own, thread 1's copy, none */
	array[0] = 3;
	array[1] = own;
	array[2] = mine;
	array[3] = 0;
	memcpy(code + w.code_tlbc, &at, sizeof(at));
	bad |= self_case("the main copy", &w, c, 0, own + 10, own + 10);
	bad |= self_case("a thread's copy", &w, c, 1, mine + 10, own + 10);
	bad |= self_case("a thread's copy, its start", &w, c, 1, mine, own);
	bad |= self_case("a copy not there", &w, c, 2, mine + 10, 0);
	bad |= self_case("before the copy", &w, c, 1, mine - 2, 0);
	bad |= self_case("far past the copy", &w, c, 1, mine + PY_WALK_TLBC_MAX_OFFSET, 0);
	bad |= self_case("a negative index", &w, c, -1, mine + 10, 0);
	/* no co_tlbc */
	memset(code + w.code_tlbc, 0, sizeof(at));
	bad |= self_case("no co_tlbc", &w, c, 1, mine + 10, 0);
	/* any other layout: the instruction as it is, nothing read */
	w.flags = 0;
	w.code_tlbc = 0xfff8;
	bad |= self_case("no LAYOUT_TLBC", &w, c, 1, mine + 10, mine + 10);
	if (!bad)
		puts("ok");
	return bad;
}

int main(int argc, char **argv)
{
	struct interp_files *files;
	struct py_process proc;
	struct probe p = { 0 };
	struct tstate_walk_result walked;
	char why[512] = "";
	int status;

	if (argc == 2 && !strcmp(argv[1], "--self"))
		return self_check();
	if (argc != 3) {
		fputs("usage: tlbc_probe PID CODE | --self\n", stderr);
		return 2;
	}
	files = interp_files_new();
	if (!files)
		return 2;
	status = py_process_discover(files, atoi(argv[1]), 5.0, &proc, why, sizeof(why));
	interp_files_free(files);
	if (status != PY_OK) {
		fprintf(stderr, "tlbc_probe: %s\n", why);
		py_process_free(&proc);
		return 1;
	}
	p.pid = proc.pid;
	p.l = &proc.layout;
	p.code = strtoull(argv[2], NULL, 0);
	const struct py_layout *w = &p.l->walk;

	status = 1;
	if (read_u64(p.pid, p.code + p.l->code.bytes_size, &p.units)) {
		fprintf(stderr, "tlbc_probe: cannot read the code object\n");
		goto out;
	}
	printf("layout tlbc=%d main=%#llx units=%llu\n", !!(w->flags & LAYOUT_TLBC),
	       (unsigned long long)(p.code + p.l->code.code_adaptive), (unsigned long long)p.units);
	if (!(w->flags & LAYOUT_TLBC)) {
		status = 0;
		goto out;
	}
	if (read_u64(p.pid, p.code + w->code_tlbc, &p.array) ||
	    proc_read(p.pid, p.array, &p.size, sizeof(p.size)) || p.size <= 0 ||
	    p.size > PROBE_MAX_ENTRIES) {
		fprintf(stderr, "tlbc_probe: cannot read co_tlbc\n");
		goto out;
	}
	for (int64_t i = 0; i < p.size; i++) {
		uint64_t e;

		if (read_u64(p.pid, p.array + PY_WALK_TLBC_ENTRIES + 8 * (uint64_t)i, &e))
			goto out;
		if (e)
			printf("entry %lld %#llx\n", (long long)i, (unsigned long long)e);
	}
	if (tstate_walk(p.pid, w, print_frames, &p, &walked)) {
		fprintf(stderr, "tlbc_probe: the threads could not be read\n");
		goto out;
	}
	status = 0;
out:
	py_process_free(&proc);
	return status;
}
