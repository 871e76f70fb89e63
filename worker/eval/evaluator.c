/* SPDX-License-Identifier: MIT
 *
 * This file implements the evaluator registry, spec validation, and chains
 * of evaluators whose metrics are merged.
 */
#include "eval/evaluator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct ab_eval_type ab_eval_table_type;
extern const struct ab_eval_type ab_eval_predictor_type;
extern const struct ab_eval_type ab_eval_synthetic_type;
extern const struct ab_eval_type ab_eval_ofa_type;
extern const struct ab_eval_type ab_eval_external_type;

const struct ab_eval_type *const ab_eval_types[] = {
    &ab_eval_table_type,
    &ab_eval_predictor_type,
    &ab_eval_synthetic_type,
    &ab_eval_ofa_type,
    &ab_eval_external_type,
    NULL,
};

static const char *const common_keys[] = {"type", "exclusive", "batch", NULL};

void ab_eval_resolve_path(const struct ab_eval_context *ctx, const char *file, char *buf,
                          size_t cap)
{
    if (file[0] != '/' && ctx->base_dir && ctx->base_dir[0]) {
        snprintf(buf, cap, "%s/%s", ctx->base_dir, file);
        if (access(buf, F_OK) == 0) return;
    }
    snprintf(buf, cap, "%s", file);
}

ab_status ab_eval_spec_str(json_t *spec, const char *where, const char *key, int required,
                           const char **out)
{
    json_t *v = json_object_get(spec, key);
    *out = NULL;
    if (!v) {
        if (required)
            return ab_err_set(AB_ERR_INPUT, "%s: the %s evaluator needs '%s'", where,
                              json_string_value(json_object_get(spec, "type")), key);
        return AB_OK;
    }
    if (!json_is_string(v) || !json_string_value(v)[0])
        return ab_err_set(AB_ERR_INPUT, "%s: '%s' must be a non-empty string", where, key);
    *out = json_string_value(v);
    return AB_OK;
}

ab_status ab_eval_spec_num(json_t *spec, const char *where, const char *key, double def,
                           double lo, double hi, double *out)
{
    json_t *v = json_object_get(spec, key);
    double x;
    if (!v) {
        *out = def;
        return AB_OK;
    }
    if (!json_is_number(v))
        return ab_err_set(AB_ERR_INPUT, "%s: '%s' must be a number", where, key);
    x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return ab_err_set(AB_ERR_INPUT, "%s: '%s' must be from %g to %g, got %g", where, key,
                          lo, hi, x);
    *out = x;
    return AB_OK;
}

ab_status ab_eval_set_metrics(struct ab_evaluator *ev, const char *const *names, int n)
{
    ev->metrics = calloc((size_t)(n > 0 ? n : 1), sizeof *ev->metrics);
    if (!ev->metrics) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        ev->metrics[i] = strdup(names[i]);
        if (!ev->metrics[i]) return ab_err_set(AB_ERR_NOMEM, "out of memory");
        ev->n_metrics = i + 1;
    }
    return AB_OK;
}

/* "table, predictor, synthetic" into buf[200]. */
static const char *type_list(char *buf)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; ab_eval_types[i] && at < 200; i++)
        at += (size_t)snprintf(buf + at, 200 - at, "%s%s", i ? ", " : "", ab_eval_types[i]->name);
    return buf;
}

static ab_status check_keys(json_t *spec, const char *where, const struct ab_eval_type *t)
{
    const char *key;
    json_t *v;
    json_object_foreach(spec, key, v) {
        int ok = 0;
        for (int i = 0; common_keys[i]; i++)
            if (!strcmp(common_keys[i], key)) ok = 1;
        for (int i = 0; t->keys && t->keys[i]; i++)
            if (!strcmp(t->keys[i], key)) ok = 1;
        if (!ok) {
            char list[400];
            size_t at = 0;
            list[0] = 0;
            for (int i = 0; t->keys && t->keys[i]; i++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s, ", t->keys[i]);
            snprintf(list + at, sizeof list - at, "exclusive, batch");
            return ab_err_set(AB_ERR_INPUT, "%s: unknown key '%s' for a %s evaluator (known: %s)",
                              where, key, t->name, list);
        }
    }
    return AB_OK;
}

ab_status ab_evaluator_create(const struct ab_eval_context *ctx, json_t *spec, const char *where,
                              struct ab_evaluator **out)
{
    ab_status rc = AB_OK;
    struct ab_evaluator *ev = NULL;
    const struct ab_eval_type *t = NULL;
    const char *type;
    double batch = 0;
    json_t *ex;
    char list[200];
    *out = NULL;
    AB_CHECK(json_is_object(spec), AB_ERR_INPUT,
             "%s: an evaluator is a mapping such as {type: table, file: labelled.h5}", where);
    AB_CALL(ab_eval_spec_str(spec, where, "type", 0, &type));
    AB_CHECK(type, AB_ERR_INPUT, "%s: missing 'type' (one of: %s)", where, type_list(list));
    for (int i = 0; ab_eval_types[i]; i++)
        if (!strcmp(ab_eval_types[i]->name, type)) t = ab_eval_types[i];
    AB_CHECK(t, AB_ERR_INPUT, "%s: unknown evaluator type '%s' (known: %s)", where, type,
             type_list(list));
    AB_CALL(check_keys(spec, where, t));
    ev = calloc(1, sizeof *ev);
    AB_CHECK_ALLOC(ev);
    ev->type = t;
    ev->space = ctx->space;
    ex = json_object_get(spec, "exclusive");
    AB_CHECK(!ex || json_is_boolean(ex) ||
                 (json_is_integer(ex) && json_integer_value(ex) >= 1 &&
                  json_integer_value(ex) <= 4096),
             AB_ERR_INPUT, "%s: 'exclusive' must be true, false or the number of "
             "evaluations that may run at once on a node (1 to 4096)", where);
    ev->exclusive = !ex ? 0 : json_is_integer(ex) ? (int)json_integer_value(ex)
                                                   : (json_is_true(ex) ? 1 : 0);
    AB_CALL(ab_eval_spec_num(spec, where, "batch", 0, 1, 1e6, &batch));
    ev->batch = (int)batch;
    AB_CALL(t->create(ev, ctx, spec));
    if (ev->batch <= 0) ev->batch = 256;
    *out = ev;
    ev = NULL;
cleanup:
    if (rc != AB_OK && ev && ev->impl == NULL) ev->type = NULL;
    ab_evaluator_destroy(&ev);
    return rc;
}

void ab_evaluator_destroy(struct ab_evaluator **pev)
{
    struct ab_evaluator *ev = pev ? *pev : NULL;
    if (!ev) return;
    if (ev->type && ev->type->destroy) ev->type->destroy(ev);
    for (int i = 0; i < ev->n_metrics; i++) free(ev->metrics[i]);
    free(ev->metrics);
    free(ev);
    *pev = NULL;
}

ab_status ab_eval_chain_create(const struct ab_eval_context *ctx, json_t *specs,
                               struct ab_eval_chain **out)
{
    ab_status rc = AB_OK;
    struct ab_eval_chain *c = NULL;
    size_t total = 0, namelen = 1;
    *out = NULL;
    AB_CHECK(json_is_array(specs) && json_array_size(specs) > 0, AB_ERR_INPUT,
             "%s: 'evaluators' must be a list with at least one evaluator, e.g. "
             "'- {type: table, file: labelled.h5}'",
             ctx->origin);
    AB_CHECK(json_array_size(specs) <= AB_EVAL_MAX, AB_ERR_INPUT,
             "%s: at most %d evaluators", ctx->origin, AB_EVAL_MAX);
    c = calloc(1, sizeof *c);
    AB_CHECK_ALLOC(c);
    for (size_t i = 0; i < json_array_size(specs); i++) {
        char where[300];
        snprintf(where, sizeof where, "%s: evaluators[%zu]", ctx->origin, i + 1);
        AB_CALL(ab_evaluator_create(ctx, json_array_get(specs, i), where, &c->ev[c->n]));
        c->n++;
    }
    for (int i = 0; i < c->n; i++) {
        total += (size_t)c->ev[i]->n_metrics;
        namelen += strlen(c->ev[i]->type->name) + 1;
    }
    c->metrics = calloc(total ? total : 1, sizeof *c->metrics);
    c->metric_of = calloc(total ? total : 1, sizeof *c->metric_of);
    c->names = calloc(namelen, 1);
    AB_CHECK(c->metrics && c->metric_of && c->names, AB_ERR_NOMEM, "out of memory");
    c->batch = 1 << 30;
    for (int i = 0, k = 0; i < c->n; i++) {
        struct ab_evaluator *ev = c->ev[i];
        if (i) strcat(c->names, "+");
        strcat(c->names, ev->type->name);
        if (ev->exclusive && (!c->exclusive || ev->exclusive < c->exclusive))
            c->exclusive = ev->exclusive;
        if (ev->batch < c->batch) c->batch = ev->batch;
        for (int m = 0; m < ev->n_metrics; m++, k++) {
            int at = ab_eval_chain_metric(c, ev->metrics[m]);
            AB_CHECK(at < 0, AB_ERR_INPUT,
                     "%s: metric '%s' is produced by two evaluators (evaluators[%d] and an "
                     "earlier one); give one of them another 'metric' name",
                     ctx->origin, ev->metrics[m], i + 1);
            c->metrics[c->n_metrics] = strdup(ev->metrics[m]);
            AB_CHECK_ALLOC(c->metrics[c->n_metrics]);
            c->metric_of[k] = c->n_metrics++;
        }
    }
    *out = c;
    c = NULL;
cleanup:
    ab_eval_chain_destroy(&c);
    return rc;
}

void ab_eval_chain_destroy(struct ab_eval_chain **pc)
{
    struct ab_eval_chain *c = pc ? *pc : NULL;
    if (!c) return;
    for (int i = 0; i < c->n; i++) ab_evaluator_destroy(&c->ev[i]);
    for (int i = 0; i < c->n_metrics; i++) free(c->metrics[i]);
    free(c->metrics);
    free(c->metric_of);
    free(c->names);
    free(c);
    *pc = NULL;
}

int ab_eval_chain_metric(const struct ab_eval_chain *c, const char *name)
{
    for (int i = 0; i < c->n_metrics; i++)
        if (!strcmp(c->metrics[i], name)) return i;
    return -1;
}

ab_status ab_eval_chain_run(struct ab_eval_chain *c, const struct ab_arch *archs, int n,
                            double *metrics, int *status, char *err)
{
    ab_status rc = AB_OK;
    int cap = c->batch < n ? c->batch : n, maxm = 1;
    double *m = NULL;
    int *st = NULL;
    char *e = NULL;
    for (int i = 0; i < c->n; i++)
        if (c->ev[i]->n_metrics > maxm) maxm = c->ev[i]->n_metrics;
    for (int i = 0; i < n; i++) {
        status[i] = AB_EVAL_OK;
        err[(size_t)i * AB_EVAL_ERRLEN] = 0;
        for (int k = 0; k < c->n_metrics; k++) metrics[(size_t)i * c->n_metrics + k] = NAN;
    }
    if (n <= 0) return AB_OK;
    m = malloc(sizeof *m * (size_t)cap * (size_t)maxm);
    st = malloc(sizeof *st * (size_t)cap);
    e = malloc((size_t)cap * AB_EVAL_ERRLEN);
    AB_CHECK(m && st && e, AB_ERR_NOMEM, "out of memory");
    for (int i = 0, k0 = 0; i < c->n; k0 += c->ev[i]->n_metrics, i++) {
        struct ab_evaluator *ev = c->ev[i];
        for (int lo = 0; lo < n; lo += cap) {
            int cnt = n - lo < cap ? n - lo : cap;
            AB_CALL(ev->type->evaluate(ev, archs + lo, cnt, m, st, e));
            for (int j = 0; j < cnt; j++) {
                int a = lo + j;
                if (st[j] == AB_EVAL_INTERRUPTED) {
                    status[a] = AB_EVAL_INTERRUPTED;
                    continue;
                }
                if (st[j] != AB_EVAL_OK) {
                    if (status[a] == AB_EVAL_OK)
                        snprintf(err + (size_t)a * AB_EVAL_ERRLEN, AB_EVAL_ERRLEN, "%s: %s",
                                 ev->type->name, e + (size_t)j * AB_EVAL_ERRLEN);
                    if (status[a] != AB_EVAL_INTERRUPTED) status[a] = AB_EVAL_FAILED;
                    continue;
                }
                for (int q = 0; q < ev->n_metrics; q++)
                    metrics[(size_t)a * c->n_metrics + c->metric_of[k0 + q]] =
                        m[(size_t)j * ev->n_metrics + q];
            }
        }
    }
    for (int a = 0; a < n; a++)
        if (status[a] != AB_EVAL_OK)
            for (int k = 0; k < c->n_metrics; k++) metrics[(size_t)a * c->n_metrics + k] = NAN;
cleanup:
    free(m);
    free(st);
    free(e);
    return rc;
}
