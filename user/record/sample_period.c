// SPDX-License-Identifier: BSD-2-Clause
#include "record/sample_period.h"

/* Rates drawn within this fraction of the one asked for. */
#define SPREAD 0.1
/* Stretches last 1 to 3 s as drawn (longer while the loop sleeps). */
#define MEAN_STRETCH_S 2.0

static double uniform(struct sample_period *sp)
{
	uint64_t x = sp->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	sp->rng = x;
	return (double)(x >> 11) / (double)(1ull << 53);	/* [0, 1) */
}

void sample_period_init(struct sample_period *sp, unsigned int rate_hz, uint64_t seed)
{
	sp->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	sp->rate_hz = rate_hz;
}

uint64_t sample_period_draw(struct sample_period *sp, double *stretch_s)
{
	/*
	 * Setting a period restarts the event: the part of the old period
	 * already counted is lost, half a period on average, once per
	 * stretch. A stretch of T seconds at rate r then gives r*T - 1/2
	 * samples on average: asking r + 1/(2 mean T) gives the rate wanted
	 * (within 0.25 Hz where stretches last longer, the loop asleep).
	 * The rate, not the period, is drawn uniformly, so the rates average
	 * exactly what was asked.
	 */
	double rate = (sp->rate_hz + 0.5 / MEAN_STRETCH_S) * (1.0 + SPREAD * (2.0 * uniform(sp) - 1.0));

	*stretch_s = MEAN_STRETCH_S * (0.5 + uniform(sp));
	return (uint64_t)(1e9 / rate);
}
