/* SPDX-License-Identifier: MIT
 *
 * This file implements the `predictor` evaluator: one metric predicted by a
 * predictor checkpoint of ours (autobuild train) or one converted from the
 * authors' PyTorch files (tools/convert_torch_predictor.py), e.g. their
 * latency predictors. Batched forward passes in evaluation mode.
 *
 *     {type: predictor, file: l1_npu.h5, metric: latency_npu}
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluator.h"
#include "predictor/checkpoint.h"
#include "predictor/model.h"

static const char *const predictor_keys[] = {"file", "metric", NULL};

static void predictor_destroy(struct ab_evaluator *ev)
{
    struct ab_predictor *p = ev->impl;
    ab_predictor_destroy(&p);
    ev->impl = NULL;
}

static int is_identifier(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

static ab_status predictor_create(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                                  json_t *spec)
{
    ab_status rc = AB_OK;
    const char *file, *metric;
    char path[4096], where[160];
    struct ab_predictor *p = NULL;
    snprintf(where, sizeof where, "%s: predictor evaluator", ctx->origin);
    AB_CALL(ab_eval_spec_str(spec, where, "file", 1, &file));
    AB_CALL(ab_eval_spec_str(spec, where, "metric", 0, &metric));
    ab_eval_resolve_path(ctx, file, path, sizeof path);
    AB_CALL(ab_predictor_load(path, &p));
    ev->impl = p;
    AB_CHECK(!strcmp(p->space->name, ctx->space->name), AB_ERR_INPUT,
             "%s: %s predicts '%s' architectures but the search space is '%s'", where, path,
             p->space->name, ctx->space->name);
    if (!metric) {
        AB_CHECK(p->target && is_identifier(p->target), AB_ERR_INPUT,
                 "%s: %s predicts '%s'; name the metric with 'metric: NAME'", where, path,
                 p->target ? p->target : "?");
        metric = p->target;
    }
    AB_CALL(ab_eval_set_metrics(ev, &metric, 1));
    if (!ev->batch) ev->batch = 1024;
cleanup:
    return rc;
}

static ab_status predictor_evaluate(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                                    double *metrics, int *status, char *err)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = ev->impl;
    float *out = malloc(sizeof *out * (size_t)(n > 0 ? n : 1));
    AB_CHECK_ALLOC(out);
    AB_CALL(ab_pred_eval_archs(p, archs, n, ev->batch, out, NULL, NULL));
    for (int i = 0; i < n; i++) {
        metrics[i] = (double)out[i] * p->label_std + p->label_mean;
        status[i] = AB_EVAL_OK;
        err[(size_t)i * AB_EVAL_ERRLEN] = 0;
    }
cleanup:
    free(out);
    return rc;
}

const struct ab_eval_type ab_eval_predictor_type = {
    .name = "predictor",
    .keys = predictor_keys,
    .summary = "predict one metric with a predictor checkpoint (file:, metric:)",
    .create = predictor_create,
    .evaluate = predictor_evaluate,
    .destroy = predictor_destroy,
};
