/* SPDX-License-Identifier: MIT
 *
 * ofa_eval.h - what the OFA worker measures on a spliced subnet: BatchNorm
 * re-calibration and top-1 / top-5 streamed from image sets, and latency.
 * Shared by the `autobuild ofa` commands and the `ofa` evaluator.
 *
 *     struct ab_ofa_accuracy acc;
 *     AB_CALL(ab_ofa_calibrate_imageset(net, train, 2000, 200));
 *     AB_CALL(ab_ofa_accuracy(net, val, 0, 32, &acc));
 *     printf("top-1 %.4f\n", acc.top1);
 */
#ifndef AB_OFA_OFA_EVAL_H
#define AB_OFA_OFA_EVAL_H

#include "ofa/ofa_io.h"
#include "ofa/ofa_subnet.h"
#include "util/error.h"

/* Re-calibrates the subnet's BatchNorm statistics on the first n_images
 * images of set (at the subnet's resolution) in consecutive batches of
 * `batch`, as OFA's set_running_statistics; images are read batch by batch,
 * so memory is one batch. n_images 0 means min(set size, 2000). Fails with
 * AB_ERR_INPUT when the set lacks the resolution or has fewer images,
 * AB_ERR_NOMEM. On failure the subnet keeps its previous statistics. */
ab_status ab_ofa_calibrate_imageset(struct ab_ofa_subnet *net, const struct ab_imageset *set,
                                    long n_images, int batch);

/* The same on n images already in memory (n x 3 x R x R). */
ab_status ab_ofa_calibrate(struct ab_ofa_subnet *net, const float *x, int n, int batch);

struct ab_ofa_accuracy {
    double top1, top5;  /* fractions of the images */
    long images;
};

/* Top-1 and top-5 on the first `limit` images of set (0: all), `batch`
 * images per pass. A class the supernet's classifier lacks is an
 * AB_ERR_INPUT; AB_ERR_NOMEM. */
ab_status ab_ofa_accuracy(struct ab_ofa_subnet *net, const struct ab_imageset *set,
                          long limit, int batch, struct ab_ofa_accuracy *out);

struct ab_ofa_latency {
    double median_ms, min_ms, max_ms;
};

/* Runs `warmup` untimed and `runs` timed forward passes of `batch` random
 * images and reports the median, min and max milliseconds. AB_ERR_NOMEM. */
ab_status ab_ofa_measure_latency(struct ab_ofa_subnet *net, int batch, int warmup, int runs,
                                 struct ab_ofa_latency *out);

#endif /* AB_OFA_OFA_EVAL_H */
