/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * `refbpf top`: a live view of where the targets spend their time, redrawn
 * every second like top(1): for each function its share of the last second
 * (self and total) and its time since the start. On a terminal the screen
 * is redrawn and keys re-sort it; otherwise each refresh is printed as
 * plain text.
 */
#ifndef REFBPF_TOP_H
#define REFBPF_TOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "profile/profile.h"

struct top;

/* `limit` rows at most (0: fit the terminal, or 30); `stop` is set by 'q'. */
struct top *top_new(size_t limit, volatile sig_atomic_t *stop);
/* Restores the terminal. */
void top_free(struct top *t);

/* A recorder window callback (recorder_opts.on_window): redraw. */
int top_on_window(void *ctx, const struct profile *window, time_t start);

#endif /* REFBPF_TOP_H */
