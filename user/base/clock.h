/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef REFBPF_CLOCK_H
#define REFBPF_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in seconds: deadlines, durations, start-up timings. */
static inline double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The same in nanoseconds: the clock bpf_ktime_get_ns() reads. */
static inline unsigned long long monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

#endif /* REFBPF_CLOCK_H */
