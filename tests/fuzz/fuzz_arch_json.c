/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the architecture JSON parser
 * (both OFA spaces): a parsed architecture must be valid and its canonical
 * form must parse back to the same architecture.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "space/space.h"

static struct ab_space *spaces[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!spaces[0]) {
        if (ab_space_create_builtin("ofa_mbv3", &spaces[0]) ||
            ab_space_create_builtin("ofa_pn", &spaces[1]))
            abort();
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int k = 0; k < 2; k++) {
        struct ab_arch a, b;
        if (ab_arch_parse_json(spaces[k], text, &a) != AB_OK) continue;
        if (ab_arch_validate(spaces[k], &a) != AB_OK) abort();
        char *json = ab_arch_to_json(spaces[k], &a);
        if (!json || ab_arch_parse_json(spaces[k], json, &b) != AB_OK || !ab_arch_equal(&a, &b))
            abort();
        free(json);
    }
    free(text);
    return 0;
}
