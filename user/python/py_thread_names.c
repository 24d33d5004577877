// SPDX-License-Identifier: BSD-2-Clause
#include "python/py_thread_names.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "python/py_dict.h"
#include "profile/thread_label.h"
#include "python/py_values.h"

/* Threads named per read at most (a thread-per-request server's many). */
#define NAMES_MAX 65536

/* threading._active of one interpreter: sys.modules["threading"]._active. */
static int find_active(struct py_reader *r, uint64_t interp, uint64_t *active)
{
	uint64_t modules, threading, type, globals;
	int err;

	err = py_read_ptr(r, interp + r->obj->interp_modules, &modules);
	if (err)
		return err;
	if (!modules)
		return -ENOENT;	/* still starting */
	err = py_dict_get(r, modules, "threading", &threading);
	if (!err)
		err = py_type_of(r, threading, &type);
	if (!err && type != r->types->module)
		err = -ENOENT;	/* sys.modules["threading"] replaced by something else */
	if (!err)
		err = py_read_ptr(r, threading + r->obj->module_dict, &globals);
	if (!err)
		err = py_dict_get(r, globals, "_active", active);
	return err;
}

static int add_name(struct py_thread_names *tn, uint64_t ident, const char *name)
{
	if (tn->n >= NAMES_MAX)
		return 1;	/* enough: stop the walk */
	if (GROW(tn->names, tn->cap, tn->n, 16))
		return -ENOMEM;
	tn->names[tn->n].ident = ident;
	thread_name_copy(tn->names[tn->n].name, sizeof(tn->names[tn->n].name), name);
	tn->n++;
	return 0;
}

/* One item of _active: int ident -> Thread. */
static int visit_thread(void *ctx, struct py_reader *r, uint64_t key, uint64_t thread)
{
	struct py_thread_names *tn = ctx;
	uint64_t type, ident, name;
	bool negative, cut;
	char *text;
	int err;

	if (py_type_of(r, key, &type) || type != r->types->int_ ||
	    py_long_read(r, key, &negative, &ident) || negative)
		return 0;	/* not an ident: passed over */
	if (py_instance_get(r, thread, "_name", &name))
		return 0;
	/* checks that it is a str */
	if (py_str_read(r, name, PY_THREAD_NAME_MAX, &text, &cut))
		return 0;
	err = add_name(tn, ident, text);
	free(text);
	return err;
}

int py_thread_names_read(struct py_thread_names *tn, struct py_reader *r,
			 const struct py_layout *walk)
{
	unsigned int reads = r->reads;
	uint64_t interp = 0;
	int err = 0;

	tn->n = 0;
	if (!py_reader_usable(r))
		return -ENOTSUP;
	if (py_read_ptr(r, walk->runtime_addr + walk->runtime_interpreters_head, &interp))
		return -EFAULT;
	for (int i = 0; interp && i < PY_THREAD_NAMES_MAX_INTERPS && err >= 0; i++) {
		/* new interpreters go first in the list: is this still the one? */
		if (tn->interp[i] != interp) {
			tn->interp[i] = interp;
			tn->active[i] = 0;
		}
		if (!tn->active[i] && find_active(r, interp, &tn->active[i]))
			tn->active[i] = 0;
		if (tn->active[i]) {
			err = py_dict_foreach(r, tn->active[i], visit_thread, tn);
			/* no longer a dict: look it up again next time */
			if (err == -EINVAL)
				tn->active[i] = 0;
			if (err != -ENOMEM)
				err = 0;
		}
		if (py_read_ptr(r, interp + walk->interp_next, &interp))
			break;
	}
	tn->reads = r->reads - reads;
	return err < 0 ? err : 0;
}

const char *py_thread_names_find(const struct py_thread_names *tn, uint64_t ident)
{
	for (size_t i = 0; i < tn->n; i++)
		if (tn->names[i].ident == ident)
			return tn->names[i].name;
	return NULL;
}

void py_thread_names_free(struct py_thread_names *tn)
{
	free(tn->names);
	memset(tn, 0, sizeof(*tn));
}
