// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: the readers of a target's objects (thread names, dump
 * --locals) over a made-up address space. Input: a 16-byte header, then
 * an image of memory mapped at FUZZ_BASE; reads outside it fail, as reads
 * of unmapped target memory do.
 *
 *   byte 0     which object layout (the built-in tables, in order)
 *   byte 1     what to read (enum op)
 *   bytes 2-9  two object addresses, as offsets into the image (u32 LE)
 *   bytes 10-15 unused
 *
 * The type objects and singletons the readers compare ob_type with sit at
 * fixed offsets of the image (tests/fuzz/make_seeds.py builds seeds the
 * same way).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "python/py_dict.h"
#include "python/layout/py_layout.h"
#include "python/py_locals.h"
#include "python/layout/py_object_layout.h"
#include "python/layout/versions.h"
#include "python/py_reader.h"
#include "python/py_thread_names.h"
#include "python/py_values.h"

#define FUZZ_BASE 0x10000ull
#define FUZZ_HEADER 16
/* where the image keeps its type objects and singletons */
#define TYPE_AT(i) (FUZZ_BASE + 0x200ull * (uint64_t)(i))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum op {
	OP_DESCRIBE,
	OP_DICT,
	OP_INSTANCE,
	OP_LOCALS,
	OP_THREAD_NAMES,
	OP_TUPLE,
	OP_NR,
};

struct image {
	const uint8_t *bytes;
	size_t len;
};

static int image_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
	const struct image *im = ctx;

	if (addr < FUZZ_BASE || addr - FUZZ_BASE > im->len || len > im->len - (addr - FUZZ_BASE))
		return -EFAULT;
	memcpy(dst, im->bytes + (addr - FUZZ_BASE), len);
	return 0;
}

static const struct py_object_layout *layout_at(unsigned int i)
{
	static const struct {
		int minor;
		bool ft;
	} versions[] = { { 8, false },	{ 9, false },  { 10, false }, { 11, false }, { 12, false },
			 { 13, false }, { 13, true },  { 14, false }, { 14, true },
			 { 15, false }, { 15, true } };

	i %= sizeof(versions) / sizeof(versions[0]);
	return py_object_layout_builtin(3, versions[i].minor, versions[i].ft);
}

/* str and bytes objects (py_layout_tables.c for 3.8-3.12; 3.13+ as their
 * _Py_DebugOffsets say, the header 16 bytes longer when free-threaded). */
static void code_layout(const struct py_object_layout *o, struct py_code_layout *c)
{
	struct py_version_layout v;
	uint16_t head = o->free_threaded ? 16 : 0;
	int minor = (int)(o->version_hex >> 16 & 0xff);

	if (!py_layout_builtin(3, minor, &v)) {
		*c = v.code;
		return;
	}
	/* what the version implies (where a str's kind lies) */
	memset(&v, 0, sizeof(v));
	py_version_apply(&v, 3, minor, o->free_threaded);
	*c = v.code;
	c->ob_type = o->ob_type;
	c->bytes_size = 16 + head;
	c->bytes_sval = 32 + head;
	c->unicode_length = 16 + head;
	c->unicode_state = 32 + head;
	c->unicode_ascii_size = 40 + head;
	c->unicode_compact_size = 56 + head;
}

/* Enough of a walk layout for thread names and locals. */
static void walk_layout(const struct py_object_layout *o, uint64_t runtime, struct py_layout *w)
{
	struct py_version_layout v;

	memset(w, 0, sizeof(*w));
	if (!py_layout_builtin(3, (int)(o->version_hex >> 16 & 0xff), &v)) {
		*w = v.walk;
	} else {
		w->runtime_interpreters_head = 40;
		w->interp_next = 64;
		w->frame_code = 0;
		w->code_tag_mask = o->stackref_locals ? 7 : 0;
	}
	w->runtime_addr = runtime;
}

static int visit(void *ctx, struct py_reader *r, uint64_t key, uint64_t value)
{
	struct py_value v;
	char *text;
	bool cut;

	(void)ctx;
	if (!py_str_read(r, key, 64, &text, &cut))
		free(text);
	py_value_describe(r, value, &v);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct py_object_layout *o;
	struct py_code_layout c;
	struct py_types t;
	struct py_reader r;
	struct image im;
	uint32_t a, b;
	uint64_t value;

	if (size < FUZZ_HEADER)
		return 0;
	o = layout_at(data[0]);
	if (!o)
		return 0;
	code_layout(o, &c);
	im = (struct image){ .bytes = data + FUZZ_HEADER, .len = size - FUZZ_HEADER };
	memcpy(&a, data + 2, 4);
	memcpy(&b, data + 6, 4);
	t = (struct py_types){ .str = TYPE_AT(1), .int_ = TYPE_AT(2), .float_ = TYPE_AT(3),
			       .bool_ = TYPE_AT(4), .bytes = TYPE_AT(5), .tuple = TYPE_AT(6),
			       .dict = TYPE_AT(7), .module = TYPE_AT(8), .cell = TYPE_AT(9),
			       .none = TYPE_AT(10), .true_ = TYPE_AT(10) + 0x40,
			       .false_ = TYPE_AT(10) + 0x80 };
	memset(&r, 0, sizeof(r));
	r.read = image_read;
	r.ctx = &im;
	r.code = &c;
	r.obj = o;
	r.types = &t;

	switch (data[1] % OP_NR) {
	case OP_DESCRIBE: {
		struct py_value v;

		py_value_describe(&r, FUZZ_BASE + a, &v);
		if (strlen(v.repr) >= sizeof(v.repr) || strlen(v.type) >= sizeof(v.type))
			__builtin_trap();
		break;
	}
	case OP_DICT:
		py_dict_foreach(&r, FUZZ_BASE + a, visit, NULL);
		py_dict_get(&r, FUZZ_BASE + a, "threading", &value);
		break;
	case OP_INSTANCE:
		py_instance_get(&r, FUZZ_BASE + a, "_name", &value);
		break;
	case OP_LOCALS: {
		struct py_frame_locals l;
		struct py_layout w;

		walk_layout(o, 0, &w);
		if (!py_locals_read(&r, &w, FUZZ_BASE + a, FUZZ_BASE + b, &l)) {
			if (l.n > PY_LOCALS_MAX)
				__builtin_trap();
			py_locals_free(&l);
		}
		break;
	}
	case OP_THREAD_NAMES: {
		struct py_thread_names tn = { 0 };
		struct py_layout w;

		walk_layout(o, FUZZ_BASE + a, &w);
		py_thread_names_read(&tn, &r, &w);
		for (size_t i = 0; i < tn.n; i++)
			if (strlen(tn.names[i].name) >= PY_THREAD_NAME_MAX)
				__builtin_trap();
		py_thread_names_free(&tn);
		break;
	}
	case OP_TUPLE: {
		uint64_t *items;
		size_t n;

		if (!py_tuple_items(&r, FUZZ_BASE + a, 1024, &items, &n))
			free(items);
		break;
	}
	}
	return 0;
}
