/* SPDX-License-Identifier: MIT
 *
 * This file implements the AutoBuild predictor of model.h: parameter layout
 * and initialisation, the batched forward pass in training and evaluation
 * mode, and the loss of Eq. 4 with its hand-written backward pass.
 */
#include "predictor/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
#endif

/* ---------------------------------------------------------------------- */
/* configuration                                                           */

void ab_pred_config_default(const struct ab_space *sp, struct ab_pred_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->gnn = AB_GNN_GATV2;
    cfg->hidden = 32;
    /* the paper: 4 message-passing layers for OFA, 6 for the U-Net */
    cfg->layers = sp && sp->kind == AB_SPACE_SD_UNET ? 6 : 4;
    cfg->gnn_slope = 0.0f;
    cfg->reg_slope = 0.0f;
    cfg->aggr_mean = 1;
    cfg->residual = 1;
    cfg->norm_ord = 1;
    cfg->lambda = 1.0;
    cfg->strength = 1.0;
}

/* ---------------------------------------------------------------------- */
/* parameter layout                                                        */

struct layout {
    struct ab_predictor *p;
    float *params, *bufs; /* NULL in the sizing pass */
    size_t n_params, n_bufs;
    int overflow;
};

static float *reg(struct layout *lo, const char *name, int is_buffer, int ndim, int d0, int d1,
                  int d2)
{
    struct ab_predictor *p = lo->p;
    size_t size = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * (size_t)(ndim > 2 ? d2 : 1);
    size_t *count = is_buffer ? &lo->n_bufs : &lo->n_params;
    float *base = is_buffer ? lo->bufs : lo->params;
    size_t off = *count;
    *count += size;
    if (!base) return NULL;
    if (p->n_info >= AB_PRED_MAX_PARAMS) {
        lo->overflow = 1;
        return base + off;
    }
    struct ab_param_info *pi = &p->info[p->n_info++];
    snprintf(pi->name, sizeof pi->name, "%s", name);
    pi->is_buffer = is_buffer;
    pi->offset = off;
    pi->ndim = ndim;
    pi->shape[0] = d0;
    pi->shape[1] = ndim > 1 ? d1 : 0;
    pi->shape[2] = ndim > 2 ? d2 : 0;
    pi->size = size;
    return base + off;
}

/* The authors' module names for the OFA feature categories. */
static const char *fe_prefix(const struct ab_space *sp, int f)
{
    static const char *ofa[] = {"stage", "block", "mbconv", "exp", "kernel", "res"};
    if ((sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN) && f < 6) return ofa[f];
    return sp->features[f].name;
}

static void layout_params(struct layout *lo)
{
    struct ab_predictor *p = lo->p;
    const struct ab_space *sp = p->space;
    const int H = p->cfg.hidden;
    char n[96];
    p->n_info = 0;
    for (int f = 0; f < p->n_fe; f++) {
        struct ab_pred_fe *fe = &p->fe[f];
        const char *px = fe_prefix(sp, f);
        fe->card = sp->features[f].cardinality;
        fe->dim = sp->features[f].embed_dim;
        if (fe->card > 0) {
            snprintf(n, sizeof n, "embed_layer.%s_embed.weight", px);
            fe->embed = reg(lo, n, 0, 2, fe->card, fe->dim, 0);
            snprintf(n, sizeof n, "embed_layer.%s_mlp.weight", px);
            fe->w = reg(lo, n, 0, 2, 1, fe->dim, 0);
            snprintf(n, sizeof n, "embed_layer.%s_mlp.bias", px);
            fe->b = reg(lo, n, 0, 1, 1, 0, 0);
        } else {
            snprintf(n, sizeof n, "embed_layer.%s_mlp.0.weight", px);
            fe->w0 = reg(lo, n, 0, 2, 3, 1, 0);
            snprintf(n, sizeof n, "embed_layer.%s_mlp.0.bias", px);
            fe->b0 = reg(lo, n, 0, 1, 3, 0, 0);
            snprintf(n, sizeof n, "embed_layer.%s_mlp.1.weight", px);
            fe->w1 = reg(lo, n, 0, 2, 1, 3, 0);
            snprintf(n, sizeof n, "embed_layer.%s_mlp.1.bias", px);
            fe->b1 = reg(lo, n, 0, 1, 1, 0, 0);
        }
    }
    for (int l = 0; l < p->cfg.layers; l++) {
        struct ab_pred_layer *ly = &p->layer[l];
        ly->in = l == 0 ? p->n_fe : H;
        if (p->cfg.gnn == AB_GNN_GATV2) {
            /* Wl then Wr contiguously: one [2H x in] GEMM operand */
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_l.weight", l);
            ly->w = reg(lo, n, 0, 2, H, ly->in, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_r.weight", l);
            reg(lo, n, 0, 2, H, ly->in, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_l.bias", l);
            ly->b = reg(lo, n, 0, 1, H, 0, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_r.bias", l);
            reg(lo, n, 0, 1, H, 0, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.att", l);
            ly->att = reg(lo, n, 0, 3, 1, 1, H);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.bias", l);
            ly->bias = reg(lo, n, 0, 1, H, 0, 0);
        } else {
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_rel.weight", l);
            ly->w_rel = reg(lo, n, 0, 2, H, ly->in, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_rel.bias", l);
            ly->b_rel = reg(lo, n, 0, 1, H, 0, 0);
            snprintf(n, sizeof n, "encoder.gnn_layers.%d.lin_root.weight", l);
            ly->w_root = reg(lo, n, 0, 2, H, ly->in, 0);
        }
        snprintf(n, sizeof n, "encoder.bns.%d.module.weight", l);
        ly->bn_gamma = reg(lo, n, 0, 1, H, 0, 0);
        snprintf(n, sizeof n, "encoder.bns.%d.module.bias", l);
        ly->bn_beta = reg(lo, n, 0, 1, H, 0, 0);
        snprintf(n, sizeof n, "encoder.bns.%d.module.running_mean", l);
        ly->bn_mean = reg(lo, n, 1, 1, H, 0, 0);
        snprintf(n, sizeof n, "encoder.bns.%d.module.running_var", l);
        ly->bn_var = reg(lo, n, 1, 1, H, 0, 0);
    }
    static const int pp_index[4] = {0, 1, 3, 4};
    for (int k = 0; k < 4; k++) {
        snprintf(n, sizeof n, "post_proj.%d.weight", pp_index[k]);
        p->pp_w[k] = reg(lo, n, 0, 2, H, H, 0);
        snprintf(n, sizeof n, "post_proj.%d.bias", pp_index[k]);
        p->pp_b[k] = reg(lo, n, 0, 1, H, 0, 0);
    }
    p->reg_w = reg(lo, "regressor.weight", 0, 2, 1, H, 0);
    p->reg_b = reg(lo, "regressor.bias", 0, 1, 1, 0, 0);
}

static void fill_uniform(struct ab_rng *r, float *x, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * ab_rng_uniform(r) - 1.0) * bound);
}

/* PyTorch / PyTorch Geometric default initialisations. */
static void init_params(struct ab_predictor *p, unsigned long long seed)
{
    struct ab_rng r;
    const int H = p->cfg.hidden;
    ab_rng_seed(&r, seed);
    for (int f = 0; f < p->n_fe; f++) {
        struct ab_pred_fe *fe = &p->fe[f];
        if (fe->card > 0) {
            for (int i = 0; i < fe->card * fe->dim; i++) fe->embed[i] = (float)ab_rng_normal(&r);
            fill_uniform(&r, fe->w, (size_t)fe->dim, 1.0 / sqrt(fe->dim));
            fill_uniform(&r, fe->b, 1, 1.0 / sqrt(fe->dim));
        } else {
            fill_uniform(&r, fe->w0, 3, 1.0);
            fill_uniform(&r, fe->b0, 3, 1.0);
            fill_uniform(&r, fe->w1, 3, 1.0 / sqrt(3.0));
            fill_uniform(&r, fe->b1, 1, 1.0 / sqrt(3.0));
        }
    }
    for (int l = 0; l < p->cfg.layers; l++) {
        struct ab_pred_layer *ly = &p->layer[l];
        if (p->cfg.gnn == AB_GNN_GATV2) {
            fill_uniform(&r, ly->w, (size_t)2 * H * ly->in, sqrt(6.0 / (ly->in + H)));
            fill_uniform(&r, ly->b, (size_t)2 * H, 1.0 / sqrt(ly->in));
            fill_uniform(&r, ly->att, (size_t)H, sqrt(6.0 / (1 + H)));
            memset(ly->bias, 0, sizeof(float) * (size_t)H);
        } else {
            fill_uniform(&r, ly->w_rel, (size_t)H * ly->in, 1.0 / sqrt(ly->in));
            fill_uniform(&r, ly->b_rel, (size_t)H, 1.0 / sqrt(ly->in));
            fill_uniform(&r, ly->w_root, (size_t)H * ly->in, 1.0 / sqrt(ly->in));
        }
        for (int k = 0; k < H; k++) {
            ly->bn_gamma[k] = 1.0f;
            ly->bn_beta[k] = 0.0f;
            ly->bn_mean[k] = 0.0f;
            ly->bn_var[k] = 1.0f;
        }
    }
    for (int k = 0; k < 4; k++) {
        fill_uniform(&r, p->pp_w[k], (size_t)H * H, 1.0 / sqrt(H));
        fill_uniform(&r, p->pp_b[k], (size_t)H, 1.0 / sqrt(H));
    }
    fill_uniform(&r, p->reg_w, (size_t)H, 1.0 / sqrt(H));
    fill_uniform(&r, p->reg_b, 1, 1.0 / sqrt(H));
}

ab_status ab_predictor_create(const struct ab_space *sp, const struct ab_pred_config *cfg,
                              unsigned long long seed, struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct layout lo;
    *out = NULL;
    AB_CHECK(cfg->hidden >= 1 && cfg->hidden <= AB_NN_MAX_CHANNELS, AB_ERR_INPUT,
             "hidden size %d is out of range (1 to %d)", cfg->hidden, AB_NN_MAX_CHANNELS);
    AB_CHECK(cfg->norm_ord == 1 || cfg->norm_ord == 2, AB_ERR_INPUT,
             "norm order %d is not supported (1 or 2)", cfg->norm_ord);
    AB_CHECK(cfg->layers >= 1 && cfg->layers <= AB_PRED_MAX_LAYERS, AB_ERR_INPUT,
             "layer count %d is out of range (1 to %d)", cfg->layers, AB_PRED_MAX_LAYERS);
    p = calloc(1, sizeof *p);
    AB_CHECK_ALLOC(p);
    p->cfg = *cfg;
    AB_CALL(ab_space_from_definition(sp->definition, sp->source, &p->space));
    p->n_fe = p->space->n_features;
    memset(&lo, 0, sizeof lo);
    lo.p = p;
    layout_params(&lo);
    p->n_params = lo.n_params;
    p->n_bufs = lo.n_bufs;
    p->params = calloc(p->n_params, sizeof(float));
    p->grads = calloc(p->n_params, sizeof(float));
    p->bufs = calloc(p->n_bufs ? p->n_bufs : 1, sizeof(float));
    p->hop_mean = calloc((size_t)cfg->layers + 1, sizeof(double));
    p->hop_std = calloc((size_t)cfg->layers + 1, sizeof(double));
    p->hop_srcc = calloc((size_t)cfg->layers + 1, sizeof(double));
    AB_CHECK_ALLOC(p->params);
    AB_CHECK_ALLOC(p->grads);
    AB_CHECK_ALLOC(p->bufs);
    AB_CHECK_ALLOC(p->hop_mean);
    AB_CHECK_ALLOC(p->hop_std);
    AB_CHECK_ALLOC(p->hop_srcc);
    memset(&lo, 0, sizeof lo);
    lo.p = p;
    lo.params = p->params;
    lo.bufs = p->bufs;
    layout_params(&lo);
    AB_ASSERT(!lo.overflow && lo.n_params == p->n_params);
    for (int l = 0; l <= cfg->layers; l++) {
        p->hop_std[l] = 1.0;
        p->hop_srcc[l] = NAN;
    }
    p->label_std = 1.0;
    p->threads = 1;
    p->test_srcc = p->test_mae = p->test_mape = NAN;
    init_params(p, seed);
    *out = p;
    p = NULL;
cleanup:
    ab_predictor_destroy(&p);
    return rc;
}

void ab_predictor_destroy(struct ab_predictor **pp)
{
    struct ab_predictor *p;
    if (!pp || !*pp) return;
    p = *pp;
    ab_pred_ws_destroy(&p->eval_ws);
    ab_graph_batch_destroy(&p->eval_batch);
    ab_space_destroy(&p->space);
    free(p->params);
    free(p->grads);
    free(p->bufs);
    free(p->target);
    free(p->hop_mean);
    free(p->hop_std);
    free(p->hop_srcc);
    free(p->stage_moments);
    free(p);
    *pp = NULL;
}

const struct ab_param_info *ab_predictor_find(const struct ab_predictor *p, const char *name)
{
    for (int i = 0; i < p->n_info; i++)
        if (!strcmp(p->info[i].name, name)) return &p->info[i];
    return NULL;
}

float *ab_predictor_data(struct ab_predictor *p, const struct ab_param_info *pi)
{
    return (pi->is_buffer ? p->bufs : p->params) + pi->offset;
}

/* ---------------------------------------------------------------------- */
/* workspace                                                               */

/* The share of a batch one thread computes: whole graphs [g0, g1) and their
 * nodes [n0, n1). */
struct ab_pred_part {
    int g0, g1, n0, n1;
};

struct ab_pred_ws {
    int cap_n, cap_e, cap_g;
    int n, e, g;                 /* sizes of the last forward */
    int train;
    float *arena;
    int *iarena;
    /* graph structure (CSR over destinations, self loops for GATv2) */
    struct ab_nn_graph gr;
    const int *graph_ptr;        /* the batch's */
    /* FE-MLP */
    int *cat_idx;                /* [F x N] */
    float *fe_in;                /* [F x N] numeric inputs */
    float *fe_emb;               /* [sum dims x N] embedding outputs, per feature */
    float *fe_hid;               /* [F x N x 3] numeric hidden */
    float *h0pre;                /* [N x F] */
    /* hop embeddings h[0..L] and per-layer intermediates */
    float *h[AB_PRED_MAX_LAYERS + 1];
    float *z[AB_PRED_MAX_LAYERS], *bnout[AB_PRED_MAX_LAYERS], *act[AB_PRED_MAX_LAYERS];
    struct ab_nn_bn_cache bn[AB_PRED_MAX_LAYERS];
    struct ab_nn_gat_cache gat[AB_PRED_MAX_LAYERS];
    float *agg[AB_PRED_MAX_LAYERS];
    /* graph level */
    float *hg[AB_PRED_MAX_LAYERS + 1];   /* [G x width] */
    float *norm[AB_PRED_MAX_LAYERS + 1]; /* [G] */
    float *pp[5];                        /* head activations [G x H] */
    float *out;                          /* [G] */
    /* gradients */
    float *dh[AB_PRED_MAX_LAYERS + 1];
    float *dz, *dtmp, *scratch;
    float *dhg, *dnorm, *dpp[2], *dout;
    float *dh0pre, *dfe;                 /* [N x F], [N x max(dim, 3)] */
    float *dnorm_all;                    /* [(L+1) x G] loss gradient per hop norm */
    struct ab_softrank_ws sr;
    /* threads */
    int threads;
    struct ab_pred_part part[AB_PRED_MAX_THREADS];
    double *bn_acc;                      /* [T x 2 x H] per-thread BatchNorm sums */
    double *bn_mean, *bn_tot;            /* [H] combined */
    float *tgrads;                       /* [(T-1) x n_params] gradients of threads 1.. */
};

static size_t ws_floats(const struct ab_predictor *p, int n, int e, int g)
{
    const size_t H = (size_t)p->cfg.hidden, L = (size_t)p->cfg.layers, F = (size_t)p->n_fe;
    size_t N = (size_t)n, E = (size_t)e, G = (size_t)g, dims = 0, maxin = F > H ? F : H;
    for (int f = 0; f < p->n_fe; f++) dims += (size_t)(p->fe[f].card ? p->fe[f].dim : 0);
    size_t per_layer = 3 * N * H + N * H /* xhat */ + H /* inv_std */;
    if (p->cfg.gnn == AB_GNN_GATV2) per_layer += 2 * N * H + E * H + E;
    else per_layer += N * maxin;
    return F * N + dims * N + 3 * F * N + N * F     /* FE-MLP */
           + N * F + L * N * H                       /* h */
           + L * per_layer                           /* layers */
           + G * F + L * G * H + (L + 1) * G         /* hg, norms */
           + 5 * G * H + G                           /* head */
           + N * F + L * N * H                       /* dh */
           + N * H + N * H + N * (2 * H + maxin)     /* dz, dtmp, scratch */
           + G * (F > H ? F : H) + G + 2 * G * H + G /* dhg, dnorm, dpp, dout */
           + N * F + N * (dims + 3)                  /* dh0pre, dfe */
           + (L + 1) * G                             /* dnorm_all */
           + 64;
}

static ab_status ws_reserve(const struct ab_predictor *p, struct ab_pred_ws *ws, int n, int e,
                            int g)
{
    ab_status rc = AB_OK;
    if (n <= ws->cap_n && e <= ws->cap_e && g <= ws->cap_g) return AB_OK;
    int cn = n > ws->cap_n ? n + n / 2 : ws->cap_n;
    int ce = e > ws->cap_e ? e + e / 2 : ws->cap_e;
    int cg = g > ws->cap_g ? g + g / 2 : ws->cap_g;
    const size_t H = (size_t)p->cfg.hidden, L = (size_t)p->cfg.layers, F = (size_t)p->n_fe;
    const size_t N = (size_t)cn, E = (size_t)ce, G = (size_t)cg, maxin = F > H ? F : H;
    float *a = malloc(sizeof(float) * ws_floats(p, cn, ce, cg));
    int *ia = malloc(sizeof(int) * (F * N + N + 1 + E));
    AB_CHECK(a && ia, AB_ERR_NOMEM, "out of memory for a batch of %d nodes", n);
    free(ws->arena);
    free(ws->iarena);
    ws->arena = a;
    ws->iarena = ia;
    a = NULL;
    ia = NULL;
    float *q = ws->arena;
#define TAKE(ptr, count)                                                       \
    do {                                                                       \
        (ptr) = q;                                                             \
        q += (count);                                                          \
    } while (0)
    size_t dims = 0;
    for (int f = 0; f < p->n_fe; f++) dims += (size_t)(p->fe[f].card ? p->fe[f].dim : 0);
    TAKE(ws->fe_in, F * N);
    TAKE(ws->fe_emb, dims * N);
    TAKE(ws->fe_hid, 3 * F * N);
    TAKE(ws->h0pre, N * F);
    TAKE(ws->h[0], N * F);
    for (size_t l = 1; l <= L; l++) TAKE(ws->h[l], N * H);
    for (size_t l = 0; l < L; l++) {
        TAKE(ws->z[l], N * H);
        TAKE(ws->bnout[l], N * H);
        TAKE(ws->act[l], N * H);
        TAKE(ws->bn[l].xhat, N * H);
        TAKE(ws->bn[l].inv_std, H);
        if (p->cfg.gnn == AB_GNN_GATV2) {
            TAKE(ws->gat[l].xlr, 2 * N * H);
            TAKE(ws->gat[l].s, E * H);
            TAKE(ws->gat[l].alpha, E);
        } else {
            TAKE(ws->agg[l], N * maxin);
        }
    }
    TAKE(ws->hg[0], G * F);
    for (size_t l = 1; l <= L; l++) TAKE(ws->hg[l], G * H);
    for (size_t l = 0; l <= L; l++) TAKE(ws->norm[l], G);
    for (int k = 0; k < 5; k++) TAKE(ws->pp[k], G * H);
    TAKE(ws->out, G);
    TAKE(ws->dh[0], N * F);
    for (size_t l = 1; l <= L; l++) TAKE(ws->dh[l], N * H);
    TAKE(ws->dz, N * H);
    TAKE(ws->dtmp, N * H);
    TAKE(ws->scratch, N * (2 * H + maxin));
    TAKE(ws->dhg, G * maxin);
    TAKE(ws->dnorm, G);
    TAKE(ws->dpp[0], G * H);
    TAKE(ws->dpp[1], G * H);
    TAKE(ws->dout, G);
    TAKE(ws->dh0pre, N * F);
    TAKE(ws->dfe, N * (dims + 3));
    TAKE(ws->dnorm_all, (L + 1) * G);
#undef TAKE
    ws->cat_idx = ws->iarena;
    ws->gr.in_ptr = ws->iarena + F * N;
    ws->gr.in_src = ws->gr.in_ptr + N + 1;
    if (cg > ws->sr.cap) {
        ab_softrank_ws_free(&ws->sr);
        AB_CALL(ab_softrank_ws_init(&ws->sr, cg));
    }
    ws->cap_n = cn;
    ws->cap_e = ce;
    ws->cap_g = cg;
cleanup:
    free(a);
    free(ia);
    return rc;
}

ab_status ab_pred_ws_create(const struct ab_predictor *p, struct ab_pred_ws **out)
{
    ab_status rc = AB_OK;
    struct ab_pred_ws *ws = calloc(1, sizeof *ws);
    *out = NULL;
    AB_CHECK_ALLOC(ws);
    AB_CALL(ws_reserve(p, ws, 256, 512, 16));
    AB_CALL(ab_pred_ws_set_threads(p, ws, 1));
    *out = ws;
    ws = NULL;
cleanup:
    ab_pred_ws_destroy(&ws);
    return rc;
}

void ab_pred_ws_destroy(struct ab_pred_ws **wp)
{
    struct ab_pred_ws *ws;
    if (!wp || !*wp) return;
    ws = *wp;
    free(ws->arena);
    free(ws->iarena);
    free(ws->bn_acc);
    free(ws->bn_mean);
    free(ws->bn_tot);
    free(ws->tgrads);
    ab_softrank_ws_free(&ws->sr);
    free(ws);
    *wp = NULL;
}

ab_status ab_pred_ws_set_threads(const struct ab_predictor *p, struct ab_pred_ws *ws, int threads)
{
    ab_status rc = AB_OK;
    const size_t H = (size_t)p->cfg.hidden;
    AB_CHECK(threads >= 1 && threads <= AB_PRED_MAX_THREADS, AB_ERR_INPUT,
             "threads must be 1 to %d, got %d", AB_PRED_MAX_THREADS, threads);
    free(ws->bn_acc);
    free(ws->bn_mean);
    free(ws->bn_tot);
    free(ws->tgrads);
    ws->bn_acc = calloc((size_t)threads * 2 * H, sizeof(double));
    ws->bn_mean = calloc(H, sizeof(double));
    ws->bn_tot = calloc(2 * H, sizeof(double));
    ws->tgrads = calloc((size_t)(threads - 1) * p->n_params + 1, sizeof(float));
    AB_CHECK(ws->bn_acc && ws->bn_mean && ws->bn_tot && ws->tgrads, AB_ERR_NOMEM,
             "out of memory for %d threads", threads);
    ws->threads = threads;
cleanup:
    return rc;
}

const float *ab_pred_output(const struct ab_pred_ws *ws) { return ws->out; }
const float *ab_pred_hop_norms(const struct ab_pred_ws *ws, int hop) { return ws->norm[hop]; }

const float *ab_pred_node_embeddings(const struct ab_predictor *p, const struct ab_pred_ws *ws,
                                     int hop, int *width)
{
    if (width) *width = hop == 0 ? p->n_fe : p->cfg.hidden;
    return ws->h[hop];
}

/* ---------------------------------------------------------------------- */
/* forward                                                                 */

/* CSR of incoming edges per destination, plus a self loop per node for
 * GATv2 (PyG adds self loops after removing existing ones; sequence graphs
 * have none). */
static void build_graph(struct ab_pred_ws *ws, const struct ab_graph_batch *b, int self_loops)
{
    int n = b->n_nodes, *ptr = ws->gr.in_ptr, *src = ws->gr.in_src;
    for (int i = 0; i <= n; i++) ptr[i] = 0;
    for (int e = 0; e < b->n_edges; e++) ptr[b->edge_dst[e] + 1]++;
    if (self_loops)
        for (int i = 0; i < n; i++) ptr[i + 1]++;
    for (int i = 0; i < n; i++) ptr[i + 1] += ptr[i];
    /* fill: edges first in batch order, the self loop last (as PyG) */
    int *fill = (int *)ws->scratch; /* n ints of scratch */
    for (int i = 0; i < n; i++) fill[i] = ptr[i];
    for (int e = 0; e < b->n_edges; e++) src[fill[b->edge_dst[e]]++] = b->edge_src[e];
    if (self_loops)
        for (int i = 0; i < n; i++) src[fill[i]++] = i;
    ws->gr.n_nodes = n;
    ws->gr.n_edges = ptr[n];
}

/* Splits the batch into ws->threads parts of whole graphs with about equal
 * node counts. */
static void make_parts(struct ab_pred_ws *ws, const struct ab_graph_batch *b)
{
    int T = ws->threads, g = 0;
    for (int t = 0; t < T; t++) {
        struct ab_pred_part *pt = &ws->part[t];
        long target = (long)b->n_nodes * (t + 1) / T;
        pt->g0 = g;
        while (g < b->n_graphs && (t == T - 1 || b->graph_ptr[g + 1] <= target)) g++;
        pt->g1 = g;
        pt->n0 = b->graph_ptr[pt->g0];
        pt->n1 = b->graph_ptr[pt->g1];
    }
}

static void fe_forward(const struct ab_predictor *p, struct ab_pred_ws *ws,
                       const struct ab_graph_batch *b, const struct ab_pred_part *pt)
{
    const int N = b->n_nodes, F = p->n_fe, n0 = pt->n0, n = pt->n1 - pt->n0;
    float *emb = ws->fe_emb;
    for (int f = 0; f < F; f++) {
        const struct ab_pred_fe *fe = &p->fe[f];
        float *col = ws->fe_in + (size_t)f * (size_t)N + n0;
        /* [n] scalar outputs, in this thread's rows of dtmp [N x H] */
        float *res = ws->dtmp + (size_t)n0 * (size_t)p->cfg.hidden;
        for (int i = 0; i < n; i++)
            col[i] = b->x[(size_t)(n0 + i) * (size_t)b->n_features + (size_t)f];
        if (fe->card > 0) {
            int *idx = ws->cat_idx + (size_t)f * (size_t)N + n0;
            for (int i = 0; i < n; i++) {
                int v = (int)col[i];
                idx[i] = v < 0 ? 0 : v >= fe->card ? fe->card - 1 : v;
            }
            float *e = emb + (size_t)n0 * (size_t)fe->dim;
            ab_nn_embedding_fwd(fe->embed, fe->dim, idx, n, e);
            ab_nn_linear_fwd(e, n, fe->dim, fe->w, fe->b, 1, res);
            emb += (size_t)fe->dim * (size_t)N;
        } else {
            float *hid = ws->fe_hid + (size_t)f * 3 * (size_t)N + (size_t)n0 * 3;
            ab_nn_linear_fwd(col, n, 1, fe->w0, fe->b0, 3, hid);
            ab_nn_linear_fwd(hid, n, 3, fe->w1, fe->b1, 1, res);
        }
        for (int i = 0; i < n; i++) ws->h0pre[(size_t)(n0 + i) * (size_t)F + (size_t)f] = res[i];
    }
    ab_nn_abs_fwd(ws->h0pre + (size_t)n0 * (size_t)F, (size_t)n * (size_t)F,
                  ws->h[0] + (size_t)n0 * (size_t)F);
}

static void head_forward(const struct ab_predictor *p, struct ab_pred_ws *ws,
                         const struct ab_pred_part *pt)
{
    const int H = p->cfg.hidden, L = p->cfg.layers, g = pt->g1 - pt->g0;
    const size_t r = (size_t)pt->g0 * (size_t)H, gh = (size_t)g * (size_t)H;
    /* post_proj: Linear(0), Linear(1), ReLU, Linear(3), Linear(4); reg activ */
    ab_nn_linear_fwd(ws->hg[L] + r, g, H, p->pp_w[0], p->pp_b[0], H, ws->pp[0] + r);
    ab_nn_linear_fwd(ws->pp[0] + r, g, H, p->pp_w[1], p->pp_b[1], H, ws->pp[1] + r);
    ab_nn_leaky_fwd(ws->pp[1] + r, gh, 0.0f, ws->pp[1] + r);
    ab_nn_linear_fwd(ws->pp[1] + r, g, H, p->pp_w[2], p->pp_b[2], H, ws->pp[2] + r);
    ab_nn_linear_fwd(ws->pp[2] + r, g, H, p->pp_w[3], p->pp_b[3], H, ws->pp[3] + r);
    ab_nn_leaky_fwd(ws->pp[3] + r, gh, p->cfg.reg_slope, ws->pp[4] + r);
    ab_nn_linear_fwd(ws->pp[4] + r, g, H, p->reg_w, p->reg_b, 1, ws->out + pt->g0);
}

/* BatchNorm of layer l over the whole batch, rows split between threads:
 * partial sums, a barrier, combined statistics, the range's rows. */
static void bn_forward(struct ab_predictor *p, struct ab_pred_ws *ws, int l, int t,
                       const struct ab_pred_part *pt, int train)
{
    const int H = p->cfg.hidden, T = ws->threads, n = pt->n1 - pt->n0;
    const size_t r = (size_t)pt->n0 * (size_t)H;
    struct ab_pred_layer *ly = &p->layer[l];
    if (!train) {
        ab_nn_bn_fwd(ws->z[l] + r, n, H, ly->bn_gamma, ly->bn_beta, ly->bn_mean, ly->bn_var, 0.1f,
                     1e-5f, NULL, ws->bnout[l] + r);
        return;
    }
    double *mine = ws->bn_acc + (size_t)t * 2 * (size_t)H;
    memset(mine, 0, sizeof(double) * 2 * (size_t)H);
    ab_nn_bn_sum(ws->z[l] + r, n, H, mine);
#pragma omp barrier
#pragma omp single
    {
        for (int k = 0; k < H; k++) {
            double s = 0;
            for (int u = 0; u < T; u++) s += ws->bn_acc[(size_t)u * 2 * (size_t)H + (size_t)k];
            ws->bn_mean[k] = s / ws->n;
        }
    }
    ab_nn_bn_sqdev(ws->z[l] + r, n, H, ws->bn_mean, mine + H);
#pragma omp barrier
#pragma omp single
    {
        for (int k = 0; k < H; k++) {
            double s = 0;
            for (int u = 0; u < T; u++) s += ws->bn_acc[(size_t)u * 2 * (size_t)H + (size_t)H + (size_t)k];
            ws->bn_tot[k] = s;
        }
        ab_nn_bn_finish(ws->bn_mean, ws->bn_tot, ws->n, H, 0.1f, 1e-5f, ly->bn_mean, ly->bn_var,
                        ws->bn[l].inv_std);
    }
    ab_nn_bn_apply(ws->z[l] + r, n, H, ws->bn_mean, ws->bn[l].inv_std, ly->bn_gamma, ly->bn_beta,
                   ws->bn[l].xhat + r, ws->bnout[l] + r);
}

/* One thread's share of the forward pass (collective over the team). */
static void forward_part(struct ab_predictor *p, struct ab_pred_ws *ws,
                         const struct ab_graph_batch *b, int t, int train)
{
    const int H = p->cfg.hidden, L = p->cfg.layers, gat = p->cfg.gnn == AB_GNN_GATV2;
    const struct ab_pred_part *pt = &ws->part[t];
    const int n = pt->n1 - pt->n0;
    const size_t r = (size_t)pt->n0 * (size_t)H, nh = (size_t)n * (size_t)H;
    fe_forward(p, ws, b, pt);
    for (int l = 0; l < L; l++) {
        struct ab_pred_layer *ly = &p->layer[l];
        if (gat) {
            struct ab_nn_gat_params gp = {ly->w, ly->b, ly->att, ly->bias};
            ab_nn_gatv2_fwd_range(&ws->gr, pt->n0, pt->n1, ws->h[l], ly->in, H, &gp, &ws->gat[l],
                                  ws->z[l]);
        } else {
            struct ab_nn_gconv_params cp = {ly->w_rel, ly->b_rel, ly->w_root};
            ab_nn_graphconv_fwd_range(&ws->gr, pt->n0, pt->n1, ws->h[l], ly->in, H, &cp,
                                      ws->agg[l], ws->z[l]);
        }
        bn_forward(p, ws, l, t, pt, train);
        ab_nn_leaky_fwd(ws->bnout[l] + r, nh, p->cfg.gnn_slope, ws->act[l] + r);
        memcpy(ws->h[l + 1] + r, ws->act[l] + r, sizeof(float) * nh);
        if (p->cfg.residual && l > 0) ab_nn_add_to(ws->h[l] + r, nh, ws->h[l + 1] + r);
    }
    for (int l = 0; l <= L; l++) {
        int w = l == 0 ? p->n_fe : H;
        const size_t gr0 = (size_t)pt->g0 * (size_t)w;
        /* pool reads graph_ptr for graphs [g0, g1): node rows are global */
        ab_nn_pool_fwd(ws->h[l], w, b->graph_ptr + pt->g0, pt->g1 - pt->g0, p->cfg.aggr_mean,
                       ws->hg[l] + gr0);
        if (p->cfg.norm_ord == 2)
            ab_nn_l2norm_fwd(ws->hg[l] + gr0, pt->g1 - pt->g0, w, ws->norm[l] + pt->g0);
        else
            ab_nn_l1norm_fwd(ws->hg[l] + gr0, pt->g1 - pt->g0, w, ws->norm[l] + pt->g0);
    }
    head_forward(p, ws, pt);
}

ab_status ab_pred_forward(struct ab_predictor *p, struct ab_pred_ws *ws,
                          const struct ab_graph_batch *b, int train)
{
    const int gat = p->cfg.gnn == AB_GNN_GATV2;
    const int n = b->n_nodes, g = b->n_graphs;
    if (b->n_features != p->n_fe)
        return ab_err_set(AB_ERR_INPUT, "the batch has %d node features, the predictor %d",
                          b->n_features, p->n_fe);
    if (train && n < 2)
        return ab_err_set(AB_ERR_INPUT, "a training batch needs at least 2 nodes");
    AB_TRY(ws_reserve(p, ws, n, b->n_edges + (gat ? n : 0), g));
    ws->n = n;
    ws->g = g;
    ws->train = train;
    ws->graph_ptr = b->graph_ptr;
    build_graph(ws, b, gat);
    ws->e = ws->gr.n_edges;
    make_parts(ws, b);
#pragma omp parallel num_threads(ws->threads) if (ws->threads > 1)
    forward_part(p, ws, b, omp_get_thread_num(), train);
    return AB_OK;
}

/* ---------------------------------------------------------------------- */
/* loss and backward                                                       */

/* The loss of the last forward; with_grad: d loss / d output into ws->dout
 * and d loss / d ||hG_l|| into ws->dnorm_all. */
static double loss_terms(struct ab_predictor *p, struct ab_pred_ws *ws, const float *y,
                         int with_grad, double *mse_out, double *rank_out)
{
    const int g = ws->g, L = p->cfg.layers;
    double mse = 0.0, rank = 0.0;
    for (int i = 0; i < g; i++) {
        double d = (double)ws->out[i] - y[i];
        mse += d * d;
        if (with_grad) ws->dout[i] = (float)(2.0 * d / g);
    }
    mse /= g;
    if (with_grad) memset(ws->dnorm_all, 0, sizeof(float) * (size_t)(L + 1) * (size_t)g);
    if (p->cfg.lambda > 0.0) {
        double w = p->cfg.lambda / (L + 1);
        for (int l = 0; l <= L; l++) {
            double rho = ab_soft_spearman_fwd(&ws->sr, ws->norm[l], y, g, p->cfg.strength);
            rank += 1.0 - rho;
            if (with_grad) ab_soft_spearman_bwd(&ws->sr, -w, ws->dnorm_all + (size_t)l * (size_t)g);
        }
        rank *= w;
    }
    if (mse_out) *mse_out = mse;
    if (rank_out) *rank_out = rank;
    return mse + rank;
}

double ab_pred_loss(struct ab_predictor *p, struct ab_pred_ws *ws, const float *y)
{
    return loss_terms(p, ws, y, 0, NULL, NULL);
}

/* Row strides of the scratch gradients that threads slice by their first
 * graph or node: the widest row any use of them holds. */
static int max_width(const struct ab_predictor *p)
{
    return p->n_fe > p->cfg.hidden ? p->n_fe : p->cfg.hidden;
}

static int fe_width(const struct ab_predictor *p)
{
    int w = 3;
    for (int f = 0; f < p->n_fe; f++)
        if (p->fe[f].card > 0 && p->fe[f].dim > w) w = p->fe[f].dim;
    return w;
}

/* The gradient slot of a parameter pointer in the gradient array G. */
#define GRAD(ptr) (G + ((ptr) - p->params))

static void head_backward(struct ab_predictor *p, struct ab_pred_ws *ws,
                          const struct ab_pred_part *pt, float *G)
{
    const int H = p->cfg.hidden, L = p->cfg.layers, g = pt->g1 - pt->g0;
    const size_t r = (size_t)pt->g0 * (size_t)H, gh = (size_t)g * (size_t)H;
    float *d0 = ws->dpp[0] + r, *d1 = ws->dpp[1] + r;
    /* out = pp4 Wreg^T + b */
    memset(d0, 0, sizeof(float) * gh);
    ab_nn_linear_bwd(ws->pp[4] + r, g, H, p->reg_w, 1, ws->dout + pt->g0, GRAD(p->reg_w),
                     GRAD(p->reg_b), d0);
    /* pp4 = leaky(pp3) */
    memset(d1, 0, sizeof(float) * gh);
    ab_nn_leaky_bwd(ws->pp[4] + r, d0, gh, p->cfg.reg_slope, d1);
    /* pp3 = pp2 W3^T + b3 */
    memset(d0, 0, sizeof(float) * gh);
    ab_nn_linear_bwd(ws->pp[2] + r, g, H, p->pp_w[3], H, d1, GRAD(p->pp_w[3]), GRAD(p->pp_b[3]),
                     d0);
    /* pp2 = relu(pp1) W2^T + b2 (pp[1] holds the ReLU output) */
    memset(d1, 0, sizeof(float) * gh);
    ab_nn_linear_bwd(ws->pp[1] + r, g, H, p->pp_w[2], H, d0, GRAD(p->pp_w[2]), GRAD(p->pp_b[2]),
                     d1);
    memset(d0, 0, sizeof(float) * gh);
    ab_nn_leaky_bwd(ws->pp[1] + r, d1, gh, 0.0f, d0);
    /* pp1 = pp0 W1^T + b1 */
    memset(d1, 0, sizeof(float) * gh);
    ab_nn_linear_bwd(ws->pp[0] + r, g, H, p->pp_w[1], H, d0, GRAD(p->pp_w[1]), GRAD(p->pp_b[1]),
                     d1);
    /* pp0 = hgL W0^T + b0; each thread's slice of dhg starts at g0 x max
     * width, whatever width it holds, so slices never overlap */
    float *dhg = ws->dhg + (size_t)pt->g0 * (size_t)max_width(p);
    memset(dhg, 0, sizeof(float) * gh);
    ab_nn_linear_bwd(ws->hg[L] + r, g, H, p->pp_w[0], H, d1, GRAD(p->pp_w[0]), GRAD(p->pp_b[0]),
                     dhg);
    ab_nn_pool_bwd(dhg, H, ws->graph_ptr + pt->g0, g, p->cfg.aggr_mean, ws->dh[L]);
}

/* d loss / d ||hG_l|| back through the norm and the pooling into dh[l]. */
static void hop_backward(struct ab_predictor *p, struct ab_pred_ws *ws,
                         const struct ab_pred_part *pt)
{
    const int L = p->cfg.layers, g = pt->g1 - pt->g0;
    if (p->cfg.lambda <= 0.0) return;
    float *dhg = ws->dhg + (size_t)pt->g0 * (size_t)max_width(p);
    for (int l = 0; l <= L; l++) {
        int w = l == 0 ? p->n_fe : p->cfg.hidden;
        const size_t r = (size_t)pt->g0 * (size_t)w;
        memset(dhg, 0, sizeof(float) * (size_t)g * (size_t)w);
        const float *dn = ws->dnorm_all + (size_t)l * (size_t)ws->g + pt->g0;
        if (p->cfg.norm_ord == 2)
            ab_nn_l2norm_bwd(ws->hg[l] + r, ws->norm[l] + pt->g0, g, w, dn, dhg);
        else
            ab_nn_l1norm_bwd(ws->hg[l] + r, g, w, dn, dhg);
        ab_nn_pool_bwd(dhg, w, ws->graph_ptr + pt->g0, g, p->cfg.aggr_mean, ws->dh[l]);
    }
}

static void fe_backward(struct ab_predictor *p, struct ab_pred_ws *ws,
                        const struct ab_pred_part *pt, float *G)
{
    const int N = ws->n, F = p->n_fe, n0 = pt->n0, n = pt->n1 - pt->n0;
    float *emb = ws->fe_emb;
    float *dpre = ws->dh0pre + (size_t)n0 * (size_t)F;
    memset(dpre, 0, sizeof(float) * (size_t)n * (size_t)F);
    ab_nn_abs_bwd(ws->h0pre + (size_t)n0 * (size_t)F, ws->dh[0] + (size_t)n0 * (size_t)F,
                  (size_t)n * (size_t)F, dpre);
    for (int f = 0; f < F; f++) {
        struct ab_pred_fe *fe = &p->fe[f];
        /* [n], inside this thread's rows of dtmp [N x H]: other threads may
         * still read theirs in the BatchNorm backward */
        float *dcol = ws->dtmp + (size_t)n0 * (size_t)p->cfg.hidden;
        for (int i = 0; i < n; i++) dcol[i] = dpre[(size_t)i * (size_t)F + (size_t)f];
        if (fe->card > 0) {
            float *demb = ws->dfe + (size_t)n0 * (size_t)fe_width(p);
            memset(demb, 0, sizeof(float) * (size_t)n * (size_t)fe->dim);
            ab_nn_linear_bwd(emb + (size_t)n0 * (size_t)fe->dim, n, fe->dim, fe->w, 1, dcol,
                             GRAD(fe->w), GRAD(fe->b), demb);
            ab_nn_embedding_bwd(ws->cat_idx + (size_t)f * (size_t)N + n0, n, fe->dim, demb,
                                GRAD(fe->embed));
            emb += (size_t)fe->dim * (size_t)N;
        } else {
            float *hid = ws->fe_hid + (size_t)f * 3 * (size_t)N + (size_t)n0 * 3;
            float *dhid = ws->dfe + (size_t)n0 * (size_t)fe_width(p);
            memset(dhid, 0, sizeof(float) * (size_t)n * 3);
            ab_nn_linear_bwd(hid, n, 3, fe->w1, 1, dcol, GRAD(fe->w1), GRAD(fe->b1), dhid);
            ab_nn_linear_bwd(ws->fe_in + (size_t)f * (size_t)N + n0, n, 1, fe->w0, 3, dhid,
                             GRAD(fe->w0), GRAD(fe->b0), NULL);
        }
    }
}

/* BatchNorm backward of layer l: partial sums, a barrier, dgamma/dbeta
 * once, the range's dz rows. */
static void bn_backward(struct ab_predictor *p, struct ab_pred_ws *ws, int l, int t,
                        const struct ab_pred_part *pt)
{
    const int H = p->cfg.hidden, T = ws->threads, n = pt->n1 - pt->n0;
    const size_t r = (size_t)pt->n0 * (size_t)H;
    struct ab_pred_layer *ly = &p->layer[l];
    float *G = p->grads;
    double *mine = ws->bn_acc + (size_t)t * 2 * (size_t)H;
    memset(mine, 0, sizeof(double) * 2 * (size_t)H);
    ab_nn_bn_bwd_sums(ws->dtmp + r, ws->bn[l].xhat + r, n, H, mine, mine + H);
#pragma omp barrier
#pragma omp single
    {
        for (int k = 0; k < H; k++) {
            double sd = 0, sdx = 0;
            for (int u = 0; u < T; u++) {
                sd += ws->bn_acc[(size_t)u * 2 * (size_t)H + (size_t)k];
                sdx += ws->bn_acc[(size_t)u * 2 * (size_t)H + (size_t)H + (size_t)k];
            }
            ws->bn_tot[k] = sd;
            ws->bn_tot[H + k] = sdx;
            GRAD(ly->bn_beta)[k] += (float)sd;
            GRAD(ly->bn_gamma)[k] += (float)sdx;
        }
    }
    memset(ws->dz + r, 0, sizeof(float) * (size_t)n * (size_t)H);
    ab_nn_bn_bwd_apply(ws->dtmp + r, ws->bn[l].xhat + r, n, H, ly->bn_gamma, ws->bn[l].inv_std,
                       ws->bn_tot, ws->bn_tot + H, ws->n, ws->dz + r);
}

/* One thread's share of the backward pass (collective over the team); its
 * parameter gradients go to G. */
static void backward_part(struct ab_predictor *p, struct ab_pred_ws *ws, int t, float *G)
{
    const int H = p->cfg.hidden, L = p->cfg.layers;
    const struct ab_pred_part *pt = &ws->part[t];
    const int n = pt->n1 - pt->n0;
    const size_t r = (size_t)pt->n0 * (size_t)H, nh = (size_t)n * (size_t)H;
    memset(ws->dh[0] + (size_t)pt->n0 * (size_t)p->n_fe, 0,
           sizeof(float) * (size_t)n * (size_t)p->n_fe);
    for (int l = 1; l <= L; l++) memset(ws->dh[l] + r, 0, sizeof(float) * nh);
    hop_backward(p, ws, pt);
    head_backward(p, ws, pt, G);
    for (int l = L - 1; l >= 0; l--) {
        struct ab_pred_layer *ly = &p->layer[l];
        /* h[l+1] = act(bn(conv(h[l]))) (+ h[l] for l > 0) */
        if (p->cfg.residual && l > 0) ab_nn_add_to(ws->dh[l + 1] + r, nh, ws->dh[l] + r);
        memset(ws->dtmp + r, 0, sizeof(float) * nh);
        ab_nn_leaky_bwd(ws->act[l] + r, ws->dh[l + 1] + r, nh, p->cfg.gnn_slope, ws->dtmp + r);
        bn_backward(p, ws, l, t, pt);
        if (p->cfg.gnn == AB_GNN_GATV2) {
            struct ab_nn_gat_params gp = {ly->w, ly->b, ly->att, ly->bias};
            struct ab_nn_gat_grads gg = {GRAD(ly->w), GRAD(ly->b), GRAD(ly->att), GRAD(ly->bias)};
            ab_nn_gatv2_bwd_range(&ws->gr, pt->n0, pt->n1, ws->h[l], ly->in, H, &gp, &ws->gat[l],
                                  ws->dz, &gg, ws->dh[l], ws->scratch);
        } else {
            struct ab_nn_gconv_params cp = {ly->w_rel, ly->b_rel, ly->w_root};
            struct ab_nn_gconv_grads cg = {GRAD(ly->w_rel), GRAD(ly->b_rel), GRAD(ly->w_root)};
            ab_nn_graphconv_bwd_range(&ws->gr, pt->n0, pt->n1, ws->h[l], ly->in, H, &cp,
                                      ws->agg[l], ws->dz, &cg, ws->dh[l], ws->scratch);
        }
    }
    fe_backward(p, ws, pt, G);
}

double ab_pred_loss_backward(struct ab_predictor *p, struct ab_pred_ws *ws, const float *y,
                             double *mse, double *rank)
{
    const int T = ws->threads;
    const size_t np = p->n_params;
    memset(p->grads, 0, sizeof(float) * np);
    if (T > 1) memset(ws->tgrads, 0, sizeof(float) * (size_t)(T - 1) * np);
    double loss = loss_terms(p, ws, y, 1, mse, rank);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num();
        backward_part(p, ws, t, t == 0 ? p->grads : ws->tgrads + (size_t)(t - 1) * np);
#pragma omp barrier
        /* sum the threads' gradients, each thread a slice of the vector */
        if (T > 1) {
            size_t lo = np * (size_t)t / (size_t)T, hi = np * (size_t)(t + 1) / (size_t)T;
            for (int u = 1; u < T; u++) {
                const float *src = ws->tgrads + (size_t)(u - 1) * np;
                for (size_t i = lo; i < hi; i++) p->grads[i] += src[i];
            }
        }
    }
    return loss;
}
#undef GRAD

/* ---------------------------------------------------------------------- */
/* batched evaluation                                                      */

ab_status ab_pred_eval_archs(struct ab_predictor *p, const struct ab_arch *archs, long n,
                             int batch, float *out, float *hops, double *node_norms)
{
    ab_status rc = AB_OK;
    struct ab_pred_ws *ws;
    struct ab_graph_batch *b;
    const int L = p->cfg.layers;
    if (node_norms) memset(node_norms, 0, sizeof(double) * 3 * (size_t)(L + 1));
    if (!p->eval_ws) AB_CALL(ab_pred_ws_create(p, &p->eval_ws));
    if (!p->eval_batch) AB_CALL(ab_graph_batch_create(p->n_fe, &p->eval_batch));
    if (p->eval_threads != p->threads) {
        AB_CALL(ab_pred_ws_set_threads(p, p->eval_ws, p->threads));
        p->eval_threads = p->threads;
    }
    ws = p->eval_ws;
    b = p->eval_batch;
    for (long s = 0; s < n; s += batch) {
        long e = s + batch < n ? s + batch : n;
        ab_graph_batch_clear(b);
        for (long i = s; i < e; i++) AB_CALL(ab_graph_batch_add_arch(b, p->space, &archs[i]));
        AB_CALL(ab_pred_forward(p, ws, b, 0));
        if (out) memcpy(out + s, ws->out, sizeof(float) * (size_t)(e - s));
        for (int l = 0; hops && l <= L; l++)
            memcpy(hops + (size_t)l * (size_t)n + (size_t)s, ws->norm[l],
                   sizeof(float) * (size_t)(e - s));
        for (int l = 0; node_norms && l <= L; l++) {
            int w = l == 0 ? p->n_fe : p->cfg.hidden;
            for (int v = 0; v < ws->n; v++) {
                const float *row = ws->h[l] + (size_t)v * (size_t)w;
                double nv = 0;
                if (p->cfg.norm_ord == 2) {
                    for (int k = 0; k < w; k++) nv += (double)row[k] * row[k];
                    nv = sqrt(nv);
                } else {
                    for (int k = 0; k < w; k++) nv += fabsf(row[k]);
                }
                node_norms[3 * l] += nv;
                node_norms[3 * l + 1] += nv * nv;
                node_norms[3 * l + 2] += 1;
            }
        }
    }
cleanup:
    return rc;
}
