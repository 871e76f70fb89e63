/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the search configuration
 * loader (YAML -> search settings, objectives, insight rules, evaluator
 * specs): any input either loads, and then has an identity and a budget, or
 * fails with a one-line error; it never crashes or leaks. Evaluators are
 * not created (that would read files named by the input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ab_search_config *c = NULL;
    if (ab_search_config_parse((const char *)data, size, "fuzz.yaml", &c) != AB_OK) {
        if (strchr(ab_err_msg(), '\n') || !ab_err_msg()[0]) abort();
        return 0;
    }
    if (!c->identity || !c->space || c->n_obj < 1 || c->init < 1) abort();
    ab_search_config_destroy(&c);
    return 0;
}
