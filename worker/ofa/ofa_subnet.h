/* SPDX-License-Identifier: MIT
 *
 * ofa_subnet.h - a Once-for-All subnet spliced out of a supernet, and the
 * C inference engine that runs it.
 *
 *     struct ab_ofa_subnet *net = NULL;
 *     AB_CALL(ab_ofa_subnet_create(sn, sp, &arch, &net));   // splice
 *     ab_ofa_subnet_set_threads(net, 2);
 *     AB_CALL(ab_ofa_subnet_reserve(net, 8));               // plan memory
 *     AB_CALL(ab_ofa_subnet_forward(net, x, n, logits));    // n x classes
 *     ab_ofa_subnet_destroy(&net);
 *
 * Splicing follows OFA's get_active_subnet() (elastic_nn/modules/
 * dynamic_layers.py, dynamic_op.py): the first d blocks of each stage; per
 * block the first `mid` output channels of the expansion conv and the
 * first `mid` channels of every later tensor; the depthwise filter's
 * centre passed through the kernel-transform matrices (7x7 -> 5x5 by
 * `7to5_matrix`, then -> 3x3 by `5to3_matrix`, each x W^T on the flattened
 * centre); SE reduce/expand weights [:se_mid, :mid] / [:mid, :se_mid]; the
 * first channels of every BatchNorm. BatchNorm is then folded into the
 * convolution before it (w * g / sqrt(v + eps), b - m * g / sqrt(v + eps)).
 *
 * Tensors are NCHW float32. Pointwise convolutions are GEMMs (OpenBLAS),
 * the stem an im2col + GEMM, depthwise convolutions direct loops that the
 * compiler vectorises (AVX-512 / AVX2 clones chosen at run time).
 * Activation memory is planned once by ab_ofa_subnet_reserve(): three
 * buffers of batch x the largest tensor, an im2col buffer and a few
 * vectors; forward() allocates nothing.
 *
 * BatchNorm re-calibration reproduces OFA's set_running_statistics()
 * (elastic_nn/utils.py): over consecutive batches, every BatchNorm
 * normalises with its batch's mean and biased variance (over images and
 * pixels) and averages them weighted by batch size; the averages replace
 * the running statistics. Results depend on the batch size, as in OFA.
 *
 * A subnet is not thread-safe: one thread uses it at a time (it may use
 * several threads inside, see ab_ofa_subnet_set_threads).
 */
#ifndef AB_OFA_OFA_SUBNET_H
#define AB_OFA_OFA_SUBNET_H

#include <stddef.h>

#include "ofa/ofa_net.h"
#include "ofa/ofa_supernet.h"
#include "space/space.h"
#include "util/error.h"

struct ab_ofa_subnet;

/* Splices architecture a of space sp out of supernet sn. Fails with
 * AB_ERR_INPUT when the architecture's space is not the supernet's (e.g. an
 * ofa_pn architecture and an MBv3 supernet) or the architecture is outside
 * the supernet (ab_ofa_plan_make's checks); AB_ERR_NOMEM. *out is NULL on
 * failure. */
ab_status ab_ofa_subnet_create(const struct ab_ofa_supernet *sn, const struct ab_space *sp,
                               const struct ab_arch *a, struct ab_ofa_subnet **out);

void ab_ofa_subnet_destroy(struct ab_ofa_subnet **net);

/* The layer plan (shapes) of the subnet. Never NULL for a valid subnet. */
const struct ab_ofa_plan *ab_ofa_subnet_plan(const struct ab_ofa_subnet *net);

/* Threads for the GEMMs (OpenBLAS, process-wide) and the other kernels
 * (OpenMP); at least 1. AB_ERR_NOMEM when the per-thread scratch cannot be
 * allocated (the subnet then keeps its previous thread count's scratch and
 * must not be run with more threads). */
ab_status ab_ofa_subnet_set_threads(struct ab_ofa_subnet *net, int threads);

/* Plans activation memory for up to `batch` images per pass (at least 1).
 * Reallocates only when batch grows. AB_ERR_NOMEM on failure (the subnet
 * keeps its previous buffers). */
ab_status ab_ofa_subnet_reserve(struct ab_ofa_subnet *net, int batch);

/* Bytes of activation memory currently reserved. */
size_t ab_ofa_subnet_reserved_bytes(const struct ab_ofa_subnet *net);

/* Runs n images x (n x 3 x R x R, R = the architecture's resolution,
 * already normalised) and writes logits (n x n_classes). Images go through
 * in chunks of the reserved batch (1 when nothing was reserved). Eval mode:
 * the folded BatchNorm statistics. AB_ERR_NOMEM when the first reservation
 * fails. */
ab_status ab_ofa_subnet_forward(struct ab_ofa_subnet *net, const float *x, int n,
                                float *logits);

/* --- BatchNorm re-calibration (set_running_statistics) ---------------- */

/* Starts a calibration: forgets accumulated batch statistics. */
void ab_ofa_subnet_calib_begin(struct ab_ofa_subnet *net);
/* One batch of n images (n x 3 x R x R): every BatchNorm uses and records
 * this batch's statistics. Reserves memory for n images (AB_ERR_NOMEM). */
ab_status ab_ofa_subnet_calib_batch(struct ab_ofa_subnet *net, const float *x, int n);
/* Replaces every BatchNorm's running mean and variance by the averages
 * over the batches and re-folds the weights. AB_ERR_INPUT when no batch was
 * given. */
ab_status ab_ofa_subnet_calib_end(struct ab_ofa_subnet *net);

/* The BatchNorms of the subnet, in OFA's named_modules() order of the
 * spliced subnet (first_conv.bn, blocks.0.conv.depth_conv.bn, ...,
 * final_expand_layer.bn / feature_mix_layer.bn). */
int ab_ofa_subnet_n_bn(const struct ab_ofa_subnet *net);
/* The i-th BatchNorm's module name, width and running statistics (the
 * arrays stay owned by the subnet). AB_ERR_INTERNAL for a bad i. */
ab_status ab_ofa_subnet_bn(const struct ab_ofa_subnet *net, int i, const char **name,
                           int *channels, const float **mean, const float **var);

#endif /* AB_OFA_OFA_SUBNET_H */
