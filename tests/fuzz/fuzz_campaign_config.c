/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the campaign configuration
 * loader (campaign, data, predictors, modules and search sections, their
 * evaluator lists and target equations): any input either loads, and then
 * has a folder, a space, data metrics every target binds to and a search
 * configuration text, or fails with a one-line error; it never crashes or
 * leaks. Evaluators are created (that is how they are checked), so files
 * named by the input may be read, never written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ab_campaign *c = NULL;
    char *text = NULL;
    if (ab_campaign_parse((const char *)data, size, "fuzz.yaml", &c) != AB_OK) {
        if (strchr(ab_err_msg(), '\n') || !ab_err_msg()[0]) abort();
        return 0;
    }
    if (!c->dir || !c->space || c->n < 1 || c->n_pred < 1 || c->n_data_metrics < 1 ||
        c->n_obj < 1 || c->n_k < 1)
        abort();
    if (ab_campaign_search_yaml(c, "reduced.h5", "search.h5", "autobuild_nas", NULL, &text) != AB_OK || !text) abort();
    free(text);
    ab_campaign_destroy(&c);
    return 0;
}
