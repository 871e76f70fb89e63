/* SPDX-License-Identifier: MIT
 *
 * This file implements yamldoc.h: loading a YAML document with libyaml and
 * the typed lookups configuration loaders use.
 */
#include "util/yamldoc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ab_status check_duplicates(struct ab_yamldoc *d, yaml_node_t *n, int depth)
{
    if (!n || depth > 64) return AB_OK;
    if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
            const char *kt = ab_yamldoc_text(k);
            for (yaml_node_pair_t *q = n->data.mapping.pairs.start; kt && q < p; q++) {
                const char *qt = ab_yamldoc_text(yaml_document_get_node(&d->doc, q->key));
                if (qt && !strcmp(qt, kt))
                    return ab_err_set(AB_ERR_INPUT,
                                      "%s: line %d: duplicate key '%s' (first at line %d); "
                                      "keep one",
                                      d->origin, ab_yamldoc_line(k), kt,
                                      ab_yamldoc_line(yaml_document_get_node(&d->doc, q->key)));
            }
            AB_TRY(check_duplicates(d, yaml_document_get_node(&d->doc, p->value), depth + 1));
        }
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++)
            AB_TRY(check_duplicates(d, yaml_document_get_node(&d->doc, *i), depth + 1));
    }
    return AB_OK;
}

ab_status ab_yamldoc_load(const char *text, size_t len, const char *origin,
                          struct ab_yamldoc **out)
{
    ab_status rc = AB_OK;
    yaml_parser_t parser;
    int parser_ok = 0, doc_ok = 0;
    struct ab_yamldoc *d = calloc(1, sizeof *d);
    *out = NULL;
    AB_CHECK_ALLOC(d);
    d->origin = strdup(origin ? origin : "<config>");
    AB_CHECK_ALLOC(d->origin);
    AB_CHECK(yaml_parser_initialize(&parser), AB_ERR_NOMEM, "out of memory (YAML parser)");
    parser_ok = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &d->doc))
        AB_FAIL(AB_ERR_INPUT, "%s: line %lu: YAML syntax error: %s", d->origin,
                (unsigned long)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "unknown");
    doc_ok = 1;
    AB_CALL(check_duplicates(d, ab_yamldoc_root(d), 0));
    *out = d;
    d = NULL;
cleanup:
    if (parser_ok) yaml_parser_delete(&parser);
    if (d) {
        if (doc_ok) yaml_document_delete(&d->doc);
        free(d->origin);
        free(d);
    }
    return rc;
}

void ab_yamldoc_destroy(struct ab_yamldoc **d)
{
    if (!d || !*d) return;
    yaml_document_delete(&(*d)->doc);
    free((*d)->origin);
    free(*d);
    *d = NULL;
}

yaml_node_t *ab_yamldoc_root(struct ab_yamldoc *d)
{
    return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *ab_yamldoc_get(struct ab_yamldoc *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *kt = ab_yamldoc_text(yaml_document_get_node(&d->doc, p->key));
        if (kt && !strcmp(kt, key)) return yaml_document_get_node(&d->doc, p->value);
    }
    return NULL;
}

int ab_yamldoc_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

const char *ab_yamldoc_text(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int ab_yamldoc_seq_len(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) return 0;
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *ab_yamldoc_seq_item(struct ab_yamldoc *d, yaml_node_t *n, int i)
{
    if (i < 0 || i >= ab_yamldoc_seq_len(n)) return NULL;
    return yaml_document_get_node(&d->doc, n->data.sequence.items.start[i]);
}

ab_status ab_yamldoc_expect_map(struct ab_yamldoc *d, yaml_node_t *n, const char *path)
{
    if (n && n->type == YAML_MAPPING_NODE) return AB_OK;
    if (!n) return ab_err_set(AB_ERR_INPUT, "%s: missing section '%s'", d->origin, path);
    return ab_err_set(AB_ERR_INPUT, "%s: line %d: '%s' must be a mapping (key: value lines)",
                      d->origin, ab_yamldoc_line(n), path);
}

ab_status ab_yamldoc_expect_seq(struct ab_yamldoc *d, yaml_node_t *n, const char *path)
{
    if (n && n->type == YAML_SEQUENCE_NODE) return AB_OK;
    if (!n) return ab_err_set(AB_ERR_INPUT, "%s: missing list '%s'", d->origin, path);
    return ab_err_set(AB_ERR_INPUT, "%s: line %d: '%s' must be a list ('- item' lines)",
                      d->origin, ab_yamldoc_line(n), path);
}

ab_status ab_yamldoc_check_keys(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                                const char *const *known)
{
    AB_TRY(ab_yamldoc_expect_map(d, map, path));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
        const char *kt = ab_yamldoc_text(k);
        int ok = 0;
        for (int i = 0; kt && known[i]; i++)
            if (!strcmp(known[i], kt)) ok = 1;
        if (!ok) {
            char list[512];
            size_t at = 0;
            list[0] = 0;
            for (int i = 0; known[i] && at + 2 < sizeof list; i++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
                                       known[i]);
            return ab_err_set(AB_ERR_INPUT, "%s: line %d: unknown key '%s' in %s (known: %s)",
                              d->origin, ab_yamldoc_line(k), kt ? kt : "?", path, list);
        }
    }
    return AB_OK;
}

static ab_status scalar_of(struct ab_yamldoc *d, yaml_node_t *v, const char *path,
                           const char *key, const char **out)
{
    *out = ab_yamldoc_text(v);
    if (!*out)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s must be a single value",
                          d->origin, ab_yamldoc_line(v), path, key);
    return AB_OK;
}

ab_status ab_yamldoc_int(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                         const char *key, long def, long lo, long hi, long *out)
{
    yaml_node_t *v = ab_yamldoc_get(d, map, key);
    const char *t;
    char *end;
    long x;
    if (!v) {
        *out = def;
        return AB_OK;
    }
    AB_TRY(scalar_of(d, v, path, key, &t));
    errno = 0;
    x = strtol(t, &end, 10);
    if (!*t || *end || errno || x < lo || x > hi)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s: expected an integer from %ld to "
                          "%ld, got '%.40s'",
                          d->origin, ab_yamldoc_line(v), path, key, lo, hi, t);
    *out = x;
    return AB_OK;
}

ab_status ab_yamldoc_double(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                            const char *key, double def, double lo, double hi, double *out)
{
    yaml_node_t *v = ab_yamldoc_get(d, map, key);
    const char *t;
    char *end;
    double x;
    if (!v) {
        *out = def;
        return AB_OK;
    }
    AB_TRY(scalar_of(d, v, path, key, &t));
    errno = 0;
    x = strtod(t, &end);
    if (!*t || *end || errno || !isfinite(x) || x < lo || x > hi)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s: expected a number from %g to %g, "
                          "got '%.40s'",
                          d->origin, ab_yamldoc_line(v), path, key, lo, hi, t);
    *out = x;
    return AB_OK;
}

ab_status ab_yamldoc_str(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                         const char *key, const char *def, const char **out)
{
    yaml_node_t *v = ab_yamldoc_get(d, map, key);
    if (!v) {
        *out = def;
        return AB_OK;
    }
    AB_TRY(scalar_of(d, v, path, key, out));
    if (!**out)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s is empty", d->origin,
                          ab_yamldoc_line(v), path, key);
    return AB_OK;
}

ab_status ab_yamldoc_str_required(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                                  const char *key, const char **out)
{
    AB_TRY(ab_yamldoc_str(d, map, path, key, NULL, out));
    if (!*out)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s needs '%s'", d->origin,
                          ab_yamldoc_line(map), path, key);
    return AB_OK;
}

ab_status ab_yamldoc_bool(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                          const char *key, int def, int *out)
{
    yaml_node_t *v = ab_yamldoc_get(d, map, key);
    const char *t;
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    if (!v) {
        *out = def;
        return AB_OK;
    }
    AB_TRY(scalar_of(d, v, path, key, &t));
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(t, yes[i])) return *out = 1, AB_OK;
        if (!strcasecmp(t, no[i])) return *out = 0, AB_OK;
    }
    return ab_err_set(AB_ERR_INPUT, "%s: line %d: %s.%s: expected true or false, got '%.40s'",
                      d->origin, ab_yamldoc_line(v), path, key, t);
}

/* ---- canonical JSON ------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
};

static void put(struct sbuf *b, const char *t, size_t len)
{
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, t, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void put_str(struct sbuf *b, const char *t)
{
    put(b, "\"", 1);
    for (; *t; t++) {
        char e[8];
        if (*t == '"' || *t == '\\') {
            e[0] = '\\';
            e[1] = *t;
            put(b, e, 2);
        } else if ((unsigned char)*t < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", (unsigned char)*t);
            put(b, e, 6);
        } else {
            put(b, t, 1);
        }
    }
    put(b, "\"", 1);
}

static void to_json(struct ab_yamldoc *d, yaml_node_t *n, struct sbuf *b, int depth)
{
    if (!n || depth > 64) {
        put(b, "null", 4);
        return;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *t = (const char *)n->data.scalar.value;
        char *end;
        double x = strtod(t, &end);
        if (*t && !*end && isfinite(x) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            char num[64];
            snprintf(num, sizeof num, "%.17g", x);
            put(b, num, strlen(num));
        } else {
            put_str(b, t);
        }
    } else if (n->type == YAML_SEQUENCE_NODE) {
        put(b, "[", 1);
        for (int i = 0; i < ab_yamldoc_seq_len(n); i++) {
            if (i) put(b, ",", 1);
            to_json(d, ab_yamldoc_seq_item(d, n, i), b, depth + 1);
        }
        put(b, "]", 1);
    } else if (n->type == YAML_MAPPING_NODE) {
        put(b, "{", 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *kt = ab_yamldoc_text(yaml_document_get_node(&d->doc, p->key));
            if (p != n->data.mapping.pairs.start) put(b, ",", 1);
            put_str(b, kt ? kt : "");
            put(b, ":", 1);
            to_json(d, yaml_document_get_node(&d->doc, p->value), b, depth + 1);
        }
        put(b, "}", 1);
    } else {
        put(b, "null", 4);
    }
}

char *ab_yamldoc_to_json(struct ab_yamldoc *d, yaml_node_t *n)
{
    struct sbuf b = {0};
    to_json(d, n, &b, 0);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (!b.s) return strdup("null");
    return b.s;
}
