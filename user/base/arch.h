/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The architecture's facts in userspace, one file per architecture under
 * user/base/arch/ (the Makefile builds the one of the target): how libdw
 * numbers the registers BPF saves (bpf/arch/). The BPF side's are in
 * bpf/arch/; the two and vmlinux/ARCH/ are a port.
 */
#ifndef REFBPF_BASE_ARCH_H
#define REFBPF_BASE_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <elfutils/libdwfl.h>

#include <linux/types.h>

#include "bpf/abi.h"

/*
 * The thread pointer minus pthread_self() (CPython's thread_id) in
 * process `pid`, as abi.h's py_layout.thread_id_bias: 0 where the two
 * are one (x86-64), else what the C library the process maps says. 0, or
 * -errno with the reason in `why` when it cannot be known: -ENOENT when
 * no C library that says it is mapped (yet: a process just exec'd).
 */
int arch_thread_id_bias(pid_t pid, uint32_t *bias, char *why, size_t whylen);

/* The DWARF number of the stack pointer, for dwfl_frame_reg(). */
extern const unsigned int arch_dwarf_sp;

/* Hand libdw the registers a native stack record carries as the thread's
 * state at its innermost frame. false on libdw's refusal. */
bool arch_dwfl_set_registers(Dwfl_Thread *thread, const struct native_stack_event *ev);

/*
 * A word the unwinder reads from a saved register or the stack, without
 * what the CPU adds to sign a return address (aarch64's pointer
 * authentication code); as is where nothing is signed. libdw does not
 * remove it (it ignores DW_CFA_AARCH64_negate_ra_state): a signed return
 * address would lie in no module, and its frame's CFI would not be found.
 */
uint64_t arch_unsigned_word(uint64_t word);

#endif /* REFBPF_BASE_ARCH_H */
