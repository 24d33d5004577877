// SPDX-License-Identifier: BSD-2-Clause
/*
 * thread_names_probe PID: discover a live Python process as refbpf does and
 * print the Python thread names read from its memory, "IDENT NAME" a line
 * (IDENT in decimal, as threading.get_ident() gives it), then
 * "reads=N" (memory reads the read took). Exits 1 when discovery fails,
 * 2 when the names cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>

#include "python/interp_files.h"
#include "python/py_process.h"
#include "python/py_thread_names.h"

int main(int argc, char **argv)
{
	struct py_thread_names tn = { 0 };
	struct py_process p;
	struct py_reader r;
	char why[512];
	struct interp_files *files;
	pid_t pid;
	int err, status;

	if (argc != 2) {
		fputs("usage: thread_names_probe PID\n", stderr);
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	files = interp_files_new();
	if (!files)
		return 2;
	status = py_process_discover(files, pid, 5.0, &p, why, sizeof(why));
	interp_files_free(files);
	if (status != PY_OK) {
		fprintf(stderr, "thread_names_probe: %s\n", why);
		return 1;
	}
	py_reader_init_pid(&r, &pid, &p.layout.code, &p.objects, &p.types);
	err = py_thread_names_read(&tn, &r, &p.layout.walk);
	if (err) {
		fprintf(stderr, "thread_names_probe: cannot read thread names: %d\n", err);
		return 2;
	}
	for (size_t i = 0; i < tn.n; i++)
		printf("%llu %s\n", (unsigned long long)tn.names[i].ident, tn.names[i].name);
	printf("reads=%u\n", tn.reads);
	py_thread_names_free(&tn);
	py_process_free(&p);
	return 0;
}
