// SPDX-License-Identifier: BSD-2-Clause
/*
 * user/record/off_cpu.c from the command line, for tests/test_wall.py:
 *   off_cpu_check PERIOD_NS < SCRIPT
 * One event per line:
 *   leave TID T_NS NFRAMES        switch-out (NFRAMES 0: stack unreadable)
 *   leave_run TID T_NS RUN_NS     switch-out with the thread's CPU time by then
 *   leave_read TID T_NS READ_NS [RUN_NS]  switch-out, stack read from memory at READ_NS
 *   return TID T_NS               switch-in
 *   flush T_NS                    end of a window
 * Prints "add TID COUNT" for every interval counted, then
 * "unattributed NS" and "unseen_returns N LOST".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/off_cpu.h"

static int print_add(void *ctx, uint32_t pid, uint32_t tid, uint32_t flags,
		     const struct pframe *frames, uint32_t nframes, uint64_t count,
		     const char *comm)
{
	(void)ctx, (void)pid, (void)flags, (void)frames;
	printf("add %u %llu (%u frames)\n", tid, (unsigned long long)count, nframes);
	return 0;
}

int main(int argc, char **argv)
{
	static struct pframe stack[1];
	struct off_cpu *oc;
	char line[256], op[32];
	unsigned long long a, b, c, d = 0;
	int err = 0;

	if (argc != 2 || !(oc = off_cpu_new(strtoull(argv[1], NULL, 10), print_add, NULL))) {
		fputs("usage: off_cpu_check PERIOD_NS < SCRIPT\n", stderr);
		return 2;
	}
	while (!err && fgets(line, sizeof(line), stdin)) {
		int n = sscanf(line, "%31s %llu %llu %llu %llu", op, &a, &b, &c, &d);

		struct off_cpu_leave l = { .pid = 1, .tid = (uint32_t)a, .t_ns = b,
					   .frames = stack, .nframes = 1 };

		if (n == 4 && !strcmp(op, "leave")) {
			l.nframes = c ? 1 : 0;
			err = off_cpu_leave(oc, &l);
		} else if (n == 4 && !strcmp(op, "leave_run")) {
			l.run_ns = c;
			err = off_cpu_leave(oc, &l);
		} else if (n >= 4 && !strcmp(op, "leave_read")) {
			l.read_ns = c;
			l.run_ns = n == 5 ? d : 0;
			err = off_cpu_leave(oc, &l);
		} else if (n == 3 && !strcmp(op, "return"))
			err = off_cpu_return(oc, (uint32_t)a, b);
		else if (n == 2 && !strcmp(op, "flush"))
			err = off_cpu_flush(oc, a);
		else if (n > 0) {
			fprintf(stderr, "off_cpu_check: bad line: %s", line);
			err = 2;
		}
	}
	printf("unattributed %llu\n", (unsigned long long)off_cpu_unattributed_ns(oc));
	printf("unseen_returns %llu %llu\n", (unsigned long long)off_cpu_unseen_returns(oc),
	       (unsigned long long)off_cpu_unseen_returns_lost(oc));
	off_cpu_free(oc);
	return err ? 1 : 0;
}
