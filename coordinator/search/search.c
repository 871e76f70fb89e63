/* SPDX-License-Identifier: MIT
 *
 * This file implements search.h: the configuration loader, the four
 * mutation variants, and the synchronous Pareto EA over dispatch and store.
 */
#include "search/search.h"

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluator.h"
#include "search/dispatch.h"
#include "search/pareto.h"
#include "store/store.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/u64map.h"
#include "util/yamldoc.h"

static const char *const variant_names[] = {"stage_full", "layer_full", "layer_insight",
                                            "autobuild_nas"};

/* ---- layer_insight presets (BlockProfile's rules for OFA) ------------------ */

struct preset {
    const char *space, *name;
    const char *drop[4];       /* blocks removed from every stage */
    int max_layers[6];
    double prob[6];
};

static const struct preset presets[] = {
    {"ofa_mbv3", "gpu", {"mbconv3_e3_k3", "mbconv3_e3_k7", "mbconv3_e4_k3"},
     {4, 3, 4, 3, 3}, {.5, .5, .5, .5, .5}},
    {"ofa_mbv3", "cpu", {NULL}, {3, 3, 3, 4, 4}, {.5, .5, .5, .5, .5}},
    {"ofa_mbv3", "npu", {"mbconv3_e3_k7", "mbconv3_e4_k7", "mbconv3_e6_k7"},
     {4, 4, 4, 4, 4}, {.25, .25, .25, .5, .5}},
    {"ofa_mbv3", "note10", {"mbconv3_e3_k7", "mbconv3_e4_k7"}, {3, 4, 4, 4, 4},
     {.5, .5, .5, .5, .5}},
    {"ofa_pn", "npu", {"mbconv3_e3_k7", "mbconv3_e4_k7", "mbconv3_e6_k7"},
     {4, 4, 4, 4, 4, 1}, {.25, .25, .25, .5, .5, .5}},
    {"ofa_pn", "gpu", {"mbconv3_e3_k3", "mbconv3_e3_k7", "mbconv3_e4_k3"},
     {3, 3, 3, 4, 4, 1}, {.5, .5, .5, .5, .5, .5}},
    {"ofa_pn", "cpu", {NULL}, {3, 3, 4, 4, 4, 1}, {.5, .5, .5, .5, .5, .5}},
};

void ab_search_config_destroy(struct ab_search_config **pc)
{
    struct ab_search_config *c = pc ? *pc : NULL;
    if (!c) return;
    free(c->origin);
    free(c->base_dir);
    free(c->space_spec);
    ab_space_destroy(&c->space);
    for (int i = 0; i < c->n_obj; i++) free(c->obj[i].metric);
    json_decref(c->evaluators);
    free(c->store);
    free(c->identity);
    for (int i = 0; i < c->n_cache; i++) free(c->cache[i]);
    free(c->cache);
    free(c);
    *pc = NULL;
}

static ab_status load_insight(struct ab_yamldoc *d, yaml_node_t *s, struct ab_search_config *c)
{
    static const char *const keys[] = {"preset", "blocks", "min_layers", "max_layers",
                                       "stage_mutate_probs", NULL};
    yaml_node_t *in = ab_yamldoc_get(d, s, "insight"), *v;
    const struct ab_space *sp = c->space;
    const char *preset;
    if (!in) {
        if (c->variant == AB_LAYER_INSIGHT)
            return ab_err_set(AB_ERR_INPUT,
                              "%s: line %d: variant layer_insight needs 'insight:' rules, e.g. "
                              "'insight: {preset: npu}' or blocks/max_layers per stage",
                              d->origin, ab_yamldoc_line(s));
        return AB_OK;
    }
    if (c->variant != AB_LAYER_INSIGHT)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: 'insight' applies to variant layer_insight",
                          d->origin, ab_yamldoc_line(in));
    AB_TRY(ab_yamldoc_check_keys(d, in, "search.insight", keys));
    AB_TRY(ab_yamldoc_str(d, in, "search.insight", "preset", NULL, &preset));
    if (preset) {
        const struct preset *p = NULL;
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(presets[i].space, sp->name) && !strcmp(presets[i].name, preset))
                p = &presets[i];
        if (!p)
            return ab_err_set(AB_ERR_INPUT,
                              "%s: line %d: no insight preset '%s' for space %s (ofa_mbv3: gpu, "
                              "cpu, npu, note10; ofa_pn: gpu, cpu, npu)",
                              d->origin, ab_yamldoc_line(in), preset, sp->name);
        for (int s2 = 0; s2 < sp->n_stages; s2++) {
            c->max_layers[s2] = p->max_layers[s2] < c->max_layers[s2] ? p->max_layers[s2]
                                                                      : c->max_layers[s2];
            c->stage_prob[s2] = p->prob[s2];
            for (int k = 0; k < 4 && p->drop[k]; k++) {
                int ch = ab_space_find_choice(sp, s2, p->drop[k]);
                if (ch >= 0) c->allowed[s2][ch] = 0;
            }
        }
    }
    if ((v = ab_yamldoc_get(d, in, "blocks"))) {
        AB_TRY(ab_yamldoc_expect_seq(d, v, "search.insight.blocks"));
        int per_stage = ab_yamldoc_seq_len(v) > 0 &&
                        ab_yamldoc_seq_item(d, v, 0)->type == YAML_SEQUENCE_NODE;
        if (per_stage && ab_yamldoc_seq_len(v) != sp->n_stages)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.blocks: %d lists for %d "
                              "stages",
                              d->origin, ab_yamldoc_line(v), ab_yamldoc_seq_len(v), sp->n_stages);
        for (int s2 = 0; s2 < sp->n_stages; s2++) {
            yaml_node_t *lst = per_stage ? ab_yamldoc_seq_item(d, v, s2) : v;
            memset(c->allowed[s2], 0, sizeof c->allowed[s2]);
            for (int i = 0; i < ab_yamldoc_seq_len(lst); i++) {
                yaml_node_t *b = ab_yamldoc_seq_item(d, lst, i);
                const char *name = ab_yamldoc_text(b);
                int ch = name ? ab_space_find_choice(sp, s2, name) : -1;
                if (ch < 0)
                    return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.blocks: '%s' is "
                                      "not a block of stage %d of %s",
                                      d->origin, ab_yamldoc_line(b), name ? name : "?", s2 + 1,
                                      sp->name);
                c->allowed[s2][ch] = 1;
            }
        }
    }
    for (int which = 0; which < 3; which++) {
        const char *key = which == 0 ? "min_layers" : which == 1 ? "max_layers"
                                                                 : "stage_mutate_probs";
        if (!(v = ab_yamldoc_get(d, in, key))) continue;
        AB_TRY(ab_yamldoc_expect_seq(d, v, key));
        if (ab_yamldoc_seq_len(v) != sp->n_stages)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.%s needs %d values (one "
                              "per stage)",
                              d->origin, ab_yamldoc_line(v), key, sp->n_stages);
        for (int s2 = 0; s2 < sp->n_stages; s2++) {
            const char *t = ab_yamldoc_text(ab_yamldoc_seq_item(d, v, s2));
            char *end;
            double x = t ? strtod(t, &end) : NAN;
            if (!t || *end || !isfinite(x))
                return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.%s: expected "
                                  "numbers", d->origin, ab_yamldoc_line(v), key);
            if (which == 2) {
                if (x < 0 || x > 1)
                    return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.%s: "
                                      "probabilities are from 0 to 1", d->origin,
                                      ab_yamldoc_line(v), key);
                c->stage_prob[s2] = x;
            } else {
                const struct ab_stage *st = &sp->stages[s2];
                if (x != floor(x) || x < st->min_layers || x > st->max_layers)
                    return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight.%s: stage %d "
                                      "allows %d to %d layers", d->origin, ab_yamldoc_line(v),
                                      key, s2 + 1, st->min_layers, st->max_layers);
                (which == 0 ? c->min_layers : c->max_layers)[s2] = (int)x;
            }
        }
    }
    for (int s2 = 0; s2 < sp->n_stages; s2++) {
        int any = 0;
        for (int ch = 0; ch < sp->stages[s2].n_choices; ch++) any |= c->allowed[s2][ch];
        if (!any || c->min_layers[s2] > c->max_layers[s2])
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.insight leaves stage %d no "
                              "architecture (no block allowed, or min_layers > max_layers)",
                              d->origin, ab_yamldoc_line(in), s2 + 1);
    }
    return AB_OK;
}

ab_status ab_search_objectives_parse(struct ab_yamldoc *d, yaml_node_t *s,
                                     struct ab_objective *obj, int *n_obj, int allow_auto)
{
    static const char *const keys[] = {"metric", "goal", "ref", NULL};
    yaml_node_t *os = ab_yamldoc_get(d, s, "objectives");
    AB_TRY(ab_yamldoc_expect_seq(d, os, "search.objectives"));
    if (ab_yamldoc_seq_len(os) < 1 || ab_yamldoc_seq_len(os) > AB_SEARCH_MAX_OBJ)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.objectives: 1 to %d objectives",
                          d->origin, ab_yamldoc_line(os), AB_SEARCH_MAX_OBJ);
    for (int i = 0; i < ab_yamldoc_seq_len(os); i++) {
        yaml_node_t *o = ab_yamldoc_seq_item(d, os, i);
        char path[64];
        const char *metric, *goal;
        snprintf(path, sizeof path, "search.objectives[%d]", i + 1);
        AB_TRY(ab_yamldoc_check_keys(d, o, path, keys));
        AB_TRY(ab_yamldoc_str_required(d, o, path, "metric", &metric));
        AB_TRY(ab_yamldoc_str_required(d, o, path, "goal", &goal));
        if (strcmp(goal, "max") && strcmp(goal, "min"))
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.goal must be max or min, got '%s'",
                              d->origin, ab_yamldoc_line(o), path, goal);
        for (int k = 0; k < *n_obj; k++)
            if (!strcmp(obj[k].metric, metric))
                return ab_err_set(AB_ERR_INPUT, "%s: line %d: objective '%s' is listed twice",
                                  d->origin, ab_yamldoc_line(o), metric);
        if (!ab_yamldoc_get(d, o, "ref"))
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s needs 'ref' (the hypervolume "
                              "reference point's coordinate: a value worse than any you care "
                              "about)", d->origin, ab_yamldoc_line(o), path);
        obj[*n_obj].metric = strdup(metric);
        if (!obj[*n_obj].metric) return ab_err_set(AB_ERR_NOMEM, "out of memory");
        obj[*n_obj].maximize = !strcmp(goal, "max");
        (*n_obj)++;
        {
            yaml_node_t *r = ab_yamldoc_get(d, o, "ref");
            if (r->type == YAML_SCALAR_NODE &&
                !strcmp((const char *)r->data.scalar.value, "auto")) {
                if (!allow_auto)
                    return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.ref: 'auto' is for "
                                      "campaigns (which take it from their labelled data); "
                                      "give a number", d->origin, ab_yamldoc_line(r), path);
                obj[*n_obj - 1].ref = NAN;
                continue;
            }
        }
        AB_TRY(ab_yamldoc_double(d, o, path, "ref", 0, -1e300, 1e300, &obj[*n_obj - 1].ref));
    }
    return AB_OK;
}

/* A path named in the configuration: absolute as it is, else relative to
 * the configuration's folder. */
static char *resolve(const struct ab_search_config *c, const char *p)
{
    return ab_fs_resolve(c->base_dir, p);
}

/* search.cache: a store path or a list of them (relative to the file). */
static ab_status load_cache(struct ab_yamldoc *d, yaml_node_t *s, struct ab_search_config *c)
{
    yaml_node_t *v = ab_yamldoc_get(d, s, "cache");
    int n;
    if (!v) return AB_OK;
    n = v->type == YAML_SEQUENCE_NODE ? ab_yamldoc_seq_len(v) : 1;
    c->cache = calloc((size_t)n + 1, sizeof *c->cache);
    if (!c->cache) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = v->type == YAML_SEQUENCE_NODE ? ab_yamldoc_seq_item(d, v, i) : v;
        const char *t = item && item->type == YAML_SCALAR_NODE ? ab_yamldoc_text(item) : NULL;
        if (!t || !*t)
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: search.cache: expected a store path or "
                              "a list of them",
                              d->origin, ab_yamldoc_line(item ? item : v));
        c->cache[i] = resolve(c, t);
        if (!c->cache[i]) return ab_err_set(AB_ERR_NOMEM, "out of memory");
        c->n_cache = i + 1;
    }
    return AB_OK;
}

static ab_status make_identity(struct ab_search_config *c, struct ab_yamldoc *d,
                               yaml_node_t *search)
{
    ab_status rc = AB_OK;
    json_t *id = json_object(), *objs = json_array();
    char *s = NULL;
    AB_CHECK(id && objs, AB_ERR_NOMEM, "out of memory");
    json_object_set_new(id, "space", json_string(c->space->name));
    json_object_set_new(id, "space_definition", json_string(c->space->definition));
    if (c->space->reduced) {
        /* the allowed subsets define the reduced space */
        uint64_t h = 1469598103934665603ULL;
        for (int u = 0; u < c->space->n_units; u++)
            for (uint64_t i = 0; i < c->space->allowed[u].n; i++) {
                h ^= c->space->allowed[u].index[i] + (uint64_t)u * 0x9e3779b97f4a7c15ULL;
                h *= 1099511628211ULL;
            }
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
        json_object_set_new(id, "reduced_subsets", json_string(hex));
    }
    json_object_set_new(id, "variant", json_string(variant_names[c->variant]));
    /* Stage-Full's whole-space sampler (set_random_unit) changed: a store
     * written with the old one cannot be replayed by this one, so the two
     * must not take each other for the same search */
    if (c->variant == AB_STAGE_FULL && !c->space->reduced && !c->space->unet)
        json_object_set_new(id, "stage_sampler", json_string("depth-uniform"));
    if (c->async) json_object_set_new(id, "mode", json_string("async"));
    json_object_set_new(id, "init", json_integer(c->init));
    json_object_set_new(id, "iterations", json_integer(c->iterations));
    json_object_set_new(id, "per_iteration", json_integer(c->per_iteration));
    json_object_set_new(id, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(id, "resolution", json_integer(c->resolution));
    s = ab_yamldoc_to_json(d, search);
    AB_CHECK_ALLOC(s);
    json_object_set_new(id, "search", json_string(s));
    for (int i = 0; i < c->n_obj; i++)
        json_array_append_new(objs, json_pack("{s:s,s:b}", "metric", c->obj[i].metric, "max",
                                              c->obj[i].maximize));
    json_object_set_new(id, "objectives", objs);
    objs = NULL;
    json_object_set(id, "evaluators", c->evaluators);
    c->identity = json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS);
    AB_CHECK_ALLOC(c->identity);
cleanup:
    free(s);
    json_decref(objs);
    json_decref(id);
    return rc;
}

ab_status ab_search_config_load(const char *path, struct ab_search_config **out)
{
    char *text = NULL;
    size_t len;
    *out = NULL;
    AB_TRY(ab_fs_read_all(path, 1 << 22, &text, &len));
    ab_status rc = ab_search_config_parse(text, len, path, out);
    free(text);
    return rc;
}

ab_status ab_search_config_parse(const char *text, size_t len, const char *path,
                                 struct ab_search_config **out)
{
    static const char *const top_keys[] = {"search", "evaluators", "store", NULL};
    static const char *const search_keys[] = {
        "space", "variant", "init", "iterations", "per_iteration", "stage_mutate_prob", "seed",
        "objectives", "resolution", "insight", "snapshot_interval", "mode", "cache", NULL};
    ab_status rc = AB_OK;
    char *dir = NULL, *evj = NULL;
    struct ab_yamldoc *d = NULL;
    struct ab_search_config *c = calloc(1, sizeof *c);
    yaml_node_t *root, *s, *ev;
    const char *space, *variant, *store, *mode;
    long seed, res;
    json_error_t jerr;
    *out = NULL;
    AB_CHECK_ALLOC(c);
    AB_CALL(ab_yamldoc_load(text, len, path, &d));
    c->origin = strdup(path);
    dir = strdup(path);
    AB_CHECK(c->origin && dir, AB_ERR_NOMEM, "out of memory");
    c->base_dir = strdup(dirname(dir));
    AB_CHECK_ALLOC(c->base_dir);
    root = ab_yamldoc_root(d);
    AB_CALL(ab_yamldoc_check_keys(d, root, "the configuration", top_keys));
    s = ab_yamldoc_get(d, root, "search");
    AB_CALL(ab_yamldoc_check_keys(d, s, "search", search_keys));
    AB_CALL(ab_yamldoc_str_required(d, s, "search", "space", &space));
    c->space_spec = strdup(space);
    AB_CHECK_ALLOC(c->space_spec);
    {
        char *sp_path = resolve(c, space);
        AB_CHECK_ALLOC(sp_path);
        rc = ab_space_open(ab_fs_exists(sp_path) ? sp_path : space, &c->space);
        free(sp_path);
        if (rc) {
            ab_err_prefix("%s: search.space", path);
            goto cleanup;
        }
    }
    AB_CALL(ab_yamldoc_str(d, s, "search", "variant", "stage_full", &variant));
    c->variant = (enum ab_variant)-1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(variant, variant_names[i])) c->variant = (enum ab_variant)i;
    AB_CHECK((int)c->variant >= 0, AB_ERR_INPUT,
             "%s: line %d: search.variant: unknown '%s' (stage_full, layer_full, layer_insight, "
             "autobuild_nas)",
             path, ab_yamldoc_line(ab_yamldoc_get(d, s, "variant")), variant);
    AB_CHECK(c->variant != AB_AUTOBUILD_NAS || c->space->reduced, AB_ERR_INPUT,
             "%s: search.variant autobuild_nas searches a reduced space: set search.space to a "
             "file from 'autobuild reduce'",
             path);
    AB_CALL(ab_yamldoc_str(d, s, "search", "mode", "sync", &mode));
    AB_CHECK(!strcmp(mode, "sync") || !strcmp(mode, "async"), AB_ERR_INPUT,
             "%s: line %d: search.mode: unknown '%s' (sync: iterations of per_iteration "
             "children, deterministic for any number of workers; async: steady state, a new "
             "child for every finished evaluation)",
             path, ab_yamldoc_line(ab_yamldoc_get(d, s, "mode")), mode);
    c->async = !strcmp(mode, "async");
    AB_CALL(ab_yamldoc_int(d, s, "search", "init", 50, 1, 100000000, &c->init));
    AB_CALL(ab_yamldoc_int(d, s, "search", "iterations", 4, 0, 1000000, &c->iterations));
    AB_CALL(ab_yamldoc_int(d, s, "search", "per_iteration", 50, 1, 100000000, &c->per_iteration));
    AB_CALL(ab_yamldoc_double(d, s, "search", "stage_mutate_prob", 0.5, 1e-6, 1,
                              &c->mutate_prob));
    AB_CALL(ab_yamldoc_int(d, s, "search", "seed", 1, 0, 0x7fffffffffffffffL, &seed));
    c->seed = (uint64_t)seed;
    AB_CALL(ab_yamldoc_double(d, s, "search", "snapshot_interval", 5.0, 0, 86400,
                              &c->snapshot_interval));
    res = c->space->n_resolutions ? (ab_space_has_resolution(c->space, 224)
                                         ? 224
                                         : c->space->resolutions[c->space->n_resolutions - 1])
                                  : 0;
    AB_CALL(ab_yamldoc_int(d, s, "search", "resolution", res, 0, 100000, &res));
    AB_CHECK(c->space->n_resolutions ? ab_space_has_resolution(c->space, (int)res) : res == 0,
             AB_ERR_INPUT, "%s: search.resolution %ld is not a resolution of space %s", path,
             res, c->space->name);
    c->resolution = (int)res;
    for (int st = 0; st < c->space->n_stages; st++) {
        c->stage_prob[st] = c->mutate_prob;
        c->min_layers[st] = c->space->stages[st].min_layers;
        c->max_layers[st] = c->space->stages[st].max_layers;
        for (int ch = 0; ch < c->space->stages[st].n_choices; ch++) c->allowed[st][ch] = 1;
    }
    AB_CALL(load_insight(d, s, c));
    AB_CALL(ab_search_objectives_parse(d, s, c->obj, &c->n_obj, 0));
    AB_CALL(load_cache(d, s, c));
    ev = ab_yamldoc_get(d, root, "evaluators");
    AB_CALL(ab_yamldoc_expect_seq(d, ev, "evaluators"));
    evj = ab_yamldoc_to_json(d, ev);
    AB_CHECK_ALLOC(evj);
    c->evaluators = json_loads(evj, 0, &jerr);
    AB_CHECK(c->evaluators, AB_ERR_INTERNAL, "evaluators: %s", jerr.text);
    AB_CALL(ab_yamldoc_str_required(d, root, "the configuration", "store", &store));
    c->store = resolve(c, store);
    AB_CHECK_ALLOC(c->store);
    AB_CALL(make_identity(c, d, s));
    *out = c;
    c = NULL;
cleanup:
    free(dir);
    free(evj);
    ab_yamldoc_destroy(&d);
    ab_search_config_destroy(&c);
    return rc;
}

/* ---- candidates and mutation ------------------------------------------------ */

struct cand {
    struct ab_arch arch;
    uint64_t hash;
    char *json;
    int status;       /* -1 pending */
    double *metrics;  /* chain metrics */
};

struct ea {
    struct ab_search_config *cfg;
    const struct ab_space *sp;
    struct ab_rng rng;
    struct ab_u64map seen;   /* hash -> seq */
    struct cand *c;
    long n, cap;
    long *front;
    long n_front;
    int n_metrics;
    int obj_col[AB_SEARCH_MAX_OBJ];
};

static int stage_variant(const struct ab_search_config *c)
{
    return c->variant == AB_STAGE_FULL || c->variant == AB_AUTOBUILD_NAS;
}

static int valid(const struct ea *e, const struct ab_arch *a)
{
    if (ab_arch_validate(e->sp, a) != AB_OK) return 0;
    if (e->sp->unet && ab_arch_check_constraints(e->sp, a) != AB_OK) return 0;
    if (e->cfg->variant == AB_LAYER_INSIGHT)
        for (int s = 0; s < e->sp->n_stages; s++) {
            if (a->depth[s] < e->cfg->min_layers[s] || a->depth[s] > e->cfg->max_layers[s])
                return 0;
            for (int l = 0; l < a->depth[s]; l++)
                if (!e->cfg->allowed[s][a->choice[s][l]]) return 0;
        }
    return 1;
}

static int random_block(struct ea *e, int s)
{
    const struct ab_stage *st = &e->sp->stages[s];
    int ok[AB_MAX_CHOICES], n = 0;
    for (int ch = 0; ch < st->n_choices; ch++)
        if (e->cfg->allowed[s][ch]) ok[n++] = ch;
    return ok[ab_rng_below(&e->rng, (uint64_t)n)];
}

/* A random subgraph of unit u. In a reduced space: uniform over the
 * subgraphs it keeps. In a whole space (not sd_unet): OFA's sampler per stage
 * of the unit (depth uniform, then every block uniform), as BlockProfile's
 * EA samples; a uniform draw over the unit's subgraphs would give 4-layer
 * stages 89% of the time (6561 of 7371) and start Stage-Full among the
 * deepest, slowest architectures. */
static void set_random_unit(struct ea *e, struct ab_arch *a, int u)
{
    if (!e->sp->reduced && !e->sp->unet) {
        const struct ab_unit *un = &e->sp->units[u];
        for (int s = un->first; s < un->first + un->n_stages; s++) {
            const struct ab_stage *st = &e->sp->stages[s];
            int span = st->max_layers - st->min_layers + 1;
            a->depth[s] = (uint8_t)(st->min_layers + (int)ab_rng_below(&e->rng, (uint64_t)span));
            for (int l = 0; l < AB_MAX_LAYERS; l++)
                a->choice[s][l] = l < a->depth[s] ? (uint8_t)random_block(e, s) : 0;
        }
        return;
    }
    struct ab_subgraph g;
    uint64_t n = ab_space_unit_count(e->sp, u);
    uint64_t i = ab_rng_below(&e->rng, n);
    if (e->sp->reduced) i = e->sp->allowed[u].index[i];
    if (ab_space_unit_subgraph(e->sp, u, i, &g) == AB_OK) ab_arch_set_unit(e->sp, a, &g);
}

static void sample(struct ea *e, struct ab_arch *a)
{
    memset(a, 0, sizeof *a);
    if (e->sp->unet) {
        ab_arch_sample(e->sp, &e->rng, NULL, 0, a);
    } else if (stage_variant(e->cfg)) {
        for (int u = 0; u < e->sp->n_units; u++) set_random_unit(e, a, u);
    } else {
        for (int s = 0; s < e->sp->n_stages; s++) {
            int span = e->cfg->max_layers[s] - e->cfg->min_layers[s] + 1;
            a->depth[s] = (uint8_t)(e->cfg->min_layers[s] + (int)ab_rng_below(&e->rng, (uint64_t)span));
            for (int l = 0; l < a->depth[s]; l++) a->choice[s][l] = (uint8_t)random_block(e, s);
        }
    }
    a->resolution = e->cfg->resolution;
}

/* Picks each of n positions with its probability, at least one. */
static int pick_positions(struct ea *e, int n, const double *p, int *picked)
{
    double any = 0;
    for (int i = 0; i < n; i++) any += p[i];
    if (any <= 0) return 0;
    for (;;) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            picked[i] = ab_rng_uniform(&e->rng) < p[i];
            k += picked[i];
        }
        if (k) return k;
    }
}

static void mutate(struct ea *e, const struct ab_arch *parent, struct ab_arch *child)
{
    int picked[AB_MAX_STAGES];
    *child = *parent;
    if (e->sp->unet || stage_variant(e->cfg)) {
        double p[AB_MAX_STAGES];
        for (int u = 0; u < e->sp->n_units; u++) p[u] = e->cfg->stage_prob[e->sp->units[u].first];
        pick_positions(e, e->sp->n_units, p, picked);
        for (int u = 0; u < e->sp->n_units; u++)
            if (picked[u]) set_random_unit(e, child, u);
        return;
    }
    pick_positions(e, e->sp->n_stages, e->cfg->stage_prob, picked);
    for (int s = 0; s < e->sp->n_stages; s++) {
        int d = child->depth[s], ops[3], n = 0, op, pos;
        if (!picked[s]) continue;
        if (d < e->cfg->max_layers[s]) ops[n++] = 0; /* add */
        if (d > e->cfg->min_layers[s]) ops[n++] = 1; /* remove */
        ops[n++] = 2;                                /* swap */
        op = ops[ab_rng_below(&e->rng, (uint64_t)n)];
        if (op == 0) {
            pos = (int)ab_rng_below(&e->rng, (uint64_t)d + 1);
            memmove(&child->choice[s][pos + 1], &child->choice[s][pos], (size_t)(d - pos));
            child->choice[s][pos] = (uint8_t)random_block(e, s);
            child->depth[s]++;
        } else if (op == 1) {
            pos = (int)ab_rng_below(&e->rng, (uint64_t)d);
            memmove(&child->choice[s][pos], &child->choice[s][pos + 1], (size_t)(d - pos - 1));
            child->choice[s][d - 1] = 0;
            child->depth[s]--;
        } else {
            int old, nb, tries = 0;
            pos = (int)ab_rng_below(&e->rng, (uint64_t)d);
            old = child->choice[s][pos];
            do nb = random_block(e, s);
            while (nb == old && ++tries < 64);
            child->choice[s][pos] = (uint8_t)nb;
        }
    }
}

static ab_status add_cand(struct ea *e, const struct ab_arch *a, uint64_t h)
{
    ab_status rc = AB_OK;
    struct cand *c = NULL;
    if (e->n == e->cap) {
        long cap = e->cap ? e->cap * 2 : 256;
        struct cand *v = realloc(e->c, sizeof *v * (size_t)cap);
        AB_CHECK_ALLOC(v);
        e->c = v;
        e->cap = cap;
    }
    c = &e->c[e->n];
    memset(c, 0, sizeof *c);
    c->arch = *a;
    c->hash = h;
    c->status = -1;
    c->json = ab_arch_to_json(e->sp, a);
    c->metrics = malloc(sizeof *c->metrics * (size_t)(e->n_metrics ? e->n_metrics : 1));
    AB_CHECK(c->json && c->metrics, AB_ERR_NOMEM, "out of memory");
    AB_CHECK(ab_u64map_put(&e->seen, h, e->n, NULL) >= 0, AB_ERR_NOMEM, "out of memory");
    e->n++;
cleanup:
    if (rc && c) {
        free(c->json);
        free(c->metrics);
    }
    return rc;
}

/* Tries to add an unseen architecture; 1 if added. */
static int try_add(struct ea *e, const struct ab_arch *a, ab_status *rc)
{
    uint64_t h;
    int64_t v;
    if (!valid(e, a)) return 0;
    h = ab_arch_hash(e->sp, a);
    if (ab_u64map_get(&e->seen, h, &v)) return 0;
    *rc = add_cand(e, a, h);
    return *rc == AB_OK;
}

static ab_status top_up_random(struct ea *e, long want)
{
    ab_status rc = AB_OK;
    long misses = 0;
    while (e->n < want) {
        struct ab_arch a;
        sample(e, &a);
        if (try_add(e, &a, &rc)) {
            misses = 0;
        } else {
            AB_CALL(rc);
            AB_CHECK(++misses < 1000000, AB_ERR_INPUT,
                     "%s: the space has no unseen architecture left after %ld candidates; lower "
                     "the budget (init + iterations x per_iteration)",
                     e->cfg->origin, e->n);
        }
    }
cleanup:
    return rc;
}

static ab_status make_children(struct ea *e, long want_total)
{
    ab_status rc = AB_OK;
    long first = e->n, need = want_total - e->n;
    int stalled = 0;
    while (e->n - first < need && !stalled && e->n_front > 0) {
        long before = e->n;
        for (long f = 0; f < e->n_front; f++) {
            const struct ab_arch *parent = &e->c[e->front[f]].arch;
            for (int attempt = 0; attempt <= 100; attempt++) {
                struct ab_arch child;
                mutate(e, parent, &child);
                child.resolution = e->cfg->resolution;
                if (try_add(e, &child, &rc)) break;
                AB_CALL(rc);
            }
        }
        stalled = e->n == before;
    }
    /* shuffle this iteration's children and keep `need` */
    for (long i = e->n - 1; i > first; i--) {
        long j = first + (long)ab_rng_below(&e->rng, (uint64_t)(i - first + 1));
        struct cand t = e->c[i];
        e->c[i] = e->c[j];
        e->c[j] = t;
    }
    while (e->n > want_total) {
        struct cand *c = &e->c[--e->n];
        /* forget it: it may be proposed again later */
        free(c->json);
        free(c->metrics);
    }
    /* rebuild the seen map's indices for the reordered block */
    ab_u64map_free(&e->seen);
    AB_CALL(ab_u64map_init(&e->seen, (uint64_t)e->n * 2 + 16));
    for (long i = 0; i < e->n; i++)
        AB_CHECK(ab_u64map_put(&e->seen, e->c[i].hash, i, NULL) >= 0, AB_ERR_NOMEM,
                 "out of memory");
    if (e->n < want_total) {
        if (e->n_front > 0)
            ab_log(AB_LOG_DEBUG, "mutation found %ld of %ld children; topping up at random",
                   e->n - first, need);
        AB_CALL(top_up_random(e, want_total));
    }
cleanup:
    return rc;
}

/* Objective vector of candidate i in minimisation form. */
static void point(const struct ea *e, long i, double *p)
{
    for (int k = 0; k < e->cfg->n_obj; k++) {
        double v = e->c[i].metrics[e->obj_col[k]];
        p[k] = e->cfg->obj[k].maximize ? -v : v;
    }
}

static ab_status update_front(struct ea *e, double *hv)
{
    ab_status rc = AB_OK;
    int m = e->cfg->n_obj;
    long n = 0;
    long *idx = malloc(sizeof *idx * (size_t)(e->n + 1));
    double *pts = malloc(sizeof *pts * (size_t)(e->n + 1) * (size_t)m), ref[AB_SEARCH_MAX_OBJ];
    size_t *fi = malloc(sizeof *fi * (size_t)(e->n + 1));
    AB_CHECK(idx && pts && fi, AB_ERR_NOMEM, "out of memory");
    for (long i = 0; i < e->n; i++) {
        int ok = e->c[i].status == AB_EVAL_OK;
        for (int k = 0; ok && k < m; k++) ok = isfinite(e->c[i].metrics[e->obj_col[k]]);
        if (!ok) continue;
        idx[n] = i;
        point(e, i, pts + (size_t)n * (size_t)m);
        n++;
    }
    size_t nf = ab_pareto_front(pts, (size_t)n, m, fi);
    /* equal metric vectors: keep the earliest candidate */
    long kept = 0;
    free(e->front);
    e->front = malloc(sizeof *e->front * (nf ? nf : 1));
    AB_CHECK_ALLOC(e->front);
    for (size_t a = 0; a < nf; a++) {
        int dup = 0;
        for (size_t b = 0; b < a && !dup; b++) {
            dup = 1;
            for (int k = 0; k < m && dup; k++)
                dup = pts[fi[a] * (size_t)m + (size_t)k] == pts[fi[b] * (size_t)m + (size_t)k];
        }
        if (!dup) e->front[kept++] = idx[fi[a]];
    }
    e->n_front = kept;
    for (int k = 0; k < m; k++) ref[k] = e->cfg->obj[k].maximize ? -e->cfg->obj[k].ref : e->cfg->obj[k].ref;
    {
        double *fp = malloc(sizeof *fp * (size_t)(kept + 1) * (size_t)m);
        AB_CHECK_ALLOC(fp);
        for (long i = 0; i < kept; i++) point(e, e->front[i], fp + (size_t)i * (size_t)m);
        *hv = ab_pareto_hypervolume(fp, (size_t)kept, m, ref);
        free(fp);
        if (*hv < 0) {
            rc = ab_err_status();
            goto cleanup;
        }
    }
cleanup:
    free(idx);
    free(pts);
    free(fi);
    return rc;
}

/* ---- evaluation through the store ------------------------------------------- */

/* A store of earlier evaluations (search.cache) and where our metrics sit
 * among its columns. */
struct cache_src {
    struct ab_store *st;
    int col[64];   /* the dispatcher carries at most 64 metrics */
};

struct run_ctx {
    struct ea *e;
    struct ab_store *st;
    struct ab_eval_chain *chain;
    struct cache_src *cache;
    int n_cache;
    long cached;
    long *pending;     /* batch index -> candidate */
    int iteration;
    long done, failed, budget, fresh;
    double t_start, last_progress, hv;
    const struct ab_search_config *cfg;
};

static ab_status on_done(void *vctx, const struct ab_dispatch_done *d)
{
    struct run_ctx *r = vctx;
    long ci = r->pending ? r->pending[d->index] : d->index;
    struct cand *c = &r->e->c[ci];
    struct ab_store_eval rec = {
        .seq = ci, .iteration = r->iteration, .hash = c->hash,
        .arch = c->json, .status = d->status, .rank = d->rank, .host = (char *)d->host,
        .evaluator = r->chain->names, .t_start = d->t_start, .t_end = d->t_end,
        .metrics = (double *)d->metrics, .error = (char *)(d->status ? d->error : "")};
    c->status = d->status;
    memcpy(c->metrics, d->metrics, sizeof(double) * (size_t)r->e->n_metrics);
    r->done++;
    r->fresh++;
    if (d->status) r->failed++;
    AB_TRY(ab_store_add(r->st, &rec));
    if (ab_store_now() - r->st->last_sync > 0.2) AB_TRY(ab_store_sync(r->st, 0));
    AB_TRY(ab_store_maybe_snapshot(r->st, r->cfg->snapshot_interval));
    if (ab_store_now() - r->last_progress > 2.0) {
        double el = ab_store_now() - r->t_start, rate = r->fresh / (el > 1e-9 ? el : 1e-9);
        ab_log(AB_LOG_INFO, "search: %ld/%ld evaluations, %.1f/s, ETA %.0f s, front %ld, "
               "hypervolume %.6g",
               r->done, r->budget, rate, rate > 0 ? (r->budget - r->done) / rate : 0.0,
               r->e->n_front, r->hv);
        r->last_progress = ab_store_now();
    }
    return AB_OK;
}

/* Opens the search.cache stores read-only: each must record every metric of
 * the chain, made by evaluators of the same names. */
static ab_status open_caches(struct run_ctx *r)
{
    const struct ab_search_config *cfg = r->cfg;
    const struct ab_eval_chain *ch = r->chain;
    if (!cfg->n_cache) return AB_OK;
    if (ch->n_metrics > 64) return ab_err_set(AB_ERR_INPUT, "search.cache: at most 64 metrics");
    r->cache = calloc((size_t)cfg->n_cache, sizeof *r->cache);
    if (!r->cache) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < cfg->n_cache; k++) {
        struct cache_src *cs = &r->cache[k];
        if (ab_store_read(cfg->cache[k], &cs->st) != AB_OK)
            return ab_err_prefix("%s: search.cache", cfg->origin);
        r->n_cache = k + 1;
        for (int m = 0; m < ch->n_metrics; m++) {
            cs->col[m] = -1;
            for (int q = 0; q < cs->st->n_metrics; q++)
                if (!strcmp(cs->st->metrics[q], ch->metrics[m])) cs->col[m] = q;
            if (cs->col[m] < 0)
                return ab_err_set(AB_ERR_INPUT, "%s: search.cache: %s records no metric '%s'; "
                                  "reuse only a store made by the same evaluators",
                                  cfg->origin, cfg->cache[k], ch->metrics[m]);
        }
        if (cs->st->n > 0 && strcmp(cs->st->ev[0].evaluator, ch->names))
            return ab_err_set(AB_ERR_INPUT, "%s: search.cache: %s was evaluated by '%s', this "
                              "search evaluates with '%s'; reuse only a store made by the same "
                              "evaluators",
                              cfg->origin, cfg->cache[k], cs->st->ev[0].evaluator, ch->names);
        ab_log(AB_LOG_INFO, "reusing %ld evaluations of %s", cs->st->n, cfg->cache[k]);
    }
    return AB_OK;
}

static void close_caches(struct run_ctx *r)
{
    for (int k = 0; k < r->n_cache; k++) ab_store_close(&r->cache[k].st);
    free(r->cache);
    r->cache = NULL;
    r->n_cache = 0;
}

/* Takes candidate ci's result from a cache store when one recorded the same
 * architecture, and records it in this search's store (*hit = 1). */
static ab_status take_cached(struct run_ctx *r, long ci, int *hit)
{
    struct cand *c = &r->e->c[ci];
    *hit = 0;
    for (int k = 0; k < r->n_cache; k++) {
        long at = ab_store_find(r->cache[k].st, c->hash);
        const struct ab_store_eval *se;
        if (at < 0) continue;
        se = &r->cache[k].st->ev[at];
        if (strcmp(se->arch, c->json)) continue; /* a hash collision, not this one */
        for (int m = 0; m < r->e->n_metrics; m++) c->metrics[m] = se->metrics[r->cache[k].col[m]];
        c->status = se->status;
        struct ab_store_eval rec = {
            .seq = ci, .iteration = r->iteration, .hash = c->hash, .arch = c->json,
            .status = se->status, .rank = se->rank, .host = se->host,
            .evaluator = se->evaluator, .t_start = se->t_start, .t_end = se->t_end,
            .metrics = c->metrics, .error = se->error};
        AB_TRY(ab_store_add(r->st, &rec));
        r->done++;
        r->cached++;
        if (se->status) r->failed++;
        *hit = 1;
        return AB_OK;
    }
    return AB_OK;
}

/* Evaluates candidates [from, e->n): recorded ones come from the store. */
static ab_status evaluate_block(struct run_ctx *r, struct ab_dispatch *disp, long from,
                                int *interrupted)
{
    ab_status rc = AB_OK;
    struct ea *e = r->e;
    long n = e->n - from, k = 0;
    struct ab_arch *archs = malloc(sizeof *archs * (size_t)(n + 1));
    char **json = malloc(sizeof *json * (size_t)(n + 1));
    r->pending = malloc(sizeof *r->pending * (size_t)(n + 1));
    AB_CHECK(archs && json && r->pending, AB_ERR_NOMEM, "out of memory");
    for (long i = from; i < e->n; i++) {
        long at = ab_store_find(r->st, e->c[i].hash);
        if (at >= 0) {
            const struct ab_store_eval *se = &r->st->ev[at];
            e->c[i].status = se->status;
            memcpy(e->c[i].metrics, se->metrics, sizeof(double) * (size_t)e->n_metrics);
            r->done++;
            if (se->status) r->failed++;
            continue;
        }
        {
            int hit;
            AB_CALL(take_cached(r, i, &hit));
            if (hit) continue;
        }
        archs[k] = e->c[i].arch;
        json[k] = e->c[i].json;
        r->pending[k++] = i;
    }
    if (k > 0) AB_CALL(ab_dispatch_run(disp, archs, json, (int)k, on_done, r, interrupted));
cleanup:
    free(archs);
    free(json);
    free(r->pending);
    r->pending = NULL;
    return rc;
}

/* ---- asynchronous steady state -------------------------------------------------
 *
 * Every finished evaluation updates the front at once and every idle worker
 * gets a child of the current front (round robin over its members), so no
 * worker waits for a slow one. The first `init` candidates are random, as
 * are children asked for before anything succeeded. Iteration k is recorded
 * when init + k x per_iteration evaluations have finished. Candidate index
 * = store seq; a resumed run loads every recorded evaluation (seqs lost in
 * flight stay empty), rebuilds the front and goes on until the budget is
 * spent. Deterministic in-process; under MPI the order depends on timing.
 */

struct async_ctx {
    struct run_ctx *r;
    long budget, live;    /* live: candidates finished or in flight */
    long next_record;     /* the iteration recorded next */
    long rr;              /* round-robin cursor over the front */
    int workers;
};

static long boundary(const struct ab_search_config *c, long k)
{
    return c->init + k * c->per_iteration;
}

/* Adds finished candidate i to the front unless a member dominates or
 * equals it; drops the members it dominates. */
static ab_status front_insert(struct ea *e, long i)
{
    int m = e->cfg->n_obj;
    double p[AB_SEARCH_MAX_OBJ], q[AB_SEARCH_MAX_OBJ];
    long kept = 0;
    long *v;
    if (e->c[i].status != AB_EVAL_OK) return AB_OK;
    point(e, i, p);
    for (int k = 0; k < m; k++)
        if (!isfinite(p[k])) return AB_OK;
    for (long f = 0; f < e->n_front; f++) {
        int covered = 1;
        point(e, e->front[f], q);
        for (int k = 0; k < m && covered; k++) covered = q[k] <= p[k];
        if (covered) return AB_OK;
    }
    for (long f = 0; f < e->n_front; f++) {
        int dominated = 1;
        point(e, e->front[f], q);
        for (int k = 0; k < m && dominated; k++) dominated = p[k] <= q[k];
        if (!dominated) e->front[kept++] = e->front[f];
    }
    v = realloc(e->front, sizeof *v * (size_t)(kept + 1));
    if (!v) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    e->front = v;
    e->front[kept++] = i;
    e->n_front = kept;
    return AB_OK;
}

static ab_status async_record(struct async_ctx *a, long k)
{
    struct run_ctx *r = a->r;
    struct ea *e = r->e;
    struct ab_store_iter rec = {0};
    AB_TRY(update_front(e, &r->hv));
    rec.iteration = (int)k;
    rec.evaluations = r->done;
    rec.unique = r->st->n;
    rec.failed = r->failed;
    rec.hypervolume = r->hv;
    rec.time = ab_store_now();
    rec.n_front = e->n_front;
    rec.front = e->front;
    AB_TRY(ab_store_add_iteration(r->st, &rec));
    AB_TRY(ab_store_sync(r->st, 1));
    AB_TRY(ab_store_maybe_snapshot(r->st, r->cfg->snapshot_interval));
    ab_log(AB_LOG_INFO, "iteration %ld/%ld: %ld/%ld evaluations (%ld failed), front %ld, "
           "hypervolume %.6g, %.1f s",
           k, r->cfg->iterations, r->done, r->budget, r->failed, e->n_front, r->hv,
           ab_store_now() - r->t_start);
    return AB_OK;
}

/* The iteration the next finished evaluation counts towards. */
static void async_iteration(struct run_ctx *r)
{
    const struct ab_search_config *c = r->cfg;
    r->iteration = r->done < c->init ? 0 : (int)(1 + (r->done - c->init) / c->per_iteration);
    if (r->iteration > c->iterations) r->iteration = (int)c->iterations;
}

/* After candidate ci finished: the front, and the iterations it completes. */
static ab_status async_after(struct async_ctx *a, long ci)
{
    struct run_ctx *r = a->r;
    AB_TRY(front_insert(r->e, ci));
    while (a->next_record <= r->cfg->iterations && r->done >= boundary(r->cfg, a->next_record))
        AB_TRY(async_record(a, a->next_record++));
    return AB_OK;
}

static ab_status async_done(void *vctx, const struct ab_dispatch_done *d)
{
    struct async_ctx *a = vctx;
    async_iteration(a->r);
    AB_TRY(on_done(a->r, d));
    return async_after(a, d->index);
}

/* One new candidate: a child of the front or, in the initial pool or when
 * mutation finds nothing unseen, a random one. */
static ab_status async_propose(struct async_ctx *a, int random_phase)
{
    ab_status rc = AB_OK;
    struct ea *e = a->r->e;
    if (!random_phase) {
        for (long tries = 0; tries < e->n_front; tries++) {
            struct ab_arch parent = e->c[e->front[a->rr++ % e->n_front]].arch;
            for (int attempt = 0; attempt <= 100; attempt++) {
                struct ab_arch child;
                mutate(e, &parent, &child);
                child.resolution = e->cfg->resolution;
                if (try_add(e, &child, &rc)) return AB_OK;
                AB_TRY(rc);
            }
        }
    }
    return top_up_random(e, e->n + 1);
}

static ab_status async_feed(void *vctx, int max, int *n, int *idx, struct ab_arch *archs,
                            const char **js)
{
    struct async_ctx *a = vctx;
    struct ea *e = a->r->e;
    const struct ab_search_config *c = a->r->cfg;
    int random_phase = a->live < c->init || e->n_front == 0;
    long limit = random_phase ? (c->init - a->live + a->workers - 1) / a->workers
                              : c->per_iteration / (2L * a->workers);
    if (limit < 1) limit = 1;
    if (limit > max) limit = max;
    if (random_phase && a->live < c->init && limit > c->init - a->live) limit = c->init - a->live;
    *n = 0;
    while (*n < limit && a->live < a->budget) {
        long i;
        AB_TRY(async_propose(a, random_phase));
        i = e->n - 1;
        if (a->r->n_cache) {
            int hit;
            async_iteration(a->r);
            AB_TRY(take_cached(a->r, i, &hit));
            if (hit) {
                a->live++;
                AB_TRY(async_after(a, i));
                continue;
            }
        }
        idx[*n] = (int)i;
        archs[*n] = e->c[i].arch;
        js[*n] = e->c[i].json;
        (*n)++;
        a->live++;
    }
    return AB_OK;
}

/* Resume: every recorded evaluation at its seq; the gaps (lost in flight)
 * stay empty candidates that never enter the front or the seen set. */
static ab_status async_load(struct async_ctx *a)
{
    ab_status rc = AB_OK;
    struct run_ctx *r = a->r;
    struct ea *e = r->e;
    const struct ab_store *st = r->st;
    long max_seq = -1;
    for (long i = 0; i < st->n; i++)
        if (st->ev[i].seq > max_seq) max_seq = st->ev[i].seq;
    if (max_seq >= 0) {
        e->c = calloc((size_t)max_seq + 1, sizeof *e->c);
        AB_CHECK_ALLOC(e->c);
        e->cap = max_seq + 1;
        for (long i = 0; i <= max_seq; i++) {
            e->c[i].status = -1;
            e->c[i].metrics = malloc(sizeof(double) * (size_t)(e->n_metrics ? e->n_metrics : 1));
            AB_CHECK_ALLOC(e->c[i].metrics);
            e->n = i + 1;
        }
    }
    for (long i = 0; i < st->n; i++) {
        const struct ab_store_eval *se = &st->ev[i];
        struct cand *c = &e->c[se->seq];
        AB_CHECK(se->seq >= 0 && !c->json, AB_ERR_INPUT,
                 "%s: evaluation seq %ld recorded twice; this store was not written by an "
                 "async search",
                 r->cfg->store, se->seq);
        rc = ab_arch_parse_json(e->sp, se->arch, &c->arch);
        if (rc) {
            ab_err_prefix("%s: recorded evaluation %ld", r->cfg->store, se->seq);
            goto cleanup;
        }
        c->json = strdup(se->arch);
        AB_CHECK_ALLOC(c->json);
        c->hash = se->hash;
        c->status = se->status;
        memcpy(c->metrics, se->metrics, sizeof(double) * (size_t)e->n_metrics);
        AB_CHECK(ab_u64map_put(&e->seen, c->hash, se->seq, NULL) >= 0, AB_ERR_NOMEM,
                 "out of memory");
        r->done++;
        if (se->status) r->failed++;
    }
    a->live = st->n;
    AB_CALL(update_front(e, &r->hv));
    while (a->next_record <= r->cfg->iterations && r->done >= boundary(r->cfg, a->next_record))
        a->next_record++;
    /* the last boundary passed before the crash may not have been recorded */
    if (a->next_record > 0) {
        int recorded = 0;
        for (long i = 0; i < st->n_iter; i++) recorded |= st->it[i].iteration == a->next_record - 1;
        if (!recorded) AB_CALL(async_record(a, a->next_record - 1));
    }
    if (st->n > 0) ab_rng_seed(&e->rng, r->cfg->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)st->n));
cleanup:
    return rc;
}

static ab_status run_async(struct run_ctx *r, struct ab_dispatch *disp, int resume,
                           int *interrupted)
{
    struct async_ctx a = {0};
    a.r = r;
    a.budget = r->budget;
    a.workers = ab_dispatch_workers(disp);
    if (resume) AB_TRY(async_load(&a));
    if (a.live >= a.budget) return AB_OK;
    return ab_dispatch_stream(disp, async_feed, async_done, &a, interrupted);
}

static void print_front(const struct ea *e, FILE *f)
{
    fprintf(f, "# front: %ld architectures\n", e->n_front);
    fprintf(f, "seq");
    for (int k = 0; k < e->cfg->n_obj; k++) fprintf(f, "\t%s", e->cfg->obj[k].metric);
    fprintf(f, "\tarch\n");
    for (long i = 0; i < e->n_front; i++) {
        const struct cand *c = &e->c[e->front[i]];
        fprintf(f, "%ld", e->front[i]);
        for (int k = 0; k < e->cfg->n_obj; k++) fprintf(f, "\t%.6g", c->metrics[e->obj_col[k]]);
        fprintf(f, "\t%s\n", c->json);
    }
}

ab_status ab_search_run(const struct ab_runtime *rt, struct ab_search_config *cfg, int resume,
                        int quiet, struct ab_search_summary *sum)
{
    ab_status rc = AB_OK;
    struct ab_eval_chain *chain = NULL;
    struct ab_dispatch *disp = NULL;
    struct ab_store *st = NULL;
    struct ea e = {0};
    struct run_ctx r = {0};
    char workdir[PATH_MAX];
    struct ab_eval_context ctx = {cfg->space, cfg->origin, cfg->base_dir, workdir};
    char *specs = NULL;
    int interrupted = 0, released = 0;
    double hv = 0, t0 = ab_store_now();
    long budget = cfg->init + cfg->iterations * cfg->per_iteration;
    memset(sum, 0, sizeof *sum);
    snprintf(workdir, sizeof workdir, "%s.jobs", cfg->store);
    ab_dispatch_install_signals();
    AB_CALL(ab_eval_chain_create(&ctx, cfg->evaluators, &chain));
    for (int k = 0; k < cfg->n_obj; k++) {
        e.obj_col[k] = ab_eval_chain_metric(chain, cfg->obj[k].metric);
        if (e.obj_col[k] < 0) {
            char list[400];
            size_t at = 0;
            list[0] = 0;
            for (int i = 0; i < chain->n_metrics; i++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
                                       chain->metrics[i]);
            AB_FAIL(AB_ERR_INPUT, "%s: objective '%s' is produced by no evaluator (they give: "
                    "%s); fix search.objectives or add an evaluator",
                    cfg->origin, cfg->obj[k].metric, list);
        }
    }
    r.cfg = cfg;
    r.chain = chain;
    AB_CALL(open_caches(&r));
    AB_CALL(ab_store_open(cfg->store, cfg->identity, (const char *const *)chain->metrics,
                          chain->n_metrics, resume, &st));
    specs = json_dumps(cfg->evaluators, JSON_COMPACT);
    AB_CHECK_ALLOC(specs);
    released = 1;
    AB_CALL(ab_dispatch_create(rt, chain, cfg->space->definition, specs, cfg->base_dir, workdir,
                               &disp));
    e.cfg = cfg;
    e.sp = cfg->space;
    e.n_metrics = chain->n_metrics;
    ab_rng_seed(&e.rng, cfg->seed);
    AB_CALL(ab_u64map_init(&e.seen, (uint64_t)budget * 2 + 16));
    r.e = &e;
    r.st = st;
    r.chain = chain;
    r.budget = budget;
    r.cfg = cfg;
    r.t_start = t0;
    r.last_progress = t0;
    if (resume)
        ab_log(AB_LOG_INFO, "resuming %s: %ld evaluations recorded, %ld iterations", cfg->store,
               st->n, st->n_iter);
    ab_log(AB_LOG_INFO, "search: %s%s on %s, budget %ld (%ld + %ld x %ld), %d evaluating "
           "process%s, store %s",
           variant_names[cfg->variant], cfg->async ? " (async)" : "", cfg->space->name, budget,
           cfg->init, cfg->iterations,
           cfg->per_iteration, ab_dispatch_workers(disp),
           ab_dispatch_workers(disp) == 1 ? "" : "es", cfg->store);
    if (cfg->async) AB_CALL(run_async(&r, disp, resume, &interrupted));
    for (int it = 0; it <= cfg->iterations && !interrupted && !cfg->async; it++) {
        long from = e.n;
        struct ab_store_iter rec = {0};
        if (it == 0)
            AB_CALL(top_up_random(&e, cfg->init));
        else
            AB_CALL(make_children(&e, cfg->init + it * cfg->per_iteration));
        r.iteration = it;
        AB_CALL(evaluate_block(&r, disp, from, &interrupted));
        if (interrupted) break;
        AB_CALL(update_front(&e, &hv));
        r.hv = hv;
        rec.iteration = it;
        rec.evaluations = e.n;
        rec.unique = st->n;
        rec.failed = r.failed;
        rec.hypervolume = hv;
        rec.time = ab_store_now();
        rec.n_front = e.n_front;
        rec.front = e.front;
        AB_CALL(ab_store_add_iteration(st, &rec));
        AB_CALL(ab_store_sync(st, 1));
        AB_CALL(ab_store_maybe_snapshot(st, cfg->snapshot_interval));
        ab_log(AB_LOG_INFO, "iteration %d/%ld: %ld/%ld evaluations (%ld failed), front %ld, "
               "hypervolume %.6g, %.1f s",
               it, cfg->iterations, e.n, budget, r.failed, e.n_front, hv, ab_store_now() - t0);
    }
    if (cfg->async) hv = r.hv;
    if (!interrupted) ab_store_set_complete(st, 1);
    sum->evaluations = cfg->async ? r.done : e.n;
    sum->cached = r.cached;
    sum->unique = st->n;
    sum->failed = r.failed;
    sum->front_size = e.n_front;
    sum->hypervolume = hv;
    sum->iterations = cfg->iterations;
    sum->interrupted = interrupted;
    if (!quiet && !interrupted) print_front(&e, stdout);
cleanup:
    if (st) {
        ab_status r2 = ab_store_close(&st);
        if (rc == AB_OK) rc = r2;
    }
    if (disp) {
        ab_dispatch_destroy(&disp, interrupted);
    } else if (!released && rt->mpi && rt->size > 1) {
        long zero = 0;
        MPI_Bcast(&zero, 1, MPI_LONG, 0, rt->comm);
    } else if (released && rt->mpi && rt->size > 1) {
        /* dispatch creation failed after the broadcast: workers wait for STOP */
    }
    sum->seconds = ab_store_now() - t0;
    if (interrupted && rc == AB_OK)
        ab_log(AB_LOG_WARN, "interrupted: %ld evaluations saved in %s; continue with --resume",
               sum->unique, cfg->store);
    else if (rc == AB_OK)
        ab_log(AB_LOG_INFO, "done: %ld evaluations (%ld failed, %ld reused from search.cache) in "
               "%.1f s, front %ld, hypervolume %.6g; 'autobuild report %s --plot front.png' "
               "draws it",
               sum->evaluations, sum->failed, sum->cached, sum->seconds, sum->front_size,
               sum->hypervolume, cfg->store);
    close_caches(&r);
    for (long i = 0; i < e.n; i++) {
        free(e.c[i].json);
        free(e.c[i].metrics);
    }
    free(e.c);
    free(e.front);
    ab_u64map_free(&e.seen);
    ab_eval_chain_destroy(&chain);
    free(specs);
    return rc;
}
