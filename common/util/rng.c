/* SPDX-License-Identifier: MIT
 *
 * This file implements xoshiro256** (Blackman and Vigna) seeded by
 * splitmix64, with unbiased bounded integers by rejection.
 */
#include "util/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ab_rng_seed(struct ab_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t ab_rng_next(struct ab_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ab_rng_below(struct ab_rng *r, uint64_t n)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do {
        x = ab_rng_next(r);
    } while (x >= limit);
    return x % n;
}

double ab_rng_uniform(struct ab_rng *r)
{
    return (double)(ab_rng_next(r) >> 11) * 0x1.0p-53;
}

double ab_rng_normal(struct ab_rng *r)
{
    double u1, u2;
    do {
        u1 = ab_rng_uniform(r);
    } while (u1 <= 0.0);
    u2 = ab_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
