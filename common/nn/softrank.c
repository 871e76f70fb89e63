/* SPDX-License-Identifier: MIT
 *
 * This file implements the L2 soft rank of Blondel et al. 2020 ("Fast
 * differentiable sorting and ranking") and the soft Spearman correlation of
 * the AutoBuild loss, with their exact backward passes.
 *
 * Forward, for z = theta / strength and w = (n, n-1, ..., 1):
 *   1. sigma = stable argsort of z, descending; s = z[sigma];
 *   2. v = argmin over non-increasing v of ||v - (s - w)||^2, solved by
 *      pool-adjacent-violators (PAV) with a stack of blocks: a new element
 *      is pushed as its own block, and while the block below has a mean that
 *      is not strictly greater than the top block's mean the two are pooled
 *      (equal means pool, as in the reference implementation, so tied
 *      inputs always share a block);
 *   3. rank[sigma[i]] = s[i] - v[i].
 * This is the Euclidean projection of z onto the permutahedron of w. Inside a
 * PAV block v is the block mean of s - w, so d rank / d s = I - A with A the
 * block-averaging matrix, and the vector-Jacobian product is
 *   dtheta[sigma[i]] += (g[sigma[i]] - mean over i's block of g[sigma]) / strength.
 *
 * Soft Spearman: rho = <yc, rc> / (|yc| |rc|), with yc = y - mean(y) and
 * rc = rank / n - mean(rank / n); d rho / d rc = yc / (|yc| |rc|) - rho rc /
 * |rc|^2, which goes through the 1/n scale and the soft-rank backward.
 *
 * Everything is computed in double; nothing allocates after
 * ab_softrank_ws_init().
 */
#include "nn/softrank.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Runs of this many elements are insertion-sorted before merging. */
#define SORT_RUN 16

/* A centred vector counts as constant when its norm is at most this fraction
 * of the uncentred norm: below that it is rounding noise, not variance. */
#define CONST_REL_TOL 1e-12

ab_status ab_softrank_ws_init(struct ab_softrank_ws *ws, int cap)
{
    ab_status rc = AB_OK;
    memset(ws, 0, sizeof *ws);
    AB_ASSERT(cap >= 1);
    size_t c = (size_t)cap;
    ws->cap = cap;
    ws->perm = malloc(c * sizeof *ws->perm);
    AB_CHECK_ALLOC(ws->perm);
    ws->tmp = malloc(c * sizeof *ws->tmp);
    AB_CHECK_ALLOC(ws->tmp);
    ws->block_end = malloc(c * sizeof *ws->block_end);
    AB_CHECK_ALLOC(ws->block_end);
    ws->buf = malloc(3 * c * sizeof *ws->buf);
    AB_CHECK_ALLOC(ws->buf);
    ws->rank = malloc(c * sizeof *ws->rank);
    AB_CHECK_ALLOC(ws->rank);
    ws->yc = malloc(c * sizeof *ws->yc);
    AB_CHECK_ALLOC(ws->yc);
    ws->rc = malloc(c * sizeof *ws->rc);
    AB_CHECK_ALLOC(ws->rc);
    return AB_OK;
cleanup:
    ab_softrank_ws_free(ws);
    return rc;
}

void ab_softrank_ws_free(struct ab_softrank_ws *ws)
{
    if (!ws) return;
    free(ws->perm);
    free(ws->tmp);
    free(ws->block_end);
    free(ws->buf);
    free(ws->rank);
    free(ws->yc);
    free(ws->rc);
    memset(ws, 0, sizeof *ws);
}

/* Stable sort of key[0..n) descending, carrying idx[0..n) along: insertion
 * sort of short runs, then bottom-up branch-free merges between (key, idx)
 * and (ktmp, itmp). An element moves ahead of an earlier one only when its
 * key is strictly greater, so equal keys keep their order. */
static void sort_desc(double *key, int *idx, double *ktmp, int *itmp, int n)
{
    for (int lo = 0; lo < n; lo += SORT_RUN) {
        int hi = lo + SORT_RUN < n ? lo + SORT_RUN : n;
        for (int i = lo + 1; i < hi; i++) {
            double k = key[i];
            int v = idx[i], j = i;
            for (; j > lo && k > key[j - 1]; j--) {
                key[j] = key[j - 1];
                idx[j] = idx[j - 1];
            }
            key[j] = k;
            idx[j] = v;
        }
    }
    double *ks = key, *kd = ktmp;
    int *is = idx, *id = itmp;
    for (int width = SORT_RUN; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                int take_b = ks[b] > ks[a];
                kd[o] = take_b ? ks[b] : ks[a];
                id[o++] = take_b ? is[b] : is[a];
                b += take_b;
                a += !take_b;
            }
            for (; a < mid; a++, o++) {
                kd[o] = ks[a];
                id[o] = is[a];
            }
            for (; b < hi; b++, o++) {
                kd[o] = ks[b];
                id[o] = is[b];
            }
        }
        double *kt = ks;
        ks = kd;
        kd = kt;
        int *it = is;
        is = id;
        id = it;
    }
    if (ks != key) {
        memcpy(key, ks, (size_t)n * sizeof *key);
        memcpy(idx, is, (size_t)n * sizeof *idx);
    }
}

/* PAV for argmin over non-increasing v of ||v - (s - w)||^2, w[i] = n - i.
 * Leaves the blocks in ws->block_end / ws->n_blocks and the block sums of
 * s - w in sum[0..n_blocks). */
static void isotonic_pav(struct ab_softrank_ws *ws, const double *s, double *sum, int n)
{
    int *end = ws->block_end;
    int nb = 0;
    for (int i = 0; i < n; i++) {
        sum[nb] = s[i] - (double)(n - i);
        end[nb] = i + 1;
        nb++;
        while (nb > 1) {
            int start_top = nb > 2 ? end[nb - 3] : 0;
            double mean_below = sum[nb - 2] / (double)(end[nb - 2] - start_top);
            double mean_top = sum[nb - 1] / (double)(end[nb - 1] - end[nb - 2]);
            if (mean_below > mean_top) break;
            sum[nb - 2] += sum[nb - 1];
            end[nb - 2] = end[nb - 1];
            nb--;
        }
    }
    ws->n_blocks = nb;
}

void ab_softrank_fwd(struct ab_softrank_ws *ws, const float *theta, int n, double strength,
                     double *rank)
{
    assert(n >= 0 && n <= ws->cap);
    assert(strength > 0);
    double *s = ws->buf, *sum = ws->buf + ws->cap;
    ws->n = n;
    ws->strength = strength;
    ws->n_blocks = 0;
    for (int i = 0; i < n; i++) {
        s[i] = (double)theta[i] / strength;
        ws->perm[i] = i;
    }
    sort_desc(s, ws->perm, sum, ws->tmp, n); /* sum is scratch until PAV */
    isotonic_pav(ws, s, sum, n);
    int start = 0;
    for (int k = 0; k < ws->n_blocks; k++) {
        int stop = ws->block_end[k];
        double v = sum[k] / (double)(stop - start);
        for (int i = start; i < stop; i++) ws->rank[ws->perm[i]] = s[i] - v;
        start = stop;
    }
    if (rank) memcpy(rank, ws->rank, (size_t)n * sizeof *rank);
}

void ab_softrank_bwd(const struct ab_softrank_ws *ws, const double *g, float *dtheta)
{
    const int *perm = ws->perm;
    double inv_strength = 1.0 / ws->strength;
    int start = 0;
    for (int k = 0; k < ws->n_blocks; k++) {
        int stop = ws->block_end[k];
        double mean = 0;
        for (int i = start; i < stop; i++) mean += g[perm[i]];
        mean /= (double)(stop - start);
        for (int i = start; i < stop; i++)
            dtheta[perm[i]] += (float)((g[perm[i]] - mean) * inv_strength);
        start = stop;
    }
}

/* Centres v [n] into c [n]; returns the centred norm, or 0 when it is at
 * most CONST_REL_TOL times the uncentred norm. */
static double centre(const double *v, int n, double *c)
{
    double mean = 0, raw2 = 0, norm2 = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    for (int i = 0; i < n; i++) {
        c[i] = v[i] - mean;
        raw2 += v[i] * v[i];
        norm2 += c[i] * c[i];
    }
    if (norm2 <= CONST_REL_TOL * CONST_REL_TOL * raw2) return 0;
    return sqrt(norm2);
}

double ab_soft_spearman_fwd(struct ab_softrank_ws *ws, const float *x, const float *y, int n,
                            double strength)
{
    ab_softrank_fwd(ws, x, n, strength, NULL);
    ws->ny = ws->nr = ws->rho = 0;
    if (n < 2) return 0;
    double *tmp = ws->buf + 2 * (size_t)ws->cap;
    for (int i = 0; i < n; i++) tmp[i] = (double)y[i];
    ws->ny = centre(tmp, n, ws->yc);
    for (int i = 0; i < n; i++) tmp[i] = ws->rank[i] / (double)n;
    ws->nr = centre(tmp, n, ws->rc);
    if (ws->ny == 0 || ws->nr == 0) return 0;
    double dot = 0;
    for (int i = 0; i < n; i++) dot += ws->yc[i] * ws->rc[i];
    ws->rho = dot / (ws->ny * ws->nr);
    return ws->rho;
}

void ab_soft_spearman_bwd(struct ab_softrank_ws *ws, double scale, float *dx)
{
    int n = ws->n;
    if (ws->ny == 0 || ws->nr == 0) return;
    double *g = ws->buf + 2 * (size_t)ws->cap;
    double a = 1.0 / (ws->ny * ws->nr), b = ws->rho / (ws->nr * ws->nr);
    double mean = 0;
    for (int i = 0; i < n; i++) {
        g[i] = a * ws->yc[i] - b * ws->rc[i]; /* d rho / d rc */
        mean += g[i];
    }
    mean /= (double)n;
    /* through the centring (rc = P r / n, P = I - 11^T / n) and the 1/n */
    for (int i = 0; i < n; i++) g[i] = scale * (g[i] - mean) / (double)n;
    ab_softrank_bwd(ws, g, dx);
}
