/* SPDX-License-Identifier: MIT
 *
 * This file implements the `synthetic` evaluator, for tests, benchmarks and
 * trying a configuration out: deterministic metrics computed from the
 * architecture's structure (no data needed), optionally after a sleep that
 * stands in for a slow evaluation, optionally failing a deterministic
 * fraction of architectures.
 *
 *     {type: synthetic}                                 acc and latency
 *     {type: synthetic, sleep_ms: 100, fail_rate: 0.05, metrics: [acc, lat, mem]}
 *     {type: synthetic, sleep_ms: 100, sleep_spread: 10}   100 ms x 10^u, u in [-1, 1]
 *
 * The first metric rises with the network's size (like accuracy), the
 * others grow with it at different rates (like costs), so the objectives
 * conflict and a Pareto search has something to find; a small hash-derived
 * term breaks ties. Each value is a pure function of the canonical
 * architecture.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/evaluator.h"

struct synthetic {
    double sleep_ms;
    double sleep_spread;  /* >= 1: each architecture sleeps sleep_ms x spread^u */
    double fail_rate;
};

static const char *const synthetic_keys[] = {"metrics", "sleep_ms", "sleep_spread", "fail_rate",
                                             NULL};

static void synthetic_destroy(struct ab_evaluator *ev)
{
    free(ev->impl);
    ev->impl = NULL;
}

static ab_status synthetic_create(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                                  json_t *spec)
{
    ab_status rc = AB_OK;
    struct synthetic *s = calloc(1, sizeof *s);
    char where[160];
    json_t *ms = json_object_get(spec, "metrics");
    const char *names[16] = {"acc", "latency"};
    int n = 2;
    snprintf(where, sizeof where, "%s: synthetic evaluator", ctx->origin);
    AB_CHECK_ALLOC(s);
    ev->impl = s;
    AB_CALL(ab_eval_spec_num(spec, where, "sleep_ms", 0, 0, 86400e3, &s->sleep_ms));
    AB_CALL(ab_eval_spec_num(spec, where, "sleep_spread", 1, 1, 1e6, &s->sleep_spread));
    AB_CALL(ab_eval_spec_num(spec, where, "fail_rate", 0, 0, 1, &s->fail_rate));
    if (ms) {
        AB_CHECK(json_is_array(ms) && json_array_size(ms) >= 1 && json_array_size(ms) <= 16,
                 AB_ERR_INPUT, "%s: 'metrics' must be a list of 1 to 16 names", where);
        n = (int)json_array_size(ms);
        for (int i = 0; i < n; i++) {
            names[i] = json_string_value(json_array_get(ms, (size_t)i));
            AB_CHECK(names[i] && names[i][0], AB_ERR_INPUT, "%s: 'metrics' must hold names",
                     where);
        }
    }
    AB_CALL(ab_eval_set_metrics(ev, names, n));
    if (!ev->batch) ev->batch = s->sleep_ms > 0 ? 1 : 4096;
cleanup:
    return rc;
}

static double unit_hash(uint64_t h, int salt)
{
    h ^= (uint64_t)(salt + 1) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (double)(h >> 11) / 9007199254740992.0;
}

static ab_status synthetic_evaluate(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                                    double *metrics, int *status, char *err)
{
    struct synthetic *s = ev->impl;
    const struct ab_space *sp = ev->space;
    if (s->sleep_ms > 0) {
        double total = 0;
        for (int i = 0; i < n; i++) {
            /* u in [-1, 1) from the architecture: the same one always takes as long */
            double u = 2.0 * unit_hash(ab_arch_hash(sp, &archs[i]), 77) - 1.0;
            total += s->sleep_ms * pow(s->sleep_spread, u) / 1e3;
        }
        struct timespec ts = {(time_t)total, (long)((total - floor(total)) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    for (int i = 0; i < n; i++) {
        const struct ab_arch *a = &archs[i];
        uint64_t h = ab_arch_hash(sp, a);
        double size = 0, depth = 0, res = a->resolution > 0 ? a->resolution / 224.0 : 1.0;
        for (int st = 0; st < sp->n_stages; st++) {
            int nc = sp->stages[st].n_choices;
            for (int l = 0; l < a->depth[st]; l++) {
                size += (1.0 + a->choice[st][l]) / (nc > 0 ? nc : 1) * (1.0 + 0.25 * st);
                depth += 1;
            }
        }
        status[i] = AB_EVAL_OK;
        err[(size_t)i * AB_EVAL_ERRLEN] = 0;
        if (s->fail_rate > 0 && unit_hash(h, 99) < s->fail_rate) {
            status[i] = AB_EVAL_FAILED;
            snprintf(err + (size_t)i * AB_EVAL_ERRLEN, AB_EVAL_ERRLEN,
                     "synthetic failure (fail_rate %g)", s->fail_rate);
            for (int k = 0; k < ev->n_metrics; k++) metrics[(size_t)i * ev->n_metrics + k] = NAN;
            continue;
        }
        for (int k = 0; k < ev->n_metrics; k++) {
            double v, noise = unit_hash(h, k) - 0.5;
            if (k == 0)
                v = 0.60 + 0.20 * (1.0 - exp(-0.08 * (depth + 2.0 * size) * res)) + 0.004 * noise;
            else
                v = (1.0 + 0.3 * k) * (2.0 + 0.4 * depth + (0.5 + 0.5 * k) * size) * res * res *
                    (1.0 + 0.02 * noise);
            metrics[(size_t)i * ev->n_metrics + k] = v;
        }
    }
    return AB_OK;
}

const struct ab_eval_type ab_eval_synthetic_type = {
    .name = "synthetic",
    .keys = synthetic_keys,
    .summary = "deterministic structure-derived metrics (metrics:, sleep_ms:, sleep_spread:, fail_rate:)",
    .create = synthetic_create,
    .evaluate = synthetic_evaluate,
    .destroy = synthetic_destroy,
};
