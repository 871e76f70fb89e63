/* SPDX-License-Identifier: MIT
 *
 * model.h - the AutoBuild predictor (METHOD.md sections 2-3):
 *
 *   node features --FE-MLP--> h0 [N x F] (one scalar per feature category,
 *   abs) --L x (GATv2 | GraphConv, BatchNorm, activation, residual for
 *   layers > 0)--> h1..hL [N x H] --mean/sum pool per graph--> hop graph
 *   embeddings hG0..hGL --head on hGL: Linear, Linear, ReLU, Linear, Linear,
 *   activation, Linear(H, 1)--> standardised prediction.
 *
 * Loss (Eq. 4): MSE(pred, y) + lambda / (L+1) * sum_l (1 - rho(y, ||hGl||_1))
 * (the L2 norm instead with norm_ord 2)
 * with rho the soft Spearman correlation (softrank.h).
 *
 * All parameters live in one float array (`params`, gradients in `grads`)
 * so the optimiser and gradient clipping see one vector; each parameter is
 * also named as in the authors' PyTorch state dicts (hdf5-schemas/
 * predictor.md) for checkpoints and conversion.
 *
 *     struct ab_predictor *p;
 *     ab_predictor_create(space, &cfg, seed, &p);        // space is copied
 *     struct ab_pred_ws *ws;  ab_pred_ws_create(p, &ws);
 *     ab_pred_forward(p, ws, batch, 1);                  // training mode
 *     double loss = ab_pred_loss_backward(p, ws, y);     // fills p->grads
 *     ...
 *     ab_pred_ws_destroy(&ws); ab_predictor_destroy(&p);
 *
 * Not thread-safe per object: one workspace per thread.
 */
#ifndef AB_PREDICTOR_MODEL_H
#define AB_PREDICTOR_MODEL_H

#include <stddef.h>

#include "graph/seqgraph.h"
#include "nn/nn.h"
#include "nn/softrank.h"
#include "space/space.h"

#define AB_PRED_MAX_LAYERS 16
#define AB_PRED_MAX_PARAMS 256
#define AB_PRED_MAX_THREADS 64

enum ab_gnn_type { AB_GNN_GATV2 = 0, AB_GNN_GRAPHCONV = 1 };

struct ab_pred_config {
    enum ab_gnn_type gnn;
    int hidden;            /* H */
    int layers;            /* L */
    float gnn_slope;       /* activation after BN: 0 = ReLU, else LeakyReLU slope */
    float reg_slope;       /* activation after post_proj, same convention */
    int aggr_mean;         /* 1 mean pooling, 0 sum */
    int residual;
    int norm_ord;          /* 1: L1 embedding norms (paper), 2: L2 */
    double lambda;         /* weight of the hop soft-Spearman term */
    double strength;       /* soft rank regularisation strength */
};

/* The paper's defaults: GATv2, H 32, L 4, ReLU, mean, residual, lambda 1. */
void ab_pred_config_default(const struct ab_space *sp, struct ab_pred_config *cfg);

/* A named slice of the parameter (or buffer) array. */
struct ab_param_info {
    char name[96];
    int is_buffer;         /* 1: BatchNorm running statistics (not trained) */
    size_t offset;         /* into params (or bufs) */
    int ndim;
    int shape[3];
    size_t size;
};

struct ab_pred_fe {        /* FE-MLP module of one feature category */
    int card, dim;         /* categorical: card x dim table; card 0 = numeric */
    float *embed, *w, *b;           /* categorical: table, Linear(dim, 1) */
    float *w0, *b0, *w1, *b1;       /* numeric: Linear(1,3), Linear(3,1) */
};

struct ab_pred_layer {
    int in;
    /* GATv2: w [2H x in] = (Wl; Wr), b [2H], att [H], bias [H] */
    float *w, *b, *att, *bias;
    /* GraphConv */
    float *w_rel, *b_rel, *w_root;
    float *bn_gamma, *bn_beta, *bn_mean, *bn_var; /* mean/var point into bufs */
};

struct ab_predictor {
    struct ab_space *space;       /* owned */
    struct ab_pred_config cfg;
    int n_fe;                     /* = space->n_features = width of h0 */
    struct ab_pred_fe fe[AB_MAX_FEATURES];
    struct ab_pred_layer layer[AB_PRED_MAX_LAYERS];
    float *pp_w[4], *pp_b[4];     /* post_proj.0, .1, .3, .4 */
    float *reg_w, *reg_b;
    float *params, *grads, *bufs;
    size_t n_params, n_bufs;
    struct ab_param_info info[AB_PRED_MAX_PARAMS];
    int n_info;
    /* what training adds (checkpoint) */
    char *target;                 /* label equation */
    double label_mean, label_std;
    double *hop_mean, *hop_std;   /* [L+1] node-norm moments per hop */
    int stage_units, stage_hmax;  /* stage_moments dims */
    double *stage_moments;        /* [units x hmax x 2] */
    double test_srcc, test_mae, test_mape;
    double *hop_srcc;             /* [L+1] */
    long n_train, n_test, epochs, batch, seed;
    double seconds, lr, weight_decay;
    /* run-time setting, not stored: threads of ab_pred_eval_archs */
    int threads;
    /* ab_pred_eval_archs's workspace and batch, kept between calls (a
     * ranking of millions of architectures calls it per batch; allocating
     * each time spent 60% of the run in page faults) */
    struct ab_pred_ws *eval_ws;
    struct ab_graph_batch *eval_batch;
    int eval_threads;
};

/* Creates a predictor for the space with freshly initialised parameters
 * (PyTorch's default initialisations, seeded). */
ab_status ab_predictor_create(const struct ab_space *sp, const struct ab_pred_config *cfg,
                              unsigned long long seed, struct ab_predictor **out);
void ab_predictor_destroy(struct ab_predictor **p);

/* Looks a parameter or buffer up by its state-dict name; NULL if absent. */
const struct ab_param_info *ab_predictor_find(const struct ab_predictor *p, const char *name);
float *ab_predictor_data(struct ab_predictor *p, const struct ab_param_info *pi);

/* ---- batched evaluation ---------------------------------------------------- */

struct ab_pred_ws;

ab_status ab_pred_ws_create(const struct ab_predictor *p, struct ab_pred_ws **out);
void ab_pred_ws_destroy(struct ab_pred_ws **ws);

/* Threads a workspace computes with (default 1): each forward and backward
 * pass splits its batch into that many parts of whole graphs, with
 * BatchNorm statistics shared. Results are deterministic for a given thread
 * count. Fails (AB_ERR_INPUT) outside 1..AB_PRED_MAX_THREADS. */
ab_status ab_pred_ws_set_threads(const struct ab_predictor *p, struct ab_pred_ws *ws,
                                 int threads);

/* Forward pass over a batch of graphs. train: BatchNorm uses (and updates)
 * batch statistics and caches are kept for the backward pass. Grows the
 * workspace as needed (fails only when out of memory). */
ab_status ab_pred_forward(struct ab_predictor *p, struct ab_pred_ws *ws,
                          const struct ab_graph_batch *b, int train);

/* Results of the last forward: standardised predictions [G]; the norm
 * of the hop-l graph embedding [G]; node embeddings of hop l [N x width]. */
const float *ab_pred_output(const struct ab_pred_ws *ws);
const float *ab_pred_hop_norms(const struct ab_pred_ws *ws, int hop);
const float *ab_pred_node_embeddings(const struct ab_predictor *p, const struct ab_pred_ws *ws,
                                     int hop, int *width);

/* Loss of the last (training) forward against standardised targets y [G],
 * and its gradient into p->grads (zeroed first). *mse and *rank (optional)
 * receive the two terms. */
double ab_pred_loss_backward(struct ab_predictor *p, struct ab_pred_ws *ws, const float *y,
                             double *mse, double *rank);

/* Loss only (no gradient), e.g. for finite-difference checks. */
double ab_pred_loss(struct ab_predictor *p, struct ab_pred_ws *ws, const float *y);

/* Evaluation-mode predictions for architectures (valid in p->space):
 * standardised outputs into out [n] (NULL to skip) and, if hops != NULL, the
 * hop graph-embedding L1 norms into hops [(L+1) x n]; node_norms, if not
 * NULL, receives per hop the sum and sum of squares of node-embedding L1
 * norms and the node count (for hop moments): node_norms[3 * l + {0,1,2}].
 * Batches of `batch` graphs; its workspace is kept in p for the next call
 * (freed by ab_predictor_destroy), so one predictor must not be evaluated
 * by two threads at once. */
ab_status ab_pred_eval_archs(struct ab_predictor *p, const struct ab_arch *archs, long n,
                             int batch, float *out, float *hops, double *node_norms);

#endif /* AB_PREDICTOR_MODEL_H */
