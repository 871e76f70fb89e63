/* SPDX-License-Identifier: MIT
 *
 * ofa_kernels.h - the compute kernels of the OFA inference engine
 * (internal to worker/ofa; ofa_subnet.c is the only caller). Tensors are
 * float32 planes in NCHW order; "plane" is one channel of one image.
 * None of these functions allocates or fails.
 */
#ifndef AB_OFA_OFA_KERNELS_H
#define AB_OFA_OFA_KERNELS_H

#include <stddef.h>

#include "ofa/ofa_net.h"

/* Depthwise k x k convolution of one plane, zero padding k / 2:
 * out[ho x wo] = sum over taps of w[ky * k + kx] * in[h x w] shifted, with
 * ho = ceil(h / stride), wo = ceil(w / stride); with apply set, out =
 * act(out + bias). scratch holds ab_ofa_dw_scratch_floats() floats (a
 * zero-padded copy of the plane, split into even and odd columns for
 * stride 2, so that the kernel reads contiguous vectors). */
void ab_ofa_dw_plane(const float *in, int h, int w, const float *wk, int k, int stride,
                     float *out, int ho, int wo, float *scratch, float bias,
                     enum ab_ofa_act act, int apply);
size_t ab_ofa_dw_scratch_floats(int h, int w, int k, int stride, int ho, int wo);

/* im2col of one image for a 3 x 3 convolution with stride 2 and padding 1:
 * col[(c * 9 + ky * 3 + kx)][oy * wo + ox] for c < c_in. */
void ab_ofa_im2col3x3s2(const float *in, int c_in, int h, int w, float *col, int ho,
                        int wo);

/* y[i] = act(y[i] * scale + shift) over one plane of n values; scale 1 and
 * shift 0 give a plain activation. */
void ab_ofa_affine_act(float *y, long n, float scale, float shift, enum ab_ofa_act act);

/* Sum of n values, and sum of squared deviations from mean, in double. */
double ab_ofa_plane_sum(const float *y, long n);
double ab_ofa_plane_sqdev(const float *y, long n, double mean);

/* out[i] += in[i] for n values. */
void ab_ofa_add(float *out, const float *in, long n);

/* Mean of a plane of n values. */
float ab_ofa_plane_mean(const float *y, long n);

/* Applies act to each of n values in place. */
void ab_ofa_act(float *y, long n, enum ab_ofa_act act);

/* Hard sigmoid: relu6(x + 3) / 6. */
float ab_ofa_hsigmoid(float x);

#endif /* AB_OFA_OFA_KERNELS_H */
