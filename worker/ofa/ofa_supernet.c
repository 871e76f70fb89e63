/* SPDX-License-Identifier: MIT
 *
 * This file implements Once-for-All supernets in memory (ofa_supernet.h):
 * loading and checking an autobuild-ofa-supernet HDF5 file tensor by tensor
 * against the net's layout, making random-weight supernets, and saving.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5/h5util.h"
#include "ofa/ofa_supernet.h"
#include "util/fsutil.h"
#include "util/rng.h"

#define ELASTIC_MAX 8

static size_t param_count(const struct ab_ofa_param *p)
{
    size_t n = 1;
    for (int i = 0; i < p->ndim; i++) n *= (size_t)p->shape[i];
    return n;
}

static void format_shape(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? " x " : "",
                                 (long long)shape[i]);
    if (ndim == 0) snprintf(buf, cap, "scalar");
}

/* blocks.N.conv.X -> blocks.N.mobile_inverted_conv.X (OFA's older naming);
 * 0 when name has no such form. */
static int legacy_name(const char *name, char *buf, size_t cap)
{
    const char *p;
    if (strncmp(name, "blocks.", 7)) return 0;
    p = strchr(name + 7, '.');
    if (!p || strncmp(p, ".conv.", 6)) return 0;
    snprintf(buf, cap, "%.*s.mobile_inverted_conv.%s", (int)(p - name), name, p + 6);
    return 1;
}

static ab_status alloc_supernet(const struct ab_ofa_netdef *net, int n_classes,
                                struct ab_ofa_supernet **out)
{
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = calloc(1, sizeof *sn);
    AB_CHECK_ALLOC(sn);
    sn->net = net;
    sn->n_classes = n_classes;
    sn->bn_eps = net->bn_eps;
    AB_CALL(ab_ofa_supernet_layout(net->family, net->width_mult, n_classes, &sn->params,
                                   &sn->n_params));
    sn->data = calloc((size_t)sn->n_params, sizeof *sn->data);
    AB_CHECK_ALLOC(sn->data);
    for (int i = 0; i < sn->n_params; i++) {
        sn->data[i] = malloc(param_count(&sn->params[i]) * sizeof(float));
        AB_CHECK_ALLOC(sn->data[i]);
    }
    *out = sn;
    sn = NULL;
cleanup:
    ab_ofa_supernet_destroy(&sn);
    return rc;
}

/* Reads attribute list name and checks it equals want[0..n). */
static ab_status check_list(hid_t f, const char *path, const char *name, const int64_t *want,
                            int n_want)
{
    int64_t v[ELASTIC_MAX];
    int n = 0;
    if (ab_h5_read_i64_array_attr(f, name, ELASTIC_MAX, v, &n) != AB_OK)
        return ab_err_prefix("%s", path);
    for (int i = 0; i < n_want; i++)
        if (n != n_want || v[i] != want[i])
            return ab_err_set(AB_ERR_INPUT, "%s: %s is not [%lld, %lld, %lld]; autobuild "
                              "supports the released OFA nets (%s)", path, name,
                              (long long)want[0], (long long)want[1], (long long)want[2],
                              ab_ofa_netdef_list());
    return AB_OK;
}

static ab_status read_tensor(hid_t params, const char *path, const struct ab_ofa_param *p,
                             float *dst, int *legacy)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    char alt[160], want[64], got[64];
    const char *name = p->name;
    hsize_t dims[8];
    int64_t got_shape[8];
    int ndim;
    size_t n = param_count(p);

    if (H5Lexists(params, name, H5P_DEFAULT) <= 0) {
        AB_CHECK(legacy_name(name, alt, sizeof alt) &&
                     H5Lexists(params, alt, H5P_DEFAULT) > 0,
                 AB_ERR_INPUT, "%s: supernet tensor /params/%s is missing; convert the "
                 "checkpoint with tools/convert_ofa_supernet.py and the right --net",
                 path, name);
        name = alt;
        *legacy = 1;
    }
    AB_H5R(d = H5Dopen2(params, name, H5P_DEFAULT), "%s: /params/%s", path, name);
    AB_H5R(sp = H5Dget_space(d), "%s: /params/%s", path, name);
    ndim = H5Sget_simple_extent_ndims(sp);
    AB_CHECK(ndim >= 0 && ndim <= 8, AB_ERR_INPUT, "%s: /params/%s: bad dataspace", path,
             name);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = 0; i < ndim; i++) got_shape[i] = (int64_t)dims[i];
    {
        int same = ndim == p->ndim;
        for (int i = 0; same && i < ndim; i++) same = got_shape[i] == p->shape[i];
        format_shape(p->shape, p->ndim, want, sizeof want);
        format_shape(got_shape, ndim, got, sizeof got);
        AB_CHECK(same, AB_ERR_INPUT, "%s: /params/%s has shape %s; %s expects %s (a "
                 "supernet of another net or width? check --net of the converter)",
                 path, name, got, p->name[0] ? "this net" : "?", want);
    }
    AB_H5R(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst),
           "%s: reading /params/%s", path, name);
    for (size_t i = 0; i < n; i++)
        AB_CHECK(isfinite(dst[i]), AB_ERR_INPUT, "%s: /params/%s holds a non-finite value "
                 "at element %zu; the checkpoint is damaged", path, name, i);
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&d);
    return rc;
}

ab_status ab_ofa_supernet_load(const char *path, struct ab_ofa_supernet **out)
{
    static const int64_t ks[3] = {3, 5, 7}, es[3] = {3, 4, 6}, ds[3] = {2, 3, 4};
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, params = H5I_INVALID_HID;
    struct ab_ofa_supernet *sn = NULL;
    const struct ab_ofa_netdef *net;
    char *net_id = NULL;
    double width = 0, eps = 0;
    int64_t n_classes = 0;
    int version = 0;

    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, AB_OFA_SUPERNET_FORMAT, AB_OFA_SUPERNET_VERSION, &f,
                               &version));
    if (ab_h5_read_str_attr(f, "net_id", &net_id) != AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    net = ab_ofa_netdef_find(net_id);
    AB_CHECK(net, AB_ERR_INPUT, "%s: net_id '%s' is not supported; expected one of %s",
             path, net_id, ab_ofa_netdef_list());
    if (ab_h5_read_f64_attr(f, "width_mult", &width) != AB_OK ||
        ab_h5_read_i64_attr(f, "n_classes", &n_classes) != AB_OK ||
        ab_h5_read_f64_attr(f, "bn_eps", &eps) != AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    AB_CHECK(fabs(width - net->width_mult) < 1e-9, AB_ERR_INPUT, "%s: width_mult %g does "
             "not match net_id %s (width %g)", path, width, net_id, net->width_mult);
    AB_CHECK(n_classes >= 1 && n_classes <= AB_OFA_MAX_CLASSES, AB_ERR_INPUT,
             "%s: n_classes %lld is out of range 1 to %d", path, (long long)n_classes,
             AB_OFA_MAX_CLASSES);
    AB_CHECK(eps > 0 && eps < 1, AB_ERR_INPUT, "%s: bn_eps %g is out of range (0, 1)", path,
             eps);
    AB_CALL(check_list(f, path, "ks_list", ks, 3));
    AB_CALL(check_list(f, path, "expand_ratio_list", es, 3));
    AB_CALL(check_list(f, path, "depth_list", ds, 3));
    AB_CALL(alloc_supernet(net, (int)n_classes, &sn));
    sn->bn_eps = eps;
    sn->path = strdup(path);
    AB_CHECK_ALLOC(sn->path);
    AB_CHECK(H5Lexists(f, "params", H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: no /params group; not a converted supernet", path);
    AB_H5R(params = H5Gopen2(f, "params", H5P_DEFAULT), "%s: /params", path);
    for (int i = 0; i < sn->n_params; i++)
        AB_CALL(read_tensor(params, path, &sn->params[i], sn->data[i], &sn->legacy_names));
    *out = sn;
    sn = NULL;
cleanup:
    ab_h5_close(&params);
    ab_h5_close(&f);
    free(net_id);
    ab_ofa_supernet_destroy(&sn);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void fill_random(const struct ab_ofa_param *p, float *x, struct ab_rng *rng)
{
    size_t n = param_count(p);
    int bn = strstr(p->name, ".bn.") != NULL;
    if (ends_with(p->name, "_matrix")) {
        int64_t k = p->shape[0];
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++)
                x[i * k + j] = (float)((i == j) + 0.05 * ab_rng_normal(rng));
    } else if (ends_with(p->name, ".running_var")) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 + 1.5 * ab_rng_uniform(rng));
    } else if (bn && ends_with(p->name, ".weight")) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 + ab_rng_uniform(rng));
    } else if (p->ndim == 1) { /* BN bias, running mean, conv / linear bias */
        for (size_t i = 0; i < n; i++) x[i] = (float)(0.1 * ab_rng_normal(rng));
    } else {
        double fan_in = (double)(n / (size_t)p->shape[0]);
        double sd = sqrt(2.0 / fan_in);
        for (size_t i = 0; i < n; i++) x[i] = (float)(sd * ab_rng_normal(rng));
    }
}

ab_status ab_ofa_supernet_random(const char *net_id, int n_classes, uint64_t seed,
                                 struct ab_ofa_supernet **out)
{
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    const struct ab_ofa_netdef *net = ab_ofa_netdef_find(net_id);
    struct ab_rng rng;

    *out = NULL;
    AB_CHECK(net, AB_ERR_INPUT, "--net %s: not an OFA net autobuild knows; expected one of %s",
             net_id ? net_id : "(none)", ab_ofa_netdef_list());
    AB_CALL(alloc_supernet(net, n_classes, &sn));
    sn->path = strdup("random");
    AB_CHECK_ALLOC(sn->path);
    ab_rng_seed(&rng, seed);
    for (int i = 0; i < sn->n_params; i++) fill_random(&sn->params[i], sn->data[i], &rng);
    *out = sn;
    sn = NULL;
cleanup:
    ab_ofa_supernet_destroy(&sn);
    return rc;
}

static ab_status write_tensor(hid_t g, const struct ab_ofa_param *p, const float *x)
{
    hsize_t dims[4];
    for (int i = 0; i < p->ndim; i++) dims[i] = (hsize_t)p->shape[i];
    return ab_h5_write_array(g, p->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, x, p->ndim, dims);
}

ab_status ab_ofa_supernet_save(const struct ab_ofa_supernet *sn, const char *path)
{
    static const int64_t ks[3] = {3, 5, 7}, es[3] = {3, 4, 6}, ds[3] = {2, 3, 4};
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char tmp[4096];
    int made = 0;

    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: create", tmp);
    made = 1;
    AB_CALL(ab_h5_write_identity(f, AB_OFA_SUPERNET_FORMAT, AB_OFA_SUPERNET_VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "net_id", sn->net->net_id));
    AB_CALL(ab_h5_write_str_attr(f, "family",
                                 sn->net->family == AB_OFA_MBV3 ? "mbv3" : "proxyless"));
    AB_CALL(ab_h5_write_str_attr(f, "space", sn->net->space));
    AB_CALL(ab_h5_write_f64_attr(f, "width_mult", sn->net->width_mult));
    AB_CALL(ab_h5_write_i64_array_attr(f, "ks_list", ks, 3));
    AB_CALL(ab_h5_write_i64_array_attr(f, "expand_ratio_list", es, 3));
    AB_CALL(ab_h5_write_i64_array_attr(f, "depth_list", ds, 3));
    AB_CALL(ab_h5_write_i64_attr(f, "n_classes", sn->n_classes));
    AB_CALL(ab_h5_write_f64_attr(f, "bn_eps", sn->bn_eps));
    AB_CALL(ab_h5_write_f64_attr(f, "bn_momentum", 0.1));
    AB_CALL(ab_h5_write_str_attr(f, "naming", "current"));
    AB_CALL(ab_h5_write_str_attr(f, "source", sn->path ? sn->path : "random"));
    AB_H5(g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "%s: /params",
          tmp);
    for (int i = 0; i < sn->n_params; i++)
        AB_CALL(write_tensor(g, &sn->params[i], sn->data[i]));
    ab_h5_close(&g);
    AB_H5(H5Fclose(f), "%s: close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
    made = 0;
cleanup:
    ab_h5_close(&g);
    ab_h5_close(&f);
    if (made) remove(tmp);
    return rc;
}

const float *ab_ofa_supernet_tensor(const struct ab_ofa_supernet *sn, const char *name,
                                    const struct ab_ofa_param **shape)
{
    if (shape) *shape = NULL;
    if (!sn || !name) return NULL;
    for (int i = 0; i < sn->n_params; i++)
        if (!strcmp(sn->params[i].name, name)) {
            if (shape) *shape = &sn->params[i];
            return sn->data[i];
        }
    return NULL;
}

void ab_ofa_supernet_destroy(struct ab_ofa_supernet **sn)
{
    if (!sn || !*sn) return;
    if ((*sn)->data)
        for (int i = 0; i < (*sn)->n_params; i++) free((*sn)->data[i]);
    free((*sn)->data);
    free((*sn)->params);
    free((*sn)->path);
    free(*sn);
    *sn = NULL;
}
