// SPDX-License-Identifier: BSD-2-Clause
#include "python/tstate_walk.h"

#include <errno.h>
#include <string.h>

#include "base/proc.h"

static int read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return addr && !proc_read(pid, addr, v, sizeof(*v)) ? 0 : -EFAULT;
}

static int unreadable(struct tstate_walk_result *res, const char *what)
{
	res->unreadable = what;
	return -EFAULT;
}

int tstate_walk(pid_t pid, const struct py_layout *l, tstate_visit_fn fn, void *arg,
		struct tstate_walk_result *res)
{
	struct tstate_visit v = { 0 };
	uint64_t next_interp = 0;

	memset(res, 0, sizeof(*res));
	if (read_u64(pid, l->runtime_addr + l->runtime_interpreters_head, &v.interp))
		return unreadable(res, "_PyRuntime is unreadable");
	for (; v.interp && res->interpreters < TSTATE_WALK_MAX_INTERPRETERS; v.interp = next_interp) {
		v.interp_index = res->interpreters++;
		if (read_u64(pid, v.interp + l->interp_threads_head, &v.tstate) ||
		    read_u64(pid, v.interp + l->interp_next, &next_interp))
			return unreadable(res, "an interpreter state is unreadable");
		while (v.tstate && res->threads < TSTATE_WALK_MAX_THREADS) {
			uint64_t following;
			int stop;

			res->threads++;
			/* the next pointer first: the visitor may take its time */
			if (read_u64(pid, v.tstate + l->tstate_next, &following))
				return unreadable(res, "a thread state is unreadable");
			stop = fn(&v, arg);
			if (stop)
				return stop;
			v.tstate = following;
		}
	}
	return 0;
}
