/* SPDX-License-Identifier: MIT
 *
 * This file implements the Frechet Inception Distance of fid.h: feature
 * statistics (mean, unbiased covariance by cblas_dsyrk), the trace of
 * (S1 S2)^(1/2) from a factor of S1 and the eigenvalues of the symmetric
 * A^T S2 A, and the feature / statistics files of hdf5-schemas/fid.md.
 *
 * All D x D matrices are symmetric (or triangular factors of them) and are
 * handed to BLAS and LAPACK as column-major: a symmetric matrix has the same
 * memory in either order, and LAPACKE then works in place instead of
 * transposing copies.
 */
#include <cblas.h>
#include <float.h>
#include <hdf5.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fid/fid.h"
#include "h5/h5util.h"
#include "util/fsutil.h"
#include "util/log.h"

/* Centred rows go to dsyrk in blocks of at most this many bytes. */
#define CENTRED_BLOCK_BYTES ((size_t)256 << 20)
static size_t centred_block_bytes = CENTRED_BLOCK_BYTES;
/* Cholesky is used when every pivot exceeds this times the largest
 * diagonal entry of S1; otherwise the eigendecomposition. */
#define CHOLESKY_PIVOT_TOL 1e-9
/* Negative eigenvalues beyond this fraction of the largest are reported. */
#define NEGATIVE_EIG_WARN 1e-6

#define FILE_LAYOUT "expected dataset 'features' (N x D float32) or datasets 'mu' (D) and " \
                    "'sigma' (D x D float64)"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *name_of(const char *origin) { return origin ? origin : "features"; }

void ab_fid_set_threads(int threads) { openblas_set_num_threads(threads > 0 ? threads : 1); }

void ab_fid_set_block_bytes(size_t bytes)
{
    centred_block_bytes = bytes ? bytes : CENTRED_BLOCK_BYTES;
}

void ab_fid_stats_free(struct ab_fid_stats *s)
{
    if (!s) return;
    free(s->mu);
    free(s->sigma);
    free(s->source);
    memset(s, 0, sizeof *s);
}

/* --- statistics of features ------------------------------------------- */

static double value_at(const float *xf, const double *xd, size_t i)
{
    return xf ? (double)xf[i] : xd[i];
}

/* Names the first non-finite value; called when a column sum is not
 * finite. */
static ab_status report_nonfinite(const float *xf, const double *xd, long n, int d,
                                  const char *origin)
{
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = value_at(xf, xd, (size_t)i * (size_t)d + (size_t)j);
            if (!isfinite(v))
                return ab_err_set(AB_ERR_INPUT, "%s: feature [%ld][%d] is %g; features must be "
                                  "finite (check the feature extractor's output)",
                                  name_of(origin), i, j, v);
        }
    return ab_err_set(AB_ERR_INPUT, "%s: the features are too large to sum in double "
                      "precision (|x| near 1e308); rescale them", name_of(origin));
}

/* mu = column means, in double. */
static ab_status column_means(const float *xf, const double *xd, long n, int d,
                              const char *origin, double *mu)
{
    for (long i = 0; i < n; i++) {
        size_t row = (size_t)i * (size_t)d;
        if (xf)
            for (int j = 0; j < d; j++) mu[j] += (double)xf[row + (size_t)j];
        else
            for (int j = 0; j < d; j++) mu[j] += xd[row + (size_t)j];
    }
    for (int j = 0; j < d; j++)
        if (!isfinite(mu[j])) return report_nonfinite(xf, xd, n, d, origin);
    for (int j = 0; j < d; j++) mu[j] /= (double)n;
    return AB_OK;
}

/* sigma = Xc^T Xc / (n - 1), Xc = X - 1 mu^T, both triangles. */
static ab_status covariance(const float *xf, const double *xd, long n, int d, const double *mu,
                            const char *origin, double *sigma)
{
    ab_status rc = AB_OK;
    size_t row_bytes = (size_t)d * sizeof(double);
    long block = (long)(centred_block_bytes / row_bytes);
    double *buf = NULL, scale = 1.0 / (double)(n - 1), t0, t_centre = 0.0, t_syrk = 0.0;
    double gflop = (double)n * d * (d + 1) / 1e9;
    int calls = 0;

    if (block < 1) block = 1;
    if (block > n) block = n;
    buf = malloc((size_t)block * row_bytes);
    AB_CHECK_ALLOC(buf);
    for (long first = 0; first < n; first += block) {
        long rows = n - first < block ? n - first : block;
        t0 = now_s();
        for (long r = 0; r < rows; r++) {
            size_t src = (size_t)(first + r) * (size_t)d, dst = (size_t)r * (size_t)d;
            if (xf)
                for (int j = 0; j < d; j++)
                    buf[dst + (size_t)j] = (double)xf[src + (size_t)j] - mu[j];
            else
                for (int j = 0; j < d; j++) buf[dst + (size_t)j] = xd[src + (size_t)j] - mu[j];
        }
        t_centre += now_s() - t0;
        t0 = now_s();
        /* buf: rows x d row-major = d x rows column-major (Xc^T); the upper
         * triangle of sigma (column-major) += Xc^T Xc. */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, (int)rows, 1.0, buf, d,
                    first ? 1.0 : 0.0, sigma, d);
        t_syrk += now_s() - t0;
        calls++;
    }
    for (int j = 0; j < d; j++)
        for (int i = 0; i <= j; i++) {
            double v = sigma[(size_t)j * (size_t)d + (size_t)i] * scale;
            sigma[(size_t)j * (size_t)d + (size_t)i] = v;
            sigma[(size_t)i * (size_t)d + (size_t)j] = v;
        }
    AB_LOG_D("%s: covariance of %ld x %d: centring %.3f s, %d dsyrk call%s %.3f s (%.1f GFLOP, "
             "%.1f GFLOP/s); both: %.1f GFLOP/s", name_of(origin), n, d, t_centre, calls,
             calls == 1 ? "" : "s", t_syrk, gflop, gflop / t_syrk, gflop / (t_centre + t_syrk));
cleanup:
    free(buf);
    return rc;
}

static ab_status stats_compute(const float *xf, const double *xd, long n, int d,
                               const char *origin, struct ab_fid_stats *out)
{
    ab_status rc = AB_OK;
    memset(out, 0, sizeof *out);
    AB_CHECK(n >= 2, AB_ERR_INPUT, "%s: %ld feature row%s; FID needs at least 2 (the "
             "covariance divides by N - 1)", name_of(origin), n, n == 1 ? "" : "s");
    AB_CHECK(d >= 1 && d <= AB_FID_MAX_DIMS, AB_ERR_INPUT, "%s: %d features per row; expected "
             "1 .. %d (Inception-v3 pool features: 2048)", name_of(origin), d, AB_FID_MAX_DIMS);
    out->dims = d;
    out->n = n;
    out->mu = calloc((size_t)d, sizeof *out->mu);
    out->sigma = calloc((size_t)d * (size_t)d, sizeof *out->sigma);
    AB_CHECK_ALLOC(out->mu);
    AB_CHECK_ALLOC(out->sigma);
    if (origin) {
        out->source = strdup(origin);
        AB_CHECK_ALLOC(out->source);
    }
    AB_CALL(column_means(xf, xd, n, d, origin, out->mu));
    AB_CALL(covariance(xf, xd, n, d, out->mu, origin, out->sigma));
cleanup:
    if (rc != AB_OK) ab_fid_stats_free(out);
    return rc;
}

ab_status ab_fid_stats_from_f32(const float *x, long n, int d, const char *origin,
                                struct ab_fid_stats *out)
{
    return stats_compute(x, NULL, n, d, origin, out);
}

ab_status ab_fid_stats_from_f64(const double *x, long n, int d, const char *origin,
                                struct ab_fid_stats *out)
{
    return stats_compute(NULL, x, n, d, origin, out);
}

ab_status ab_fid_stats_check(struct ab_fid_stats *s)
{
    const char *src = s->source ? s->source : "statistics";
    size_t d = (size_t)s->dims;
    double amax = 0.0, tol;

    if (s->dims < 1 || s->dims > AB_FID_MAX_DIMS)
        return ab_err_set(AB_ERR_INPUT, "%s: dimension %d; expected 1 .. %d", src, s->dims,
                          AB_FID_MAX_DIMS);
    if (s->n == 1 || s->n < 0)
        return ab_err_set(AB_ERR_INPUT, "%s: attribute 'n' is %ld; statistics need at least 2 "
                          "feature rows", src, s->n);
    for (size_t i = 0; i < d; i++)
        if (!isfinite(s->mu[i]))
            return ab_err_set(AB_ERR_INPUT, "%s: mu[%zu] is %g; statistics must be finite", src,
                              i, s->mu[i]);
    for (size_t i = 0; i < d * d; i++) {
        if (!isfinite(s->sigma[i]))
            return ab_err_set(AB_ERR_INPUT, "%s: sigma[%zu][%zu] is %g; statistics must be "
                              "finite", src, i / d, i % d, s->sigma[i]);
        if (fabs(s->sigma[i]) > amax) amax = fabs(s->sigma[i]);
    }
    tol = AB_FID_SYM_TOL * amax;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++) {
            double a = s->sigma[i * d + j], b = s->sigma[j * d + i];
            if (fabs(a - b) > tol)
                return ab_err_set(AB_ERR_INPUT, "%s: sigma is not symmetric: sigma[%zu][%zu] = "
                                  "%.17g but sigma[%zu][%zu] = %.17g (tolerance %g = 1e-6 x "
                                  "max |sigma|); a covariance matrix is symmetric", src, i, j,
                                  a, j, i, b, tol);
            s->sigma[i * d + j] = s->sigma[j * d + i] = 0.5 * (a + b);
        }
    return AB_OK;
}

/* --- tr((S1 S2)^(1/2)) -------------------------------------------------- */

/* Sum of the square roots of the eigenvalues of the symmetric r x r m
 * (column-major, upper triangle read; destroyed), counting those below
 * r * DBL_EPSILON * max as zero. */
static ab_status sum_sqrt_eigenvalues(double *m, int r, const char *what, double *out)
{
    ab_status rc = AB_OK;
    double *w = malloc((size_t)(r ? r : 1) * sizeof *w), sum = 0.0, tol;
    lapack_int info;
    AB_CHECK_ALLOC(w);
    info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'U', r, m, r, w);
    AB_CHECK(info == 0, AB_ERR_INTERNAL, "LAPACKE_dsyevd (eigenvalues of A^T S2 A, %d x %d) "
             "failed with info %d", r, r, (int)info);
    if (r > 0 && w[0] < -NEGATIVE_EIG_WARN * fabs(w[r - 1]))
        AB_LOG_W("%s: A^T S2 A has the negative eigenvalue %g (largest %g): is sigma of %s "
                 "positive semi-definite? counted as 0", what, w[0], w[r - 1], what);
    /* Eigenvalues within rounding of zero (a rank-deficient S1 or S2) are
     * zero: their square roots would add noise of order sqrt(eps ||M||). */
    tol = r > 0 ? (double)r * DBL_EPSILON * fabs(w[r - 1]) : 0.0;
    for (int i = 0; i < r; i++)
        if (w[i] > tol) sum += sqrt(w[i]);
    *out = sum;
cleanup:
    free(w);
    return rc;
}

/* Cholesky route: S1 = U^T U (column-major upper U), M = U S2 U^T.
 * *used = 0 (and nothing computed) when S1 is not numerically positive
 * definite. */
static ab_status trace_sqrt_cholesky(const double *s1, const double *s2, int d,
                                     const char *what, double *trace, int *used)
{
    ab_status rc = AB_OK;
    size_t dd = (size_t)d * (size_t)d;
    double *u = malloc(dd * sizeof *u), *m = NULL, dmax = 0.0, pmin = INFINITY, t0 = now_s(),
           t1, t2;
    lapack_int info;

    *used = 0;
    AB_CHECK_ALLOC(u);
    memcpy(u, s1, dd * sizeof *u);
    info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', d, u, d);
    if (info != 0) goto cleanup; /* not positive definite */
    for (size_t i = 0; i < (size_t)d; i++) {
        double p = u[i * (size_t)d + i], diag = s1[i * (size_t)d + i];
        if (diag > dmax) dmax = diag;
        if (p * p < pmin) pmin = p * p;
    }
    if (!(pmin > CHOLESKY_PIVOT_TOL * dmax)) goto cleanup; /* numerically singular */
    t1 = now_s();
    m = malloc(dd * sizeof *m);
    AB_CHECK_ALLOC(m);
    memcpy(m, s2, dd * sizeof *m);
    /* m = S2 U^T, then m = U (S2 U^T); U is d x d upper, column-major. */
    cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, d, d, 1.0, u, d,
                m, d);
    cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, d, d, 1.0, u,
                d, m, d);
    t2 = now_s();
    AB_CALL(sum_sqrt_eigenvalues(m, d, what, trace));
    *used = 1;
    AB_LOG_D("tr sqrt(S1 S2), Cholesky route, D = %d: dpotrf %.3f s, 2 dtrmm %.3f s, "
             "eigenvalues %.3f s", d, t1 - t0, t2 - t1, now_s() - t2);
cleanup:
    free(m);
    free(u);
    return rc;
}

/* Eigen route: S1 = V diag(l) V^T, A = V diag(sqrt(l)) over the numerically
 * non-zero l, M = A^T S2 A (rank x rank). */
static ab_status trace_sqrt_eigen(const double *s1, const double *s2, int d, const char *what,
                                  double *trace)
{
    ab_status rc = AB_OK;
    size_t dd = (size_t)d * (size_t)d;
    double *v = malloc(dd * sizeof *v), *l = malloc((size_t)d * sizeof *l), *b = NULL, *m = NULL;
    double lmax, tol, t0 = now_s(), t1, t2;
    lapack_int info;
    int first = 0, r;

    AB_CHECK_ALLOC(v);
    AB_CHECK_ALLOC(l);
    memcpy(v, s1, dd * sizeof *v);
    info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', d, v, d, l);
    AB_CHECK(info == 0, AB_ERR_INTERNAL, "LAPACKE_dsyevd (eigendecomposition of S1, %d x %d) "
             "failed with info %d", d, d, (int)info);
    t1 = now_s();
    lmax = l[d - 1] > 0.0 ? l[d - 1] : 0.0;
    if (l[0] < -NEGATIVE_EIG_WARN * lmax)
        AB_LOG_W("%s: sigma has the negative eigenvalue %g (largest %g): not positive "
                 "semi-definite; counted as 0", what, l[0], l[d - 1]);
    tol = (double)d * DBL_EPSILON * lmax;
    while (first < d && !(l[first] > tol)) first++;
    r = d - first;
    *trace = 0.0;
    if (r == 0) goto cleanup;
    /* A: the last r eigenvector columns, column k scaled by sqrt(l_k). */
    for (int k = first; k < d; k++) {
        double s = sqrt(l[k]);
        double *col = v + (size_t)k * (size_t)d;
        for (int i = 0; i < d; i++) col[i] *= s;
    }
    b = malloc((size_t)d * (size_t)r * sizeof *b);
    m = malloc((size_t)r * (size_t)r * sizeof *m);
    AB_CHECK_ALLOC(b);
    AB_CHECK_ALLOC(m);
    /* b (d x r) = S2 (d x d) A (d x r); m (r x r) = A^T b. */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, r, d, 1.0, s2, d,
                v + (size_t)first * (size_t)d, d, 0.0, b, d);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, r, r, d, 1.0,
                v + (size_t)first * (size_t)d, d, b, d, 0.0, m, r);
    t2 = now_s();
    AB_CALL(sum_sqrt_eigenvalues(m, r, what, trace));
    AB_LOG_D("tr sqrt(S1 S2), eigen route, D = %d, rank %d: dsyevd %.3f s, 2 dgemm %.3f s, "
             "eigenvalues %.3f s", d, r, t1 - t0, t2 - t1, now_s() - t2);
cleanup:
    free(m);
    free(b);
    free(l);
    free(v);
    return rc;
}

ab_status ab_fid_distance(const struct ab_fid_stats *a, const struct ab_fid_stats *b,
                          enum ab_fid_method method, double *fid)
{
    ab_status rc = AB_OK;
    const char *sa = a->source ? a->source : "the first statistics";
    const char *sb = b->source ? b->source : "the second statistics";
    int d = a->dims, used = 0;
    double diff = 0.0, tr1 = 0.0, tr2 = 0.0, trs = 0.0;

    AB_CHECK(a->dims == b->dims, AB_ERR_INPUT, "%s has %d features per row but %s has %d; both "
             "sides must come from the same feature extractor (Inception-v3 pool: 2048)", sa,
             a->dims, sb, b->dims);
    AB_CHECK(d >= 1 && a->mu && a->sigma && b->mu && b->sigma, AB_ERR_INTERNAL,
             "internal error: empty FID statistics; please report this");
    for (int i = 0; i < d; i++) {
        double e = a->mu[i] - b->mu[i];
        diff += e * e;
        tr1 += a->sigma[(size_t)i * (size_t)d + (size_t)i];
        tr2 += b->sigma[(size_t)i * (size_t)d + (size_t)i];
    }
    if (method == AB_FID_AUTO)
        AB_CALL(trace_sqrt_cholesky(a->sigma, b->sigma, d, sb, &trs, &used));
    if (!used) AB_CALL(trace_sqrt_eigen(a->sigma, b->sigma, d, sb, &trs));
    *fid = diff + tr1 + tr2 - 2.0 * trs;
    AB_LOG_D("FID = |mu1 - mu2|^2 %.10g + tr S1 %.10g + tr S2 %.10g - 2 tr sqrt(S1 S2) %.10g "
             "= %.10g", diff, tr1, tr2, trs, *fid);
cleanup:
    return rc;
}

/* --- files ------------------------------------------------------------- */

/* Opens dataset name of f, checks it is floating point of the given rank
 * and returns its shape. */
static ab_status open_float_dataset(hid_t f, const char *path, const char *name, int rank,
                                    const char *expect, hid_t *dset, hsize_t *dims,
                                    size_t *type_size)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
    int nd;
    AB_H5R(d = H5Dopen2(f, name, H5P_DEFAULT), "%s: '%s' is not a dataset; %s", path, name,
           expect);
    AB_H5R(t = H5Dget_type(d), "%s: '%s': type", path, name);
    AB_CHECK(H5Tget_class(t) == H5T_FLOAT, AB_ERR_INPUT, "%s: '%s' is not floating point; "
             "expected %s", path, name, expect);
    *type_size = H5Tget_size(t);
    AB_H5R(sp = H5Dget_space(d), "%s: '%s': space", path, name);
    nd = H5Sget_simple_extent_ndims(sp);
    AB_CHECK(nd == rank, AB_ERR_INPUT, "%s: '%s' has %d dimension%s; expected %s", path, name,
             nd, nd == 1 ? "" : "s", expect);
    AB_H5R(H5Sget_simple_extent_dims(sp, dims, NULL), "%s: '%s': shape", path, name);
    *dset = d;
    d = H5I_INVALID_HID;
cleanup:
    ab_h5_close(&t);
    ab_h5_close(&sp);
    ab_h5_close(&d);
    return rc;
}

static ab_status load_features(hid_t f, const char *path, struct ab_fid_stats *out)
{
    static const char expect[] = "'features' of shape N x D (one row of D features per image), "
                                 "float32 or float64";
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    size_t tsize = 0, count;
    void *x = NULL;
    double t0 = now_s(), t1;

    AB_CALL(open_float_dataset(f, path, "features", 2, expect, &d, dims, &tsize));
    AB_CHECK(dims[0] >= 2 && dims[0] <= (hsize_t)1 << 31, AB_ERR_INPUT, "%s: 'features' has "
             "%llu row%s; FID needs 2 .. 2^31 (the covariance divides by N - 1)", path,
             (unsigned long long)dims[0], dims[0] == 1 ? "" : "s");
    AB_CHECK(dims[1] >= 1 && dims[1] <= AB_FID_MAX_DIMS, AB_ERR_INPUT, "%s: 'features' has %llu "
             "columns; expected 1 .. %d features per row (Inception-v3 pool: 2048)", path,
             (unsigned long long)dims[1], AB_FID_MAX_DIMS);
    count = (size_t)dims[0] * (size_t)dims[1];
    x = malloc(count * (tsize > 4 ? sizeof(double) : sizeof(float)));
    AB_CHECK_ALLOC(x);
    AB_H5R(H5Dread(d, tsize > 4 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                   H5P_DEFAULT, x), "%s: reading 'features'", path);
    t1 = now_s();
    if (tsize > 4) AB_CALL(ab_fid_stats_from_f64(x, (long)dims[0], (int)dims[1], path, out));
    else AB_CALL(ab_fid_stats_from_f32(x, (long)dims[0], (int)dims[1], path, out));
    AB_LOG_D("%s: read %llu x %llu features (%s) in %.3f s, statistics in %.3f s", path,
             (unsigned long long)dims[0], (unsigned long long)dims[1],
             tsize > 4 ? "float64" : "float32", t1 - t0, now_s() - t1);
cleanup:
    free(x);
    ab_h5_close(&d);
    return rc;
}

static ab_status load_stats(hid_t f, const char *path, struct ab_fid_stats *out)
{
    ab_status rc = AB_OK;
    hid_t dm = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hsize_t dmu[1] = {0}, dsig[2] = {0, 0};
    size_t tsize;
    int64_t n = 0, dims_attr = 0;

    AB_CALL(open_float_dataset(f, path, "mu", 1, "'mu' of shape D (the feature mean), float64",
                               &dm, dmu, &tsize));
    AB_CALL(open_float_dataset(f, path, "sigma", 2, "'sigma' of shape D x D (the feature "
                               "covariance), float64", &ds, dsig, &tsize));
    AB_CHECK(dmu[0] >= 1 && dmu[0] <= AB_FID_MAX_DIMS, AB_ERR_INPUT, "%s: 'mu' has %llu "
             "entries; expected 1 .. %d", path, (unsigned long long)dmu[0], AB_FID_MAX_DIMS);
    AB_CHECK(dsig[0] == dsig[1], AB_ERR_INPUT, "%s: 'sigma' is %llu x %llu; a covariance "
             "matrix is square (D x D)", path, (unsigned long long)dsig[0],
             (unsigned long long)dsig[1]);
    AB_CHECK(dsig[0] == dmu[0], AB_ERR_INPUT, "%s: 'sigma' is %llu x %llu but 'mu' has %llu "
             "entries; expected sigma D x D for mu of D", path, (unsigned long long)dsig[0],
             (unsigned long long)dsig[1], (unsigned long long)dmu[0]);
    if (H5Aexists(f, "n") > 0) {
        if (ab_h5_read_i64_attr(f, "n", &n) != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
        AB_CHECK(n >= 2, AB_ERR_INPUT, "%s: attribute 'n' is %lld; statistics need at least 2 "
                 "feature rows", path, (long long)n);
    }
    if (H5Aexists(f, "dims") > 0) {
        if (ab_h5_read_i64_attr(f, "dims", &dims_attr) != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
        AB_CHECK(dims_attr == (int64_t)dmu[0], AB_ERR_INPUT, "%s: attribute 'dims' is %lld but "
                 "'mu' has %llu entries", path, (long long)dims_attr,
                 (unsigned long long)dmu[0]);
    }
    out->dims = (int)dmu[0];
    out->n = (long)n;
    out->source = strdup(path);
    out->mu = malloc((size_t)out->dims * sizeof *out->mu);
    out->sigma = malloc((size_t)out->dims * (size_t)out->dims * sizeof *out->sigma);
    AB_CHECK_ALLOC(out->source);
    AB_CHECK_ALLOC(out->mu);
    AB_CHECK_ALLOC(out->sigma);
    AB_H5R(H5Dread(dm, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->mu),
           "%s: reading 'mu'", path);
    AB_H5R(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->sigma),
           "%s: reading 'sigma'", path);
    AB_CALL(ab_fid_stats_check(out));
cleanup:
    ab_h5_close(&ds);
    ab_h5_close(&dm);
    return rc;
}

/* A file that says it is autobuild-fid-stats must be a version we know. */
static ab_status check_identity(hid_t f, const char *path)
{
    ab_status rc = AB_OK;
    char *format = NULL;
    int64_t version = 0;
    if (H5Aexists(f, "format") <= 0) return AB_OK;
    if (ab_h5_read_str_attr(f, "format", &format) != AB_OK) {
        ab_err_clear();
        return AB_OK; /* not ours to judge */
    }
    if (!strcmp(format, AB_FID_STATS_FORMAT)) {
        if (ab_h5_read_i64_attr(f, "format_version", &version) != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
        AB_CHECK(version >= 1 && version <= AB_FID_STATS_VERSION, AB_ERR_INPUT,
                 "%s: %s version %lld; this autobuild reads version %d (upgrade autobuild)",
                 path, AB_FID_STATS_FORMAT, (long long)version, AB_FID_STATS_VERSION);
    }
cleanup:
    free(format);
    return rc;
}

ab_status ab_fid_stats_load(const char *path, struct ab_fid_stats *out, int *from_features)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    int has_mu, has_sigma, has_features;

    memset(out, 0, sizeof *out);
    if (from_features) *from_features = 0;
    AB_CHECK(ab_fs_exists(path), AB_ERR_INPUT, "%s: no such file; %s", path, FILE_LAYOUT);
    AB_CHECK(H5Fis_hdf5(path) > 0, AB_ERR_INPUT, "%s: not an HDF5 file; %s", path, FILE_LAYOUT);
    AB_H5R(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: open", path);
    AB_CALL(check_identity(f, path));
    has_mu = H5Lexists(f, "mu", H5P_DEFAULT) > 0;
    has_sigma = H5Lexists(f, "sigma", H5P_DEFAULT) > 0;
    has_features = H5Lexists(f, "features", H5P_DEFAULT) > 0;
    if (has_mu || has_sigma) {
        AB_CHECK(has_mu && has_sigma, AB_ERR_INPUT, "%s: has '%s' but no '%s'; statistics are "
                 "'mu' (D) and 'sigma' (D x D) together", path, has_mu ? "mu" : "sigma",
                 has_mu ? "sigma" : "mu");
        AB_CALL(load_stats(f, path, out));
    } else {
        AB_CHECK(has_features, AB_ERR_INPUT, "%s: neither features nor statistics; %s", path,
                 FILE_LAYOUT);
        AB_CALL(load_features(f, path, out));
        if (from_features) *from_features = 1;
    }
cleanup:
    ab_h5_close(&f);
    if (rc != AB_OK) ab_fid_stats_free(out);
    return rc;
}

ab_status ab_fid_stats_save(const char *path, const struct ab_fid_stats *s)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    char tmp[4096];
    int made = 0;
    hsize_t dmu[1] = {(hsize_t)s->dims}, dsig[2] = {(hsize_t)s->dims, (hsize_t)s->dims};

    AB_ASSERT(s->dims >= 1 && s->mu && s->sigma);
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
          "%s: cannot create the statistics file (is its folder there and writable?)", path);
    made = 1;
    AB_CALL(ab_h5_write_identity(f, AB_FID_STATS_FORMAT, AB_FID_STATS_VERSION));
    AB_CALL(ab_h5_write_i64_attr(f, "n", s->n));
    AB_CALL(ab_h5_write_i64_attr(f, "dims", s->dims));
    AB_CALL(ab_h5_write_array(f, "mu", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s->mu, 1, dmu));
    AB_CALL(ab_h5_write_array(f, "sigma", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s->sigma, 2, dsig));
    AB_H5(H5Fclose(f), "%s: close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
    made = 0;
cleanup:
    ab_h5_close(&f);
    if (made) remove(tmp);
    return rc;
}

ab_status ab_fid_files(const char *path_a, const char *path_b, enum ab_fid_method method,
                       struct ab_fid_result *out)
{
    ab_status rc = AB_OK;
    struct ab_fid_stats a = {0}, b = {0};
    double t0 = now_s();

    memset(out, 0, sizeof *out);
    AB_CALL(ab_fid_stats_load(path_a, &a, &out->features_a));
    AB_CALL(ab_fid_stats_load(path_b, &b, &out->features_b));
    AB_CALL(ab_fid_distance(&a, &b, method, &out->fid));
    out->dims = a.dims;
    out->n_a = a.n;
    out->n_b = b.n;
    out->seconds = now_s() - t0;
cleanup:
    ab_fid_stats_free(&b);
    ab_fid_stats_free(&a);
    return rc;
}
