/* SPDX-License-Identifier: MIT
 *
 * This file implements the campaign configuration (campaign.h): the strict
 * YAML loader that checks every section before anything is written, and
 * the generated configuration of the search stage.
 */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"
#include "campaign/stamp.h"
#include "data/dataset.h"
#include "equation/equation.h"
#include "eval/evaluator.h"
#include "util/fsutil.h"
#include "util/yamldoc.h"

void ab_campaign_destroy(struct ab_campaign **pc)
{
    struct ab_campaign *c = pc ? *pc : NULL;
    if (!c) return;
    free(c->origin);
    free(c->base_dir);
    free(c->dir);
    ab_space_destroy(&c->space);
    json_decref(c->data_evaluators);
    json_decref(c->data_run_specs);
    free(c->data_evaluators_id);
    for (int i = 0; i < c->n_data_metrics; i++) free(c->data_metrics[i]);
    free(c->data_metrics);
    for (int i = 0; i < c->n_pred; i++) {
        free(c->pred[i].name);
        free(c->pred[i].target);
    }
    for (int i = 0; i < c->n_obj; i++) free(c->obj[i].metric);
    json_decref(c->search_run_specs);
    free(c->space_spec);
    free(c->search_evaluators_id);
    free(c);
    *pc = NULL;
}

/* A path named in the configuration: absolute as it is, else relative to
 * the configuration's folder. */
static char *resolve(const struct ab_campaign *c, const char *p)
{
    return ab_fs_resolve(c->base_dir, p);
}

/* ---- campaign: ------------------------------------------------------------ */

static ab_status load_campaign(struct ab_yamldoc *d, yaml_node_t *root, struct ab_campaign *c)
{
    static const char *const keys[] = {"dir", "space", "seed", NULL};
    yaml_node_t *s = ab_yamldoc_get(d, root, "campaign");
    const char *dir, *space;
    char *sp_path = NULL;
    long seed;
    ab_status rc;
    AB_TRY(ab_yamldoc_check_keys(d, s, "campaign", keys));
    AB_TRY(ab_yamldoc_str_required(d, s, "campaign", "dir", &dir));
    AB_TRY(ab_yamldoc_str_required(d, s, "campaign", "space", &space));
    AB_TRY(ab_yamldoc_int(d, s, "campaign", "seed", 1, 0, 0x7fffffffffffffffL, &seed));
    c->seed = (uint64_t)seed;
    c->dir = resolve(c, dir);
    sp_path = resolve(c, space);
    if (!c->dir || !sp_path) {
        free(sp_path);
        return ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    c->space_spec = strdup(ab_fs_exists(sp_path) ? sp_path : space);
    rc = c->space_spec ? ab_space_open(c->space_spec, &c->space)
                       : ab_err_set(AB_ERR_NOMEM, "out of memory");
    free(sp_path);
    if (rc)
        return ab_err_prefix("%s: line %d: campaign.space", d->origin,
                             ab_yamldoc_line(ab_yamldoc_get(d, s, "space")));
    if (c->space->reduced)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: campaign.space: '%s' is a reduced space; "
                          "a campaign starts from a whole space (ofa_mbv3, ofa_pn, a YAML space) "
                          "and reduces it itself", d->origin,
                          ab_yamldoc_line(ab_yamldoc_get(d, s, "space")), space);
    return AB_OK;
}

/* ---- evaluators -------------------------------------------------------------- */

/* Checks an `evaluators:` list: every spec creates (unknown types, keys
 * and unreadable files are errors naming the line), the chain merges.
 * Fills the run specs (files resolved to absolute paths), the identity
 * (specs as written and the content hashes of their files) and, when
 * metrics is not NULL, the chain's metric names. */
static ab_status load_evaluators(struct ab_yamldoc *d, yaml_node_t *ev, const char *path,
                                 struct ab_campaign *c, json_t **run_specs, char **identity,
                                 char ***metrics, int *n_metrics)
{
    ab_status rc = AB_OK;
    struct ab_eval_context ctx = {c->space, c->origin, c->base_dir, NULL};
    struct ab_eval_chain *chain = NULL;
    struct ab_evaluator *one = NULL;
    json_t *specs = NULL, *run = json_array(), *files = json_object(), *id = json_object();
    char *text = NULL, where[512], origin[512];
    json_error_t jerr;
    AB_CHECK(run && files && id, AB_ERR_NOMEM, "out of memory");
    AB_CALL(ab_yamldoc_expect_seq(d, ev, path));
    AB_CHECK(ab_yamldoc_seq_len(ev) >= 1 && ab_yamldoc_seq_len(ev) <= AB_EVAL_MAX, AB_ERR_INPUT,
             "%s: line %d: %s: 1 to %d evaluators, e.g. '- {type: synthetic}'", d->origin,
             ab_yamldoc_line(ev), path, AB_EVAL_MAX);
    text = ab_yamldoc_to_json(d, ev);
    AB_CHECK_ALLOC(text);
    specs = json_loads(text, 0, &jerr);
    AB_CHECK(specs, AB_ERR_INTERNAL, "%s: %s: %s", d->origin, path, jerr.text);
    for (int i = 0; i < ab_yamldoc_seq_len(ev); i++) {
        json_t *spec = json_array_get(specs, (size_t)i), *copy;
        const char *file = json_string_value(json_object_get(spec, "file"));
        snprintf(where, sizeof where, "%s: line %d: %s[%d]", d->origin,
                 ab_yamldoc_line(ab_yamldoc_seq_item(d, ev, i)), path, i + 1);
        rc = ab_evaluator_create(&ctx, spec, where, &one);
        if (rc) {
            /* some evaluators name only their file: say where the spec is */
            if (strncmp(ab_err_msg(), d->origin, strlen(d->origin))) ab_err_prefix("%s", where);
            goto cleanup;
        }
        ab_evaluator_destroy(&one);
        copy = json_deep_copy(spec);
        AB_CHECK_ALLOC(copy);
        if (file) {
            char buf[PATH_MAX], real[PATH_MAX], hex[17];
            ab_eval_resolve_path(&ctx, file, buf, sizeof buf);
            if (realpath(buf, real)) json_object_set_new(copy, "file", json_string(real));
            if (ab_stamp_file_hash(realpath(buf, real) ? real : buf, hex, NULL) != AB_OK) {
                json_decref(copy);
                rc = ab_err_prefix("%s", where);
                goto cleanup;
            }
            json_object_set_new(files, file, json_string(hex));
        }
        json_array_append_new(run, copy);
    }
    snprintf(origin, sizeof origin, "%s: line %d: %s", d->origin, ab_yamldoc_line(ev), path);
    ctx.origin = origin;
    AB_CALL(ab_eval_chain_create(&ctx, run, &chain));
    if (metrics) {
        *metrics = calloc((size_t)chain->n_metrics + 1, sizeof **metrics);
        AB_CHECK_ALLOC(*metrics);
        for (int k = 0; k < chain->n_metrics; k++) {
            (*metrics)[k] = strdup(chain->metrics[k]);
            AB_CHECK_ALLOC((*metrics)[k]);
            *n_metrics = k + 1;
        }
    }
    json_object_set(id, "specs", specs);
    json_object_set(id, "files", files);
    *identity = json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS);
    AB_CHECK_ALLOC(*identity);
    *run_specs = run;
    run = NULL;
cleanup:
    ab_evaluator_destroy(&one);
    ab_eval_chain_destroy(&chain);
    json_decref(specs);
    json_decref(run);
    json_decref(files);
    json_decref(id);
    free(text);
    return rc;
}

/* ---- data: ---------------------------------------------------------------------- */

static ab_status load_data(struct ab_yamldoc *d, yaml_node_t *root, struct ab_campaign *c)
{
    static const char *const keys[] = {"n", "seed", "resolutions", "evaluators", NULL};
    yaml_node_t *s = ab_yamldoc_get(d, root, "data"), *v;
    long seed;
    AB_TRY(ab_yamldoc_check_keys(d, s, "data", keys));
    AB_TRY(ab_yamldoc_int(d, s, "data", "n", -1, 1, 100000000, &c->n));
    if (c->n < 0)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: data needs 'n' (how many architectures "
                          "to sample and label, e.g. n: 3000)", d->origin, ab_yamldoc_line(s));
    AB_TRY(ab_yamldoc_int(d, s, "data", "seed", (long)c->seed, 0, 0x7fffffffffffffffL, &seed));
    c->data_seed = (uint64_t)seed;
    if ((v = ab_yamldoc_get(d, s, "resolutions"))) {
        AB_TRY(ab_yamldoc_expect_seq(d, v, "data.resolutions"));
        if (c->space->n_resolutions == 0)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: data.resolutions: space %s has no "
                              "input resolution", d->origin, ab_yamldoc_line(v), c->space->name);
        if (ab_yamldoc_seq_len(v) < 1 || ab_yamldoc_seq_len(v) > AB_CAMPAIGN_MAX_RES)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: data.resolutions: 1 to %d values",
                              d->origin, ab_yamldoc_line(v), AB_CAMPAIGN_MAX_RES);
        for (int i = 0; i < ab_yamldoc_seq_len(v); i++) {
            const char *t = ab_yamldoc_text(ab_yamldoc_seq_item(d, v, i));
            char *end;
            long r = t ? strtol(t, &end, 10) : -1;
            if (!t || *end || r <= 0 || r > 100000 || !ab_space_has_resolution(c->space, (int)r))
                return ab_err_set(AB_ERR_INPUT, "%s: line %d: data.resolutions: '%s' is not a "
                                  "resolution of space %s", d->origin, ab_yamldoc_line(v),
                                  t ? t : "?", c->space->name);
            c->res[c->n_res++] = (int)r;
        }
    }
    v = ab_yamldoc_get(d, s, "evaluators");
    if (!v)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: data needs 'evaluators' (what labels "
                          "the architectures, e.g. '- {type: predictor, file: l1_acc.h5, "
                          "metric: acc}')", d->origin, ab_yamldoc_line(s));
    {
        char *text = ab_yamldoc_to_json(d, v);
        json_error_t jerr;
        if (!text) return ab_err_set(AB_ERR_NOMEM, "out of memory");
        c->data_evaluators = json_loads(text, 0, &jerr);
        free(text);
    }
    return load_evaluators(d, v, "data.evaluators", c, &c->data_run_specs,
                           &c->data_evaluators_id, &c->data_metrics, &c->n_data_metrics);
}

/* ---- predictors: ------------------------------------------------------------------ */

static int name_ok(const char *s)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static ab_status one_of(struct ab_yamldoc *d, yaml_node_t *e, const char *path, const char *key,
                        const char *a, const char *b, int *is_a)
{
    const char *t;
    AB_TRY(ab_yamldoc_str(d, e, path, key, a, &t));
    if (strcmp(t, a) && strcmp(t, b))
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s: expected %s or %s, got '%s'",
                          d->origin, ab_yamldoc_line(ab_yamldoc_get(d, e, key)), path, key, a, b,
                          t);
    *is_a = !strcmp(t, a);
    return AB_OK;
}

static ab_status load_predictor(struct ab_yamldoc *d, yaml_node_t *e, const char *path,
                                struct ab_campaign *c, struct ab_campaign_predictor *p)
{
    static const char *const keys[] = {"name",  "target", "epochs", "batch",  "lr",    "wd",
                                       "lambda", "seed",  "threads", "gnn",   "hidden",
                                       "layers", "aggr",  "activ",  "norm",   "folds", "seeds",
                                       NULL};
    const char *name, *target;
    long v;
    int is_a;
    struct ab_equation *eq = NULL;
    ab_status rc;
    AB_TRY(ab_yamldoc_check_keys(d, e, path, keys));
    p->line = ab_yamldoc_line(e);
    AB_TRY(ab_yamldoc_str_required(d, e, path, "name", &name));
    if (!name_ok(name))
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.name: '%s' must be 1 to 64 letters, "
                          "digits, '_' or '-' (it names files)", d->origin,
                          ab_yamldoc_line(ab_yamldoc_get(d, e, "name")), path, name);
    for (int i = 0; i < c->n_pred; i++)
        if (!strcmp(c->pred[i].name, name))
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.name: '%s' is used twice",
                              d->origin, p->line, path, name);
    AB_TRY(ab_yamldoc_str_required(d, e, path, "target", &target));
    rc = ab_equation_parse(target, &eq);
    if (!rc) rc = ab_equation_bind(eq, (const char *const *)c->data_metrics, c->n_data_metrics);
    ab_equation_destroy(&eq);
    if (rc)
        return ab_err_prefix("%s: line %d: %s.target", d->origin,
                             ab_yamldoc_line(ab_yamldoc_get(d, e, "target")), path);
    ab_train_opts_default(&p->opts);
    ab_pred_config_default(c->space, &p->cfg);
    AB_TRY(ab_yamldoc_int(d, e, path, "epochs", p->opts.epochs, 0, 1000000, &p->opts.epochs));
    AB_TRY(ab_yamldoc_int(d, e, path, "batch", p->opts.batch, 2, 1000000, &v));
    p->opts.batch = (int)v;
    AB_TRY(ab_yamldoc_double(d, e, path, "lr", p->opts.lr, 1e-12, 10, &p->opts.lr));
    AB_TRY(ab_yamldoc_double(d, e, path, "wd", p->opts.wd, 0, 10, &p->opts.wd));
    AB_TRY(ab_yamldoc_double(d, e, path, "lambda", p->cfg.lambda, 0, 1000, &p->cfg.lambda));
    AB_TRY(ab_yamldoc_int(d, e, path, "seed", (long)c->seed, 0, 0x7fffffffffffffffL, &v));
    p->opts.seed = (unsigned long long)v;
    AB_TRY(ab_yamldoc_int(d, e, path, "threads", 1, 1, AB_PRED_MAX_THREADS, &v));
    p->opts.threads = (int)v;
    AB_TRY(one_of(d, e, path, "gnn", "gatv2", "graphconv", &is_a));
    p->cfg.gnn = is_a ? AB_GNN_GATV2 : AB_GNN_GRAPHCONV;
    AB_TRY(ab_yamldoc_int(d, e, path, "hidden", p->cfg.hidden, 1, 4096, &v));
    p->cfg.hidden = (int)v;
    AB_TRY(ab_yamldoc_int(d, e, path, "layers", p->cfg.layers, 1, AB_PRED_MAX_LAYERS, &v));
    p->cfg.layers = (int)v;
    AB_TRY(one_of(d, e, path, "aggr", "mean", "sum", &p->cfg.aggr_mean));
    AB_TRY(one_of(d, e, path, "activ", "relu", "leaky_relu", &is_a));
    p->cfg.gnn_slope = p->cfg.reg_slope = is_a ? 0.0f : 0.01f;
    AB_TRY(ab_yamldoc_int(d, e, path, "norm", p->cfg.norm_ord, 1, 2, &v));
    p->cfg.norm_ord = (int)v;
    AB_TRY(ab_yamldoc_int(d, e, path, "folds", 0, 2, 1000, &v));
    p->folds = (int)v;
    AB_TRY(ab_yamldoc_int(d, e, path, "seeds", 0, 1, 1000, &v));
    p->seeds = (int)v;
    if (p->folds || p->seeds) {
        if (!p->folds) p->folds = 5;
        if (!p->seeds) p->seeds = 1;
    }
    p->name = strdup(name);
    p->target = strdup(target);
    if (!p->name || !p->target) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    return AB_OK;
}

static ab_status load_predictors(struct ab_yamldoc *d, yaml_node_t *root, struct ab_campaign *c)
{
    yaml_node_t *s = ab_yamldoc_get(d, root, "predictors");
    AB_TRY(ab_yamldoc_expect_seq(d, s, "predictors"));
    if (ab_yamldoc_seq_len(s) < 1 || ab_yamldoc_seq_len(s) > AB_CAMPAIGN_MAX_PRED)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: predictors: 1 to %d entries, e.g. "
                          "'- {name: acc, target: acc}'", d->origin, ab_yamldoc_line(s),
                          AB_CAMPAIGN_MAX_PRED);
    for (int i = 0; i < ab_yamldoc_seq_len(s); i++) {
        char path[64];
        snprintf(path, sizeof path, "predictors[%d]", i + 1);
        ab_status rc = load_predictor(d, ab_yamldoc_seq_item(d, s, i), path, c, &c->pred[i]);
        c->n_pred = i + 1; /* destroy frees what the entry holds */
        if (rc) return rc;
    }
    return AB_OK;
}

/* ---- modules: ----------------------------------------------------------------------- */

/* The resolution modules are scored at by default (as `autobuild label`):
 * 224 for OFA, the largest for YAML spaces with resolutions, else none. */
static int default_resolution(const struct ab_space *sp)
{
    if (sp->n_resolutions == 0) return 0;
    if (ab_space_has_resolution(sp, 224)) return 224;
    return sp->resolutions[sp->n_resolutions - 1];
}

static ab_status load_modules(struct ab_yamldoc *d, yaml_node_t *root, struct ab_campaign *c)
{
    static const char *const keys[] = {"k", "select", "resolution", NULL};
    yaml_node_t *s = ab_yamldoc_get(d, root, "modules"), *k;
    const char *select;
    long res;
    AB_TRY(ab_yamldoc_check_keys(d, s, "modules", keys));
    k = ab_yamldoc_get(d, s, "k");
    if (!k)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: modules needs 'k' (the top-K modules "
                          "kept per unit: one K, e.g. k: 5, or one per unit, e.g. k: [5, 5, "
                          "4, 4, 3])", d->origin, ab_yamldoc_line(s));
    if (k->type == YAML_SEQUENCE_NODE) {
        if (ab_yamldoc_seq_len(k) != c->space->n_units)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: modules.k: give one K or one per "
                              "unit (%s has %d units), got %d values", d->origin,
                              ab_yamldoc_line(k), c->space->name, c->space->n_units,
                              ab_yamldoc_seq_len(k));
        c->n_k = ab_yamldoc_seq_len(k);
    } else {
        c->n_k = 1;
    }
    for (int i = 0; i < c->n_k; i++) {
        yaml_node_t *item = k->type == YAML_SEQUENCE_NODE ? ab_yamldoc_seq_item(d, k, i) : k;
        const char *t = ab_yamldoc_text(item);
        char *end;
        long x = t ? strtol(t, &end, 10) : 0;
        if (!t || *end || x < 1 || x > 100000)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: modules.k: expected integers from 1 "
                              "to 100000, got '%s'", d->origin, ab_yamldoc_line(item),
                              t ? t : "a list in a list");
        c->ks[i] = (int)x;
    }
    AB_TRY(ab_yamldoc_str(d, s, "modules", "select", "unconstrained", &select));
    if (strcmp(select, "constrained") && strcmp(select, "unconstrained"))
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: modules.select: expected constrained or "
                          "unconstrained, got '%s'", d->origin,
                          ab_yamldoc_line(ab_yamldoc_get(d, s, "select")), select);
    c->constrained = !strcmp(select, "constrained");
    AB_TRY(ab_yamldoc_int(d, s, "modules", "resolution", default_resolution(c->space), 0, 100000,
                          &res));
    if (c->space->n_resolutions ? !ab_space_has_resolution(c->space, (int)res) : res != 0)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: modules.resolution: %ld is not a "
                          "resolution of space %s", d->origin,
                          ab_yamldoc_line(ab_yamldoc_get(d, s, "resolution")), res,
                          c->space->name);
    c->label_resolution = (int)res;
    return AB_OK;
}

/* ---- search: ---------------------------------------------------------------------- */

/* Every objective must be a metric of the search's evaluators. */
static ab_status check_objectives(struct ab_yamldoc *d, yaml_node_t *s, struct ab_campaign *c,
                                  char **metrics, int n_metrics)
{
    yaml_node_t *os = ab_yamldoc_get(d, s, "objectives");
    for (int i = 0; i < c->n_obj; i++) {
        int found = 0;
        char list[400];
        size_t at = 0;
        list[0] = 0;
        for (int k = 0; k < n_metrics; k++) {
            found |= !strcmp(metrics[k], c->obj[i].metric);
            at += (size_t)snprintf(list + at, at < sizeof list ? sizeof list - at : 0, "%s%s",
                                   k ? ", " : "", metrics[k]);
            if (at >= sizeof list) at = sizeof list - 1;
        }
        if (!found)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.objectives[%d].metric: '%s' is "
                              "produced by no search evaluator (they give: %s)", d->origin,
                              ab_yamldoc_line(ab_yamldoc_seq_item(d, os, i)), i + 1,
                              c->obj[i].metric, list);
    }
    return AB_OK;
}

static ab_status load_search(struct ab_yamldoc *d, yaml_node_t *root, struct ab_campaign *c)
{
    static const char *const keys[] = {"init", "iterations", "per_iteration",
                                       "stage_mutate_prob", "seed", "resolution", "objectives",
                                       "evaluators", "snapshot_interval", "mode", "baselines",
                                       NULL};
    ab_status rc = AB_OK;
    yaml_node_t *s = ab_yamldoc_get(d, root, "search"), *ev;
    char **metrics = NULL;
    int n_metrics = 0;
    long seed, res;
    AB_CALL(ab_yamldoc_check_keys(d, s, "search", keys));
    AB_CALL(ab_yamldoc_int(d, s, "search", "init", 50, 1, 100000000, &c->init));
    AB_CALL(ab_yamldoc_int(d, s, "search", "iterations", 4, 0, 1000000, &c->iterations));
    AB_CALL(ab_yamldoc_int(d, s, "search", "per_iteration", 50, 1, 100000000,
                           &c->per_iteration));
    AB_CALL(ab_yamldoc_double(d, s, "search", "stage_mutate_prob", 0.5, 1e-6, 1,
                              &c->mutate_prob));
    AB_CALL(ab_yamldoc_int(d, s, "search", "seed", (long)c->seed, 0, 0x7fffffffffffffffL,
                           &seed));
    c->search_seed = (uint64_t)seed;
    AB_CALL(ab_yamldoc_double(d, s, "search", "snapshot_interval", 5.0, 0, 86400,
                              &c->snapshot_interval));
    AB_CALL(ab_yamldoc_int(d, s, "search", "resolution", 0, 0, 100000, &res));
    AB_CHECK(res == 0 || ab_space_has_resolution(c->space, (int)res), AB_ERR_INPUT,
             "%s: line %d: search.resolution: %ld is not a resolution of space %s", d->origin,
             ab_yamldoc_line(ab_yamldoc_get(d, s, "resolution")), res, c->space->name);
    c->search_resolution = (int)res;
    {
        int is_sync;
        AB_CALL(one_of(d, s, "search", "mode", "sync", "async", &is_sync));
        c->search_async = !is_sync;
    }
    AB_CALL(ab_search_objectives_parse(d, s, c->obj, &c->n_obj, 1));
    for (int i = 0; i < c->n_obj; i++) {
        int found = 0;
        if (!isnan(c->obj[i].ref)) continue;
        for (int k = 0; k < c->n_data_metrics; k++) found |= !strcmp(c->data_metrics[k], c->obj[i].metric);
        AB_CHECK(found, AB_ERR_INPUT, "%s: line %d: search.objectives[%d].ref: 'auto' takes the "
                 "worst labelled value of '%s', which the data's evaluators do not give; give a "
                 "number", d->origin, ab_yamldoc_line(ab_yamldoc_seq_item(
                     d, ab_yamldoc_get(d, s, "objectives"), i)), i + 1, c->obj[i].metric);
    }
    {
        yaml_node_t *b = ab_yamldoc_get(d, s, "baselines");
        if (b) {
            AB_CALL(ab_yamldoc_expect_seq(d, b, "search.baselines"));
            for (int i = 0; i < ab_yamldoc_seq_len(b); i++) {
                yaml_node_t *it = ab_yamldoc_seq_item(d, b, i);
                const char *t = it && it->type == YAML_SCALAR_NODE ? ab_yamldoc_text(it) : "";
                AB_CHECK(!strcmp(t, "stage_full") || !strcmp(t, "layer_full"), AB_ERR_INPUT,
                         "%s: line %d: search.baselines[%d]: '%.40s' is not a baseline the "
                         "campaign runs: stage_full or layer_full (run layer_insight, which "
                         "needs rules, with 'autobuild search')", d->origin,
                         ab_yamldoc_line(it), i + 1, t);
                for (int k = 0; k < c->n_baselines; k++)
                    AB_CHECK(strcmp(c->baselines[k], t), AB_ERR_INPUT, "%s: line %d: "
                             "search.baselines: '%s' is listed twice", d->origin,
                             ab_yamldoc_line(it), t);
                AB_CHECK(c->n_baselines < AB_CAMPAIGN_MAX_BASELINES, AB_ERR_INPUT,
                         "%s: line %d: search.baselines: at most %d", d->origin,
                         ab_yamldoc_line(it), AB_CAMPAIGN_MAX_BASELINES);
                snprintf(c->baselines[c->n_baselines++], sizeof c->baselines[0], "%s", t);
            }
        }
    }
    if ((ev = ab_yamldoc_get(d, s, "evaluators"))) {
        AB_CALL(load_evaluators(d, ev, "search.evaluators", c, &c->search_run_specs,
                                &c->search_evaluators_id, &metrics, &n_metrics));
        AB_CALL(check_objectives(d, s, c, metrics, n_metrics));
    } else {
        c->search_run_specs = json_deep_copy(c->data_run_specs);
        c->search_evaluators_id = strdup(c->data_evaluators_id);
        AB_CHECK(c->search_run_specs && c->search_evaluators_id, AB_ERR_NOMEM, "out of memory");
        AB_CALL(check_objectives(d, s, c, c->data_metrics, c->n_data_metrics));
    }
cleanup:
    for (int i = 0; i < n_metrics; i++) free(metrics[i]);
    free(metrics);
    return rc;
}

/* ---- the whole file ------------------------------------------------------------ */

ab_status ab_campaign_load(const char *path, struct ab_campaign **out)
{
    char *text = NULL;
    size_t len;
    ab_status rc;
    *out = NULL;
    AB_TRY(ab_fs_read_all(path, 1 << 22, &text, &len));
    rc = ab_campaign_parse(text, len, path, out);
    free(text);
    return rc;
}

ab_status ab_campaign_parse(const char *text, size_t len, const char *path,
                            struct ab_campaign **out)
{
    static const char *const top_keys[] = {"campaign", "data", "predictors", "modules",
                                           "search", NULL};
    ab_status rc = AB_OK;
    struct ab_yamldoc *d = NULL;
    struct ab_campaign *c = calloc(1, sizeof *c);
    char *dir = NULL;
    yaml_node_t *root;
    *out = NULL;
    AB_CHECK_ALLOC(c);
    c->origin = strdup(path);
    dir = strdup(path);
    AB_CHECK(c->origin && dir, AB_ERR_NOMEM, "out of memory");
    c->base_dir = strdup(dirname(dir));
    AB_CHECK_ALLOC(c->base_dir);
    AB_CALL(ab_yamldoc_load(text, len, path, &d));
    root = ab_yamldoc_root(d);
    AB_CALL(ab_yamldoc_check_keys(d, root, "the configuration", top_keys));
    AB_CALL(load_campaign(d, root, c));
    AB_CALL(load_data(d, root, c));
    AB_CALL(load_predictors(d, root, c));
    AB_CALL(load_modules(d, root, c));
    AB_CALL(load_search(d, root, c));
    *out = c;
    c = NULL;
cleanup:
    free(dir);
    ab_yamldoc_destroy(&d);
    ab_campaign_destroy(&c);
    return rc;
}

/* ---- the search stage's configuration ---------------------------------------- */

ab_status ab_campaign_search_yaml(const struct ab_campaign *c, const char *space,
                                  const char *store, const char *variant, const double *refs,
                                  char **out)
{
    ab_status rc = AB_OK;
    char *specs = NULL, *sp = NULL, *st = NULL, *obj = NULL, num[40];
    json_t *js_space = json_string(space), *js_store = json_string(store);
    char *buf = NULL;
    size_t cap;
    *out = NULL;
    AB_CHECK(js_space && js_store, AB_ERR_NOMEM, "out of memory");
    specs = json_dumps(c->search_run_specs, JSON_COMPACT);
    sp = json_dumps(js_space, JSON_ENCODE_ANY);
    st = json_dumps(js_store, JSON_ENCODE_ANY);
    AB_CHECK(specs && sp && st, AB_ERR_NOMEM, "out of memory");
    /* [{"metric": "acc", "goal": "max", "ref": 0.7}, ...], numbers in their
     * shortest exact form */
    obj = malloc((size_t)c->n_obj * 1200 + 3);
    AB_CHECK_ALLOC(obj);
    {
        size_t at = 0;
        obj[at++] = '[';
        for (int i = 0; i < c->n_obj; i++) {
            json_t *m = json_string(c->obj[i].metric);
            char *mt = m ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
            json_decref(m);
            AB_CHECK(mt && strlen(mt) < 1000, AB_ERR_INPUT, "objective %d: the metric name is "
                     "too long", i + 1);
            ab_format_double(refs ? refs[i] : c->obj[i].ref, num, sizeof num);
            at += (size_t)sprintf(obj + at, "%s{\"metric\": %s, \"goal\": \"%s\", \"ref\": %s}",
                                  i ? ", " : "", mt, c->obj[i].maximize ? "max" : "min", num);
            free(mt);
        }
        obj[at++] = ']';
        obj[at] = 0;
    }
    cap = strlen(specs) + strlen(sp) + strlen(st) + strlen(obj) + 2048;
    buf = malloc(cap);
    AB_CHECK_ALLOC(buf);
    ab_format_double(c->mutate_prob, num, sizeof num);
    {
        size_t at = (size_t)snprintf(
            buf, cap,
            "# The search stage of the campaign %s, written by 'autobuild campaign'.\n"
            "# Change the campaign's configuration instead of this file: the campaign\n"
            "# rewrites it. 'autobuild search --config THIS --resume' continues it.\n"
            "search:\n"
            "  space: %s\n"
            "  variant: %s\n"
            "  init: %ld\n"
            "  iterations: %ld\n"
            "  per_iteration: %ld\n"
            "  stage_mutate_prob: %s\n"
            "  seed: %llu\n",
            c->origin, sp, variant, c->init, c->iterations, c->per_iteration, num,
            (unsigned long long)c->search_seed);
        if (c->search_resolution)
            at += (size_t)snprintf(buf + at, cap - at, "  resolution: %d\n", c->search_resolution);
        if (c->search_async) at += (size_t)snprintf(buf + at, cap - at, "  mode: async\n");
        /* the labelling store holds results of the very same evaluators:
         * an architecture the data stage evaluated is not evaluated again */
        if (c->data_evaluators_id && c->search_evaluators_id &&
            !strcmp(c->data_evaluators_id, c->search_evaluators_id))
            at += (size_t)snprintf(buf + at, cap - at, "  cache: [data-labels.h5]\n");
        ab_format_double(c->snapshot_interval, num, sizeof num);
        snprintf(buf + at, cap - at,
                 "  snapshot_interval: %s\n"
                 "  objectives: %s\n"
                 "evaluators: %s\n"
                 "store: %s\n",
                 num, obj, specs, st);
    }
    *out = buf;
    buf = NULL;
cleanup:
    free(buf);
    free(specs);
    free(sp);
    free(st);
    free(obj);
    json_decref(js_space);
    json_decref(js_store);
    return rc;
}
