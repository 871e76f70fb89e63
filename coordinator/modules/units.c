/* SPDX-License-Identifier: MIT
 *
 * This file implements module scoring (units.h) and units files
 * (hdf5-schemas/units.md).
 */
#include "modules/units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "util/fsutil.h"

#define FORMAT "autobuild-units"
#define VERSION 1

void ab_units_destroy(struct ab_units **up)
{
    struct ab_units *us;
    if (!up || !*up) return;
    us = *up;
    for (int u = 0; u < AB_MAX_STAGES; u++) {
        free(us->u[u].index);
        free(us->u[u].score);
        free(us->u[u].raw);
        free(us->u[u].nodes);
    }
    ab_space_destroy(&us->space);
    free(us->target);
    free(us->predictor);
    free(us);
    *up = NULL;
}

static ab_status alloc_unit(struct ab_unit_scores *s, long n)
{
    s->n = n;
    s->index = malloc(sizeof *s->index * (size_t)(n ? n : 1));
    s->score = malloc(sizeof *s->score * (size_t)(n ? n : 1));
    s->raw = malloc(sizeof *s->raw * (size_t)(n ? n : 1));
    s->nodes = malloc(sizeof *s->nodes * (size_t)(n ? n : 1));
    if (!s->index || !s->score || !s->raw || !s->nodes)
        return ab_err_set(AB_ERR_NOMEM, "out of memory for %ld unit scores", n);
    return AB_OK;
}

/* Sorts a unit's arrays by score, best first (ties by index). */
static const struct ab_unit_scores *sort_src;
static int by_score(const void *a, const void *b)
{
    long i = *(const long *)a, j = *(const long *)b;
    double x = sort_src->score[i], y = sort_src->score[j];
    if (x > y) return -1;
    if (x < y) return 1;
    return sort_src->index[i] < sort_src->index[j] ? -1 : 1;
}

static ab_status sort_unit(struct ab_unit_scores *s)
{
    ab_status rc = AB_OK;
    long *order = malloc(sizeof *order * (size_t)(s->n ? s->n : 1));
    struct ab_unit_scores t = {0};
    AB_CHECK_ALLOC(order);
    for (long i = 0; i < s->n; i++) order[i] = i;
    sort_src = s;
    qsort(order, (size_t)s->n, sizeof *order, by_score);
    AB_CALL(alloc_unit(&t, s->n));
    for (long i = 0; i < s->n; i++) {
        t.index[i] = s->index[order[i]];
        t.score[i] = s->score[order[i]];
        t.raw[i] = s->raw[order[i]];
        t.nodes[i] = s->nodes[order[i]];
    }
    free(s->index);
    free(s->score);
    free(s->raw);
    free(s->nodes);
    *s = t;
    memset(&t, 0, sizeof t);
cleanup:
    free(t.index);
    free(t.score);
    free(t.raw);
    free(t.nodes);
    free(order);
    return rc;
}

ab_status ab_units_score(struct ab_predictor *p, const char *predictor_path, int resolution,
                         int batch, struct ab_units **out)
{
    ab_status rc = AB_OK;
    struct ab_units *us = NULL;
    struct ab_pred_ws *ws = NULL;
    struct ab_graph_batch *b = NULL;
    const struct ab_space *sp = p->space;
    const int L = p->cfg.layers;
    *out = NULL;
    AB_CHECK(batch >= 1, AB_ERR_INPUT, "the scoring batch must hold at least 1 subgraph");
    us = calloc(1, sizeof *us);
    AB_CHECK_ALLOC(us);
    AB_CALL(ab_space_from_definition(sp->definition, sp->source, &us->space));
    us->target = strdup(p->target ? p->target : "");
    us->predictor = strdup(predictor_path ? predictor_path : "");
    AB_CHECK(us->target && us->predictor, AB_ERR_NOMEM, "out of memory");
    us->resolution = resolution;
    us->n_units = sp->n_units;
    AB_CALL(ab_pred_ws_create(p, &ws));
    AB_CALL(ab_pred_ws_set_threads(p, ws, p->threads));
    AB_CALL(ab_graph_batch_create(p->n_fe, &b));
    for (int u = 0; u < sp->n_units; u++) {
        uint64_t count = ab_space_unit_count_full(sp, u);
        struct ab_unit_scores *s = &us->u[u];
        AB_CHECK(count < (1ULL << 31), AB_ERR_INPUT,
                 "unit %d of space '%s' has %llu subgraphs; scoring enumerates at most 2^31", u + 1,
                 sp->name, (unsigned long long)count);
        AB_CALL(alloc_unit(s, (long)count));
        for (uint64_t lo = 0; lo < count; lo += (uint64_t)batch) {
            uint64_t hi = lo + (uint64_t)batch < count ? lo + (uint64_t)batch : count;
            ab_graph_batch_clear(b);
            for (uint64_t i = lo; i < hi; i++) {
                struct ab_subgraph g;
                AB_CALL(ab_space_unit_subgraph(sp, u, i, &g));
                AB_CALL(ab_graph_batch_add_subgraph(b, sp, &g, resolution));
            }
            AB_CALL(ab_pred_forward(p, ws, b, 0));
            for (uint64_t i = lo; i < hi; i++) {
                int gi = (int)(i - lo), n = b->graph_ptr[gi + 1] - b->graph_ptr[gi];
                int hop = n - 1 < L ? n - 1 : L, width;
                const float *h = ab_pred_node_embeddings(p, ws, hop, &width);
                const float *row = h + (size_t)(b->graph_ptr[gi + 1] - 1) * (size_t)width;
                double norm = 0;
                for (int k = 0; k < width; k++)
                    norm += p->cfg.norm_ord == 2 ? (double)row[k] * row[k] : fabs(row[k]);
                if (p->cfg.norm_ord == 2) norm = sqrt(norm);
                /* Eq. 5: standardise within the hop, then give the unit's
                 * label moments for subgraphs of this size */
                double mu = p->hop_mean[hop], sd = p->hop_std[hop] > 0 ? p->hop_std[hop] : 1.0;
                double smu = 0.0, ssd = 1.0;
                if (p->stage_moments && u < p->stage_units && n - 1 < p->stage_hmax) {
                    const double *m = p->stage_moments + 2 * ((size_t)u * (size_t)p->stage_hmax +
                                                              (size_t)(n - 1));
                    smu = m[0];
                    ssd = m[1];
                }
                s->index[i] = i;
                s->raw[i] = norm;
                s->nodes[i] = n;
                s->score[i] = (norm - mu) / sd * ssd + smu;
            }
        }
        AB_CALL(sort_unit(s));
    }
    *out = us;
    us = NULL;
cleanup:
    ab_graph_batch_destroy(&b);
    ab_pred_ws_destroy(&ws);
    ab_units_destroy(&us);
    return rc;
}

/* ---- files ----------------------------------------------------------------- */

static ab_status write_1d(hid_t loc, const char *name, hid_t ft, hid_t mt, const void *v,
                          hsize_t n)
{
    ab_status rc = AB_OK;
    hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID;
    AB_H5(s = H5Screate_simple(1, &n, NULL), "%s", name);
    AB_H5(d = H5Dcreate2(loc, name, ft, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "%s", name);
    AB_H5(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "%s", name);
cleanup:
    ab_h5_close(&d);
    ab_h5_close(&s);
    return rc;
}

ab_status ab_units_save(const struct ab_units *us, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096], name[64];
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char **text = NULL;
    long n_text = 0;
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create", tmp);
    AB_CALL(ab_h5_write_identity(f, FORMAT, VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "space", us->space->name));
    AB_CALL(ab_h5_write_str_attr(f, "space_definition", us->space->definition));
    AB_CALL(ab_h5_write_str_attr(f, "target", us->target));
    AB_CALL(ab_h5_write_str_attr(f, "predictor", us->predictor));
    AB_CALL(ab_h5_write_i64_attr(f, "resolution", us->resolution));
    AB_CALL(ab_h5_write_i64_attr(f, "n_units", us->n_units));
    for (int u = 0; u < us->n_units; u++) {
        const struct ab_unit_scores *s = &us->u[u];
        snprintf(name, sizeof name, "unit_%d", u + 1);
        AB_H5(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "%s", name);
        AB_CALL(write_1d(g, "index", H5T_STD_U64LE, H5T_NATIVE_UINT64, s->index, (hsize_t)s->n));
        AB_CALL(write_1d(g, "score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s->score, (hsize_t)s->n));
        AB_CALL(write_1d(g, "raw", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s->raw, (hsize_t)s->n));
        AB_CALL(write_1d(g, "nodes", H5T_STD_I32LE, H5T_NATIVE_INT, s->nodes, (hsize_t)s->n));
        text = calloc((size_t)s->n + 1, sizeof *text);
        AB_CHECK_ALLOC(text);
        n_text = s->n;
        for (long i = 0; i < s->n; i++) {
            struct ab_subgraph sg;
            char buf[2048];
            AB_CALL(ab_space_unit_subgraph(us->space, u, s->index[i], &sg));
            ab_subgraph_format_json(us->space, &sg, buf, sizeof buf);
            text[i] = strdup(buf);
            AB_CHECK_ALLOC(text[i]);
        }
        AB_CALL(ab_h5_write_strings(g, "subgraph", (const char *const *)text, s->n));
        ab_h5_free_strings(text, n_text);
        text = NULL;
        ab_h5_close(&g);
    }
    AB_H5(H5Fclose(f), "%s: cannot close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    ab_h5_free_strings(text, n_text);
    ab_h5_close(&g);
    if (rc) {
        ab_h5_close(&f);
        unlink(tmp);
    }
    return rc;
}

static ab_status read_1d(hid_t loc, const char *path, const char *name, hid_t mt, void *v,
                         hsize_t n)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, s = H5I_INVALID_HID;
    hsize_t got = 0;
    AB_CHECK(H5Lexists(loc, name, H5P_DEFAULT) > 0, AB_ERR_INPUT, "%s: missing dataset '%s'",
             path, name);
    AB_H5R(d = H5Dopen2(loc, name, H5P_DEFAULT), "%s: %s", path, name);
    AB_H5R(s = H5Dget_space(d), "%s: %s", path, name);
    AB_CHECK(H5Sget_simple_extent_ndims(s) == 1, AB_ERR_INPUT, "%s: %s must be a list", path, name);
    H5Sget_simple_extent_dims(s, &got, NULL);
    AB_CHECK(got == n, AB_ERR_INPUT, "%s: %s has %llu entries, expected %llu", path, name,
             (unsigned long long)got, (unsigned long long)n);
    AB_H5R(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "%s: reading %s", path, name);
cleanup:
    ab_h5_close(&s);
    ab_h5_close(&d);
    return rc;
}

ab_status ab_units_load(const char *path, struct ab_units **out)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    struct ab_units *us = NULL;
    char *def = NULL, name[64];
    unsigned char *seen = NULL;
    int64_t v;
    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, FORMAT, VERSION, &f, NULL));
    us = calloc(1, sizeof *us);
    AB_CHECK_ALLOC(us);
    if (ab_h5_read_str_attr(f, "space_definition", &def) ||
        ab_h5_read_str_attr(f, "target", &us->target) ||
        ab_h5_read_str_attr(f, "predictor", &us->predictor) ||
        ab_h5_read_i64_attr(f, "resolution", &v)) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    us->resolution = (int)v;
    if (ab_space_from_definition(def, path, &us->space)) {
        rc = ab_err_prefix("%s: the stored space definition", path);
        goto cleanup;
    }
    us->n_units = us->space->n_units;
    for (int u = 0; u < us->n_units; u++) {
        struct ab_unit_scores *s = &us->u[u];
        uint64_t full = ab_space_unit_count_full(us->space, u);
        snprintf(name, sizeof name, "unit_%d", u + 1);
        AB_CHECK(H5Lexists(f, name, H5P_DEFAULT) > 0, AB_ERR_INPUT, "%s: missing group '%s'", path,
                 name);
        AB_H5R(g = H5Gopen2(f, name, H5P_DEFAULT), "%s: %s", path, name);
        AB_CHECK(full < (1ULL << 31), AB_ERR_INPUT, "%s: unit %d is too large", path, u + 1);
        AB_CALL(alloc_unit(s, (long)full));
        AB_CALL(read_1d(g, path, "index", H5T_NATIVE_UINT64, s->index, full));
        AB_CALL(read_1d(g, path, "score", H5T_NATIVE_DOUBLE, s->score, full));
        AB_CALL(read_1d(g, path, "raw", H5T_NATIVE_DOUBLE, s->raw, full));
        AB_CALL(read_1d(g, path, "nodes", H5T_NATIVE_INT, s->nodes, full));
        seen = calloc((size_t)full, 1);
        AB_CHECK_ALLOC(seen);
        for (uint64_t i = 0; i < full; i++) {
            AB_CHECK(s->index[i] >= full || !seen[s->index[i]], AB_ERR_INPUT,
                     "%s: unit %d lists subgraph %llu twice", path, u + 1,
                     (unsigned long long)s->index[i]);
            if (s->index[i] < full) seen[s->index[i]] = 1;
            AB_CHECK(s->index[i] < full && isfinite(s->score[i]), AB_ERR_INPUT,
                     "%s: unit %d entry %llu is invalid", path, u + 1, (unsigned long long)i);
            AB_CHECK(i == 0 || s->score[i] <= s->score[i - 1], AB_ERR_INPUT,
                     "%s: unit %d is not sorted by score", path, u + 1);
        }
        free(seen);
        seen = NULL;
        ab_h5_close(&g);
    }
    *out = us;
    us = NULL;
cleanup:
    free(def);
    free(seen);
    ab_h5_close(&g);
    ab_h5_close(&f);
    ab_units_destroy(&us);
    return rc;
}

ab_status ab_units_score_ensemble(struct ab_predictor **member, int n_members,
                                  const char *path, int resolution, int batch,
                                  struct ab_units **out)
{
    ab_status rc = AB_OK;
    struct ab_units *acc = NULL, *one = NULL;
    double *sum = NULL, *raw = NULL;
    *out = NULL;
    for (int m = 0; m < n_members; m++) {
        struct ab_predictor *p = member[m];
        const int L = p->cfg.layers;
        AB_CALL(ab_units_score(p, path, resolution, batch, &one));
        if (!acc) {
            acc = one;
            one = NULL;
            for (int u = 0; u < acc->n_units; u++) {
                /* reuse acc's arrays: score/raw are rebuilt below by index */
                struct ab_unit_scores *s = &acc->u[u];
                double *sc = calloc((size_t)s->n, sizeof(double));
                double *rw = calloc((size_t)s->n, sizeof(double));
                int *nd = calloc((size_t)s->n, sizeof(int));
                AB_CHECK(sc && rw && nd, AB_ERR_NOMEM, "out of memory");
                for (long i = 0; i < s->n; i++) {
                    sc[s->index[i]] = s->score[i];
                    rw[s->index[i]] = s->raw[i];
                    nd[s->index[i]] = s->nodes[i];
                }
                for (long i = 0; i < s->n; i++) s->index[i] = (uint64_t)i;
                free(s->score);
                free(s->raw);
                free(s->nodes);
                s->score = sc; /* member 0's scores, by index; standardised below */
                s->raw = rw;
                s->nodes = nd;
            }
            one = NULL;
        }
        for (int u = 0; u < acc->n_units; u++) {
            struct ab_unit_scores *a = &acc->u[u];
            /* this member's scores by subgraph index */
            const struct ab_unit_scores *s = m == 0 ? NULL : &one->u[u];
            long n = a->n;
            free(sum);
            free(raw);
            sum = malloc(sizeof(double) * (size_t)n);
            raw = malloc(sizeof(double) * (size_t)n);
            AB_CHECK(sum && raw, AB_ERR_NOMEM, "out of memory");
            if (s) {
                for (long i = 0; i < n; i++) {
                    sum[s->index[i]] = s->score[i];
                    raw[s->index[i]] = s->raw[i];
                }
            } else {
                memcpy(sum, a->score, sizeof(double) * (size_t)n);
                memcpy(raw, a->raw, sizeof(double) * (size_t)n);
                memset(a->score, 0, sizeof(double) * (size_t)n);
                memset(a->raw, 0, sizeof(double) * (size_t)n);
            }
            /* standardise this member's scores over the unit, weight each
             * subgraph by the member's held-out SRCC at its hop */
            double mean = 0, var = 0;
            for (long i = 0; i < n; i++) mean += sum[i];
            mean /= n;
            for (long i = 0; i < n; i++) var += (sum[i] - mean) * (sum[i] - mean);
            double sd = n > 1 ? sqrt(var / n) : 1.0;
            if (!(sd > 0)) sd = 1.0;
            for (long i = 0; i < n; i++) {
                int hop = a->nodes[i] - 1 < L ? a->nodes[i] - 1 : L;
                double w = p->hop_srcc[hop];
                if (!isfinite(w) || w < 0) w = 0;
                a->score[i] += w * (sum[i] - mean) / sd;
                a->raw[i] += raw[i] / n_members;
            }
        }
        ab_units_destroy(&one);
    }
    AB_CHECK(acc != NULL, AB_ERR_INPUT, "an ensemble needs at least one member");
    for (int u = 0; u < acc->n_units; u++) AB_CALL(sort_unit(&acc->u[u]));
    *out = acc;
    acc = NULL;
cleanup:
    free(sum);
    free(raw);
    ab_units_destroy(&one);
    ab_units_destroy(&acc);
    return rc;
}

/* ---- reduced spaces ------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted, repeat-free union of the top-K subgraphs of unit u over the
 * files into sp->allowed[u]. */
static ab_status reduce_unit(struct ab_units *const *us, int n_files, int u, int k,
                             int constrained, struct ab_space *sp)
{
    /* sizes 1..AB_MAX_STAGES*AB_MAX_LAYERS: constrained keeps K of each */
    long cap = (long)k * n_files * (constrained ? AB_MAX_STAGES * AB_MAX_LAYERS : 1);
    uint64_t *set = malloc(sizeof(uint64_t) * (size_t)cap), n = 0, m = 0;
    if (!set) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (int f = 0; f < n_files; f++) {
        int taken[AB_MAX_STAGES * AB_MAX_LAYERS + 1] = {0};
        for (long i = 0, got = 0; i < us[f]->u[u].n && (constrained || got < k); i++) {
            int c = us[f]->u[u].nodes[i];
            if (constrained) {
                if (c < 1 || c > AB_MAX_STAGES * AB_MAX_LAYERS || taken[c] >= k) continue;
                taken[c]++;
            }
            set[n++] = us[f]->u[u].index[i];
            got++;
        }
    }
    qsort(set, (size_t)n, sizeof *set, cmp_u64);
    for (uint64_t i = 0; i < n; i++)
        if (m == 0 || set[i] != set[m - 1]) set[m++] = set[i];
    sp->allowed[u].index = set;
    sp->allowed[u].n = m;
    return AB_OK;
}

ab_status ab_units_reduce(struct ab_units *const *us, int n_files, const int *ks, int n_k,
                          int constrained, const int *res, int n_res, const char *source,
                          struct ab_space **out)
{
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    int one_res;
    *out = NULL;
    AB_CHECK(n_files >= 1, AB_ERR_INPUT, "a reduced space needs at least one units file");
    for (int f = 1; f < n_files; f++)
        AB_CHECK(!strcmp(us[f]->space->definition, us[0]->space->definition), AB_ERR_INPUT,
                 "units file %d is of space '%s', the first of '%s'; give units files of one "
                 "space", f + 1, us[f]->space->name, us[0]->space->name);
    AB_CALL(ab_space_from_definition(us[0]->space->definition, source, &sp));
    AB_CHECK(n_k == 1 || n_k == sp->n_units, AB_ERR_INPUT,
             "k: give one K or one per unit (%d units), got %d values", sp->n_units, n_k);
    for (int u = 0; u < sp->n_units; u++) {
        int k = n_k == 1 ? ks[0] : ks[u];
        AB_CHECK(k >= 1, AB_ERR_INPUT, "k must be at least 1, got %d", k);
        AB_CALL(reduce_unit(us, n_files, u, k, constrained, sp));
    }
    sp->reduced = 1;
    sp->reduced_source = strdup(source);
    AB_CHECK_ALLOC(sp->reduced_source);
    for (int i = 0; i < n_res; i++)
        AB_CHECK(ab_space_has_resolution(sp, res[i]), AB_ERR_INPUT,
                 "resolution %d is not a resolution of space '%s'", res[i], sp->name);
    if (n_res == 0 && us[0]->resolution > 0) {
        one_res = us[0]->resolution;
        res = &one_res;
        n_res = 1;
    }
    if (n_res > 0) {
        free(sp->sample_resolutions);
        sp->sample_resolutions = malloc(sizeof(int) * (size_t)n_res);
        AB_CHECK_ALLOC(sp->sample_resolutions);
        memcpy(sp->sample_resolutions, res, sizeof(int) * (size_t)n_res);
        sp->n_sample_resolutions = n_res;
    }
    *out = sp;
    sp = NULL;
cleanup:
    ab_space_destroy(&sp);
    return rc;
}
