/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of common/nn/softrank.c: hand-computed
 * soft ranks (hard-rank and near-mean limits, a two-element PAV pool), an
 * independent brute-force projection onto the permutahedron (enumerating its
 * faces) for n <= 5, the permutahedron invariants, finite-difference checks
 * of both backward passes (n = 2 .. 300, strengths 0.1 .. 10, ties, large
 * pooled blocks), the limits of the soft Spearman correlation, and numbers
 * printed by the independent numpy/torch implementation
 * tools/dev/softrank_reference.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "nn/softrank.h"
#include "util/error.h"

#define NMAX 3000

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

static double normal(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void fill_normal(float *x, int n, double scale)
{
    for (int i = 0; i < n; i++) x[i] = (float)(scale * normal());
}

static struct ab_softrank_ws ws_new(int cap)
{
    struct ab_softrank_ws ws;
    CU_ASSERT_FATAL(ab_softrank_ws_init(&ws, cap) == AB_OK);
    return ws;
}

static double max_abs_diff(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* Block id of every original index for the last forward: the soft rank is
 * affine on the set of inputs that share these ids. */
static void block_ids(const struct ab_softrank_ws *ws, int *id)
{
    int start = 0;
    for (int k = 0; k < ws->n_blocks; k++) {
        for (int i = start; i < ws->block_end[k]; i++) id[ws->perm[i]] = k;
        start = ws->block_end[k];
    }
}

/* ---- brute force: the projection onto the permutahedron by its faces -------
 * A face of the permutahedron of w is given by an ordered partition
 * (B_0, ..., B_{k-1}) of the indices: on it, the coordinates in B_0 hold the
 * |B_0| largest values of w, those in B_1 the next ones, and so on. Its affine
 * hull fixes only each block's sum, so the projection of z onto it adds to
 * each coordinate of a block the same shift. The projection onto the
 * permutahedron lies in the relative interior of some face and is the
 * projection onto that face's hull, so it is the nearest feasible one of
 * these candidates. Feasibility: mu is in the permutahedron iff its values
 * sorted descending have partial sums <= those of w and the same total. */

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int in_permutahedron(const double *mu, int n)
{
    double v[8], acc = 0, accw = 0;
    memcpy(v, mu, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    for (int i = 0; i < n; i++) {
        acc += v[i];
        accw += n - i;
        if (acc > accw + 1e-9) return 0;
    }
    return fabs(acc - accw) < 1e-9;
}

static void brute_projection(const double *z, int n, double *best)
{
    int label[8] = {0};
    double best_d = INFINITY;
    int total = 1;
    for (int i = 0; i < n; i++) total *= n;
    for (int code = 0; code < total; code++) {
        int c = code, k = 0, size[8] = {0};
        for (int i = 0; i < n; i++) {
            label[i] = c % n;
            c /= n;
            size[label[i]]++;
        }
        while (k < n && size[k] > 0) k++;
        int ok = 1; /* labels used must be exactly 0..k-1 */
        for (int j = k; j < n; j++) ok &= size[j] == 0;
        if (!ok) continue;
        double mu[8], d = 0;
        int before = 0;
        for (int b = 0; b < k; b++) {
            double wsum = 0, zsum = 0;
            for (int j = 0; j < size[b]; j++) wsum += n - before - j;
            for (int i = 0; i < n; i++)
                if (label[i] == b) zsum += z[i];
            for (int i = 0; i < n; i++)
                if (label[i] == b) mu[i] = z[i] + (wsum - zsum) / size[b];
            before += size[b];
        }
        if (!in_permutahedron(mu, n)) continue;
        for (int i = 0; i < n; i++) d += (mu[i] - z[i]) * (mu[i] - z[i]);
        if (d < best_d) {
            best_d = d;
            memcpy(best, mu, (size_t)n * sizeof *best);
        }
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

static void test_lifecycle(void)
{
    struct ab_softrank_ws ws;
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_softrank_ws_init(&ws, 0), AB_ERR_INTERNAL);
    CU_ASSERT_PTR_NULL(ws.perm);
    CU_ASSERT_PTR_NULL(ws.buf);
    CU_ASSERT(strstr(ab_err_msg(), "cap >= 1") != NULL);
    ab_softrank_ws_free(&ws);
    ab_err_clear();
    CU_ASSERT_EQUAL_FATAL(ab_softrank_ws_init(&ws, 10), AB_OK);
    CU_ASSERT_EQUAL(ws.cap, 10);
    ab_softrank_ws_free(&ws);
    CU_ASSERT_PTR_NULL(ws.rank);
    ab_softrank_ws_free(&ws);
    ab_softrank_ws_free(NULL);
}

/* ---- hand-computed cases -------------------------------------------------- */

static void test_hand_cases(void)
{
    struct ab_softrank_ws ws = ws_new(8);
    const float t312[3] = {3, 1, 2};
    double r[8];

    /* tiny strength: the hard ranks */
    ab_softrank_fwd(&ws, t312, 3, 1e-4, r);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 1, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r[2], 2, 1e-9);
    CU_ASSERT_EQUAL(ws.n_blocks, 3);

    /* strength 100: z = (.03, .01, .02), s - w = (-2.97, -1.98, -.99) rises,
     * so one block with v = mean = .02 - 2 and r = z + 1.98 */
    ab_softrank_fwd(&ws, t312, 3, 100, r);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 2.01, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 1.99, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r[2], 2.00, 1e-12);
    CU_ASSERT_EQUAL(ws.n_blocks, 1);

    /* strength 1: s - w = (0, 0, 0); equal means pool, ranks stay exact */
    ab_softrank_fwd(&ws, t312, 3, 1, r);
    CU_ASSERT_EQUAL(ws.n_blocks, 1);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(r[2], 2, 1e-15);

    /* a two-element pool: theta = (2.5, .5, 2), s = (2.5, 2, .5),
     * s - w = (-.5, 0, -.5): the first two pool at -.25, the last stays;
     * sorted ranks s - v = (2.75, 2.25, 1) */
    const float tpool[3] = {2.5f, 0.5f, 2.0f};
    ab_softrank_fwd(&ws, tpool, 3, 1, r);
    CU_ASSERT_EQUAL(ws.n_blocks, 2);
    CU_ASSERT_EQUAL(ws.block_end[0], 2);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 2.75, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 1.00, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(r[2], 2.25, 1e-15);
    /* its Jacobian: d r0 / d theta = (.5, 0, -.5), d r1 / d theta = 0 */
    const double g0[3] = {1, 0, 0}, g1[3] = {0, 1, 0}, g2[3] = {0, 0, 3};
    float d[3] = {0, 0, 0};
    ab_softrank_bwd(&ws, g0, d);
    CU_ASSERT_DOUBLE_EQUAL(d[0], 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(d[1], 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(d[2], -0.5, 1e-7);
    memset(d, 0, sizeof d);
    ab_softrank_bwd(&ws, g1, d);
    CU_ASSERT(d[0] == 0 && d[1] == 0 && d[2] == 0);
    /* strength 2 scales the Jacobian by 1/2 (z = theta / 2 = (1.25, .25, 1):
     * s - w = (-1.75, -1, -.75) pools all three) */
    ab_softrank_fwd(&ws, tpool, 3, 2, r);
    CU_ASSERT_EQUAL(ws.n_blocks, 1);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 1.25 - 2.5 / 3 + 2, 1e-12);
    memset(d, 0, sizeof d);
    ab_softrank_bwd(&ws, g2, d); /* 3 (e2 - 1/3) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(d[0], -0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(d[1], -0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(d[2], 1.0, 1e-7);

    /* ties: equal inputs share one rank */
    const float t55[4] = {5, 5, 5, 5}, t11[2] = {1, 1};
    ab_softrank_fwd(&ws, t11, 2, 1, r);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 1.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 1.5, 1e-15);
    ab_softrank_fwd(&ws, t55, 4, 1e-3, r);
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(r[i], 2.5, 1e-9);

    /* n = 1 and n = 0 */
    ab_softrank_fwd(&ws, t312, 1, 0.5, r);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 1, 1e-15);
    ab_softrank_fwd(&ws, t312, 0, 0.5, NULL);
    CU_ASSERT_EQUAL(ws.n_blocks, 0);
    ab_softrank_ws_free(&ws);
}

/* ---- against the brute-force projection ------------------------------------ */

static void test_brute_force(void)
{
    struct ab_softrank_ws ws = ws_new(8);
    static const double scales[] = {0.2, 1, 3};
    rng_reset(1);
    for (int n = 2; n <= 5; n++)
        for (int trial = 0; trial < 150; trial++) {
            float t[8];
            double z[8], r[8], ref[8];
            fill_normal(t, n, scales[trial % 3]);
            if (trial % 5 == 4) /* ties */
                for (int i = 0; i < n; i++) t[i] = roundf(t[i] * 2) / 2;
            for (int i = 0; i < n; i++) z[i] = t[i];
            ab_softrank_fwd(&ws, t, n, 1, r);
            brute_projection(z, n, ref);
            CU_ASSERT(max_abs_diff(r, ref, n) < 1e-9);
        }
    ab_softrank_ws_free(&ws);
}

/* ---- strength -> 0: the hard ranks ------------------------------------------ */

static void test_hard_limit(void)
{
    const int n = 50;
    struct ab_softrank_ws ws = ws_new(n);
    float t[50];
    double r[50];
    rng_reset(2);
    for (int trial = 0; trial < 20; trial++) {
        fill_normal(t, n, 1);
        double gap = INFINITY;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j) gap = fmin(gap, fabs((double)t[i] - t[j]));
        if (gap == 0) continue;
        for (int pass = 0; pass < 2; pass++) {
            /* gaps in z above 1: all blocks are singletons */
            double strength = pass == 0 ? 0.9 * gap : 1e-9;
            ab_softrank_fwd(&ws, t, n, strength, r);
            CU_ASSERT_EQUAL(ws.n_blocks, n);
            for (int i = 0; i < n; i++) {
                int hard = 1;
                for (int j = 0; j < n; j++) hard += t[j] < t[i];
                CU_ASSERT_DOUBLE_EQUAL(r[i], hard, 1e-6);
            }
        }
    }
    ab_softrank_ws_free(&ws);
}

/* ---- permutahedron invariants ------------------------------------------------ */

static void check_invariants(struct ab_softrank_ws *ws, const float *t, int n, double strength)
{
    static double r[NMAX], r2[NMAX];
    static float rev[NMAX];
    ab_softrank_fwd(ws, t, n, strength, r);
    double sum = 0;
    int bad_order = 0, bad_range = 0;
    for (int i = 0; i < n; i++) {
        sum += r[i];
        bad_range += r[i] < 1 - 1e-9 || r[i] > n + 1e-9;
    }
    CU_ASSERT_DOUBLE_EQUAL(sum, 0.5 * n * (n + 1.0), 1e-12 * n * n + 1e-12);
    CU_ASSERT_EQUAL(bad_range, 0);
    /* ordered like the input; ties get bitwise-equal ranks */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n && j < i + 64; j++) {
            if (t[i] > t[j]) bad_order += !(r[i] >= r[j] - 1e-12);
            if (t[i] < t[j]) bad_order += !(r[i] <= r[j] + 1e-12);
            if (t[i] == t[j]) bad_order += r[i] != r[j];
        }
    CU_ASSERT_EQUAL(bad_order, 0);
    /* perm sorts descending, stably: equal values keep their input order */
    int bad_perm = 0;
    for (int i = 1; i < n; i++) {
        float a = t[ws->perm[i - 1]], b = t[ws->perm[i]];
        bad_perm += a < b || (a == b && ws->perm[i - 1] > ws->perm[i]);
    }
    CU_ASSERT_EQUAL(bad_perm, 0);
    /* equivariant: reversing the input reverses the ranks exactly */
    for (int i = 0; i < n; i++) rev[i] = t[n - 1 - i];
    ab_softrank_fwd(ws, rev, n, strength, r2);
    int bad_rev = 0;
    for (int i = 0; i < n; i++) bad_rev += r2[i] != r[n - 1 - i];
    CU_ASSERT_EQUAL(bad_rev, 0);
}

static void test_invariants(void)
{
    static const int sizes[] = {1, 2, 7, 100, 1000, 3000};
    static const double strengths[] = {1e-3, 0.1, 1, 10, 1e4};
    static float t[NMAX];
    struct ab_softrank_ws ws = ws_new(NMAX);
    rng_reset(3);
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof strengths / sizeof *strengths; b++)
            for (int kind = 0; kind < 3; kind++) {
                int n = sizes[a];
                fill_normal(t, n, kind == 2 ? 0.01 : 3);
                if (kind == 1)
                    for (int i = 0; i < n; i++) t[i] = roundf(t[i]);
                check_invariants(&ws, t, n, strengths[b]);
            }
    ab_softrank_ws_free(&ws);
}

/* A workspace used for a larger n gives the same result as a fresh one. */
static void test_reuse(void)
{
    static float big[500], t[40];
    double r1[40], r2[40];
    struct ab_softrank_ws used = ws_new(500), fresh = ws_new(40);
    rng_reset(4);
    fill_normal(big, 500, 1);
    fill_normal(t, 40, 1);
    ab_softrank_fwd(&used, big, 500, 0.3, NULL);
    ab_softrank_fwd(&used, t, 40, 0.7, r1);
    ab_softrank_fwd(&fresh, t, 40, 0.7, r2);
    CU_ASSERT_EQUAL(memcmp(r1, r2, sizeof r1), 0);
    CU_ASSERT_EQUAL(used.n_blocks, fresh.n_blocks);
    ab_softrank_ws_free(&used);
    ab_softrank_ws_free(&fresh);
}

/* ---- finite differences ------------------------------------------------------ */

/* Fills t [n] with one of the test input kinds: 0 normal, 1 many ties,
 * 2 clustered (large pooled blocks unless the strength is tiny). */
static void fill_kind(float *t, int n, int kind)
{
    fill_normal(t, n, kind == 2 ? 0.01 : 1);
    if (kind == 1)
        for (int i = 0; i < n; i++) t[i] = roundf(t[i] * 4) / 4;
}

/* Central difference of f along coordinate i, or NAN when theta +- h leaves
 * the affine piece of the soft rank (the block of some index changes). */
typedef double (*fd_fn)(struct ab_softrank_ws *ws, float *t, int n, double strength,
                        const void *arg);

static double central_diff(struct ab_softrank_ws *ws, fd_fn f, float *t, int n,
                           double strength, const void *arg, int i, double h,
                           const int *ids, int *ids2)
{
    float keep = t[i];
    float tp = (float)(keep + h), tm = (float)(keep - h);
    t[i] = tp;
    double fp = f(ws, t, n, strength, arg);
    block_ids(ws, ids2);
    int same = memcmp(ids, ids2, (size_t)n * sizeof *ids) == 0;
    t[i] = tm;
    double fm = f(ws, t, n, strength, arg);
    block_ids(ws, ids2);
    same &= memcmp(ids, ids2, (size_t)n * sizeof *ids) == 0;
    t[i] = keep;
    return same ? (fp - fm) / ((double)tp - (double)tm) : NAN;
}

/* <g, soft_rank(t)> */
static double dot_rank(struct ab_softrank_ws *ws, float *t, int n, double strength,
                       const void *arg)
{
    const double *g = arg;
    static double r[NMAX];
    ab_softrank_fwd(ws, t, n, strength, r);
    double s = 0;
    for (int i = 0; i < n; i++) s += g[i] * r[i];
    return s;
}

static double spearman(struct ab_softrank_ws *ws, float *t, int n, double strength,
                       const void *arg)
{
    return ab_soft_spearman_fwd(ws, t, arg, n, strength);
}

static const int fd_sizes[] = {2, 5, 37, 300};
static const double fd_strengths[] = {0.1, 1, 10};

static int max_block(const struct ab_softrank_ws *ws)
{
    int m = 0, start = 0;
    for (int k = 0; k < ws->n_blocks; k++) {
        m = ws->block_end[k] - start > m ? ws->block_end[k] - start : m;
        start = ws->block_end[k];
    }
    return m;
}

static void test_fd_softrank(void)
{
    static float t[300], d[300];
    static double g[300];
    static int ids[300], ids2[300];
    struct ab_softrank_ws ws = ws_new(300);
    int checked = 0, skipped = 0, bad = 0, big_blocks = 0;
    rng_reset(5);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int kind = 0; kind < 3; kind++) {
                int n = fd_sizes[a];
                double strength = fd_strengths[b];
                fill_kind(t, n, kind);
                for (int i = 0; i < n; i++) g[i] = normal();
                ab_softrank_fwd(&ws, t, n, strength, NULL);
                block_ids(&ws, ids);
                big_blocks += n >= 37 && max_block(&ws) == n;
                memset(d, 0, (size_t)n * sizeof *d);
                ab_softrank_bwd(&ws, g, d);
                for (int i = 0; i < n; i++) {
                    double fd = central_diff(&ws, dot_rank, t, n, strength, g, i,
                                             1e-3 * strength, ids, ids2);
                    if (isnan(fd)) {
                        skipped++;
                        continue;
                    }
                    checked++;
                    bad += fabs(fd - d[i]) > 1e-6 * (1 + fabs(fd));
                }
            }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(checked > 20 * skipped);
    CU_ASSERT(big_blocks >= 4); /* some inputs pooled into one block */
    ab_softrank_ws_free(&ws);
}

static void test_fd_spearman(void)
{
    static float t[300], y[300], d[300];
    static int ids[300], ids2[300];
    struct ab_softrank_ws ws = ws_new(300);
    int checked = 0, skipped = 0, bad = 0;
    rng_reset(6);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int kind = 0; kind < 3; kind++) {
                int n = fd_sizes[a];
                double strength = fd_strengths[b];
                fill_kind(t, n, kind);
                for (int i = 0; i < n; i++) /* correlated targets, some ties */
                    y[i] = (float)(kind == 1 ? roundf(t[i] + (float)normal())
                                             : t[i] / (kind == 2 ? 0.01 : 1) + normal());
                double rho = ab_soft_spearman_fwd(&ws, t, y, n, strength);
                CU_ASSERT(rho > -1 - 1e-12 && rho < 1 + 1e-12);
                block_ids(&ws, ids);
                memset(d, 0, (size_t)n * sizeof *d);
                ab_soft_spearman_bwd(&ws, 1, d);
                double scale = 0, lo = INFINITY, hi = -INFINITY;
                for (int i = 0; i < n; i++) {
                    scale = fmax(scale, fabs(d[i]));
                    lo = fmin(lo, t[i]);
                    hi = fmax(hi, t[i]);
                }
                /* rho is smooth but not linear: the step is small against
                 * both the strength and the spread of x */
                double h = 1e-4 * fmin(strength, hi - lo);
                for (int i = 0; i < n; i++) {
                    double fd = central_diff(&ws, spearman, t, n, strength, y, i, h, ids,
                                             ids2);
                    if (isnan(fd)) {
                        skipped++;
                        continue;
                    }
                    checked++;
                    bad += fabs(fd - d[i]) > 1e-5 * scale + 1e-6 * fabs(fd) + 1e-9;
                }
            }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(checked > 20 * skipped);
    ab_softrank_ws_free(&ws);
}

/* ---- soft Spearman limits ---------------------------------------------------- */

static double pearson(const float *a, const float *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= n;
    mb /= n;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

static void test_spearman_limits(void)
{
    const int n = 50;
    struct ab_softrank_ws ws = ws_new(n);
    float x[50], y[50], d[50];
    rng_reset(7);
    /* y: a permutation of 0..n-1; hard ranks of an increasing affine x are
     * then affine in y: rho = 1, and -1 for a decreasing one */
    for (int i = 0; i < n; i++) y[i] = (float)i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(uniform() * (i + 1));
        float tmp = y[i];
        y[i] = y[j];
        y[j] = tmp;
    }
    for (int i = 0; i < n; i++) x[i] = 2 * y[i] + 1;
    CU_ASSERT_DOUBLE_EQUAL(ab_soft_spearman_fwd(&ws, x, y, n, 1e-3), 1, 1e-12);
    for (int i = 0; i < n; i++) x[i] = -0.5f * y[i];
    CU_ASSERT_DOUBLE_EQUAL(ab_soft_spearman_fwd(&ws, x, y, n, 1e-3), -1, 1e-12);

    /* x = y, nearly uniform y, small strength: close to 1 */
    for (int i = 0; i < n; i++) y[i] = x[i] = (float)(i + 0.3 * uniform());
    double rho = ab_soft_spearman_fwd(&ws, x, y, n, 0.01);
    CU_ASSERT(rho > 0.999 && rho < 1);

    /* huge strength: one block, ranks affine in x, rho = Pearson(x, y);
     * at x = y it is 1 and stationary */
    fill_normal(x, n, 1);
    fill_normal(y, n, 1);
    CU_ASSERT_DOUBLE_EQUAL(ab_soft_spearman_fwd(&ws, x, y, n, 1e3), pearson(x, y, n), 1e-9);
    CU_ASSERT_EQUAL(ws.n_blocks, 1);
    CU_ASSERT_DOUBLE_EQUAL(ab_soft_spearman_fwd(&ws, y, y, n, 1e3), 1, 1e-9);
    memset(d, 0, sizeof d);
    ab_soft_spearman_bwd(&ws, 1, d);
    for (int i = 0; i < n; i++) CU_ASSERT(fabs(d[i]) < 1e-6);

    /* constant targets: 0 and no gradient */
    fill_normal(x, n, 1);
    for (int i = 0; i < n; i++) {
        y[i] = 0.7f;
        d[i] = 0.25f;
    }
    CU_ASSERT_EQUAL(ab_soft_spearman_fwd(&ws, x, y, n, 1), 0);
    ab_soft_spearman_bwd(&ws, 1, d);
    for (int i = 0; i < n; i++) CU_ASSERT_EQUAL(d[i], 0.25f);
    /* constant x (all soft ranks equal): 0 and no gradient */
    fill_normal(y, n, 1);
    for (int i = 0; i < n; i++) x[i] = 1.3f;
    for (int s = 0; s < 3; s++) {
        CU_ASSERT_EQUAL(ab_soft_spearman_fwd(&ws, x, y, n, s == 0 ? 0.1 : s == 1 ? 1 : 7), 0);
        ab_soft_spearman_bwd(&ws, 1, d);
    }
    for (int i = 0; i < n; i++) CU_ASSERT_EQUAL(d[i], 0.25f);
    /* n = 1 */
    CU_ASSERT_EQUAL(ab_soft_spearman_fwd(&ws, x, y, 1, 1), 0);
    ab_soft_spearman_bwd(&ws, 1, d);
    CU_ASSERT_EQUAL(d[0], 0.25f);

    /* the scale multiplies, and backward accumulates */
    fill_normal(x, n, 1);
    ab_soft_spearman_fwd(&ws, x, y, n, 1);
    float d1[50] = {0}, d2[50];
    ab_soft_spearman_bwd(&ws, 1, d1);
    for (int i = 0; i < n; i++) d2[i] = 1;
    ab_soft_spearman_bwd(&ws, -2, d2);
    for (int i = 0; i < n; i++) CU_ASSERT_DOUBLE_EQUAL(d2[i], 1 - 2 * d1[i], 1e-6);
    ab_softrank_ws_free(&ws);
}

/* ---- the independent numpy/torch reference ------------------------------------ */

struct ref_vec {
    int n;
    double strength;
    float x[12], y[12];
    double g[12];     /* d loss / d rank fed to the soft-rank backward */
    double rank[12];  /* soft_rank(x, strength) */
    double vjp[12];   /* its backward applied to g */
    double rho;       /* t_corrcoef(y, soft_rank(x) / n) */
    double drho[12];  /* d rho / d x from torch autograd */
};

/* Printed by `/usr/bin/python3 tools/dev/softrank_reference.py --c-table`
 * (numpy 1.24, torch 1.13, float64). */
static const struct ref_vec ref_vecs[] = {
    {/* x=(3,1,2), a kink: s - w = (0,0,0); PAV block sizes [3] */
     3, 1.0,
     {3, 1, 2},
     {1, 2, 3},
     {-0.66800000000000004, -0.252, -0.222},
     {3.0000000000e+00, 1.0000000000e+00, 2.0000000000e+00},
     {-2.8733333333e-01, 1.2866666667e-01, 1.5866666667e-01},
     -5.0000000000e-01,
     {-2.5000000000e-01, -2.5000000000e-01, 5.0000000000e-01}},
    {/* x=(3,1,2), strength 0.4; PAV block sizes [1, 1, 1] */
     3, 0.4,
     {3, 1, 2},
     {1, 2, 3},
     {0.41799999999999998, -0.43099999999999999, 0.27200000000000002},
     {3.0000000000e+00, 1.0000000000e+00, 2.0000000000e+00},
     {0.0000000000e+00, 0.0000000000e+00, 0.0000000000e+00},
     -5.0000000000e-01,
     {0.0000000000e+00, 0.0000000000e+00, 0.0000000000e+00}},
    {/* n=6 tie, strength 1; PAV block sizes [6] */
     6, 1.0,
     {0.5, -1.25, 2, 0.75, 0.75, -0.300000012},
     {0.100000001, -2, 1.5, 0.699999988, 0.200000003, 0},
     {0.057000000000000002, 0.42499999999999999, 0.22500000000000001, 1.6579999999999999, -0.66400000000000003, 1.1990000000000001},
     {3.5916666687e+00, 1.8416666687e+00, 5.0916666687e+00, 3.8416666687e+00, 3.8416666687e+00, 2.7916666567e+00},
     {-4.2633333333e-01, -5.8333333333e-02, -2.5833333333e-01, 1.1746666667e+00, -1.1473333333e+00, 7.1566666667e-01},
     9.4407118822e-01,
     {-1.1745151151e-02, -6.6909965377e-02, -2.7181325520e-02, 4.3175759770e-02, -3.5224613412e-02, 9.7885295690e-02}},
    {/* n=6 tie, strength 0.3; PAV block sizes [1, 3, 1, 1] */
     6, 0.3,
     {0.5, -1.25, 2, 0.75, 0.75, -0.300000012},
     {0.100000001, -2, 1.5, 0.699999988, 0.200000003, 0},
     {-0.40300000000000002, -0.95799999999999996, 1.2110000000000001, -0.44, -0.38800000000000001, -1.389},
     {3.4444444444e+00, 1.0000000000e+00, 6.0000000000e+00, 4.2777777778e+00, 4.2777777778e+00, 2.0000000000e+00},
     {2.4444444444e-02, 0.0000000000e+00, 0.0000000000e+00, -9.8888888889e-02, 7.4444444444e-02, 0.0000000000e+00},
     9.0995811044e-01,
     {3.0625860376e-02, 0.0000000000e+00, 0.0000000000e+00, 6.4977488988e-02, -9.5603349364e-02, 0.0000000000e+00}},
    {/* n=6 tie, strength 3; PAV block sizes [6] */
     6, 3.0,
     {0.5, -1.25, 2, 0.75, 0.75, -0.300000012},
     {0.100000001, -2, 1.5, 0.699999988, 0.200000003, 0},
     {-2.0979999999999999, 0.63400000000000001, -1.165, 0.77800000000000002, 1.8480000000000001, -0.115},
     {3.5305555562e+00, 2.9472222229e+00, 4.0305555562e+00, 3.6138888896e+00, 3.6138888896e+00, 3.2638888856e+00},
     {-6.9277777778e-01, 2.1788888889e-01, -3.8177777778e-01, 2.6588888889e-01, 6.2255555556e-01, -3.1777777778e-02},
     9.4407118822e-01,
     {-1.1745151151e-02, -6.6909965377e-02, -2.7181325520e-02, 4.3175759770e-02, -3.5224613412e-02, 9.7885295690e-02}},
    {/* n=12 random, strength 1; PAV block sizes [12] */
     12, 1.0,
     {1.02890003, 1.64189994, 1.14670002, -0.973200023, -1.39279997, 0.0671999976, 0.861400008, 0.509199977, 1.81029999, 0.750800014, 0.639800012, -0.731299996},
     {0.142700002, 2.82940006, 1.18579996, -0.324000001, -2.49390006, -0.281899989, -0.171499997, -0.111299999, 2.53279996, -0.433699995, 0.212500006, -0.600300014},
     {-1.127, 0.39400000000000002, 0.76200000000000001, -0.26200000000000001, 0.017000000000000001, 1.335, 1.2649999999999999, 0.70999999999999996, -0.86599999999999999, -0.053999999999999999, 0.60299999999999998, -0.21199999999999999},
     {7.0823250270e+00, 7.6953249431e+00, 7.2001250243e+00, 5.0802249766e+00, 4.6606250263e+00, 6.1206249973e+00, 6.9148250079e+00, 6.5626249767e+00, 7.8637249923e+00, 6.8042250133e+00, 6.6932250119e+00, 5.3221250034e+00},
     {-1.3407500000e+00, 1.8025000000e-01, 5.4825000000e-01, -4.7575000000e-01, -1.9675000000e-01, 1.1212500000e+00, 1.0512500000e+00, 4.9625000000e-01, -1.0797500000e+00, -2.6775000000e-01, 3.8925000000e-01, -4.2575000000e-01},
     8.4339683794e-01,
     {-4.7303965813e-02, 7.5738630191e-02, 9.3950175333e-03, 7.2131554577e-02, -3.2850421112e-02, -2.5091582400e-03, -5.4576328085e-02, -2.4637197861e-02, 4.4619475802e-02, -6.2812558012e-02, -1.4021503851e-02, 3.6826454870e-02}},
    {/* n=12 random, strength 0.3; PAV block sizes [9, 2, 1] */
     12, 0.3,
     {1.02890003, 1.64189994, 1.14670002, -0.973200023, -1.39279997, 0.0671999976, 0.861400008, 0.509199977, 1.81029999, 0.750800014, 0.639800012, -0.731299996},
     {0.142700002, 2.82940006, 1.18579996, -0.324000001, -2.49390006, -0.281899989, -0.171499997, -0.111299999, 2.53279996, -0.433699995, 0.212500006, -0.600300014},
     {-0.60999999999999999, -0.76500000000000001, -0.63200000000000001, -0.67200000000000004, -0.45100000000000001, 1.1459999999999999, -0.80100000000000005, 0.88700000000000001, 0.41799999999999998, 0.14000000000000001, -0.82699999999999996, -0.45700000000000002},
     {8.2977408331e+00, 1.0341073887e+01, 8.6904074908e+00, 2.0968332887e+00, 1.0000000000e+00, 5.0920740675e+00, 7.7394074362e+00, 6.5654073319e+00, 1.0902407384e+01, 7.3707407873e+00, 7.0007407825e+00, 2.9031667113e+00},
     {-1.6466666667e+00, -2.1633333333e+00, -1.7200000000e+00, -3.5833333333e-01, 0.0000000000e+00, 4.2066666667e+00, -2.2833333333e+00, 3.3433333333e+00, 1.7800000000e+00, 8.5333333333e-01, -2.3700000000e+00, 3.5833333333e-01},
     8.5110157186e-01,
     {-4.2342259768e-02, 8.5740860513e-02, 1.7787477735e-02, 1.9781281984e-02, 0.0000000000e+00, 1.2260163729e-02, -4.9029275978e-02, -1.4490211143e-02, 5.1170599920e-02, -5.7134816752e-02, -3.9625382556e-03, -1.9781281984e-02}},
    {/* n=8 one block, strength 1; PAV block sizes [8] */
     8, 1.0,
     {0.100000001, 0.200000003, 0.150000006, 0.0500000007, 0.300000012, 0.119999997, 0.25, 0},
     {1, 2, 1.5, 0.5, 3, 1.20000005, 2.5, 0},
     {1.974, 0.099000000000000005, 0.53800000000000003, 0.66300000000000003, 1.056, -0.23799999999999999, -0.60999999999999999, -0.059999999999999998},
     {4.4537499989e+00, 4.5537500004e+00, 4.5037500034e+00, 4.4037499982e+00, 4.6537500094e+00, 4.4737499948e+00, 4.6037499974e+00, 4.3537499974e+00},
     {1.5462500000e+00, -3.2875000000e-01, 1.1025000000e-01, 2.3525000000e-01, 6.2825000000e-01, -6.6575000000e-01, -1.0377500000e+00, -4.8775000000e-01},
     1.0000000000e+00,
     {-1.2530711934e-08, 7.7355124311e-09, -5.5023982829e-08, -2.2663824283e-08, -7.7251029484e-08, 1.2203596503e-07, 7.0495007698e-08, -3.2796936633e-08}},
    {/* n=10 ties, strength 0.5; PAV block sizes [9, 1] */
     10, 0.5,
     {1, 3, 1, 2.5, 2.75, -1, 3, 0, 1.5, 1},
     {2, 2, 1, -1, 4, 0, 3, 1, 1, 2},
     {-0.26100000000000001, 0.79100000000000004, 0.19, 0.23899999999999999, 0.14499999999999999, 1.228, -0.54300000000000004, -0.47799999999999998, 0.88500000000000001, -0.106},
     {4.5000000000e+00, 8.5000000000e+00, 4.5000000000e+00, 7.5000000000e+00, 8.0000000000e+00, 1.0000000000e+00, 8.5000000000e+00, 2.5000000000e+00, 5.5000000000e+00, 4.5000000000e+00},
     {-7.1355555556e-01, 1.3904444444e+00, 1.8844444444e-01, 2.8644444444e-01, 9.8444444444e-02, 0.0000000000e+00, -1.2775555556e+00, -1.1475555556e+00, 1.5784444444e+00, -4.0355555556e-01},
     4.4836087447e-01,
     {4.2159920611e-02, -1.7127467748e-02, -1.7621529318e-02, -1.8164997045e-01, 1.0984635566e-01, 0.0000000000e+00, 4.2653982181e-02, 1.2022164862e-02, -3.2443376408e-02, 4.2159920611e-02}},
};

static void test_reference(void)
{
    struct ab_softrank_ws ws = ws_new(12);
    for (size_t c = 0; c < sizeof ref_vecs / sizeof *ref_vecs; c++) {
        const struct ref_vec *v = &ref_vecs[c];
        double r[12];
        float d[12] = {0}, dr[12] = {0};
        ab_softrank_fwd(&ws, v->x, v->n, v->strength, r);
        ab_softrank_bwd(&ws, v->g, d);
        double rho = ab_soft_spearman_fwd(&ws, v->x, v->y, v->n, v->strength);
        ab_soft_spearman_bwd(&ws, 1, dr);
        CU_ASSERT_DOUBLE_EQUAL(rho, v->rho, 1e-9);
        for (int i = 0; i < v->n; i++) {
            CU_ASSERT_DOUBLE_EQUAL(r[i], v->rank[i], 1e-9 * fabs(v->rank[i]));
            CU_ASSERT_DOUBLE_EQUAL(d[i], v->vjp[i], 1e-6 * (1 + fabs(v->vjp[i])));
            CU_ASSERT_DOUBLE_EQUAL(dr[i], v->drho[i], 1e-7 + 1e-6 * fabs(v->drho[i]));
        }
    }
    ab_softrank_ws_free(&ws);
}

static const struct cu_case cases[] = {
    {"workspace lifecycle", test_lifecycle},
    {"hand-computed soft ranks and Jacobians", test_hand_cases},
    {"equals the brute-force projection (n <= 5)", test_brute_force},
    {"strength -> 0 gives the hard ranks", test_hard_limit},
    {"permutahedron invariants", test_invariants},
    {"workspace reuse", test_reuse},
    {"soft-rank backward vs finite differences", test_fd_softrank},
    {"soft Spearman backward vs finite differences", test_fd_spearman},
    {"soft Spearman limits and zero variance", test_spearman_limits},
    {"matches the numpy/torch reference", test_reference},
    {NULL, NULL}};
CU_MAIN("softrank", cases)
