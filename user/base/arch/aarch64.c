// SPDX-License-Identifier: BSD-2-Clause
/* AArch64 (AAPCS64): DWARF register numbers; glibc's thread pointer. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/arch.h"
#include "base/elf_file.h"
#include "base/proc.h"

/* DWARF for the Arm 64-bit Architecture: x0-x30 are 0-30, sp is 31 */
enum {
	DW_AARCH64_X19 = 19,
	DW_AARCH64_X29 = 29,
	DW_AARCH64_SP = 31,
};

const unsigned int arch_dwarf_sp = DW_AARCH64_SP;

/*
 * A return address signed by pointer authentication (paciasp: Debian
 * builds with it since trixie) carries its code in bits 63:56 and
 * 54:48 of a user address; bit 55 is clear in every user address (set,
 * it is a kernel one, left alone). Linux lays user mappings out below
 * 2^48 unless a process asks mmap for higher ones (52-bit VA), which
 * this does not handle. An unsigned address is unchanged.
 */
#define USER_VA_BITS 48
#define KERNEL_HALF (1ull << 55)

uint64_t arch_unsigned_word(uint64_t word)
{
	return word & KERNEL_HALF ? word : word & ((1ull << USER_VA_BITS) - 1);
}

bool arch_dwfl_set_registers(Dwfl_Thread *thread, const struct native_stack_event *ev)
{
	Dwarf_Word x19_28[10] = { ev->x19, ev->x20, ev->x21, ev->x22, ev->x23,
				  ev->x24, ev->x25, ev->x26, ev->x27, ev->x28 };
	/* x30 holds a leaf's return address, signed once its prologue ran */
	Dwarf_Word x29_sp[3] = { ev->x29, arch_unsigned_word(ev->x30), ev->sp };

	dwfl_thread_state_register_pc(thread, ev->pc);
	return dwfl_thread_state_registers(thread, DW_AARCH64_X19, 10, x19_28) &&
	       dwfl_thread_state_registers(thread, DW_AARCH64_X29, 3, x29_sp);
}

/*
 * glibc puts its struct pthread right below the thread pointer
 * (TLS_DTV_AT_TP: THREAD_SELF is TPIDR_EL0 minus sizeof(struct pthread)),
 * and that size changes between releases. It says it for libthread_db
 * in _thread_db_sizeof_pthread: in libc.so.6's .dynsym since 2.34, in
 * libpthread.so.0's .symtab before (Debian keeps that unstripped).
 */
static bool glibc_file(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so.6", 9) || !strncmp(base, "libc-2.", 7) ||
	       !strncmp(base, "libpthread", 10);
}

static int sizeof_pthread(pid_t pid, const char *path, uint32_t *size)
{
	static const char *const names[] = { "_thread_db_sizeof_pthread" };
	char file[PATH_MAX];
	uint64_t addr = 0;
	struct elf_file *ef;
	int err = -ENOENT;

	if (proc_root_path(pid, path, file, sizeof(file)))
		return -ENAMETOOLONG;
	ef = elf_file_open(file);
	if (!ef)
		return -errno;
	if (elf_file_lookup(ef, names, &addr, 1) == 1 && addr)
		err = elf_file_read_vaddr(ef, addr, size, sizeof(*size)) ? -EIO : 0;
	elf_file_close(ef);
	return err;
}

int arch_thread_id_bias(pid_t pid, uint32_t *bias, char *why, size_t whylen)
{
	struct proc_maps maps;
	const char *last = NULL;
	int err = proc_maps_read(pid, &maps);

	*bias = 0;
	if (err) {
		snprintf(why, whylen, "cannot read its maps: %s", strerror(-err));
		return err;
	}
	err = -ENOENT;
	for (size_t i = 0; i < maps.n && err; i++) {
		const char *path = maps.maps[i].path;

		if (!path || !glibc_file(path) || (last && !strcmp(last, path)))
			continue;
		last = path;
		err = sizeof_pthread(pid, path, bias);
	}
	if (err)
		snprintf(why, whylen,
			 "cannot tell its threads' pthread_self() from their thread pointer: no glibc with _thread_db_sizeof_pthread mapped (musl and static builds are not supported on arm64)");
	else if (*bias == 0 || *bias > (1u << 16)) {
		snprintf(why, whylen, "its glibc says struct pthread is %u bytes", *bias);
		err = -EINVAL;
	}
	proc_maps_free(&maps);
	return err;
}
