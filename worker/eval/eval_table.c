/* SPDX-License-Identifier: MIT
 *
 * This file implements the `table` evaluator: metrics looked up in a
 * labelled-architecture HDF5 file (hdf5-schemas/archdata.md), as tabular
 * benchmarks are used. An architecture the table does not hold is an
 * evaluation error for that architecture, never a crash.
 *
 *     {type: table, file: labelled.h5}                 all the file's metrics
 *     {type: table, file: labelled.h5, metrics: [acc]}  a subset
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "eval/evaluator.h"
#include "util/u64map.h"

struct table {
    struct ab_dataset *d;
    struct ab_u64map rows;
    int *col;   /* evaluator metric -> dataset column */
};

static const char *const table_keys[] = {"file", "metrics", NULL};

static void table_destroy(struct ab_evaluator *ev)
{
    struct table *t = ev->impl;
    if (!t) return;
    ab_dataset_destroy(&t->d);
    ab_u64map_free(&t->rows);
    free(t->col);
    free(t);
    ev->impl = NULL;
}

static ab_status table_create(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                              json_t *spec)
{
    ab_status rc = AB_OK;
    const char *file;
    char path[4096], where[160];
    struct table *t = calloc(1, sizeof *t);
    json_t *ms = json_object_get(spec, "metrics");
    const char **names = NULL;
    int n = 0;
    snprintf(where, sizeof where, "%s: table evaluator", ctx->origin);
    AB_CHECK_ALLOC(t);
    ev->impl = t;
    AB_CALL(ab_eval_spec_str(spec, where, "file", 1, &file));
    ab_eval_resolve_path(ctx, file, path, sizeof path);
    AB_CALL(ab_dataset_read(path, &t->d));
    AB_CHECK(!strcmp(t->d->space->name, ctx->space->name), AB_ERR_INPUT,
             "%s: %s holds '%s' architectures but the search space is '%s'; use a table of "
             "the same space",
             where, path, t->d->space->name, ctx->space->name);
    AB_CALL(ab_u64map_init(&t->rows, (uint64_t)t->d->n));
    for (long i = 0; i < t->d->n; i++)
        AB_CHECK(ab_u64map_put(&t->rows, t->d->hashes[i], i, NULL) >= 0, AB_ERR_NOMEM,
                 "out of memory");
    if (ms) {
        AB_CHECK(json_is_array(ms) && json_array_size(ms) > 0, AB_ERR_INPUT,
                 "%s: 'metrics' must be a list of metric names of %s", where, path);
        n = (int)json_array_size(ms);
    } else {
        n = t->d->n_metrics;
    }
    names = calloc((size_t)n, sizeof *names);
    t->col = calloc((size_t)n, sizeof *t->col);
    AB_CHECK(names && t->col, AB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (ms) {
            names[i] = json_string_value(json_array_get(ms, (size_t)i));
            AB_CHECK(names[i], AB_ERR_INPUT, "%s: 'metrics' must hold names", where);
            t->col[i] = ab_dataset_metric_index(t->d, names[i]);
            AB_CHECK(t->col[i] >= 0, AB_ERR_INPUT, "%s: %s has no metric '%s'", where, path,
                     names[i]);
        } else {
            names[i] = t->d->metric_names[i];
            t->col[i] = i;
        }
    }
    AB_CALL(ab_eval_set_metrics(ev, names, n));
    if (!ev->batch) ev->batch = 4096;
cleanup:
    free(names);
    return rc;
}

static ab_status table_evaluate(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                                double *metrics, int *status, char *err)
{
    struct table *t = ev->impl;
    for (int i = 0; i < n; i++) {
        int64_t row;
        uint64_t h = ab_arch_hash(ev->space, &archs[i]);
        status[i] = AB_EVAL_OK;
        err[(size_t)i * AB_EVAL_ERRLEN] = 0;
        if (!ab_u64map_get(&t->rows, h, &row) || !ab_arch_equal(&t->d->archs[row], &archs[i])) {
            status[i] = AB_EVAL_FAILED;
            snprintf(err + (size_t)i * AB_EVAL_ERRLEN, AB_EVAL_ERRLEN,
                     "architecture %016llx is not in the table", (unsigned long long)h);
            for (int k = 0; k < ev->n_metrics; k++) metrics[(size_t)i * ev->n_metrics + k] = NAN;
            continue;
        }
        for (int k = 0; k < ev->n_metrics; k++)
            metrics[(size_t)i * ev->n_metrics + k] =
                t->d->metrics[(size_t)row * (size_t)t->d->n_metrics + (size_t)t->col[k]];
    }
    return AB_OK;
}

const struct ab_eval_type ab_eval_table_type = {
    .name = "table",
    .keys = table_keys,
    .summary = "look metrics up in a labelled HDF5 dataset (file:, metrics: [..])",
    .create = table_create,
    .evaluate = table_evaluate,
    .destroy = table_destroy,
};
