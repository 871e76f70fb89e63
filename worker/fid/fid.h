/* SPDX-License-Identifier: MIT
 *
 * fid.h - the Frechet Inception Distance, computed exactly (double
 * precision, BLAS/LAPACK) and fast, from feature or statistics files
 * (hdf5-schemas/fid.md).
 *
 * FID compares two sets of feature vectors (the 2048-dimensional pool
 * features of Inception-v3 in the usual setting) through the Gaussians with
 * their means and covariances:
 *
 *     FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
 *
 * The statistics of N x D features X are the mean mu (D) and the unbiased
 * covariance S = Xc^T Xc / (N - 1), Xc = X - 1 mu^T (numpy's
 * np.cov(X, rowvar=False)): the centred rows go, in blocks of bounded
 * memory, through cblas_dsyrk (one call for up to 256 MiB of centred rows,
 * e.g. all of 10,000 x 2048), whose upper triangle is then mirrored.
 *
 * The trace term without a general matrix square root. Write S1 = A A^T
 * for any factor A. Then S1 S2 = A (A^T S2) and (A^T S2) A = M with
 *
 *     M = A^T S2 A    (symmetric, positive semi-definite),
 *
 * and since XY and YX have the same non-zero eigenvalues, S1 S2 has the
 * eigenvalues of M: real and >= 0. When S1 is positive definite, A is
 * invertible and S1 S2 = A M A^-1 is similar to the diagonalisable M, so its
 * principal square root is A M^(1/2) A^-1, whose eigenvalues are the square
 * roots of M's (a singular S1 is the limit of S1 + eps I), so
 *
 *     tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(M)).
 *
 * The factor A:
 *   - Cholesky (LAPACKE_dpotrf, S1 = L L^T, A = L) when S1 is numerically
 *     positive definite (every pivot L_ii^2 > 1e-9 max_j S1_jj); then
 *     M = L^T (S2 L) takes two cblas_dtrmm. This is the fast route: with
 *     D = 2048 it costs 3 GFLOP + 17 GFLOP instead of an eigendecomposition.
 *   - otherwise (fewer samples than dimensions, constant features) the
 *     symmetric eigendecomposition S1 = V diag(l) V^T (LAPACKE_dsyevd), and
 *     A = V diag(sqrt(l)) restricted to the eigenvalues above the numerical
 *     rank threshold D * DBL_EPSILON * max(l) (the others, tiny or
 *     slightly negative from rounding, are exact zeros of a PSD matrix:
 *     their columns are dropped, which shrinks M to rank x rank); M = A^T
 *     (S2 A) takes two cblas_dgemm.
 * The eigenvalues of M come from LAPACKE_dsyevd (values only); values
 * below the same kind of threshold, r * DBL_EPSILON * max(eig(M)) for
 * r x r M, count as zero: they are the zero eigenvalues of a rank-deficient
 * S1 S2 (fewer samples than dimensions) blurred by rounding to about
 * +-eps |M|, and their square roots, ~1e-8 sqrt(|M|) each, would otherwise
 * add up (so FID(A, B) and FID(B, A) agree to ~1e-12 even then). Values
 * clearly below zero (an S2 that is not PSD) are logged as a warning.
 *
 * Typical use (what `autobuild fid --a A.h5 --b B.h5` does):
 *
 *     struct ab_fid_stats a = {0}, b = {0};
 *     double fid;
 *     AB_CALL(ab_fid_stats_load("A.h5", &a));   // features or statistics
 *     AB_CALL(ab_fid_stats_load("B.h5", &b));
 *     AB_CALL(ab_fid_distance(&a, &b, AB_FID_AUTO, &fid));
 *   cleanup:
 *     ab_fid_stats_free(&a);
 *     ab_fid_stats_free(&b);
 *
 * Threads: everything runs in OpenBLAS / LAPACK; ab_fid_set_threads() sets
 * OpenBLAS's (process-wide) thread count. Nothing here is collective.
 */
#ifndef AB_FID_FID_H
#define AB_FID_FID_H

#include <stddef.h>

#include "util/error.h"

#define AB_FID_STATS_FORMAT "autobuild-fid-stats"
#define AB_FID_STATS_VERSION 1

/* A statistics file's sigma must satisfy |S_ij - S_ji| <= AB_FID_SYM_TOL *
 * max_kl |S_kl|; it is then symmetrised ((S + S^T) / 2). */
#define AB_FID_SYM_TOL 1e-6

/* Largest feature dimension accepted (sigma alone is D^2 doubles). */
#define AB_FID_MAX_DIMS 32768

/* The Gaussian statistics of one feature set. */
struct ab_fid_stats {
    int dims;       /* D */
    long n;         /* feature rows behind the statistics; 0 when unknown */
    double *mu;     /* D */
    double *sigma;  /* D x D, row-major, exactly symmetric */
    char *source;   /* the file they came from (messages), or NULL */
};

/* How tr((S1 S2)^(1/2)) factors S1 (see the file comment). */
enum ab_fid_method {
    AB_FID_AUTO = 0,    /* Cholesky when S1 is positive definite, else eigen */
    AB_FID_EIGEN,       /* always the eigendecomposition */
};

/* What ab_fid_files() reports. */
struct ab_fid_result {
    double fid;
    int dims;
    long n_a, n_b;          /* feature rows of each side (0: unknown) */
    int features_a, features_b; /* 1 when the side was a features file */
    double seconds;         /* wall time of reading, statistics and FID */
};

/* Sets OpenBLAS's thread count (process-wide). Cannot fail. */
void ab_fid_set_threads(int threads);

/* Bounds the buffer of centred rows the covariance goes through (default,
 * or bytes = 0: 256 MiB; at least one row is always used). Process-wide;
 * not thread-safe. Cannot fail. */
void ab_fid_set_block_bytes(size_t bytes);

/* Frees the arrays of s and zeroes it. NULL-safe; s may be partly filled. */
void ab_fid_stats_free(struct ab_fid_stats *s);

/* Mean and unbiased covariance of n x d row-major features (float32 or
 * float64), in double. origin names the features in messages (may be
 * NULL). Fails with AB_ERR_INPUT when n < 2 or d < 1 or d > AB_FID_MAX_DIMS,
 * or when a value is not finite (naming row and column); AB_ERR_NOMEM when
 * memory runs out. *out is zeroed on failure. */
ab_status ab_fid_stats_from_f32(const float *x, long n, int d, const char *origin,
                                struct ab_fid_stats *out);
ab_status ab_fid_stats_from_f64(const double *x, long n, int d, const char *origin,
                                struct ab_fid_stats *out);

/* Checks statistics given by the user: d within limits, mu and sigma
 * finite, sigma symmetric within AB_FID_SYM_TOL (then symmetrised in
 * place), a recorded n (when not 0) at least 2. AB_ERR_INPUT naming
 * s->source and the offending entry otherwise. */
ab_status ab_fid_stats_check(struct ab_fid_stats *s);

/* Reads the statistics of path: datasets `mu` (D) and `sigma` (D x D) when
 * the file has them, else the statistics of dataset `features` (N x D,
 * float32 or float64). *from_features (may be NULL) says which. Fails with
 * one AB_ERR_INPUT line naming the file when it is missing or not HDF5,
 * has neither, has only one of mu / sigma, or when a dataset has the wrong
 * rank, shape or type (not floating point), N < 2, a value is not finite,
 * or sigma is not symmetric. *out is zeroed on failure. */
ab_status ab_fid_stats_load(const char *path, struct ab_fid_stats *out, int *from_features);

/* Writes an autobuild-fid-stats file (temporary name + rename): datasets
 * `mu` and `sigma` (float64), attributes `n` and `dims`. AB_ERR_IO when the
 * file cannot be written; nothing is left at path then. */
ab_status ab_fid_stats_save(const char *path, const struct ab_fid_stats *s);

/* The FID of two statistics of the same dimension. AB_ERR_INPUT when the
 * dimensions differ (naming both sources), AB_ERR_INTERNAL when LAPACK
 * fails to converge. */
ab_status ab_fid_distance(const struct ab_fid_stats *a, const struct ab_fid_stats *b,
                          enum ab_fid_method method, double *fid);

/* Loads both files (features or statistics) and computes their FID. */
ab_status ab_fid_files(const char *path_a, const char *path_b, enum ab_fid_method method,
                       struct ab_fid_result *out);

#endif /* AB_FID_FID_H */
