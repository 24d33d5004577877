// SPDX-License-Identifier: BSD-2-Clause
/*
 * Linked into the static build only (make static). libdw dlopens
 * libdebuginfod.so when a module has no local debug file, and a static
 * program must not load a shared object built for another glibc: it gets
 * NULL, as when the library is not installed. refbpf reads the debug
 * files it finds itself and fetches nothing.
 */
#include <stddef.h>

void *dlopen(const char *file, int mode);

void *dlopen(const char *file, int mode)
{
	(void)file;
	(void)mode;
	return NULL;
}
