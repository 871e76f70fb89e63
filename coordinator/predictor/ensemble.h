/* SPDX-License-Identifier: MIT
 *
 * ensemble.h - predictor ensembles for few labels (METHOD.md section 5):
 * F folds x S seeds members, member (f, s) trained on every fold but f with
 * seed base + s; its held-out SRCC per hop weights its module scores.
 *
 * Training is collective over the runtime's communicator: member m trains
 * on rank m mod size (one thread each) and is sent to rank 0, so the result
 * does not depend on the number of ranks. Stored as one HDF5 file
 * (hdf5-schemas/ensemble.md) holding every member in the predictor layout.
 */
#ifndef AB_PREDICTOR_ENSEMBLE_H
#define AB_PREDICTOR_ENSEMBLE_H

#include "mpi/runtime.h"
#include "predictor/train.h"

struct ab_ensemble {
    int folds, seeds, n;
    char *target;
    struct ab_predictor **member; /* [n], member f * seeds + s */
};

/* Collective. On rank 0 *out receives the ensemble; on other ranks NULL.
 * Any rank's failure fails every rank with that rank's message. */
ab_status ab_ensemble_train(const struct ab_dataset *d, const char *target,
                            const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                            int folds, int seeds, const struct ab_runtime *rt,
                            struct ab_ensemble **out);

ab_status ab_ensemble_save(const struct ab_ensemble *e, const char *path);
ab_status ab_ensemble_load(const char *path, struct ab_ensemble **out);
/* An ensemble file, or a single predictor's file as an ensemble of one. */
ab_status ab_ensemble_load_any(const char *path, struct ab_ensemble **out);
void ab_ensemble_destroy(struct ab_ensemble **e);

/* The ensemble's prediction of n architectures in label units: mean[i] the
 * mean of the members' predictions, sd[i] (NULL for none) their sample
 * standard deviation (0 for one member). */
ab_status ab_ensemble_predict(struct ab_ensemble *e, const struct ab_arch *archs, long n,
                              double *mean, double *sd);

/* 1 when the file is an autobuild ensemble (0 for anything else). */
int ab_ensemble_is_file(const char *path);

#endif
