/* SPDX-License-Identifier: MIT
 *
 * softrank.h - the differentiable soft rank of Blondel et al. 2020 ("Fast
 * differentiable sorting and ranking", ICML) with L2 regularisation, and the
 * soft Spearman correlation the AutoBuild loss uses.
 *
 * soft_rank(theta) (ascending: the smallest value gets rank ~1, the largest
 * ~n) is the Euclidean projection of theta / strength onto the permutahedron
 * of (n, n-1, ..., 1). It is computed in O(n log n) by sorting plus
 * pool-adjacent-violators isotonic regression; its Jacobian is block-constant
 * over the pooled blocks, so the backward pass is O(n). As strength -> 0 the
 * soft ranks become the hard ranks 1..n (ties aside).
 *
 * The soft Spearman term as the authors compute it: the Pearson correlation
 * of the targets y with soft_rank(x) / n (the targets are not ranked).
 *
 *     struct ab_softrank_ws ws;       // workspace for up to n_max values
 *     AB_CALL(ab_softrank_ws_init(&ws, n_max));
 *     double rho = ab_soft_spearman_fwd(&ws, x, y, n, 1.0);
 *     ab_soft_spearman_bwd(&ws, 1.0, dx);   // dx[i] += d rho / d x[i]
 *     ab_softrank_ws_free(&ws);
 *
 * Tied inputs share one soft rank (they always fall in one PAV block), so
 * the result does not depend on their order. Everything is computed in
 * double; tools/dev/softrank_reference.py is an independent numpy/torch
 * implementation that the unit test's expected numbers come from.
 */
#ifndef AB_NN_SOFTRANK_H
#define AB_NN_SOFTRANK_H

#include "util/error.h"

/* Workspace: holds the state of the last forward for its backward. Create
 * one per thread; it is reused across calls and never reallocated. */
struct ab_softrank_ws {
    int cap;            /* the largest n a call may pass */
    int n;              /* n of the last forward */
    double strength;    /* strength of the last forward */
    int *perm;          /* [cap] indices sorting theta descending (stable:
                         * equal values keep their input order) */
    int *tmp;           /* [cap] merge-sort scratch */
    int *block_end;     /* [cap] PAV block k covers sorted positions
                         * [block_end[k-1], block_end[k]) (block_end[-1] = 0) */
    int n_blocks;
    double *buf;        /* [3 cap] scratch: s = theta / strength sorted
                         * descending; the sort's scratch, then the PAV block
                         * sums; the soft Spearman targets and gradient */
    double *rank;       /* [cap] last soft ranks (original order) */
    /* soft Spearman state */
    double *yc;         /* [cap] centred targets */
    double *rc;         /* [cap] centred soft ranks / n */
    double ny, nr, rho; /* norms of yc, rc (0 when treated as constant); the
                         * correlation */
};

/* Allocates a workspace for up to cap values (cap >= 1). On failure
 * (AB_ERR_NOMEM; AB_ERR_INTERNAL for cap < 1) nothing stays allocated and
 * ab_softrank_ws_free() is still safe to call. */
ab_status ab_softrank_ws_init(struct ab_softrank_ws *ws, int cap);
/* Frees the buffers and zeroes the struct; safe on a zeroed or freed
 * workspace and on NULL. */
void ab_softrank_ws_free(struct ab_softrank_ws *ws);

/* Soft ranks of theta[0..n) into rank[0..n) (rank may be NULL: the ranks
 * are always kept in ws->rank). Preconditions, checked by assert(): 0 <= n
 * <= cap, strength > 0. The ranks sum to n (n + 1) / 2 and are ordered like
 * theta. Allocation-free; cannot fail. */
void ab_softrank_fwd(struct ab_softrank_ws *ws, const float *theta, int n, double strength,
                     double *rank);
/* Given d loss / d rank (g [n], original order) for the last forward, adds
 * d loss / d theta to dtheta [n]. Reads ws only; cannot fail. */
void ab_softrank_bwd(const struct ab_softrank_ws *ws, const double *g, float *dtheta);

/* Pearson correlation of y with soft_rank(x, strength) / n. Returns 0 when
 * either side has (numerically) zero variance: constant targets, or all soft
 * ranks equal (constant x, or a strength so large that the centred ranks are
 * below 1e-12 of the ranks); its gradient is then zero. Same preconditions
 * as ab_softrank_fwd(); cannot fail. */
double ab_soft_spearman_fwd(struct ab_softrank_ws *ws, const float *x, const float *y, int n,
                            double strength);
/* dx[i] += scale * d rho / d x[i] for the last forward; cannot fail. */
void ab_soft_spearman_bwd(struct ab_softrank_ws *ws, double scale, float *dx);

#endif /* AB_NN_SOFTRANK_H */
