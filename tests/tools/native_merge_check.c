// SPDX-License-Identifier: BSD-2-Clause
/*
 * native_merge() from the command line, for tests/test_native_merge.py:
 *   native_merge_check CAP PY... -- NATIVE...
 * Python frames innermost first, NAME* for an activation's entry frame;
 * native frames innermost first, @ for an eval-loop activation. Prints the
 * merged stack root first, ';'-joined, and "truncated" when cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/native_merge.h"

#define MAX 256

int main(int argc, char **argv)
{
	static struct python_frame py[MAX];
	static struct native_frame native[MAX];
	static struct pframe out[MAX];
	static char names[2 * MAX][64];
	size_t npy = 0, nnative = 0, nnames = 0, cap;
	bool in_native = false, truncated;
	int i;

	if (argc < 2 || (cap = strtoul(argv[1], NULL, 10)) > MAX) {
		fputs("usage: native_merge_check CAP PY... -- NATIVE...\n", stderr);
		return 2;
	}
	for (i = 2; i < argc && nnames < 2 * MAX && npy < MAX && nnative < MAX; i++) {
		const char *a = argv[i];
		size_t len = strlen(a);

		if (!strcmp(a, "--")) {
			in_native = true;
			continue;
		}
		if (in_native && !strcmp(a, "@")) {
			native[nnative++] = (struct native_frame){ .eval_loop = true };
			continue;
		}
		bool entry = !in_native && len && a[len - 1] == '*';

		snprintf(names[nnames], sizeof(names[nnames]), "%.*s", (int)(len - entry), a);
		struct pframe f = { .func = (uint32_t)nnames++, .line = -1 };

		if (in_native)
			native[nnative++] = (struct native_frame){ .frame = f };
		else
			py[npy++] = (struct python_frame){ .frame = f, .entry = entry };
	}
	size_t n = native_merge(py, npy, native, nnative, out, cap, &truncated);

	for (size_t k = 0; k < n; k++)
		printf("%s%s", k ? ";" : "", names[out[k].func]);
	printf("%s\n", truncated ? " truncated" : "");
	return 0;
}
