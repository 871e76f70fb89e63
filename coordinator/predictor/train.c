/* SPDX-License-Identifier: MIT
 *
 * This file implements predictor training (train.h): data preparation, the
 * epoch loop with progress lines, and the post-training statistics stored in
 * the checkpoint (test metrics, hop moments, stage/hop label moments).
 */
#include "predictor/train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "equation/equation.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/stats.h"

void ab_train_opts_default(struct ab_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 200;
    o->batch = 128;
    o->lr = 1e-4;
    o->wd = 1e-5;
    o->clip = 5.0;
    o->seed = 1;
    o->train_ratio = 0.9;
    o->threads = 0;
    o->progress_s = 2.0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Evaluates the target equation on every row (errors name the row). */
static ab_status eval_target(const struct ab_dataset *d, const char *target, double *y)
{
    ab_status rc = AB_OK;
    struct ab_equation *eq = NULL;
    AB_CALL(ab_equation_parse(target, &eq));
    AB_CALL(ab_equation_bind(eq, (const char *const *)d->metric_names, d->n_metrics));
    AB_CALL(ab_equation_eval_rows(eq, d->metrics, d->n, d->n_metrics, 0, y));
cleanup:
    ab_equation_destroy(&eq);
    return rc;
}

static void shuffle(struct ab_rng *r, long *idx, long n)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ab_rng_below(r, (uint64_t)i + 1);
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Stage/hop label moments (METHOD.md section 4): per unit u and node count
 * c, mean and population std of the raw labels of the training archs whose
 * unit u has c nodes. */
static ab_status stage_moments(struct ab_predictor *p, const struct ab_arch *archs,
                               const double *y, const long *idx, long n)
{
    ab_status rc = AB_OK;
    const struct ab_space *sp = p->space;
    int hmax = 1;
    double *acc = NULL;
    for (int u = 0; u < sp->n_units; u++) {
        int m = 0;
        for (int k = 0; k < sp->units[u].n_stages; k++)
            m += sp->stages[sp->units[u].first + k].max_layers;
        if (m > hmax) hmax = m;
    }
    free(p->stage_moments);
    p->stage_units = sp->n_units;
    p->stage_hmax = hmax;
    p->stage_moments = calloc((size_t)sp->n_units * (size_t)hmax * 2, sizeof(double));
    acc = calloc((size_t)sp->n_units * (size_t)hmax * 3, sizeof(double));
    AB_CHECK_ALLOC(p->stage_moments);
    AB_CHECK_ALLOC(acc);
    for (long t = 0; t < n; t++) {
        const struct ab_arch *a = &archs[idx[t]];
        for (int u = 0; u < sp->n_units; u++) {
            int c = 0;
            for (int k = 0; k < sp->units[u].n_stages; k++) c += a->depth[sp->units[u].first + k];
            double *s = acc + 3 * ((size_t)u * (size_t)hmax + (size_t)(c - 1));
            s[0] += 1;
            s[1] += y[idx[t]];
        }
    }
    for (size_t k = 0; k < (size_t)sp->n_units * (size_t)hmax; k++)
        if (acc[3 * k] > 0) acc[3 * k + 1] /= acc[3 * k];
    for (long t = 0; t < n; t++) {
        const struct ab_arch *a = &archs[idx[t]];
        for (int u = 0; u < sp->n_units; u++) {
            int c = 0;
            for (int k = 0; k < sp->units[u].n_stages; k++) c += a->depth[sp->units[u].first + k];
            double *s = acc + 3 * ((size_t)u * (size_t)hmax + (size_t)(c - 1));
            s[2] += (y[idx[t]] - s[1]) * (y[idx[t]] - s[1]);
        }
    }
    for (size_t k = 0; k < (size_t)sp->n_units * (size_t)hmax; k++) {
        double *s = acc + 3 * k;
        p->stage_moments[2 * k] = s[0] > 0 ? s[1] : 0.0;
        p->stage_moments[2 * k + 1] = s[0] > 0 ? sqrt(s[2] / s[0]) : 1.0;
    }
cleanup:
    free(acc);
    return rc;
}

/* Test metrics, hop SRCCs and hop moments after training. */
static ab_status evaluate(struct ab_predictor *p, const struct ab_arch *archs, const double *y,
                          const long *train, long n_train, const long *test, long n_test)
{
    ab_status rc = AB_OK;
    const int L = p->cfg.layers;
    struct ab_arch *sub = NULL;
    float *out = NULL, *hops = NULL;
    double *yt = NULL, *pt = NULL, nn[3 * (AB_PRED_MAX_LAYERS + 1)];
    long m = n_test > n_train ? n_test : n_train;
    sub = calloc((size_t)(m ? m : 1), sizeof *sub);
    out = malloc(sizeof *out * (size_t)m);
    hops = malloc(sizeof *hops * (size_t)m * (size_t)(L + 1));
    yt = malloc(sizeof *yt * (size_t)m);
    pt = malloc(sizeof *pt * (size_t)m);
    AB_CHECK(sub && out && hops && yt && pt, AB_ERR_NOMEM, "out of memory evaluating");
    /* test split */
    for (long i = 0; i < n_test; i++) sub[i] = archs[test[i]];
    AB_CALL(ab_pred_eval_archs(p, sub, n_test, 1024, out, hops, NULL));
    for (long i = 0; i < n_test; i++) {
        yt[i] = y[test[i]];
        pt[i] = (double)out[i] * p->label_std + p->label_mean;
    }
    p->test_srcc = ab_stats_spearman(yt, pt, (int)n_test);
    p->test_mae = ab_stats_mae(yt, pt, (int)n_test);
    p->test_mape = ab_stats_mape(yt, pt, (int)n_test);
    for (int l = 0; l <= L; l++) {
        for (long i = 0; i < n_test; i++) pt[i] = hops[(size_t)l * (size_t)n_test + (size_t)i];
        p->hop_srcc[l] = ab_stats_spearman(yt, pt, (int)n_test);
    }
    /* hop moments over every training node (unbiased std, as torch.std_mean) */
    for (long i = 0; i < n_train; i++) sub[i] = archs[train[i]];
    AB_CALL(ab_pred_eval_archs(p, sub, n_train, 1024, NULL, NULL, nn));
    for (int l = 0; l <= L; l++) {
        double c = nn[3 * l + 2], mean = nn[3 * l] / c;
        double var = c > 1 ? (nn[3 * l + 1] - c * mean * mean) / (c - 1) : 0.0;
        p->hop_mean[l] = mean;
        p->hop_std[l] = sqrt(var > 0 ? var : 0.0);
    }
cleanup:
    free(sub);
    free(out);
    free(hops);
    free(yt);
    free(pt);
    return rc;
}

/* Trains on the rows train[0..n_train) (shuffled in place every epoch with
 * rng) and evaluates on test[0..n_test); y are the raw labels of all rows. */
static ab_status train_on(const struct ab_dataset *d, const double *y, long *train, long n_train,
                          const long *test, long n_test, const char *target,
                          const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                          struct ab_rng *rng, struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_pred_ws *ws = NULL;
    struct ab_graph_batch *b = NULL;
    double mean = 0, var = 0, t0 = now_s(), last = t0;
    float *yb = NULL, *adam_m = NULL, *adam_v = NULL;
    long step = 0;
    *out = NULL;
    yb = malloc(sizeof *yb * (size_t)(o->batch > 0 ? o->batch : 1));
    AB_CHECK(yb, AB_ERR_NOMEM, "out of memory");
    for (long i = 0; i < n_train; i++) mean += y[train[i]];
    mean /= n_train;
    for (long i = 0; i < n_train; i++) var += (y[train[i]] - mean) * (y[train[i]] - mean);
    var /= n_train; /* population std, as np.std */
    AB_CHECK(var > 0, AB_ERR_INPUT,
             "the target '%s' is constant (%g) on the training split; nothing to learn", target,
             mean);
    /* our threads split each batch; BLAS runs single-threaded inside them */
    openblas_set_num_threads(1);
    AB_CALL(ab_predictor_create(d->space, cfg, o->seed, &p));
    p->threads = o->threads > 0 ? o->threads : 1;
    p->target = strdup(target);
    AB_CHECK_ALLOC(p->target);
    p->label_mean = mean;
    p->label_std = sqrt(var);
    AB_CALL(ab_pred_ws_create(p, &ws));
    AB_CALL(ab_pred_ws_set_threads(p, ws, p->threads));
    AB_CALL(ab_graph_batch_create(p->n_fe, &b));
    adam_m = calloc(p->n_params, sizeof(float));
    adam_v = calloc(p->n_params, sizeof(float));
    AB_CHECK(adam_m && adam_v, AB_ERR_NOMEM, "out of memory");
    if (o->progress_s > 0)
        AB_LOG_I("training %s predictor on '%s': %ld train / %ld test architectures of %s, "
                 "%zu parameters, %ld epochs", cfg->gnn == AB_GNN_GATV2 ? "GATv2" : "GraphConv",
                 target, n_train, n_test, d->space->name, p->n_params, o->epochs);
    for (long ep = 0; ep < o->epochs; ep++) {
        double sum_loss = 0, sum_mse = 0, sum_rank = 0;
        long batches = 0;
        shuffle(rng, train, n_train);
        for (long s = 0; s < n_train; s += o->batch) {
            long e = s + o->batch < n_train ? s + o->batch : n_train;
            double mse, rank;
            ab_graph_batch_clear(b);
            for (long i = s; i < e; i++) {
                AB_CALL(ab_graph_batch_add_arch(b, p->space, &d->archs[train[i]]));
                yb[i - s] = (float)((y[train[i]] - mean) / p->label_std);
            }
            AB_CALL(ab_pred_forward(p, ws, b, 1));
            sum_loss += ab_pred_loss_backward(p, ws, yb, &mse, &rank);
            sum_mse += mse;
            sum_rank += rank;
            batches++;
            ab_nn_clip_grad_norm(p->grads, p->n_params, o->clip);
            ab_nn_adamw_step(p->params, p->grads, adam_m, adam_v, p->n_params, (float)o->lr,
                             0.9f, 0.999f, 1e-8f, (float)o->wd, ++step);
        }
        double t = now_s();
        if (o->progress_s > 0 && (t - last >= o->progress_s || ep + 1 == o->epochs)) {
            double rate = (ep + 1) / (t - t0);
            AB_LOG_I("epoch %ld/%ld  loss %.4f (mse %.4f, rank %.4f)  %.1f epoch/s  ETA %.0f s",
                     ep + 1, o->epochs, sum_loss / batches, sum_mse / batches,
                     sum_rank / batches, rate, (o->epochs - ep - 1) / rate);
            last = t;
        }
        AB_CHECK(isfinite(sum_loss), AB_ERR_INPUT,
                 "training diverged at epoch %ld (loss is not finite); lower --lr", ep + 1);
    }
    p->seconds = now_s() - t0;
    p->n_train = n_train;
    p->n_test = n_test;
    p->epochs = o->epochs;
    p->batch = o->batch;
    p->seed = (long)o->seed;
    p->lr = o->lr;
    p->weight_decay = o->wd;
    AB_CALL(evaluate(p, d->archs, y, train, n_train, test, n_test));
    AB_CALL(stage_moments(p, d->archs, y, train, n_train));
    *out = p;
    p = NULL;
cleanup:
    free(yb);
    free(adam_m);
    free(adam_v);
    ab_graph_batch_destroy(&b);
    ab_pred_ws_destroy(&ws);
    ab_predictor_destroy(&p);
    return rc;
}

/* The labels of every row; errors name the row. */
static ab_status labels(const struct ab_dataset *d, const char *target, const struct ab_train_opts *o,
                        double **y)
{
    ab_status rc = AB_OK;
    *y = malloc(sizeof **y * (size_t)(d->n ? d->n : 1));
    AB_CHECK_ALLOC(*y);
    AB_CHECK(o->batch >= 2, AB_ERR_INPUT, "--batch must be at least 2, got %d", o->batch);
    AB_CHECK(o->epochs >= 0, AB_ERR_INPUT, "--epochs must be >= 0");
    AB_CALL(eval_target(d, target, *y));
    AB_CHECK(d->n >= 10, AB_ERR_INPUT,
             "the dataset has %ld labelled rows; training needs at least 10 (a 90/10 split "
             "must leave a test set)", d->n);
cleanup:
    if (rc) {
        free(*y);
        *y = NULL;
    }
    return rc;
}

ab_status ab_train_predictor(const struct ab_dataset *d, const char *target,
                             const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                             struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    struct ab_rng rng;
    double *y = NULL;
    long *idx = NULL, n = d->n, n_train;
    *out = NULL;
    AB_CALL(labels(d, target, o, &y));
    idx = malloc(sizeof *idx * (size_t)n);
    AB_CHECK_ALLOC(idx);
    n_train = (long)(o->train_ratio * (double)n);
    if (n_train > n - 1) n_train = n - 1;
    ab_rng_seed(&rng, o->seed);
    for (long i = 0; i < n; i++) idx[i] = i;
    shuffle(&rng, idx, n);
    /* idx[0..n_train) is shuffled in place every epoch; the test rows stay */
    AB_CALL(train_on(d, y, idx, n_train, idx + n_train, n - n_train, target, cfg, o, &rng, out));
cleanup:
    free(y);
    free(idx);
    return rc;
}

ab_status ab_train_member(const struct ab_dataset *d, const char *target,
                          const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                          int folds, int fold, unsigned long long split_seed,
                          struct ab_predictor **out)
{
    ab_status rc = AB_OK;
    struct ab_rng rng;
    double *y = NULL;
    long *idx = NULL, *train = NULL, *test = NULL, n = d->n, n_train = 0, n_test = 0;
    *out = NULL;
    AB_CHECK(folds >= 2 && fold >= 0 && fold < folds, AB_ERR_INPUT,
             "--folds must be at least 2, got %d", folds);
    AB_CALL(labels(d, target, o, &y));
    AB_CHECK(n >= folds, AB_ERR_INPUT, "%ld rows cannot be split into %d folds", n, folds);
    idx = malloc(sizeof *idx * (size_t)n);
    train = malloc(sizeof *train * (size_t)n);
    test = malloc(sizeof *test * (size_t)n);
    AB_CHECK(idx && train && test, AB_ERR_NOMEM, "out of memory");
    /* the same fold assignment for every member: a shuffle by split_seed,
     * then row r of the shuffled order is in fold r mod folds */
    ab_rng_seed(&rng, split_seed);
    for (long i = 0; i < n; i++) idx[i] = i;
    shuffle(&rng, idx, n);
    for (long r = 0; r < n; r++) {
        if (r % folds == fold) test[n_test++] = idx[r];
        else train[n_train++] = idx[r];
    }
    ab_rng_seed(&rng, o->seed);
    AB_CALL(train_on(d, y, train, n_train, test, n_test, target, cfg, o, &rng, out));
cleanup:
    free(y);
    free(idx);
    free(train);
    free(test);
    return rc;
}
