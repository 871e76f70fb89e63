/* SPDX-License-Identifier: MIT
 *
 * checkpoint.h - predictor checkpoints in HDF5 (hdf5-schemas/predictor.md):
 * weights by their PyTorch state-dict names, the model configuration, the
 * target equation, label moments, hop and stage moments, test metrics.
 */
#ifndef AB_PREDICTOR_CHECKPOINT_H
#define AB_PREDICTOR_CHECKPOINT_H

#include <hdf5.h>

#include "predictor/model.h"

#define AB_PREDICTOR_FORMAT "autobuild-predictor"
#define AB_PREDICTOR_VERSION 1

/* Writes atomically (temporary file + rename). */
ab_status ab_predictor_save(const struct ab_predictor *p, const char *path);

/* Reads a checkpoint; a file of another kind, a damaged file, missing or
 * misshapen weights are AB_ERR_INPUT errors naming the file and dataset. */
ab_status ab_predictor_load(const char *path, struct ab_predictor **out);

/* The same layout inside any HDF5 group (ensembles hold one per member);
 * `path` names the file in errors. */
ab_status ab_predictor_write_group(const struct ab_predictor *p, hid_t loc);
ab_status ab_predictor_read_group(hid_t loc, const char *path, struct ab_predictor **out);

#endif
