// SPDX-License-Identifier: BSD-2-Clause
/*
 * user/off_cpu.c from the command line, for tests/test_wall.py:
 *   off_cpu_check PERIOD_NS < SCRIPT
 * One event per line:
 *   leave TID T_NS NFRAMES        switch-out (NFRAMES 0: stack unreadable)
 *   leave_read TID T_NS READ_NS   switch-out, stack read from memory at READ_NS
 *   return TID T_NS               switch-in
 *   flush T_NS                    end of a window
 * Prints "add TID COUNT" for every interval counted, then
 * "unattributed NS".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "off_cpu.h"

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
	unsigned long long a, b, c;
	int err = 0;

	if (argc != 2 || !(oc = off_cpu_new(strtoull(argv[1], NULL, 10), print_add, NULL))) {
		fputs("usage: off_cpu_check PERIOD_NS < SCRIPT\n", stderr);
		return 2;
	}
	while (!err && fgets(line, sizeof(line), stdin)) {
		int n = sscanf(line, "%31s %llu %llu %llu", op, &a, &b, &c);

		if (n == 4 && !strcmp(op, "leave"))
			err = off_cpu_leave(oc, 1, (uint32_t)a, NULL, b, 0, stack, c ? 1 : 0);
		else if (n == 4 && !strcmp(op, "leave_read"))
			err = off_cpu_leave_read_later(oc, 1, (uint32_t)a, NULL, b, 0, stack, 1, c);
		else if (n == 3 && !strcmp(op, "return"))
			err = off_cpu_return(oc, (uint32_t)a, b);
		else if (n == 2 && !strcmp(op, "flush"))
			err = off_cpu_flush(oc, a);
		else if (n > 0) {
			fprintf(stderr, "off_cpu_check: bad line: %s", line);
			err = 2;
		}
	}
	printf("unattributed %llu\n", (unsigned long long)off_cpu_unattributed_ns(oc));
	off_cpu_free(oc);
	return err ? 1 : 0;
}
