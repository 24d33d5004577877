// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer: ELF files as a target maps them: symbols, sections,
 * build-id, load bias and reads by virtual address. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/elf_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "_PyRuntime", "Py_Version", "PyCode_Type" };
	uint64_t values[3], addr, len, bias, vaddr;
	char path[64], hex[129];
	uint8_t buf[64];
	struct elf_file *ef;
	size_t idlen;
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ef = elf_file_open(path);
	if (ef) {
		elf_file_lookup(ef, names, values, 3);
		elf_file_section(ef, ".text", &addr, &len);
		elf_file_build_id(ef, hex, sizeof(hex));
		if (!elf_file_build_id_vaddr(ef, &vaddr, &idlen))
			elf_file_read_vaddr(ef, vaddr, buf, idlen < sizeof(buf) ? idlen : sizeof(buf));
		elf_file_load_bias(ef, 0x400000, 0, &bias);
		for (int i = 0; i < 3; i++)
			if (values[i])
				elf_file_read_vaddr(ef, values[i], buf, sizeof(buf));
		elf_file_close(ef);
	}
	close(fd);
	return 0;
}
