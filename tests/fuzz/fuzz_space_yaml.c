/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the YAML space loader: any
 * input either loads (and then every derived quantity must be computable) or
 * fails with an error text; it never crashes or leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "space/space.h"
#include "util/rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ab_space *sp = NULL;
    if (ab_space_from_yaml((const char *)data, size, "fuzz.yaml", &sp) != AB_OK) return 0;
    char *s = ab_space_size_string(sp);
    free(s);
    (void)ab_space_size_log10(sp);
    struct ab_rng rng;
    ab_rng_seed(&rng, 1);
    for (int i = 0; i < 4; i++) {
        struct ab_arch a, b;
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        if (ab_arch_validate(sp, &a) != AB_OK) abort();
        char *json = ab_arch_to_json(sp, &a);
        if (!json || ab_arch_parse_json(sp, json, &b) != AB_OK || !ab_arch_equal(&a, &b)) abort();
        free(json);
    }
    for (int u = 0; u < sp->n_units; u++) {
        uint64_t n = ab_space_unit_count(sp, u);
        struct ab_subgraph g;
        if (n != UINT64_MAX && ab_space_unit_subgraph(sp, u, n - 1, &g) != AB_OK) abort();
    }
    struct ab_space *again = NULL;
    if (ab_space_from_definition(sp->definition, "again", &again) != AB_OK) abort();
    ab_space_destroy(&again);
    ab_space_destroy(&sp);
    return 0;
}
