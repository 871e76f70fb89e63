/* SPDX-License-Identifier: MIT
 *
 * u64map.h - an open-addressing hash map from 64-bit keys (architecture
 * hashes) to 64-bit values (row indices). Keys may be any value.
 */
#ifndef AB_UTIL_U64MAP_H
#define AB_UTIL_U64MAP_H

#include <stdint.h>

#include "util/error.h"

struct ab_u64map {
    uint64_t *keys;
    int64_t *vals;
    uint8_t *used;
    uint64_t cap;  /* power of two */
    uint64_t n;
};

/* Initialises an empty map. Fails only when out of memory. */
ab_status ab_u64map_init(struct ab_u64map *m, uint64_t expected);
void ab_u64map_free(struct ab_u64map *m);

/* Inserts key -> val unless present. *existing (optional) receives the
 * current value when the key was present; returns 1 when it was present,
 * 0 when inserted, -1 when out of memory. */
int ab_u64map_put(struct ab_u64map *m, uint64_t key, int64_t val, int64_t *existing);

/* 1 and *val when present, 0 otherwise. */
int ab_u64map_get(const struct ab_u64map *m, uint64_t key, int64_t *val);

#endif
