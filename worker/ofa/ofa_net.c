/* SPDX-License-Identifier: MIT
 *
 * This file implements the structure of Once-for-All supernets and subnets
 * (ofa_net.h): the per-family constants of OFAMobileNetV3 and
 * OFAProxylessNASNets, the layer plan of a subnet as get_active_subnet()
 * builds it, and the parameter layout of the supernet's state dict.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofa/ofa_net.h"

#define OFA_DIVISOR 8          /* MyNetwork.CHANNEL_DIVISIBLE */
#define OFA_SE_REDUCTION 4     /* SEModule.REDUCTION */
#define OFA_BLOCKS_PER_STAGE 4 /* max(depth_list) */
#define OFA_MAX_EXPAND 6
#define OFA_MAX_KERNEL 7
#define OFA_MAX_WIDTH 4.0

/* One OFA family: base widths before the multiplier and the fixed per-stage
 * settings of the supernet. */
struct family_def {
    const char *space;
    int n_stages;
    int stem_width;             /* first conv, 3x3 stride 2 */
    int first_block_width;      /* fixed MBConv, e = 1, k = 3, stride 1 */
    int stage_width[AB_OFA_MAX_STAGES];
    int stride[AB_OFA_MAX_STAGES]; /* of the first block of each stage */
    int use_se[AB_OFA_MAX_STAGES];
    enum ab_ofa_act act[AB_OFA_MAX_STAGES];
    int max_layers[AB_OFA_MAX_STAGES]; /* blocks the supernet holds per stage */
    enum ab_ofa_act stem_act, first_act, head_act;
    int first_shortcut;         /* first block may have an identity shortcut */
    int final_expand_width;     /* MBv3 only; 0 when absent */
    int last_width;             /* feature-mix output */
};

/* OFAMobileNetV3: base_stage_width = [16, 16, 24, 40, 80, 112, 160, 960,
 * 1280], stride_stages[1:] = [2, 2, 2, 1, 2], act_stages = [relu, relu,
 * relu, h_swish, h_swish, h_swish], se_stages[1:] = [F, T, F, T, T]. */
static const struct family_def mbv3_def = {
    .space = "ofa_mbv3",
    .n_stages = 5,
    .stem_width = 16,
    .first_block_width = 16,
    .stage_width = {24, 40, 80, 112, 160},
    .stride = {2, 2, 2, 1, 2},
    .use_se = {0, 1, 0, 1, 1},
    .act = {AB_OFA_ACT_RELU, AB_OFA_ACT_RELU, AB_OFA_ACT_HSWISH, AB_OFA_ACT_HSWISH,
            AB_OFA_ACT_HSWISH},
    .max_layers = {4, 4, 4, 4, 4},
    .stem_act = AB_OFA_ACT_HSWISH,
    .first_act = AB_OFA_ACT_RELU,
    .head_act = AB_OFA_ACT_HSWISH,
    .first_shortcut = 1,
    .final_expand_width = 960,
    .last_width = 1280,
};

/* OFAProxylessNASNets (ProxylessNAS widths, not "google"): base_stage_width
 * = [32, 16, 24, 40, 80, 96, 192, 320, 1280], stride_stages = [2, 2, 2, 1,
 * 2, 1], n_block_list = [4] * 5 + [1], ReLU6, no SE, first block without
 * shortcut. */
static const struct family_def pn_def = {
    .space = "ofa_pn",
    .n_stages = 6,
    .stem_width = 32,
    .first_block_width = 16,
    .stage_width = {24, 40, 80, 96, 192, 320},
    .stride = {2, 2, 2, 1, 2, 1},
    .use_se = {0, 0, 0, 0, 0, 0},
    .act = {AB_OFA_ACT_RELU6, AB_OFA_ACT_RELU6, AB_OFA_ACT_RELU6, AB_OFA_ACT_RELU6,
            AB_OFA_ACT_RELU6, AB_OFA_ACT_RELU6},
    .max_layers = {4, 4, 4, 4, 4, 1},
    .stem_act = AB_OFA_ACT_RELU6,
    .first_act = AB_OFA_ACT_RELU6,
    .head_act = AB_OFA_ACT_RELU6,
    .first_shortcut = 0,
    .final_expand_width = 0,
    .last_width = 1280,
};

static const struct family_def *family_def_of(enum ab_ofa_family f)
{
    if (f == AB_OFA_MBV3) return &mbv3_def;
    if (f == AB_OFA_PROXYLESS) return &pn_def;
    return NULL;
}

/* ofa/model_zoo.py ofa_net(): the three released nets. */
static const struct ab_ofa_netdef netdefs[] = {
    {"ofa_mbv3_d234_e346_k357_w1.0", AB_OFA_MBV3, "ofa_mbv3", 1.0, 1e-5},
    {"ofa_mbv3_d234_e346_k357_w1.2", AB_OFA_MBV3, "ofa_mbv3", 1.2, 1e-5},
    {"ofa_proxyless_d234_e346_k357_w1.3", AB_OFA_PROXYLESS, "ofa_pn", 1.3, 1e-3},
};

const struct ab_ofa_netdef *ab_ofa_netdef_find(const char *net_id)
{
    if (!net_id) return NULL;
    for (size_t i = 0; i < sizeof netdefs / sizeof netdefs[0]; i++)
        if (!strcmp(netdefs[i].net_id, net_id)) return &netdefs[i];
    return NULL;
}

const char *ab_ofa_netdef_list(void)
{
    return "ofa_mbv3_d234_e346_k357_w1.0, ofa_mbv3_d234_e346_k357_w1.2, "
           "ofa_proxyless_d234_e346_k357_w1.3";
}

int ab_ofa_make_divisible(double v)
{
    /* max(8, int(v + 4) // 8 * 8), plus 8 when below 0.9 v */
    long new_v = (long)(v + OFA_DIVISOR / 2.0) / OFA_DIVISOR * OFA_DIVISOR;
    if (new_v < OFA_DIVISOR) new_v = OFA_DIVISOR;
    if ((double)new_v < 0.9 * v) new_v += OFA_DIVISOR;
    return (int)new_v;
}

int ab_ofa_conv_out(int h, int stride)
{
    /* floor((h + 2 (k / 2) - k) / stride) + 1 for odd k */
    return (h - 1) / stride + 1;
}

/* The expanded width of a block with input width c_in and expansion e:
 * active_middle_channel() = make_divisible(round(c_in * e), 8). */
static int middle_width(int c_in, int e)
{
    return e == 1 ? c_in : ab_ofa_make_divisible((double)c_in * e);
}

static int se_width(int mid)
{
    return ab_ofa_make_divisible((double)(mid / OFA_SE_REDUCTION));
}

static ab_status check_width_classes(double width_mult, int n_classes)
{
    if (!(width_mult > 0.0 && width_mult <= OFA_MAX_WIDTH))
        return ab_err_set(AB_ERR_INPUT, "ofa: width multiplier %g is out of range; "
                          "expected (0, %g], e.g. 1.2 for ofa_mbv3, 1.3 for ofa_pn",
                          width_mult, OFA_MAX_WIDTH);
    if (n_classes < 1 || n_classes > AB_OFA_MAX_CLASSES)
        return ab_err_set(AB_ERR_INPUT, "ofa: %d classes is out of range; expected "
                          "1 to %d (1000 for ImageNet)", n_classes, AB_OFA_MAX_CLASSES);
    return AB_OK;
}

/* Checks what ab_ofa_plan_make() reads of the space and the architecture. */
static ab_status check_arch(const struct ab_space *sp, const struct ab_arch *a,
                            const struct family_def *def)
{
    if (sp->n_stages != def->n_stages)
        return ab_err_set(AB_ERR_INPUT, "ofa: space %s has %d stages; the OFA "
                          "supernet has %d", def->space, sp->n_stages, def->n_stages);
    if (a->resolution < 1 || a->resolution > AB_OFA_MAX_RESOLUTION)
        return ab_err_set(AB_ERR_INPUT, "ofa: resolution %d is out of range; "
                          "expected 1 to %d (OFA trains 128 to 224)",
                          a->resolution, AB_OFA_MAX_RESOLUTION);
    for (int s = 0; s < def->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        int d = a->depth[s];
        if (d < 1 || d < st->min_layers || d > st->max_layers || d > def->max_layers[s])
            return ab_err_set(AB_ERR_INPUT, "ofa: stage %d has %d layers; the space "
                              "allows %d to %d and the %s supernet at most %d", s + 1,
                              d, st->min_layers, st->max_layers, def->space,
                              def->max_layers[s]);
        for (int l = 0; l < d; l++) {
            int ci = a->choice[s][l];
            const struct ab_choice *ch;
            if (ci >= st->n_choices || !st->choices)
                return ab_err_set(AB_ERR_INPUT, "ofa: stage %d layer %d: choice %d "
                                  "does not exist; the stage has %d", s + 1, l + 1,
                                  ci, st->n_choices);
            ch = &st->choices[ci];
            if ((ch->expand != 3 && ch->expand != 4 && ch->expand != 6) ||
                (ch->kernel != 3 && ch->kernel != 5 && ch->kernel != 7))
                return ab_err_set(AB_ERR_INPUT, "ofa: stage %d layer %d: expansion "
                                  "%d, kernel %d is not in the supernet; expected e "
                                  "in {3,4,6}, k in {3,5,7}", s + 1, l + 1,
                                  ch->expand, ch->kernel);
        }
    }
    return AB_OK;
}

static struct ab_ofa_block make_block(int index, int stage, int c_in, int c_out,
                                      int expand, int kernel, int stride, int use_se,
                                      enum ab_ofa_act act, int residual, int h_in)
{
    struct ab_ofa_block b;
    memset(&b, 0, sizeof b);
    b.index = index;
    b.stage = stage;
    b.c_in = c_in;
    b.c_out = c_out;
    b.expand = expand;
    b.mid = middle_width(c_in, expand);
    b.kernel = kernel;
    b.stride = stride;
    b.se_mid = use_se ? se_width(b.mid) : 0;
    b.act = act;
    b.residual = residual;
    b.h_in = h_in;
    b.h_out = ab_ofa_conv_out(h_in, stride);
    return b;
}

ab_status ab_ofa_plan_make(const struct ab_space *sp, const struct ab_arch *a,
                           double width_mult, int n_classes, struct ab_ofa_plan *out)
{
    const struct family_def *def;
    struct ab_ofa_plan p;
    int width, h;

    if (out) memset(out, 0, sizeof *out);
    if (!sp || !a || !out)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: ab_ofa_plan_make called "
                          "with a NULL pointer; please report this");
    if (sp->kind != AB_SPACE_OFA_MBV3 && sp->kind != AB_SPACE_OFA_PN)
        return ab_err_set(AB_ERR_INPUT, "ofa: space %s is not an OFA space; OFA "
                          "subnets exist only for ofa_mbv3 and ofa_pn",
                          sp->name ? sp->name : "?");
    memset(&p, 0, sizeof p);
    p.family = sp->kind == AB_SPACE_OFA_MBV3 ? AB_OFA_MBV3 : AB_OFA_PROXYLESS;
    def = family_def_of(p.family);
    AB_TRY(check_width_classes(width_mult, n_classes));
    AB_TRY(check_arch(sp, a, def));

    p.width_mult = width_mult;
    p.n_classes = n_classes;
    p.resolution = a->resolution;
    p.stem = ab_ofa_make_divisible(def->stem_width * width_mult);
    p.h_stem = ab_ofa_conv_out(a->resolution, 2);
    p.stem_act = def->stem_act;
    {
        int first = ab_ofa_make_divisible(def->first_block_width * width_mult);
        p.blocks[0] = make_block(0, 0, p.stem, first, 1, 3, 1, 0, def->first_act,
                                 def->first_shortcut && p.stem == first, p.h_stem);
        p.n_blocks = 1;
        width = first;
        h = p.h_stem;
    }
    for (int s = 0, index = 1; s < def->n_stages; s++) {
        int c_out = ab_ofa_make_divisible(def->stage_width[s] * width_mult);
        for (int l = 0; l < a->depth[s]; l++) {
            const struct ab_choice *ch = &sp->stages[s].choices[a->choice[s][l]];
            int stride = l == 0 ? def->stride[s] : 1;
            struct ab_ofa_block *b = &p.blocks[p.n_blocks++];
            *b = make_block(index + l, s + 1, width, c_out, ch->expand, ch->kernel,
                            stride, def->use_se[s], def->act[s],
                            stride == 1 && width == c_out, h);
            width = c_out;
            h = b->h_out;
        }
        index += def->max_layers[s];
    }
    p.h_last = h;
    p.c_feat = width;
    p.final_expand = def->final_expand_width
                         ? ab_ofa_make_divisible(def->final_expand_width * width_mult)
                         : 0;
    p.last = ab_ofa_make_divisible(def->last_width * width_mult);
    p.mix_bn = p.family == AB_OFA_PROXYLESS;
    p.mix_after_pool = p.family == AB_OFA_MBV3;
    p.head_act = def->head_act;
    *out = p;
    return AB_OK;
}

/* --- supernet layout -------------------------------------------------- */

struct layout {
    struct ab_ofa_param *p;
    int n, cap;
};

static ab_status add_param(struct layout *L, int ndim, const int64_t *shape,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static ab_status add_param(struct layout *L, int ndim, const int64_t *shape,
                           const char *fmt, ...)
{
    va_list ap;
    struct ab_ofa_param *q;
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        struct ab_ofa_param *np = realloc(L->p, (size_t)cap * sizeof *np);
        if (!np) return ab_err_set(AB_ERR_NOMEM, "out of memory listing OFA parameters");
        L->p = np;
        L->cap = cap;
    }
    q = &L->p[L->n++];
    memset(q, 0, sizeof *q);
    va_start(ap, fmt);
    vsnprintf(q->name, sizeof q->name, fmt, ap);
    va_end(ap);
    q->ndim = ndim;
    for (int i = 0; i < ndim; i++) q->shape[i] = shape[i];
    return AB_OK;
}

static ab_status add_conv_w(struct layout *L, const char *prefix, int64_t c_out,
                            int64_t c_in_per_group, int64_t k)
{
    int64_t shape[4] = {c_out, c_in_per_group, k, k};
    return add_param(L, 4, shape, "%s.weight", prefix);
}

static ab_status add_bn(struct layout *L, const char *prefix, int64_t c)
{
    static const char *const fields[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        AB_TRY(add_param(L, 1, &c, "%s.%s", prefix, fields[i]));
    return AB_OK;
}

/* A dynamic block of the supernet at its largest: input c_in, output c_out,
 * expansion 6, kernel 7 with the 7to5 and 5to3 transform matrices. */
static ab_status add_dynamic_block(struct layout *L, int index, int c_in, int c_out,
                                   int use_se)
{
    char pre[64];
    int mid = middle_width(c_in, OFA_MAX_EXPAND);
    int64_t m75[2] = {25, 25}, m53[2] = {9, 9};
    snprintf(pre, sizeof pre, "blocks.%d.conv", index);
    {
        char p2[96];
        snprintf(p2, sizeof p2, "%s.inverted_bottleneck.conv.conv", pre);
        AB_TRY(add_conv_w(L, p2, mid, c_in, 1));
        snprintf(p2, sizeof p2, "%s.inverted_bottleneck.bn.bn", pre);
        AB_TRY(add_bn(L, p2, mid));
        snprintf(p2, sizeof p2, "%s.depth_conv.conv.conv", pre);
        AB_TRY(add_conv_w(L, p2, mid, 1, OFA_MAX_KERNEL));
        AB_TRY(add_param(L, 2, m75, "%s.depth_conv.conv.7to5_matrix", pre));
        AB_TRY(add_param(L, 2, m53, "%s.depth_conv.conv.5to3_matrix", pre));
        snprintf(p2, sizeof p2, "%s.depth_conv.bn.bn", pre);
        AB_TRY(add_bn(L, p2, mid));
        if (use_se) {
            int64_t se = se_width(mid), c = mid;
            snprintf(p2, sizeof p2, "%s.depth_conv.se.fc.reduce", pre);
            AB_TRY(add_conv_w(L, p2, se, mid, 1));
            AB_TRY(add_param(L, 1, &se, "%s.bias", p2));
            snprintf(p2, sizeof p2, "%s.depth_conv.se.fc.expand", pre);
            AB_TRY(add_conv_w(L, p2, mid, se, 1));
            AB_TRY(add_param(L, 1, &c, "%s.bias", p2));
        }
        snprintf(p2, sizeof p2, "%s.point_linear.conv.conv", pre);
        AB_TRY(add_conv_w(L, p2, c_out, mid, 1));
        snprintf(p2, sizeof p2, "%s.point_linear.bn.bn", pre);
        AB_TRY(add_bn(L, p2, c_out));
    }
    return AB_OK;
}

static ab_status build_layout(struct layout *L, const struct family_def *def,
                              double w, int n_classes)
{
    int stem = ab_ofa_make_divisible(def->stem_width * w);
    int first = ab_ofa_make_divisible(def->first_block_width * w);
    int width = first, index = 1;
    int last = ab_ofa_make_divisible(def->last_width * w);

    AB_TRY(add_conv_w(L, "first_conv.conv", stem, 3, 3));
    AB_TRY(add_bn(L, "first_conv.bn", stem));
    /* blocks.0: static MBConvLayer with expand 1 (no inverted bottleneck) */
    AB_TRY(add_conv_w(L, "blocks.0.conv.depth_conv.conv", stem, 1, 3));
    AB_TRY(add_bn(L, "blocks.0.conv.depth_conv.bn", stem));
    AB_TRY(add_conv_w(L, "blocks.0.conv.point_linear.conv", first, stem, 1));
    AB_TRY(add_bn(L, "blocks.0.conv.point_linear.bn", first));
    for (int s = 0; s < def->n_stages; s++) {
        int c_out = ab_ofa_make_divisible(def->stage_width[s] * w);
        for (int l = 0; l < def->max_layers[s]; l++) {
            AB_TRY(add_dynamic_block(L, index++, width, c_out, def->use_se[s]));
            width = c_out;
        }
    }
    if (def->final_expand_width) {
        int fe = ab_ofa_make_divisible(def->final_expand_width * w);
        AB_TRY(add_conv_w(L, "final_expand_layer.conv", fe, width, 1));
        AB_TRY(add_bn(L, "final_expand_layer.bn", fe));
        AB_TRY(add_conv_w(L, "feature_mix_layer.conv", last, fe, 1));
    } else {
        AB_TRY(add_conv_w(L, "feature_mix_layer.conv", last, width, 1));
        AB_TRY(add_bn(L, "feature_mix_layer.bn", last));
    }
    {
        int64_t wshape[2] = {n_classes, last}, bshape[1] = {n_classes};
        AB_TRY(add_param(L, 2, wshape, "classifier.linear.weight"));
        AB_TRY(add_param(L, 1, bshape, "classifier.linear.bias"));
    }
    return AB_OK;
}

ab_status ab_ofa_supernet_layout(enum ab_ofa_family family, double width_mult,
                                 int n_classes, struct ab_ofa_param **out, int *n)
{
    const struct family_def *def = family_def_of(family);
    struct layout L = {NULL, 0, 0};
    ab_status rc;

    *out = NULL;
    *n = 0;
    if (!def)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: OFA family %d unknown",
                          (int)family);
    AB_TRY(check_width_classes(width_mult, n_classes));
    rc = build_layout(&L, def, width_mult, n_classes);
    if (rc != AB_OK) {
        free(L.p);
        return rc;
    }
    *out = L.p;
    *n = L.n;
    return AB_OK;
}
