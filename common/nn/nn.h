/* SPDX-License-Identifier: MIT
 *
 * nn.h - the small neural-network core of the AutoBuild predictor: float32,
 * row-major, batched over the nodes of many graphs, every op with a forward
 * and a hand-written backward. Products big enough to matter go to OpenBLAS.
 *
 * Conventions:
 *   - Shapes are given as [rows x cols]. N = nodes in the batch, E = edges,
 *     G = graphs, I = input width, O = output width.
 *   - Linear weights are stored as PyTorch does: W [O x I], y = x W^T + b.
 *   - Backward functions ACCUMULATE (+=) into parameter gradients and into
 *     input gradients (dx), so a tensor used twice (residual) sums both
 *     contributions. The caller zeroes gradients before the backward pass.
 *   - Forward functions may save what backward needs in a caller-provided
 *     cache (documented per op); nothing here allocates.
 *   - Edges are directed src -> dst: dst receives the message.
 *
 * Example (a linear layer):
 *
 *     ab_nn_linear_fwd(x, N, I, W, b, O, y);            // y = x W^T + b
 *     ab_nn_linear_bwd(x, N, I, W, O, dy, dW, db, dx);  // dW += dy^T x ...
 */
#ifndef AB_NN_NN_H
#define AB_NN_NN_H

#include <stddef.h>

/* ---- dense --------------------------------------------------------------- */

/* y [N x O] = x [N x I] W^T + b; W [O x I], b [O] (may be NULL). */
void ab_nn_linear_fwd(const float *x, int n, int in, const float *w, const float *b, int out,
                      float *y);
/* dW [O x I] += dy^T x; db [O] += column sums of dy (if db); dx [N x I] +=
 * dy W (if dx). */
void ab_nn_linear_bwd(const float *x, int n, int in, const float *w, int out, const float *dy,
                      float *dw, float *db, float *dx);

/* ---- elementwise ---------------------------------------------------------- */

/* y = x > 0 ? x : slope * x (slope 0: ReLU). In place allowed (y == x). */
void ab_nn_leaky_fwd(const float *x, size_t n, float slope, float *y);
/* dx += dy * (y > 0 ? 1 : slope), using the OUTPUT y (valid for slope >= 0). */
void ab_nn_leaky_bwd(const float *y, const float *dy, size_t n, float slope, float *dx);

/* y = |x|. dx += dy * sign(x) (sign(0) = 0, as torch). */
void ab_nn_abs_fwd(const float *x, size_t n, float *y);
void ab_nn_abs_bwd(const float *x, const float *dy, size_t n, float *dx);

/* y += x (residual add); backward is dx += dy (use ab_nn_add_to). */
void ab_nn_add_to(const float *x, size_t n, float *y);

/* ---- embedding ------------------------------------------------------------ */

/* y [N x D] row i = table [idx[i]] (table [C x D]; idx values in [0, C)). */
void ab_nn_embedding_fwd(const float *table, int d, const int *idx, int n, float *y);
/* dtable [C x D] row idx[i] += dy row i. */
void ab_nn_embedding_bwd(const int *idx, int n, int d, const float *dy, float *dtable);

/* ---- batch normalisation over nodes --------------------------------------- */

/* The most channels batch normalisation takes (per-channel statistics live
 * on the stack); callers check C <= this (the predictor limits its hidden
 * size to it). */
#define AB_NN_MAX_CHANNELS 4096

struct ab_nn_bn_cache {
    float *xhat;   /* [N x C] normalised input (training) */
    float *inv_std;/* [C] 1 / sqrt(var + eps) of the batch (training) */
};

/* Training: normalise with batch statistics (biased variance), update the
 * running statistics with momentum (running = (1 - m) running + m stat,
 * unbiased variance, as torch.nn.BatchNorm1d), fill the cache.
 * Evaluation (cache == NULL): normalise with the running statistics.
 * y [N x C] = gamma * xhat + beta. eps 1e-5 as torch. N >= 2 when training;
 * C <= AB_NN_MAX_CHANNELS. */
void ab_nn_bn_fwd(const float *x, int n, int c, const float *gamma, const float *beta,
                  float *running_mean, float *running_var, float momentum, float eps,
                  struct ab_nn_bn_cache *cache, float *y);
/* Training-mode backward: dgamma, dbeta += ...; dx += ... */
void ab_nn_bn_bwd(const struct ab_nn_bn_cache *cache, int n, int c, const float *gamma,
                  const float *dy, float *dgamma, float *dbeta, float *dx);

/* The same computation in pieces, for batches whose rows are split between
 * threads (ab_nn_bn_fwd/bwd are these pieces on one range):
 *   forward:  sum += column sums of x (each part), mean = sum / n_total;
 *             sq += sum of squared deviations from mean (each part);
 *             ab_nn_bn_finish (once): inv_std, running statistics;
 *             ab_nn_bn_apply (each part): xhat, y.
 *   backward: ab_nn_bn_bwd_sums (each part) into sum_dy, sum_dy_xhat;
 *             dgamma += sum_dy_xhat, dbeta += sum_dy (once);
 *             ab_nn_bn_bwd_apply (each part): dx. */
void ab_nn_bn_sum(const float *x, int n, int c, double *sum);
void ab_nn_bn_sqdev(const float *x, int n, int c, const double *mean, double *sq);
void ab_nn_bn_finish(const double *mean, const double *sq, int n_total, int c, float momentum,
                     float eps, float *running_mean, float *running_var, float *inv_std);
void ab_nn_bn_apply(const float *x, int n, int c, const double *mean, const float *inv_std,
                    const float *gamma, const float *beta, float *xhat, float *y);
void ab_nn_bn_bwd_sums(const float *dy, const float *xhat, int n, int c, double *sum_dy,
                       double *sum_dy_xhat);
void ab_nn_bn_bwd_apply(const float *dy, const float *xhat, int n, int c, const float *gamma,
                        const float *inv_std, const double *sum_dy, const double *sum_dy_xhat,
                        int n_total, float *dx);

/* ---- graph pooling and norms ---------------------------------------------- */

/* y [G x C]: mean (mean=1) or sum over the nodes of each graph; graph g's
 * nodes are graph_ptr[g] .. graph_ptr[g+1]-1 (contiguous). */
void ab_nn_pool_fwd(const float *x, int c, const int *graph_ptr, int g, int mean, float *y);
/* dx [N x C] += broadcast of dy [G x C] (divided by graph size for mean). */
void ab_nn_pool_bwd(const float *dy, int c, const int *graph_ptr, int g, int mean, float *dx);

/* y [N] = sum_k |x[i,k]| (L1 norm of each row). */
void ab_nn_l1norm_fwd(const float *x, int n, int c, float *y);
/* dx [N x C] += dy[i] * sign(x[i,k]). */
void ab_nn_l1norm_bwd(const float *x, int n, int c, const float *dy, float *dx);

/* y [N] = sqrt(sum_k x[i,k]^2) (L2 norm of each row). */
void ab_nn_l2norm_fwd(const float *x, int n, int c, float *y);
/* dx [N x C] += dy[i] * x[i,k] / y[i] (0 where y[i] = 0), with y the forward
 * output. */
void ab_nn_l2norm_bwd(const float *x, const float *y, int n, int c, const float *dy, float *dx);

/* ---- message passing ------------------------------------------------------ */

/* A directed edge list prepared for message passing: edges grouped by
 * destination (CSR over dst), optionally with a self loop per node (GATv2
 * adds them; GraphConv does not). */
struct ab_nn_graph {
    int n_nodes;
    int n_edges;      /* including self loops if added */
    int *in_ptr;      /* [N+1]: incoming edges of node i are in_ptr[i]..in_ptr[i+1]-1 */
    int *in_src;      /* [E]: source node of each incoming edge */
};

/* GATv2Conv (PyTorch Geometric semantics, heads = 1, concat, negative slope
 * 0.2, add_self_loops, share_weights = False, bias):
 *   xl = x Wl^T + bl,  xr = x Wr^T + br                  [N x O]
 *   e_ji = att . leaky_relu_0.2(xl[j] + xr[i])           for edge j -> i
 *   alpha_ji = softmax over the incoming edges of i
 *   y[i] = sum_j alpha_ji xl[j] + bias
 * The cache holds xl, xr [N x O] and alpha [E] plus the pre-activation
 * sums s_ji = xl[j] + xr[i] [E x O]. */
struct ab_nn_gat_cache {
    float *xlr;    /* [N x 2O]: columns 0..O-1 xl, O..2O-1 xr */
    float *s;      /* [E x O]  xl[src] + xr[dst] (before leaky) */
    float *alpha;  /* [E]      attention weights */
};
struct ab_nn_gat_params {
    const float *w;    /* [2O x I]: rows 0..O-1 Wl, O..2O-1 Wr (one GEMM) */
    const float *b;    /* [2O]: bl then br */
    const float *att;  /* [O] */
    const float *bias; /* [O] */
};
struct ab_nn_gat_grads {
    float *w, *b, *att, *bias; /* same shapes as the parameters */
};
void ab_nn_gatv2_fwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                     const struct ab_nn_gat_params *p, struct ab_nn_gat_cache *cache,
                     float *y);
/* dx may be NULL. scratch: [N x 2O] floats (contents on entry ignored). */
void ab_nn_gatv2_bwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                     const struct ab_nn_gat_params *p, const struct ab_nn_gat_cache *cache,
                     const float *dy, struct ab_nn_gat_grads *g, float *dx, float *scratch);

/* Range forms: only destination nodes [lo, hi) are computed (their rows of
 * y, the cache, and in backward of dx and the scratch). Every edge into a
 * node of the range must come from a node of the range (true when the range
 * covers whole graphs). Parameter gradients accumulate the range's share. */
void ab_nn_gatv2_fwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x, int in,
                           int out, const struct ab_nn_gat_params *p,
                           struct ab_nn_gat_cache *cache, float *y);
void ab_nn_gatv2_bwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x, int in,
                           int out, const struct ab_nn_gat_params *p,
                           const struct ab_nn_gat_cache *cache, const float *dy,
                           struct ab_nn_gat_grads *g, float *dx, float *scratch);

/* GraphConv (PyG, aggr add): y[i] = Wrel (sum_{j -> i} x[j]) + brel + Wroot x[i].
 * The cache holds the aggregated neighbour sums agg [N x I]. */
struct ab_nn_gconv_params {
    const float *w_rel;  /* [O x I] */
    const float *b_rel;  /* [O] */
    const float *w_root; /* [O x I] */
};
struct ab_nn_gconv_grads {
    float *w_rel, *b_rel, *w_root;
};
void ab_nn_graphconv_fwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                         const struct ab_nn_gconv_params *p, float *agg, float *y);
/* scratch: [N x I] floats. */
void ab_nn_graphconv_bwd(const struct ab_nn_graph *gr, const float *x, int in, int out,
                         const struct ab_nn_gconv_params *p, const float *agg,
                         const float *dy, struct ab_nn_gconv_grads *g, float *dx,
                         float *scratch);

void ab_nn_graphconv_fwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                               int in, int out, const struct ab_nn_gconv_params *p, float *agg,
                               float *y);
void ab_nn_graphconv_bwd_range(const struct ab_nn_graph *gr, int lo, int hi, const float *x,
                               int in, int out, const struct ab_nn_gconv_params *p,
                               const float *agg, const float *dy, struct ab_nn_gconv_grads *g,
                               float *dx, float *scratch);

/* ---- optimiser ------------------------------------------------------------ */

/* One AdamW step (torch.optim.AdamW: decoupled weight decay p -= lr*wd*p,
 * then Adam with bias correction; step t is 1-based). */
void ab_nn_adamw_step(float *p, const float *g, float *m, float *v, size_t n, float lr,
                      float beta1, float beta2, float eps, float wd, long t);

/* Scales g[0..n) so its L2 norm is at most max_norm (torch's
 * clip_grad_norm_: scale = max_norm / (norm + 1e-6) when below 1). Returns
 * the norm before clipping. */
double ab_nn_clip_grad_norm(float *g, size_t n, double max_norm);

#endif /* AB_NN_NN_H */
