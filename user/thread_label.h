/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * How a thread is named in every output: its Python name (threading.Thread
 * (name=...)) beside its OS name, "worker-1 (OS: python3)"; the Python name
 * alone when the OS name is the same or its start (3.14+ name OS threads
 * after Python's, cut to 15 bytes); the OS name alone when there is no
 * Python name; "?" when neither is known.
 */
#ifndef REFBPF_THREAD_LABEL_H
#define REFBPF_THREAD_LABEL_H

#include <stddef.h>

/* Like snprintf: at most len bytes with the NUL; the length needed. */
size_t thread_label(char *buf, size_t len, const char *os_name, const char *py_name);

/*
 * Copy a name cut to `len` bytes at a UTF-8 character boundary (a name read
 * from a target may be any length).
 */
void thread_name_copy(char *dst, size_t len, const char *src);

/* Bytes a label can need. */
#define THREAD_LABEL_MAX (64 + 16 + 8)

#endif /* REFBPF_THREAD_LABEL_H */
