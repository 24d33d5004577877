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
#include <elfutils/libdwfl.h>

#include <linux/types.h>

#include "bpf/abi.h"

/* The DWARF number of the stack pointer, for dwfl_frame_reg(). */
extern const unsigned int arch_dwarf_sp;

/* Hand libdw the registers a native stack record carries as the thread's
 * state at its innermost frame. false on libdw's refusal. */
bool arch_dwfl_set_registers(Dwfl_Thread *thread, const struct native_stack_event *ev);

#endif /* REFBPF_BASE_ARCH_H */
