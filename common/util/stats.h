/* SPDX-License-Identifier: MIT
 *
 * stats.h - the statistics predictors are judged by: Spearman rank
 * correlation (average ranks for ties, as scipy.stats.spearmanr), Pearson
 * correlation, mean absolute error and mean absolute percentage error (as
 * sklearn: |y - p| / max(|y|, eps)).
 */
#ifndef AB_UTIL_STATS_H
#define AB_UTIL_STATS_H

/* Average ranks (1-based) of x[0..n) into r. Allocation-free apart from
 * the index array the caller passes (n ints). */
void ab_stats_ranks(const double *x, int n, int *idx, double *r);

/* Spearman correlation of x and y; NAN when either is constant or n < 2.
 * Allocates O(n) scratch; returns NAN when out of memory. */
double ab_stats_spearman(const double *x, const double *y, int n);

/* Pearson correlation; NAN when either is constant or n < 2. */
double ab_stats_pearson(const double *x, const double *y, int n);

double ab_stats_mae(const double *y, const double *pred, int n);
double ab_stats_mape(const double *y, const double *pred, int n);

#endif
