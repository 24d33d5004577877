// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: a code object's key (bpf/code_key.h) read from target memory,
 * here an image of it. Input: a version byte (3.8-3.12), two bytes of the
 * image's page offset, then the image, a code object at its start.
 *
 * Besides not overrunning anything, the two ways of computing an object's
 * key must agree: BPF's (its first page-clipped read and the tail of its
 * data) and the symbolizer's (from the whole data read at once).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "python/layout/py_layout.h"

struct image {
	uint64_t base;
	const uint8_t *data;
	size_t size;
};

static int image_read(void *ctx, void *dst, size_t len, uint64_t addr)
{
	const struct image *im = ctx;

	if (addr < im->base || addr - im->base > im->size || len > im->size - (addr - im->base))
		return -1;
	memcpy(dst, im->data + (addr - im->base), len);
	return 0;
}

/* the walk and key of the symbolizer, reading the image */
#define PY_WALK_READ(ctx, dst, len, addr) image_read((ctx), (dst), (len), (addr))
#include "python/target_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The object at addr as the symbolizer sees it: its data whole in the image. */
static void check_whole(struct image *im, const struct py_layout *l, uint64_t addr, uint32_t kind)
{
	uint8_t chunk[CODE_KEY_CHUNK + 8] = { 0 }, tail[CODE_KEY_TAIL + 8] = { 0 };
	uint8_t head[CODE_KEY_CHUNK + 8] = { 0 };
	uint32_t data_at = 0, n = code_key_head(l, kind);
	__u64 bytes = 0, key = 0;

	if (code_key_read_object(im, l, addr, kind, chunk, tail, &key))
		return;
	if (image_read(im, head, n, addr) || code_key_data(l, head, kind, &data_at, &bytes))
		return;
	if (image_read(im, head, 0, addr + data_at + bytes))
		return;	/* the data runs past the image */
	assert(code_key_of_whole(l, addr, kind, data_at, bytes,
				 im->data + (addr - im->base) + data_at) == key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct code_key_reader r;
	struct py_frame_rec rec;
	struct code_key_objects o;
	struct image im;

	if (size < 3)
		return 0;
	struct py_version_layout l;

	if (py_layout_builtin(3, 8 + data[0] % 5, &l))
		abort();
	l.walk.version_hex = l.version_hex;
	py_layout_finish(&l);
	im.base = 0x10000 + ((uint64_t)(data[1] | data[2] << 8) & 4095);
	im.data = data + 3;
	im.size = size - 3;
	memset(&r, 0, sizeof(r));
	code_key_read(&im, &l.walk, &r, im.base, &rec);
	/* the objects the span points to, wherever they are in the image */
	if (!image_read(&im, r.span, l.walk.code_span, im.base + l.walk.code_span_start)) {
		code_key_object_ptrs(&l.walk, r.span, &o);
		check_whole(&im, &l.walk, o.name, CODE_KEY_STR);
		check_whole(&im, &l.walk, o.filename, CODE_KEY_STR);
		check_whole(&im, &l.walk, o.qualname, CODE_KEY_STR);
		check_whole(&im, &l.walk, o.linetable, CODE_KEY_BYTES);
	}
	return 0;
}
