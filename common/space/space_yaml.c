/* SPDX-License-Identifier: MIT
 *
 * This file implements the loader of user-defined macro search spaces from
 * YAML. The format (every key but `name` and `stages` optional):
 *
 *   space:
 *     name: macro8                    # letters, digits, _ . : + -
 *     resolutions: [160, 192, 224]    # or {min: 128, max: 224, step: 4}
 *     sample_resolutions: [224]       # subset drawn by `data sample`
 *     attributes: {kernel: numeric, op: categorical}   # else inferred
 *     units: [[1], [2], [3]]          # 1-based stage numbers, consecutive
 *     stages:
 *       - {min_layers: 2, max_layers: 2, choices: [id, ir_3x3_t3, ir_5x5_t6]}
 *       - min_layers: 1
 *         max_layers: 3
 *         choices:
 *           - id
 *           - {name: ir_3x3_t3, kernel: 3, op: ir}
 *
 * A choice is a name, or a mapping with `name` and attribute values. An
 * attribute is numeric when every value given is a number, categorical
 * otherwise (or as declared under `attributes`). A choice that does not give
 * an attribute gets 0 (numeric) or "none" (categorical).
 *
 * Parsing is strict: unknown keys, duplicated keys, wrong types, bounds out
 * of order and repeated choice names are errors naming the file and line.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "space/space.h"

struct yctx {
    yaml_document_t doc;
    const char *origin;
    /* raw attribute values: raw[s][c][a], NULL when not given */
    char *(*raw)[AB_MAX_CHOICES][AB_MAX_ATTRS];
    int declared[AB_MAX_ATTRS]; /* -1 undeclared, 0 categorical, 1 numeric */
};

static yaml_node_t *node_at(struct yctx *y, int idx)
{
    return yaml_document_get_node(&y->doc, idx);
}

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static ab_status yerr(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ab_status yerr(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ab_err_set(AB_ERR_INPUT, "%s:%d: %s", y->origin, n ? line_of(n) : 0, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Every mapping in the document: scalar keys, none repeated. */
static ab_status check_mappings(struct yctx *y, yaml_node_t *n, int depth)
{
    if (depth > 64) return yerr(y, n, "the document is nested too deeply");
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++)
            AB_TRY(check_mappings(y, node_at(y, *it), depth + 1));
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node_at(y, p->key);
            if (!scalar(k)) return yerr(y, k, "mapping keys must be plain names");
            for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
                if (!strcmp(scalar(node_at(y, q->key)), scalar(k)))
                    return yerr(y, k, "duplicated key '%.64s' (first at line %d); "
                                "remove one", scalar(k), line_of(node_at(y, q->key)));
            AB_TRY(check_mappings(y, node_at(y, p->value), depth + 1));
        }
    }
    return AB_OK;
}

/* Looks key up in a mapping; NULL when absent. */
static yaml_node_t *map_get(struct yctx *y, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++)
        if (!strcmp(scalar(node_at(y, p->key)), key)) return node_at(y, p->value);
    return NULL;
}

/* Every key of map must be one of allowed (NULL-terminated). */
static ab_status check_keys(struct yctx *y, yaml_node_t *map, const char *where,
                            const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(node_at(y, p->key));
        int ok = 0;
        char list[256] = "";
        size_t len = 0;
        for (const char *const *a = allowed; *a; a++) {
            if (!strcmp(k, *a)) ok = 1;
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                    a == allowed ? "" : ", ", *a);
        }
        if (!ok)
            return yerr(y, node_at(y, p->key), "%s: unknown key '%.64s' (allowed: %s)",
                        where, k, list);
    }
    return AB_OK;
}

static ab_status get_int(struct yctx *y, yaml_node_t *n, const char *where, int lo,
                         int hi, int *out)
{
    const char *s = scalar(n);
    char *end;
    long v;
    if (!s || !*s) return yerr(y, n, "%s: expected an integer", where);
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return yerr(y, n, "%s: expected an integer from %d to %d, got '%.64s'", where, lo,
                    hi, s);
    *out = (int)v;
    return AB_OK;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

static ab_status get_name(struct yctx *y, yaml_node_t *n, const char *where, char **out)
{
    const char *s = scalar(n);
    if (!s || !valid_name(s))
        return yerr(y, n, "%s: expected a name of 1-63 letters, digits or _ . : + -", where);
    *out = strdup(s);
    return *out ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* resolutions: [a, b, ...] or {min, max, step} */
static ab_status parse_res_list(struct yctx *y, yaml_node_t *n, const char *where,
                                int **out, int *count)
{
    ab_status rc = AB_OK;
    int *r = NULL, k = 0;
    if (n->type == YAML_MAPPING_NODE) {
        static const char *const keys[] = {"min", "max", "step", NULL};
        int lo, hi, step = 1;
        yaml_node_t *v;
        AB_CALL(check_keys(y, n, where, keys));
        AB_CHECK((v = map_get(y, n, "min")) != NULL, AB_ERR_INPUT, "%s:%d: %s: missing 'min'",
                 y->origin, line_of(n), where);
        AB_CALL(get_int(y, v, where, 1, 100000, &lo));
        AB_CHECK((v = map_get(y, n, "max")) != NULL, AB_ERR_INPUT, "%s:%d: %s: missing 'max'",
                 y->origin, line_of(n), where);
        AB_CALL(get_int(y, v, where, 1, 100000, &hi));
        if ((v = map_get(y, n, "step"))) AB_CALL(get_int(y, v, where, 1, 100000, &step));
        AB_CHECK(hi >= lo, AB_ERR_INPUT, "%s:%d: %s: max %d is below min %d", y->origin,
                 line_of(n), where, hi, lo);
        AB_CHECK((hi - lo) / step < 4096, AB_ERR_INPUT, "%s:%d: %s: too many resolutions",
                 y->origin, line_of(n), where);
        r = malloc(sizeof(int) * (size_t)((hi - lo) / step + 1));
        AB_CHECK_ALLOC(r);
        for (int v2 = lo; v2 <= hi; v2 += step) r[k++] = v2;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        long len = n->data.sequence.items.top - n->data.sequence.items.start;
        AB_CHECK(len >= 1 && len <= 4096, AB_ERR_INPUT,
                 "%s:%d: %s: expected a list of 1 to 4096 resolutions", y->origin,
                 line_of(n), where);
        r = malloc(sizeof(int) * (size_t)len);
        AB_CHECK_ALLOC(r);
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++)
            AB_CALL(get_int(y, node_at(y, *it), where, 1, 100000, &r[k++]));
        qsort(r, (size_t)k, sizeof(int), cmp_int);
        for (int i = 1; i < k; i++)
            AB_CHECK(r[i] != r[i - 1], AB_ERR_INPUT, "%s:%d: %s: resolution %d is repeated",
                     y->origin, line_of(n), where, r[i]);
    } else {
        AB_FAIL(AB_ERR_INPUT, "%s:%d: %s: expected a list or {min, max, step}", y->origin,
                line_of(n), where);
    }
    *out = r;
    *count = k;
    r = NULL;
cleanup:
    free(r);
    return rc;
}

static int attr_index(struct ab_space *sp, const char *name)
{
    for (int a = 0; a < sp->n_attrs; a++)
        if (!strcmp(sp->attrs[a].name, name)) return a;
    return -1;
}

static ab_status add_attr(struct yctx *y, struct ab_space *sp, yaml_node_t *at,
                          const char *name, int *idx)
{
    *idx = attr_index(sp, name);
    if (*idx >= 0) return AB_OK;
    if (sp->n_attrs >= AB_MAX_ATTRS)
        return yerr(y, at, "more than %d attributes", AB_MAX_ATTRS);
    if (!valid_name(name))
        return yerr(y, at, "attribute name '%.64s' must be 1-63 letters, digits or _ . : + -",
                    name);
    sp->attrs[sp->n_attrs].name = strdup(name);
    if (!sp->attrs[sp->n_attrs].name) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    y->declared[sp->n_attrs] = -1;
    *idx = sp->n_attrs++;
    return AB_OK;
}

static ab_status parse_choice(struct yctx *y, struct ab_space *sp, int s, int c,
                              yaml_node_t *n)
{
    ab_status rc = AB_OK;
    struct ab_choice *ch = &sp->stages[s].choices[c];
    char where[64];
    snprintf(where, sizeof where, "stages[%d].choices[%d]", s + 1, c + 1);
    if (n->type == YAML_SCALAR_NODE) {
        AB_CALL(get_name(y, n, where, &ch->name));
    } else {
        yaml_node_t *nm;
        AB_CHECK(n->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
                 "%s:%d: %s: expected a name or {name: ..., attribute: value}", y->origin,
                 line_of(n), where);
        nm = map_get(y, n, "name");
        AB_CHECK(nm != NULL, AB_ERR_INPUT, "%s:%d: %s: missing 'name'", y->origin, line_of(n),
                 where);
        AB_CALL(get_name(y, nm, where, &ch->name));
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node_at(y, p->key), *v = node_at(y, p->value);
            int a;
            if (!strcmp(scalar(k), "name")) continue;
            AB_CALL(add_attr(y, sp, k, scalar(k), &a));
            AB_CHECK(scalar(v) && *scalar(v), AB_ERR_INPUT,
                     "%s:%d: %s.%s: expected a number or a label", y->origin, line_of(v),
                     where, scalar(k));
            y->raw[s][c][a] = strdup(scalar(v));
            AB_CHECK_ALLOC(y->raw[s][c][a]);
        }
    }
    for (int k = 0; k < c; k++)
        AB_CHECK(strcmp(sp->stages[s].choices[k].name, ch->name), AB_ERR_INPUT,
                 "%s:%d: %s: choice '%s' is repeated in stage %d", y->origin, line_of(n),
                 where, ch->name, s + 1);
cleanup:
    return rc;
}

static ab_status parse_stage(struct yctx *y, struct ab_space *sp, int s, yaml_node_t *n)
{
    static const char *const keys[] = {"min_layers", "max_layers", "choices", NULL};
    ab_status rc = AB_OK;
    struct ab_stage *st = &sp->stages[s];
    yaml_node_t *v;
    char where[32];
    long nc;
    snprintf(where, sizeof where, "stages[%d]", s + 1);
    AB_CHECK(n->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
             "%s:%d: %s: expected {min_layers, max_layers, choices}", y->origin, line_of(n),
             where);
    AB_CALL(check_keys(y, n, where, keys));
    AB_CHECK((v = map_get(y, n, "min_layers")) != NULL, AB_ERR_INPUT,
             "%s:%d: %s: missing 'min_layers'", y->origin, line_of(n), where);
    AB_CALL(get_int(y, v, "min_layers", 1, AB_MAX_LAYERS, &st->min_layers));
    AB_CHECK((v = map_get(y, n, "max_layers")) != NULL, AB_ERR_INPUT,
             "%s:%d: %s: missing 'max_layers'", y->origin, line_of(n), where);
    AB_CALL(get_int(y, v, "max_layers", 1, AB_MAX_LAYERS, &st->max_layers));
    AB_CHECK(st->max_layers >= st->min_layers, AB_ERR_INPUT,
             "%s:%d: %s: max_layers (%d) is below min_layers (%d); make max_layers >= "
             "min_layers", y->origin, line_of(v), where, st->max_layers, st->min_layers);
    v = map_get(y, n, "choices");
    AB_CHECK(v != NULL, AB_ERR_INPUT, "%s:%d: %s: missing 'choices'", y->origin, line_of(n),
             where);
    AB_CHECK(v->type == YAML_SEQUENCE_NODE, AB_ERR_INPUT,
             "%s:%d: %s.choices: expected a list", y->origin, line_of(v), where);
    nc = v->data.sequence.items.top - v->data.sequence.items.start;
    AB_CHECK(nc >= 1 && nc <= AB_MAX_CHOICES, AB_ERR_INPUT,
             "%s:%d: %s.choices: expected 1 to %d choices, got %ld", y->origin, line_of(v),
             where, AB_MAX_CHOICES, nc);
    st->choices = calloc((size_t)nc, sizeof *st->choices);
    AB_CHECK_ALLOC(st->choices);
    st->n_choices = (int)nc;
    for (int c = 0; c < nc; c++)
        AB_CALL(parse_choice(y, sp, s, c, node_at(y, v->data.sequence.items.start[c])));
cleanup:
    return rc;
}

static int is_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return 0;
    if (out) *out = v;
    return 1;
}

/* Second pass: types, categorical value tables, per-choice values. */
static ab_status resolve_attrs(struct yctx *y, struct ab_space *sp)
{
    ab_status rc = AB_OK;
    for (int a = 0; a < sp->n_attrs; a++) {
        struct ab_attr_def *d = &sp->attrs[a];
        int numeric = 1, any = 0;
        for (int s = 0; s < sp->n_stages; s++)
            for (int c = 0; c < sp->stages[s].n_choices; c++)
                if (y->raw[s][c][a]) {
                    any = 1;
                    if (!is_number(y->raw[s][c][a], NULL)) numeric = 0;
                }
        if (y->declared[a] >= 0) {
            AB_CHECK(!(y->declared[a] == 1 && !numeric), AB_ERR_INPUT,
                     "%s: attribute '%s' is declared numeric but has non-numeric values",
                     y->origin, d->name);
            numeric = y->declared[a];
        }
        (void)any;
        d->numeric = numeric;
        d->values = calloc(AB_MAX_CHOICES * AB_MAX_STAGES + 1, sizeof(char *));
        AB_CHECK_ALLOC(d->values);
        for (int s = 0; s < sp->n_stages; s++) {
            for (int c = 0; c < sp->stages[s].n_choices; c++) {
                struct ab_choice *ch = &sp->stages[s].choices[c];
                const char *raw = y->raw[s][c][a];
                if (!ch->attr) {
                    ch->attr = calloc(AB_MAX_ATTRS, sizeof(double));
                    AB_CHECK_ALLOC(ch->attr);
                }
                if (numeric) {
                    ch->attr[a] = raw ? strtod(raw, NULL) : 0.0;
                    continue;
                }
                if (!raw) raw = "none";
                int v = 0;
                while (v < d->n_values && strcmp(d->values[v], raw)) v++;
                if (v == d->n_values) {
                    d->values[d->n_values] = strdup(raw);
                    AB_CHECK_ALLOC(d->values[d->n_values]);
                    d->n_values++;
                }
                ch->attr[a] = v;
            }
        }
    }
    /* choices of spaces without attributes still get an (empty) array */
    for (int s = 0; s < sp->n_stages; s++)
        for (int c = 0; c < sp->stages[s].n_choices; c++)
            if (!sp->stages[s].choices[c].attr) {
                sp->stages[s].choices[c].attr = calloc(AB_MAX_ATTRS, sizeof(double));
                AB_CHECK_ALLOC(sp->stages[s].choices[c].attr);
            }
cleanup:
    return rc;
}

static ab_status parse_units(struct yctx *y, struct ab_space *sp, yaml_node_t *n)
{
    ab_status rc = AB_OK;
    int next = 0;
    AB_CHECK(n->type == YAML_SEQUENCE_NODE, AB_ERR_INPUT,
             "%s:%d: units: expected a list of lists of stage numbers", y->origin, line_of(n));
    sp->n_units = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *u = node_at(y, *it);
        int first = -1, count = 0;
        AB_CHECK(u->type == YAML_SEQUENCE_NODE && u->data.sequence.items.top >
                                                      u->data.sequence.items.start,
                 AB_ERR_INPUT, "%s:%d: units: each unit is a non-empty list of stage numbers",
                 y->origin, line_of(u));
        for (yaml_node_item_t *jt = u->data.sequence.items.start;
             jt < u->data.sequence.items.top; jt++) {
            int s;
            AB_CALL(get_int(y, node_at(y, *jt), "units", 1, sp->n_stages, &s));
            AB_CHECK(s - 1 == next, AB_ERR_INPUT,
                     "%s:%d: units: stage %d out of order; units must list stages 1 to %d "
                     "once each, in order", y->origin, line_of(u), s, sp->n_stages);
            if (first < 0) first = s - 1;
            count++;
            next++;
        }
        sp->units[sp->n_units++] = (struct ab_unit){first, count};
    }
    AB_CHECK(next == sp->n_stages, AB_ERR_INPUT,
             "%s:%d: units: stages %d to %d are in no unit", y->origin, line_of(n), next + 1,
             sp->n_stages);
cleanup:
    return rc;
}

static ab_status parse_space(struct yctx *y, struct ab_space *sp, yaml_node_t *root)
{
    static const char *const top_keys[] = {"space", NULL};
    static const char *const keys[] = {"name", "resolutions", "sample_resolutions",
                                       "attributes", "units", "stages", NULL};
    ab_status rc = AB_OK;
    yaml_node_t *n, *v;
    AB_CHECK(root && root->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
             "%s:%d: expected a mapping with the key 'space'", y->origin,
             root ? line_of(root) : 1);
    AB_CALL(check_keys(y, root, "top level", top_keys));
    n = map_get(y, root, "space");
    AB_CHECK(n && n->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
             "%s:%d: 'space' must be a mapping with name and stages", y->origin,
             line_of(n ? n : root));
    AB_CALL(check_keys(y, n, "space", keys));
    v = map_get(y, n, "name");
    AB_CHECK(v != NULL, AB_ERR_INPUT, "%s:%d: space: missing 'name'", y->origin, line_of(n));
    AB_CALL(get_name(y, v, "space.name", &sp->name));
    AB_CHECK(strcmp(sp->name, "ofa_mbv3") && strcmp(sp->name, "ofa_pn") &&
                 strcmp(sp->name, "sd_unet") && strcmp(sp->name, "sd_unet_hw"),
             AB_ERR_INPUT,
             "%s:%d: space.name: '%s' is a built-in space; choose another name", y->origin,
             line_of(v), sp->name);
    if ((v = map_get(y, n, "attributes"))) {
        AB_CHECK(v->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
                 "%s:%d: attributes: expected {name: numeric|categorical}", y->origin,
                 line_of(v));
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = node_at(y, p->key), *t = node_at(y, p->value);
            const char *ts = scalar(t);
            int a;
            AB_CHECK(ts && (!strcmp(ts, "numeric") || !strcmp(ts, "categorical")),
                     AB_ERR_INPUT, "%s:%d: attributes.%s: expected numeric or categorical",
                     y->origin, line_of(t), scalar(k));
            AB_CALL(add_attr(y, sp, k, scalar(k), &a));
            y->declared[a] = !strcmp(ts, "numeric");
        }
    }
    v = map_get(y, n, "stages");
    AB_CHECK(v != NULL, AB_ERR_INPUT, "%s:%d: space: missing 'stages'", y->origin, line_of(n));
    AB_CHECK(v->type == YAML_SEQUENCE_NODE, AB_ERR_INPUT, "%s:%d: stages: expected a list",
             y->origin, line_of(v));
    long ns = v->data.sequence.items.top - v->data.sequence.items.start;
    AB_CHECK(ns >= 1 && ns <= AB_MAX_STAGES, AB_ERR_INPUT,
             "%s:%d: stages: expected 1 to %d stages, got %ld", y->origin, line_of(v),
             AB_MAX_STAGES, ns);
    sp->n_stages = (int)ns;
    for (int s = 0; s < ns; s++)
        AB_CALL(parse_stage(y, sp, s, node_at(y, v->data.sequence.items.start[s])));
    AB_CALL(resolve_attrs(y, sp));
    if ((v = map_get(y, n, "resolutions")))
        AB_CALL(parse_res_list(y, v, "resolutions", &sp->resolutions, &sp->n_resolutions));
    if ((v = map_get(y, n, "sample_resolutions"))) {
        AB_CHECK(sp->n_resolutions > 0, AB_ERR_INPUT,
                 "%s:%d: sample_resolutions needs resolutions", y->origin, line_of(v));
        AB_CALL(parse_res_list(y, v, "sample_resolutions", &sp->sample_resolutions,
                               &sp->n_sample_resolutions));
        for (int i = 0; i < sp->n_sample_resolutions; i++)
            AB_CHECK(ab_space_has_resolution(sp, sp->sample_resolutions[i]), AB_ERR_INPUT,
                     "%s:%d: sample_resolutions: %d is not one of the resolutions",
                     y->origin, line_of(v), sp->sample_resolutions[i]);
    } else if (sp->n_resolutions > 0) {
        sp->sample_resolutions = malloc(sizeof(int) * (size_t)sp->n_resolutions);
        AB_CHECK_ALLOC(sp->sample_resolutions);
        memcpy(sp->sample_resolutions, sp->resolutions,
               sizeof(int) * (size_t)sp->n_resolutions);
        sp->n_sample_resolutions = sp->n_resolutions;
    }
    if ((v = map_get(y, n, "units"))) AB_CALL(parse_units(y, sp, v));
cleanup:
    return rc;
}

ab_status ab_space_from_yaml(const char *text, size_t len, const char *origin,
                             struct ab_space **out)
{
    ab_status rc = AB_OK;
    yaml_parser_t parser;
    struct yctx y;
    struct ab_space *sp = NULL;
    int have_parser = 0, have_doc = 0;
    memset(&y, 0, sizeof y);
    y.origin = origin;
    *out = NULL;
    /* a YAML U-Net space (a `unet:` block) has its own loader */
    if (ab_sdunet_yaml_claims(text, len)) return ab_sdunet_from_yaml(text, len, origin, out);
    AB_CHECK(yaml_parser_initialize(&parser), AB_ERR_NOMEM, "out of memory");
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &y.doc)) {
        AB_FAIL(AB_ERR_INPUT, "%s:%d: YAML syntax error: %s%s%s", origin,
                (int)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "malformed document",
                parser.context ? " " : "", parser.context ? parser.context : "");
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&y.doc);
    AB_CHECK(root != NULL, AB_ERR_INPUT, "%s: the file is empty; it needs a 'space' mapping",
             origin);
    AB_CALL(check_mappings(&y, root, 0));
    y.raw = calloc(AB_MAX_STAGES, sizeof *y.raw);
    AB_CHECK_ALLOC(y.raw);
    sp = calloc(1, sizeof *sp);
    AB_CHECK_ALLOC(sp);
    sp->kind = AB_SPACE_YAML;
    sp->source = strdup(origin);
    sp->definition = strndup(text, len);
    AB_CHECK_ALLOC(sp->source);
    AB_CHECK_ALLOC(sp->definition);
    AB_CALL(parse_space(&y, sp, root));
    AB_CALL(ab_space_finalize(sp));
    *out = sp;
    sp = NULL;
cleanup:
    if (y.raw) {
        for (int s = 0; s < AB_MAX_STAGES; s++)
            for (int c = 0; c < AB_MAX_CHOICES; c++)
                for (int a = 0; a < AB_MAX_ATTRS; a++) free(y.raw[s][c][a]);
        free(y.raw);
    }
    ab_space_destroy(&sp);
    if (have_doc) yaml_document_delete(&y.doc);
    if (have_parser) yaml_parser_delete(&parser);
    return rc;
}
