/* SPDX-License-Identifier: MIT
 *
 * h5util.h - the one checking wrapper around HDF5 calls, plus the file
 * identity every autobuild HDF5 file carries: root attributes `format`
 * (e.g. "autobuild-archdata") and `format_version` (integer).
 *
 *     hid_t f = H5I_INVALID_HID;
 *     AB_H5(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: open", path);
 *
 * AB_H5 records the HDF5 error stack's innermost message with the given
 * context and jumps to cleanup when the call returns a negative value.
 */
#ifndef AB_H5_H5UTIL_H
#define AB_H5_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "util/error.h"

/* Turns off HDF5's own printing of error stacks (we report them). */
void ab_h5_init(void);

/* Records "<context>: <innermost HDF5 message>" and returns status. */
ab_status ab_h5_error(ab_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For writes: a failure is an I/O error. */
#define AB_H5(call, ...)                                                       \
    do {                                                                       \
        if ((call) < 0) {                                                      \
            rc = ab_h5_error(AB_ERR_IO, __VA_ARGS__);                          \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* For reads of a file the user gave: a failure means a damaged or foreign
 * file, which is bad input (exit 2). */
#define AB_H5R(call, ...)                                                      \
    do {                                                                       \
        if ((call) < 0) {                                                      \
            rc = ab_h5_error(AB_ERR_INPUT, __VA_ARGS__);                       \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* Closes any kind of HDF5 handle if valid and sets it invalid. */
void ab_h5_close(hid_t *id);

/* Opens an autobuild file read-only and checks its identity. A file that is
 * not HDF5 (or is truncated) or is of another kind gives an AB_ERR_INPUT
 * error naming the path, what it is and what was expected. */
ab_status ab_h5_open_checked(const char *path, const char *format, int max_version,
                             hid_t *file, int *version);

/* Writes the identity attributes and `created_by`. */
ab_status ab_h5_write_identity(hid_t file, const char *format, int version);

/* String and integer attributes on any object. ab_h5_read_str_attr returns
 * a malloc'd string; a missing attribute is an AB_ERR_INPUT error. */
ab_status ab_h5_write_str_attr(hid_t obj, const char *name, const char *value);
ab_status ab_h5_read_str_attr(hid_t obj, const char *name, char **out);
ab_status ab_h5_write_i64_attr(hid_t obj, const char *name, int64_t value);
ab_status ab_h5_read_i64_attr(hid_t obj, const char *name, int64_t *out);
ab_status ab_h5_write_f64_attr(hid_t obj, const char *name, double value);
ab_status ab_h5_read_f64_attr(hid_t obj, const char *name, double *out);
/* One-dimensional int64 array attributes. Reading fails with AB_ERR_INPUT
 * when the attribute is missing, not one-dimensional or longer than max. */
ab_status ab_h5_write_i64_array_attr(hid_t obj, const char *name, const int64_t *v, int n);
ab_status ab_h5_read_i64_array_attr(hid_t obj, const char *name, int max, int64_t *out,
                                    int *n);

/* Writes a whole dataset `name` under loc: file type ftype (e.g.
 * H5T_IEEE_F32LE), memory type mtype, ndim dimensions. AB_ERR_IO naming
 * the dataset on failure. */
ab_status ab_h5_write_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                            const void *data, int ndim, const hsize_t *dims);

/* Variable-length UTF-8 string datasets, one dimension. */
ab_status ab_h5_write_strings(hid_t loc, const char *name, const char *const *s, long n);
/* *out: array of n malloc'd strings (free with ab_h5_free_strings). */
ab_status ab_h5_read_strings(hid_t loc, const char *name, long *n, char ***out);
void ab_h5_free_strings(char **s, long n);

#endif
