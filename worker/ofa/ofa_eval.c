/* SPDX-License-Identifier: MIT
 *
 * This file implements the measurements of the OFA worker (ofa_eval.h):
 * streamed BatchNorm re-calibration, top-1 / top-5 on image sets, latency.
 */
#include <stdlib.h>
#include <time.h>

#include "ofa/ofa_eval.h"
#include "util/log.h"
#include "util/rng.h"

#define OFA_CALIB_DEFAULT 2000 /* OFA's subset_size */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

ab_status ab_ofa_calibrate(struct ab_ofa_subnet *net, const float *x, int n, int batch)
{
    const struct ab_ofa_plan *p = ab_ofa_subnet_plan(net);
    long in_sz = 3L * p->resolution * p->resolution;
    if (batch < 1) batch = 1;
    ab_ofa_subnet_calib_begin(net);
    for (int i = 0; i < n; i += batch) {
        int m = n - i < batch ? n - i : batch;
        AB_TRY(ab_ofa_subnet_calib_batch(net, x + i * in_sz, m));
    }
    return ab_ofa_subnet_calib_end(net);
}

ab_status ab_ofa_calibrate_imageset(struct ab_ofa_subnet *net, const struct ab_imageset *set,
                                    long n_images, int batch)
{
    ab_status rc = AB_OK;
    const struct ab_ofa_plan *p = ab_ofa_subnet_plan(net);
    long n = n_images > 0 ? n_images : (set->n < OFA_CALIB_DEFAULT ? set->n : OFA_CALIB_DEFAULT);
    float *x = NULL;
    double t0 = now_ms();

    if (batch < 1) batch = 1;
    AB_CHECK(n <= set->n && n > 0, AB_ERR_INPUT, "%s: %ld calibration images requested; the "
             "set has %ld", set->path, n, set->n);
    x = malloc((size_t)(batch < n ? batch : n) * 3 * (size_t)p->resolution *
               (size_t)p->resolution * sizeof *x);
    AB_CHECK_ALLOC(x);
    ab_ofa_subnet_calib_begin(net);
    for (long i = 0; i < n; i += batch) {
        long m = n - i < batch ? n - i : batch;
        AB_CALL(ab_imageset_read(set, p->resolution, i, m, x));
        AB_CALL(ab_ofa_subnet_calib_batch(net, x, (int)m));
    }
    AB_CALL(ab_ofa_subnet_calib_end(net));
    AB_LOG_D("re-calibrated %d BatchNorms on %ld images of %s (batch %d) in %.2f s",
             ab_ofa_subnet_n_bn(net), n, set->path, batch, (now_ms() - t0) / 1e3);
cleanup:
    free(x);
    return rc;
}

/* Counts whether label is the arg-max (ties to the lower class, as
 * torch.topk on CPU orders them) and among the five largest logits. */
static void count_hits(const float *logits, int classes, int64_t label, long *top1, long *top5)
{
    float mine = logits[label];
    int better = 0;
    for (int c = 0; c < classes; c++)
        if (logits[c] > mine || (logits[c] == mine && c < label)) better++;
    if (better == 0) (*top1)++;
    if (better < 5) (*top5)++;
}

ab_status ab_ofa_accuracy(struct ab_ofa_subnet *net, const struct ab_imageset *set,
                          long limit, int batch, struct ab_ofa_accuracy *out)
{
    ab_status rc = AB_OK;
    const struct ab_ofa_plan *p = ab_ofa_subnet_plan(net);
    long n = limit > 0 && limit < set->n ? limit : set->n, top1 = 0, top5 = 0;
    float *x = NULL, *logits = NULL;

    out->top1 = out->top5 = 0;
    out->images = 0;
    AB_CHECK(n > 0, AB_ERR_INPUT, "%s holds no images", set->path);
    AB_CHECK(set->n_classes <= p->n_classes, AB_ERR_INPUT,
             "%s has %d classes but the supernet's classifier has %d", set->path,
             set->n_classes, p->n_classes);
    if (batch < 1) batch = 1;
    if (batch > n) batch = (int)n;
    AB_CALL(ab_ofa_subnet_reserve(net, batch));
    x = malloc((size_t)batch * 3 * (size_t)p->resolution * (size_t)p->resolution * sizeof *x);
    logits = malloc((size_t)batch * (size_t)p->n_classes * sizeof *logits);
    AB_CHECK(x && logits, AB_ERR_NOMEM, "out of memory evaluating on %s", set->path);
    for (long i = 0; i < n; i += batch) {
        long m = n - i < batch ? n - i : batch;
        AB_CALL(ab_imageset_read(set, p->resolution, i, m, x));
        AB_CALL(ab_ofa_subnet_forward(net, x, (int)m, logits));
        for (long j = 0; j < m; j++)
            count_hits(logits + j * p->n_classes, p->n_classes, set->labels[i + j], &top1,
                       &top5);
    }
    out->top1 = (double)top1 / (double)n;
    out->top5 = (double)top5 / (double)n;
    out->images = n;
cleanup:
    free(logits);
    free(x);
    return rc;
}

ab_status ab_ofa_measure_latency(struct ab_ofa_subnet *net, int batch, int warmup, int runs,
                                 struct ab_ofa_latency *out)
{
    ab_status rc = AB_OK;
    const struct ab_ofa_plan *p = ab_ofa_subnet_plan(net);
    size_t in_sz = (size_t)batch * 3 * (size_t)p->resolution * (size_t)p->resolution;
    float *x = NULL, *logits = NULL;
    double *ms = NULL;
    struct ab_rng rng;

    out->median_ms = out->min_ms = out->max_ms = 0;
    if (runs < 1) runs = 1;
    AB_CALL(ab_ofa_subnet_reserve(net, batch));
    x = malloc(in_sz * sizeof *x);
    logits = malloc((size_t)batch * (size_t)p->n_classes * sizeof *logits);
    ms = malloc((size_t)runs * sizeof *ms);
    AB_CHECK(x && logits && ms, AB_ERR_NOMEM, "out of memory measuring latency");
    ab_rng_seed(&rng, 7);
    for (size_t i = 0; i < in_sz; i++) x[i] = (float)ab_rng_normal(&rng);
    for (int i = 0; i < warmup; i++) AB_CALL(ab_ofa_subnet_forward(net, x, batch, logits));
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        AB_CALL(ab_ofa_subnet_forward(net, x, batch, logits));
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    out->median_ms = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    out->min_ms = ms[0];
    out->max_ms = ms[runs - 1];
cleanup:
    free(ms);
    free(logits);
    free(x);
    return rc;
}
