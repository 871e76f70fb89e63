/* SPDX-License-Identifier: MIT
 *
 * This file implements the forward and backward passes of the neural-network
 * ops of nn.h: dense layers and GEMM-shaped work through OpenBLAS, the rest
 * as plain loops over row-major float32 buffers. Nothing here allocates.
 */
#include "nn/nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The hot loops get an AVX2 version chosen at run time where the CPU has it
 * (FMA stays off, so every version computes bit-identical results). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

/* ---- dense ---------------------------------------------------------------- */

void ab_nn_linear_fwd(const float *x, int n, int in, const float *w, const float *b, int out,
                      float *y)
{
    if (n <= 0) return;
    /* y [n x out] = x [n x in] * W^T [in x out] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f,
                y, out);
    if (b)
        for (int i = 0; i < n; i++) {
            float *row = y + (size_t)i * (size_t)out;
            for (int o = 0; o < out; o++) row[o] += b[o];
        }
}

static void colsum_acc(const float *dy, int n, int c, float *db)
{
    for (int i = 0; i < n; i++) {
        const float *row = dy + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) db[k] += row[k];
    }
}

void ab_nn_linear_bwd(const float *x, int n, int in, const float *w, int out, const float *dy,
                      float *dw, float *db, float *dx)
{
    if (n <= 0) return;
    /* dW [out x in] += dy^T [out x n] * x [n x in] */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in,
                    1.0f, dw, in);
    if (db) colsum_acc(dy, n, out, db);
    /* dx [n x in] += dy [n x out] * W [out x in] */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                    1.0f, dx, in);
}

/* ---- elementwise ---------------------------------------------------------- */

/* Branch-free forms: the sign of an activation is unpredictable, and these
 * loops vectorise. */
static inline float leaky(float v, float slope)
{
    float neg = slope * v;
    return v > 0.0f ? v : neg;
}

HOT void ab_nn_leaky_fwd(const float *x, size_t n, float slope, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = leaky(x[i], slope);
}

HOT void ab_nn_leaky_bwd(const float *y, const float *dy, size_t n, float slope, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        float m = y[i] > 0.0f ? 1.0f : slope;
        dx[i] += m * dy[i];
    }
}

void ab_nn_abs_fwd(const float *x, size_t n, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
}

HOT void ab_nn_abs_bwd(const float *x, const float *dy, size_t n, float *dx)
{
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : x[i] < 0.0f ? -dy[i] : 0.0f;
}

HOT void ab_nn_add_to(const float *x, size_t n, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* ---- embedding ------------------------------------------------------------ */

void ab_nn_embedding_fwd(const float *table, int d, const int *idx, int n, float *y)
{
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * (size_t)d, table + (size_t)idx[i] * (size_t)d,
               sizeof(float) * (size_t)d);
}

void ab_nn_embedding_bwd(const int *idx, int n, int d, const float *dy, float *dtable)
{
    for (int i = 0; i < n; i++) {
        float *t = dtable + (size_t)idx[i] * (size_t)d;
        const float *g = dy + (size_t)i * (size_t)d;
        for (int k = 0; k < d; k++) t[k] += g[k];
    }
}

/* ---- batch normalisation -------------------------------------------------- */

#define BN_MAX_C AB_NN_MAX_CHANNELS

HOT void ab_nn_bn_sum(const float *x, int n, int c, double *sum)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) sum[k] += row[k];
    }
}

HOT void ab_nn_bn_sqdev(const float *x, int n, int c, const double *mean, double *sq)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) {
            double d = row[k] - mean[k];
            sq[k] += d * d;
        }
    }
}

void ab_nn_bn_finish(const double *mean, const double *sq, int n_total, int c, float momentum,
                     float eps, float *running_mean, float *running_var, float *inv_std)
{
    for (int k = 0; k < c; k++) {
        double biased = sq[k] / n_total;
        inv_std[k] = (float)(1.0 / sqrt(biased + eps));
        running_mean[k] = (1.0f - momentum) * running_mean[k] + momentum * (float)mean[k];
        double unbiased = n_total > 1 ? sq[k] / (n_total - 1) : biased;
        running_var[k] = (1.0f - momentum) * running_var[k] + momentum * (float)unbiased;
    }
}

HOT void ab_nn_bn_apply(const float *x, int n, int c, const double *mean, const float *inv_std,
                    const float *gamma, const float *beta, float *xhat, float *y)
{
    float m[BN_MAX_C];
    for (int k = 0; k < c; k++) m[k] = (float)mean[k];
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        float *xh = xhat + (size_t)i * (size_t)c, *yr = y + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) {
            xh[k] = (row[k] - m[k]) * inv_std[k];
            yr[k] = gamma[k] * xh[k] + beta[k];
        }
    }
}

void ab_nn_bn_fwd(const float *x, int n, int c, const float *gamma, const float *beta,
                  float *running_mean, float *running_var, float momentum, float eps,
                  struct ab_nn_bn_cache *cache, float *y)
{
    if (!cache) {
        float scale[BN_MAX_C], shift[BN_MAX_C];
        for (int k = 0; k < c; k++) {
            scale[k] = gamma[k] / sqrtf(running_var[k] + eps);
            shift[k] = beta[k] - running_mean[k] * scale[k];
        }
        for (int i = 0; i < n; i++) {
            const float *row = x + (size_t)i * (size_t)c;
            float *yr = y + (size_t)i * (size_t)c;
            for (int k = 0; k < c; k++) yr[k] = row[k] * scale[k] + shift[k];
        }
        return;
    }
    double mean[BN_MAX_C], sq[BN_MAX_C];
    for (int k = 0; k < c; k++) mean[k] = sq[k] = 0.0;
    ab_nn_bn_sum(x, n, c, mean);
    for (int k = 0; k < c; k++) mean[k] /= n;
    ab_nn_bn_sqdev(x, n, c, mean, sq);
    ab_nn_bn_finish(mean, sq, n, c, momentum, eps, running_mean, running_var, cache->inv_std);
    ab_nn_bn_apply(x, n, c, mean, cache->inv_std, gamma, beta, cache->xhat, y);
}

HOT void ab_nn_bn_bwd_sums(const float *dy, const float *xhat, int n, int c, double *sum_dy,
                       double *sum_dy_xhat)
{
    for (int i = 0; i < n; i++) {
        const float *g = dy + (size_t)i * (size_t)c, *xh = xhat + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) {
            sum_dy[k] += g[k];
            sum_dy_xhat[k] += (double)g[k] * xh[k];
        }
    }
}

HOT void ab_nn_bn_bwd_apply(const float *dy, const float *xhat, int n, int c, const float *gamma,
                        const float *inv_std, const double *sum_dy, const double *sum_dy_xhat,
                        int n_total, float *dx)
{
    float a[BN_MAX_C], mb[BN_MAX_C], mc[BN_MAX_C];
    for (int k = 0; k < c; k++) {
        a[k] = gamma[k] * inv_std[k];
        mb[k] = (float)(sum_dy[k] / n_total);
        mc[k] = (float)(sum_dy_xhat[k] / n_total);
    }
    /* dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)) */
    for (int i = 0; i < n; i++) {
        const float *g = dy + (size_t)i * (size_t)c, *xh = xhat + (size_t)i * (size_t)c;
        float *d = dx + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) d[k] += a[k] * (g[k] - mb[k] - xh[k] * mc[k]);
    }
}

void ab_nn_bn_bwd(const struct ab_nn_bn_cache *cache, int n, int c, const float *gamma,
                  const float *dy, float *dgamma, float *dbeta, float *dx)
{
    double sum_dy[BN_MAX_C], sum_dy_xh[BN_MAX_C];
    for (int k = 0; k < c; k++) sum_dy[k] = sum_dy_xh[k] = 0.0;
    ab_nn_bn_bwd_sums(dy, cache->xhat, n, c, sum_dy, sum_dy_xh);
    for (int k = 0; k < c; k++) {
        dgamma[k] += (float)sum_dy_xh[k];
        dbeta[k] += (float)sum_dy[k];
    }
    ab_nn_bn_bwd_apply(dy, cache->xhat, n, c, gamma, cache->inv_std, sum_dy, sum_dy_xh, n, dx);
}

/* ---- pooling and norms ---------------------------------------------------- */

HOT void ab_nn_pool_fwd(const float *x, int c, const int *graph_ptr, int g, int mean, float *y)
{
    for (int gi = 0; gi < g; gi++) {
        float *out = y + (size_t)gi * (size_t)c;
        int lo = graph_ptr[gi], hi = graph_ptr[gi + 1];
        for (int k = 0; k < c; k++) out[k] = 0.0f;
        for (int v = lo; v < hi; v++) {
            const float *row = x + (size_t)v * (size_t)c;
            for (int k = 0; k < c; k++) out[k] += row[k];
        }
        if (mean && hi > lo) {
            float inv = 1.0f / (float)(hi - lo);
            for (int k = 0; k < c; k++) out[k] *= inv;
        }
    }
}

HOT void ab_nn_pool_bwd(const float *dy, int c, const int *graph_ptr, int g, int mean, float *dx)
{
    for (int gi = 0; gi < g; gi++) {
        const float *grad = dy + (size_t)gi * (size_t)c;
        int lo = graph_ptr[gi], hi = graph_ptr[gi + 1];
        float s = mean && hi > lo ? 1.0f / (float)(hi - lo) : 1.0f;
        for (int v = lo; v < hi; v++) {
            float *row = dx + (size_t)v * (size_t)c;
            for (int k = 0; k < c; k++) row[k] += s * grad[k];
        }
    }
}

void ab_nn_l1norm_fwd(const float *x, int n, int c, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        float s = 0.0f;
        for (int k = 0; k < c; k++) s += fabsf(row[k]);
        y[i] = s;
    }
}

HOT void ab_nn_l1norm_bwd(const float *x, int n, int c, const float *dy, float *dx)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        float *d = dx + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) d[k] += row[k] > 0.0f ? dy[i] : row[k] < 0.0f ? -dy[i] : 0.0f;
    }
}

void ab_nn_l2norm_fwd(const float *x, int n, int c, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)c;
        double s = 0.0;
        for (int k = 0; k < c; k++) s += (double)row[k] * row[k];
        y[i] = (float)sqrt(s);
    }
}

void ab_nn_l2norm_bwd(const float *x, const float *y, int n, int c, const float *dy, float *dx)
{
    for (int i = 0; i < n; i++) {
        if (y[i] <= 0.0f) continue;
        const float *row = x + (size_t)i * (size_t)c;
        float *d = dx + (size_t)i * (size_t)c, s = dy[i] / y[i];
        for (int k = 0; k < c; k++) d[k] += s * row[k];
    }
}

/* ---- GATv2 ---------------------------------------------------------------- */

/* Dot products with eight partial sums: the compiler vectorises the lanes,
 * and the summation order is fixed, so results do not depend on the
 * instruction set. */
static inline float dot8(const float *a, const float *b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[k + j] * b[k + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* att . leaky_0.2(s) */
static inline float dot8_leaky(const float *att, const float *s, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += att[k + j] * leaky(s[k + j], 0.2f);
    float r = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; k < n; k++) r += att[k] * leaky(s[k], 0.2f);
    return r;
}

#define GAT_SLOPE 0.2f

void ab_nn_gatv2_fwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                     const struct ab_nn_gat_params *p, struct ab_nn_gat_cache *cache, float *y)
{
    ab_nn_gatv2_fwd_range(gr, 0, gr->n_nodes, x, in, out, p, cache, y);
}

HOT void ab_nn_gatv2_fwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                           int in, int out, const struct ab_nn_gat_params *p,
                           struct ab_nn_gat_cache *cache, float *y)
{
    const int o2 = 2 * out;
    float *xlr = cache->xlr;
    ab_nn_linear_fwd(x + (size_t)lo * (size_t)in, hi - lo, in, p->w, p->b, o2,
                     xlr + (size_t)lo * (size_t)o2);
    for (int i = lo; i < hi; i++) {
        const float *xr = xlr + (size_t)i * (size_t)o2 + out;
        float *yi = y + (size_t)i * (size_t)out;
        int e_lo = gr->in_ptr[i], e_hi = gr->in_ptr[i + 1];
        float emax = -INFINITY;
        for (int e = e_lo; e < e_hi; e++) {
            const float *xl = xlr + (size_t)gr->in_src[e] * (size_t)o2;
            float *s = cache->s + (size_t)e * (size_t)out;
            for (int k = 0; k < out; k++) s[k] = xl[k] + xr[k];
            float score = dot8_leaky(p->att, s, out);
            cache->alpha[e] = score;
            if (score > emax) emax = score;
        }
        float z = 0.0f;
        for (int e = e_lo; e < e_hi; e++) {
            cache->alpha[e] = expf(cache->alpha[e] - emax);
            z += cache->alpha[e];
        }
        for (int k = 0; k < out; k++) yi[k] = p->bias[k];
        for (int e = e_lo; e < e_hi; e++) {
            float a = cache->alpha[e] /= z;
            const float *xl = xlr + (size_t)gr->in_src[e] * (size_t)o2;
            for (int k = 0; k < out; k++) yi[k] += a * xl[k];
        }
    }
}

void ab_nn_gatv2_bwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                     const struct ab_nn_gat_params *p, const struct ab_nn_gat_cache *cache,
                     const float *dy, struct ab_nn_gat_grads *g, float *dx, float *scratch)
{
    ab_nn_gatv2_bwd_range(gr, 0, gr->n_nodes, x, in, out, p, cache, dy, g, dx, scratch);
}

HOT void ab_nn_gatv2_bwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                           int in, int out, const struct ab_nn_gat_params *p,
                           const struct ab_nn_gat_cache *cache, const float *dy,
                           struct ab_nn_gat_grads *g, float *dx, float *scratch)
{
    const int o2 = 2 * out, n = hi - lo;
    const float *xlr = cache->xlr;
    float *dxlr = scratch; /* [N x 2O], rows [lo, hi) used */
    memset(dxlr + (size_t)lo * (size_t)o2, 0, sizeof(float) * (size_t)n * (size_t)o2);
    colsum_acc(dy + (size_t)lo * (size_t)out, n, out, g->bias);
    for (int i = lo; i < hi; i++) {
        const float *dyi = dy + (size_t)i * (size_t)out;
        float *dxr = dxlr + (size_t)i * (size_t)o2 + out;
        int e_lo = gr->in_ptr[i], e_hi = gr->in_ptr[i + 1];
        float dot = 0.0f;
        /* y_i = sum_e alpha_e xl_j: dxl_j += alpha_e dy_i; dalpha_e = dy_i . xl_j */
        for (int e = e_lo; e < e_hi; e++) {
            const float *xl = xlr + (size_t)gr->in_src[e] * (size_t)o2;
            dot += cache->alpha[e] * dot8(dyi, xl, out);
        }
        for (int e = e_lo; e < e_hi; e++) {
            int j = gr->in_src[e];
            const float *xl = xlr + (size_t)j * (size_t)o2;
            float *dxl = dxlr + (size_t)j * (size_t)o2;
            float a = cache->alpha[e], d = dot8(dyi, xl, out);
            for (int k = 0; k < out; k++) dxl[k] += a * dyi[k];
            /* softmax backward, then through e = att . leaky(s) */
            float de = a * (d - dot);
            const float *s = cache->s + (size_t)e * (size_t)out;
            for (int k = 0; k < out; k++) {
                float v = s[k];
                g->att[k] += de * leaky(v, GAT_SLOPE);
                float ds = de * p->att[k] * (v > 0.0f ? 1.0f : GAT_SLOPE);
                dxl[k] += ds;
                dxr[k] += ds;
            }
        }
    }
    ab_nn_linear_bwd(x + (size_t)lo * (size_t)in, n, in, p->w, o2, dxlr + (size_t)lo * (size_t)o2,
                     g->w, g->b, dx ? dx + (size_t)lo * (size_t)in : NULL);
}

/* ---- GraphConv ------------------------------------------------------------ */

void ab_nn_graphconv_fwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                         const struct ab_nn_gconv_params *p, float *agg, float *y)
{
    ab_nn_graphconv_fwd_range(gr, 0, gr->n_nodes, x, in, out, p, agg, y);
}

void ab_nn_graphconv_fwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                               int in, int out, const struct ab_nn_gconv_params *p, float *agg,
                               float *y)
{
    const int n = hi - lo;
    for (int i = lo; i < hi; i++) {
        float *a = agg + (size_t)i * (size_t)in;
        memset(a, 0, sizeof(float) * (size_t)in);
        for (int e = gr->in_ptr[i]; e < gr->in_ptr[i + 1]; e++) {
            const float *xj = x + (size_t)gr->in_src[e] * (size_t)in;
            for (int k = 0; k < in; k++) a[k] += xj[k];
        }
    }
    ab_nn_linear_fwd(agg + (size_t)lo * (size_t)in, n, in, p->w_rel, p->b_rel, out,
                     y + (size_t)lo * (size_t)out);
    if (n > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f,
                    x + (size_t)lo * (size_t)in, in, p->w_root, in, 1.0f,
                    y + (size_t)lo * (size_t)out, out);
}

void ab_nn_graphconv_bwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                         const struct ab_nn_gconv_params *p, const float *agg, const float *dy,
                         struct ab_nn_gconv_grads *g, float *dx, float *scratch)
{
    ab_nn_graphconv_bwd_range(gr, 0, gr->n_nodes, x, in, out, p, agg, dy, g, dx, scratch);
}

void ab_nn_graphconv_bwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                               int in, int out, const struct ab_nn_gconv_params *p,
                               const float *agg, const float *dy, struct ab_nn_gconv_grads *g,
                               float *dx, float *scratch)
{
    const int n = hi - lo;
    const size_t ri = (size_t)lo * (size_t)in, ro = (size_t)lo * (size_t)out;
    float *dagg = scratch; /* [N x in], rows [lo, hi) used */
    memset(dagg + ri, 0, sizeof(float) * (size_t)n * (size_t)in);
    ab_nn_linear_bwd(agg + ri, n, in, p->w_rel, out, dy + ro, g->w_rel, g->b_rel, dagg + ri);
    ab_nn_linear_bwd(x + ri, n, in, p->w_root, out, dy + ro, g->w_root, NULL, dx ? dx + ri : NULL);
    if (!dx) return;
    for (int i = lo; i < hi; i++) {
        const float *da = dagg + (size_t)i * (size_t)in;
        for (int e = gr->in_ptr[i]; e < gr->in_ptr[i + 1]; e++) {
            float *dxj = dx + (size_t)gr->in_src[e] * (size_t)in;
            for (int k = 0; k < in; k++) dxj[k] += da[k];
        }
    }
}

/* ---- optimiser ------------------------------------------------------------ */

HOT void ab_nn_adamw_step(float *p, const float *g, float *m, float *v, size_t n, float lr,
                      float beta1, float beta2, float eps, float wd, long t)
{
    const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    const float step = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float decay = 1.0f - lr * wd;
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

double ab_nn_clip_grad_norm(float *g, size_t n, double max_norm)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    double norm = sqrt(s);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * coef);
    return norm;
}
