// SPDX-License-Identifier: BSD-2-Clause
#include "profile/unwind_error.h"

static const char *const names[UNWIND_NR] = {
	[UNWIND_NO_TSTATE] = "no thread state",
	[UNWIND_NO_FRAME] = "no Python frame",
	[UNWIND_READ_FAULT] = "read fault",
	[UNWIND_RINGBUF_FULL] = "ring buffer full",
	[UNWIND_TSTATE_WALK_LIMIT] = "thread-state walk limit",
};

const char *unwind_error_name(int reason)
{
	return reason >= 0 && reason < UNWIND_NR && names[reason] ? names[reason] : "?";
}
