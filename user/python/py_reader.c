// SPDX-License-Identifier: BSD-2-Clause
#include "python/py_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/proc.h"
#include "python/py_objects.h"

/* Longest tuple read (co_varnames and the like are far shorter). */
#define READER_TUPLE_MAX 65536
/* Bytes read at once from a str: its header, and the text of most names. */
#define READER_STR_CHUNK 256

static int read_pid(void *ctx, uint64_t addr, void *dst, size_t len)
{
	return proc_read(*(pid_t *)ctx, addr, dst, len);
}

void py_reader_init_pid(struct py_reader *r, pid_t *pid, const struct py_code_layout *code,
			const struct py_object_layout *obj, const struct py_types *types)
{
	memset(r, 0, sizeof(*r));
	r->read = read_pid;
	r->ctx = pid;
	r->code = code;
	r->obj = obj;
	r->types = types;
}

bool py_reader_usable(const struct py_reader *r)
{
	return r->obj && r->obj->version_hex && r->code && r->types && r->types->str &&
	       r->types->dict && r->types->int_;
}

int py_read(struct py_reader *r, uint64_t addr, void *dst, size_t len)
{
	/* NULL and addresses that wrap are never objects */
	if (addr < 4096 || addr + len < addr)
		return -EFAULT;
	r->reads++;
	return r->read(r->ctx, addr, dst, len);
}

int py_read_ptr(struct py_reader *r, uint64_t addr, uint64_t *out)
{
	return py_read(r, addr, out, sizeof(*out));
}

int py_type_of(struct py_reader *r, uint64_t obj, uint64_t *type)
{
	return py_read_ptr(r, obj + r->obj->ob_type, type);
}

static uint64_t field(const uint8_t *buf, size_t have, size_t at, size_t size)
{
	uint64_t v = 0;

	if (at + size <= have)
		memcpy(&v, buf + at, size);
	return v;
}

/* The header of a compact str: its length, kind, and where its text is. */
struct str_head {
	int64_t length;
	unsigned int kind;
	size_t data_at;
};

static int str_head(const struct py_code_layout *c, const uint8_t *buf, size_t have,
		    uint64_t type, const struct py_types *t, struct str_head *h)
{
	uint32_t state;

	if (type != t->str || (size_t)c->unicode_state + 4 > have ||
	    (size_t)c->unicode_length + 8 > have)
		return -EINVAL;
	state = (uint32_t)field(buf, have, c->unicode_state, 4);
	h->length = (int64_t)field(buf, have, c->unicode_length, 8);
	h->kind = PY_STR_STATE_KIND(state, c->unicode_kind_bit);
	/* legacy strings keep their text elsewhere: not read */
	if (h->length < 0 || !PY_STR_STATE_COMPACT(state, c->unicode_kind_bit) ||
	    (h->kind != 1 && h->kind != 2 && h->kind != 4) ||
	    (PY_STR_STATE_ASCII(state, c->unicode_kind_bit) && h->kind != 1))
		return -EINVAL;
	h->data_at = PY_STR_STATE_ASCII(state, c->unicode_kind_bit) ? c->unicode_ascii_size :
								     c->unicode_compact_size;
	return 0;
}

int py_str_read(struct py_reader *r, uint64_t addr, size_t max_chars, char **out, bool *cut)
{
	size_t len;

	return py_str_read_len(r, addr, max_chars, out, &len, cut);
}

int py_str_read_len(struct py_reader *r, uint64_t addr, size_t max_chars, char **out,
		    size_t *len, bool *cut)
{
	const struct py_code_layout *c = r->code;
	size_t head = c->unicode_ascii_size, n;
	uint8_t buf[READER_STR_CHUNK], *data;
	struct str_head h;
	uint64_t type;
	int err;

	*out = NULL;
	*cut = false;
	if (head < (size_t)r->obj->ob_type + 8 || head > sizeof(buf) ||
	    c->unicode_compact_size > sizeof(buf) || c->unicode_compact_size < head)
		return -EINVAL;
	err = py_read(r, addr, buf, head);
	if (err)
		return err;
	type = field(buf, head, r->obj->ob_type, 8);
	err = str_head(c, buf, head, type, r->types, &h);
	if (err)
		return err;
	if (max_chars > PY_READER_STR_MAX)
		max_chars = PY_READER_STR_MAX;
	n = (size_t)h.length;
	if (n > max_chars) {
		n = max_chars;
		*cut = true;
	}
	data = malloc(n * h.kind + 1);
	if (!data)
		return -ENOMEM;
	err = n ? py_read(r, addr + h.data_at, data, n * h.kind) : 0;
	if (!err) {
		*out = py_str_to_utf8_len(data, n, h.kind, len);
		err = *out ? 0 : -ENOMEM;
	}
	free(data);
	return err;
}

bool py_str_equals(struct py_reader *r, uint64_t addr, const char *name)
{
	const struct py_code_layout *c = r->code;
	size_t len = strlen(name), need = (size_t)c->unicode_ascii_size + len;
	uint8_t buf[READER_STR_CHUNK];
	struct str_head h;

	/* an ASCII name equals only a compact ASCII str of its length, whose
	 * text follows the header: header and text in one read */
	if (need > sizeof(buf) || py_read(r, addr, buf, need))
		return false;
	if (str_head(c, buf, need, field(buf, need, r->obj->ob_type, 8), r->types, &h) ||
	    h.kind != 1 || h.data_at != c->unicode_ascii_size || h.length != (int64_t)len)
		return false;
	return !memcmp(buf + h.data_at, name, len);
}

int py_tuple_items(struct py_reader *r, uint64_t tuple, size_t max, uint64_t **items, size_t *n)
{
	const struct py_object_layout *o = r->obj;
	uint64_t type = 0;
	int64_t size = 0;
	int err;

	*items = NULL;
	*n = 0;
	err = py_type_of(r, tuple, &type);
	if (err)
		return err;
	if (type != r->types->tuple)
		return -EINVAL;
	err = py_read(r, tuple + o->var_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || size > READER_TUPLE_MAX)
		return -EINVAL;
	if ((size_t)size > max)
		size = (int64_t)max;
	*items = calloc(size ? (size_t)size : 1, sizeof(**items));
	if (!*items)
		return -ENOMEM;
	err = size ? py_read(r, tuple + o->tuple_items, *items, (size_t)size * sizeof(**items)) : 0;
	if (err) {
		free(*items);
		*items = NULL;
		return err;
	}
	*n = (size_t)size;
	return 0;
}
