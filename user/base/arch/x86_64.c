// SPDX-License-Identifier: BSD-2-Clause
/* x86-64 (System V psABI): DWARF register numbers. */
#include "base/arch.h"

enum {
	DW_X86_64_RBX = 3,
	DW_X86_64_RBP = 6,
	DW_X86_64_RSP = 7,
	DW_X86_64_R12 = 12,
};

const unsigned int arch_dwarf_sp = DW_X86_64_RSP;

/* glibc's and musl's struct pthread start at fsbase (TLS_TCB_AT_TP) */
int arch_thread_id_bias(pid_t pid, uint32_t *bias, char *why, size_t whylen)
{
	*bias = 0;
	return 0;
}

uint64_t arch_unsigned_word(uint64_t word)
{
	return word;
}

bool arch_dwfl_set_registers(Dwfl_Thread *thread, const struct native_stack_event *ev)
{
	Dwarf_Word rbx = ev->bx, rbp_rsp[2] = { ev->bp, ev->sp };
	Dwarf_Word r12_15[4] = { ev->r12, ev->r13, ev->r14, ev->r15 };

	dwfl_thread_state_register_pc(thread, ev->pc);
	return dwfl_thread_state_registers(thread, DW_X86_64_RBX, 1, &rbx) &&
	       dwfl_thread_state_registers(thread, DW_X86_64_RBP, 2, rbp_rsp) &&
	       dwfl_thread_state_registers(thread, DW_X86_64_R12, 4, r12_15);
}
