/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --native, for a recording: pairs each EVENT_NATIVE_STACK record with the
 * EVENT_SAMPLE that follows it from the same CPU, and gives that sample's
 * stack with its C frames in place.
 */
#ifndef REFBPF_NATIVE_SAMPLES_H
#define REFBPF_NATIVE_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "native/native_stacks.h"
#include "profile/profile.h"
#include "bpf/abi.h"

struct native_samples;

struct native_samples *native_samples_new(void);
void native_samples_free(struct native_samples *s);

/*
 * A stack record of `size` bytes: unwound and symbolized now with `ns`,
 * its process's (NULL when the process is not being sampled), and kept for
 * its sample. 0 or -ENOMEM.
 */
int native_samples_add_stack(struct native_samples *s, struct native_stacks *ns,
			     const struct native_stack_event *ev, size_t size);

/*
 * The stack of sample `ev` whose Python frames, symbolized, are `python`
 * (root first, *n of them), with its C frames in place: a pointer to *n
 * frames, root first, valid until the next call; *flags gets
 * PSTACK_TRUNCATED when frames were cut. Without a stack record for it
 * (lost), `python` itself.
 */
const struct pframe *native_samples_mix(struct native_samples *s, const struct sample_event *ev,
					const struct pframe *python, uint32_t *n, uint32_t *flags);

#endif /* REFBPF_NATIVE_SAMPLES_H */
