// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer: --native's stack records, whose registers and stack bytes the
 * target controls. They are unwound against this process's own modules
 * (their CFI and DWARF) and every address found is symbolized and merged
 * with made-up Python frames, as the recorder does.
 *
 * Input: 1 byte picks the start function, 1 byte an offset into it, 8
 * bytes the stack length the record claims (its high half: how many shim
 * addresses it claims), 5 x 8 bytes of registers (bp, bx, r12, r13, r14),
 * 4 x 2 bytes of shim offsets from the stack pointer, then the stack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "native/native_merge.h"
#include "native/native_stacks.h"
#include "profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAKE_SP 0x7ffd00000000ull

static uint64_t take(const uint8_t **data, size_t *size, size_t n)
{
	uint64_t v = 0;

	if (n > *size)
		n = *size;
	memcpy(&v, *data, n);
	*data += n;
	*size -= n;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct native_stacks *ns;
	static struct profile *prof;
	static struct native_stack_event ev;
	static struct native_frame frames[NATIVE_STACK_FRAMES];
	static struct python_frame py[8];
	static struct pframe mixed[NATIVE_STACK_FRAMES + 8];
	/* real code to start from: ours, libc's, libdw's */
	const uintptr_t starts[] = { (uintptr_t)LLVMFuzzerTestOneInput, (uintptr_t)memcpy,
				     (uintptr_t)qsort, (uintptr_t)native_merge,
				     (uintptr_t)dwfl_getthread_frames };
	bool truncated;

	if (!ns) {
		prof = profile_new();
		ns = prof ? native_stacks_new(getpid(), prof) : NULL;
		if (!ns)
			abort();
		for (int i = 0; i < 8; i++)
			py[i] = (struct python_frame){ .frame = { .func = 0, .line = i }, .entry = i & 1 };
		if (profile_intern_func(prof, "fuzz.py", 1, "f", "f") < 0)
			abort();
	}
	memset(&ev, 0, offsetof(struct native_stack_event, stack));
	ev.type = EVENT_NATIVE_STACK;
	ev.pid = ev.tid = (uint32_t)getpid();
	ev.pc = starts[take(&data, &size, 1) % (sizeof(starts) / sizeof(starts[0]))] +
		take(&data, &size, 1);
	uint64_t claimed = take(&data, &size, 8);

	ev.sp = FAKE_SP;
	ev.bp = take(&data, &size, 8);
	ev.bx = take(&data, &size, 8);
	ev.r12 = take(&data, &size, 8);
	ev.r13 = take(&data, &size, 8);
	ev.r14 = take(&data, &size, 8);
	ev.nshims = (uint32_t)(claimed >> 32);
	for (int i = 0; i < 4; i++)
		ev.shims[i] = FAKE_SP + take(&data, &size, 2);
	if (size > REFBPF_NATIVE_STACK_BYTES)
		size = REFBPF_NATIVE_STACK_BYTES;
	memcpy(ev.stack, data, size);
	/* what the record says and what arrived may disagree */
	ev.stack_len = (uint32_t)(claimed & 1 ? claimed >> 1 : size);

	int n = native_stacks_read(ns, &ev, offsetof(struct native_stack_event, stack) + size,
				   frames, NATIVE_STACK_FRAMES);

	if (n < 0)
		abort();
	for (int i = 0; i < n; i++)
		if (!frames[i].eval_loop && frames[i].frame.func >= prof->nfuncs)
			abort();
	size_t m = native_merge(py, claimed % 9, frames, (size_t)n, mixed,
				(claimed >> 8) % (sizeof(mixed) / sizeof(mixed[0])) + 1, &truncated);

	if (m > sizeof(mixed) / sizeof(mixed[0]))
		abort();
	return 0;
}
