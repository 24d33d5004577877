// SPDX-License-Identifier: BSD-2-Clause
/*
 * A process caught while the dynamic loader places a library, for
 * tests/test_cli.py:
 *   map_file FILE
 * maps FILE read-only in one piece from offset 0, as the loader's first
 * mmap of a library does before it maps each segment over it, prints
 * READY and waits for stdin to close. Each segment whose file offset
 * differs from its address (the data of most libraries) shows other bytes
 * of the file at its address.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	char c;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: map_file FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	if (mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
