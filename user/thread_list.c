// SPDX-License-Identifier: BSD-2-Clause
#include "thread_list.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threads.skel.h"

int thread_list_read(pid_t pid, struct thread_record **out, size_t *n, char *why, size_t whylen)
{
	struct threads_bpf *skel = threads_bpf__open();
	struct bpf_link *link = NULL;
	struct thread_record *recs = NULL;
	size_t count = 0, cap = 0;
	int err = 0, fd = -1;

	*out = NULL;
	*n = 0;
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "cannot open the thread lister: %s", strerror(-err));
		return err;
	}
	skel->rodata->target_tgid = (__u32)pid;
	err = threads_bpf__load(skel);
	if (!err) {
		link = bpf_program__attach_iter(skel->progs.list_threads, NULL);
		if (!link)
			err = -errno;
	}
	if (!err) {
		fd = bpf_iter_create(bpf_link__fd(link));
		if (fd < 0)
			err = -errno;
	}
	if (err) {
		snprintf(why, whylen, "cannot list the threads (BPF task iterator): %s", strerror(-err));
		goto cleanup;
	}
	for (;;) {
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct thread_record *nr = realloc(recs, ncap * sizeof(*nr));

			if (!nr) {
				err = -ENOMEM;
				snprintf(why, whylen, "out of memory");
				goto cleanup;
			}
			recs = nr;
			cap = ncap;
		}
		/* The iterator hands out whole records. */
		ssize_t got = read(fd, &recs[count], sizeof(*recs));

		if (got == 0)
			break;
		if (got != (ssize_t)sizeof(*recs)) {
			err = got < 0 ? -errno : -EIO;
			snprintf(why, whylen, "cannot read the thread list: %s", strerror(-err));
			goto cleanup;
		}
		recs[count].comm[sizeof(recs[count].comm) - 1] = 0;
		count++;
	}
	*out = recs;
	*n = count;
	recs = NULL;
cleanup:
	free(recs);
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	threads_bpf__destroy(skel);
	return err;
}
