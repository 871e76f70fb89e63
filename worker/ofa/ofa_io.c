/* SPDX-License-Identifier: MIT
 *
 * This file implements the OFA worker's tensor and image-set files
 * (ofa_io.h): reading `input` tensors, writing logits (and calibrated
 * BatchNorm statistics), and reading normalised images from image sets.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5/h5util.h"
#include "ofa/ofa_io.h"
#include "ofa/ofa_subnet.h"
#include "util/fsutil.h"

#define MAX_IMAGE_SIDE 4096

ab_status ab_ofa_input_read(const char *path, int want_r, float **x, int *n, int *r)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dims[4] = {0, 0, 0, 0};
    float *buf = NULL;
    size_t count;

    *x = NULL;
    *n = *r = 0;
    AB_CHECK(H5Fis_hdf5(path) > 0, AB_ERR_INPUT, "%s: not an HDF5 file (or missing); "
             "expected a float32 dataset 'input' of shape N x 3 x R x R", path);
    AB_H5R(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: open", path);
    AB_CHECK(H5Lexists(f, "input", H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: no dataset 'input'; expected float32 N x 3 x R x R images", path);
    AB_H5R(d = H5Dopen2(f, "input", H5P_DEFAULT), "%s: input", path);
    AB_H5R(sp = H5Dget_space(d), "%s: input", path);
    AB_CHECK(H5Sget_simple_extent_ndims(sp) == 4, AB_ERR_INPUT,
             "%s: 'input' has %d dimensions; expected 4 (N x 3 x R x R)", path,
             H5Sget_simple_extent_ndims(sp));
    H5Sget_simple_extent_dims(sp, dims, NULL);
    AB_CHECK(dims[0] >= 1 && dims[0] <= 1000000 && dims[1] == 3 && dims[2] == dims[3] &&
                 dims[2] >= 1 && dims[2] <= MAX_IMAGE_SIDE,
             AB_ERR_INPUT, "%s: 'input' has shape %llu x %llu x %llu x %llu; expected N x 3 x "
             "R x R", path, (unsigned long long)dims[0], (unsigned long long)dims[1],
             (unsigned long long)dims[2], (unsigned long long)dims[3]);
    AB_CHECK(want_r <= 0 || (hsize_t)want_r == dims[2], AB_ERR_INPUT,
             "%s: 'input' images are %llu x %llu but the architecture's resolution is %d; "
             "give N x 3 x %d x %d images", path, (unsigned long long)dims[2],
             (unsigned long long)dims[3], want_r, want_r, want_r);
    count = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]);
    buf = malloc(count * sizeof *buf);
    AB_CHECK_ALLOC(buf);
    AB_H5R(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "%s: reading input",
           path);
    for (size_t i = 0; i < count; i++)
        AB_CHECK(isfinite(buf[i]), AB_ERR_INPUT, "%s: 'input' holds a non-finite value at "
                 "element %zu", path, i);
    *x = buf;
    buf = NULL;
    *n = (int)dims[0];
    *r = (int)dims[2];
cleanup:
    free(buf);
    ab_h5_close(&sp);
    ab_h5_close(&d);
    ab_h5_close(&f);
    return rc;
}

static ab_status write_bn(hid_t f, const struct ab_ofa_subnet *net)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    char **names = NULL;
    int nb = ab_ofa_subnet_n_bn(net);
    AB_H5(g = H5Gcreate2(f, "bn", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "/bn");
    names = calloc((size_t)nb, sizeof *names);
    AB_CHECK_ALLOC(names);
    for (int i = 0; i < nb; i++) {
        const char *name;
        const float *mean, *var;
        int c;
        char ds[160];
        hsize_t dims[1];
        AB_CALL(ab_ofa_subnet_bn(net, i, &name, &c, &mean, &var));
        names[i] = (char *)name;
        dims[0] = (hsize_t)c;
        snprintf(ds, sizeof ds, "%s.running_mean", name);
        AB_CALL(ab_h5_write_array(g, ds, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, mean, 1, dims));
        snprintf(ds, sizeof ds, "%s.running_var", name);
        AB_CALL(ab_h5_write_array(g, ds, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, var, 1, dims));
    }
    AB_CALL(ab_h5_write_strings(g, "order", (const char *const *)names, nb));
cleanup:
    free(names);
    ab_h5_close(&g);
    return rc;
}

ab_status ab_ofa_logits_write(const char *path, const float *logits, int n, int classes,
                              const char *arch_json, const char *supernet,
                              const struct ab_ofa_subnet *net, int calibrated)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    char tmp[4096];
    int made = 0;
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)classes};

    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: create", tmp);
    made = 1;
    AB_CALL(ab_h5_write_identity(f, AB_OFA_LOGITS_FORMAT, 1));
    AB_CALL(ab_h5_write_str_attr(f, "arch", arch_json ? arch_json : ""));
    AB_CALL(ab_h5_write_str_attr(f, "supernet", supernet ? supernet : ""));
    AB_CALL(ab_h5_write_i64_attr(f, "bn_calibrated", calibrated ? 1 : 0));
    AB_CALL(ab_h5_write_array(f, "logits", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, logits, 2, dims));
    if (net && calibrated) AB_CALL(write_bn(f, net));
    AB_H5(H5Fclose(f), "%s: close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
    made = 0;
cleanup:
    ab_h5_close(&f);
    if (made) remove(tmp);
    return rc;
}

/* --- image sets ------------------------------------------------------- */

static ab_status read_f64_array(hid_t f, const char *path, const char *name, double *out)
{
    ab_status rc = AB_OK;
    hid_t a = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    AB_CHECK(H5Aexists(f, name) > 0, AB_ERR_INPUT, "%s: missing attribute '%s'", path, name);
    AB_H5R(a = H5Aopen(f, name, H5P_DEFAULT), "%s: %s", path, name);
    AB_H5R(sp = H5Aget_space(a), "%s: %s", path, name);
    AB_CHECK(H5Sget_simple_extent_npoints(sp) == 3, AB_ERR_INPUT,
             "%s: attribute '%s' must hold 3 values (R, G, B)", path, name);
    AB_H5R(H5Aread(a, H5T_NATIVE_DOUBLE, out), "%s: %s", path, name);
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&a);
    return rc;
}

static ab_status read_labels(hid_t f, struct ab_imageset *set)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dims[1];
    AB_CHECK(H5Lexists(f, "labels", H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: no dataset 'labels'", set->path);
    AB_H5R(d = H5Dopen2(f, "labels", H5P_DEFAULT), "%s: labels", set->path);
    AB_H5R(sp = H5Dget_space(d), "%s: labels", set->path);
    AB_CHECK(H5Sget_simple_extent_ndims(sp) == 1, AB_ERR_INPUT,
             "%s: 'labels' must be one-dimensional", set->path);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    AB_CHECK((long)dims[0] == set->n, AB_ERR_INPUT,
             "%s: %llu labels for %ld images", set->path, (unsigned long long)dims[0], set->n);
    set->labels = malloc((size_t)(set->n ? set->n : 1) * sizeof *set->labels);
    AB_CHECK_ALLOC(set->labels);
    AB_H5R(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, set->labels),
           "%s: labels", set->path);
    for (long i = 0; i < set->n; i++)
        AB_CHECK(set->labels[i] >= 0 && set->labels[i] < set->n_classes, AB_ERR_INPUT,
                 "%s: label %lld of image %ld is outside 0 .. %d", set->path,
                 (long long)set->labels[i], i, set->n_classes - 1);
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&d);
    return rc;
}

ab_status ab_imageset_open(const char *path, struct ab_imageset **out)
{
    ab_status rc = AB_OK;
    struct ab_imageset *set = NULL;
    hid_t f = H5I_INVALID_HID;
    int version = 0;
    int64_t res[AB_IMAGESET_MAX_RES], n = 0, classes = 0;

    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, AB_IMAGESET_FORMAT, 1, &f, &version));
    set = calloc(1, sizeof *set);
    AB_CHECK_ALLOC(set);
    set->hid = -1;
    set->path = strdup(path);
    AB_CHECK_ALLOC(set->path);
    if (ab_h5_read_i64_attr(f, "n_images", &n) != AB_OK ||
        ab_h5_read_i64_attr(f, "n_classes", &classes) != AB_OK ||
        ab_h5_read_i64_array_attr(f, "resolutions", AB_IMAGESET_MAX_RES, res, &set->n_res) !=
            AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    AB_CHECK(n >= 0 && classes >= 1 && classes <= 1000000, AB_ERR_INPUT,
             "%s: n_images %lld / n_classes %lld out of range", path, (long long)n,
             (long long)classes);
    set->n = (long)n;
    set->n_classes = (int)classes;
    for (int i = 0; i < set->n_res; i++) {
        AB_CHECK(res[i] >= 1 && res[i] <= MAX_IMAGE_SIDE, AB_ERR_INPUT,
                 "%s: resolution %lld out of range", path, (long long)res[i]);
        set->res[i] = (int)res[i];
    }
    AB_CALL(read_f64_array(f, path, "mean", set->mean));
    AB_CALL(read_f64_array(f, path, "std", set->std));
    for (int c = 0; c < 3; c++)
        AB_CHECK(set->std[c] > 0 && isfinite(set->mean[c]), AB_ERR_INPUT,
                 "%s: normalisation std must be positive and mean finite", path);
    AB_CALL(read_labels(f, set));
    set->hid = f;
    f = H5I_INVALID_HID;
    *out = set;
    set = NULL;
cleanup:
    ab_h5_close(&f);
    ab_imageset_close(&set);
    return rc;
}

static void list_res(const struct ab_imageset *set, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < set->n_res && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? ", " : "", set->res[i]);
}

ab_status ab_imageset_read(const struct ab_imageset *set, int r, long first, long count,
                           float *out)
{
    ab_status rc = AB_OK;
    hid_t f = (hid_t)set->hid, d = H5I_INVALID_HID, fs = H5I_INVALID_HID,
          ms = H5I_INVALID_HID;
    uint8_t *u8 = NULL;
    char group[32], grp[16], have[256];
    hsize_t dims[4], start[4] = {0, 0, 0, 0}, cnt[4];
    long plane = (long)r * r;

    snprintf(grp, sizeof grp, "r%d", r);
    snprintf(group, sizeof group, "r%d/images", r);
    list_res(set, have, sizeof have);
    AB_CHECK(H5Lexists(f, grp, H5P_DEFAULT) > 0 && H5Lexists(f, group, H5P_DEFAULT) > 0,
             AB_ERR_INPUT, "%s: no images at resolution %d (it has %s); convert them with "
             "tools/convert_imagenet_folder.py --resolutions %d", set->path, r, have, r);
    AB_CHECK(first >= 0 && count >= 1 && first + count <= set->n, AB_ERR_INPUT,
             "%s: images %ld .. %ld requested; the set has %ld", set->path, first,
             first + count - 1, set->n);
    AB_H5R(d = H5Dopen2(f, group, H5P_DEFAULT), "%s: /%s", set->path, group);
    AB_H5R(fs = H5Dget_space(d), "%s: /%s", set->path, group);
    AB_CHECK(H5Sget_simple_extent_ndims(fs) == 4, AB_ERR_INPUT,
             "%s: /%s must be N x R x R x 3", set->path, group);
    H5Sget_simple_extent_dims(fs, dims, NULL);
    AB_CHECK((long)dims[0] == set->n && dims[1] == (hsize_t)r && dims[2] == (hsize_t)r &&
                 dims[3] == 3,
             AB_ERR_INPUT, "%s: /%s has shape %llu x %llu x %llu x %llu; expected %ld x %d x "
             "%d x 3", set->path, group, (unsigned long long)dims[0],
             (unsigned long long)dims[1], (unsigned long long)dims[2],
             (unsigned long long)dims[3], set->n, r, r);
    start[0] = (hsize_t)first;
    cnt[0] = (hsize_t)count;
    cnt[1] = cnt[2] = (hsize_t)r;
    cnt[3] = 3;
    AB_H5R(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL), "%s: select",
           set->path);
    AB_H5R(ms = H5Screate_simple(4, cnt, NULL), "%s: memory space", set->path);
    u8 = malloc((size_t)count * (size_t)plane * 3);
    AB_CHECK_ALLOC(u8);
    AB_H5R(H5Dread(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, u8), "%s: reading /%s",
           set->path, group);
    /* HWC uint8 -> CHW float, (u / 255 - mean) / std */
    for (long i = 0; i < count; i++)
        for (int c = 0; c < 3; c++) {
            float *dst = out + (i * 3 + c) * plane;
            const uint8_t *src = u8 + i * plane * 3 + c;
            double m = set->mean[c], s = set->std[c];
            for (long p = 0; p < plane; p++)
                dst[p] = (float)((src[p * 3] / 255.0 - m) / s);
        }
cleanup:
    free(u8);
    ab_h5_close(&ms);
    ab_h5_close(&fs);
    ab_h5_close(&d);
    return rc;
}

void ab_imageset_close(struct ab_imageset **set)
{
    if (!set || !*set) return;
    if ((*set)->hid >= 0) {
        hid_t f = (hid_t)(*set)->hid;
        ab_h5_close(&f);
    }
    free((*set)->labels);
    free((*set)->path);
    free(*set);
    *set = NULL;
}
