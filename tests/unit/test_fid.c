/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of worker/fid/fid.c: feature
 * statistics against naive double loops (float32 and float64, one and
 * several dsyrk blocks), FID against closed forms for Gaussians with known
 * parameters (diagonal, commuting and non-commuting covariances, 2 x 2),
 * FID(X, X) = 0, symmetry, both factorisations (Cholesky and eigen) on full
 * and rank-deficient covariances, the statistics file round trip, and the
 * input errors (N = 1, non-finite values, non-symmetric sigma, D mismatch,
 * files without the datasets or with wrong shapes).
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "fid/fid.h"
#include "h5/h5util.h"
#include "util/error.h"

/* --- helpers ------------------------------------------------------------ */

static uint64_t lcg = 88172645463325252ULL;

static double uniform(void) /* [0, 1) */
{
    lcg ^= lcg << 13;
    lcg ^= lcg >> 7;
    lcg ^= lcg << 17;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = uniform() + 1e-300, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * (fabs(a) > fabs(b) ? fabs(a) : fabs(b)) + 1e-300;
}

/* Statistics owning fresh arrays of dimension d. */
static void stats_alloc(struct ab_fid_stats *s, int d)
{
    memset(s, 0, sizeof *s);
    s->dims = d;
    s->mu = calloc((size_t)d, sizeof *s->mu);
    s->sigma = calloc((size_t)d * (size_t)d, sizeof *s->sigma);
}

/* A random orthogonal d x d matrix (row-major), Gram-Schmidt on Gaussians. */
static void random_orthogonal(double *q, int d)
{
    for (int i = 0; i < d * d; i++) q[i] = gauss();
    for (int c = 0; c < d; c++) {
        for (int p = 0; p < c; p++) {
            double dot = 0.0;
            for (int i = 0; i < d; i++) dot += q[i * d + c] * q[i * d + p];
            for (int i = 0; i < d; i++) q[i * d + c] -= dot * q[i * d + p];
        }
        double nrm = 0.0;
        for (int i = 0; i < d; i++) nrm += q[i * d + c] * q[i * d + c];
        nrm = sqrt(nrm);
        for (int i = 0; i < d; i++) q[i * d + c] /= nrm;
    }
}

/* s = q diag(l) q^T */
static void compose(const double *q, const double *l, int d, double *s)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double v = 0.0;
            for (int k = 0; k < d; k++) v += q[i * d + k] * l[k] * q[j * d + k];
            s[i * d + j] = v;
        }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++) s[i * d + j] = s[j * d + i];
}

static double fid_of(const struct ab_fid_stats *a, const struct ab_fid_stats *b,
                     enum ab_fid_method m)
{
    double f = NAN;
    ab_status rc = ab_fid_distance(a, b, m, &f);
    CU_ASSERT_EQUAL(rc, AB_OK);
    if (rc) printf("\n  error: %s\n", ab_err_msg());
    return f;
}

/* --- statistics --------------------------------------------------------- */

static void naive_stats(const double *x, long n, int d, double *mu, double *sigma)
{
    for (int j = 0; j < d; j++) {
        mu[j] = 0.0;
        for (long i = 0; i < n; i++) mu[j] += x[i * d + j];
        mu[j] /= (double)n;
    }
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double v = 0.0;
            for (long i = 0; i < n; i++) v += (x[i * d + a] - mu[a]) * (x[i * d + b] - mu[b]);
            sigma[a * d + b] = v / (double)(n - 1);
        }
}

static void check_stats_against_naive(long n, int d, size_t block_bytes)
{
    float *xf = malloc((size_t)n * d * sizeof *xf);
    double *xd = malloc((size_t)n * d * sizeof *xd), *mu = malloc((size_t)d * sizeof *mu),
           *sg = malloc((size_t)d * d * sizeof *sg);
    struct ab_fid_stats s32 = {0}, s64 = {0};
    for (long i = 0; i < n * d; i++) {
        xf[i] = (float)(3.0 + 2.0 * gauss() + (i % d) * 0.25);
        xd[i] = xf[i];
    }
    naive_stats(xd, n, d, mu, sg);
    ab_fid_set_block_bytes(block_bytes);
    CU_ASSERT_EQUAL_FATAL(ab_fid_stats_from_f32(xf, n, d, "x32", &s32), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_fid_stats_from_f64(xd, n, d, NULL, &s64), AB_OK);
    ab_fid_set_block_bytes(0);
    CU_ASSERT_EQUAL(s32.dims, d);
    CU_ASSERT_EQUAL(s32.n, n);
    CU_ASSERT_STRING_EQUAL(s32.source, "x32");
    for (int j = 0; j < d; j++) {
        CU_ASSERT(close_rel(s32.mu[j], mu[j], 1e-13));
        CU_ASSERT(close_rel(s64.mu[j], mu[j], 1e-13));
    }
    for (int k = 0; k < d * d; k++) {
        CU_ASSERT(fabs(s32.sigma[k] - sg[k]) <= 1e-12 * fabs(sg[k / d * (d + 1)]) + 1e-13);
        CU_ASSERT(s64.sigma[k] == s32.sigma[k]);
        CU_ASSERT(s32.sigma[k] == s32.sigma[(k % d) * d + k / d]); /* exactly symmetric */
    }
    ab_fid_stats_free(&s32);
    ab_fid_stats_free(&s64);
    free(xf);
    free(xd);
    free(mu);
    free(sg);
}

static void test_stats_naive(void)
{
    check_stats_against_naive(7, 4, 0);
    check_stats_against_naive(2, 3, 0);
    check_stats_against_naive(150, 17, 0);
}

static void test_stats_blocks(void)
{
    /* 1 row and 7 rows per dsyrk call, and a last partial block */
    check_stats_against_naive(23, 9, 9 * sizeof(double));
    check_stats_against_naive(23, 9, 7 * 9 * sizeof(double));
}

static void test_stats_errors(void)
{
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct ab_fid_stats s = {0};
    CU_ASSERT_EQUAL(ab_fid_stats_from_f32(x, 1, 8, "one.h5", &s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "one.h5: 1 feature row"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "at least 2"));
    CU_ASSERT_PTR_NULL(s.mu);
    CU_ASSERT_EQUAL(ab_fid_stats_from_f32(x, 2, 0, NULL, &s), AB_ERR_INPUT);
    x[6] = NAN;
    CU_ASSERT_EQUAL(ab_fid_stats_from_f32(x, 2, 4, "nan.h5", &s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "feature [1][2] is nan"));
    x[6] = INFINITY;
    x[1] = -INFINITY;
    CU_ASSERT_EQUAL(ab_fid_stats_from_f32(x, 2, 4, "inf.h5", &s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "feature [0][1] is -inf"));
    CU_ASSERT_PTR_NULL(s.mu);
    {
        double big[4] = {1e308, 1e308, 1e308, 1e308};
        CU_ASSERT_EQUAL(ab_fid_stats_from_f64(big, 2, 2, "big.h5", &s), AB_ERR_INPUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "too large"));
    }
    ab_fid_stats_free(&s);
    ab_fid_stats_free(NULL);
}

static void test_check(void)
{
    struct ab_fid_stats s;
    stats_alloc(&s, 3);
    s.source = strdup("ref.h5");
    for (int i = 0; i < 3; i++) s.sigma[i * 4] = 2.0;
    s.sigma[1] = 0.5;
    s.sigma[3] = 0.5 + 1e-7; /* within 1e-6 x 2 */
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_OK);
    CU_ASSERT_EQUAL(s.sigma[1], s.sigma[3]);
    s.sigma[3] = 0.5 + 1e-5;
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "ref.h5: sigma is not symmetric: sigma[0][1]"));
    s.sigma[3] = s.sigma[1];
    s.mu[2] = NAN;
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "mu[2] is nan"));
    s.mu[2] = 0.0;
    s.sigma[8] = INFINITY;
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "sigma[2][2] is inf"));
    s.sigma[8] = 2.0;
    s.n = 1;
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_ERR_INPUT);
    s.n = 0;
    CU_ASSERT_EQUAL(ab_fid_stats_check(&s), AB_OK);
    ab_fid_stats_free(&s);
    CU_ASSERT_PTR_NULL(s.sigma);
}

/* --- FID against closed forms ------------------------------------------- */

static void test_diagonal(void)
{
    enum { D = 40 };
    struct ab_fid_stats a, b;
    double want = 0.0;
    stats_alloc(&a, D);
    stats_alloc(&b, D);
    for (int i = 0; i < D; i++) {
        double la = 0.1 + 3.0 * uniform(), lb = 0.05 + 2.0 * uniform();
        a.mu[i] = gauss();
        b.mu[i] = gauss();
        a.sigma[i * (D + 1)] = la;
        b.sigma[i * (D + 1)] = lb;
        want += (a.mu[i] - b.mu[i]) * (a.mu[i] - b.mu[i]) + la + lb - 2.0 * sqrt(la * lb);
    }
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_AUTO), want, 1e-12));
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_EIGEN), want, 1e-12));
    CU_ASSERT(close_rel(fid_of(&b, &a, AB_FID_AUTO), want, 1e-12));
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
}

/* Simultaneously diagonalisable: S1 = Q L1 Q^T, S2 = Q L2 Q^T, so
 * tr((S1 S2)^(1/2)) = sum sqrt(l1_i l2_i); some l zero (singular S). */
static void test_commuting(void)
{
    enum { D = 48 };
    struct ab_fid_stats a, b;
    double q[D * D], l1[D], l2[D], want = 0.0;
    stats_alloc(&a, D);
    stats_alloc(&b, D);
    random_orthogonal(q, D);
    for (int pass = 0; pass < 2; pass++) {
        want = 0.0;
        for (int i = 0; i < D; i++) {
            l1[i] = 0.01 + 5.0 * uniform();
            l2[i] = 0.02 + 1.0 * uniform();
            if (pass == 1 && i % 3 == 0) l1[i] = 0.0; /* rank-deficient S1 */
            if (pass == 1 && i % 5 == 0) l2[i] = 0.0;
            a.mu[i] = 0.5 * gauss();
            b.mu[i] = 0.5 * gauss();
            want += (a.mu[i] - b.mu[i]) * (a.mu[i] - b.mu[i]) + l1[i] + l2[i] -
                    2.0 * sqrt(l1[i] * l2[i]);
        }
        compose(q, l1, D, a.sigma);
        compose(q, l2, D, b.sigma);
        CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_AUTO), want, 1e-10));
        CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_EIGEN), want, 1e-10));
        CU_ASSERT(close_rel(fid_of(&b, &a, AB_FID_AUTO), want, 1e-10));
    }
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
}

/* Not commuting: S1 = A A^T, S2 = A^-T diag(g) A^-1 with A unit lower
 * triangular, so S1 S2 = A diag(g) A^-1 and tr((S1 S2)^(1/2)) = sum sqrt(g). */
static void test_noncommuting(void)
{
    enum { D = 30 };
    struct ab_fid_stats a, b;
    double A[D * D] = {0}, Ai[D * D] = {0}, g[D], trs = 0.0, want;
    stats_alloc(&a, D);
    stats_alloc(&b, D);
    for (int i = 0; i < D; i++) {
        A[i * D + i] = 1.0;
        for (int j = 0; j < i; j++) A[i * D + j] = 0.4 * gauss();
        g[i] = 0.1 + 4.0 * uniform();
        trs += sqrt(g[i]);
    }
    /* Ai = A^-1 by forward substitution, column by column */
    for (int c = 0; c < D; c++)
        for (int i = 0; i < D; i++) {
            double v = (i == c) ? 1.0 : 0.0;
            for (int k = 0; k < i; k++) v -= A[i * D + k] * Ai[k * D + c];
            Ai[i * D + c] = v;
        }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double s1 = 0.0, s2 = 0.0;
            for (int k = 0; k < D; k++) {
                s1 += A[i * D + k] * A[j * D + k];
                s2 += Ai[k * D + i] * g[k] * Ai[k * D + j];
            }
            a.sigma[i * D + j] = s1;
            b.sigma[i * D + j] = s2;
        }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++) {
            a.sigma[i * D + j] = a.sigma[j * D + i];
            b.sigma[i * D + j] = b.sigma[j * D + i];
        }
    want = 0.0;
    for (int i = 0; i < D; i++) {
        a.mu[i] = (double)i / D;
        b.mu[i] = 1.0 - (double)i / D;
        want += (a.mu[i] - b.mu[i]) * (a.mu[i] - b.mu[i]) + a.sigma[i * (D + 1)] +
                b.sigma[i * (D + 1)];
    }
    want -= 2.0 * trs;
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_AUTO), want, 1e-9));
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_EIGEN), want, 1e-9));
    CU_ASSERT(close_rel(fid_of(&b, &a, AB_FID_AUTO), want, 1e-9));
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
}

/* 2 x 2: sqrt(l1) + sqrt(l2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)). */
static void test_two_by_two(void)
{
    struct ab_fid_stats a, b;
    double s1[4] = {2.0, 0.7, 0.7, 1.0}, s2[4] = {0.5, -0.2, -0.2, 3.0}, tr12, det, want;
    stats_alloc(&a, 2);
    stats_alloc(&b, 2);
    memcpy(a.sigma, s1, sizeof s1);
    memcpy(b.sigma, s2, sizeof s2);
    a.mu[0] = 1.0;
    b.mu[1] = -2.0;
    tr12 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
    det = (s1[0] * s1[3] - s1[1] * s1[2]) * (s2[0] * s2[3] - s2[1] * s2[2]);
    want = 1.0 + 4.0 + (2.0 + 1.0) + (0.5 + 3.0) - 2.0 * sqrt(tr12 + 2.0 * sqrt(det));
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_AUTO), want, 1e-13));
    CU_ASSERT(close_rel(fid_of(&a, &b, AB_FID_EIGEN), want, 1e-13));
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
}

/* Statistics of random low-rank-plus-noise features. */
static void random_feature_stats(long n, int d, int rank, double noise, double shift,
                                 struct ab_fid_stats *out)
{
    float *x = malloc((size_t)n * d * sizeof *x);
    double *w = malloc((size_t)rank * d * sizeof *w);
    for (int i = 0; i < rank * d; i++) w[i] = gauss();
    for (long i = 0; i < n; i++) {
        double z[16];
        for (int k = 0; k < rank; k++) z[k] = gauss();
        for (int j = 0; j < d; j++) {
            double v = shift * j / d + noise * gauss();
            for (int k = 0; k < rank; k++) v += z[k] * w[k * d + j];
            x[i * d + j] = (float)v;
        }
    }
    CU_ASSERT_EQUAL(ab_fid_stats_from_f32(x, n, d, NULL, out), AB_OK);
    free(w);
    free(x);
}

static void test_self_and_symmetry(void)
{
    struct ab_fid_stats a = {0}, b = {0}, c = {0};
    double ab1, ba1, ab2, ba2, ac, ca, tr = 0.0;
    random_feature_stats(500, 20, 8, 0.3, 0.0, &a);
    random_feature_stats(400, 20, 8, 0.5, 1.0, &b);
    random_feature_stats(12, 20, 4, 0.1, 0.5, &c); /* rank 11 < 20 */
    for (int i = 0; i < 20; i++) tr += a.sigma[i * 21];
    CU_ASSERT(fabs(fid_of(&a, &a, AB_FID_AUTO)) < 1e-9);
    CU_ASSERT(fabs(fid_of(&a, &a, AB_FID_EIGEN)) < 1e-9);
    CU_ASSERT(fabs(fid_of(&c, &c, AB_FID_AUTO)) < 1e-9);
    CU_ASSERT(fabs(fid_of(&c, &c, AB_FID_EIGEN)) < 1e-9);
    ab1 = fid_of(&a, &b, AB_FID_AUTO);
    ba1 = fid_of(&b, &a, AB_FID_AUTO);
    ab2 = fid_of(&a, &b, AB_FID_EIGEN);
    ba2 = fid_of(&b, &a, AB_FID_EIGEN);
    CU_ASSERT(ab1 > 1.0);
    CU_ASSERT(close_rel(ab1, ba1, 1e-11));
    CU_ASSERT(close_rel(ab1, ab2, 1e-11));
    CU_ASSERT(close_rel(ab1, ba2, 1e-11));
    ac = fid_of(&a, &c, AB_FID_AUTO); /* Cholesky of a, rank-deficient M */
    ca = fid_of(&c, &a, AB_FID_AUTO); /* c is singular: eigen route */
    CU_ASSERT(ac > 1.0);
    CU_ASSERT(close_rel(ac, ca, 1e-10));
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
    ab_fid_stats_free(&c);
}

static void test_dims_mismatch(void)
{
    struct ab_fid_stats a, b;
    double f = 0.0;
    stats_alloc(&a, 3);
    stats_alloc(&b, 4);
    a.source = strdup("gen.h5");
    b.source = strdup("ref.h5");
    CU_ASSERT_EQUAL(ab_fid_distance(&a, &b, AB_FID_AUTO, &f), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "gen.h5 has 3 features per row but ref.h5 has 4"));
    ab_fid_stats_free(&a);
    ab_fid_stats_free(&b);
}

/* --- files -------------------------------------------------------------- */

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Writes dataset name (type, shape d0 or d0 x d1, from doubles) into
 * <dir>/file: a new file, or the existing one when add is 1. */
static void put(const char *file, int add, const char *name, hid_t type, int rank, hsize_t d0,
                hsize_t d1, const double *data)
{
    hsize_t dims[2] = {d0, d1};
    const char *path = tmp_path(file);
    hid_t f = add ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)
                  : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp, d;
    CU_ASSERT_FATAL(f >= 0);
    sp = H5Screate_simple(rank, dims, NULL);
    d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

#define F32 H5T_IEEE_F32LE
#define F64 H5T_IEEE_F64LE

static void expect_load_error(const char *path, const char *want)
{
    struct ab_fid_stats s = {0};
    ab_status rc = ab_fid_stats_load(path, &s, NULL);
    CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(s.mu);
    CU_ASSERT_PTR_NULL(s.source);
    if (!strstr(ab_err_msg(), want)) {
        printf("\n  expected '%s' in: %s\n", want, ab_err_msg());
        CU_FAIL("error text");
    }
    CU_ASSERT_PTR_NULL(strchr(ab_err_msg(), '\n'));
}

static void test_files(void)
{
    enum { N = 30, D = 5 };
    double x[N * D], sym[D * D], rnd[D * D], mu[D] = {0};
    struct ab_fid_stats fromx = {0}, loaded = {0}, again = {0};
    int from_features = -1;
    double f = -1.0;
    struct ab_fid_result r;

    ab_h5_init();
    strcpy(dir, "/tmp/ab_test_fid_XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    for (int i = 0; i < N * D; i++) x[i] = gauss() + (i % D);
    for (int i = 0; i < D * D; i++) rnd[i] = gauss();
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) sym[i * D + j] = (i == j) ? 2.0 : 0.1;

    /* features (float64) -> statistics -> file -> statistics */
    put("x64.h5", 0, "features", F64, 2, N, D, x);
    CU_ASSERT_EQUAL_FATAL(ab_fid_stats_load(tmp_path("x64.h5"), &fromx, &from_features), AB_OK);
    CU_ASSERT_EQUAL(from_features, 1);
    CU_ASSERT_EQUAL(fromx.n, N);
    CU_ASSERT_EQUAL_FATAL(ab_fid_stats_save(tmp_path("ref.h5"), &fromx), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_fid_stats_load(tmp_path("ref.h5"), &loaded, &from_features), AB_OK);
    CU_ASSERT_EQUAL(from_features, 0);
    CU_ASSERT_EQUAL(loaded.n, N);
    CU_ASSERT_EQUAL(loaded.dims, D);
    CU_ASSERT(memcmp(loaded.mu, fromx.mu, D * sizeof(double)) == 0);
    CU_ASSERT(memcmp(loaded.sigma, fromx.sigma, D * D * sizeof(double)) == 0);
    CU_ASSERT_EQUAL(ab_fid_distance(&fromx, &loaded, AB_FID_AUTO, &f), AB_OK);
    CU_ASSERT(fabs(f) < 1e-12);
    {
        hid_t h = H5Fopen(tmp_path("ref.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
        char *format = NULL;
        CU_ASSERT_EQUAL(ab_h5_read_str_attr(h, "format", &format), AB_OK);
        CU_ASSERT_STRING_EQUAL(format, AB_FID_STATS_FORMAT);
        free(format);
        H5Fclose(h);
    }
    /* features as float32 give the same statistics to float32 rounding */
    put("x32.h5", 0, "features", F32, 2, N, D, x);
    CU_ASSERT_EQUAL(ab_fid_stats_load(tmp_path("x32.h5"), &again, NULL), AB_OK);
    CU_ASSERT(fabs(again.mu[0] - fromx.mu[0]) < 1e-6);
    ab_fid_stats_free(&again);
    /* mu and sigma win over features in the same file */
    put("both.h5", 0, "features", F32, 2, N, D, x);
    put("both.h5", 1, "mu", F64, 1, D, 0, mu);
    put("both.h5", 1, "sigma", F64, 2, D, D, sym);
    CU_ASSERT_EQUAL(ab_fid_stats_load(tmp_path("both.h5"), &again, &from_features), AB_OK);
    CU_ASSERT_EQUAL(from_features, 0);
    CU_ASSERT_EQUAL(again.n, 0);
    CU_ASSERT_EQUAL(again.sigma[0], 2.0);
    ab_fid_stats_free(&again);
    /* the one-call route */
    CU_ASSERT_EQUAL(ab_fid_files(tmp_path("x64.h5"), tmp_path("both.h5"), AB_FID_AUTO, &r),
                    AB_OK);
    CU_ASSERT_EQUAL(r.dims, D);
    CU_ASSERT_EQUAL(r.n_a, N);
    CU_ASSERT_EQUAL(r.n_b, 0);
    CU_ASSERT_EQUAL(r.features_a, 1);
    CU_ASSERT(r.fid > 0.0);

    /* errors */
    expect_load_error(tmp_path("missing.h5"), "missing.h5: no such file");
    {
        FILE *t = fopen(tmp_path("text.h5"), "w");
        fputs("not hdf5\n", t);
        fclose(t);
    }
    expect_load_error(tmp_path("text.h5"), "text.h5: not an HDF5 file");
    put("fidonly.h5", 0, "fid", F64, 1, 1, 0, x);
    expect_load_error(tmp_path("fidonly.h5"), "fidonly.h5: neither features nor statistics");
    put("muonly.h5", 0, "mu", F64, 1, D, 0, mu);
    expect_load_error(tmp_path("muonly.h5"), "has 'mu' but no 'sigma'");
    put("rank1.h5", 0, "features", F32, 1, N, 0, x);
    expect_load_error(tmp_path("rank1.h5"), "'features' has 1 dimension; expected");
    put("onerow.h5", 0, "features", F32, 2, 1, D, x);
    expect_load_error(tmp_path("onerow.h5"), "'features' has 1 row; FID needs 2");
    put("int.h5", 0, "features", H5T_STD_I32LE, 2, N, D, x);
    expect_load_error(tmp_path("int.h5"), "'features' is not floating point");
    put("nonsym.h5", 0, "mu", F64, 1, D, 0, mu);
    put("nonsym.h5", 1, "sigma", F64, 2, D, D, rnd);
    expect_load_error(tmp_path("nonsym.h5"), "sigma is not symmetric");
    put("nonsq.h5", 0, "mu", F64, 1, D, 0, mu);
    put("nonsq.h5", 1, "sigma", F64, 2, D, D - 1, rnd);
    expect_load_error(tmp_path("nonsq.h5"), "is square");
    put("dmis.h5", 0, "mu", F64, 1, D - 1, 0, mu);
    put("dmis.h5", 1, "sigma", F64, 2, D, D, sym);
    expect_load_error(tmp_path("dmis.h5"), "but 'mu' has 4 entries");
    x[7] = NAN;
    put("nan.h5", 0, "features", F32, 2, N, D, x);
    expect_load_error(tmp_path("nan.h5"), "feature [1][2] is nan");
    {   /* a newer version of our own format */
        hid_t h = H5Fopen(tmp_path("ref.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
        CU_ASSERT(H5Adelete(h, "format_version") >= 0);
        CU_ASSERT_EQUAL(ab_h5_write_i64_attr(h, "format_version", 2), AB_OK);
        H5Fclose(h);
        expect_load_error(tmp_path("ref.h5"), "autobuild-fid-stats version 2");
    }
    {   /* D mismatch through the one-call route */
        x[7] = 1.0;
        put("wide.h5", 0, "features", F32, 2, N / 2, D + 1, x);
        CU_ASSERT_EQUAL(ab_fid_files(tmp_path("x64.h5"), tmp_path("wide.h5"), AB_FID_AUTO, &r),
                        AB_ERR_INPUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "has 5 features per row but"));
    }
    /* an unwritable destination: AB_ERR_IO, nothing left behind */
    CU_ASSERT_EQUAL(ab_fid_stats_save("/nonexistent-dir/ref.h5", &fromx), AB_ERR_IO);

    ab_fid_stats_free(&fromx);
    ab_fid_stats_free(&loaded);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CU_ASSERT_EQUAL(system(cmd), 0);
    }
}

static const struct cu_case cases[] = {
    {"statistics equal naive double loops (float32, float64)", test_stats_naive},
    {"statistics in several dsyrk blocks", test_stats_blocks},
    {"statistics: N = 1, d = 0, non-finite and huge features", test_stats_errors},
    {"user statistics: symmetry tolerance, non-finite, n", test_check},
    {"FID of diagonal Gaussians: closed form", test_diagonal},
    {"FID of commuting covariances (also singular): sum sqrt(l1 l2)", test_commuting},
    {"FID of non-commuting covariances: A A^T and A^-T G A^-1", test_noncommuting},
    {"FID of 2 x 2 covariances: closed form", test_two_by_two},
    {"FID(X, X) = 0, FID symmetric, Cholesky = eigen route", test_self_and_symmetry},
    {"FID of different dimensions is an input error", test_dims_mismatch},
    {"files: round trip, features vs statistics, errors", test_files},
    {NULL, NULL}};
CU_MAIN("fid", cases)
