/* SPDX-License-Identifier: MIT
 *
 * This file implements the built-in Once-for-All search spaces (METHOD.md
 * section 1):
 *
 *   ofa_mbv3  5 stages of 2-4 MBConv3 layers, e in {3,4,6} x k in {3,5,7};
 *             7371 subgraphs per stage, 7371^5 architectures per resolution.
 *   ofa_pn    6 stages of MBConv2 layers: stages 1-5 hold 2-4, stage 6 exactly
 *             one elastic block; stages 5 and 6 form one search unit of 3-5
 *             layers (9^3 + 9^4 + 9^5 = 66339 subgraphs).
 *
 * Both take input resolutions 128 to 224 in steps of 4, as OFA trains them;
 * sampling draws from {192, 208, 224} by default, the resolutions of the
 * authors' labelled data (their predictors encode (r - 192) / 32).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/space.h"

static const int ofa_expands[3] = {3, 4, 6};
static const int ofa_kernels[3] = {3, 5, 7};
static const int ofa_sample_res[3] = {192, 208, 224};

static ab_status fill_stage(struct ab_stage *st, int family, int min_l, int max_l)
{
    ab_status rc = AB_OK;
    st->min_layers = min_l;
    st->max_layers = max_l;
    st->n_choices = 9;
    st->choices = calloc(9, sizeof *st->choices);
    AB_CHECK_ALLOC(st->choices);
    for (int e = 0; e < 3; e++) {
        for (int k = 0; k < 3; k++) {
            struct ab_choice *c = &st->choices[e * 3 + k];
            char name[32];
            snprintf(name, sizeof name, "mbconv%d_e%d_k%d", family, ofa_expands[e],
                     ofa_kernels[k]);
            c->name = strdup(name);
            AB_CHECK_ALLOC(c->name);
            c->expand = ofa_expands[e];
            c->kernel = ofa_kernels[k];
        }
    }
cleanup:
    return rc;
}

ab_status ab_space_create_builtin(const char *name, struct ab_space **out)
{
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    int is_mbv3 = !strcmp(name, "ofa_mbv3"), is_pn = !strcmp(name, "ofa_pn");
    char def[64];
    *out = NULL;
    if (!strcmp(name, "sd_unet") || !strcmp(name, "sd_unet_hw"))
        return ab_sdunet_create_builtin(name, out);
    AB_CHECK(is_mbv3 || is_pn, AB_ERR_INPUT,
             "unknown space '%.64s': use ofa_mbv3, ofa_pn, sd_unet, sd_unet_hw or a YAML "
             "space file (a path ending in .yaml)", name);
    sp = calloc(1, sizeof *sp);
    AB_CHECK_ALLOC(sp);
    sp->kind = is_mbv3 ? AB_SPACE_OFA_MBV3 : AB_SPACE_OFA_PN;
    sp->name = strdup(name);
    sp->source = strdup("built-in");
    snprintf(def, sizeof def, "{\"builtin\":\"%s\"}", name);
    sp->definition = strdup(def);
    AB_CHECK_ALLOC(sp->name);
    AB_CHECK_ALLOC(sp->source);
    AB_CHECK_ALLOC(sp->definition);
    sp->n_stages = is_mbv3 ? 5 : 6;
    for (int s = 0; s < sp->n_stages; s++) {
        int fixed = is_pn && s == 5;
        AB_CALL(fill_stage(&sp->stages[s], is_mbv3 ? 3 : 2, fixed ? 1 : 2, fixed ? 1 : 4));
    }
    if (is_pn) {
        sp->n_units = 5;
        for (int u = 0; u < 4; u++) sp->units[u] = (struct ab_unit){u, 1};
        sp->units[4] = (struct ab_unit){4, 2};
    }
    sp->n_resolutions = 25;
    sp->resolutions = malloc(25 * sizeof(int));
    AB_CHECK_ALLOC(sp->resolutions);
    for (int i = 0; i < 25; i++) sp->resolutions[i] = 128 + 4 * i;
    sp->n_sample_resolutions = 3;
    sp->sample_resolutions = malloc(3 * sizeof(int));
    AB_CHECK_ALLOC(sp->sample_resolutions);
    memcpy(sp->sample_resolutions, ofa_sample_res, sizeof ofa_sample_res);
    AB_CALL(ab_space_finalize(sp));
    *out = sp;
    sp = NULL;
cleanup:
    ab_space_destroy(&sp);
    return rc;
}
