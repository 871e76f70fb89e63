/* SPDX-License-Identifier: MIT
 *
 * rng.h - a small, seedable, platform-independent random number generator
 * (xoshiro256** seeded through splitmix64). The same seed gives the same
 * stream on every machine and compiler.
 */
#ifndef AB_UTIL_RNG_H
#define AB_UTIL_RNG_H

#include <stdint.h>

struct ab_rng {
    uint64_t s[4];
};

void ab_rng_seed(struct ab_rng *r, uint64_t seed);
uint64_t ab_rng_next(struct ab_rng *r);
/* Uniform integer in [0, n), without modulo bias. n must be >= 1. */
uint64_t ab_rng_below(struct ab_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double ab_rng_uniform(struct ab_rng *r);
/* Standard normal (Box-Muller). */
double ab_rng_normal(struct ab_rng *r);

#endif /* AB_UTIL_RNG_H */
