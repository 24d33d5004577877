// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer: _Py_DebugOffsets as read from a target's _PyRuntime: the
 * walk layout, and the object fields for thread names and locals. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "debug_offsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[DEBUG_OFFSETS_MAX_SIZE] = { 0 };
	struct py_version_layout l;
	struct py_object_layout o = { 0 };
	uint64_t version;
	bool ft;

	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	if (debug_offsets_present(buf, sizeof(buf))) {
		debug_offsets_parse(buf, sizeof(buf), &l, &version, &ft);
		debug_offsets_objects(buf, sizeof(buf), &o);
	}
	/* short reads must be refused, not overrun */
	if (size < sizeof(buf) && debug_offsets_present(data, size)) {
		debug_offsets_parse(data, size, &l, &version, &ft);
		debug_offsets_objects(data, size, &o);
	}
	return 0;
}
