/* SPDX-License-Identifier: MIT
 *
 * This file implements the `ofa` evaluator: an architecture of ofa_mbv3 or
 * ofa_pn is spliced out of a Once-for-All supernet and measured by
 * autobuild's own inference engine (worker/ofa/):
 *
 *   top1, top5   accuracy on an image set (`data`), after BatchNorm
 *                re-calibration on `calib` images as OFA does (optional);
 *   latency_ms   median batch-1 latency on this node's CPU (`latency`,
 *                default on; set `exclusive: true` or a number so that
 *                measurements do not share a node's cores);
 *   flops, params  exact MACs and parameters (OFA's counting).
 *
 *     {type: ofa, supernet: ofa_mbv3_w12.h5, data: val.h5, calib: train.h5,
 *      calib_images: 2000, calib_batch: 200, threads: 2, exclusive: true}
 *
 * Without `supernet` a random-weight supernet of `net` (default: the
 * AutoBuild authors' ofa_mbv3_d234_e346_k357_w1.2 / ofa_proxyless_d234_e346
 * _k357_w1.3) serves latency, FLOPs and parameters; accuracy needs real
 * weights. The spliced subnet stays cached while its architecture is the
 * one being evaluated.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluator.h"
#include "ofa/ofa_cost.h"
#include "ofa/ofa_eval.h"
#include "ofa/ofa_subnet.h"
#include "ofa/ofa_supernet.h"

static const char *const ofa_keys[] = {
    "supernet", "net", "data", "calib", "calib_images", "calib_batch", "limit",
    "eval_batch", "threads", "latency", "latency_runs", "latency_warmup", "latency_batch",
    NULL};

struct ofa_ev {
    struct ab_ofa_supernet *sn;
    struct ab_imageset *data, *calib;
    long calib_images, limit;
    int calib_batch, eval_batch, threads;
    int latency, lat_runs, lat_warmup, lat_batch;
    /* metric columns; -1 when not produced */
    int c_top1, c_top5, c_lat, c_flops, c_params;
    /* the cached subnet and its architecture */
    struct ab_ofa_subnet *net;
    struct ab_arch arch;
};

static void ofa_destroy(struct ab_evaluator *ev)
{
    struct ofa_ev *o = ev->impl;
    if (!o) return;
    ab_ofa_subnet_destroy(&o->net);
    ab_imageset_close(&o->data);
    ab_imageset_close(&o->calib);
    ab_ofa_supernet_destroy(&o->sn);
    free(o);
    ev->impl = NULL;
}

static ab_status open_set(const struct ab_eval_context *ctx, json_t *spec, const char *where,
                          const char *key, struct ab_imageset **out)
{
    const char *file;
    char path[4096];
    AB_TRY(ab_eval_spec_str(spec, where, key, 0, &file));
    if (!file) return AB_OK;
    ab_eval_resolve_path(ctx, file, path, sizeof path);
    if (ab_imageset_open(path, out) != AB_OK) return ab_err_prefix("%s: %s", where, key);
    return AB_OK;
}

static ab_status load_supernet(const struct ab_eval_context *ctx, json_t *spec,
                               const char *where, struct ofa_ev *o)
{
    const char *file, *net;
    char path[4096];
    AB_TRY(ab_eval_spec_str(spec, where, "supernet", 0, &file));
    AB_TRY(ab_eval_spec_str(spec, where, "net", 0, &net));
    if (file && net)
        return ab_err_set(AB_ERR_INPUT, "%s: give 'supernet' or 'net', not both (a supernet "
                          "file names its net)", where);
    if (file) {
        ab_eval_resolve_path(ctx, file, path, sizeof path);
        if (ab_ofa_supernet_load(path, &o->sn) != AB_OK)
            return ab_err_prefix("%s: supernet", where);
        return AB_OK;
    }
    if (!net)
        net = ctx->space->kind == AB_SPACE_OFA_PN ? "ofa_proxyless_d234_e346_k357_w1.3"
                                                  : "ofa_mbv3_d234_e346_k357_w1.2";
    if (ab_ofa_supernet_random(net, 1000, 1, &o->sn) != AB_OK)
        return ab_err_prefix("%s: net", where);
    return AB_OK;
}

static ab_status read_options(json_t *spec, const char *where, struct ofa_ev *o)
{
    double v;
    json_t *lat = json_object_get(spec, "latency");
    if (lat && !json_is_boolean(lat))
        return ab_err_set(AB_ERR_INPUT, "%s: 'latency' must be true or false", where);
    o->latency = !lat || json_is_true(lat);
    AB_TRY(ab_eval_spec_num(spec, where, "calib_images", 2000, 1, 1e8, &v));
    o->calib_images = (long)v;
    AB_TRY(ab_eval_spec_num(spec, where, "calib_batch", 200, 1, 4096, &v));
    o->calib_batch = (int)v;
    AB_TRY(ab_eval_spec_num(spec, where, "limit", 0, 0, 1e9, &v));
    o->limit = (long)v;
    AB_TRY(ab_eval_spec_num(spec, where, "eval_batch", 32, 1, 4096, &v));
    o->eval_batch = (int)v;
    AB_TRY(ab_eval_spec_num(spec, where, "threads", 1, 1, 256, &v));
    o->threads = (int)v;
    AB_TRY(ab_eval_spec_num(spec, where, "latency_runs", 50, 1, 100000, &v));
    o->lat_runs = (int)v;
    AB_TRY(ab_eval_spec_num(spec, where, "latency_warmup", 10, 0, 100000, &v));
    o->lat_warmup = (int)v;
    AB_TRY(ab_eval_spec_num(spec, where, "latency_batch", 1, 1, 4096, &v));
    o->lat_batch = (int)v;
    return AB_OK;
}

static ab_status ofa_create(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                            json_t *spec)
{
    ab_status rc = AB_OK;
    struct ofa_ev *o;
    char where[160];
    const char *names[5];
    int n = 0;

    snprintf(where, sizeof where, "%s: ofa evaluator", ctx->origin);
    AB_CHECK(ctx->space->kind == AB_SPACE_OFA_MBV3 || ctx->space->kind == AB_SPACE_OFA_PN,
             AB_ERR_INPUT, "%s: the search space is '%s'; the ofa evaluator measures "
             "ofa_mbv3 and ofa_pn architectures", where, ctx->space->name);
    o = calloc(1, sizeof *o);
    AB_CHECK_ALLOC(o);
    ev->impl = o;
    AB_CALL(read_options(spec, where, o));
    AB_CALL(load_supernet(ctx, spec, where, o));
    AB_CHECK((ctx->space->kind == AB_SPACE_OFA_PN) == (o->sn->net->family == AB_OFA_PROXYLESS),
             AB_ERR_INPUT, "%s: supernet %s is %s (space %s) but the search space is %s", where,
             o->sn->path, o->sn->net->net_id, o->sn->net->space, ctx->space->name);
    AB_CALL(open_set(ctx, spec, where, "data", &o->data));
    AB_CALL(open_set(ctx, spec, where, "calib", &o->calib));
    AB_CHECK(!o->data || strcmp(o->sn->path, "random"), AB_ERR_INPUT,
             "%s: 'data' measures accuracy, which needs trained weights: add 'supernet: "
             "FILE.h5' (tools/convert_ofa_supernet.py)", where);
    AB_CHECK(!o->calib || o->data, AB_ERR_INPUT, "%s: 'calib' without 'data'; calibration "
             "only matters for accuracy", where);
    o->c_top1 = o->c_top5 = o->c_lat = -1;
    if (o->data) {
        o->c_top1 = n;
        names[n++] = "top1";
        o->c_top5 = n;
        names[n++] = "top5";
    }
    if (o->latency) {
        o->c_lat = n;
        names[n++] = "latency_ms";
    }
    o->c_flops = n;
    names[n++] = "flops";
    o->c_params = n;
    names[n++] = "params";
    AB_CALL(ab_eval_set_metrics(ev, names, n));
    /* measured latency is only meaningful alone on the node's cores */
    if (o->latency && !json_object_get(spec, "exclusive")) ev->exclusive = 1;
    if (!ev->batch) ev->batch = 1;
cleanup:
    return rc;
}

/* The subnet of a, spliced (and calibrated) unless it is the cached one.
 * An architecture the supernet cannot hold fails that architecture only. */
static ab_status subnet_for(struct ofa_ev *o, const struct ab_space *sp,
                            const struct ab_arch *a, int *failed, char *err)
{
    *failed = 0;
    if (o->net && ab_arch_equal(&o->arch, a)) return AB_OK;
    ab_ofa_subnet_destroy(&o->net);
    if (ab_ofa_subnet_create(o->sn, sp, a, &o->net) != AB_OK) {
        if (ab_err_status() != AB_ERR_INPUT) return ab_err_status();
        snprintf(err, AB_EVAL_ERRLEN, "%s", ab_err_msg());
        *failed = 1;
        return AB_OK;
    }
    AB_TRY(ab_ofa_subnet_set_threads(o->net, o->threads));
    if (o->calib) {
        ab_status rc = ab_ofa_calibrate_imageset(o->net, o->calib, o->calib_images,
                                                 o->calib_batch);
        if (rc != AB_OK) {
            ab_ofa_subnet_destroy(&o->net);
            return ab_err_prefix("ofa evaluator: calibration");
        }
    }
    o->arch = *a;
    return AB_OK;
}

static ab_status ofa_evaluate(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                              double *metrics, int *status, char *err)
{
    struct ofa_ev *o = ev->impl;
    int m = ev->n_metrics;
    for (int i = 0; i < n; i++) {
        double *row = metrics + (size_t)i * m;
        char *e = err + (size_t)i * AB_EVAL_ERRLEN;
        struct ab_ofa_cost cost;
        int failed;
        e[0] = 0;
        status[i] = AB_EVAL_OK;
        AB_TRY(subnet_for(o, ev->space, &archs[i], &failed, e));
        if (failed) {
            status[i] = AB_EVAL_FAILED;
            for (int k = 0; k < m; k++) row[k] = NAN;
            continue;
        }
        AB_TRY(ab_ofa_cost(ev->space, &archs[i], o->sn->net->width_mult, o->sn->n_classes,
                           &cost));
        row[o->c_flops] = (double)cost.macs;
        row[o->c_params] = (double)cost.params;
        if (o->data) {
            struct ab_ofa_accuracy acc;
            if (ab_ofa_accuracy(o->net, o->data, o->limit, o->eval_batch, &acc) != AB_OK)
                return ab_err_prefix("ofa evaluator: data");
            row[o->c_top1] = acc.top1;
            row[o->c_top5] = acc.top5;
        }
        if (o->latency) {
            struct ab_ofa_latency lat;
            AB_TRY(ab_ofa_measure_latency(o->net, o->lat_batch, o->lat_warmup, o->lat_runs,
                                          &lat));
            row[o->c_lat] = lat.median_ms;
        }
    }
    return AB_OK;
}

const struct ab_eval_type ab_eval_ofa_type = {
    .name = "ofa",
    .keys = ofa_keys,
    .summary = "splice OFA subnets and measure top1/top5 (data:), latency_ms, flops, params",
    .create = ofa_create,
    .evaluate = ofa_evaluate,
    .destroy = ofa_destroy,
};
