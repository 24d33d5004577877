// SPDX-License-Identifier: BSD-2-Clause
#include "native/native_stacks.h"

#include <errno.h>
#include <stdlib.h>

#include "base/clock.h"

struct native_stacks {
	struct native_unwinder *unwinder;	/* NULL: the maps were unreadable */
	struct native_symbols *symbols;
	uint64_t symbolize_ns;
	uint64_t generation;	/* the unwinder's, when the cache was filled */
	uint64_t pcs[NATIVE_MAX_FRAMES];
	uint64_t sps[NATIVE_MAX_FRAMES];
};

struct native_stacks *native_stacks_new(pid_t pid, struct profile *prof)
{
	struct native_stacks *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return NULL;
	ns->symbols = native_symbols_new(prof);
	if (!ns->symbols) {
		free(ns);
		return NULL;
	}
	/* A process whose maps cannot be read keeps its Python frames. */
	ns->unwinder = native_unwinder_new(pid);
	return ns;
}

void native_stacks_free(struct native_stacks *ns)
{
	if (!ns)
		return;
	native_unwinder_free(ns->unwinder);
	native_symbols_free(ns->symbols);
	free(ns);
}

/*
 * 3.12+: does frame i's part of the stack, [sps[i], sps[i + 1]), hold one
 * of the C-stack shim frames BPF found? Then it is an activation of the
 * eval loop, whatever its symbol says (or fails to).
 */
static bool holds_shim(const struct native_stack_event *ev, const uint64_t *sps, size_t n,
		       size_t i)
{
	uint64_t lo = sps[i], hi = i + 1 < n ? sps[i + 1] : ev->sp + ev->stack_len;
	uint32_t nshims = ev->nshims < REFBPF_NATIVE_MAX_SHIMS ? ev->nshims : REFBPF_NATIVE_MAX_SHIMS;

	if (!lo || hi <= lo)
		return false;
	for (uint32_t k = 0; k < nshims; k++)
		if (ev->shims[k] >= lo && ev->shims[k] < hi)
			return true;
	return false;
}

int native_stacks_read(struct native_stacks *ns, const struct native_stack_event *ev, size_t size,
		       struct native_frame *out, size_t cap)
{
	size_t npcs, n = 0;
	double t0;

	if (!ns->unwinder)
		return 0;
	npcs = native_unwind(ns->unwinder, ev, size, ns->pcs, ns->sps, NATIVE_MAX_FRAMES);
	t0 = monotonic_s();
	/* An address no module covered may be in one now. */
	if (native_unwinder_generation(ns->unwinder) != ns->generation) {
		ns->generation = native_unwinder_generation(ns->unwinder);
		native_symbols_clear(ns->symbols);
	}
	for (size_t i = 0; i < npcs && n < cap; i++) {
		struct native_site site;
		int err = native_symbols_resolve(ns->symbols, native_unwinder_dwfl(ns->unwinder),
						 ns->pcs[i], &site);

		if (err)
			return err;
		if (site.eval_loop || holds_shim(ev, ns->sps, npcs, i)) {
			out[n++] = (struct native_frame){ .eval_loop = true };
			continue;
		}
		for (uint32_t k = 0; k < site.nframes && n < cap; k++)
			out[n++] = (struct native_frame){ .frame = site.frames[k] };
	}
	ns->symbolize_ns += (uint64_t)((monotonic_s() - t0) * 1e9);
	return (int)n;
}

void native_stacks_stats(const struct native_stacks *ns, struct native_costs *c)
{
	uint64_t stacks = 0, unwind_ns = 0, bytes = 0, lookup_ns = 0;

	if (ns->unwinder)
		native_unwinder_stats(ns->unwinder, &stacks, &unwind_ns, &bytes);
	c->stacks += stacks;
	c->unwind_ns += unwind_ns;
	c->stack_bytes += bytes;
	c->symbolize_ns += ns->symbolize_ns;
	c->addresses += native_symbols_described(ns->symbols, &lookup_ns);
	c->lookup_ns += lookup_ns;
}
