/* SPDX-License-Identifier: MIT
 *
 * ofa_cost.h - exact multiply-accumulate (MAC) and parameter counts of
 * Once-for-All subnets.
 *
 * An architecture of the built-in spaces "ofa_mbv3" and "ofa_pn" names a
 * subnet of an OFA supernet (METHOD.md sections 1 and 7). This module counts,
 * without PyTorch, what OFA's own tools report for that subnet:
 *
 *   macs    ofa.utils.count_net_flops(subnet, (1, 3, r, r)), i.e. the
 *           forward hooks of ofa/utils/flops_counter.py;
 *   params  ofa.utils.count_parameters(subnet) (ofa/utils/pytorch_utils.py),
 *
 * where subnet = supernet.get_active_subnet() after set_active_subnet() with
 * the architecture's kernel sizes, expansion ratios and depths.
 *
 * Example:
 *
 *     struct ab_ofa_cost cost;
 *     if (ab_ofa_cost(sp, &arch, ab_ofa_default_width(sp), 1000, &cost))
 *         fprintf(stderr, "%s\n", ab_err_msg());
 *     else
 *         printf("%.1f MMACs, %.2f M params\n", cost.macs / 1e6,
 *                cost.params / 1e6);
 *
 * The subnet, as OFA builds it (elastic_nn/networks/ofa_mbv3.py,
 * ofa_proxyless.py; get_active_subnet() in elastic_nn/modules/
 * dynamic_layers.py; layers in ofa/utils/layers.py):
 *
 *   channels   c = make_divisible(base * width_mult, 8) with OFA's
 *              make_divisible (ofa/utils/pytorch_modules.py: round half up to
 *              a multiple of 8, at least 8, and never more than 10% down).
 *              Base widths: MBv3 stem 16, first block 16, stages 24 40 80 112
 *              160, final expand 960, feature mix 1280; PN stem 32, first
 *              block 16, stages 24 40 80 96 192 320, feature mix 1280.
 *   stem       3x3 conv, stride 2, 3 -> c_stem, BN, no bias.
 *   first      fixed MBConv with expansion 1: 3x3 depthwise + BN, 1x1
 *              projection + BN (no expansion conv).
 *   block      MBConv(e, k): 1x1 expansion c_in -> mid + BN, k x k depthwise
 *              (stride on the first block of a stage) + BN, optional SE,
 *              1x1 projection mid -> c_out + BN; mid = make_divisible(c_in * e,
 *              8), where c_in is the width of the previous block's output.
 *              Strides per stage: MBv3 2 2 2 1 2, PN 2 2 2 1 2 1.
 *   SE         MBv3 stages 2, 4 and 5 only: global pooling, 1x1 conv
 *              mid -> make_divisible(mid / 4, 8) with bias, ReLU, 1x1 conv
 *              back to mid with bias, h-sigmoid, channel scaling.
 *   head MBv3  1x1 final expand -> c_fe + BN at the last feature map, global
 *              pooling, 1x1 feature mix c_fe -> c_last without BN and without
 *              bias on the pooled 1x1 map, classifier Linear with bias.
 *   head PN    1x1 feature mix -> c_last + BN at the last feature map, global
 *              pooling, classifier Linear with bias.
 *   sizes      every conv pads k / 2 ("same"), so a feature map of side h
 *              becomes (h - 1) / stride + 1 = ceil(h / stride), exactly as
 *              PyTorch's Conv2d computes it for odd k.
 *
 * What is counted, exactly as OFA counts it:
 *   macs    for each Conv2d: (C_in / groups) * C_out * k * k * H_out * W_out
 *           (depthwise: C * k * k * H_out * W_out); for each Linear:
 *           in * out. That is the stem, every 1x1 / depthwise conv of every
 *           block, both SE convs (on their 1x1 pooled input), the head convs
 *           and the classifier. NOT counted, as in OFA: BatchNorm,
 *           activations, bias additions, global pooling, the SE channel
 *           scaling, residual additions.
 *   params  conv and linear weights; BatchNorm weight and bias (2 per
 *           channel; running mean / variance are buffers, not parameters);
 *           biases of the two SE convs and of the classifier (every other
 *           conv has bias=False).
 *
 * Exactness: the counts here are exact integers. OFA's profile() stores each
 * layer's count in a float32 tensor and sums them in float32, so
 * count_net_flops() is rounded to float32 precision: at 10^8 .. 10^9 MACs a
 * float32 step is 8 .. 64, and OFA's value differs from ours by 0 to a few
 * dozen MACs (at most 64 either way on the 80 subnets that
 * tools/dev/ofa_cost_reference.py checked). The parameter count has no such
 * error.
 *
 * Thread safety: the functions keep no state; the error text of a failure
 * goes to the calling thread's error slot (util/error.h).
 */
#ifndef AB_OFA_OFA_COST_H
#define AB_OFA_OFA_COST_H

#include <stdint.h>

#include "space/space.h"
#include "util/error.h"

struct ab_ofa_cost {
    /* Multiply-accumulates of one forward pass at batch 1 and the
     * architecture's resolution: Conv2d and Linear layers as above. */
    uint64_t macs;
    /* Trainable parameters of the spliced subnet, as count_parameters(). */
    uint64_t params;
};

/* Counts the MACs and parameters of architecture a of space sp (kind
 * AB_SPACE_OFA_MBV3 or AB_SPACE_OFA_PN) as a subnet of the OFA supernet with
 * width multiplier width_mult (MBv3: 1.0 or 1.2, PN: 1.3; any value in
 * (0, 4] is accepted) and a classifier of n_classes outputs (1000 for
 * ImageNet; 1 .. 1000000).
 *
 * Reads only sp->kind, sp->n_stages, sp->stages[s].min_layers / max_layers /
 * n_choices / choices[].expand / .kernel and a->resolution / depth / choice.
 *
 * Returns AB_OK and fills *out. Fails with AB_ERR_INPUT, recording which
 * field is wrong and what is allowed, when the space is not an OFA space or
 * has the wrong number of stages, when a stage's depth is outside the space's
 * bounds or the supernet's (MBv3 1-4 per stage, PN 1-4 and 1 in stage 6), a
 * choice index is out of range, a choice's expansion is not 3, 4 or 6 or its
 * kernel not 3, 5 or 7, the resolution is outside 1 .. 4096, or width_mult /
 * n_classes are out of range; with AB_ERR_INTERNAL when a pointer is NULL.
 * On failure *out (when not NULL) is zeroed. */
ab_status ab_ofa_cost(const struct ab_space *sp, const struct ab_arch *a,
                      double width_mult, int n_classes, struct ab_ofa_cost *out);

/* The width multiplier of the supernet the AutoBuild authors evaluate for
 * this space: 1.2 for ofa_mbv3 ("ofa_mbv3_d234_e346_k357_w1.2") and 1.3 for
 * ofa_pn ("ofa_proxyless_d234_e346_k357_w1.3"). Returns 0.0 for NULL or a
 * space that is not an OFA space. Cannot fail. */
double ab_ofa_default_width(const struct ab_space *sp);

#endif /* AB_OFA_OFA_COST_H */
