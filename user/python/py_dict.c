// SPDX-License-Identifier: BSD-2-Clause
/*
 * A dict is read as a "keys view" (where its entries are, how many, how
 * big each is) plus, for a split table, the array its values live in; a
 * class's shared keys with an instance's values are read the same way.
 * Entries are read in batches; deleted ones (NULL key or value) skipped.
 */
#include "python/py_dict.h"

#include <errno.h>
#include <string.h>

/* Entries (and values) read at once. */
#define DICT_BATCH 64
/* The largest table a dict may have: 2^30 slots. */
#define DICT_MAX_LOG2_SIZE 30

struct keys_view {
	uint64_t entries;	/* the first entry */
	size_t n;		/* entries in use, capped */
	size_t entry_size;	/* bytes per entry */
	size_t key_at;		/* key's offset in an entry */
	size_t value_at;	/* value's offset; unused for split tables */
	int kind;		/* PY_DICT_KEYS_* (3.8-3.10: GENERAL) */
};

static uint64_t at64(const uint8_t *buf, size_t at)
{
	uint64_t v;

	memcpy(&v, buf + at, sizeof(v));
	return v;
}

/* 3.8-3.10: dk_size slots, indices 1-8 bytes each by table size. */
static int view_38(const struct py_object_layout *o, const uint8_t *head, uint64_t keys,
		   struct keys_view *v)
{
	int64_t size = (int64_t)at64(head, o->keys_size);
	int64_t used = (int64_t)at64(head, o->keys_nentries);
	size_t index_bytes;

	if (size < 8 || size > (1ll << DICT_MAX_LOG2_SIZE) || (size & (size - 1)) || used < 0 ||
	    used > size)
		return -EINVAL;
	index_bytes = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
	v->entries = keys + o->keys_indices + (uint64_t)size * index_bytes;
	v->n = (size_t)used;
	v->entry_size = 24;	/* hash, key, value */
	v->key_at = 8;
	v->value_at = 16;
	v->kind = PY_DICT_KEYS_GENERAL;
	return 0;
}

/* 3.11+: 2^dk_log2_size slots, 2^dk_log2_index_bytes bytes of indices. */
static int view_311(const struct py_object_layout *o, const uint8_t *head, uint64_t keys,
		    struct keys_view *v)
{
	unsigned int log2_size = head[o->keys_size], log2_index = head[o->keys_log2_index_bytes];
	int64_t used = (int64_t)at64(head, o->keys_nentries);

	v->kind = head[o->keys_kind];
	if (log2_size < 3 || log2_size > DICT_MAX_LOG2_SIZE || log2_index < log2_size ||
	    log2_index > log2_size + 3 || used < 0 || used > (1ll << log2_size) ||
	    v->kind > PY_DICT_KEYS_SPLIT)
		return -EINVAL;
	v->entries = keys + o->keys_indices + (1ull << log2_index);
	v->n = (size_t)used;
	if (v->kind == PY_DICT_KEYS_GENERAL) {
		v->entry_size = 24;
		v->key_at = 8;
		v->value_at = 16;
	} else {
		v->entry_size = 16;
		v->key_at = 0;
		v->value_at = 8;
	}
	return 0;
}

static int keys_view(struct py_reader *r, uint64_t keys, struct keys_view *v)
{
	const struct py_object_layout *o = r->obj;
	uint8_t head[64];
	size_t need = o->keys_indices;
	int err;

	if (need > sizeof(head) || (size_t)o->keys_nentries + 8 > need ||
	    (size_t)o->keys_size + 8 > need || (size_t)o->keys_kind >= need ||
	    (size_t)o->keys_log2_index_bytes >= need)
		return -EINVAL;
	err = py_read(r, keys, head, need);
	if (err)
		return err;
	err = o->dict_kind == DICT_KEYS_38 ? view_38(o, head, keys, v) : view_311(o, head, keys, v);
	if (!err && v->n > PY_DICT_MAX_ITEMS)
		v->n = PY_DICT_MAX_ITEMS;
	return err;
}

/*
 * Visit the entries of `v`; with `values` (a split table) the i-th value
 * is values[i], at most `nvalues` of them.
 */
static int visit(struct py_reader *r, const struct keys_view *v, uint64_t values, size_t nvalues,
		 py_dict_visit_fn fn, void *ctx)
{
	uint8_t batch[DICT_BATCH * 24];
	uint64_t vals[DICT_BATCH];
	size_t n = v->n;
	int err;

	if (values && nvalues < n)
		n = nvalues;
	for (size_t start = 0; start < n; start += DICT_BATCH) {
		size_t count = n - start < DICT_BATCH ? n - start : DICT_BATCH;

		err = py_read(r, v->entries + start * v->entry_size, batch, count * v->entry_size);
		if (!err && values)
			err = py_read(r, values + start * 8, vals, count * 8);
		if (err)
			return err;
		for (size_t i = 0; i < count; i++) {
			const uint8_t *e = batch + i * v->entry_size;
			uint64_t key = at64(e, v->key_at);
			uint64_t value = values ? vals[i] : at64(e, v->value_at);

			if (!key || !value)
				continue;	/* deleted, or not set in this instance */
			err = fn(ctx, r, key, value);
			if (err)
				return err;
		}
	}
	return 0;
}

/* The values array of a split table (3.13+: after a small header whose
 * first byte is its capacity). */
static int split_values(struct py_reader *r, uint64_t values, uint64_t *items, size_t *cap)
{
	uint8_t capacity;
	int err;

	*items = values + r->obj->values_items;
	*cap = PY_DICT_MAX_ITEMS;
	if (!r->obj->values_items)
		return 0;
	err = py_read(r, values, &capacity, 1);
	if (!err)
		*cap = capacity;
	return err;
}

/* A dict's keys table, viewed, and its values array (0: a combined table). */
static int open_dict(struct py_reader *r, uint64_t dict, uint64_t *keys, uint64_t *values,
		     struct keys_view *v)
{
	const struct py_object_layout *o = r->obj;
	uint64_t type;
	int err;

	*values = 0;
	err = py_type_of(r, dict, &type);
	if (!err && type != r->types->dict)
		err = -EINVAL;
	if (!err)
		err = py_read_ptr(r, dict + o->dict_keys, keys);
	if (!err)
		err = py_read_ptr(r, dict + o->dict_values, values);
	if (!err)
		err = keys_view(r, *keys, v);
	return err;
}

int py_dict_foreach(struct py_reader *r, uint64_t dict, py_dict_visit_fn fn, void *ctx)
{
	const struct py_object_layout *o = r->obj;
	uint64_t keys, values, items = 0;
	struct keys_view v;
	size_t cap = 0;
	int err;

	err = open_dict(r, dict, &keys, &values, &v);
	if (err)
		return err;
	/* 3.8-3.10 split tables have values whenever ma_values is set;
	 * 3.11+ only with split keys */
	if (values && (o->dict_kind == DICT_KEYS_38 || v.kind == PY_DICT_KEYS_SPLIT)) {
		err = split_values(r, values, &items, &cap);
		if (err)
			return err;
	} else if (v.kind == PY_DICT_KEYS_SPLIT) {
		return -EINVAL;
	}
	return visit(r, &v, items, cap, fn, ctx);
}

struct lookup {
	const char *name;
	uint64_t value;
};

static int match_name(void *ctx, struct py_reader *r, uint64_t key, uint64_t value)
{
	struct lookup *l = ctx;

	if (!py_str_equals(r, key, l->name))
		return 0;
	l->value = value;
	return 1;
}


struct find_index {
	const char *name;
	size_t at, index;
	uint64_t key;
};

static int match_index(void *ctx, struct py_reader *r, uint64_t key, uint64_t value)
{
	struct find_index *f = ctx;

	(void)value;
	if (py_str_equals(r, key, f->name)) {
		f->index = f->at;
		f->key = key;
		return 1;
	}
	f->at++;
	return 0;
}

/* Where `name` is among shared keys: the memo's answer when its key is
 * still there, else a walk over the keys. 0, -ENOENT, -errno. */
static int split_index(struct py_reader *r, uint64_t keys, const struct keys_view *v,
		       const char *name, size_t *index)
{
	struct find_index f = { .name = name };
	uint64_t key;
	int err;

	if (keys == r->memo.keys && !strcmp(name, r->memo.name) && r->memo.index < v->n &&
	    !py_read_ptr(r, v->entries + r->memo.index * v->entry_size + v->key_at, &key) &&
	    key == r->memo.key) {
		*index = r->memo.index;
		return 0;
	}
	/* every entry, deleted ones counted: the index is the slot's */
	for (size_t i = 0; i < v->n; i++) {
		err = py_read_ptr(r, v->entries + i * v->entry_size + v->key_at, &key);
		if (err)
			return err;
		if (key && match_index(&f, r, key, 0))
			break;
		f.at = i + 1;
	}
	if (!f.key)
		return -ENOENT;
	*index = f.index;
	if (strlen(name) < sizeof(r->memo.name)) {
		r->memo.keys = keys;
		r->memo.key = f.key;
		r->memo.index = f.index;
		strcpy(r->memo.name, name);
	}
	return 0;
}

/* An instance's values against its class's shared keys. */
static int split_get(struct py_reader *r, uint64_t cached_keys, uint64_t values, const char *name,
		     uint64_t *value)
{
	struct keys_view v;
	uint64_t items;
	size_t cap, index;
	int err;

	if (!cached_keys || !values)
		return -ENOENT;
	err = keys_view(r, cached_keys, &v);
	/* 3.11+ mark shared keys; 3.8-3.10 have no mark */
	if (!err && r->obj->dict_kind != DICT_KEYS_38 && v.kind != PY_DICT_KEYS_SPLIT)
		err = -EINVAL;
	if (!err)
		err = split_index(r, cached_keys, &v, name, &index);
	if (!err)
		err = split_values(r, values, &items, &cap);
	if (!err && index >= cap)
		err = -ENOENT;
	if (!err)
		err = py_read_ptr(r, items + index * 8, value);
	if (!err && !*value)
		err = -ENOENT;	/* not set in this instance */
	return err;
}

int py_dict_get(struct py_reader *r, uint64_t dict, const char *name, uint64_t *value)
{
	const struct py_object_layout *o = r->obj;
	struct lookup l = { .name = name };
	uint64_t keys, values;
	struct keys_view v;
	int err;

	err = open_dict(r, dict, &keys, &values, &v);
	if (err)
		return err;
	/* a split table (an instance's __dict__ before 3.11): its keys are
	 * its class's, where the name's place is remembered */
	if (values && (o->dict_kind == DICT_KEYS_38 || v.kind == PY_DICT_KEYS_SPLIT))
		return split_get(r, keys, values, name, value);
	err = visit(r, &v, 0, 0, match_name, &l);
	if (err < 0)
		return err;
	if (!err)
		return -ENOENT;
	*value = l.value;
	return 0;
}

struct type_facts {
	uint64_t flags;
	int64_t basicsize, dictoffset;
	uint64_t cached_keys;	/* heap types only */
};

static int type_facts(struct py_reader *r, uint64_t obj, struct type_facts *t)
{
	const struct py_object_layout *o = r->obj;
	uint64_t type;
	int err;

	memset(t, 0, sizeof(*t));
	err = py_type_of(r, obj, &type);
	if (!err && type && type == r->memo.type) {
		t->flags = r->memo.flags;
		t->basicsize = r->memo.basicsize;
		t->dictoffset = r->memo.dictoffset;
		t->cached_keys = r->memo.cached_keys;
		return 0;
	}
	if (!err)
		err = py_read(r, type + o->type_flags, &t->flags, 8);
	if (!err)
		err = py_read(r, type + o->type_basicsize, &t->basicsize, 8);
	if (!err)
		err = py_read(r, type + o->type_dictoffset, &t->dictoffset, 8);
	if (!err && (t->flags & PY_TPFLAGS_HEAPTYPE))
		err = py_read_ptr(r, type + o->heaptype_cached_keys, &t->cached_keys);
	if (!err && (t->basicsize < 0 || t->basicsize > (1 << 20) || t->dictoffset > (1 << 20)))
		err = -EINVAL;
	if (!err) {
		r->memo.type = type;
		r->memo.flags = t->flags;
		r->memo.basicsize = t->basicsize;
		r->memo.dictoffset = t->dictoffset;
		r->memo.cached_keys = t->cached_keys;
	}
	return err;
}

int py_instance_get(struct py_reader *r, uint64_t obj, const char *name, uint64_t *value)
{
	const struct py_object_layout *o = r->obj;
	uint64_t dict = 0, values = 0;
	struct type_facts t;
	uint8_t valid;
	int err;

	err = type_facts(r, obj, &t);
	if (err)
		return err;
	if (o->instance_kind != INSTANCE_DICTOFFSET && (t.flags & PY_TPFLAGS_MANAGED_DICT)) {
		err = py_read_ptr(r, obj + (uint64_t)(int64_t)o->managed_dict, &dict);
		if (err)
			return err;
		switch (o->instance_kind) {
		case INSTANCE_MANAGED_311:
			if (!dict && !(err = py_read_ptr(r, obj + (uint64_t)(int64_t)o->managed_values,
							 &values)))
				return split_get(r, t.cached_keys, values, name, value);
			break;
		case INSTANCE_MANAGED_312:
			/* one word: a dict, or the values' address less one
			 * (odd: values are aligned) */
			if (dict & 1)
				return split_get(r, t.cached_keys, dict + 1, name, value);
			break;
		case INSTANCE_INLINE_313:
			/* a materialised dict wins; else the values inside the
			 * object, if still valid (4th byte of their header) */
			if (!dict && (t.flags & PY_TPFLAGS_INLINE_VALUES)) {
				values = obj + (uint64_t)t.basicsize;
				err = py_read(r, values + 3, &valid, 1);
				if (err)
					return err;
				return valid ? split_get(r, t.cached_keys, values, name, value) : -ENOENT;
			}
			break;
		}
		if (err)
			return err;
		return dict ? py_dict_get(r, dict, name, value) : -ENOENT;
	}
	if (t.dictoffset <= 0)
		return -ENOENT;	/* no __dict__ (slots), or var-sized: not read */
	err = py_read_ptr(r, obj + (uint64_t)t.dictoffset, &dict);
	if (err)
		return err;
	return dict ? py_dict_get(r, dict, name, value) : -ENOENT;
}
