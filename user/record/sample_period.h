/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The sampler's period: 1% longer than 1/rate, the one place that says so
 * (the BPF session's perf events, the profile's time per sample, and wall
 * mode's off-CPU intervals all use it).
 *
 * A cpu-clock event fires at fixed instants of its CPU's clock, and the
 * scheduler switches tasks at fixed instants too (its tick). With a period
 * that divides the tick's, or the tick's divides it, the samples fall at
 * the same few points of each tick, and a thread sharing its CPU is caught
 * as often as those points say, not as its CPU time says: 0.25 to 1.8
 * times its due at 250 Hz on a 250 Hz kernel, 0.66 to 1.34 at 100 Hz,
 * 0.93 to 1.14 at 1000 Hz, measured. One percent more moves each sample 1%
 * of a period further into the tick than the one before, so the samples
 * sweep every point of the tick within a tick's length / 1% (0.4 s at
 * 250 Hz), whatever the rate and the kernel's HZ. Times are counted with
 * this period, so they stay exact; the rate is 1% below the one asked for.
 */
#ifndef REFBPF_SAMPLE_PERIOD_H
#define REFBPF_SAMPLE_PERIOD_H
#include <stdint.h>

static inline uint64_t sample_period_ns(unsigned int rate_hz)
{
	uint64_t period = 1000000000ull / rate_hz;

	return period + period / 100;
}
#endif /* REFBPF_SAMPLE_PERIOD_H */
