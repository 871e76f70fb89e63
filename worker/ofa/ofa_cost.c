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
#include "space/space.h"
#include "util/error.h"

#define OFA_MAX_STAGES 6
#define OFA_DIVISOR 8          /* MyNetwork.CHANNEL_DIVISIBLE */
#define OFA_SE_REDUCTION 4     /* SEModule.REDUCTION */
#define OFA_MAX_RESOLUTION 4096
#define OFA_MAX_WIDTH 4.0
#define OFA_MAX_CLASSES 1000000

/* One OFA network family: base widths before the multiplier and the fixed
 * per-stage settings of the supernet. */
struct net_def {
    const char *name;
    int n_stages;
    int stem_width;             /* first conv, 3x3 stride 2 */
    int first_block_width;      /* fixed MBConv, e = 1, k = 3, stride 1 */
    int stage_width[OFA_MAX_STAGES];
    int stride[OFA_MAX_STAGES]; /* of the first block of each stage */
    int use_se[OFA_MAX_STAGES];
    int max_layers[OFA_MAX_STAGES]; /* blocks the supernet holds per stage */
    int final_expand_width;     /* MBv3 only; 0 when absent */
    int last_width;             /* feature-mix output */
};

/* OFAMobileNetV3: base_stage_width = [16, 16, 24, 40, 80, 112, 160, 960,
 * 1280], stride_stages[1:] = [2, 2, 2, 1, 2], se_stages[1:] = [F, T, F, T, T],
 * 4 blocks per stage (depth_list 2, 3, 4). */
static const struct net_def mbv3_def = {
    .name = "ofa_mbv3",
    .n_stages = 5,
    .stem_width = 16,
    .first_block_width = 16,
    .stage_width = {24, 40, 80, 112, 160},
    .stride = {2, 2, 2, 1, 2},
    .use_se = {0, 1, 0, 1, 1},
    .max_layers = {4, 4, 4, 4, 4},
    .final_expand_width = 960,
    .last_width = 1280,
};

/* OFAProxylessNASNets (ProxylessNAS widths, not "google"): base_stage_width
 * = [32, 16, 24, 40, 80, 96, 192, 320, 1280], stride_stages = [2, 2, 2, 1, 2,
 * 1], n_block_list = [4] * 5 + [1], no SE. */
static const struct net_def pn_def = {
    .name = "ofa_pn",
    .n_stages = 6,
    .stem_width = 32,
    .first_block_width = 16,
    .stage_width = {24, 40, 80, 96, 192, 320},
    .stride = {2, 2, 2, 1, 2, 1},
    .use_se = {0, 0, 0, 0, 0, 0},
    .max_layers = {4, 4, 4, 4, 4, 1},
    .final_expand_width = 0,
    .last_width = 1280,
};

static const struct net_def *net_def_of(const struct ab_space *sp)
{
    if (sp->kind == AB_SPACE_OFA_MBV3) return &mbv3_def;
    if (sp->kind == AB_SPACE_OFA_PN) return &pn_def;
    return NULL;
}

/* OFA's make_divisible(v, 8) (ofa/utils/pytorch_modules.py), in the same
 * double arithmetic: max(8, int(v + 4) // 8 * 8), plus 8 when that rounded
 * down by more than 10%. v is positive and small here. */
static uint64_t make_divisible(double v)
{
    uint64_t new_v = (uint64_t)(v + OFA_DIVISOR / 2.0) / OFA_DIVISOR * OFA_DIVISOR;
    if (new_v < OFA_DIVISOR) new_v = OFA_DIVISOR;
    if ((double)new_v < 0.9 * v) new_v += OFA_DIVISOR;
    return new_v;
}

/* Output side of a same-padded (pad k / 2) convolution with odd k:
 * floor((h + 2 (k / 2) - k) / stride) + 1 = ceil(h / stride). */
static uint64_t conv_out(uint64_t h, int stride)
{
    return (h - 1) / (uint64_t)stride + 1;
}

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
 * conv, the fixed first block). *h is the input side on entry and the output
 * side on return. */
static void add_mbconv(struct ab_ofa_cost *c, uint64_t c_in, uint64_t c_out,
                       int expand, int kernel, int stride, int use_se, uint64_t *h)
{
    uint64_t mid = c_in;
    uint64_t h_out = conv_out(*h, stride);
    if (expand != 1) {
        /* active_middle_channel(): make_divisible(round(c_in * e), 8) */
        mid = make_divisible((double)(c_in * (uint64_t)expand));
        add_conv(c, c_in, mid, 1, 0, *h, 0, 1);
    }
    add_conv(c, mid, mid, kernel, 1, h_out, 0, 1);
    if (use_se) {
        uint64_t se_mid = make_divisible((double)(mid / OFA_SE_REDUCTION));
        add_conv(c, mid, se_mid, 1, 0, 1, 1, 0); /* reduce, on the pooled map */
        add_conv(c, se_mid, mid, 1, 0, 1, 1, 0); /* expand */
    }
    add_conv(c, mid, c_out, 1, 0, h_out, 0, 1);
    *h = h_out;
}

/* Checks what ab_ofa_cost() reads of the space and the architecture. */
static ab_status check_input(const struct ab_space *sp, const struct ab_arch *a,
                             const struct net_def *def, double width_mult,
                             int n_classes)
{
    if (!def)
        return ab_err_set(AB_ERR_INPUT, "ofa_cost: space kind %d is not an OFA "
                          "space; MAC and parameter counts exist only for "
                          "ofa_mbv3 and ofa_pn", (int)sp->kind);
    if (sp->n_stages != def->n_stages)
        return ab_err_set(AB_ERR_INPUT, "ofa_cost: space %s has %d stages; the "
                          "OFA supernet has %d", def->name, sp->n_stages,
                          def->n_stages);
    if (!(width_mult > 0.0 && width_mult <= OFA_MAX_WIDTH))
        return ab_err_set(AB_ERR_INPUT, "ofa_cost: width multiplier %g is out "
                          "of range; expected (0, %g], e.g. 1.2 for ofa_mbv3, "
                          "1.3 for ofa_pn", width_mult, OFA_MAX_WIDTH);
    if (n_classes < 1 || n_classes > OFA_MAX_CLASSES)
        return ab_err_set(AB_ERR_INPUT, "ofa_cost: %d classes is out of range; "
                          "expected 1 to %d (1000 for ImageNet)", n_classes,
                          OFA_MAX_CLASSES);
    if (a->resolution < 1 || a->resolution > OFA_MAX_RESOLUTION)
        return ab_err_set(AB_ERR_INPUT, "ofa_cost: resolution %d is out of "
                          "range; expected 1 to %d (OFA trains 128 to 224)",
                          a->resolution, OFA_MAX_RESOLUTION);
    for (int s = 0; s < def->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        int d = a->depth[s];
        if (d < 1 || d < st->min_layers || d > st->max_layers || d > def->max_layers[s])
            return ab_err_set(AB_ERR_INPUT, "ofa_cost: stage %d has %d layers; "
                              "the space allows %d to %d and the %s supernet "
                              "at most %d", s + 1, d, st->min_layers,
                              st->max_layers, def->name, def->max_layers[s]);
        for (int l = 0; l < d; l++) {
            int ci = a->choice[s][l];
            const struct ab_choice *ch;
            if (ci >= st->n_choices || !st->choices)
                return ab_err_set(AB_ERR_INPUT, "ofa_cost: stage %d layer %d: "
                                  "choice %d does not exist; the stage has %d",
                                  s + 1, l + 1, ci, st->n_choices);
            ch = &st->choices[ci];
            if ((ch->expand != 3 && ch->expand != 4 && ch->expand != 6) ||
                (ch->kernel != 3 && ch->kernel != 5 && ch->kernel != 7))
                return ab_err_set(AB_ERR_INPUT, "ofa_cost: stage %d layer %d: "
                                  "expansion %d, kernel %d is not in the "
                                  "supernet; expected e in {3,4,6}, k in {3,5,7}",
                                  s + 1, l + 1, ch->expand, ch->kernel);
        }
    }
    return AB_OK;
}

ab_status ab_ofa_cost(const struct ab_space *sp, const struct ab_arch *a,
                      double width_mult, int n_classes, struct ab_ofa_cost *out)
{
    ab_status rc = AB_OK;
    const struct net_def *def = NULL;
    struct ab_ofa_cost c = {0, 0};
    uint64_t h, width;

    if (out) *out = c;
    AB_CHECK(sp && a && out, AB_ERR_INTERNAL,
             "internal error: ab_ofa_cost called with a NULL pointer; "
             "please report this");
    def = net_def_of(sp);
    AB_CALL(check_input(sp, a, def, width_mult, n_classes));

    /* stem and the fixed first block (relu / relu6, no SE) */
    width = make_divisible(def->stem_width * width_mult);
    h = conv_out((uint64_t)a->resolution, 2);
    add_conv(&c, 3, width, 3, 0, h, 0, 1);
    {
        uint64_t first = make_divisible(def->first_block_width * width_mult);
        add_mbconv(&c, width, first, 1, 3, 1, 0, &h);
        width = first;
    }
    /* the active blocks: the first depth[s] of each stage */
    for (int s = 0; s < def->n_stages; s++) {
        uint64_t c_out = make_divisible(def->stage_width[s] * width_mult);
        for (int l = 0; l < a->depth[s]; l++) {
            const struct ab_choice *ch = &sp->stages[s].choices[a->choice[s][l]];
            add_mbconv(&c, width, c_out, ch->expand, ch->kernel,
                       l == 0 ? def->stride[s] : 1, def->use_se[s], &h);
            width = c_out;
        }
    }
    /* head */
    {
        uint64_t last = make_divisible(def->last_width * width_mult);
        if (def->final_expand_width) {
            /* MBv3: final expand (BN) at h x h, pool, feature mix on 1 x 1
             * without BN or bias */
            uint64_t fe = make_divisible(def->final_expand_width * width_mult);
            add_conv(&c, width, fe, 1, 0, h, 0, 1);
            add_conv(&c, fe, last, 1, 0, 1, 0, 0);
        } else {
            /* PN: feature mix (BN) at h x h, then pool */
            add_conv(&c, width, last, 1, 0, h, 0, 1);
        }
        add_linear(&c, last, (uint64_t)n_classes);
    }
    *out = c;
cleanup:
    return rc;
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
