/* SPDX-License-Identifier: MIT
 *
 * This file implements the linear-probing hash map of u64map.h.
 */
#include "util/u64map.h"

#include <stdlib.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

ab_status ab_u64map_init(struct ab_u64map *m, uint64_t expected)
{
    uint64_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    m->used = calloc(cap, 1);
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->vals || !m->used) {
        ab_u64map_free(m);
        return ab_err_set(AB_ERR_NOMEM, "out of memory for a hash map of %llu entries",
                          (unsigned long long)expected);
    }
    return AB_OK;
}

void ab_u64map_free(struct ab_u64map *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    m->keys = NULL;
    m->vals = NULL;
    m->used = NULL;
    m->cap = m->n = 0;
}

static int grow(struct ab_u64map *m)
{
    struct ab_u64map bigger;
    if (ab_u64map_init(&bigger, m->cap) != AB_OK) return -1;
    for (uint64_t i = 0; i < m->cap; i++)
        if (m->used[i]) ab_u64map_put(&bigger, m->keys[i], m->vals[i], NULL);
    ab_u64map_free(m);
    *m = bigger;
    return 0;
}

int ab_u64map_put(struct ab_u64map *m, uint64_t key, int64_t val, int64_t *existing)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0) return -1;
    uint64_t i = mix(key) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) {
            if (existing) *existing = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

int ab_u64map_get(const struct ab_u64map *m, uint64_t key, int64_t *val)
{
    if (!m->cap) return 0;
    uint64_t i = mix(key) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) {
            if (val) *val = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}
