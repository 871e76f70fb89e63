/* SPDX-License-Identifier: MIT
 *
 * This file implements the compute kernels of the OFA inference engine
 * (ofa_kernels.h): depthwise convolution, im2col for the stem, fused
 * affine + activation epilogues and plane reductions. The loops are written
 * so that the compiler vectorises their inner dimension; on x86-64 with GCC
 * the hot ones are cloned for AVX-512 and AVX2 and the best clone is chosen
 * when the program starts.
 */
#include <string.h>

#include "ofa/ofa_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

static inline float relu6f(float x)
{
    return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
}

float ab_ofa_hsigmoid(float x)
{
    return relu6f(x + 3.0f) / 6.0f;
}

#define DW_VL 16 /* output columns per vector block */
#define DW_RB 4  /* output rows computed together (independent FMA chains) */

static int round_up(int v, int m)
{
    return (v + m - 1) / m * m;
}

/* The padded copy of one input plane that the blocked kernels read:
 * stride 1: one plane P[r][c] = in[r - pad][c - pad] (zero outside) with
 * rows for every row block and columns for every vector block; stride 2:
 * its even and odd columns as two planes, so that every tap reads
 * contiguous memory. */
struct dw_geom {
    int pad, rows, cols; /* padded plane (stride 1) or each half (stride 2) */
};

static struct dw_geom dw_geometry(int h, int w, int k, int stride, int ho, int wo)
{
    struct dw_geom g;
    int wo_r = round_up(wo, DW_VL), ho_r = round_up(ho, DW_RB);
    g.pad = k / 2;
    g.rows = (ho_r - 1) * stride + k;
    if (g.rows < h + 2 * g.pad) g.rows = h + 2 * g.pad;
    if (stride == 1)
        g.cols = wo_r + k - 1;
    else
        g.cols = wo_r + (k - 1) / 2 + 1;
    (void)w;
    return g;
}

size_t ab_ofa_dw_scratch_floats(int h, int w, int k, int stride, int ho, int wo)
{
    struct dw_geom g = dw_geometry(h, w, k, stride, ho, wo);
    return (size_t)g.rows * (size_t)g.cols * (stride == 1 ? 1 : 2);
}

static void pad_plane(const float *in, int h, int w, struct dw_geom g, float *P)
{
    memset(P, 0, (size_t)g.rows * (size_t)g.cols * sizeof *P);
    for (int y = 0; y < h; y++)
        memcpy(P + (long)(y + g.pad) * g.cols + g.pad, in + (long)y * w, (size_t)w * sizeof *P);
}

static void split_plane(const float *in, int h, int w, struct dw_geom g, float *E, float *O)
{
    size_t n = (size_t)g.rows * (size_t)g.cols;
    memset(E, 0, n * sizeof *E);
    memset(O, 0, n * sizeof *O);
    for (int y = 0; y < h; y++) {
        float *er = E + (long)(y + g.pad) * g.cols, *orr = O + (long)(y + g.pad) * g.cols;
        const float *ir = in + (long)y * w;
        /* padded column c = x + pad goes to half (c & 1) at c >> 1 */
        for (int x = 0; x < w; x++) {
            int c = x + g.pad;
            if (c & 1)
                orr[c >> 1] = ir[x];
            else
                er[c >> 1] = ir[x];
        }
    }
}

/* 16 floats, loaded and stored at any alignment. */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

/* Stores DW_RB rows of 16 accumulators at (oy, ox0), only the rows below ho
 * and the columns below wo. */
static inline void dw_store(const v16 acc[DW_RB], float *out, int oy, int ox0, int ho, int wo)
{
    int n = wo - ox0 < DW_VL ? wo - ox0 : DW_VL;
    for (int r = 0; r < DW_RB && oy + r < ho; r++) {
        float *o = out + (long)(oy + r) * wo + ox0;
        if (n == DW_VL) {
            *(v16 *)o = acc[r];
        } else {
            float tmp[DW_VL];
            *(v16 *)tmp = acc[r];
            memcpy(o, tmp, (size_t)n * sizeof *o);
        }
    }
}

/* Stride 1 on the padded plane P (cols columns): DW_RB rows x 16 columns of
 * outputs per step, each tap one broadcast and DW_RB fused multiply-adds
 * into accumulators that stay in registers. */
HOT static void dw_s1(const float *P, int cols, const float *wk, int k, float *out, int ho,
                      int wo)
{
    for (int oy = 0; oy < ho; oy += DW_RB)
        for (int ox0 = 0; ox0 < wo; ox0 += DW_VL) {
            v16 acc[DW_RB] = {{0}};
            const float *base = P + (long)oy * cols + ox0;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    v16 w = (v16){0} + wk[ky * k + kx];
                    const float *src = base + (long)ky * cols + kx;
                    for (int r = 0; r < DW_RB; r++) acc[r] += w * *(const v16 *)(src + (long)r * cols);
                }
            dw_store(acc, out, oy, ox0, ho, wo);
        }
}

/* Stride 2 on the even / odd column planes E and O: padded column 2 ox + kx
 * is E[ox + kx / 2] for even kx and O[ox + kx / 2] for odd kx. */
HOT static void dw_s2(const float *E, const float *O, int cols, const float *wk, int k,
                      float *out, int ho, int wo)
{
    for (int oy = 0; oy < ho; oy += DW_RB)
        for (int ox0 = 0; ox0 < wo; ox0 += DW_VL) {
            v16 acc[DW_RB] = {{0}};
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    v16 w = (v16){0} + wk[ky * k + kx];
                    const float *half = (kx & 1) ? O : E;
                    const float *src = half + (long)(2 * oy + ky) * cols + ox0 + kx / 2;
                    for (int r = 0; r < DW_RB; r++)
                        acc[r] += w * *(const v16 *)(src + (long)2 * r * cols);
                }
            dw_store(acc, out, oy, ox0, ho, wo);
        }
}

/* Any other stride: direct loops with bounds checks (OFA uses 1 and 2). */
static void dw_generic(const float *in, int h, int w, const float *wk, int k, int stride,
                       float *out, int ho, int wo)
{
    int pad = k / 2;
    for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
            float s = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky;
                if (iy < 0 || iy >= h) continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * stride - pad + kx;
                    if (ix >= 0 && ix < w) s += wk[ky * k + kx] * in[(long)iy * w + ix];
                }
            }
            out[(long)oy * wo + ox] = s;
        }
}

void ab_ofa_dw_plane(const float *in, int h, int w, const float *wk, int k, int stride,
                     float *out, int ho, int wo, float *scratch, float bias,
                     enum ab_ofa_act act, int apply)
{
    struct dw_geom g = dw_geometry(h, w, k, stride, ho, wo);
    if (stride == 1) {
        pad_plane(in, h, w, g, scratch);
        dw_s1(scratch, g.cols, wk, k, out, ho, wo);
    } else if (stride == 2) {
        float *E = scratch, *O = scratch + (long)g.rows * g.cols;
        split_plane(in, h, w, g, E, O);
        dw_s2(E, O, g.cols, wk, k, out, ho, wo);
    } else {
        dw_generic(in, h, w, wk, k, stride, out, ho, wo);
    }
    if (apply) ab_ofa_affine_act(out, (long)ho * wo, 1.0f, bias, act);
}

void ab_ofa_im2col3x3s2(const float *in, int c_in, int h, int w, float *col, int ho,
                        int wo)
{
    for (int c = 0; c < c_in; c++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                float *dst = col + (long)((c * 3 + ky) * 3 + kx) * ho * wo;
                for (int oy = 0; oy < ho; oy++) {
                    int iy = oy * 2 - 1 + ky;
                    float *drow = dst + (long)oy * wo;
                    if (iy < 0 || iy >= h) {
                        memset(drow, 0, (size_t)wo * sizeof *drow);
                        continue;
                    }
                    for (int ox = 0; ox < wo; ox++) {
                        int ix = ox * 2 - 1 + kx;
                        drow[ox] = ix < 0 || ix >= w ? 0.0f : in[((long)c * h + iy) * w + ix];
                    }
                }
            }
}

HOT void ab_ofa_affine_act(float *y, long n, float scale, float shift, enum ab_ofa_act act)
{
    switch (act) {
    case AB_OFA_ACT_RELU:
        for (long i = 0; i < n; i++) {
            float v = y[i] * scale + shift;
            y[i] = v < 0.0f ? 0.0f : v;
        }
        break;
    case AB_OFA_ACT_RELU6:
        for (long i = 0; i < n; i++) y[i] = relu6f(y[i] * scale + shift);
        break;
    case AB_OFA_ACT_HSWISH:
        for (long i = 0; i < n; i++) {
            float v = y[i] * scale + shift;
            y[i] = v * relu6f(v + 3.0f) / 6.0f;
        }
        break;
    case AB_OFA_ACT_NONE:
    default:
        for (long i = 0; i < n; i++) y[i] = y[i] * scale + shift;
        break;
    }
}

void ab_ofa_act(float *y, long n, enum ab_ofa_act act)
{
    ab_ofa_affine_act(y, n, 1.0f, 0.0f, act);
}

double ab_ofa_plane_sum(const float *y, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++) s += y[i];
    return s;
}

double ab_ofa_plane_sqdev(const float *y, long n, double mean)
{
    double s = 0.0;
    for (long i = 0; i < n; i++) {
        double d = y[i] - mean;
        s += d * d;
    }
    return s;
}

HOT void ab_ofa_add(float *restrict out, const float *restrict in, long n)
{
    for (long i = 0; i < n; i++) out[i] += in[i];
}

float ab_ofa_plane_mean(const float *y, long n)
{
    return (float)(ab_ofa_plane_sum(y, n) / (double)n);
}
