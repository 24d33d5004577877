// SPDX-License-Identifier: BSD-2-Clause
#include "record/thread_list.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arch.h"
#include "base/grow.h"
#include "record/kernel_features.h"
#include "threads.skel.h"

/*
 * Each iterator is loaded once per refbpf process and shared by every
 * lister: a load parses the kernel's BTF, a third of a second on a busy
 * machine and seconds under emulation, and refbpf lists threads again and
 * again (thread names of every new target). Which process a look lists is
 * a global the program reads, set before each look. [0]: list_threads,
 * [1]: list_waiting_threads, each alone in its object, so that a kernel
 * refusing the one still runs the other.
 */
static struct threads_bpf *shared[2];
static struct bpf_link *shared_link[2];
static int shared_error[2];

static int shared_load(bool waits)
{
	struct threads_bpf *skel;
	int err;

	if (shared[waits] || shared_error[waits])
		return shared_error[waits];
	skel = threads_bpf__open();
	if (!skel)
		return shared_error[waits] = -errno;
	skel->rodata->have_task_btf = kernel_features_get()->task_btf;
	skel->rodata->have_task_pt_regs = kernel_features_get()->task_pt_regs;
	bpf_program__set_autoload(skel->progs.list_threads, !waits);
	bpf_program__set_autoload(skel->progs.list_waiting_threads, waits);
	err = threads_bpf__load(skel);
	if (!err) {
		shared_link[waits] = bpf_program__attach_iter(
			waits ? skel->progs.list_waiting_threads : skel->progs.list_threads, NULL);
		if (!shared_link[waits])
			err = -errno;
	}
	if (err) {
		threads_bpf__destroy(skel);
		return shared_error[waits] = err;
	}
	shared[waits] = skel;
	return 0;
}

void thread_list_prepare(bool waits)
{
	shared_load(false);
	if (waits)
		shared_load(true);
}

struct thread_lister {
	pid_t pid;
	bool waits;
	uint32_t thread_id_bias;	/* user/base/arch.h */
};

struct thread_lister *thread_lister_open(pid_t pid, bool waits, char *why, size_t whylen)
{
	struct thread_lister *t;
	uint32_t bias;
	int err = shared_load(waits);

	if (err) {
		snprintf(why, whylen, "cannot list the threads (BPF task iterator): %s", strerror(-err));
		errno = -err;
		return NULL;
	}
	err = arch_thread_id_bias(pid, &bias, why, whylen);
	if (err) {
		errno = -err;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(why, whylen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	t->pid = pid;
	t->waits = waits;
	t->thread_id_bias = bias;
	return t;
}

void thread_lister_close(struct thread_lister *t)
{
	free(t);
}

/* Every record of one look, each `size` bytes, into a malloc'd array. */
static int read_records(struct thread_lister *t, size_t size, void **out, size_t *n, char *why,
			size_t whylen)
{
	char *recs = NULL;
	size_t count = 0, cap = 0;
	int err = 0, fd;

	*out = NULL;
	*n = 0;
	/* which process this look lists: read by the program as it runs,
	 * for this iterator's reads alone (refbpf looks from one thread) */
	shared[t->waits]->bss->target_tgid = (__u32)t->pid;
	shared[t->waits]->bss->thread_id_bias = t->thread_id_bias;
	fd = bpf_iter_create(bpf_link__fd(shared_link[t->waits]));
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cannot list the threads (BPF task iterator): %s", strerror(-err));
		return err;
	}
	for (;;) {
		if (grow_array(&recs, &cap, count, size, 64)) {
			err = -ENOMEM;
			snprintf(why, whylen, "out of memory");
			goto cleanup;
		}
		/* The iterator hands out whole records. */
		ssize_t got = read(fd, recs + count * size, size);

		if (got == 0)
			break;
		if (got != (ssize_t)size) {
			err = got < 0 ? -errno : -EIO;
			snprintf(why, whylen, "cannot read the thread list: %s", strerror(-err));
			goto cleanup;
		}
		struct thread_record *rec = (struct thread_record *)(recs + count * size);

		rec->comm[sizeof(rec->comm) - 1] = 0;
		count++;
	}
	*out = recs;
	*n = count;
	recs = NULL;
cleanup:
	free(recs);
	close(fd);
	return err;
}

int thread_lister_read(struct thread_lister *t, struct thread_record **out, size_t *n, char *why,
		       size_t whylen)
{
	if (t->waits) {
		snprintf(why, whylen, "internal error: a lister of waits read as threads");
		return -EINVAL;
	}
	return read_records(t, sizeof(**out), (void **)out, n, why, whylen);
}

int thread_lister_read_waits(struct thread_lister *t, struct thread_wait_record **out, size_t *n,
			     char *why, size_t whylen)
{
	if (!t->waits) {
		snprintf(why, whylen, "internal error: a lister of threads read as waits");
		return -EINVAL;
	}
	/* thread_record comes first in a wait record: its comm is cut too */
	return read_records(t, sizeof(**out), (void **)out, n, why, whylen);
}

int thread_list_read(pid_t pid, struct thread_record **out, size_t *n, char *why, size_t whylen)
{
	struct thread_lister *t = thread_lister_open(pid, false, why, whylen);
	int err;

	*out = NULL;
	*n = 0;
	if (!t)
		return -errno;
	err = thread_lister_read(t, out, n, why, whylen);
	thread_lister_close(t);
	return err;
}

const struct thread_record *thread_list_find(const struct thread_record *tasks, size_t n,
					     uint64_t thread_id)
{
	for (size_t i = 0; i < n; i++)
		if (tasks[i].thread_id == thread_id)
			return &tasks[i];
	return NULL;
}

bool thread_stayed_still(const struct thread_record *before, const struct thread_record *after)
{
	return before && after && before->tid == after->tid && before->state && after->state &&
	       before->runtime_ns == after->runtime_ns && before->switches == after->switches;
}
