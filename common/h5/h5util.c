/* SPDX-License-Identifier: MIT
 *
 * This file implements the checked HDF5 helpers of h5util.h.
 */
#include "h5/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ab_h5_init(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    char *msg = data;
    if (n == 0 && e->desc) snprintf(msg, 256, "%s", e->desc);
    return 0;
}

ab_status ab_h5_error(ab_status status, const char *fmt, ...)
{
    char ctx[512], msg[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, msg);
    H5Eclear2(H5E_DEFAULT);
    if (msg[0]) return ab_err_set(status, "%s: %s", ctx, msg);
    return ab_err_set(status, "%s", ctx);
}

void ab_h5_close(hid_t *id)
{
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    *id = H5I_INVALID_HID;
}

ab_status ab_h5_write_str_attr(hid_t obj, const char *name, const char *value)
{
    ab_status rc = AB_OK;
    hid_t t = H5I_INVALID_HID, sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    AB_H5(t = H5Tcopy(H5T_C_S1), "attribute %s: type", name);
    AB_H5(H5Tset_size(t, H5T_VARIABLE), "attribute %s: type", name);
    AB_H5(H5Tset_cset(t, H5T_CSET_UTF8), "attribute %s: type", name);
    AB_H5(sp = H5Screate(H5S_SCALAR), "attribute %s: space", name);
    AB_H5(a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT), "attribute %s: create",
          name);
    AB_H5(H5Awrite(a, t, &value), "attribute %s: write", name);
cleanup:
    ab_h5_close(&a);
    ab_h5_close(&sp);
    ab_h5_close(&t);
    return rc;
}

ab_status ab_h5_read_str_attr(hid_t obj, const char *name, char **out)
{
    ab_status rc = AB_OK;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID;
    char *v = NULL;
    *out = NULL;
    htri_t ex = H5Aexists(obj, name);
    AB_CHECK(ex > 0, AB_ERR_INPUT, "missing attribute '%s'", name);
    AB_H5R(a = H5Aopen(obj, name, H5P_DEFAULT), "attribute %s: open", name);
    AB_H5R(ft = H5Aget_type(a), "attribute %s: type", name);
    AB_CHECK(H5Tget_class(ft) == H5T_STRING, AB_ERR_INPUT, "attribute '%s' is not a string",
             name);
    AB_H5R(sp = H5Aget_space(a), "attribute %s: space", name);
    AB_CHECK(H5Sget_simple_extent_npoints(sp) == 1, AB_ERR_INPUT,
             "attribute '%s' is not a single string", name);
    AB_H5(mt = H5Tcopy(H5T_C_S1), "attribute %s: type", name);
    AB_H5(H5Tset_cset(mt, H5Tget_cset(ft)), "attribute %s: type", name);
    if (H5Tis_variable_str(ft) > 0) {
        AB_H5(H5Tset_size(mt, H5T_VARIABLE), "attribute %s: type", name);
        AB_H5R(H5Aread(a, mt, &v), "attribute %s: read", name);
        *out = strdup(v ? v : "");
        H5free_memory(v);
    } else {
        size_t n = H5Tget_size(ft);
        char *buf = calloc(n + 1, 1);
        AB_CHECK_ALLOC(buf);
        AB_H5(H5Tset_size(mt, n + 1), "attribute %s: type", name);
        if (H5Aread(a, mt, buf) < 0) {
            free(buf);
            AB_FAIL(AB_ERR_INPUT, "attribute %s: cannot read", name);
        }
        *out = buf;
    }
    AB_CHECK_ALLOC(*out);
cleanup:
    ab_h5_close(&mt);
    ab_h5_close(&sp);
    ab_h5_close(&ft);
    ab_h5_close(&a);
    return rc;
}

ab_status ab_h5_write_i64_attr(hid_t obj, const char *name, int64_t value)
{
    ab_status rc = AB_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    AB_H5(sp = H5Screate(H5S_SCALAR), "attribute %s: space", name);
    AB_H5(a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT),
          "attribute %s: create", name);
    AB_H5(H5Awrite(a, H5T_NATIVE_INT64, &value), "attribute %s: write", name);
cleanup:
    ab_h5_close(&a);
    ab_h5_close(&sp);
    return rc;
}

ab_status ab_h5_read_i64_attr(hid_t obj, const char *name, int64_t *out)
{
    ab_status rc = AB_OK;
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
    AB_CHECK(H5Aexists(obj, name) > 0, AB_ERR_INPUT, "missing attribute '%s'", name);
    AB_H5R(a = H5Aopen(obj, name, H5P_DEFAULT), "attribute %s: open", name);
    AB_H5R(t = H5Aget_type(a), "attribute %s: type", name);
    AB_CHECK(H5Tget_class(t) == H5T_INTEGER, AB_ERR_INPUT, "attribute '%s' is not an integer",
             name);
    AB_H5R(H5Aread(a, H5T_NATIVE_INT64, out), "attribute %s: read", name);
cleanup:
    ab_h5_close(&t);
    ab_h5_close(&a);
    return rc;
}

ab_status ab_h5_write_identity(hid_t file, const char *format, int version)
{
    AB_TRY(ab_h5_write_str_attr(file, "format", format));
    AB_TRY(ab_h5_write_i64_attr(file, "format_version", version));
    return ab_h5_write_str_attr(file, "created_by", "autobuild " AB_VERSION);
}

ab_status ab_h5_open_checked(const char *path, const char *format, int max_version,
                             hid_t *file, int *version)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    char *fmt = NULL;
    int64_t v = 0;
    FILE *probe = fopen(path, "rb");
    *file = H5I_INVALID_HID;
    AB_CHECK(probe != NULL, AB_ERR_INPUT, "%s: cannot open: no such file or not readable",
             path);
    fclose(probe);
    AB_CHECK(H5Fis_hdf5(path) > 0, AB_ERR_INPUT,
             "%s: not an HDF5 file; expected an autobuild %s file", path, format);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        rc = ab_h5_error(AB_ERR_INPUT, "%s: cannot open as HDF5 (truncated or damaged file?)",
                         path);
        goto cleanup;
    }
    if (ab_h5_read_str_attr(f, "format", &fmt) != AB_OK)
        AB_FAIL(AB_ERR_INPUT,
                "%s: not an autobuild %s file (no 'format' attribute); give a file written "
                "by autobuild", path, format);
    AB_CHECK(!strcmp(fmt, format), AB_ERR_INPUT,
             "%s: this is an autobuild '%s' file, not a '%s' file", path, fmt, format);
    if (ab_h5_read_i64_attr(f, "format_version", &v) != AB_OK)
        AB_FAIL(AB_ERR_INPUT, "%s: missing or bad 'format_version' attribute", path);
    AB_CHECK(v >= 1 && v <= max_version, AB_ERR_INPUT,
             "%s: format_version %lld is not supported (this autobuild reads 1 to %d); "
             "upgrade autobuild", path, (long long)v, max_version);
    *file = f;
    if (version) *version = (int)v;
    f = H5I_INVALID_HID;
cleanup:
    free(fmt);
    ab_h5_close(&f);
    return rc;
}

ab_status ab_h5_write_strings(hid_t loc, const char *name, const char *const *s, long n)
{
    ab_status rc = AB_OK;
    hid_t t = H5I_INVALID_HID, sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    AB_H5(t = H5Tcopy(H5T_C_S1), "%s: type", name);
    AB_H5(H5Tset_size(t, H5T_VARIABLE), "%s: type", name);
    AB_H5(H5Tset_cset(t, H5T_CSET_UTF8), "%s: type", name);
    AB_H5(sp = H5Screate_simple(1, dims, NULL), "%s: space", name);
    AB_H5(d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          "%s: create", name);
    if (n > 0) AB_H5(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s), "%s: write", name);
cleanup:
    ab_h5_close(&d);
    ab_h5_close(&sp);
    ab_h5_close(&t);
    return rc;
}

void ab_h5_free_strings(char **s, long n)
{
    if (!s) return;
    for (long i = 0; i < n; i++) free(s[i]);
    free(s);
}

ab_status ab_h5_read_strings(hid_t loc, const char *name, long *n, char ***out)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID;
    char **raw = NULL, **res = NULL;
    hssize_t np = 0;
    *out = NULL;
    *n = 0;
    AB_CHECK(H5Lexists(loc, name, H5P_DEFAULT) > 0, AB_ERR_INPUT, "missing dataset '%s'", name);
    AB_H5R(d = H5Dopen2(loc, name, H5P_DEFAULT), "dataset %s: open", name);
    AB_H5R(ft = H5Dget_type(d), "dataset %s: type", name);
    AB_CHECK(H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0, AB_ERR_INPUT,
             "dataset '%s' is not a list of variable-length strings", name);
    AB_H5R(sp = H5Dget_space(d), "dataset %s: space", name);
    AB_CHECK(H5Sget_simple_extent_ndims(sp) == 1, AB_ERR_INPUT,
             "dataset '%s' must be one-dimensional", name);
    np = H5Sget_simple_extent_npoints(sp);
    AB_H5R(np, "dataset %s: size", name);
    raw = calloc((size_t)np + 1, sizeof *raw);
    res = calloc((size_t)np + 1, sizeof *res);
    AB_CHECK_ALLOC(raw);
    AB_CHECK_ALLOC(res);
    AB_H5(t = H5Tcopy(H5T_C_S1), "%s: type", name);
    AB_H5(H5Tset_size(t, H5T_VARIABLE), "%s: type", name);
    AB_H5(H5Tset_cset(t, H5Tget_cset(ft)), "%s: type", name);
    if (np > 0) AB_H5R(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw), "dataset %s: read", name);
    for (hssize_t i = 0; i < np; i++) {
        res[i] = strdup(raw[i] ? raw[i] : "");
        AB_CHECK_ALLOC(res[i]);
    }
    *out = res;
    *n = (long)np;
    res = NULL;
cleanup:
    if (raw && sp >= 0 && t >= 0 && np > 0) H5Dvlen_reclaim(t, sp, H5P_DEFAULT, raw);
    free(raw);
    ab_h5_free_strings(res, (long)np);
    ab_h5_close(&t);
    ab_h5_close(&sp);
    ab_h5_close(&ft);
    ab_h5_close(&d);
    return rc;
}

ab_status ab_h5_write_f64_attr(hid_t obj, const char *name, double v)
{
    ab_status rc = AB_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    AB_H5(sp = H5Screate(H5S_SCALAR), "attribute %s", name);
    AB_H5(a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT),
          "attribute %s", name);
    AB_H5(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), "attribute %s", name);
cleanup:
    ab_h5_close(&a);
    ab_h5_close(&sp);
    return rc;
}

ab_status ab_h5_read_f64_attr(hid_t obj, const char *name, double *v)
{
    ab_status rc = AB_OK;
    hid_t a = H5I_INVALID_HID;
    AB_CHECK(H5Aexists(obj, name) > 0, AB_ERR_INPUT, "missing attribute '%s'", name);
    AB_H5R(a = H5Aopen(obj, name, H5P_DEFAULT), "attribute %s", name);
    AB_H5R(H5Aread(a, H5T_NATIVE_DOUBLE, v), "attribute %s", name);
cleanup:
    ab_h5_close(&a);
    return rc;
}

ab_status ab_h5_write_i64_array_attr(hid_t obj, const char *name, const int64_t *v, int n)
{
    ab_status rc = AB_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    AB_H5(sp = H5Screate_simple(1, dims, NULL), "attribute %s", name);
    AB_H5(a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT),
          "attribute %s", name);
    AB_H5(H5Awrite(a, H5T_NATIVE_INT64, v), "attribute %s", name);
cleanup:
    ab_h5_close(&a);
    ab_h5_close(&sp);
    return rc;
}

ab_status ab_h5_read_i64_array_attr(hid_t obj, const char *name, int max, int64_t *out,
                                    int *n)
{
    ab_status rc = AB_OK;
    hid_t a = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dims[1] = {0};
    *n = 0;
    AB_CHECK(H5Aexists(obj, name) > 0, AB_ERR_INPUT, "missing attribute '%s'", name);
    AB_H5R(a = H5Aopen(obj, name, H5P_DEFAULT), "attribute %s", name);
    AB_H5R(sp = H5Aget_space(a), "attribute %s", name);
    AB_CHECK(H5Sget_simple_extent_ndims(sp) == 1, AB_ERR_INPUT,
             "attribute '%s' is not a one-dimensional array", name);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    AB_CHECK(dims[0] <= (hsize_t)max, AB_ERR_INPUT,
             "attribute '%s' has %llu values; at most %d expected", name,
             (unsigned long long)dims[0], max);
    AB_H5R(H5Aread(a, H5T_NATIVE_INT64, out), "attribute %s", name);
    *n = (int)dims[0];
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&a);
    return rc;
}

ab_status ab_h5_write_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                            const void *data, int ndim, const hsize_t *dims)
{
    ab_status rc = AB_OK;
    hid_t sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
    AB_H5(sp = H5Screate_simple(ndim, dims, NULL), "%s: space", name);
    AB_H5(d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          "%s: create", name);
    AB_H5(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "%s: write", name);
cleanup:
    ab_h5_close(&d);
    ab_h5_close(&sp);
    return rc;
}
