/* SPDX-License-Identifier: MIT
 *
 * ofa_net.h - the structure of Once-for-All supernets and of the subnets
 * spliced out of them: one description that the MAC counter (ofa_cost.h),
 * the supernet files (ofa_supernet.h) and the inference engine
 * (ofa_subnet.h) all read, so they cannot disagree.
 *
 * Two families, as mit-han-lab/once-for-all builds them
 * (imagenet_classification/elastic_nn/networks/ofa_mbv3.py and
 * ofa_proxyless.py):
 *
 *   family     space     nets                                  BN eps
 *   MBv3       ofa_mbv3  ofa_mbv3_d234_e346_k357_w1.0, _w1.2    1e-5
 *   Proxyless  ofa_pn    ofa_proxyless_d234_e346_k357_w1.3      1e-3
 *
 * A subnet (get_active_subnet() after set_active_subnet(ks, e, d)) is:
 *
 *   first_conv   3x3 conv, stride 2, 3 -> stem, BN, act (MBv3 h-swish,
 *                PN ReLU6)
 *   blocks.0     fixed MBConv, expansion 1: 3x3 depthwise + BN + act,
 *                1x1 projection + BN; identity shortcut when its input and
 *                output widths are equal (MBv3 only; PN never)
 *   blocks.N     the first d blocks of each elastic stage: 1x1 expansion +
 *                BN + act, k x k depthwise (stride on a stage's first
 *                block) + BN + act, SE (MBv3 stages 2, 4, 5), 1x1
 *                projection + BN; identity shortcut when stride 1 and equal
 *                widths (every block but a stage's first)
 *   head MBv3    final_expand_layer 1x1 + BN + h-swish, global average
 *                pool, feature_mix_layer 1x1 without BN or bias + h-swish,
 *                classifier Linear
 *   head PN      feature_mix_layer 1x1 + BN + ReLU6, global average pool,
 *                classifier Linear
 *
 * Widths are OFA's make_divisible(base * width_mult, 8); the expanded width
 * of a block is make_divisible(round(c_in * e), 8) and the SE width
 * make_divisible(mid // 4, 8). Activations per elastic stage: MBv3 ReLU,
 * ReLU, h-swish, h-swish, h-swish (first block ReLU); PN ReLU6 everywhere.
 */
#ifndef AB_OFA_OFA_NET_H
#define AB_OFA_OFA_NET_H

#include <stdint.h>

#include "space/space.h"
#include "util/error.h"

#define AB_OFA_MAX_STAGES 6
#define AB_OFA_MAX_BLOCKS (1 + 4 * AB_OFA_MAX_STAGES) /* first block + elastic */
#define AB_OFA_MAX_RESOLUTION 4096
#define AB_OFA_MAX_CLASSES 1000000

enum ab_ofa_family {
    AB_OFA_MBV3 = 1,
    AB_OFA_PROXYLESS = 2,
};

enum ab_ofa_act {
    AB_OFA_ACT_NONE = 0,
    AB_OFA_ACT_RELU,
    AB_OFA_ACT_RELU6,
    AB_OFA_ACT_HSWISH,
};

/* One MBConv block of a subnet. Shapes: input c_in x h_in x h_in, expanded
 * mid x h_in x h_in, after the depthwise conv mid x h_out x h_out, output
 * c_out x h_out x h_out. */
struct ab_ofa_block {
    int index;          /* N of the supernet's blocks.N */
    int stage;          /* 0: the fixed first block; 1.. elastic stages */
    int c_in, mid, c_out;
    int expand;         /* 1: no expansion conv (the first block) */
    int kernel, stride;
    int se_mid;         /* SE reduce width; 0 without SE */
    enum ab_ofa_act act;
    int residual;       /* identity shortcut: output += input */
    int h_in, h_out;
};

/* A subnet, layer by layer. */
struct ab_ofa_plan {
    enum ab_ofa_family family;
    double width_mult;
    int n_classes;
    int resolution;
    int stem;                   /* first_conv output width */
    int h_stem;                 /* its side: ceil(resolution / 2) */
    enum ab_ofa_act stem_act;
    int n_blocks;               /* 1 + the active elastic blocks */
    struct ab_ofa_block blocks[AB_OFA_MAX_BLOCKS];
    int h_last;                 /* side of the last block's output */
    int c_feat;                 /* width of the last block's output */
    int final_expand;           /* MBv3 final_expand_layer width; 0 for PN */
    int last;                   /* feature_mix_layer output width */
    int mix_bn;                 /* feature mix has BN (PN) */
    int mix_after_pool;         /* feature mix on the pooled vector (MBv3) */
    enum ab_ofa_act head_act;   /* final expand and feature mix */
};

/* Builds the plan of architecture a (space kind AB_SPACE_OFA_MBV3 or
 * AB_SPACE_OFA_PN) as a subnet of a supernet with width multiplier
 * width_mult ((0, 4]) and n_classes outputs (1 .. 1000000).
 *
 * Returns AB_OK and fills *out. Fails with AB_ERR_INPUT, naming the field
 * and what is allowed, when the space is not an OFA space, a stage's depth
 * is outside the space or the supernet (MBv3 1-4, PN 1-4 and 1 in stage 6),
 * a choice does not exist or is not e in {3,4,6}, k in {3,5,7}, the
 * resolution is outside 1 .. 4096, or width_mult / n_classes are out of
 * range; AB_ERR_INTERNAL for NULL pointers. */
ab_status ab_ofa_plan_make(const struct ab_space *sp, const struct ab_arch *a,
                           double width_mult, int n_classes, struct ab_ofa_plan *out);

/* OFA's make_divisible(v, 8): round half up to a multiple of 8, at least 8,
 * and plus 8 when that rounded down by more than 10%. Cannot fail. */
int ab_ofa_make_divisible(double v);

/* Side of a same-padded convolution's output: ceil(h / stride). */
int ab_ofa_conv_out(int h, int stride);

/* --- supernet layout -------------------------------------------------- */

/* A named OFA net: family, width multiplier and the supernet's elastic
 * choices (always k {3,5,7}, e {3,4,6}, d {2,3,4} for the released nets). */
struct ab_ofa_netdef {
    const char *net_id;         /* e.g. "ofa_mbv3_d234_e346_k357_w1.2" */
    enum ab_ofa_family family;
    const char *space;          /* "ofa_mbv3" or "ofa_pn" */
    double width_mult;
    double bn_eps;              /* OFA's default bn_param eps */
};

/* The net of that id, or NULL when it is not one of the three released
 * ones (ab_ofa_netdef_list() names them). Cannot fail. */
const struct ab_ofa_netdef *ab_ofa_netdef_find(const char *net_id);
/* "ofa_mbv3_d234_e346_k357_w1.0, ..." for error messages. Never NULL. */
const char *ab_ofa_netdef_list(void);

/* One parameter or BatchNorm buffer of a supernet's state dict. */
struct ab_ofa_param {
    char name[96];              /* current naming: blocks.N.conv.* */
    int ndim;
    int64_t shape[4];
};

/* Lists every floating-point tensor of the supernet's state dict (current
 * naming, num_batches_tracked left out) for a family, width and class
 * count: *n entries into a malloc'd *out (free()). Fails with AB_ERR_INPUT
 * for a bad width / class count, AB_ERR_NOMEM. */
ab_status ab_ofa_supernet_layout(enum ab_ofa_family family, double width_mult,
                                 int n_classes, struct ab_ofa_param **out, int *n);

#endif /* AB_OFA_OFA_NET_H */
