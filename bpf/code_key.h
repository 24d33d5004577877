/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A code object's key: what tells it from every other code object that had
 * its address before or after it. pymalloc hands a freed code object's
 * address to the next one of its size, often with the addresses of its
 * file name, name and line table, so neither the address nor the pointers
 * it holds are enough. Written once for the BPF sampler, `refbpf dump`'s
 * reader (user/python/stack_reader.c) and the symbolizer, which checks what it
 * reads against the key of the sample (user/python/symbolizer.c).
 *
 * The key hashes the code object's span (struct py_layout: co_firstlineno
 * to co_linetable, fields that never change once it exists), and then:
 *  - 3.12+: co_version is in that span, a number the interpreter gives
 *    each code object it creates from a counter that only grows (3.12:
 *    _Py_next_func_version; 3.13+: interp->func_state.next_version, one
 *    per interpreter) and never changes afterwards. Nothing more is read.
 *  - 3.8-3.11, and 3.12+ code objects created after the counter ran out
 *    (co_version 0): what the code object shows, the content of its name,
 *    file name, qualified name (3.11+) and line table. Of each, its length
 *    and the data a read of the object's first CODE_KEY_CHUNK bytes
 *    brings (up to the end of its page), and its last CODE_KEY_TAIL bytes.
 *
 * The includer defines what py_walk.h asks for, and
 *   CODE_KEY_LOAD_PARTIAL(ptr, n)   the n (1..8) bytes at ptr as a
 *                                   little-endian __u64, zero-extended
 * and may define, to call a function of its own (BPF: one verified once,
 * not in every place it is used),
 *   CODE_KEY_OBJECT(ctx, l, r, addr, kind, key)   code_key_read_object()
 *                                                 into r's buffers
 */
#ifndef REFBPF_CODE_KEY_H
#define REFBPF_CODE_KEY_H

#include "mix64.h"
#include "py_str.h"
#include "py_walk.h"

/* Bytes of a str or bytes object read at once (a power of two): most
 * names, file names and small line tables fit. Reads cost by their number
 * more than by their size: smaller ones, needing a second read more
 * often, made samples dearer. */
#define CODE_KEY_CHUNK 128
/* Bytes from the end of data longer than the first read brings. */
#define CODE_KEY_TAIL 64
/* A str or bytes object larger than this is not one a code object holds. */
#define CODE_KEY_MAX_DATA (1u << 24)
#define CODE_KEY_PAGE 4096


/* What an object's key hashes: the kinds of object a code object's
 * displayed fields are. */
enum code_key_object {
	CODE_KEY_STR = 1,
	CODE_KEY_BYTES = 2,
};

static PY_WALK_INLINE __u64 code_key_step(__u64 h, __u64 word)
{
	h ^= word;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* Never 0: a record's key is compared, not tested for presence. */
static PY_WALK_INLINE __u64 code_key_final(__u64 h)
{
	return refbpf_mix64(h) | 1;
}

/*
 * Hash `len` bytes at buf + off, a word at a time, `cap` at most (a
 * constant: the loop's bound for the BPF verifier; buf holds cap + 8
 * bytes and off + len <= CODE_KEY_CHUNK). The last word takes only the
 * bytes of the data.
 */
static PY_WALK_INLINE __u64 code_key_bytes(__u64 h, const __u8 *buf, __u32 off, __u32 len,
					   __u32 cap)
{
	for (__u32 i = 0; i < cap / 8; i++) {
		__u32 at = i * 8;

		if (at >= len)
			break;
		__u32 n = len - at < 8 ? len - at : 8;

		h = code_key_step(h, CODE_KEY_LOAD_PARTIAL(buf + ((off + at) & (CODE_KEY_CHUNK - 1)), n));
	}
	return h;
}

/*
 * How many of an object's first bytes one read brings: from its address
 * to the end of its page (mapped, as the object is), CODE_KEY_CHUNK at
 * most, and at least its header of `head` bytes.
 */
static PY_WALK_INLINE __u32 code_key_first_read(__u64 addr, __u32 head)
{
	__u32 n = CODE_KEY_PAGE - (__u32)(addr & (CODE_KEY_PAGE - 1));

	if (n > CODE_KEY_CHUNK)
		n = CODE_KEY_CHUNK;
	return n < head ? head : n;
}

/*
 * Which part of an object's data its key covers: the *prefix bytes the
 * first read brought (`first` bytes of the object, its data at `data_at`,
 * `bytes` of it), and bytes [*tail_at, bytes) when more follow: the last
 * CODE_KEY_TAIL, or all the rest when that is less.
 */
static PY_WALK_INLINE void code_key_cover(__u32 first, __u32 data_at, __u64 bytes, __u32 *prefix,
					  __u64 *tail_at)
{
	*prefix = first > data_at ? (bytes < first - data_at ? (__u32)bytes : first - data_at) : 0;
	if (bytes <= *prefix)
		*tail_at = bytes;
	else if (bytes - *prefix <= CODE_KEY_TAIL)
		*tail_at = *prefix;
	else
		*tail_at = bytes - CODE_KEY_TAIL;
}

/*
 * Where a str's or bytes object's data starts and how many bytes it has,
 * from a read of at least its header (`buf`, the object's first bytes).
 * -1 when it is no object a code object holds (a legacy str, a bad size).
 */
static PY_WALK_INLINE int code_key_data(const struct py_layout *l, const __u8 *buf, __u32 kind,
					__u32 *data_at, __u64 *bytes)
{
	__s64 len;
	__u32 unit = 1;

	if (kind == CODE_KEY_STR) {
		__u32 state = (__u32)py_walk_field(buf, l->str_state, 4);

		len = (__s64)py_walk_field(buf, l->str_length, 8);
		unit = PY_STR_STATE_KIND(state, l->str_kind_bit);
		if (!PY_STR_STATE_COMPACT(state, l->str_kind_bit) ||
		    (unit != 1 && unit != 2 && unit != 4))
			return -1;
		*data_at = PY_STR_STATE_ASCII(state, l->str_kind_bit) ? l->str_ascii_data :
									 l->str_compact_data;
	} else {
		len = (__s64)py_walk_field(buf, l->bytes_size, 8);
		*data_at = l->bytes_data;
	}
	if (len < 0 || (__u64)len * unit > CODE_KEY_MAX_DATA)
		return -1;
	*bytes = (__u64)len * unit;
	return 0;
}

/* The header bytes to read of an object of `kind` at least. */
static PY_WALK_INLINE __u32 code_key_head(const struct py_layout *l, __u32 kind)
{
	return kind == CODE_KEY_STR ? l->str_ascii_data : l->bytes_data;
}

/* The key of one object from its data's covered parts: the prefix and
 * the tail (`tail` holds bytes [tail_at, bytes) of the data). */
static PY_WALK_INLINE __u64 code_key_of_data(__u64 bytes, const __u8 *chunk, __u32 data_at,
					     __u32 prefix, const __u8 *tail, __u64 tail_at)
{
	__u64 h = code_key_step(0x6a09e667f3bcc909ull, bytes);

	h = code_key_bytes(h, chunk, data_at, prefix, CODE_KEY_CHUNK);
	if (bytes > prefix)
		h = code_key_bytes(h, tail, 0, (__u32)(bytes - tail_at), CODE_KEY_TAIL);
	return h;
}

/* The key of an object at addr whose data (`bytes` of it, at data_at) is
 * all in `data`: what code_key_read_object() gives for it. */
static PY_WALK_INLINE __u64 code_key_of_whole(const struct py_layout *l, __u64 addr, __u32 kind,
					      __u32 data_at, __u64 bytes, const __u8 *data)
{
	__u32 prefix;
	__u64 tail_at;

	code_key_cover(code_key_first_read(addr, code_key_head(l, kind)), data_at, bytes, &prefix,
		       &tail_at);
	return code_key_of_data(bytes, data, 0, prefix, data + tail_at, tail_at);
}

/*
 * Read the str or bytes object at `addr` into chunk (CODE_KEY_CHUNK + 8
 * bytes) and tail (CODE_KEY_TAIL + 8 bytes) and hash what its key covers
 * into *key. 0, or -1 when unreadable.
 */
static PY_WALK_INLINE int code_key_read_object(void *ctx, const struct py_layout *l, __u64 addr,
					       __u32 kind, __u8 *chunk, __u8 *tail, __u64 *key)
{
	__u32 first, prefix, data_at = 0;
	__u64 bytes = 0, tail_at;
	__u32 head = code_key_head(l, kind);

	if (!addr || head > CODE_KEY_CHUNK)
		return -1;
	first = code_key_first_read(addr, head) & (2 * CODE_KEY_CHUNK - 1);
	if (first > CODE_KEY_CHUNK || PY_WALK_READ(ctx, chunk, first, addr))
		return -1;
	if (code_key_data(l, chunk, kind, &data_at, &bytes))
		return -1;
	code_key_cover(first, data_at, bytes, &prefix, &tail_at);
	if (bytes > prefix) {
		__u32 n = (__u32)(bytes - tail_at) & (2 * CODE_KEY_TAIL - 1);

		if (n > CODE_KEY_TAIL || PY_WALK_READ(ctx, tail, n, addr + data_at + tail_at))
			return -1;
	}
	*key = code_key_of_data(bytes, chunk, data_at, prefix, tail, tail_at);
	return 0;
}

/* The hash of a code object's span, read at code + l->code_span_start. */
static PY_WALK_INLINE __u64 code_key_span(const struct py_layout *l, const __u8 *span)
{
	return code_key_bytes(0xbb67ae8584caa73bull, span, 0, l->code_span, REFBPF_READ_SPAN);
}

/* co_version from the span, 0 where the version has none. */
static PY_WALK_INLINE __u32 code_key_version(const struct py_layout *l, const __u8 *span)
{
	if (!l->code_version)
		return 0;
	return (__u32)py_walk_field(span, l->code_version - l->code_span_start, 4);
}

/* The pointers in the span to the objects a key without co_version covers,
 * in the order their keys are folded in; 0 for a field the version lacks. */
struct code_key_objects {
	__u64 name, filename, qualname, linetable;
};

static PY_WALK_INLINE void code_key_object_ptrs(const struct py_layout *l, const __u8 *span,
						struct code_key_objects *o)
{
	__u16 at = l->code_span_start;

	o->name = py_walk_field(span, l->code_name - at, 8);
	o->filename = py_walk_field(span, l->code_filename - at, 8);
	o->qualname = l->code_qualname ? py_walk_field(span, l->code_qualname - at, 8) : 0;
	o->linetable = py_walk_field(span, l->code_linetable - at, 8);
}

/* The code object's key from its span's hash and, without co_version,
 * the keys of its objects (0 for one it lacks). */
static PY_WALK_INLINE __u64 code_key_fold(__u64 span_hash, __u64 name, __u64 filename,
					  __u64 qualname, __u64 linetable)
{
	__u64 h = code_key_step(span_hash, name);

	h = code_key_step(h, filename);
	h = code_key_step(h, qualname);
	return code_key_final(code_key_step(h, linetable));
}

/* Objects whose keys a reader keeps while it reads one stack: its code
 * objects live while it runs, and so do the objects they point to. */
#define CODE_KEY_MEMO 4

/* A reader's buffers, and the keys of the str objects it read last in this
 * stack: the file name read last (a module's functions share it), and
 * the last names (a top-level function's name is its qualified name, and
 * some recur: <module>, run). Call code_key_reader_start() before each
 * stack. */
struct code_key_reader {
	__u8 span[REFBPF_READ_SPAN];
	__u8 chunk[CODE_KEY_CHUNK + 8];
	__u8 tail[CODE_KEY_TAIL + 8];
	__u64 file_obj, file_key;
	__u64 memo_obj[CODE_KEY_MEMO], memo_key[CODE_KEY_MEMO];
	__u32 memo_next;
	/* where wrappers of the functions below may put their results */
	__u64 result;
	__u32 cpu;		/* the BPF wrappers': whose scratch holds this */
	struct py_frame_rec rec;
};

static PY_WALK_INLINE void code_key_reader_start(struct code_key_reader *r)
{
	r->file_obj = 0;
	for (int i = 0; i < CODE_KEY_MEMO; i++)
		r->memo_obj[i] = 0;
}

/* The key of the object at addr, in *key; 0, or -1 when unreadable. */
#ifndef CODE_KEY_OBJECT
#define CODE_KEY_OBJECT(ctx, l, r, addr, kind, key) \
	code_key_read_object((ctx), (l), (addr), (kind), (r)->chunk, (r)->tail, (key))
#endif

/* The key of the str at addr, from the memo when this stack read it. */
static PY_WALK_INLINE int code_key_str(void *ctx, const struct py_layout *l,
				       struct code_key_reader *r, __u64 addr, __u64 *key)
{
	for (int i = 0; i < CODE_KEY_MEMO; i++) {
		if (addr && r->memo_obj[i] == addr) {
			*key = r->memo_key[i];
			return 0;
		}
	}
	if (CODE_KEY_OBJECT(ctx, l, r, addr, CODE_KEY_STR, key))
		return -1;
	__u32 slot = r->memo_next++ & (CODE_KEY_MEMO - 1);

	r->memo_obj[slot] = addr;
	r->memo_key[slot] = *key;
	return 0;
}

/*
 * Read the code object at `code`: rec->key and rec->firstlineno, and
 * rec->flags FRAME_UNVALIDATED (key 0) when it could not be read.
 */
static PY_WALK_INLINE void code_key_read(void *ctx, const struct py_layout *l,
					 struct code_key_reader *r, __u64 code,
					 struct py_frame_rec *rec)
{
	__u32 len = l->code_span & (2 * REFBPF_READ_SPAN - 1);
	struct code_key_objects o;
	__u64 span, name = 0, file = 0, qual = 0, table = 0;

	rec->key = 0;
	rec->firstlineno = 0;
	rec->flags = FRAME_UNVALIDATED;
	if (!len || len > REFBPF_READ_SPAN || PY_WALK_READ(ctx, r->span, len, code + l->code_span_start))
		return;
	rec->firstlineno = (__s32)py_walk_field(r->span, l->code_firstlineno - l->code_span_start, 4);
	span = code_key_span(l, r->span);
	if (!code_key_version(l, r->span)) {
		code_key_object_ptrs(l, r->span, &o);
		if (code_key_str(ctx, l, r, o.name, &name) ||
		    (o.qualname && code_key_str(ctx, l, r, o.qualname, &qual)))
			return;
		if (o.filename != r->file_obj || !o.filename) {
			if (CODE_KEY_OBJECT(ctx, l, r, o.filename, CODE_KEY_STR, &file))
				return;
			r->file_obj = o.filename;
			r->file_key = file;
		}
		file = r->file_key;
		if (CODE_KEY_OBJECT(ctx, l, r, o.linetable, CODE_KEY_BYTES, &table))
			return;
	}
	rec->key = code_key_fold(span, name, file, qual, table);
	rec->flags = 0;
}

#endif /* REFBPF_CODE_KEY_H */
