/* SPDX-License-Identifier: MIT
 *
 * This file implements exact MAC and parameter counts of Once-for-All subnets
 * (ofa_cost.h). It walks the subnet that OFA's get_active_subnet() splices out
 * of the supernet (mit-han-lab/once-for-all: elastic_nn/networks/ofa_mbv3.py
 * and ofa_proxyless.py for the network, elastic_nn/modules/dynamic_layers.py
 * for the block widths, ofa/utils/layers.py for each layer's convolutions,
 * BatchNorms and biases) layer by layer and adds up, in 64-bit integers, what
 * the hooks of ofa/utils/flops_counter.py and count_parameters() in
 * ofa/utils/pytorch_utils.py count. tools/dev/ofa_cost_reference.py checks the
 * result against the Python code.
 */
#include <stdint.h>

#include "ofa/ofa_cost.h"
#include "ofa/ofa_net.h"
#include "space/space.h"
#include "util/error.h"

/* A Conv2d with kernel k on an output map of side h_out: dense (groups 1)
 * or depthwise (groups = c_in = c_out), optional bias and BatchNorm. */
static void add_conv(struct ab_ofa_cost *c, uint64_t c_in, uint64_t c_out, int k,
                     int depthwise, uint64_t h_out, int bias, int bn)
{
    uint64_t in_per_group = depthwise ? 1 : c_in;
    uint64_t weights = in_per_group * c_out * (uint64_t)k * (uint64_t)k;
    c->macs += weights * h_out * h_out;
    c->params += weights + (bias ? c_out : 0) + (bn ? 2 * c_out : 0);
}

static void add_linear(struct ab_ofa_cost *c, uint64_t in, uint64_t out)
{
    c->macs += in * out;
    c->params += in * out + out; /* LinearLayer has bias=True */
}

/* One MBConvLayer as get_active_subnet() builds it (expand 1 = no expansion
 * conv, the fixed first block). */
static void add_mbconv(struct ab_ofa_cost *c, const struct ab_ofa_block *b)
{
    if (b->expand != 1) add_conv(c, b->c_in, b->mid, 1, 0, b->h_in, 0, 1);
    add_conv(c, b->mid, b->mid, b->kernel, 1, b->h_out, 0, 1);
    if (b->se_mid) {
        add_conv(c, b->mid, b->se_mid, 1, 0, 1, 1, 0); /* reduce, on the pooled map */
        add_conv(c, b->se_mid, b->mid, 1, 0, 1, 1, 0); /* expand */
    }
    add_conv(c, b->mid, b->c_out, 1, 0, b->h_out, 0, 1);
}

ab_status ab_ofa_cost(const struct ab_space *sp, const struct ab_arch *a,
                      double width_mult, int n_classes, struct ab_ofa_cost *out)
{
    struct ab_ofa_plan p;
    struct ab_ofa_cost c = {0, 0};

    if (out) *out = c;
    if (!sp || !a || !out)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: ab_ofa_cost called with "
                          "a NULL pointer; please report this");
    AB_TRY(ab_ofa_plan_make(sp, a, width_mult, n_classes, &p));

    add_conv(&c, 3, p.stem, 3, 0, p.h_stem, 0, 1);
    for (int i = 0; i < p.n_blocks; i++) add_mbconv(&c, &p.blocks[i]);
    if (p.final_expand) {
        /* MBv3: final expand (BN) at h x h, pool, feature mix on 1 x 1
         * without BN or bias */
        add_conv(&c, p.c_feat, p.final_expand, 1, 0, p.h_last, 0, 1);
        add_conv(&c, p.final_expand, p.last, 1, 0, 1, 0, 0);
    } else {
        /* PN: feature mix (BN) at h x h, then pool */
        add_conv(&c, p.c_feat, p.last, 1, 0, p.h_last, 0, 1);
    }
    add_linear(&c, p.last, (uint64_t)p.n_classes);
    *out = c;
    return AB_OK;
}

double ab_ofa_default_width(const struct ab_space *sp)
{
    /* The AutoBuild authors load ofa_net("ofa_mbv3_d234_e346_k357_w1.2") in
     * MBv3Manager and ofa_net("ofa_proxyless_d234_e346_k357_w1.3") in
     * PNManager (Ascend-Research/AutoBuild iterators/ofa_manager.py; also
     * rm_search/ofa/compute_flops.py). once-for-all's ofa/model_zoo.py builds
     * these with width_mult=1.2 and width_mult=1.3. */
    if (!sp) return 0.0;
    if (sp->kind == AB_SPACE_OFA_MBV3) return 1.2;
    if (sp->kind == AB_SPACE_OFA_PN) return 1.3;
    return 0.0;
}
