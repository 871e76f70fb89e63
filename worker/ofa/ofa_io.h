/* SPDX-License-Identifier: MIT
 *
 * ofa_io.h - the files the OFA worker reads and writes besides supernets
 * (hdf5-schemas/ofa-io.md, hdf5-schemas/imageset.md):
 *
 *   input tensors  any HDF5 file with a float32 dataset `input` of shape
 *                  N x 3 x R x R (already normalised), as `ofa infer` reads;
 *   logits         `autobuild-ofa-logits` files: dataset `logits` N x classes,
 *                  optionally the calibrated BatchNorm statistics;
 *   image sets     `autobuild-imageset` files (tools/convert_imagenet_folder.py):
 *                  uint8 N x R x R x 3 images per resolution group /r<R>,
 *                  int64 labels, the normalisation mean / std.
 */
#ifndef AB_OFA_OFA_IO_H
#define AB_OFA_OFA_IO_H

#include <stdint.h>

#include "util/error.h"

#define AB_OFA_LOGITS_FORMAT "autobuild-ofa-logits"
#define AB_IMAGESET_FORMAT "autobuild-imageset"
#define AB_IMAGESET_MAX_RES 64

struct ab_ofa_subnet;

/* Reads dataset `input` of path: *x (malloc'd, n x 3 x r x r floats), *n,
 * *r. With want_r > 0 the side must equal want_r. Fails with AB_ERR_INPUT,
 * naming the file and the expected shape, when the dataset is missing, not
 * 4-dimensional, has other than 3 channels or non-square or wrong-sized
 * images, is empty, or holds a non-finite value. */
ab_status ab_ofa_input_read(const char *path, int want_r, float **x, int *n, int *r);

/* Writes an autobuild-ofa-logits file (temporary file + rename): `logits`
 * (n x classes float32), attributes `arch` (canonical JSON) and
 * `supernet`; with net non-NULL and calibrated set, group /bn with each
 * BatchNorm's running_mean / running_var under its module name.
 * AB_ERR_IO on failure (nothing is left at path). */
ab_status ab_ofa_logits_write(const char *path, const float *logits, int n, int classes,
                              const char *arch_json, const char *supernet,
                              const struct ab_ofa_subnet *net, int calibrated);

/* An open image set. */
struct ab_imageset {
    char *path;
    int64_t hid;                /* HDF5 file handle */
    long n;                     /* images */
    int n_classes;
    int n_res;
    int res[AB_IMAGESET_MAX_RES];
    double mean[3], std[3];
    int64_t *labels;            /* n labels */
};

/* Opens an image set and reads its labels. Fails with AB_ERR_INPUT when the
 * file is not an autobuild-imageset, a label is outside 0 .. n_classes - 1,
 * or std is not positive. *out is NULL on failure. */
ab_status ab_imageset_open(const char *path, struct ab_imageset **out);

/* Reads images [first, first + count) at resolution r, normalised
 * ((u8 / 255 - mean) / std) into out (count x 3 x r x r, NCHW). Fails with
 * AB_ERR_INPUT when the set has no group for r (the message lists the
 * resolutions it has and how to convert more) or the range is outside the
 * set. */
ab_status ab_imageset_read(const struct ab_imageset *set, int r, long first, long count,
                           float *out);

void ab_imageset_close(struct ab_imageset **set);

#endif /* AB_OFA_OFA_IO_H */
