// SPDX-License-Identifier: BSD-2-Clause
/*
 * layout_probe: discover a live Python process as refbpf does, then check
 * its layout, optionally with one walker offset moved, so tests can show
 * that validation accepts the true layout and refuses wrong ones.
 *
 *   layout_probe PID [FIELD DELTA]
 *   layout_probe --plant PID FIELD DELTA
 *   layout_probe --code-counter PID
 *
 * FIELD is one of the walk offsets named below; DELTA is added to it.
 * Prints "source=... result=ok|not_ready|mismatch|gone [detail]" and exits
 * 0, or 1 when discovery itself failed. --plant instead stores the moved
 * layout in the layout store ($REFBPF_CACHE_DIR) under the interpreter's
 * build-id, as a damaged store would hold it. --code-counter prints where
 * the code counter BPF trusts code objects by is (code_gen=0: none).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/interp_files.h"
#include "python/layout_check.h"
#include "python/layout/layout_store.h"
#include "python/py_process.h"

static uint16_t *walk_field(struct py_layout *w, const char *name)
{
#define F(f)                         \
	if (!strcmp(name, #f))       \
		return &w->f;
	F(runtime_interpreters_head)
	F(interp_next)
	F(interp_threads_head)
	F(tstate_next)
	F(tstate_frame)
	F(cframe_current_frame)
	F(frame_code)
	F(frame_previous)
#undef F
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "ok", "not_ready", "mismatch", "gone" };
	struct interp_files *files;
	struct py_process p;
	char why[512] = "", detail[160] = "";
	int status;

	bool plant = argc == 5 && !strcmp(argv[1], "--plant");
	bool code_counter = argc == 3 && !strcmp(argv[1], "--code-counter");

	if (plant || code_counter) {
		argv++;
		argc--;
	}
	if (argc != 2 && argc != 4) {
		fputs("usage: layout_probe [--plant] PID [FIELD DELTA]\n", stderr);
		return 2;
	}
	files = interp_files_new();
	if (!files)
		return 2;
	status = py_process_discover(files, atoi(argv[1]), 5.0, &p, why, sizeof(why));
	interp_files_free(files);
	if (status != PY_OK) {
		fprintf(stderr, "layout_probe: %s\n", why);
		py_process_free(&p);
		return 1;
	}
	if (argc == 4) {
		uint16_t *f = walk_field(&p.layout.walk, argv[2]);

		if (!f) {
			fprintf(stderr, "layout_probe: unknown field %s\n", argv[2]);
			return 2;
		}
		*f = (uint16_t)(*f + atoi(argv[3]));
	}
	if (plant) {
		/* refbpf sets the process's addresses and read spans itself. */
		layout_store_save(p.build_id, p.major, p.minor, &p.layout);
		printf("planted %s-%d.%d\n", p.build_id, p.major, p.minor);
		py_process_free(&p);
		return 0;
	}
	if (code_counter) {
		printf("code_gen=%#llx interp=%#llx on_free=%d\n",
		       (unsigned long long)p.layout.walk.code_gen_addr,
		       (unsigned long long)p.layout.walk.code_gen_interp,
		       !!(p.layout.walk.flags & LAYOUT_CODE_GEN_ON_FREE));
		py_process_free(&p);
		return 0;
	}
	status = layout_check(p.pid, &p.layout, p.code_type_addr, detail, sizeof(detail));
	printf("source=%s result=%s %s\n", p.layout_source, names[status], detail);
	py_process_free(&p);
	return 0;
}
