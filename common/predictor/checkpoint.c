/* SPDX-License-Identifier: MIT
 *
 * This file implements reading and writing predictor checkpoints
 * (hdf5-schemas/predictor.md).
 */
#include "predictor/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "util/fsutil.h"

/* ---- small typed helpers ------------------------------------------------- */

/* Reads a dataset of exactly the expected shape. */
static ab_status read_array(hid_t loc, const char *path, const char *name, hid_t mtype,
                            void *data, int ndim, const hsize_t *dims)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t got[8] = {0};
    AB_CHECK(H5Lexists(loc, name, H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: missing dataset '%s'; is this a predictor for this model configuration?",
             path, name);
    AB_H5R(d = H5Dopen2(loc, name, H5P_DEFAULT), "%s: %s", path, name);
    AB_H5R(sp = H5Dget_space(d), "%s: %s", path, name);
    int nd = H5Sget_simple_extent_ndims(sp);
    AB_CHECK(nd == ndim, AB_ERR_INPUT, "%s: dataset '%s' has %d dimensions, expected %d", path,
             name, nd, ndim);
    H5Sget_simple_extent_dims(sp, got, NULL);
    for (int k = 0; k < ndim; k++)
        AB_CHECK(got[k] == dims[k], AB_ERR_INPUT,
                 "%s: dataset '%s' has extent %llu in dimension %d, expected %llu", path, name,
                 (unsigned long long)got[k], k + 1, (unsigned long long)dims[k]);
    AB_H5R(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "%s: reading %s", path,
           name);
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&d);
    return rc;
}

static const char *activ_name(float slope) { return slope == 0.0f ? "relu" : "leaky_relu"; }

/* ---- save ---------------------------------------------------------------- */

static ab_status write_all(const struct ab_predictor *p, hid_t f)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    const struct ab_pred_config *c = &p->cfg;
    const int L = c->layers;
    AB_CALL(ab_h5_write_identity(f, AB_PREDICTOR_FORMAT, AB_PREDICTOR_VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "space", p->space->name));
    AB_CALL(ab_h5_write_str_attr(f, "space_definition", p->space->definition));
    AB_CALL(ab_h5_write_str_attr(f, "target", p->target ? p->target : ""));
    AB_CALL(ab_h5_write_f64_attr(f, "label_mean", p->label_mean));
    AB_CALL(ab_h5_write_f64_attr(f, "label_std", p->label_std));

    AB_H5(g = H5Gcreate2(f, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "config");
    AB_CALL(ab_h5_write_str_attr(g, "gnn_type", c->gnn == AB_GNN_GATV2 ? "GATv2Conv" : "GraphConv"));
    AB_CALL(ab_h5_write_i64_attr(g, "hidden", c->hidden));
    AB_CALL(ab_h5_write_i64_attr(g, "layers", c->layers));
    AB_CALL(ab_h5_write_str_attr(g, "gnn_activ", activ_name(c->gnn_slope)));
    AB_CALL(ab_h5_write_f64_attr(g, "gnn_activ_slope", c->gnn_slope));
    AB_CALL(ab_h5_write_str_attr(g, "reg_activ", activ_name(c->reg_slope)));
    AB_CALL(ab_h5_write_f64_attr(g, "reg_activ_slope", c->reg_slope));
    AB_CALL(ab_h5_write_str_attr(g, "aggr", c->aggr_mean ? "mean" : "sum"));
    AB_CALL(ab_h5_write_i64_attr(g, "residual", c->residual));
    AB_CALL(ab_h5_write_i64_attr(g, "norm_ord", c->norm_ord));
    AB_CALL(ab_h5_write_f64_attr(g, "lambda", c->lambda));
    AB_CALL(ab_h5_write_f64_attr(g, "softrank_strength", c->strength));
    ab_h5_close(&g);

    AB_H5(g = H5Gcreate2(f, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "weights");
    for (int i = 0; i < p->n_info; i++) {
        const struct ab_param_info *pi = &p->info[i];
        hsize_t dims[3] = {(hsize_t)pi->shape[0], (hsize_t)pi->shape[1], (hsize_t)pi->shape[2]};
        const float *data = (pi->is_buffer ? p->bufs : p->params) + pi->offset;
        AB_CALL(ab_h5_write_array(g, pi->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, pi->ndim, dims));
    }
    ab_h5_close(&g);

    {
        double *hm = malloc(sizeof(double) * 2 * (size_t)(L + 1));
        AB_CHECK_ALLOC(hm);
        for (int l = 0; l <= L; l++) {
            hm[l] = p->hop_mean[l];
            hm[L + 1 + l] = p->hop_std[l];
        }
        hsize_t dims[2] = {2, (hsize_t)(L + 1)};
        rc = ab_h5_write_array(f, "hop_moments", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, hm, 2, dims);
        free(hm);
        if (rc) goto cleanup;
    }
    if (p->stage_moments) {
        hsize_t dims[3] = {(hsize_t)p->stage_units, (hsize_t)p->stage_hmax, 2};
        AB_CALL(ab_h5_write_array(f, "stage_moments", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                            p->stage_moments, 3, dims));
    }
    AB_H5(g = H5Gcreate2(f, "test", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "test");
    {
        hsize_t dims[1] = {(hsize_t)(L + 1)};
        AB_CALL(ab_h5_write_array(g, "hop_srcc", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, p->hop_srcc, 1,
                            dims));
    }
    AB_CALL(ab_h5_write_f64_attr(g, "test_srcc", p->test_srcc));
    AB_CALL(ab_h5_write_f64_attr(g, "mae", p->test_mae));
    AB_CALL(ab_h5_write_f64_attr(g, "mape", p->test_mape));
    AB_CALL(ab_h5_write_f64_attr(g, "seconds", p->seconds));
    AB_CALL(ab_h5_write_f64_attr(g, "lr", p->lr));
    AB_CALL(ab_h5_write_f64_attr(g, "weight_decay", p->weight_decay));
    AB_CALL(ab_h5_write_i64_attr(g, "n_train", p->n_train));
    AB_CALL(ab_h5_write_i64_attr(g, "n_test", p->n_test));
    AB_CALL(ab_h5_write_i64_attr(g, "epochs", p->epochs));
    AB_CALL(ab_h5_write_i64_attr(g, "batch", p->batch));
    AB_CALL(ab_h5_write_i64_attr(g, "seed", p->seed));
cleanup:
    ab_h5_close(&g);
    return rc;
}

ab_status ab_predictor_write_group(const struct ab_predictor *p, hid_t loc)
{
    return write_all(p, loc);
}

ab_status ab_predictor_save(const struct ab_predictor *p, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096];
    hid_t f = H5I_INVALID_HID;
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create", tmp);
    AB_CALL(write_all(p, f));
    AB_H5(H5Fclose(f), "%s: cannot close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    if (rc) {
        ab_h5_close(&f);
        unlink(tmp);
    }
    return rc;
}

/* ---- load ---------------------------------------------------------------- */

static ab_status parse_activ(const char *path, const char *which, const char *name,
                             double slope, float *out)
{
    if (!strcmp(name, "relu")) {
        *out = 0.0f;
        return AB_OK;
    }
    if (!strcmp(name, "leaky_relu") && slope > 0 && slope < 1) {
        *out = (float)slope;
        return AB_OK;
    }
    return ab_err_set(AB_ERR_INPUT, "%s: config.%s '%s' (slope %g) is not supported (relu or "
                      "leaky_relu with a slope in (0, 1))", path, which, name, slope);
}

static ab_status read_config(hid_t f, const char *path, struct ab_pred_config *c)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    char *s = NULL;
    int64_t v;
    double d;
    memset(c, 0, sizeof *c);
    AB_CHECK(H5Lexists(f, "config", H5P_DEFAULT) > 0, AB_ERR_INPUT, "%s: missing group 'config'",
             path);
    AB_H5R(g = H5Gopen2(f, "config", H5P_DEFAULT), "%s: config", path);
#define STR(name)                                                              \
    do {                                                                       \
        free(s);                                                               \
        s = NULL;                                                              \
        if (ab_h5_read_str_attr(g, name, &s)) {                                \
            rc = ab_err_prefix("%s: config", path);                            \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)
#define I64(name)                                                              \
    do {                                                                       \
        if (ab_h5_read_i64_attr(g, name, &v)) {                                \
            rc = ab_err_prefix("%s: config", path);                            \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)
#define F64(name)                                                              \
    do {                                                                       \
        if (ab_h5_read_f64_attr(g, name, &d)) {                                      \
            rc = ab_err_prefix("%s: config", path);                            \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)
    STR("gnn_type");
    if (!strcmp(s, "GATv2Conv")) c->gnn = AB_GNN_GATV2;
    else if (!strcmp(s, "GraphConv")) c->gnn = AB_GNN_GRAPHCONV;
    else AB_FAIL(AB_ERR_INPUT, "%s: config.gnn_type '%s' is unknown (GATv2Conv or GraphConv)",
                 path, s);
    I64("hidden");
    c->hidden = (int)v;
    I64("layers");
    c->layers = (int)v;
    STR("gnn_activ");
    F64("gnn_activ_slope");
    AB_CALL(parse_activ(path, "gnn_activ", s, d, &c->gnn_slope));
    STR("reg_activ");
    F64("reg_activ_slope");
    AB_CALL(parse_activ(path, "reg_activ", s, d, &c->reg_slope));
    STR("aggr");
    AB_CHECK(!strcmp(s, "mean") || !strcmp(s, "sum"), AB_ERR_INPUT,
             "%s: config.aggr '%s' is unknown (mean or sum)", path, s);
    c->aggr_mean = !strcmp(s, "mean");
    I64("residual");
    c->residual = v != 0;
    I64("norm_ord");
    AB_CHECK(v == 1 || v == 2, AB_ERR_INPUT, "%s: config.norm_ord %lld is not supported (1 or 2)",
             path, (long long)v);
    c->norm_ord = (int)v;
    F64("lambda");
    c->lambda = d;
    F64("softrank_strength");
    c->strength = d;
#undef STR
#undef I64
#undef F64
cleanup:
    free(s);
    ab_h5_close(&g);
    return rc;
}

ab_status ab_predictor_load(const char *path, struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, AB_PREDICTOR_FORMAT, AB_PREDICTOR_VERSION, &f, NULL));
    AB_CALL(ab_predictor_read_group(f, path, out));
cleanup:
    ab_h5_close(&f);
    return rc;
}

ab_status ab_predictor_read_group(hid_t f, const char *path, struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    struct ab_predictor *p = NULL;
    struct ab_space *sp = NULL;
    struct ab_pred_config cfg;
    char *def = NULL, *target = NULL;
    *out = NULL;
    if (ab_h5_read_str_attr(f, "space_definition", &def) ||
        ab_h5_read_str_attr(f, "target", &target)) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    if (ab_space_from_definition(def, path, &sp)) {
        rc = ab_err_prefix("%s: the stored space definition", path);
        goto cleanup;
    }
    AB_CALL(read_config(f, path, &cfg));
    if (ab_predictor_create(sp, &cfg, 0, &p)) {
        rc = ab_err_prefix("%s: config", path);
        goto cleanup;
    }
    p->target = target;
    target = NULL;
    if (ab_h5_read_f64_attr(f, "label_mean", &p->label_mean) ||
        ab_h5_read_f64_attr(f, "label_std", &p->label_std)) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    AB_CHECK(isfinite(p->label_mean) && isfinite(p->label_std) && p->label_std > 0, AB_ERR_INPUT,
             "%s: label_mean/label_std are not finite and positive", path);
    AB_CHECK(H5Lexists(f, "weights", H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: missing group 'weights'", path);
    AB_H5R(g = H5Gopen2(f, "weights", H5P_DEFAULT), "%s: weights", path);
    for (int i = 0; i < p->n_info; i++) {
        const struct ab_param_info *pi = &p->info[i];
        hsize_t dims[3] = {(hsize_t)pi->shape[0], (hsize_t)pi->shape[1], (hsize_t)pi->shape[2]};
        float *data = ab_predictor_data(p, pi);
        AB_CALL(read_array(g, path, pi->name, H5T_NATIVE_FLOAT, data, pi->ndim, dims));
        for (size_t k = 0; k < pi->size; k++)
            AB_CHECK(isfinite(data[k]), AB_ERR_INPUT, "%s: weights '%s' holds a non-finite value",
                     path, pi->name);
    }
    ab_h5_close(&g);
    {
        const int L = cfg.layers;
        double hm[2 * (AB_PRED_MAX_LAYERS + 1)];
        hsize_t dims[2] = {2, (hsize_t)(L + 1)};
        AB_CALL(read_array(f, path, "hop_moments", H5T_NATIVE_DOUBLE, hm, 2, dims));
        for (int l = 0; l <= L; l++) {
            p->hop_mean[l] = hm[l];
            p->hop_std[l] = hm[L + 1 + l];
        }
    }
    if (H5Lexists(f, "stage_moments", H5P_DEFAULT) > 0) {
        hid_t d = H5I_INVALID_HID, s = H5I_INVALID_HID;
        hsize_t dims[3] = {0, 0, 0};
        AB_H5R(d = H5Dopen2(f, "stage_moments", H5P_DEFAULT), "%s: stage_moments", path);
        s = H5Dget_space(d);
        int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
        if (nd == 3) H5Sget_simple_extent_dims(s, dims, NULL);
        ab_h5_close(&s);
        ab_h5_close(&d);
        AB_CHECK(nd == 3 && dims[2] == 2 && dims[0] > 0 && dims[0] <= AB_MAX_STAGES &&
                     dims[1] > 0 && dims[1] <= AB_MAX_STAGES * AB_MAX_LAYERS,
                 AB_ERR_INPUT, "%s: stage_moments must be (units, nodes, 2)", path);
        p->stage_units = (int)dims[0];
        p->stage_hmax = (int)dims[1];
        p->stage_moments = malloc(sizeof(double) * dims[0] * dims[1] * 2);
        AB_CHECK_ALLOC(p->stage_moments);
        AB_CALL(read_array(f, path, "stage_moments", H5T_NATIVE_DOUBLE, p->stage_moments, 3, dims));
    }
    if (H5Lexists(f, "test", H5P_DEFAULT) > 0) {
        AB_H5R(g = H5Gopen2(f, "test", H5P_DEFAULT), "%s: test", path);
        double v;
        int64_t iv;
        if (!ab_h5_read_f64_attr(g, "test_srcc", &v)) p->test_srcc = v;
        if (!ab_h5_read_f64_attr(g, "mae", &v)) p->test_mae = v;
        if (!ab_h5_read_f64_attr(g, "mape", &v)) p->test_mape = v;
        if (!ab_h5_read_f64_attr(g, "seconds", &v)) p->seconds = v;
        if (!ab_h5_read_f64_attr(g, "lr", &v)) p->lr = v;
        if (!ab_h5_read_f64_attr(g, "weight_decay", &v)) p->weight_decay = v;
        if (!ab_h5_read_i64_attr(g, "batch", &iv)) p->batch = (long)iv;
        if (!ab_h5_read_i64_attr(g, "seed", &iv)) p->seed = (long)iv;
        if (!ab_h5_read_i64_attr(g, "epochs", &iv)) p->epochs = (long)iv;
        if (!ab_h5_read_i64_attr(g, "n_train", &iv)) p->n_train = (long)iv;
        if (!ab_h5_read_i64_attr(g, "n_test", &iv)) p->n_test = (long)iv;
        hsize_t dims[1] = {(hsize_t)(cfg.layers + 1)};
        if (H5Lexists(g, "hop_srcc", H5P_DEFAULT) > 0)
            AB_CALL(read_array(g, path, "hop_srcc", H5T_NATIVE_DOUBLE, p->hop_srcc, 1, dims));
        ab_err_clear();
    }
    *out = p;
    p = NULL;
cleanup:
    free(def);
    free(target);
    ab_h5_close(&g);
    ab_space_destroy(&sp);
    ab_predictor_destroy(&p);
    return rc;
}
