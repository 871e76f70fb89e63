/* SPDX-License-Identifier: MIT
 *
 * pareto.h - multi-objective utilities: Pareto dominance, the non-dominated
 * filter and the exact hypervolume indicator.
 *
 * Every point is in MINIMISATION form: the caller negates the objectives it
 * maximises (accuracy -> -accuracy). A set of n points with m >= 1
 * objectives is a row-major n x m array of double: point i is
 * pts[i * m .. i * m + m).
 *
 *     // (latency ms, -accuracy) of four architectures; keep the front and
 *     // score it against the reference point (100 ms, -0.5).
 *     double pts[] = {20, -0.70,  35, -0.76,  40, -0.74,  90, -0.80};
 *     size_t idx[4];
 *     size_t k = ab_pareto_front(pts, 4, 2, idx);     // k = 3: {0, 1, 3}
 *     double ref[] = {100, -0.5};
 *     double hv = ab_pareto_hypervolume(pts, 4, 2, ref);
 *     if (hv < 0) return ab_err_status();             // out of memory
 *
 * NaN: a point with a NaN coordinate is dominated by every NaN-free point,
 * dominates nothing, is never in a front and adds nothing to a hypervolume.
 * Identical points do not dominate each other (all copies stay in a front).
 *
 * Nothing here keeps state between calls; every function is thread-safe
 * (errors go to the calling thread's slot, see util/error.h).
 */
#ifndef AB_SEARCH_PARETO_H
#define AB_SEARCH_PARETO_H

#include <stddef.h>

/* 1 if a dominates b: a[k] <= b[k] for every k and a[k] < b[k] for some k;
 * 0 otherwise. A point with a NaN coordinate never dominates; a NaN-free a
 * dominates every b that has a NaN. Cannot fail. */
int ab_pareto_dominates(const double *a, const double *b, int m);

/* The non-dominated filter: writes to idx (capacity n) the indices, in
 * ascending order, of the points of pts (n x m) that no other point
 * dominates, and returns their count. Copies of a non-dominated point all
 * stay; points with a NaN coordinate never do. Returns 0 when n == 0 or
 * m < 1.
 *
 * Cost: O(n log n) for m == 2 and m == 3 (a sort and a sweep; the 3-D sweep
 * allocates O(n) scratch and, when that fails, falls back to the m >= 4
 * method); O(m n f) for m == 1 and m >= 4, f the size of the front.
 * Cannot fail. */
size_t ab_pareto_front(const double *pts, size_t n, int m, size_t *idx);

/* The exact hypervolume of pts (n x m) with respect to ref (m values): the
 * volume of {x : some point p has p <= x <= ref}. Points that do not beat
 * ref strictly in every coordinate (NaN points among them) add nothing;
 * dominated points and duplicates are allowed. +INFINITY when some counted
 * point has a -inf coordinate or ref has a +inf one.
 *
 * Algorithms: m == 1 the best value; m == 2 a sort and sweep, O(n log n);
 * m == 3 the sweep of Beume et al. (2009) along the third objective with
 * the 2-D staircase in a bit-tree ordered set, O(n log n); m >= 4 the
 * slicing recursion of WFG (While et al. 2012): the volume is the sum over
 * the points, sorted by the first objective, of the thickness of their
 * slice times their exclusive (m-1)-D contribution, each computed from the
 * non-dominated limit set down to the 3-D sweep. Worst case exponential in
 * m, as for every known exact algorithm.
 *
 * Returns the volume (>= 0), or -1.0 with AB_ERR_NOMEM recorded by
 * ab_err_set when out of memory, or -1.0 with AB_ERR_INPUT when m < 1. */
double ab_pareto_hypervolume(const double *pts, size_t n, int m, const double *ref);

/* The same volume by the slicing recursion alone, down to two dimensions
 * (no 3-D sweep): O(n^2 log n) for m == 3 and slower than
 * ab_pareto_hypervolume for every m >= 3. It is an independent path to
 * cross-check the fast one. Same inputs, results and failures. */
double ab_pareto_hypervolume_sliced(const double *pts, size_t n, int m, const double *ref);

#endif /* AB_SEARCH_PARETO_H */
