/* SPDX-License-Identifier: MIT
 *
 * This file tests the AutoBuild predictor as a whole (common/predictor/
 * model.h, checkpoint.h, coordinator/predictor/train.h): the gradient of the
 * full loss (FE-MLP, GATv2 or GraphConv layers, BatchNorm, activations,
 * residuals, pooling, head, hop soft-Spearman term) against finite
 * differences, overfitting a tiny dataset, learning a ranking on a larger
 * one, agreement and determinism with threads, bit-exact determinism per
 * seed, checkpoint round trips and load errors, the stage moments of module
 * scoring, and the input errors of training.
 *
 * Gradient check. 20 configurations: GATv2 / GraphConv x mean / sum x ReLU
 * / LeakyReLU(0.1) x lambda 1 / 0 with residuals, plus two without
 * residuals and two with L2 norms; each on a batch of 8 random ofa_mbv3
 * architectures, hidden 8, 2 or 3 layers, standardised random targets.
 * FD_PER_TENSOR distinct entries of every trainable tensor are perturbed
 * and the loss re-evaluated by a fresh training-mode forward each time. The
 * soft rank strength is 4 x the median gap between neighbouring hop norms
 * of the batch, so PAV blocks partly pool and the rank term has a real
 * gradient (asserted: it changes the gradient).
 *
 * The network is piecewise linear with thousands of kinks (ReLU, abs, L1,
 * PAV block changes) and runs in float32, so the numeric derivative is
 * taken with care: losses at x0 +- h and x0 +- h/2 (h = FD_H); an entry is
 * skipped as "kink" when the forward and backward quotients or the two
 * central quotients disagree; otherwise the closer central quotient is
 * compared with the analytic gradient a:
 *
 *     |a - n| <= FD_REL * max(|a|, |n|) + floor,
 *     floor = FD_ABS * (max |a| of the tensor + rms |a| of the model)
 *             + FD_NOISE * |loss| / h            (float32 loss noise)
 *
 * Pass: no entry beyond FD_GROSS (instead of FD_REL), at most 1 in 1000
 * beyond FD_REL (small kinks crossed below the detection threshold add
 * up), fewer than FD_MAX_SKIP skipped. Over 20 batch seeds (-DGC_SEED=n) a
 * correct implementation shows 0-1 entries beyond FD_REL out of ~5100 and
 * 1.5-4% skipped; each of 22 deliberate bugs tried in a private copy of
 * model.c / nn.c (residual, rank weight, sign and 1/(L+1), activation
 * slopes, pooling mean/sum, abs, L1 and L2 norm, BatchNorm terms, GATv2
 * attention and softmax terms, GraphConv root, embedding accumulation,
 * numeric FE-MLP chain) puts 45 to 2800 entries beyond FD_REL.
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu_main.h"
#include "data/dataset.h"
#include "graph/seqgraph.h"
#include "h5/h5util.h"
#include "predictor/checkpoint.h"
#include "predictor/importance.h"
#include "predictor/model.h"
#include "predictor/train.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/stats.h"

#define FD_H 5e-4
#define FD_REL 2e-2
#define FD_GROSS 0.25
#define FD_ABS 2e-3
#define FD_NOISE 1e-7
#define FD_PER_TENSOR 8
#define FD_MAX_SKIP 0.08
/* overfitting: epochs, learning rate and seed of the 16-architecture runs */
#define OF_EPOCHS 600
#define OF_LR 3e-3
#define OF_SEED 11
#ifndef GC_SEED
#define GC_SEED 0
#endif

static char tmpdir[256];

/* ---- helpers -------------------------------------------------------------- */

static void ensure_tmpdir(void)
{
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ab_test_predictor_XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(tmpdir) != NULL);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    ensure_tmpdir();
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static struct ab_space *open_space(const char *name)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_FATAL(ab_space_open(name, &sp) == AB_OK);
    return sp;
}

/* n distinct random architectures of sp. */
static struct ab_arch *sample_archs(const struct ab_space *sp, unsigned long long seed, long n)
{
    struct ab_rng r;
    struct ab_arch *a = calloc((size_t)n, sizeof *a);
    CU_ASSERT_FATAL(a != NULL);
    ab_rng_seed(&r, seed);
    for (long i = 0; i < n;) {
        int dup = 0;
        ab_arch_sample(sp, &r, NULL, 0, &a[i]);
        for (long j = 0; j < i && !dup; j++) dup = ab_arch_equal(&a[i], &a[j]);
        if (!dup) i++;
    }
    return a;
}

/* A dataset held in memory with one or more metrics (metrics n x m). */
static struct ab_dataset *make_dataset(const char *space, const struct ab_arch *archs, long n,
                                       int m, const char *const *names, const double *metrics)
{
    struct ab_dataset *d = calloc(1, sizeof *d);
    CU_ASSERT_FATAL(d != NULL);
    d->space = open_space(space);
    d->n = n;
    d->n_metrics = m;
    d->metric_names = calloc((size_t)m, sizeof *d->metric_names);
    d->archs = malloc(sizeof *d->archs * (size_t)(n ? n : 1));
    d->hashes = malloc(sizeof *d->hashes * (size_t)(n ? n : 1));
    d->metrics = malloc(sizeof *d->metrics * (size_t)(n * m > 0 ? n * m : 1));
    CU_ASSERT_FATAL(d->metric_names && d->archs && d->hashes && d->metrics);
    for (int k = 0; k < m; k++) d->metric_names[k] = strdup(names[k]);
    memcpy(d->archs, archs, sizeof *archs * (size_t)n);
    for (long i = 0; i < n; i++) d->hashes[i] = ab_arch_hash(d->space, &archs[i]);
    memcpy(d->metrics, metrics, sizeof *metrics * (size_t)(n * m));
    return d;
}

/* A dataset with a single metric "t". */
static struct ab_dataset *make_dataset1(const char *space, const struct ab_arch *archs, long n,
                                        const double *t)
{
    const char *names[] = {"t"};
    return make_dataset(space, archs, n, 1, names, t);
}

/* Index of expansion / kernel of a layer's choice: {3,4,6} -> 0..2, {3,5,7}. */
static int exp_index(const struct ab_space *sp, int s, int c)
{
    int e = sp->stages[s].choices[c].expand;
    return e == 3 ? 0 : e == 4 ? 1 : 2;
}

static int kernel_index(const struct ab_space *sp, int s, int c)
{
    return (sp->stages[s].choices[c].kernel - 3) / 2;
}

/* Synthetic targets. "layers + kernel sizes" and a macs-like weighted sum. */
static double target_layers_kernels(const struct ab_space *sp, const struct ab_arch *a)
{
    double t = 0;
    for (int s = 0; s < sp->n_stages; s++)
        for (int l = 0; l < a->depth[s]; l++)
            t += 1 + sp->stages[s].choices[a->choice[s][l]].kernel;
    return t;
}

static double target_macs_like(const struct ab_space *sp, const struct ab_arch *a)
{
    double t = 0;
    for (int s = 0; s < sp->n_stages; s++)
        for (int l = 0; l < a->depth[s]; l++) {
            int c = a->choice[s][l];
            t += (1.0 + 0.3 * s) * (1.0 + 1.5 * exp_index(sp, s, c) + 0.8 * kernel_index(sp, s, c));
        }
    return t * (1.0 + (a->resolution - 192) / 64.0);
}

/* The seeded 90/10 split of train.c: a Fisher-Yates shuffle of 0..n-1 by
 * the training seed; the first n_train indices are the training set. */
static long derive_train_split(unsigned long long seed, long n, double ratio, long *idx)
{
    struct ab_rng r;
    ab_rng_seed(&r, seed);
    for (long i = 0; i < n; i++) idx[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ab_rng_below(&r, (uint64_t)i + 1);
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    long n_train = (long)(ratio * (double)n);
    if (n_train > n - 1) n_train = n - 1;
    return n_train;
}

static void quiet_opts(struct ab_train_opts *o, long epochs, int batch, double lr,
                       unsigned long long seed)
{
    ab_train_opts_default(o);
    o->epochs = epochs;
    o->batch = batch;
    o->lr = lr;
    o->seed = seed;
    o->progress_s = 0;
}

static void small_cfg(struct ab_pred_config *cfg, int hidden, int layers)
{
    ab_pred_config_default(NULL, cfg);
    cfg->hidden = hidden;
    cfg->layers = layers;
}

static int msg_has(const char *needle)
{
    int ok = strstr(ab_err_msg(), needle) != NULL;
    if (!ok) fprintf(stderr, "\n  expected '%s' in error: %s\n", needle, ab_err_msg());
    return ok;
}

/* ---- 1. whole-model gradient check ---------------------------------------- */

struct gc_case {
    enum ab_gnn_type gnn;
    int aggr_mean;
    float slope;
    double lambda;
    int layers;
    int residual;
    int norm_ord;
};

static struct ab_graph_batch *batch_of(const struct ab_space *sp, const struct ab_arch *a, int n)
{
    struct ab_graph_batch *b = NULL;
    CU_ASSERT_FATAL(ab_graph_batch_create(sp->n_features, &b) == AB_OK);
    for (int i = 0; i < n; i++) CU_ASSERT_FATAL(ab_graph_batch_add_arch(b, sp, &a[i]) == AB_OK);
    return b;
}

static double train_loss(struct ab_predictor *p, struct ab_pred_ws *ws,
                         const struct ab_graph_batch *b, const float *y)
{
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    return ab_pred_loss(p, ws, y);
}

/* Losses at x0 - h, x0 + h, x0 - h/2, x0 + h/2 (exact float steps). */
struct fd_probe {
    double lm, lp, lm2, lp2;   /* losses */
    double xm, xp, xm2, xp2;   /* the perturbed values actually stored */
};

static void probe(struct ab_predictor *p, struct ab_pred_ws *ws, const struct ab_graph_batch *b,
                  const float *y, float *x, double h, struct fd_probe *q)
{
    const float x0 = *x;
    *x = (float)(x0 - h);
    q->xm = *x;
    q->lm = train_loss(p, ws, b, y);
    *x = (float)(x0 + h);
    q->xp = *x;
    q->lp = train_loss(p, ws, b, y);
    *x = (float)(x0 - h / 2);
    q->xm2 = *x;
    q->lm2 = train_loss(p, ws, b, y);
    *x = (float)(x0 + h / 2);
    q->xp2 = *x;
    q->lp2 = train_loss(p, ws, b, y);
    *x = x0;
}

static int disagree(double a, double b, double floor)
{
    return fabs(a - b) > FD_REL * fmax(fabs(a), fabs(b)) + floor;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, z = *(const float *)b;
    return (x > z) - (x < z);
}

/* A soft-rank strength at which the batch's hop norms partly pool: 4 x the
 * median gap between sorted neighbouring norms over all hops. */
static double pick_strength(const struct ab_pred_ws *ws, int L, int g)
{
    float gaps[(AB_PRED_MAX_LAYERS + 1) * 64], v[64];
    int n = 0;
    for (int l = 0; l <= L; l++) {
        memcpy(v, ab_pred_hop_norms(ws, l), sizeof(float) * (size_t)g);
        qsort(v, (size_t)g, sizeof *v, cmp_float);
        for (int i = 0; i + 1 < g; i++) gaps[n++] = v[i + 1] - v[i];
    }
    qsort(gaps, (size_t)n, sizeof *gaps, cmp_float);
    return 4.0 * (gaps[n / 2] > 1e-4f ? gaps[n / 2] : 1e-4);
}

static double gc_worst = 0;
static long gc_checked = 0, gc_skipped = 0, gc_failed = 0, gc_gross = 0;

static void grad_check_case(const struct ab_space *sp, const struct gc_case *c, int case_no)
{
    enum { G = 8 };
    struct ab_pred_config cfg;
    struct ab_predictor *p = NULL;
    struct ab_pred_ws *ws = NULL;
    struct ab_rng r;
    const unsigned long long seed = GC_SEED * 1000ULL + (unsigned long long)case_no;
    struct ab_arch *archs = sample_archs(sp, 100 + seed, G);
    struct ab_graph_batch *b = batch_of(sp, archs, G);
    float y[G];
    double mse, rank;

    small_cfg(&cfg, 8, c->layers);
    cfg.gnn = c->gnn;
    cfg.aggr_mean = c->aggr_mean;
    cfg.gnn_slope = cfg.reg_slope = c->slope;
    cfg.lambda = c->lambda;
    cfg.residual = c->residual;
    cfg.norm_ord = c->norm_ord;
    CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 1000 + seed, &p) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
    ab_rng_seed(&r, 7 + seed);
    {
        double m = 0, s = 0;
        for (int i = 0; i < G; i++) m += y[i] = (float)ab_rng_normal(&r);
        m /= G;
        for (int i = 0; i < G; i++) s += (y[i] - m) * (y[i] - m);
        s = sqrt(s / G);
        for (int i = 0; i < G; i++) y[i] = (float)((y[i] - m) / s);
    }
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    p->cfg.strength = pick_strength(ws, c->layers, G);

    size_t np = p->n_params;
    double *ga = calloc(np, sizeof *ga);
    CU_ASSERT_FATAL(ga != NULL);

    /* the rank term must really contribute to the gradient */
    if (c->lambda > 0) {
        double diff = 0, norm = 0;
        p->cfg.lambda = 0;
        CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
        ab_pred_loss_backward(p, ws, y, NULL, NULL);
        for (size_t k = 0; k < np; k++) ga[k] = p->grads[k];
        p->cfg.lambda = c->lambda;
        CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
        ab_pred_loss_backward(p, ws, y, NULL, NULL);
        for (size_t k = 0; k < np; k++) {
            diff += (p->grads[k] - ga[k]) * (p->grads[k] - ga[k]);
            norm += (double)p->grads[k] * p->grads[k];
        }
        CU_ASSERT(diff > 1e-6 * norm);
    }

    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    double l_only = ab_pred_loss(p, ws, y);
    /* backward twice: the gradient is overwritten, not accumulated */
    ab_pred_loss_backward(p, ws, y, NULL, NULL);
    double l_bwd = ab_pred_loss_backward(p, ws, y, &mse, &rank);
    CU_ASSERT(fabs(l_only - l_bwd) <= 1e-9 * fabs(l_only));
    CU_ASSERT(fabs(mse + rank - l_bwd) <= 1e-9 * fabs(l_bwd));
    if (c->lambda == 0) CU_ASSERT(rank == 0.0);
    for (size_t k = 0; k < np; k++) ga[k] = p->grads[k];
    const double l0 = train_loss(p, ws, b, y);
    CU_ASSERT(l0 == l_only);
    /* float32 forward: loss differences carry noise ~ 1e-7 |L|; and a floor
     * tied to the overall gradient scale */
    double rms = 0;
    for (size_t k = 0; k < np; k++) rms += ga[k] * ga[k];
    rms = sqrt(rms / (double)np);
    const double fd_floor = FD_NOISE * fabs(l0) / FD_H + FD_ABS * rms;

    struct ab_rng pick;
    ab_rng_seed(&pick, 99 + seed);
    int kinds = 0;
    long checked0 = gc_checked, skipped0 = gc_skipped, failed0 = gc_failed;
    for (int i = 0; i < p->n_info; i++) {
        const struct ab_param_info *pi = &p->info[i];
        if (pi->is_buffer) continue;
        kinds++;
        double gmax = 0;
        for (size_t k = 0; k < pi->size; k++)
            if (fabs(ga[pi->offset + k]) > gmax) gmax = fabs(ga[pi->offset + k]);
        /* floor: relative to the tensor's own gradient scale, and to float noise */
        double floor = FD_ABS * gmax + fd_floor;
        /* FD_PER_TENSOR distinct entries, evenly spread from a random start */
        size_t count = pi->size < FD_PER_TENSOR ? pi->size : FD_PER_TENSOR;
        size_t start = (size_t)ab_rng_below(&pick, pi->size), stride = pi->size / count;
        for (size_t t = 0; t < count; t++) {
            size_t k = (start + t * stride) % pi->size;
            float *x = p->params + pi->offset + k;
            const double x0 = *x;
            struct fd_probe q;
            probe(p, ws, b, y, x, FD_H, &q);
            /* a kink (ReLU, abs, L1, PAV block change) within the step shows
             * as forward and backward quotients that disagree, or as central
             * quotients of the two step sizes that disagree */
            double fwd = (q.lp - l0) / (q.xp - x0), bwd = (l0 - q.lm) / (x0 - q.xm);
            double n1 = (q.lp - q.lm) / (q.xp - q.xm), n2 = (q.lp2 - q.lm2) / (q.xp2 - q.xm2);
            double a = ga[pi->offset + k];
            if (disagree(fwd, bwd, floor) || disagree(n1, n2, floor)) {
                gc_skipped++;
                continue;
            }
            /* either step size may serve as the estimate */
            double nb = fabs(a - n1) <= fabs(a - n2) ? n1 : n2;
            double err = fabs(a - nb), scale = fmax(fabs(a), fabs(nb));
            gc_checked++;
            if (scale > 10 * floor && err / scale > gc_worst) gc_worst = err / scale;
            if (err > FD_GROSS * scale + floor) gc_gross++;
            if (err > FD_REL * scale + floor) {
                if (gc_failed++ < 20)
                    fprintf(stderr, "\n  case %d %s[%zu]: analytic %.6g numeric %.6g (h) "
                            "%.6g (h/2)", case_no, pi->name, k, a, n1, n2);
            }
        }
    }
    CU_ASSERT(kinds >= 20);
    fprintf(stderr, "\n  case %2d: %-9s %-4s slope %-3g lambda %-3g L %d residual %d norm L%d "
            "strength %-6.3g: %3ld checked, %2ld skipped, %ld failed", case_no,
            c->gnn == AB_GNN_GATV2 ? "GATv2" : "GraphConv", c->aggr_mean ? "mean" : "sum",
            c->slope, c->lambda, c->layers, c->residual, c->norm_ord, p->cfg.strength,
            gc_checked - checked0, gc_skipped - skipped0, gc_failed - failed0);
    free(ga);
    free(archs);
    ab_graph_batch_destroy(&b);
    ab_pred_ws_destroy(&ws);
    ab_predictor_destroy(&p);
}

static void test_gradient_check(void)
{
    ab_log_set_level(AB_LOG_WARN); /* no training progress lines */
    struct ab_space *sp = open_space("ofa_mbv3");
    int n = 0;
    gc_worst = 0;
    gc_checked = gc_skipped = gc_failed = gc_gross = 0;
    for (int gnn = 0; gnn < 2; gnn++)
        for (int mean = 0; mean < 2; mean++)
            for (int act = 0; act < 2; act++)
                for (int lam = 0; lam < 2; lam++) {
                    struct gc_case c = {gnn ? AB_GNN_GRAPHCONV : AB_GNN_GATV2, !mean,
                                        act ? 0.1f : 0.0f, lam ? 0.0 : 1.0,
                                        2 + (gnn + mean + act + lam) % 2, 1, 1};
                    grad_check_case(sp, &c, n++);
                }
    const struct gc_case extra[] = {
        {AB_GNN_GATV2, 1, 0.0f, 1.0, 3, 0, 1},     /* no residual */
        {AB_GNN_GRAPHCONV, 0, 0.0f, 1.0, 3, 0, 1}, /* no residual */
        {AB_GNN_GATV2, 1, 0.0f, 1.0, 2, 1, 2},     /* L2 embedding norms */
        {AB_GNN_GRAPHCONV, 0, 0.1f, 0.5, 2, 1, 2},
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) grad_check_case(sp, &extra[i], n++);
    fprintf(stderr, "\n  gradient check: %d configurations, %ld entries checked, %ld skipped "
            "(kinks), %ld beyond %g (%ld beyond %g); worst relative error %.3g\n",
            n, gc_checked, gc_skipped, gc_failed, FD_REL, gc_gross, FD_GROSS, gc_worst);
    CU_ASSERT(gc_gross == 0);
    CU_ASSERT(gc_failed <= gc_checked / 1000);
    CU_ASSERT(gc_checked > 4000);
    CU_ASSERT(gc_skipped <= FD_MAX_SKIP * (gc_checked + gc_skipped));
    ab_space_destroy(&sp);
}

/* ---- 2. overfitting 16 architectures ------------------------------------ */

/* MSE (label units) of eval-mode predictions of archs[0..n) against t. */
static double eval_mse(struct ab_predictor *p, const struct ab_arch *archs, const double *t, long n)
{
    float out[64];
    double mse = 0;
    CU_ASSERT_FATAL(n <= 64);
    CU_ASSERT_FATAL(ab_pred_eval_archs(p, archs, n, 64, out, NULL, NULL) == AB_OK);
    for (long i = 0; i < n; i++) {
        double pr = out[i] * p->label_std + p->label_mean;
        mse += (pr - t[i]) * (pr - t[i]);
    }
    return mse / n;
}

/* Trains on 16 architectures (one full batch per epoch) with target
 * "layers + kernel sizes" and checks the fit on the training split.
 * With lambda 1 the rank term keeps the weights moving, so the BatchNorm
 * running statistics lag behind the batch statistics and eval-mode
 * predictions carry an offset (METHOD.md section 3); the fit is then judged
 * in training mode and in eval mode after the running statistics have been
 * refreshed by training-mode forwards over the same batch (no weight
 * update). */
static void overfit(double lambda)
{
    enum { N = 16 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 5, N);
    double t[N];
    for (int i = 0; i < N; i++) t[i] = target_layers_kernels(sp, &archs[i]);
    struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 16, 2);
    cfg.lambda = lambda;
    quiet_opts(&o, OF_EPOCHS, 16, OF_LR, OF_SEED);
    o.wd = 0;
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &p) == AB_OK);

    long idx[N];
    long n_train = derive_train_split(o.seed, N, o.train_ratio, idx);
    CU_ASSERT_FATAL(p->n_train == n_train);
    struct ab_arch tr[N];
    double ttr[N], mean = 0, var = 0;
    for (long i = 0; i < n_train; i++) {
        tr[i] = archs[idx[i]];
        ttr[i] = t[idx[i]];
        mean += ttr[i];
    }
    mean /= n_train;
    for (long i = 0; i < n_train; i++) var += (ttr[i] - mean) * (ttr[i] - mean);
    var /= n_train;
    /* labels standardised with the training split's mean and population std */
    CU_ASSERT(fabs(p->label_mean - mean) < 1e-9 * fabs(mean));
    CU_ASSERT(fabs(p->label_std - sqrt(var)) < 1e-9 * sqrt(var));

    double raw = eval_mse(p, tr, ttr, n_train);
    /* training-mode fit, then refreshed running statistics */
    struct ab_graph_batch *b = batch_of(p->space, tr, (int)n_train);
    struct ab_pred_ws *ws = NULL;
    float y[N];
    double mse_std, rank;
    for (long i = 0; i < n_train; i++) y[i] = (float)((ttr[i] - p->label_mean) / p->label_std);
    CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    ab_pred_loss_backward(p, ws, y, &mse_std, &rank);
    for (int it = 0; it < 100; it++) CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    double refreshed = eval_mse(p, tr, ttr, n_train);
    fprintf(stderr, "\n  overfit (lambda %g): target variance %.4g; eval-mode MSE %.4g "
            "(ratio %.3g), training-mode MSE ratio %.3g, eval-mode after refreshing BatchNorm "
            "statistics %.4g (ratio %.3g)\n", lambda, var, raw, raw / var, mse_std, refreshed,
            refreshed / var);
    if (lambda == 0) CU_ASSERT(raw < 5e-3 * var);
    CU_ASSERT(mse_std < 2e-2);
    CU_ASSERT(refreshed < 2e-2 * var);
    ab_pred_ws_destroy(&ws);
    ab_graph_batch_destroy(&b);
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
}

static void test_overfit_mse(void) { overfit(0.0); }
static void test_overfit_rank(void) { overfit(1.0); }

/* ---- 3. learning a ranking: test SRCC and hop SRCCs --------------------- */

static void test_srcc_macs_like(void)
{
    enum { N = 300 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 21, N);
    double *t = malloc(sizeof *t * N);
    for (int i = 0; i < N; i++) t[i] = target_macs_like(sp, &archs[i]);
    struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 16, 3);
    quiet_opts(&o, 60, 32, 3e-3, 3);
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &p) == AB_OK);
    fprintf(stderr, "\n  macs-like: test SRCC %.4f, MAE %.4g, MAPE %.4g; hop SRCC", p->test_srcc,
            p->test_mae, p->test_mape);
    for (int l = 0; l <= cfg.layers; l++) fprintf(stderr, " %.3f", p->hop_srcc[l]);
    fprintf(stderr, "\n");
    CU_ASSERT(p->n_train == 270 && p->n_test == 30);
    CU_ASSERT(p->test_srcc > 0.9);
    for (int l = 1; l <= cfg.layers; l++) CU_ASSERT(p->hop_srcc[l] > 0.5);
    CU_ASSERT(isfinite(p->test_mae) && isfinite(p->test_mape));

    /* the stored test metrics are those of the derived test split */
    long idx[N];
    long n_train = derive_train_split(o.seed, N, o.train_ratio, idx);
    long n_test = N - n_train;
    struct ab_arch *te = malloc(sizeof *te * (size_t)n_test);
    float *out = malloc(sizeof *out * (size_t)n_test);
    float *hops = malloc(sizeof *hops * (size_t)n_test * (size_t)(cfg.layers + 1));
    double *yt = malloc(sizeof *yt * (size_t)n_test), *pt = malloc(sizeof *pt * (size_t)n_test);
    for (long i = 0; i < n_test; i++) {
        te[i] = archs[idx[n_train + i]];
        yt[i] = t[idx[n_train + i]];
    }
    CU_ASSERT_FATAL(ab_pred_eval_archs(p, te, n_test, 7, out, hops, NULL) == AB_OK);
    for (long i = 0; i < n_test; i++) pt[i] = out[i] * p->label_std + p->label_mean;
    CU_ASSERT(fabs(ab_stats_spearman(yt, pt, (int)n_test) - p->test_srcc) < 1e-9);
    CU_ASSERT(fabs(ab_stats_mae(yt, pt, (int)n_test) - p->test_mae) < 1e-6 * p->test_mae);
    for (int l = 0; l <= cfg.layers; l++) {
        for (long i = 0; i < n_test; i++) pt[i] = hops[(size_t)l * (size_t)n_test + (size_t)i];
        CU_ASSERT(fabs(ab_stats_spearman(yt, pt, (int)n_test) - p->hop_srcc[l]) < 1e-9);
    }
    /* hop moments: mean and unbiased std of the node-embedding L1 norms of
     * every training node, eval mode, per hop */
    {
        struct ab_arch *tr = malloc(sizeof *tr * (size_t)n_train);
        for (long i = 0; i < n_train; i++) tr[i] = archs[idx[i]];
        struct ab_graph_batch *b = batch_of(sp, tr, (int)n_train);
        struct ab_pred_ws *ws = NULL;
        CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
        CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 0) == AB_OK);
        for (int l = 0; l <= cfg.layers; l++) {
            int w = l == 0 ? sp->n_features : cfg.hidden, unused;
            const float *h = ab_pred_node_embeddings(p, ws, l, &unused);
            double s1 = 0, s2 = 0, nn = b->n_nodes;
            for (int v = 0; v < b->n_nodes; v++) {
                double a = 0;
                for (int k = 0; k < w; k++) a += fabs(h[(size_t)v * (size_t)w + (size_t)k]);
                s1 += a;
                s2 += a * a;
            }
            double mean = s1 / nn, sd = sqrt((s2 - nn * mean * mean) / (nn - 1));
            CU_ASSERT(fabs(p->hop_mean[l] - mean) <= 1e-4 * mean);
            CU_ASSERT(fabs(p->hop_std[l] - sd) <= 1e-3 * sd);
        }
        ab_pred_ws_destroy(&ws);
        ab_graph_batch_destroy(&b);
        free(tr);
    }
    free(te);
    free(out);
    free(hops);
    free(yt);
    free(pt);
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    free(archs);
    free(t);
    ab_space_destroy(&sp);
}

/* ---- 4. determinism -------------------------------------------------------- */

static struct ab_predictor *train_small(unsigned long long seed, enum ab_gnn_type gnn)
{
    enum { N = 40 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 31, N);
    double t[N];
    for (int i = 0; i < N; i++) t[i] = target_macs_like(sp, &archs[i]);
    struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 8, 2);
    cfg.gnn = gnn;
    quiet_opts(&o, 5, 8, 1e-3, seed);
    CU_ASSERT(ab_train_predictor(d, "t*2", &cfg, &o, &p) == AB_OK);
    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
    return p;
}

static int same_weights(const struct ab_predictor *a, const struct ab_predictor *b)
{
    return a->n_params == b->n_params && a->n_bufs == b->n_bufs &&
           !memcmp(a->params, b->params, sizeof(float) * a->n_params) &&
           !memcmp(a->bufs, b->bufs, sizeof(float) * a->n_bufs);
}

static void test_determinism(void)
{
    for (int gnn = 0; gnn < 2; gnn++) {
        enum ab_gnn_type t = gnn ? AB_GNN_GRAPHCONV : AB_GNN_GATV2;
        struct ab_predictor *a = train_small(7, t), *b = train_small(7, t), *c = train_small(8, t);
        CU_ASSERT_FATAL(a && b && c);
        CU_ASSERT(same_weights(a, b));
        CU_ASSERT(!same_weights(a, c));
        CU_ASSERT(a->test_srcc == b->test_srcc && a->test_mae == b->test_mae);
        CU_ASSERT(a->label_mean == b->label_mean && a->label_std == b->label_std);
        for (int l = 0; l <= a->cfg.layers; l++)
            CU_ASSERT(a->hop_mean[l] == b->hop_mean[l] && a->hop_std[l] == b->hop_std[l]);
        ab_predictor_destroy(&a);
        ab_predictor_destroy(&b);
        ab_predictor_destroy(&c);
    }
}

/* ---- threads ------------------------------------------------------------- */

static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return sqrt(d / (s > 0 ? s : 1));
}

/* One training forward and backward with the given thread count from the
 * same BatchNorm running statistics: loss, outputs, gradients, buffers. */
static double run_threads(struct ab_predictor *p, const struct ab_graph_batch *b, const float *y,
                          int threads, const float *bufs0, float *out, float *grads, float *bufs)
{
    struct ab_pred_ws *ws = NULL;
    CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_ws_set_threads(p, ws, threads) == AB_OK);
    memcpy(p->bufs, bufs0, sizeof(float) * p->n_bufs);
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 1) == AB_OK);
    memcpy(out, ab_pred_output(ws), sizeof(float) * (size_t)b->n_graphs);
    double loss = ab_pred_loss_backward(p, ws, y, NULL, NULL);
    memcpy(grads, p->grads, sizeof(float) * p->n_params);
    memcpy(bufs, p->bufs, sizeof(float) * p->n_bufs);
    ab_pred_ws_destroy(&ws);
    return loss;
}

static void test_threads_agree(void)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    for (int gnn = 0; gnn < 2; gnn++)
        for (int G = 2; G <= 12; G += 10) {
            struct ab_arch *archs = sample_archs(sp, 40 + (unsigned long long)G, G);
            struct ab_graph_batch *b = batch_of(sp, archs, G);
            struct ab_pred_config cfg;
            struct ab_predictor *p = NULL;
            struct ab_rng r;
            float y[12], o1[12], o2[12];
            small_cfg(&cfg, 8, 3);
            cfg.gnn = gnn ? AB_GNN_GRAPHCONV : AB_GNN_GATV2;
            CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 4, &p) == AB_OK);
            ab_rng_seed(&r, 4);
            for (int i = 0; i < G; i++) y[i] = (float)ab_rng_normal(&r);
            size_t np = p->n_params, nb = p->n_bufs;
            float *b0 = malloc(sizeof(float) * nb), *g1 = malloc(sizeof(float) * np),
                  *g2 = malloc(sizeof(float) * np), *u1 = malloc(sizeof(float) * nb),
                  *u2 = malloc(sizeof(float) * nb);
            CU_ASSERT_FATAL(b0 && g1 && g2 && u1 && u2);
            memcpy(b0, p->bufs, sizeof(float) * nb);
            double l1 = run_threads(p, b, y, 1, b0, o1, g1, u1);
            /* more threads than graphs when G = 2 */
            for (int t = 2; t <= 4; t++) {
                double l2 = run_threads(p, b, y, t, b0, o2, g2, u2);
                CU_ASSERT(fabs(l1 - l2) <= 1e-5 * fabs(l1));
                CU_ASSERT(rel_diff(o1, o2, (size_t)G) <= 1e-5);
                CU_ASSERT(rel_diff(g1, g2, np) <= 1e-4);
                CU_ASSERT(rel_diff(u1, u2, nb) <= 1e-5);
            }
            /* the same thread count twice: bit for bit */
            run_threads(p, b, y, 3, b0, o1, g1, u1);
            run_threads(p, b, y, 3, b0, o2, g2, u2);
            CU_ASSERT(!memcmp(o1, o2, sizeof(float) * (size_t)G));
            CU_ASSERT(!memcmp(g1, g2, sizeof(float) * np));
            /* evaluation mode through ab_pred_eval_archs */
            float e1[12], e2[12];
            p->threads = 1;
            CU_ASSERT_FATAL(ab_pred_eval_archs(p, archs, G, 5, e1, NULL, NULL) == AB_OK);
            p->threads = 3;
            CU_ASSERT_FATAL(ab_pred_eval_archs(p, archs, G, 5, e2, NULL, NULL) == AB_OK);
            CU_ASSERT(rel_diff(e1, e2, (size_t)G) <= 1e-5);
            /* bad thread counts */
            struct ab_pred_ws *ws = NULL;
            CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
            CU_ASSERT(ab_pred_ws_set_threads(p, ws, 0) == AB_ERR_INPUT);
            CU_ASSERT(ab_pred_ws_set_threads(p, ws, AB_PRED_MAX_THREADS + 1) == AB_ERR_INPUT);
            ab_pred_ws_destroy(&ws);
            free(b0);
            free(g1);
            free(g2);
            free(u1);
            free(u2);
            ab_predictor_destroy(&p);
            ab_graph_batch_destroy(&b);
            free(archs);
        }
    ab_space_destroy(&sp);
}

/* Training with 2 threads is deterministic too. */
static void test_threads_training_deterministic(void)
{
    enum { N = 40 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 31, N);
    double t[N];
    for (int i = 0; i < N; i++) t[i] = target_macs_like(sp, &archs[i]);
    struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *a = NULL, *b = NULL;
    small_cfg(&cfg, 8, 2);
    quiet_opts(&o, 5, 16, 1e-3, 5);
    o.threads = 2;
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &a) == AB_OK);
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &b) == AB_OK);
    CU_ASSERT(same_weights(a, b));
    CU_ASSERT(a->test_srcc == b->test_srcc);
    ab_predictor_destroy(&a);
    ab_predictor_destroy(&b);
    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
}

/* A last batch of a single graph (10 training rows, batch 3) must not
 * break training: the soft Spearman of one value is undefined. */
static void test_last_batch_of_one(void)
{
    enum { N = 12 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 61, N);
    double t[N];
    for (int i = 0; i < N; i++) t[i] = target_macs_like(sp, &archs[i]);
    struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 8, 2);
    quiet_opts(&o, 20, 3, 1e-3, 2);
    ab_err_clear();
    ab_status rc = ab_train_predictor(d, "t", &cfg, &o, &p);
    if (rc) fprintf(stderr, "\n  %s\n", ab_err_msg());
    CU_ASSERT_FATAL(rc == AB_OK);
    CU_ASSERT(p->n_train == 10);
    int finite = 1;
    for (size_t k = 0; k < p->n_params; k++) finite &= isfinite(p->params[k]) != 0;
    CU_ASSERT(finite);
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
}

/* ---- 5. checkpoints ------------------------------------------------------- */

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void check_same_predictor(struct ab_predictor *a, struct ab_predictor *b)
{
    const int L = a->cfg.layers;
    CU_ASSERT_FATAL(b->cfg.layers == L && b->cfg.hidden == a->cfg.hidden);
    CU_ASSERT(b->cfg.gnn == a->cfg.gnn);
    CU_ASSERT(b->cfg.gnn_slope == a->cfg.gnn_slope && b->cfg.reg_slope == a->cfg.reg_slope);
    CU_ASSERT(b->cfg.aggr_mean == a->cfg.aggr_mean && b->cfg.residual == a->cfg.residual);
    CU_ASSERT(b->cfg.lambda == a->cfg.lambda && b->cfg.strength == a->cfg.strength);
    CU_ASSERT(!strcmp(b->space->name, a->space->name));
    CU_ASSERT(!strcmp(b->space->definition, a->space->definition));
    CU_ASSERT(b->n_info == a->n_info);
    for (int i = 0; i < a->n_info && i < b->n_info; i++) {
        CU_ASSERT(!strcmp(a->info[i].name, b->info[i].name));
        CU_ASSERT(a->info[i].size == b->info[i].size && a->info[i].ndim == b->info[i].ndim);
    }
    CU_ASSERT(same_weights(a, b));
    CU_ASSERT_FATAL(a->target && b->target);
    CU_ASSERT(!strcmp(a->target, b->target));
    CU_ASSERT(a->label_mean == b->label_mean && a->label_std == b->label_std);
    for (int l = 0; l <= L; l++) {
        CU_ASSERT(a->hop_mean[l] == b->hop_mean[l] && a->hop_std[l] == b->hop_std[l]);
        CU_ASSERT(same_double(a->hop_srcc[l], b->hop_srcc[l]));
    }
    CU_ASSERT_FATAL(b->stage_units == a->stage_units && b->stage_hmax == a->stage_hmax);
    CU_ASSERT_FATAL(a->stage_moments && b->stage_moments);
    CU_ASSERT(!memcmp(a->stage_moments, b->stage_moments,
                      sizeof(double) * 2 * (size_t)a->stage_units * (size_t)a->stage_hmax));
    CU_ASSERT(same_double(a->test_srcc, b->test_srcc));
    CU_ASSERT(same_double(a->test_mae, b->test_mae));
    CU_ASSERT(same_double(a->test_mape, b->test_mape));
    CU_ASSERT(a->seconds == b->seconds);
    CU_ASSERT(a->n_train == b->n_train && a->n_test == b->n_test && a->epochs == b->epochs);

    /* predictions and hop norms, bit for bit */
    enum { N = 50 };
    struct ab_arch *archs = sample_archs(a->space, 77, N);
    float pa[N], pb[N], ha[N * (AB_PRED_MAX_LAYERS + 1)], hb[N * (AB_PRED_MAX_LAYERS + 1)];
    CU_ASSERT_FATAL(ab_pred_eval_archs(a, archs, N, 16, pa, ha, NULL) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_eval_archs(b, archs, N, 16, pb, hb, NULL) == AB_OK);
    CU_ASSERT(!memcmp(pa, pb, sizeof pa));
    CU_ASSERT(!memcmp(ha, hb, sizeof(float) * N * (size_t)(L + 1)));
    free(archs);
}

static void test_checkpoint_round_trip(void)
{
    char path[512];
    for (int gnn = 0; gnn < 2; gnn++) {
        struct ab_predictor *a = train_small(3, gnn ? AB_GNN_GRAPHCONV : AB_GNN_GATV2), *b = NULL;
        CU_ASSERT_FATAL(a != NULL);
        /* a non-default configuration survives too */
        a->cfg.gnn_slope = 0.01f;
        a->cfg.reg_slope = 0.2f;
        a->cfg.aggr_mean = 0;
        a->cfg.lambda = 0.5;
        a->cfg.strength = 0.25;
        tmp_path(path, sizeof path, "rt.h5");
        CU_ASSERT_FATAL(ab_predictor_save(a, path) == AB_OK);
        CU_ASSERT_FATAL(ab_predictor_load(path, &b) == AB_OK);
        check_same_predictor(a, b);
        /* and a second generation is identical again */
        struct ab_predictor *c = NULL;
        char path2[512];
        tmp_path(path2, sizeof path2, "rt2.h5");
        CU_ASSERT_FATAL(ab_predictor_save(b, path2) == AB_OK);
        CU_ASSERT_FATAL(ab_predictor_load(path2, &c) == AB_OK);
        check_same_predictor(a, c);
        unlink(path);
        unlink(path2);
        ab_predictor_destroy(&a);
        ab_predictor_destroy(&b);
        ab_predictor_destroy(&c);
    }
}

/* The /test attributes the schema lists besides the metrics (training
 * settings) must survive a round trip too. */
static void test_checkpoint_training_settings(void)
{
    char path[512];
    struct ab_predictor *a = train_small(3, AB_GNN_GATV2), *b = NULL;
    CU_ASSERT_FATAL(a != NULL);
    tmp_path(path, sizeof path, "settings.h5");
    CU_ASSERT_FATAL(ab_predictor_save(a, path) == AB_OK);
    CU_ASSERT_FATAL(ab_predictor_load(path, &b) == AB_OK);
    CU_ASSERT(a->seed == 3 && a->batch == 8 && a->lr == 1e-3);
    CU_ASSERT(b->seed == a->seed);
    CU_ASSERT(b->batch == a->batch);
    CU_ASSERT(b->lr == a->lr);
    CU_ASSERT(b->weight_decay == a->weight_decay);
    unlink(path);
    ab_predictor_destroy(&a);
    ab_predictor_destroy(&b);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(buf != NULL);
    CU_ASSERT_FATAL(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(buf, 1, len, f) == len);
    fclose(f);
}

/* Loading must fail with AB_ERR_INPUT, name the file and each `want`. */
static void expect_load_error(const char *path, const char *want1, const char *want2)
{
    struct ab_predictor *p = (struct ab_predictor *)1;
    ab_err_clear();
    ab_status rc = ab_predictor_load(path, &p);
    CU_ASSERT(rc == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);
    CU_ASSERT(msg_has(path));
    if (want1) CU_ASSERT(msg_has(want1));
    if (want2) CU_ASSERT(msg_has(want2));
    if (rc == AB_OK) ab_predictor_destroy(&p);
}

/* Copies src to dst and opens the copy for writing with HDF5. */
static hid_t h5_copy_rw(const char *src, const char *dst)
{
    size_t len;
    unsigned char *bytes = read_bytes(src, &len);
    write_bytes(dst, bytes, len);
    free(bytes);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    return f;
}

static void test_checkpoint_load_errors(void)
{
    char good[512], bad[512];
    struct ab_predictor *a = train_small(3, AB_GNN_GATV2);
    CU_ASSERT_FATAL(a != NULL);
    ab_h5_init();
    tmp_path(good, sizeof good, "good.h5");
    CU_ASSERT_FATAL(ab_predictor_save(a, good) == AB_OK);

    /* a missing file, a text file */
    tmp_path(bad, sizeof bad, "missing.h5");
    expect_load_error(bad, NULL, NULL);
    tmp_path(bad, sizeof bad, "text.h5");
    write_bytes(bad, "arch,acc\nnot,hdf5\n", 18);
    expect_load_error(bad, "HDF5", NULL);

    /* truncated at several points */
    size_t len;
    unsigned char *bytes = read_bytes(good, &len);
    const double cut[] = {0.01, 0.25, 0.5, 0.75, 0.95};
    tmp_path(bad, sizeof bad, "truncated.h5");
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        write_bytes(bad, bytes, (size_t)(cut[i] * (double)len));
        expect_load_error(bad, NULL, NULL);
    }
    write_bytes(bad, bytes, len - 1);
    expect_load_error(bad, NULL, NULL);
    free(bytes);

    /* an archdata file */
    {
        struct ab_space *sp = open_space("ofa_mbv3");
        struct ab_arch *archs = sample_archs(sp, 1, 12);
        double t[12];
        for (int i = 0; i < 12; i++) t[i] = i;
        struct ab_dataset *d = make_dataset1("ofa_mbv3", archs, 12, t);
        tmp_path(bad, sizeof bad, "archdata.h5");
        CU_ASSERT_FATAL(ab_dataset_write(d, bad) == AB_OK);
        expect_load_error(bad, AB_ARCHDATA_FORMAT, AB_PREDICTOR_FORMAT);
        ab_dataset_destroy(&d);
        free(archs);
        ab_space_destroy(&sp);
    }

    /* one weight removed */
    const char *victims[] = {"encoder.gnn_layers.1.att", "embed_layer.kernel_embed.weight",
                             "encoder.bns.0.module.running_var", "regressor.bias"};
    tmp_path(bad, sizeof bad, "missing_weight.h5");
    for (size_t i = 0; i < sizeof victims / sizeof victims[0]; i++) {
        char link[256];
        CU_ASSERT_FATAL(ab_predictor_find(a, victims[i]) != NULL);
        hid_t f = h5_copy_rw(good, bad);
        snprintf(link, sizeof link, "weights/%s", victims[i]);
        CU_ASSERT_FATAL(H5Ldelete(f, link, H5P_DEFAULT) >= 0);
        H5Fclose(f);
        expect_load_error(bad, victims[i], NULL);
    }

    /* one weight with a wrong shape: (2, H) instead of (1, H); 1-D instead of 2-D */
    {
        tmp_path(bad, sizeof bad, "wrong_shape.h5");
        hid_t f = h5_copy_rw(good, bad);
        CU_ASSERT_FATAL(H5Ldelete(f, "weights/regressor.weight", H5P_DEFAULT) >= 0);
        hsize_t dims[2] = {2, (hsize_t)a->cfg.hidden};
        hid_t s = H5Screate_simple(2, dims, NULL);
        hid_t d = H5Dcreate2(f, "weights/regressor.weight", H5T_IEEE_F32LE, s, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT_FATAL(d >= 0);
        float zeros[64] = {0};
        CU_ASSERT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
        H5Dclose(d);
        H5Sclose(s);
        H5Fclose(f);
        expect_load_error(bad, "regressor.weight", NULL);

        f = h5_copy_rw(good, bad);
        CU_ASSERT_FATAL(H5Ldelete(f, "weights/post_proj.0.weight", H5P_DEFAULT) >= 0);
        hsize_t d1[1] = {(hsize_t)a->cfg.hidden * (hsize_t)a->cfg.hidden};
        s = H5Screate_simple(1, d1, NULL);
        d = H5Dcreate2(f, "weights/post_proj.0.weight", H5T_IEEE_F32LE, s, H5P_DEFAULT,
                       H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT_FATAL(d >= 0);
        H5Dclose(d);
        H5Sclose(s);
        H5Fclose(f);
        expect_load_error(bad, "post_proj.0.weight", NULL);
    }
    unlink(bad);
    unlink(good);
    ab_predictor_destroy(&a);
}

/* ---- 6. stage moments ----------------------------------------------------- */

static int clamp_depth(const struct ab_stage *st, int k)
{
    return k < st->min_layers ? st->min_layers : k > st->max_layers ? st->max_layers : k;
}

/* Nodes of unit u in an architecture. */
static int unit_nodes(const struct ab_space *sp, int u, const struct ab_arch *a)
{
    int c = 0;
    for (int q = 0; q < sp->units[u].n_stages; q++) c += a->depth[sp->units[u].first + q];
    return c;
}

/* (mean, std) of unit u and node count c. */
static const double *stage_moment(const struct ab_predictor *p, int u, int c)
{
    return p->stage_moments + 2 * ((size_t)u * (size_t)p->stage_hmax + (size_t)(c - 1));
}

/* Every stage of an architecture has the same depth k (clamped to the
 * stage's bounds) and its label is k: for every unit u and node count c
 * the labels are all equal, so the moments do not depend on the split. */
static void stage_moments_equal_labels(const char *space, int expect_hmax)
{
    enum { N = 30 };
    struct ab_space *sp = open_space(space);
    struct ab_arch archs[N];
    double t[N];
    struct ab_rng r;
    ab_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        int k = 2 + i % 3;
        ab_arch_sample(sp, &r, NULL, 0, &archs[i]);
        for (int s = 0; s < sp->n_stages; s++) {
            int dk = clamp_depth(&sp->stages[s], k);
            for (int l = 0; l < AB_MAX_LAYERS; l++) archs[i].choice[s][l] = 0;
            for (int l = 0; l < dk; l++)
                archs[i].choice[s][l] =
                    (uint8_t)ab_rng_below(&r, (uint64_t)sp->stages[s].n_choices);
            archs[i].depth[s] = (uint8_t)dk;
        }
        CU_ASSERT_FATAL(ab_arch_validate(sp, &archs[i]) == AB_OK);
        t[i] = k;
    }
    struct ab_dataset *d = make_dataset1(space, archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 4, 1);
    quiet_opts(&o, 1, 8, 1e-3, 9);
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &p) == AB_OK);
    CU_ASSERT_FATAL(p->stage_moments != NULL);
    CU_ASSERT_FATAL(p->stage_units == sp->n_units);
    CU_ASSERT_FATAL(p->stage_hmax == expect_hmax);
    for (int u = 0; u < sp->n_units; u++)
        for (int c = 1; c <= p->stage_hmax; c++) {
            double em = 0, es = 1; /* no architecture with c nodes in unit u */
            for (int k = 2; k <= 4; k++) {
                int cnt = 0;
                for (int q = 0; q < sp->units[u].n_stages; q++)
                    cnt += clamp_depth(&sp->stages[sp->units[u].first + q], k);
                if (cnt == c) {
                    em = k;
                    es = 0;
                }
            }
            const double *m = stage_moment(p, u, c);
            if (m[0] != em || m[1] != es)
                fprintf(stderr, "\n  %s unit %d count %d: (%g, %g), expected (%g, %g)", space, u,
                        c, m[0], m[1], em, es);
            CU_ASSERT(m[0] == em && m[1] == es);
        }
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    ab_space_destroy(&sp);
}

/* Random architectures and labels: the moments of the re-derived split. */
static void stage_moments_random(const char *space)
{
    enum { N = 60 };
    struct ab_space *sp = open_space(space);
    struct ab_arch *archs = sample_archs(sp, 8, N);
    double t[N];
    struct ab_rng r;
    ab_rng_seed(&r, 6);
    for (int i = 0; i < N; i++) t[i] = 10 + 3 * ab_rng_normal(&r);
    struct ab_dataset *d = make_dataset1(space, archs, N, t);
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 4, 1);
    quiet_opts(&o, 0, 8, 1e-3, 12);
    CU_ASSERT_FATAL(ab_train_predictor(d, "t", &cfg, &o, &p) == AB_OK);
    long idx[N];
    long n_train = derive_train_split(o.seed, N, o.train_ratio, idx);
    CU_ASSERT_FATAL(p->n_train == n_train);
    for (int u = 0; u < sp->n_units; u++)
        for (int c = 1; c <= p->stage_hmax; c++) {
            double s0 = 0, s1 = 0, s2 = 0;
            for (long i = 0; i < n_train; i++) {
                if (unit_nodes(sp, u, &archs[idx[i]]) != c) continue;
                s0 += 1;
                s1 += t[idx[i]];
            }
            double mean = s0 > 0 ? s1 / s0 : 0;
            for (long i = 0; i < n_train; i++) {
                if (unit_nodes(sp, u, &archs[idx[i]]) == c)
                    s2 += (t[idx[i]] - mean) * (t[idx[i]] - mean);
            }
            double sd = s0 > 0 ? sqrt(s2 / s0) : 1.0;
            const double *m = stage_moment(p, u, c);
            CU_ASSERT(fabs(m[0] - mean) <= 1e-12 * fmax(1, fabs(mean)));
            CU_ASSERT(fabs(m[1] - sd) <= 1e-12 * fmax(1, sd));
        }
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
}

static void test_stage_moments(void)
{
    stage_moments_equal_labels("ofa_mbv3", 4);
    stage_moments_equal_labels("ofa_pn", 5);
    stage_moments_random("ofa_mbv3");
    stage_moments_random("ofa_pn");
}

/* ---- 7. training input errors -------------------------------------------- */

static void test_train_input_errors(void)
{
    enum { N = 20 };
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 4, N);
    const char *names[] = {"m", "c"};
    double met[N * 2];
    for (int i = 0; i < N; i++) {
        met[2 * i] = 10 + i;
        met[2 * i + 1] = 3;
    }
    met[2 * 3] = 1; /* row 4: log10(m - 5) is NaN */
    met[2 * 7] = 5; /* row 8: -inf */
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_predictor *p = NULL;
    small_cfg(&cfg, 4, 1);
    quiet_opts(&o, 1, 8, 1e-3, 1);

    struct ab_dataset *d9 = make_dataset("ofa_mbv3", archs, 9, 2, names, met);
    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d9, "m", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);
    CU_ASSERT(msg_has("10"));
    ab_dataset_destroy(&d9);

    struct ab_dataset *d10 = make_dataset("ofa_mbv3", archs, 10, 2, names, met + 2 * 10);
    CU_ASSERT(ab_train_predictor(d10, "m", &cfg, &o, &p) == AB_OK);
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d10);

    struct ab_dataset *d = make_dataset("ofa_mbv3", archs, N, 2, names, met);
    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "m/foo", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);
    CU_ASSERT(msg_has("foo"));

    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "np.log10(m - 5)", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);
    CU_ASSERT(msg_has("row 4"));

    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "c", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);
    CU_ASSERT(msg_has("constant"));
    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "m*0 + 2", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("constant"));

    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "m +", &cfg, &o, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);

    struct ab_train_opts neg = o;
    neg.epochs = -1;
    ab_err_clear();
    CU_ASSERT(ab_train_predictor(d, "m", &cfg, &neg, &p) == AB_ERR_INPUT);
    CU_ASSERT(p == NULL);

    ab_dataset_destroy(&d);
    free(archs);
    ab_space_destroy(&sp);
}

/* ---- small API contracts --------------------------------------------------- */

static void test_node_embeddings_width(void)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch *archs = sample_archs(sp, 2, 3);
    struct ab_graph_batch *b = batch_of(sp, archs, 3);
    struct ab_pred_config cfg;
    struct ab_predictor *p = NULL;
    struct ab_pred_ws *ws = NULL;
    small_cfg(&cfg, 8, 2);
    CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 1, &p) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 0) == AB_OK);
    /* the hop-l graph norm is the L1 norm of the pooled node embeddings */
    for (int l = 0; l <= cfg.layers; l++) {
        int w = -1;
        const float *h = ab_pred_node_embeddings(p, ws, l, &w);
        int want = l == 0 ? sp->n_features : cfg.hidden;
        CU_ASSERT(w == want);
        for (int g = 0; g < b->n_graphs; g++) {
            double norm = 0;
            for (int k = 0; k < want; k++) {
                double s = 0;
                for (int v = b->graph_ptr[g]; v < b->graph_ptr[g + 1]; v++)
                    s += h[(size_t)v * (size_t)want + (size_t)k];
                norm += fabs(s / (b->graph_ptr[g + 1] - b->graph_ptr[g]));
            }
            CU_ASSERT(fabs(norm - ab_pred_hop_norms(ws, l)[g]) <= 1e-4 * fmax(1, norm));
        }
    }
    ab_pred_ws_destroy(&ws);
    ab_predictor_destroy(&p);
    ab_graph_batch_destroy(&b);
    free(archs);
    ab_space_destroy(&sp);
}

/* Removes what the tests left in the temporary folder; it must then be
 * empty of anything else. */
static void test_cleanup(void)
{
    static const char *names[] = {"text.h5", "truncated.h5", "archdata.h5", "missing_weight.h5",
                                  "wrong_shape.h5"};
    char path[512];
    if (!tmpdir[0]) return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tmp_path(path, sizeof path, names[i]);
        unlink(path);
    }
    CU_ASSERT(rmdir(tmpdir) == 0);
}

/* The distinct values a numeric attribute takes, in order first seen
 * (tests/data/attrs.yaml: kernel is 0 for choices without it). */
static void test_attr_values(void)
{
    struct ab_space *sp = NULL;
    char path[1024];
    double v[8];
    snprintf(path, sizeof path, "%s/attrs.yaml",
             getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data");
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &sp), AB_OK);
    CU_ASSERT_EQUAL(ab_pred_attr_values(sp, "kernel", v, 8), 4);
    CU_ASSERT(v[0] == 0 && v[1] == 3 && v[2] == 5 && v[3] == 1);
    CU_ASSERT_EQUAL(ab_pred_attr_values(sp, "expand", v, 8), 3);
    CU_ASSERT(v[0] == 0 && v[1] == 3 && v[2] == 6);
    CU_ASSERT_EQUAL(ab_pred_attr_values(sp, "kernel", v, 2), 2); /* capped */
    CU_ASSERT_EQUAL(ab_pred_attr_values(sp, "nosuch", v, 8), 0);
    ab_space_destroy(&sp);
}

static const struct cu_case cases[] = {
    {"numeric attribute values for importance", test_attr_values},
    {"whole-model gradient vs finite differences", test_gradient_check},
    {"overfits 16 architectures (lambda 0)", test_overfit_mse},
    {"overfits 16 architectures (lambda 1)", test_overfit_rank},
    {"learns a macs-like ranking: test and hop SRCC", test_srcc_macs_like},
    {"training is deterministic per seed", test_determinism},
    {"threads agree with one thread", test_threads_agree},
    {"training with threads is deterministic", test_threads_training_deterministic},
    {"a last batch of one graph trains", test_last_batch_of_one},
    {"checkpoint round trip is exact", test_checkpoint_round_trip},
    {"checkpoint keeps the training settings", test_checkpoint_training_settings},
    {"checkpoint load errors name the file", test_checkpoint_load_errors},
    {"stage moments per unit and node count", test_stage_moments},
    {"training input errors", test_train_input_errors},
    {"node embeddings report their width", test_node_embeddings_width},
    {"temporary files removed", test_cleanup},
    {NULL, NULL}};

CU_MAIN("predictor", cases)
