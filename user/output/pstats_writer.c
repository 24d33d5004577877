// SPDX-License-Identifier: BSD-2-Clause
/* The convention for each value is in pstats_writer.h. */
#include "output/pstats_writer.h"

#include <errno.h>
#include <stdio.h>

#include "base/atomic_file.h"
#include "profile/callgraph.h"
#include "output/encode/marshal.h"

static int64_t as_int(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void put_key(struct marshal_buf *b, const struct cg_func *f)
{
	marshal_tuple(b, 3);
	marshal_str(b, f->filename);
	marshal_int(b, f->firstlineno);
	marshal_str(b, f->name);
}

static void put_callers(struct marshal_buf *b, const struct callgraph *cg,
			const struct cg_func *f, double period)
{
	marshal_dict_begin(b);
	for (size_t i = f->callers; i < f->callers + f->ncallers; i++) {
		const struct cg_edge *e = &cg->edges[i];

		put_key(b, &cg->funcs[e->caller]);
		/* (nc, cc, tt, ct): nc first here, unlike the outer tuple */
		marshal_tuple(b, 4);
		marshal_int(b, as_int(e->samples));
		marshal_int(b, as_int(e->samples));
		marshal_float(b, (double)e->self * period);
		marshal_float(b, (double)e->samples * period);
	}
	marshal_dict_end(b);
}

static int encode(struct marshal_buf *b, const struct callgraph *cg, double period)
{
	marshal_dict_begin(b);
	for (size_t i = 0; i < cg->nfuncs; i++) {
		const struct cg_func *f = &cg->funcs[i];

		put_key(b, f);
		/* (cc, nc, tt, ct, callers) */
		marshal_tuple(b, 5);
		marshal_int(b, as_int(f->cum));
		marshal_int(b, as_int(f->cum));
		marshal_float(b, (double)f->self * period);
		marshal_float(b, (double)f->cum * period);
		put_callers(b, cg, f, period);
	}
	marshal_dict_end(b);
	return marshal_error(b);
}

static int emit_marshal(FILE *f, void *ctx)
{
	const struct marshal_buf *b = ctx;

	return fwrite(b->data, 1, b->len, f) == b->len ? 0 : errno ? -errno : -EIO;
}

int pstats_write(const char *path, const struct profile *p)
{
	struct callgraph *cg = callgraph_build(p);
	struct marshal_buf b;
	int err;

	marshal_init(&b);
	if (!cg) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = encode(&b, cg, profile_period(p));
	if (!err)
		err = atomic_write(path, emit_marshal, &b);
cleanup:
	marshal_release(&b);
	callgraph_free(cg);
	return err;
}
