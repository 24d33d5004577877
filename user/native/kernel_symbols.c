// SPDX-License-Identifier: BSD-2-Clause
#include "native/kernel_symbols.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

struct ksym {
	uint64_t addr;
	uint32_t name;		/* offset into names */
};

struct kernel_symbols {
	struct ksym *syms;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint64_t sched_start, sched_end;	/* __sched_text_start, _end */
};

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return (x->addr > y->addr) - (x->addr < y->addr);
}

static int add(struct kernel_symbols *k, uint64_t addr, const char *name)
{
	size_t len = strlen(name) + 1;

	if (GROW(k->syms, k->cap, k->n, 65536))
		return -ENOMEM;
	if (k->names_len + len > UINT32_MAX ||
	    GROW_ROOM(k->names, k->names_cap, k->names_len, len, 1 << 20))
		return -ENOMEM;
	memcpy(k->names + k->names_len, name, len);
	k->syms[k->n++] = (struct ksym){ .addr = addr, .name = (uint32_t)k->names_len };
	k->names_len += len;
	return 0;
}

struct kernel_symbols *kernel_symbols_load(const char *path)
{
	struct kernel_symbols *k = calloc(1, sizeof(*k));
	FILE *f = fopen(path ? path : "/proc/kallsyms", "re");
	char line[512];
	int err = 0;

	if (!k || !f) {
		err = errno ? errno : ENOMEM;
		goto fail;
	}
	/* "ffffffff81000000 T _stext [module]": text symbols only */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !addr)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (!strcmp(name, "__sched_text_start"))
			k->sched_start = addr;
		else if (!strcmp(name, "__sched_text_end"))
			k->sched_end = addr;
		if (add(k, addr, name)) {
			err = ENOMEM;
			goto fail;
		}
	}
	fclose(f);
	qsort(k->syms, k->n, sizeof(*k->syms), cmp_ksym);
	return k;
fail:
	if (f)
		fclose(f);
	kernel_symbols_free(k);
	errno = err;
	return NULL;
}

void kernel_symbols_free(struct kernel_symbols *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->names);
	free(k);
}

const char *kernel_symbols_find(const struct kernel_symbols *k, uint64_t addr)
{
	size_t lo = 0, hi = k ? k->n : 0;

	/* the last symbol starting at or below addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? k->names + k->syms[lo - 1].name : NULL;
}

bool kernel_symbols_in_scheduler(const struct kernel_symbols *k, uint64_t addr)
{
	return k && k->sched_start < k->sched_end && addr >= k->sched_start && addr < k->sched_end;
}

size_t kernel_symbols_count(const struct kernel_symbols *k)
{
	return k ? k->n : 0;
}
