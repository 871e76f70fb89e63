/* SPDX-License-Identifier: MIT
 *
 * ofa_supernet.h - a Once-for-All supernet in memory: every parameter and
 * BatchNorm buffer of OFA's state dict, loaded from an
 * `autobuild-ofa-supernet` HDF5 file (hdf5-schemas/ofa-supernet.md, written
 * by tools/convert_ofa_supernet.py from OFA's released checkpoints) or made
 * with random weights (for latency, which does not depend on the weights,
 * and for tests).
 *
 *     struct ab_ofa_supernet *sn = NULL;
 *     if (ab_ofa_supernet_load("ofa_mbv3_w12.h5", &sn))
 *         die(ab_err_msg());
 *     const float *w = ab_ofa_supernet_tensor(sn, "first_conv.conv.weight", NULL);
 *     ab_ofa_supernet_destroy(&sn);
 *
 * Tensors are kept under OFA's current names (blocks.N.conv.*); a file
 * converted from the older naming (blocks.N.mobile_inverted_conv.*) is
 * read under the current names. Every tensor of the net's layout
 * (ab_ofa_supernet_layout) must be present with its exact shape.
 *
 * A supernet is read-only after loading: several threads may splice from
 * one supernet at once.
 */
#ifndef AB_OFA_OFA_SUPERNET_H
#define AB_OFA_OFA_SUPERNET_H

#include <stdint.h>

#include "ofa/ofa_net.h"
#include "util/error.h"

#define AB_OFA_SUPERNET_FORMAT "autobuild-ofa-supernet"
#define AB_OFA_SUPERNET_VERSION 1

struct ab_ofa_supernet {
    char *path;                 /* file it came from; "random" otherwise */
    const struct ab_ofa_netdef *net;
    double bn_eps;
    int n_classes;
    int legacy_names;           /* the file used blocks.N.mobile_inverted_conv */
    int n_params;
    struct ab_ofa_param *params; /* layout, current names */
    float **data;               /* data[i]: params[i]'s values, C order */
};

/* Loads a supernet file. Fails with AB_ERR_INPUT, naming the file and the
 * problem, when it is not an autobuild-ofa-supernet file, its net_id is not
 * one of the released nets, its elastic lists are not k {3,5,7} e {3,4,6}
 * d {2,3,4}, or a tensor is missing, has another shape, or holds a
 * non-finite value; AB_ERR_NOMEM. *out is NULL on failure. */
ab_status ab_ofa_supernet_load(const char *path, struct ab_ofa_supernet **out);

/* Makes a supernet of net net_id with n_classes outputs and random weights
 * drawn from seed: convolution and linear weights N(0, 2 / fan_in),
 * BatchNorm weight U(0.5, 1.5), bias and running mean N(0, 0.1^2),
 * running variance U(0.5, 2), kernel transform matrices identity plus
 * N(0, 0.05^2), biases N(0, 0.1^2). Fails with AB_ERR_INPUT for an unknown
 * net_id or class count; AB_ERR_NOMEM. */
ab_status ab_ofa_supernet_random(const char *net_id, int n_classes, uint64_t seed,
                                 struct ab_ofa_supernet **out);

/* Writes the supernet to path (temporary file + rename) in the
 * autobuild-ofa-supernet format with current names. AB_ERR_IO on failure;
 * an existing file at path is then untouched. */
ab_status ab_ofa_supernet_save(const struct ab_ofa_supernet *sn, const char *path);

/* The values of the tensor called name (current naming), or NULL when the
 * supernet has none. With shape non-NULL, *shape points at its
 * ab_ofa_param. Cannot fail. */
const float *ab_ofa_supernet_tensor(const struct ab_ofa_supernet *sn, const char *name,
                                    const struct ab_ofa_param **shape);

void ab_ofa_supernet_destroy(struct ab_ofa_supernet **sn);

#endif /* AB_OFA_OFA_SUPERNET_H */
