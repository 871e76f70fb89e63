/* SPDX-License-Identifier: MIT
 *
 * train.h - training an AutoBuild predictor on a labelled dataset with the
 * authors' recipe (METHOD.md section 3): seeded 90/10 split, targets
 * standardised with the training split's mean and population std, shuffled
 * batches, AdamW, gradient-norm clipping, the hop soft-Spearman loss; then
 * test metrics, hop moments and stage/hop label moments for module scoring.
 */
#ifndef AB_PREDICTOR_TRAIN_H
#define AB_PREDICTOR_TRAIN_H

#include "data/dataset.h"
#include "predictor/model.h"

struct ab_train_opts {
    long epochs;            /* 200 */
    int batch;              /* 128 */
    double lr, wd, clip;    /* 1e-4, 1e-5, 5.0 */
    unsigned long long seed;/* split, initialisation and shuffling */
    double train_ratio;     /* 0.9 */
    int threads;            /* BLAS threads (0: leave as is) */
    double progress_s;      /* seconds between progress lines (0: none) */
};

void ab_train_opts_default(struct ab_train_opts *o);

/* Trains a predictor of cfg on the dataset's rows, target = label equation.
 * Fails (AB_ERR_INPUT) on an unknown metric, NaN/inf labels (row named),
 * fewer than 10 rows or a constant target. On success *out holds the
 * trained predictor with its test metrics and moments filled in. */
ab_status ab_train_predictor(const struct ab_dataset *d, const char *target,
                             const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                             struct ab_predictor **out);

/* Trains one ensemble member: the rows are shuffled by split_seed and dealt
 * into `folds` folds; the member trains on every fold but `fold` (its
 * held-out set, on which the test metrics and hop SRCCs are measured), with
 * o->seed for initialisation and batch order. */
ab_status ab_train_member(const struct ab_dataset *d, const char *target,
                          const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                          int folds, int fold, unsigned long long split_seed,
                          struct ab_predictor **out);

#endif
