/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The period of each CPU's sampler, drawn at random around the rate and
 * drawn again every few seconds.
 *
 * A cpu-clock event fires at fixed instants of its CPU's clock. The
 * scheduler switches tasks at fixed instants too (its tick), so with a
 * fixed period the samples fall at the same few points of each tick, and
 * a thread that shares its CPU is caught as often as those points say,
 * not as its CPU time says: 0.25 to 1.8 times its due at 250 Hz on a
 * 250 Hz kernel, 1.13 times at 1 kHz, 1.3 times at 100 Hz, measured. A
 * period drawn from a continuous range spreads the samples over every
 * point of the tick; drawing it again breaks any beat with another
 * periodic thing (a GIL's switch interval, an application's timer).
 */
#ifndef REFBPF_SAMPLE_PERIOD_H
#define REFBPF_SAMPLE_PERIOD_H
#include <stdint.h>

struct sample_period {
	uint64_t rng;		/* xorshift64 state, never 0 */
	double rate_hz;
};

void sample_period_init(struct sample_period *sp, unsigned int rate_hz, uint64_t seed);
/*
 * The period (ns) for one CPU's next stretch, and how long that stretch
 * lasts (seconds, 1 to 3). Samples per second of CPU time average
 * `rate_hz` over the stretches, counting the part of a period that
 * setting a new one discards.
 */
uint64_t sample_period_draw(struct sample_period *sp, double *stretch_s);
#endif /* REFBPF_SAMPLE_PERIOD_H */
