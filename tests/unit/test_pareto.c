/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of common/search/pareto.c: dominance
 * (equal points, NaN), the non-dominated filter on hand-made sets and on
 * random sets against a brute-force O(n^2 m) filter (m = 1..5, ties, copies,
 * NaN), and the hypervolume on analytic cases, on random small sets against
 * inclusion-exclusion over all subsets (m = 2..5), under permutations of
 * points and objectives, with dominated, duplicate, outside and NaN points
 * added, and on large 3-D and 4-D sets against the slicing-only path.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "search/pareto.h"
#include "util/error.h"

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ULL;

static void rng_reset(uint64_t seed) { rng_state = seed * 2654435761ULL + 1; }

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A uniform value, or one of the grid values 0, 1/4, .., 1 (ties, copies). */
static double coordinate(int grid)
{
    return grid ? floor(uniform() * 5) / 4 : uniform();
}

static double *alloc_doubles(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static size_t *alloc_sizes(size_t n)
{
    size_t *p = malloc((n ? n : 1) * sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static int close_rel(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* ---- brute force ----------------------------------------------------------- */

static int naive_dominates(const double *a, const double *b, int m)
{
    int strictly = 0;
    for (int k = 0; k < m; k++) {
        if (isnan(a[k])) return 0;
    }
    for (int k = 0; k < m; k++) {
        if (isnan(b[k])) return 1;
    }
    for (int k = 0; k < m; k++) {
        if (!(a[k] <= b[k])) return 0;
        if (a[k] < b[k]) strictly = 1;
    }
    return strictly;
}

/* Indices (ascending) of the points no other point dominates, NaN ones out. */
static size_t naive_front(const double *pts, size_t n, int m, size_t *idx)
{
    size_t f = 0;
    for (size_t i = 0; i < n; i++) {
        int alive = 1;
        for (int k = 0; k < m; k++) alive &= !isnan(pts[i * m + k]);
        for (size_t j = 0; j < n && alive; j++)
            alive = !naive_dominates(pts + j * m, pts + i * m, m);
        if (alive) idx[f++] = i;
    }
    return f;
}

/* The volume of the union of the boxes [p, ref] by inclusion-exclusion over
 * all nonempty subsets (n <= 20); NaN points are skipped. */
static double brute_hypervolume(const double *pts, size_t n, int m, const double *ref)
{
    double vol = 0, hi[8];
    for (uint32_t s = 1; s < (1u << n); s++) {
        int bits = 0, skip = 0;
        for (int k = 0; k < m; k++) hi[k] = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (!(s >> i & 1)) continue;
            bits++;
            for (int k = 0; k < m; k++) {
                skip |= isnan(pts[i * m + k]);
                hi[k] = fmax(hi[k], pts[i * m + k]);
            }
        }
        if (skip) continue;
        double term = 1;
        for (int k = 0; k < m; k++) term *= fmax(0.0, ref[k] - hi[k]);
        vol += bits % 2 ? term : -term;
    }
    return vol;
}

/* ---- dominance ------------------------------------------------------------- */

static void test_dominates(void)
{
    double a[] = {1, 2}, b[] = {2, 3}, c[] = {1, 3}, d[] = {2, 2}, e[] = {1, 2};
    double nan1[] = {NAN, 0}, nan2[] = {0, NAN}, inf[] = {-INFINITY, INFINITY};
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, b, 2), 1);
    CU_ASSERT_EQUAL(ab_pareto_dominates(b, a, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, c, 2), 1); /* one equal, one better */
    CU_ASSERT_EQUAL(ab_pareto_dominates(c, a, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(c, d, 2), 0); /* incomparable */
    CU_ASSERT_EQUAL(ab_pareto_dominates(d, c, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, e, 2), 0); /* equal points */
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, a, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, b, 1), 1); /* m = 1 */
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, e, 1), 0);
    /* NaN: never dominates, dominated by every NaN-free point */
    CU_ASSERT_EQUAL(ab_pareto_dominates(nan1, b, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(nan2, b, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(b, nan1, 2), 1);
    CU_ASSERT_EQUAL(ab_pareto_dominates(b, nan2, 2), 1);
    CU_ASSERT_EQUAL(ab_pareto_dominates(nan1, nan2, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(nan1, nan1, 2), 0);
    /* infinities are ordinary values */
    CU_ASSERT_EQUAL(ab_pareto_dominates(inf, b, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(a, inf, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates(inf, (double[]){-INFINITY, INFINITY}, 2), 0);
    CU_ASSERT_EQUAL(ab_pareto_dominates((double[]){-INFINITY, 3}, inf, 2), 1);
}

/* ---- the front ------------------------------------------------------------- */

static void check_front(const double *pts, size_t n, int m, const size_t *want, size_t nwant)
{
    size_t idx[64];
    CU_ASSERT_FATAL(n <= 64);
    size_t k = ab_pareto_front(pts, n, m, idx);
    CU_ASSERT_EQUAL(k, nwant);
    if (k == nwant) CU_ASSERT(memcmp(idx, want, k * sizeof *idx) == 0);
}

static void test_front_2d(void)
{
    /* the example of pareto.h: (latency, -accuracy) */
    double ex[] = {20, -0.70, 35, -0.76, 40, -0.74, 90, -0.80};
    check_front(ex, 4, 2, (size_t[]){0, 1, 3}, 3);
    /* a staircase with dominated points, equal x and equal y */
    double st[] = {5, 1,  /* 0 front */
                   1, 5,  /* 1 front */
                   3, 3,  /* 2 front */
                   3, 4,  /* 3 same x as 2, worse y */
                   4, 3,  /* 4 same y as 2, worse x */
                   2, 6,  /* 5 dominated by 1 */
                   6, 0,  /* 6 front */
                   0, 7}; /* 7 front */
    check_front(st, 8, 2, (size_t[]){0, 1, 2, 6, 7}, 5);
    /* one point; n = 0 */
    check_front(st, 1, 2, (size_t[]){0}, 1);
    CU_ASSERT_EQUAL(ab_pareto_front(st, 0, 2, NULL), 0);
    /* m = 1: every copy of the minimum */
    double one[] = {3, 1, 2, 1, 5};
    check_front(one, 5, 1, (size_t[]){1, 3}, 2);
}

static void test_front_3d(void)
{
    double p[] = {1, 1, 1,  /* 0 front, dominates 4 and 5 */
                  0, 2, 2,  /* 1 front */
                  2, 0, 2,  /* 2 front */
                  2, 2, 0,  /* 3 front */
                  1, 1, 2,  /* 4 dominated by 0 */
                  2, 2, 2,  /* 5 dominated */
                  0, 3, 1,  /* 6 front (x 0) */
                  1, 2, 1}; /* 7 dominated by 0 */
    check_front(p, 8, 3, (size_t[]){0, 1, 2, 3, 6}, 5);
    /* 4 and 5 objectives */
    double q[] = {1, 2, 3, 4,  4, 3, 2, 1,  1, 2, 3, 5,  0, 9, 9, 9};
    check_front(q, 4, 4, (size_t[]){0, 1, 3}, 3);
    double r[] = {1, 1, 1, 1, 2,  1, 1, 1, 2, 1,  1, 1, 1, 2, 2};
    check_front(r, 3, 5, (size_t[]){0, 1}, 2);
}

static void test_front_copies_nan(void)
{
    for (int m = 1; m <= 5; m++) {
        /* 0: a point a, 1: b dominated by a, 2: a copy of a, 3: NaN,
         * 4: a copy of b, 5: another copy of a, 6: a NaN copy of a */
        double p[7 * 5];
        for (int k = 0; k < m; k++) {
            p[0 * m + k] = p[2 * m + k] = p[5 * m + k] = p[6 * m + k] = k;
            p[1 * m + k] = p[4 * m + k] = k + (k == m - 1);
            p[3 * m + k] = -1;
        }
        p[3 * m + m - 1] = NAN;
        p[6 * m] = NAN;
        check_front(p, 7, m, (size_t[]){0, 2, 5}, 3);
        /* only NaN points: an empty front */
        CU_ASSERT_EQUAL(ab_pareto_front(p + 3 * m, 1, m, (size_t[1]){0}), 0);
    }
    /* a NaN point that would otherwise dominate all the others */
    double d[] = {1, 1, 1,  -5, NAN, -5,  2, 0, 1};
    check_front(d, 3, 3, (size_t[]){0, 2}, 2);
}

static void test_front_random(void)
{
    enum { NMAX = 400 };
    double *p = alloc_doubles(NMAX * 5);
    size_t *got = alloc_sizes(NMAX), *want = alloc_sizes(NMAX);
    const size_t sizes[] = {1, 2, 3, 9, 60, NMAX};
    for (int m = 1; m <= 5; m++)
        for (uint64_t seed = 1; seed <= 6; seed++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                size_t n = sizes[s];
                int grid = seed % 2 == 0, nan = seed % 3 == 0;
                rng_reset(seed * 100 + (uint64_t)m * 10 + s);
                for (size_t i = 0; i < n * (size_t)m; i++) {
                    p[i] = coordinate(grid);
                    if (nan && uniform() < 0.02) p[i] = NAN;
                }
                /* anti-correlated sets have large fronts */
                if (seed >= 5 && m >= 2)
                    for (size_t i = 0; i < n; i++) p[i * m + 1] = 1 - p[i * m] + 0.1 * p[i * m + 1];
                size_t k = ab_pareto_front(p, n, m, got), kw = naive_front(p, n, m, want);
                CU_ASSERT_EQUAL(k, kw);
                if (k == kw) CU_ASSERT(memcmp(got, want, k * sizeof *got) == 0);
            }
    free(p);
    free(got);
    free(want);
}

/* The points of the plane i + j + k = 199 (and of the line i + j = 19999)
 * are mutually non-dominated; shifted copies are dominated. */
static void test_front_large(void)
{
    enum { S = 199, N3 = (S + 1) * (S + 2) / 2, N2 = 20000 };
    double *p = alloc_doubles(2 * N3 * 3);
    size_t *idx = alloc_sizes(2 * N3), n = 0, k;
    for (int i = 0; i <= S; i++)
        for (int j = 0; i + j <= S; j++) {
            double *x = p + 3 * n, *y = p + 3 * (N3 + n);
            x[0] = i, x[1] = j, x[2] = S - i - j;
            y[0] = x[0] + 0.5, y[1] = x[1], y[2] = x[2] + 0.5;
            n++;
        }
    CU_ASSERT_EQUAL_FATAL(n, N3);
    k = ab_pareto_front(p, 2 * N3, 3, idx);
    CU_ASSERT_EQUAL(k, N3);
    CU_ASSERT(k > 0 && idx[0] == 0 && idx[k - 1] == N3 - 1);
    for (size_t i = 0; i < N2; i++) {
        p[2 * i] = (double)i;
        p[2 * i + 1] = (double)(N2 - 1 - i);
        p[2 * (N2 + i)] = (double)i + 0.25;
        p[2 * (N2 + i) + 1] = (double)(N2 - 1 - i);
    }
    k = ab_pareto_front(p, 2 * N2, 2, idx);
    CU_ASSERT_EQUAL(k, N2);
    CU_ASSERT(k > 0 && idx[0] == 0 && idx[k - 1] == N2 - 1);
    free(p);
    free(idx);
}

/* ---- hypervolume ----------------------------------------------------------- */

/* Both paths give want (relative 1e-12). */
static void check_hv(const double *pts, size_t n, int m, const double *ref, double want)
{
    double fast = ab_pareto_hypervolume(pts, n, m, ref);
    double sliced = ab_pareto_hypervolume_sliced(pts, n, m, ref);
    CU_ASSERT(close_rel(fast, want, 1e-12));
    CU_ASSERT(close_rel(sliced, want, 1e-12));
    if (!close_rel(fast, want, 1e-12) || !close_rel(sliced, want, 1e-12))
        fprintf(stderr, "\n  m %d n %zu: fast %.17g sliced %.17g want %.17g\n", m, n, fast,
                sliced, want);
}

static void test_hv_analytic(void)
{
    /* m = 1: ref minus the best */
    check_hv((double[]){3, 1, 2}, 3, 1, (double[]){5}, 4);
    /* one point: the product of ref - p, m = 1..5 */
    double p[] = {0.25, 0.5, 0.125, 0.75, 0.375}, ones[] = {1, 1, 1, 1, 1}, prod = 1;
    for (int m = 1; m <= 5; m++) {
        prod *= 1 - p[m - 1];
        check_hv(p, 1, m, ones, prod);
    }
    /* two 2-D points: 3 + 6 - 2 */
    check_hv((double[]){1, 3, 2, 1}, 2, 2, (double[]){4, 4}, 7);
    /* the example of pareto.h: 80 * 0.2 + 65 * 0.06 + 10 * 0.04 */
    double ex[] = {20, -0.70, 35, -0.76, 40, -0.74, 90, -0.80};
    check_hv(ex, 4, 2, (double[]){100, -0.5}, 20.3);
    /* three 3-D boxes of volume 2 meeting pairwise and all three in the
     * unit cube [1, 2]^3: 6 - 3 + 1 */
    double c3[] = {0, 1, 1, 1, 0, 1, 1, 1, 0}, r2[] = {2, 2, 2, 2};
    check_hv(c3, 3, 3, r2, 4);
    /* two boxes: 4 + 3 - 1.5 */
    check_hv((double[]){0, 0, 1, 0.5, 1, 0}, 2, 3, r2, 5.5);
    /* the same three boxes in 4-D, the fourth side 2 */
    double c4[] = {0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0};
    check_hv(c4, 3, 4, r2, 8);
    /* nothing counted: n = 0, all outside, ref itself */
    check_hv(c3, 0, 3, r2, 0);
    check_hv((double[]){2, 0, 0, 3, 3, 3}, 2, 3, r2, 0);
    check_hv(r2, 1, 3, r2, 0);
}

static void test_hv_random_bruteforce(void)
{
    double p[12 * 5], ref[5];
    for (int m = 2; m <= 5; m++)
        for (uint64_t seed = 1; seed <= 40; seed++) {
            size_t n = 1 + seed % 12;
            int grid = seed % 3 == 0;
            rng_reset(seed * 7 + (uint64_t)m);
            for (int k = 0; k < m; k++) ref[k] = 1 + (grid ? 0 : 0.1 * uniform());
            for (size_t i = 0; i < n * (size_t)m; i++) p[i] = coordinate(grid);
            if (seed % 4 == 0) p[m] = 1.2; /* the second point (if any) outside */
            if (seed % 5 == 0) p[0] = NAN;
            check_hv(p, n, m, ref, brute_hypervolume(p, n, m, ref));
        }
}

static void test_hv_invariance(void)
{
    enum { N = 10 };
    double p[4 * N * 5], q[4 * N * 5], ref[5], rq[5];
    for (int m = 2; m <= 5; m++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            int perm[5];
            rng_reset(seed * 31 + (uint64_t)m);
            for (int k = 0; k < m; k++) ref[k] = 1.0 + 0.5 * uniform();
            for (size_t i = 0; i < N * (size_t)m; i++) p[i] = uniform();
            double base = ab_pareto_hypervolume(p, N, m, ref);
            CU_ASSERT(close_rel(base, brute_hypervolume(p, N, m, ref), 1e-12));
            /* permuted points, permuted objectives */
            for (int k = 0; k < m; k++) perm[k] = (k + (int)seed) % m;
            for (size_t i = 0; i < N; i++)
                for (int k = 0; k < m; k++)
                    q[i * m + k] = p[((i * 7 + seed) % N) * m + perm[k]];
            for (int k = 0; k < m; k++) rq[k] = ref[perm[k]];
            CU_ASSERT(close_rel(ab_pareto_hypervolume(q, N, m, rq), base, 1e-12));
            CU_ASSERT(close_rel(ab_pareto_hypervolume_sliced(q, N, m, rq), base, 1e-12));
            /* plus dominated points, copies, outside points and NaN */
            memcpy(q, p, N * (size_t)m * sizeof *p);
            for (size_t i = 0; i < N; i++)
                for (int k = 0; k < m; k++) {
                    double x = p[i * m + k];
                    q[(N + i) * m + k] = x + (ref[k] - x) * uniform(); /* dominated */
                    q[(2 * N + i) * m + k] = x;                       /* copy */
                    q[(3 * N + i) * m + k] = k == (int)i % m ? ref[k] + (i % 2 ? 0 : 1) : -1;
                }
            q[(3 * N) * m + 1] = NAN;
            CU_ASSERT(close_rel(ab_pareto_hypervolume(q, 4 * N, m, ref), base, 1e-12));
            CU_ASSERT(close_rel(ab_pareto_hypervolume_sliced(q, 4 * N, m, ref), base, 1e-12));
        }
}

/* Points near the surface |1 - p| = 1: most are non-dominated. */
static void sphere_points(double *p, size_t n, int m, double noise)
{
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        for (int k = 0; k < m; k++) {
            p[i * m + k] = uniform() + 1e-3;
            norm += p[i * m + k] * p[i * m + k];
        }
        norm = sqrt(norm) * (1 + noise * uniform());
        for (int k = 0; k < m; k++) p[i * m + k] = 1 - p[i * m + k] / norm;
    }
}

static void test_hv_large(void)
{
    double *p = alloc_doubles(2000 * 4), ref[] = {1.1, 1.1, 1.1, 1.1};
    size_t *idx = alloc_sizes(2000);
    rng_reset(2024);
    sphere_points(p, 2000, 3, 0.01);
    size_t k = ab_pareto_front(p, 2000, 3, idx);
    CU_ASSERT(k > 1000); /* the test is about a large front */
    double fast = ab_pareto_hypervolume(p, 2000, 3, ref);
    double sliced = ab_pareto_hypervolume_sliced(p, 2000, 3, ref);
    CU_ASSERT(fast > 0.5 && fast < 1.331);
    CU_ASSERT(close_rel(fast, sliced, 1e-9));
    /* 4-D: slicing to the 3-D sweep against slicing to 2-D */
    rng_reset(7);
    sphere_points(p, 300, 4, 0.05);
    fast = ab_pareto_hypervolume(p, 300, 4, ref);
    sliced = ab_pareto_hypervolume_sliced(p, 300, 4, ref);
    CU_ASSERT(fast > 0.2 && fast < 1.4641);
    CU_ASSERT(close_rel(fast, sliced, 1e-9));
    free(p);
    free(idx);
}

static void test_hv_edges(void)
{
    double p[] = {0, 0, 0.5, -INFINITY, 0.5, 0.5}, ref[] = {1, 1, 1};
    /* infinite volumes */
    CU_ASSERT(isinf(ab_pareto_hypervolume(p, 2, 3, ref)));
    CU_ASSERT(isinf(ab_pareto_hypervolume(p, 1, 3, (double[]){1, INFINITY, 1})));
    /* equal x under an infinite ref: an inf * 0 strip would give NaN */
    double q[] = {0, 0, 0, 0, -1, 0.5};
    CU_ASSERT(isinf(ab_pareto_hypervolume(q, 2, 3, (double[]){1, INFINITY, 1})));
    CU_ASSERT(isinf(ab_pareto_hypervolume_sliced(q, 2, 3, (double[]){1, INFINITY, 1})));
    CU_ASSERT_EQUAL(ab_pareto_hypervolume(p, 1, 3, (double[]){1, NAN, 1}), 0);
    /* bad m */
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_pareto_hypervolume(p, 1, 0, ref), -1.0);
    CU_ASSERT_EQUAL(ab_err_status(), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_pareto_front(p, 1, 0, (size_t[1]){0}), 0);
    /* out of memory: a buffer for n points of m doubles cannot exist */
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_pareto_hypervolume(p, SIZE_MAX / 4, 2, ref), -1.0);
    CU_ASSERT_EQUAL(ab_err_status(), AB_ERR_NOMEM);
    CU_ASSERT(strstr(ab_err_msg(), "out of memory") != NULL);
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_pareto_hypervolume_sliced(p, SIZE_MAX / 4, 2, ref), -1.0);
    CU_ASSERT_EQUAL(ab_err_status(), AB_ERR_NOMEM);
    ab_err_clear();
}

static const struct cu_case cases[] = {
    {"dominance: basics, equal points, NaN", test_dominates},
    {"front: hand-made 2-D and m = 1", test_front_2d},
    {"front: hand-made 3-D, 4-D, 5-D", test_front_3d},
    {"front: copies kept, NaN excluded", test_front_copies_nan},
    {"front: random sets against brute force, m = 1..5", test_front_random},
    {"front: 20000 non-dominated points, 2-D and 3-D", test_front_large},
    {"hypervolume: analytic cases", test_hv_analytic},
    {"hypervolume: random sets against inclusion-exclusion", test_hv_random_bruteforce},
    {"hypervolume: permutations, dominated, copies, outside", test_hv_invariance},
    {"hypervolume: 3-D n 2000 and 4-D n 300, sweep vs slicing", test_hv_large},
    {"hypervolume: infinite, bad m, out of memory", test_hv_edges},
    {NULL, NULL}};

CU_MAIN("pareto", cases)
