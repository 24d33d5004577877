// SPDX-License-Identifier: BSD-2-Clause
/*
 * ELF reading with libelf. Files come from the target (possibly inside a
 * container): every offset and size is checked against the file, and
 * files are read, never mapped, so one truncated under us cannot fault.
 */
#include "base/elf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct elf_file {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
};

struct elf_file *elf_file_open(const char *path)
{
	struct elf_file *ef = NULL;
	int err = 0;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return NULL;
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0) {
		err = errno;
		goto cleanup;
	}
	ef->elf = elf_begin(ef->fd, ELF_C_READ, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &ef->ehdr)) {
		err = ENOEXEC;
		goto cleanup;
	}
	return ef;
cleanup:
	elf_file_close(ef);
	errno = err;
	return NULL;
}

void elf_file_close(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	free(ef);
}

int elf_file_is_dyn(const struct elf_file *ef)
{
	return ef->ehdr.e_type == ET_DYN;
}

static int lookup_in_table(Elf_Scn *scn, const GElf_Shdr *sh, Elf *elf, const char *const *names,
			   uint64_t *values, size_t n, int found)
{
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!data || !sh->sh_entsize)
		return found;
	size_t count = data->d_size / sh->sh_entsize;

	for (size_t i = 0; i < count && (size_t)found < n; i++) {
		GElf_Sym sym;

		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, sym.st_name);

		if (!name)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (!values[k] && !strcmp(name, names[k])) {
				values[k] = sym.st_value;
				found++;
			}
		}
	}
	return found;
}

int elf_file_lookup(struct elf_file *ef, const char *const *names, uint64_t *values, size_t n)
{
	int found = 0;

	memset(values, 0, n * sizeof(*values));
	/* .dynsym first: present in every build; .symtab only when unstripped. */
	for (int pass = 0; pass < 2; pass++) {
		Elf_Scn *scn = NULL;
		GElf_Word want = pass == 0 ? SHT_DYNSYM : SHT_SYMTAB;

		while ((scn = elf_nextscn(ef->elf, scn))) {
			GElf_Shdr sh;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != want)
				continue;
			found = lookup_in_table(scn, &sh, ef->elf, names, values, n, found);
		}
	}
	return found;
}

static Elf_Scn *find_section(struct elf_file *ef, const char *name, GElf_Shdr *out)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *sname;

		if (!gelf_getshdr(scn, out))
			continue;
		sname = elf_strptr(ef->elf, shstrndx, out->sh_name);
		if (sname && !strcmp(sname, name))
			return scn;
	}
	return NULL;
}

int elf_file_section(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size)
{
	GElf_Shdr sh;

	if (!find_section(ef, name, &sh))
		return -ENOENT;
	*addr = sh.sh_addr;
	*size = sh.sh_size;
	return 0;
}

/* Walk the notes of one section looking for NT_GNU_BUILD_ID. */
static int find_build_id_note(struct elf_file *ef, Elf_Data **data_out, size_t *desc_off,
			      size_t *desc_len, GElf_Shdr *sh_out)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		size_t off = 0, next, name_off, doff;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, sh_out) || sh_out->sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((next = gelf_getnote(data, off, &nh, &name_off, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((char *)data->d_buf + name_off, "GNU", 4) && nh.n_descsz > 0 &&
			    nh.n_descsz <= 64) {
				*data_out = data;
				*desc_off = doff;
				*desc_len = nh.n_descsz;
				return 0;
			}
			off = next;
		}
	}
	return -ENOENT;
}

int elf_file_build_id(struct elf_file *ef, char *hex, size_t hexlen)
{
	Elf_Data *data;
	size_t off, len;
	GElf_Shdr sh;

	if (find_build_id_note(ef, &data, &off, &len, &sh))
		return -ENOENT;
	if (hexlen < 2 * len + 1)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((unsigned char *)data->d_buf)[off + i]);
	return (int)(2 * len);
}

int elf_file_build_id_vaddr(struct elf_file *ef, uint64_t *vaddr, size_t *len)
{
	Elf_Data *data;
	size_t off;
	GElf_Shdr sh;

	if (find_build_id_note(ef, &data, &off, len, &sh) || !(sh.sh_flags & SHF_ALLOC))
		return -ENOENT;
	*vaddr = sh.sh_addr + off;
	return 0;
}

int elf_file_load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_pgoff,
		       uint64_t *bias)
{
	size_t nphdr;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t mask = page > 0 ? (uint64_t)page - 1 : 4095;

	if (!elf_file_is_dyn(ef)) {
		*bias = 0;
		return 0;
	}
	if (elf_getphdrnum(ef->elf, &nphdr))
		return -ENOEXEC;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		uint64_t seg_off = ph.p_offset & ~mask;

		if (map_pgoff < seg_off || map_pgoff >= ph.p_offset + ph.p_filesz)
			continue;
		*bias = map_start - ((ph.p_vaddr & ~mask) + (map_pgoff - seg_off));
		return 0;
	}
	return -ENOENT;
}

int elf_file_read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	size_t nphdr;

	if (elf_getphdrnum(ef->elf, &nphdr))
		return -ENOEXEC;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr - ph.p_vaddr > ph.p_filesz ||
		    len > ph.p_filesz - (vaddr - ph.p_vaddr))
			continue;
		ssize_t got = pread(ef->fd, buf, len, (off_t)(ph.p_offset + (vaddr - ph.p_vaddr)));

		return got == (ssize_t)len ? 0 : -EIO;
	}
	return -ENOENT;
}
