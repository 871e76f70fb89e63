/* SPDX-License-Identifier: MIT
 *
 * This file implements rank and error statistics (stats.h).
 */
#include "util/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static const double *sort_key;

static int by_key(const void *a, const void *b)
{
    double x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    if (x < y) return -1;
    if (x > y) return 1;
    return *(const int *)a - *(const int *)b;
}

void ab_stats_ranks(const double *x, int n, int *idx, double *r)
{
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_key = x;
    qsort(idx, (size_t)n, sizeof(int), by_key);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) j++;
        double avg = 0.5 * (i + j) + 1.0;
        for (int k = i; k <= j; k++) r[idx[k]] = avg;
        i = j + 1;
    }
}

double ab_stats_pearson(const double *x, const double *y, int n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    if (n < 2) return NAN;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx <= 0 || syy <= 0) return NAN;
    return sxy / sqrt(sxx * syy);
}

double ab_stats_spearman(const double *x, const double *y, int n)
{
    if (n < 2) return NAN;
    int *idx = malloc(sizeof(int) * (size_t)n);
    double *rx = malloc(sizeof(double) * (size_t)n), *ry = malloc(sizeof(double) * (size_t)n);
    double rho = NAN;
    if (idx && rx && ry) {
        ab_stats_ranks(x, n, idx, rx);
        ab_stats_ranks(y, n, idx, ry);
        rho = ab_stats_pearson(rx, ry, n);
    }
    free(idx);
    free(rx);
    free(ry);
    return rho;
}

double ab_stats_mae(const double *y, const double *pred, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(y[i] - pred[i]);
    return n ? s / n : NAN;
}

double ab_stats_mape(const double *y, const double *pred, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(y[i] - pred[i]) / fmax(fabs(y[i]), DBL_EPSILON);
    return n ? s / n : NAN;
}
