/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libbpf's messages: shown with -vv only. A user never sees a verifier
 * log; what failed is kept for a one-line error instead.
 */
#ifndef REFBPF_LIBBPF_LOG_H
#define REFBPF_LIBBPF_LOG_H

#include <stddef.h>

/* Route libbpf's messages: all of them to stderr when `show`, else none. */
void libbpf_log_init(int show);

/* What libbpf last failed to load or create, as "program 'NAME'" or
 * "map 'NAME'"; "" when nothing failed. */
const char *libbpf_log_last_failure(void);

#endif /* REFBPF_LIBBPF_LOG_H */
