/* SPDX-License-Identifier: MIT
 *
 * This file implements what every search space shares: exact sizes, the
 * enumeration of unit subgraphs, validation, the canonical JSON form of an
 * architecture and its hash, and seeded sampling. The built-in spaces live in
 * space_ofa.c and the YAML loader in space_yaml.c.
 */
#include "space/space.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/rng.h"
#include "util/u64map.h"

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

void ab_space_destroy(struct ab_space **spp)
{
    struct ab_space *sp;
    if (!spp || !*spp) return;
    sp = *spp;
    for (int s = 0; s < sp->n_stages; s++) {
        struct ab_stage *st = &sp->stages[s];
        for (int c = 0; c < st->n_choices; c++) {
            free(st->choices[c].name);
            free(st->choices[c].attr);
        }
        free(st->choices);
    }
    for (int a = 0; a < sp->n_attrs; a++) {
        free(sp->attrs[a].name);
        for (int v = 0; v < sp->attrs[a].n_values; v++) free(sp->attrs[a].values[v]);
        free(sp->attrs[a].values);
    }
    free(sp->name);
    free(sp->source);
    free(sp->resolutions);
    free(sp->sample_resolutions);
    free(sp->definition);
    for (int u = 0; u < AB_MAX_STAGES; u++) free(sp->allowed[u].index);
    free(sp->reduced_source);
    ab_sdunet_free(sp->unet);
    free(sp);
    *spp = NULL;
}

static void add_feature(struct ab_space *sp, const char *name, int card, int dim)
{
    struct ab_feature *f = &sp->features[sp->n_features++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->cardinality = card;
    f->embed_dim = dim;
}

static void set_features(struct ab_space *sp)
{
    if (sp->kind == AB_SPACE_SD_UNET) return; /* space_sdunet.c sets them */
    sp->n_features = 0;
    if (sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN) {
        /* The authors' encoding and FE-MLP sizes (METHOD.md section 2). */
        add_feature(sp, "stage", 6, 3);
        add_feature(sp, "layer", 4, 2);
        add_feature(sp, "family", 2, 2);
        add_feature(sp, "expansion", 3, 2);
        add_feature(sp, "kernel", 3, 3);
        add_feature(sp, "resolution", 0, 0);
        return;
    }
    int max_layers = 1, max_choices = 1;
    for (int s = 0; s < sp->n_stages; s++) {
        if (sp->stages[s].max_layers > max_layers) max_layers = sp->stages[s].max_layers;
        if (sp->stages[s].n_choices > max_choices) max_choices = sp->stages[s].n_choices;
    }
    add_feature(sp, "stage", sp->n_stages, 3);
    add_feature(sp, "layer", max_layers, 2);
    add_feature(sp, "choice", max_choices, 3);
    for (int a = 0; a < sp->n_attrs; a++) {
        const struct ab_attr_def *d = &sp->attrs[a];
        if (d->numeric) add_feature(sp, d->name, 0, 0);
        else add_feature(sp, d->name, d->n_values, d->n_values < 3 ? d->n_values : 3);
    }
    if (sp->n_resolutions > 0) add_feature(sp, "resolution", 0, 0);
}

ab_status ab_space_finalize(struct ab_space *sp)
{
    ab_status rc = AB_OK;
    AB_ASSERT(sp->n_stages >= 1 && sp->n_stages <= AB_MAX_STAGES);
    if (sp->n_units == 0) {
        sp->n_units = sp->n_stages;
        for (int s = 0; s < sp->n_stages; s++) sp->units[s] = (struct ab_unit){s, 1};
    }
    set_features(sp);
cleanup:
    return rc;
}

/* ---------------------------------------------------------------------- */
/* sizes                                                                   */

/* Unsigned big integers in base 1e9, least significant limb first. */
struct big {
    int n;
    uint32_t d[64];
};
#define BIG_BASE 1000000000u

static void big_set(struct big *b, uint64_t v)
{
    b->n = 0;
    do {
        b->d[b->n++] = (uint32_t)(v % BIG_BASE);
        v /= BIG_BASE;
    } while (v);
}

static void big_add(struct big *a, const struct big *b)
{
    uint64_t carry = 0;
    int n = a->n > b->n ? a->n : b->n;
    for (int i = 0; i < n || carry; i++) {
        uint64_t x = carry + (i < a->n ? a->d[i] : 0) + (i < b->n ? b->d[i] : 0);
        if (i >= 64) return; /* saturate: far beyond any printable size */
        a->d[i] = (uint32_t)(x % BIG_BASE);
        carry = x / BIG_BASE;
        if (i >= a->n) a->n = i + 1;
    }
}

static void big_mul(struct big *a, const struct big *b)
{
    uint64_t t[129] = {0};
    int n = a->n + b->n;
    for (int i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < b->n || carry; j++) {
            uint64_t cur = t[i + j] + carry + (j < b->n ? (uint64_t)a->d[i] * b->d[j] : 0);
            t[i + j] = cur % BIG_BASE;
            carry = cur / BIG_BASE;
        }
    }
    while (n > 1 && t[n - 1] == 0) n--;
    if (n > 64) n = 64;
    a->n = n;
    for (int i = 0; i < n; i++) a->d[i] = (uint32_t)t[i];
}

/* sum over d in [min, max] of n^d, the number of fillings of one stage */
static void stage_count_big(const struct ab_stage *st, struct big *out)
{
    struct big pw, nb;
    big_set(out, 0);
    big_set(&pw, 1);
    big_set(&nb, (uint64_t)st->n_choices);
    for (int d = 0; d <= st->max_layers; d++) {
        if (d >= st->min_layers) big_add(out, &pw);
        big_mul(&pw, &nb);
    }
}

char *ab_space_size_string(const struct ab_space *sp)
{
    struct big total, st;
    char *out = malloc(64 * 9 + 2);
    if (!out) return NULL;
    if (sp->unet) { /* coupled units: counted per configuration */
        sprintf(out, "%llu", (unsigned long long)ab_sdunet_count(sp));
        return out;
    }
    big_set(&total, 1);
    for (int s = 0; !sp->reduced && s < sp->n_stages; s++) {
        stage_count_big(&sp->stages[s], &st);
        big_mul(&total, &st);
    }
    for (int u = 0; sp->reduced && u < sp->n_units; u++) {
        big_set(&st, sp->allowed[u].n);
        big_mul(&total, &st);
    }
    int len = sprintf(out, "%u", total.d[total.n - 1]);
    for (int i = total.n - 2; i >= 0; i--) len += sprintf(out + len, "%09u", total.d[i]);
    return out;
}

double ab_space_size_log10(const struct ab_space *sp)
{
    double lg = 0.0;
    if (sp->unet) return log10((double)ab_sdunet_count(sp));
    if (sp->reduced) {
        for (int u = 0; u < sp->n_units; u++) lg += log10((double)sp->allowed[u].n);
        return lg;
    }
    for (int s = 0; s < sp->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        double sum = 0.0;
        for (int d = st->min_layers; d <= st->max_layers; d++)
            sum += pow((double)st->n_choices, d);
        lg += log10(sum);
    }
    return lg;
}

/* n^d, or UINT64_MAX when it overflows */
static uint64_t pow_sat(uint64_t n, int d)
{
    uint64_t r = 1;
    for (int i = 0; i < d; i++)
        if (__builtin_mul_overflow(r, n, &r)) return UINT64_MAX;
    return r;
}

uint64_t ab_space_unit_count(const struct ab_space *sp, int u)
{
    if (sp->reduced) return sp->allowed[u].n;
    return ab_space_unit_count_full(sp, u);
}

uint64_t ab_space_unit_count_full(const struct ab_space *sp, int u)
{
    const struct ab_unit *un = &sp->units[u];
    uint64_t total = 1;
    if (sp->unet) return ab_sdunet_unit_count(sp, u);
    for (int k = 0; k < un->n_stages; k++) {
        const struct ab_stage *st = &sp->stages[un->first + k];
        uint64_t sum = 0;
        for (int d = st->min_layers; d <= st->max_layers; d++) {
            uint64_t p = pow_sat((uint64_t)st->n_choices, d);
            if (p == UINT64_MAX || __builtin_add_overflow(sum, p, &sum)) return UINT64_MAX;
        }
        if (__builtin_mul_overflow(total, sum, &total)) return UINT64_MAX;
    }
    return total;
}

/* ---------------------------------------------------------------------- */
/* unit subgraphs                                                          */

/* Advances a depth tuple to the next one (lexicographic, first stage most
 * significant) with the same total. Returns 0 when there is none. */
static int next_depth_tuple(const struct ab_space *sp, const struct ab_unit *un,
                            uint8_t *depth, int total)
{
    /* Brute force over the odometer: units hold few stages. */
    for (;;) {
        int k = un->n_stages - 1;
        while (k >= 0) {
            const struct ab_stage *st = &sp->stages[un->first + k];
            if (depth[k] < st->max_layers) {
                depth[k]++;
                break;
            }
            depth[k] = (uint8_t)st->min_layers;
            k--;
        }
        if (k < 0) return 0;
        int sum = 0;
        for (int i = 0; i < un->n_stages; i++) sum += depth[i];
        if (sum == total) return 1;
    }
}

ab_status ab_space_unit_subgraph(const struct ab_space *sp, int u, uint64_t index,
                                 struct ab_subgraph *out)
{
    ab_status rc = AB_OK;
    const struct ab_unit *un;
    int min_total = 0, max_total = 0;
    AB_CHECK(u >= 0 && u < sp->n_units, AB_ERR_INPUT,
             "unit %d does not exist; space '%s' has units 1 to %d", u + 1,
             sp->name, sp->n_units);
    un = &sp->units[u];
    AB_CHECK(index < ab_space_unit_count_full(sp, u), AB_ERR_INPUT,
             "subgraph index %llu is out of range for unit %d of space '%s'",
             (unsigned long long)index, u + 1, sp->name);
    if (sp->unet) return ab_sdunet_unit_subgraph(sp, u, index, out);
    memset(out, 0, sizeof *out);
    out->unit = u;
    out->n_stages = un->n_stages;
    for (int k = 0; k < un->n_stages; k++) {
        min_total += sp->stages[un->first + k].min_layers;
        max_total += sp->stages[un->first + k].max_layers;
    }
    for (int total = min_total; total <= max_total; total++) {
        uint8_t depth[AB_MAX_STAGES];
        for (int k = 0; k < un->n_stages; k++)
            depth[k] = (uint8_t)sp->stages[un->first + k].min_layers;
        int sum = min_total;
        int have = (sum == total) ? 1 : next_depth_tuple(sp, un, depth, total);
        while (have) {
            uint64_t count = 1;
            for (int k = 0; k < un->n_stages; k++)
                count *= pow_sat((uint64_t)sp->stages[un->first + k].n_choices, depth[k]);
            if (index < count) {
                /* mixed radix, the unit's first layer most significant */
                for (int k = un->n_stages - 1; k >= 0; k--) {
                    uint64_t n = (uint64_t)sp->stages[un->first + k].n_choices;
                    out->depth[k] = depth[k];
                    for (int l = depth[k] - 1; l >= 0; l--) {
                        out->choice[k][l] = (uint8_t)(index % n);
                        index /= n;
                    }
                }
                goto cleanup;
            }
            index -= count;
            have = next_depth_tuple(sp, un, depth, total);
        }
    }
    AB_ASSERT(0);
cleanup:
    return rc;
}

uint64_t ab_space_unit_subgraph_index(const struct ab_space *sp, const struct ab_subgraph *g)
{
    const struct ab_unit *un = &sp->units[g->unit];
    int min_total = 0, total = 0;
    uint64_t index = 0;
    if (sp->unet) return ab_sdunet_unit_subgraph_index(sp, g);
    for (int k = 0; k < un->n_stages; k++) {
        min_total += sp->stages[un->first + k].min_layers;
        total += g->depth[k];
    }
    /* every depth tuple of a smaller total, and of the same total but
     * earlier (lexicographically), comes first */
    for (int t = min_total; t <= total; t++) {
        uint8_t depth[AB_MAX_STAGES];
        for (int k = 0; k < un->n_stages; k++)
            depth[k] = (uint8_t)sp->stages[un->first + k].min_layers;
        int have = (min_total == t) ? 1 : next_depth_tuple(sp, un, depth, t);
        while (have) {
            if (t == total && !memcmp(depth, g->depth, (size_t)un->n_stages)) goto found;
            uint64_t count = 1;
            for (int k = 0; k < un->n_stages; k++)
                count *= pow_sat((uint64_t)sp->stages[un->first + k].n_choices, depth[k]);
            index += count;
            have = next_depth_tuple(sp, un, depth, t);
        }
    }
found:;
    uint64_t digits = 0;
    for (int k = 0; k < un->n_stages; k++) {
        uint64_t n = (uint64_t)sp->stages[un->first + k].n_choices;
        for (int l = 0; l < g->depth[k]; l++) digits = digits * n + g->choice[k][l];
    }
    return index + digits;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ab_space_unit_allows(const struct ab_space *sp, int u, uint64_t index)
{
    if (!sp->reduced) return 1;
    return bsearch(&index, sp->allowed[u].index, (size_t)sp->allowed[u].n, sizeof(uint64_t),
                   cmp_u64) != NULL;
}

size_t ab_subgraph_format_json(const struct ab_space *sp, const struct ab_subgraph *g, char *buf,
                               size_t cap)
{
    size_t len = 0;
    char tmp[1];
    if (!cap) {
        buf = tmp;
        cap = 1;
    }
#define PUTS(str)                                                              \
    do {                                                                       \
        const char *p_ = (str);                                                \
        for (; *p_; p_++, len++)                                               \
            if (len + 1 < cap) buf[len] = *p_;                                 \
    } while (0)
    PUTS("[");
    for (int k = 0; k < g->n_stages; k++) {
        const struct ab_stage *st = &sp->stages[sp->units[g->unit].first + k];
        PUTS(k ? ",[" : "[");
        for (int l = 0; l < g->depth[k]; l++) {
            PUTS(l ? ",\"" : "\"");
            PUTS(st->choices[g->choice[k][l]].name);
            PUTS("\"");
        }
        PUTS("]");
    }
    PUTS("]");
#undef PUTS
    buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

ab_status ab_arch_read_jsonl(const struct ab_space *sp, const char *path, struct ab_arch **out,
                             long *n_out)
{
    ab_status rc = AB_OK;
    char *text = NULL;
    struct ab_arch *archs = NULL;
    long n = 0, cap = 0, line = 0;
    *out = NULL;
    *n_out = 0;
    AB_CALL(ab_fs_read_all(path, (size_t)1 << 32, &text, NULL));
    for (char *q = text, *nl; q && *q; q = nl ? nl + 1 : NULL) {
        nl = strchr(q, '\n');
        if (nl) *nl = '\0';
        line++;
        if (strspn(q, " \t\r") == strlen(q)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct ab_arch *na = realloc(archs, sizeof *na * (size_t)cap);
            AB_CHECK_ALLOC(na);
            archs = na;
        }
        if (ab_arch_parse_json(sp, q, &archs[n]) != AB_OK) {
            rc = ab_err_prefix("%s: line %ld", path, line);
            goto cleanup;
        }
        n++;
    }
    AB_CHECK(n > 0, AB_ERR_INPUT, "%s: no architectures (expected one JSON object per line)",
             path);
    *out = archs;
    *n_out = n;
    archs = NULL;
cleanup:
    free(archs);
    free(text);
    return rc;
}

void ab_arch_get_unit(const struct ab_space *sp, const struct ab_arch *a, int u,
                      struct ab_subgraph *out)
{
    const struct ab_unit *un = &sp->units[u];
    memset(out, 0, sizeof *out);
    out->unit = u;
    out->n_stages = un->n_stages;
    for (int k = 0; k < un->n_stages; k++) {
        out->depth[k] = a->depth[un->first + k];
        memcpy(out->choice[k], a->choice[un->first + k], AB_MAX_LAYERS);
    }
}

void ab_arch_set_unit(const struct ab_space *sp, struct ab_arch *a,
                      const struct ab_subgraph *g)
{
    const struct ab_unit *un = &sp->units[g->unit];
    for (int k = 0; k < un->n_stages; k++) {
        a->depth[un->first + k] = g->depth[k];
        memcpy(a->choice[un->first + k], g->choice[k], AB_MAX_LAYERS);
    }
}

/* ---------------------------------------------------------------------- */
/* architectures                                                           */

int ab_space_find_choice(const struct ab_space *sp, int s, const char *name)
{
    const struct ab_stage *st = &sp->stages[s];
    for (int c = 0; c < st->n_choices; c++)
        if (!strcmp(st->choices[c].name, name)) return c;
    return -1;
}

int ab_space_has_resolution(const struct ab_space *sp, int r)
{
    for (int i = 0; i < sp->n_resolutions; i++)
        if (sp->resolutions[i] == r) return 1;
    return 0;
}

/* "128 to 224 in steps of 4" or "160, 192, 224" */
static void describe_resolutions(const struct ab_space *sp, char *buf, size_t cap)
{
    int n = sp->n_resolutions, step = n > 1 ? sp->resolutions[1] - sp->resolutions[0] : 0;
    int regular = n > 2;
    for (int i = 1; i < n && regular; i++)
        regular = sp->resolutions[i] - sp->resolutions[i - 1] == step;
    if (regular) {
        snprintf(buf, cap, "%d to %d in steps of %d", sp->resolutions[0],
                 sp->resolutions[n - 1], step);
        return;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len + 16 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? ", " : "", sp->resolutions[i]);
}

ab_status ab_arch_validate(const struct ab_space *sp, const struct ab_arch *a)
{
    ab_status rc = AB_OK;
    char res[256];
    if (sp->n_resolutions > 0) {
        if (!ab_space_has_resolution(sp, a->resolution)) {
            describe_resolutions(sp, res, sizeof res);
            AB_FAIL(AB_ERR_INPUT,
                    "resolution %d is not allowed in space '%s' (allowed: %s)",
                    a->resolution, sp->name, res);
        }
    } else {
        AB_CHECK(a->resolution == 0, AB_ERR_INPUT,
                 "space '%s' has no input resolution, but the architecture gives %d",
                 sp->name, a->resolution);
    }
    /* U-Net spaces: block structure and channel rules, in U-Net terms */
    if (sp->unet) AB_CALL(ab_arch_check_constraints(sp, a));
    for (int s = 0; s < sp->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        AB_CHECK(a->depth[s] >= st->min_layers && a->depth[s] <= st->max_layers,
                 AB_ERR_INPUT, "stage %d has %d layers; space '%s' allows %d to %d there",
                 s + 1, a->depth[s], sp->name, st->min_layers, st->max_layers);
        for (int l = 0; l < a->depth[s]; l++)
            AB_CHECK(a->choice[s][l] < st->n_choices, AB_ERR_INPUT,
                     "stage %d layer %d: choice index %d is out of range (%d choices)",
                     s + 1, l + 1, a->choice[s][l], st->n_choices);
    }
    for (int s = sp->n_stages; s < AB_MAX_STAGES; s++)
        AB_CHECK(a->depth[s] == 0, AB_ERR_INPUT,
                 "the architecture has more than the %d stages of space '%s'",
                 sp->n_stages, sp->name);
    for (int u = 0; sp->reduced && u < sp->n_units; u++) {
        struct ab_subgraph g;
        ab_arch_get_unit(sp, a, u, &g);
        AB_CHECK(ab_space_unit_allows(sp, u, ab_space_unit_subgraph_index(sp, &g)), AB_ERR_INPUT,
                 "unit %d of the architecture is not in the reduced space %s", u + 1,
                 sp->reduced_source ? sp->reduced_source : "");
    }
cleanup:
    return rc;
}

int ab_arch_equal(const struct ab_arch *a, const struct ab_arch *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

int ab_arch_n_layers(const struct ab_space *sp, const struct ab_arch *a)
{
    int n = 0;
    for (int s = 0; s < sp->n_stages; s++) n += a->depth[s];
    return n;
}

/* Appends s to buf; names are restricted (space_yaml.c, space_ofa.c) to
 * characters that need no JSON escaping. */
#define PUT(str)                                                               \
    do {                                                                       \
        const char *p_ = (str);                                                \
        while (*p_) {                                                          \
            if (len + 1 < cap) buf[len] = *p_;                                 \
            len++;                                                             \
            p_++;                                                              \
        }                                                                      \
    } while (0)

size_t ab_arch_format_json(const struct ab_space *sp, const struct ab_arch *a,
                           char *buf, size_t cap)
{
    size_t len = 0;
    char num[32];
    PUT("{\"space\":\"");
    PUT(sp->name);
    PUT("\"");
    if (sp->n_resolutions > 0) {
        snprintf(num, sizeof num, ",\"resolution\":%d", a->resolution);
        PUT(num);
    }
    PUT(",\"stages\":[");
    for (int s = 0; s < sp->n_stages; s++) {
        PUT(s ? ",[" : "[");
        for (int l = 0; l < a->depth[s]; l++) {
            PUT(l ? ",\"" : "\"");
            PUT(sp->stages[s].choices[a->choice[s][l]].name);
            PUT("\"");
        }
        PUT("]");
    }
    PUT("]}");
    if (cap) buf[len < cap ? len : cap - 1] = '\0';
    return len;
}
#undef PUT

char *ab_arch_to_json(const struct ab_space *sp, const struct ab_arch *a)
{
    size_t need = ab_arch_format_json(sp, a, NULL, 0);
    char *buf = malloc(need + 1);
    if (buf) ab_arch_format_json(sp, a, buf, need + 1);
    return buf;
}

uint64_t ab_arch_hash(const struct ab_space *sp, const struct ab_arch *a)
{
    char stackbuf[4096];
    size_t n = ab_arch_format_json(sp, a, stackbuf, sizeof stackbuf);
    char *buf = stackbuf;
    uint64_t h = 0xcbf29ce484222325ULL;
    if (n >= sizeof stackbuf) {
        buf = ab_arch_to_json(sp, a);
        if (!buf) return 0;
    }
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)buf[i];
        h *= 0x100000001b3ULL;
    }
    if (buf != stackbuf) free(buf);
    return h;
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Fills the stages of `out` from a JSON array of arrays of block strings. */
static ab_status parse_stages(const struct ab_space *sp, const json_t *stages,
                              struct ab_arch *out)
{
    ab_status rc = AB_OK;
    AB_CHECK(json_is_array(stages), AB_ERR_INPUT,
             "\"stages\" must be an array of %d arrays of block strings, got %s",
             sp->n_stages, json_type_name(stages));
    AB_CHECK((int)json_array_size(stages) == sp->n_stages, AB_ERR_INPUT,
             "\"stages\" has %zu stages; space '%s' has %d", json_array_size(stages),
             sp->name, sp->n_stages);
    for (int s = 0; s < sp->n_stages; s++) {
        const json_t *st = json_array_get(stages, (size_t)s);
        const struct ab_stage *def = &sp->stages[s];
        AB_CHECK(json_is_array(st), AB_ERR_INPUT,
                 "stage %d must be an array of block strings, got %s", s + 1,
                 json_type_name(st));
        size_t n = json_array_size(st);
        /* U-Net spaces: ab_arch_validate explains wrong block counts */
        AB_CHECK(sp->unet ? n >= 1 && n <= AB_MAX_LAYERS
                          : (int)n >= def->min_layers && (int)n <= def->max_layers,
                 AB_ERR_INPUT, "stage %d has %zu layers; space '%s' allows %d to %d there",
                 s + 1, n, sp->name, def->min_layers, def->max_layers);
        out->depth[s] = (uint8_t)n;
        for (size_t l = 0; l < n; l++) {
            const json_t *b = json_array_get(st, l);
            AB_CHECK(json_is_string(b), AB_ERR_INPUT,
                     "stage %d layer %zu must be a block string, got %s", s + 1, l + 1,
                     json_type_name(b));
            int c = ab_space_find_choice(sp, s, json_string_value(b));
            if (c < 0) {
                char allowed[512];
                size_t len = 0;
                allowed[0] = '\0';
                for (int k = 0; k < def->n_choices && len + 80 < sizeof allowed; k++)
                    len += (size_t)snprintf(allowed + len, sizeof allowed - len, "%s%s",
                                            k ? ", " : "", def->choices[k].name);
                AB_FAIL(AB_ERR_INPUT,
                        "stage %d layer %zu: unknown block '%.64s' (space '%s' allows: %s)",
                        s + 1, l + 1, json_string_value(b), sp->name, allowed);
            }
            out->choice[s][l] = (uint8_t)c;
        }
    }
cleanup:
    return rc;
}

static ab_status parse_resolution(const struct ab_space *sp, const json_t *r,
                                  struct ab_arch *out)
{
    ab_status rc = AB_OK;
    if (sp->n_resolutions == 0) {
        AB_CHECK(r == NULL, AB_ERR_INPUT,
                 "space '%s' has no input resolution; remove \"resolution\"", sp->name);
        goto cleanup;
    }
    AB_CHECK(r != NULL, AB_ERR_INPUT, "missing \"resolution\" (space '%s' needs one)",
             sp->name);
    AB_CHECK(json_is_integer(r) && json_integer_value(r) > 0 &&
                 json_integer_value(r) < 100000,
             AB_ERR_INPUT, "\"resolution\" must be a positive integer, got %s",
             json_type_name(r));
    out->resolution = (int)json_integer_value(r);
cleanup:
    return rc;
}

ab_status ab_arch_parse_json(const struct ab_space *sp, const char *text,
                             struct ab_arch *out)
{
    ab_status rc = AB_OK;
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    memset(out, 0, sizeof *out);
    AB_CHECK(root != NULL, AB_ERR_INPUT, "invalid JSON at column %d: %s", jerr.column,
             jerr.text);
    if (json_is_array(root)) {
        /* The authors' interchange form: [resolution, [[blocks], ...]]. */
        AB_CHECK(json_array_size(root) == 2, AB_ERR_INPUT,
                 "an architecture array must be [resolution, stages]");
        AB_CALL(parse_resolution(sp, json_array_get(root, 0), out));
        AB_CALL(parse_stages(sp, json_array_get(root, 1), out));
    } else {
        const char *key;
        json_t *val;
        AB_CHECK(json_is_object(root), AB_ERR_INPUT,
                 "an architecture must be a JSON object like "
                 "{\"space\":...,\"stages\":[...]}, got %s", json_type_name(root));
        json_object_foreach(root, key, val) {
            AB_CHECK(!strcmp(key, "space") || !strcmp(key, "stages") ||
                         !strcmp(key, "resolution"),
                     AB_ERR_INPUT,
                     "unknown key \"%.64s\" (expected \"space\", \"resolution\", \"stages\")",
                     key);
        }
        val = json_object_get(root, "space");
        AB_CHECK(val != NULL, AB_ERR_INPUT, "missing \"space\" (expected \"%s\")", sp->name);
        AB_CHECK(json_is_string(val), AB_ERR_INPUT, "\"space\" must be a string");
        AB_CHECK(!strcmp(json_string_value(val), sp->name), AB_ERR_INPUT,
                 "the architecture is of space '%.64s', expected '%s'",
                 json_string_value(val), sp->name);
        AB_CALL(parse_resolution(sp, json_object_get(root, "resolution"), out));
        val = json_object_get(root, "stages");
        AB_CHECK(val != NULL, AB_ERR_INPUT, "missing \"stages\"");
        AB_CALL(parse_stages(sp, val, out));
    }
    AB_CALL(ab_arch_validate(sp, out));
cleanup:
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* sampling                                                                */

void ab_arch_sample(const struct ab_space *sp, struct ab_rng *rng,
                    const int *resolutions, int n, struct ab_arch *out)
{
    memset(out, 0, sizeof *out);
    if (!resolutions || n <= 0) {
        resolutions = sp->sample_resolutions;
        n = sp->n_sample_resolutions;
    }
    if (n > 0) out->resolution = resolutions[ab_rng_below(rng, (uint64_t)n)];
    if (sp->unet) { /* coupled units: constructive, uniform over valid archs */
        int r = out->resolution;
        ab_sdunet_sample(sp, rng, out);
        out->resolution = r;
        return;
    }
    if (sp->reduced) {
        for (int u = 0; u < sp->n_units; u++) {
            struct ab_subgraph g;
            uint64_t pick = sp->allowed[u].index[ab_rng_below(rng, sp->allowed[u].n)];
            if (ab_space_unit_subgraph(sp, u, pick, &g) == AB_OK) ab_arch_set_unit(sp, out, &g);
        }
        return;
    }
    for (int s = 0; s < sp->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        int span = st->max_layers - st->min_layers + 1;
        out->depth[s] = (uint8_t)(st->min_layers + (int)ab_rng_below(rng, (uint64_t)span));
        for (int l = 0; l < out->depth[s]; l++)
            out->choice[s][l] = (uint8_t)ab_rng_below(rng, (uint64_t)st->n_choices);
    }
}

ab_status ab_arch_sample_unique(const struct ab_space *sp, long n, uint64_t seed,
                                const int *res, int n_res, struct ab_arch **out)
{
    ab_status rc = AB_OK;
    struct ab_rng rng;
    struct ab_u64map seen = {0};
    struct ab_arch *archs = NULL;
    long have = 0, tries = 0;
    int n_drawn = n_res > 0 ? n_res : sp->n_sample_resolutions;
    double lg = ab_space_size_log10(sp) + log10(n_drawn > 0 ? n_drawn : 1);
    *out = NULL;
    AB_CHECK(lg > 15 || (double)n <= pow(10.0, lg) + 0.5, AB_ERR_INPUT,
             "space '%s' holds only %.0f architectures at the sampled resolutions; ask for at "
             "most that many", sp->name, pow(10.0, lg));
    archs = malloc(sizeof *archs * (size_t)(n ? n : 1));
    AB_CHECK_ALLOC(archs);
    AB_CALL(ab_u64map_init(&seen, (uint64_t)n));
    ab_rng_seed(&rng, seed);
    while (have < n) {
        int64_t prev;
        AB_CHECK(++tries <= 1000 * n + 100000, AB_ERR_INPUT,
                 "found only %ld unique architectures after %ld draws; ask for fewer", have,
                 tries - 1);
        ab_arch_sample(sp, &rng, res, n_res, &archs[have]);
        int put = ab_u64map_put(&seen, ab_arch_hash(sp, &archs[have]), have, &prev);
        AB_CHECK(put >= 0, AB_ERR_NOMEM, "out of memory");
        if (put == 0) have++;
    }
    *out = archs;
    archs = NULL;
cleanup:
    free(archs);
    ab_u64map_free(&seen);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* opening                                                                 */

ab_status ab_space_open(const char *name_or_path, struct ab_space **out)
{
    ab_status rc = AB_OK;
    FILE *f = NULL;
    char *text = NULL;
    size_t len = 0, n;
    size_t l = strlen(name_or_path);
    int is_file = strchr(name_or_path, '/') != NULL ||
                  (l > 5 && !strcmp(name_or_path + l - 5, ".yaml")) ||
                  (l > 4 && !strcmp(name_or_path + l - 4, ".yml"));
    *out = NULL;
    if (l > 3 && !strcmp(name_or_path + l - 3, ".h5")) return ab_reduced_space_load(name_or_path, out);
    if (!is_file) return ab_space_create_builtin(name_or_path, out);
    f = fopen(name_or_path, "rb");
    AB_CHECK(f != NULL, AB_ERR_INPUT, "%s: cannot open the space file", name_or_path);
    text = malloc(1 << 20);
    AB_CHECK_ALLOC(text);
    n = fread(text, 1, (1 << 20), f);
    AB_CHECK(!ferror(f), AB_ERR_IO, "%s: read error", name_or_path);
    AB_CHECK(n < (1 << 20), AB_ERR_INPUT, "%s: a space file must be under 1 MiB",
             name_or_path);
    len = n;
    if (ab_sdunet_yaml_claims(text, len)) /* a `unet:` block: space_sdunet.c */
        AB_CALL(ab_sdunet_from_yaml(text, len, name_or_path, out));
    else
        AB_CALL(ab_space_from_yaml(text, len, name_or_path, out));
cleanup:
    if (f) fclose(f);
    free(text);
    return rc;
}

ab_status ab_space_from_definition(const char *def, const char *origin,
                                   struct ab_space **out)
{
    ab_status rc = AB_OK;
    *out = NULL;
    if (!strncmp(def, "{\"builtin\":\"", 12)) {
        char name[64];
        const char *end = strchr(def + 12, '"');
        AB_CHECK(end && end - (def + 12) < (long)sizeof name, AB_ERR_INPUT,
                 "%s: malformed space definition", origin);
        memcpy(name, def + 12, (size_t)(end - (def + 12)));
        name[end - (def + 12)] = '\0';
        AB_CALL(ab_space_create_builtin(name, out));
    } else if (ab_sdunet_yaml_claims(def, strlen(def))) {
        AB_CALL(ab_sdunet_from_yaml(def, strlen(def), origin, out));
    } else {
        AB_CALL(ab_space_from_yaml(def, strlen(def), origin, out));
    }
cleanup:
    return rc;
}
