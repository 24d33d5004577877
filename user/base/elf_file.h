/* SPDX-License-Identifier: BSD-2-Clause */
/* Just enough of an ELF file: symbols, sections, build-id, load segments. */
#ifndef REFBPF_ELF_FILE_H
#define REFBPF_ELF_FILE_H

#include <stddef.h>
#include <stdint.h>

struct elf_file;

/* Open `path` read-only. NULL with errno set on failure (ENOEXEC: not ELF). */
struct elf_file *elf_file_open(const char *path);
void elf_file_close(struct elf_file *ef);

/* ET_EXEC (fixed addresses) or ET_DYN (position independent). */
int elf_file_is_dyn(const struct elf_file *ef);

/*
 * Look up `n` symbol names in .dynsym and .symtab. values[i] gets the
 * symbol's address (0 when absent). Returns how many were found.
 */
int elf_file_lookup(struct elf_file *ef, const char *const *names, uint64_t *values, size_t n);

/* Section by name: 0 and its address/size, or -ENOENT. */
int elf_file_section(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size);

/* GNU build-id as lowercase hex into `hex` (>= 41 bytes). Length or -ENOENT. */
int elf_file_build_id(struct elf_file *ef, char *hex, size_t hexlen);

/* Virtual address of the build-id note's descriptor, for checking memory. */
int elf_file_build_id_vaddr(struct elf_file *ef, uint64_t *vaddr, size_t *len);

/*
 * Load bias of a mapping of this file that starts at `map_start` with file
 * offset `map_pgoff`: runtime address = link-time address + bias.
 * Returns 0 or -ENOENT when no PT_LOAD covers that offset.
 */
int elf_file_load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_pgoff,
		       uint64_t *bias);

/* Copy file bytes backing link-time address range [vaddr, vaddr+len). */
int elf_file_read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);

#endif /* REFBPF_ELF_FILE_H */
