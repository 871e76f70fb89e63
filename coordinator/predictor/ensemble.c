/* SPDX-License-Identifier: MIT
 *
 * This file implements predictor ensembles (ensemble.h): training members
 * across MPI ranks, gathering them on rank 0, and the ensemble file.
 */
#include "predictor/ensemble.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "predictor/checkpoint.h"
#include "util/fsutil.h"
#include "util/log.h"

#define FORMAT "autobuild-ensemble"
#define VERSION 1

void ab_ensemble_destroy(struct ab_ensemble **ep)
{
    struct ab_ensemble *e;
    if (!ep || !*ep) return;
    e = *ep;
    for (int i = 0; i < e->n && e->member; i++) ab_predictor_destroy(&e->member[i]);
    free(e->member);
    free(e->target);
    free(e);
    *ep = NULL;
}

/* ---- packing a trained member for MPI ------------------------------------- */

/* Doubles of a member's training results (after the float parameters). */
static size_t meta_count(const struct ab_predictor *p)
{
    size_t L1 = (size_t)p->cfg.layers + 1;
    return 16 + 3 * L1 + (size_t)p->stage_units * (size_t)p->stage_hmax * 2;
}

static void pack_meta(const struct ab_predictor *p, double *m)
{
    size_t L1 = (size_t)p->cfg.layers + 1, k = 0;
    m[k++] = p->label_mean;
    m[k++] = p->label_std;
    m[k++] = p->test_srcc;
    m[k++] = p->test_mae;
    m[k++] = p->test_mape;
    m[k++] = p->seconds;
    m[k++] = (double)p->n_train;
    m[k++] = (double)p->n_test;
    m[k++] = (double)p->epochs;
    m[k++] = (double)p->batch;
    m[k++] = (double)p->seed;
    m[k++] = p->lr;
    m[k++] = p->weight_decay;
    m[k++] = p->stage_units;
    m[k++] = p->stage_hmax;
    m[k++] = 0;
    for (size_t l = 0; l < L1; l++) m[k++] = p->hop_mean[l];
    for (size_t l = 0; l < L1; l++) m[k++] = p->hop_std[l];
    for (size_t l = 0; l < L1; l++) m[k++] = p->hop_srcc[l];
    for (size_t i = 0; i < (size_t)p->stage_units * (size_t)p->stage_hmax * 2; i++)
        m[k++] = p->stage_moments[i];
}

static ab_status unpack_meta(struct ab_predictor *p, const double *m, size_t n)
{
    size_t L1 = (size_t)p->cfg.layers + 1, k = 0;
    p->label_mean = m[k++];
    p->label_std = m[k++];
    p->test_srcc = m[k++];
    p->test_mae = m[k++];
    p->test_mape = m[k++];
    p->seconds = m[k++];
    p->n_train = (long)m[k++];
    p->n_test = (long)m[k++];
    p->epochs = (long)m[k++];
    p->batch = (long)m[k++];
    p->seed = (long)m[k++];
    p->lr = m[k++];
    p->weight_decay = m[k++];
    p->stage_units = (int)m[k++];
    p->stage_hmax = (int)m[k++];
    k++;
    for (size_t l = 0; l < L1; l++) p->hop_mean[l] = m[k++];
    for (size_t l = 0; l < L1; l++) p->hop_std[l] = m[k++];
    for (size_t l = 0; l < L1; l++) p->hop_srcc[l] = m[k++];
    size_t sm = (size_t)p->stage_units * (size_t)p->stage_hmax * 2;
    if (k + sm != n) return ab_err_set(AB_ERR_INTERNAL, "internal error: member message size");
    p->stage_moments = malloc(sizeof(double) * (sm ? sm : 1));
    if (!p->stage_moments) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sm; i++) p->stage_moments[i] = m[k++];
    return AB_OK;
}

/* ---- training --------------------------------------------------------------- */

ab_status ab_ensemble_train(const struct ab_dataset *d, const char *target,
                            const struct ab_pred_config *cfg, const struct ab_train_opts *o,
                            int folds, int seeds, const struct ab_runtime *rt,
                            struct ab_ensemble **out)
{
    ab_status rc = AB_OK;
    struct ab_ensemble *e = NULL;
    const int rank = rt->rank, size = rt->size;
    int n = folds * seeds, failed = 0, any_failed = 0;
    double *meta = NULL;
    char msg[1024] = "";
    *out = NULL;
    AB_CHECK(folds >= 2 && seeds >= 1 && n <= 4096, AB_ERR_INPUT,
             "--folds must be >= 2 and --seeds >= 1 (got %d and %d)", folds, seeds);
    e = calloc(1, sizeof *e);
    AB_CHECK_ALLOC(e);
    e->folds = folds;
    e->seeds = seeds;
    e->n = n;
    e->target = strdup(target);
    e->member = calloc((size_t)n, sizeof *e->member);
    AB_CHECK(e->target && e->member, AB_ERR_NOMEM, "out of memory");
    for (int m = rank; m < n && !failed; m += size) {
        struct ab_train_opts mo = *o;
        mo.seed = o->seed + (unsigned long long)(m % seeds);
        mo.threads = 1;
        mo.progress_s = 0;
        if (ab_train_member(d, target, cfg, &mo, folds, m / seeds, o->seed, &e->member[m]) != AB_OK) {
            failed = 1;
            snprintf(msg, sizeof msg, "%s", ab_err_msg());
        } else {
            AB_LOG_I("member %d/%d (fold %d, seed %llu): held-out SRCC %.4f (%.1f s)", m + 1, n,
                     m / seeds + 1, mo.seed, e->member[m]->test_srcc, e->member[m]->seconds);
        }
    }
    if (rt->mpi) {
        /* every rank learns whether any failed; the first failing rank's
         * message is broadcast */
        int who = failed ? rank : size, first = size;
        AB_MPI(MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, rt->comm));
        any_failed = first < size;
        if (any_failed) {
            AB_MPI(MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, rt->comm));
            AB_FAIL(AB_ERR_INPUT, "%s", msg);
        }
    } else if (failed) {
        AB_FAIL(AB_ERR_INPUT, "%s", msg);
    }
    /* gather: members trained elsewhere come to rank 0 */
    for (int m = 0; rt->mpi && m < n; m++) {
        int owner = m % size;
        if (owner == 0) continue;
        if (rank == owner) {
            struct ab_predictor *p = e->member[m];
            size_t nm = meta_count(p);
            meta = realloc(meta, sizeof(double) * nm);
            AB_CHECK_ALLOC(meta);
            pack_meta(p, meta);
            AB_MPI(MPI_Send(p->params, (int)p->n_params, MPI_FLOAT, 0, 2 * m, rt->comm));
            AB_MPI(MPI_Send(p->bufs, (int)p->n_bufs, MPI_FLOAT, 0, 2 * m + 1, rt->comm));
            int nmi = (int)nm;
            AB_MPI(MPI_Send(&nmi, 1, MPI_INT, 0, 2 * m, rt->comm));
            AB_MPI(MPI_Send(meta, nmi, MPI_DOUBLE, 0, 2 * m + 1, rt->comm));
        } else if (rank == 0) {
            struct ab_predictor *p = NULL;
            int nmi = 0;
            AB_CALL(ab_predictor_create(d->space, cfg, 0, &p));
            e->member[m] = p;
            p->target = strdup(target);
            AB_CHECK_ALLOC(p->target);
            AB_MPI(MPI_Recv(p->params, (int)p->n_params, MPI_FLOAT, owner, 2 * m, rt->comm,
                            MPI_STATUS_IGNORE));
            AB_MPI(MPI_Recv(p->bufs, (int)p->n_bufs, MPI_FLOAT, owner, 2 * m + 1, rt->comm,
                            MPI_STATUS_IGNORE));
            AB_MPI(MPI_Recv(&nmi, 1, MPI_INT, owner, 2 * m, rt->comm, MPI_STATUS_IGNORE));
            AB_CHECK(nmi > 0 && nmi < (1 << 24), AB_ERR_MPI, "bad member message from rank %d",
                     owner);
            meta = realloc(meta, sizeof(double) * (size_t)nmi);
            AB_CHECK_ALLOC(meta);
            AB_MPI(MPI_Recv(meta, nmi, MPI_DOUBLE, owner, 2 * m + 1, rt->comm, MPI_STATUS_IGNORE));
            AB_CALL(unpack_meta(p, meta, (size_t)nmi));
        }
    }
    if (rank == 0) {
        *out = e;
        e = NULL;
    }
cleanup:
    free(meta);
    ab_ensemble_destroy(&e);
    return rc;
}

/* ---- files -------------------------------------------------------------------- */

ab_status ab_ensemble_save(const struct ab_ensemble *e, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096], name[64];
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    const struct ab_space *sp = e->member[0]->space;
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create", tmp);
    AB_CALL(ab_h5_write_identity(f, FORMAT, VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "space", sp->name));
    AB_CALL(ab_h5_write_str_attr(f, "space_definition", sp->definition));
    AB_CALL(ab_h5_write_str_attr(f, "target", e->target));
    AB_CALL(ab_h5_write_i64_attr(f, "folds", e->folds));
    AB_CALL(ab_h5_write_i64_attr(f, "seeds", e->seeds));
    AB_CALL(ab_h5_write_i64_attr(f, "n_members", e->n));
    for (int m = 0; m < e->n; m++) {
        snprintf(name, sizeof name, "member_%d", m);
        AB_H5(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "%s", name);
        AB_CALL(ab_predictor_write_group(e->member[m], g));
        ab_h5_close(&g);
    }
    AB_H5(H5Fclose(f), "%s: cannot close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    ab_h5_close(&g);
    if (rc) {
        ab_h5_close(&f);
        unlink(tmp);
    }
    return rc;
}

ab_status ab_ensemble_load(const char *path, struct ab_ensemble **out)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    struct ab_ensemble *e = NULL;
    int64_t folds, seeds, n;
    char name[64];
    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, FORMAT, VERSION, &f, NULL));
    e = calloc(1, sizeof *e);
    AB_CHECK_ALLOC(e);
    if (ab_h5_read_str_attr(f, "target", &e->target) || ab_h5_read_i64_attr(f, "folds", &folds) ||
        ab_h5_read_i64_attr(f, "seeds", &seeds) || ab_h5_read_i64_attr(f, "n_members", &n)) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    AB_CHECK(n >= 1 && n <= 4096 && n == folds * seeds, AB_ERR_INPUT,
             "%s: n_members %lld does not equal folds x seeds", path, (long long)n);
    e->folds = (int)folds;
    e->seeds = (int)seeds;
    e->member = calloc((size_t)n, sizeof *e->member);
    AB_CHECK_ALLOC(e->member);
    e->n = (int)n;
    for (int m = 0; m < e->n; m++) {
        snprintf(name, sizeof name, "member_%d", m);
        AB_CHECK(H5Lexists(f, name, H5P_DEFAULT) > 0, AB_ERR_INPUT, "%s: missing group '%s'", path,
                 name);
        AB_H5R(g = H5Gopen2(f, name, H5P_DEFAULT), "%s: %s", path, name);
        if (ab_predictor_read_group(g, path, &e->member[m])) {
            rc = ab_err_prefix("%s", name);
            goto cleanup;
        }
        ab_h5_close(&g);
    }
    *out = e;
    e = NULL;
cleanup:
    ab_h5_close(&g);
    ab_h5_close(&f);
    ab_ensemble_destroy(&e);
    return rc;
}

int ab_ensemble_is_file(const char *path)
{
    hid_t f = H5I_INVALID_HID;
    int yes = 0;
    if (ab_h5_open_checked(path, FORMAT, VERSION, &f, NULL) == AB_OK) yes = 1;
    ab_h5_close(&f);
    ab_err_clear();
    return yes;
}

/* A predictor file as an ensemble: an ensemble file, or one predictor as
 * an ensemble of one. */
ab_status ab_ensemble_load_any(const char *path, struct ab_ensemble **ens)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_ensemble *e = NULL;
    if (ab_ensemble_is_file(path)) return ab_ensemble_load(path, ens);
    AB_CALL(ab_predictor_load(path, &p));
    e = calloc(1, sizeof *e);
    AB_CHECK_ALLOC(e);
    e->member = calloc(1, sizeof *e->member);
    AB_CHECK_ALLOC(e->member);
    e->n = e->folds = e->seeds = 1;
    e->member[0] = p;
    p = NULL;
    *ens = e;
    e = NULL;
cleanup:
    ab_ensemble_destroy(&e);
    ab_predictor_destroy(&p);
    return rc;
}


ab_status ab_ensemble_predict(struct ab_ensemble *e, const struct ab_arch *archs, long n,
                              double *mean, double *sd)
{
    ab_status rc = AB_OK;
    float *out = NULL;
    double *sum2 = NULL;
    AB_CHECK(e && e->n > 0, AB_ERR_INPUT, "an ensemble without members");
    if (n <= 0) return AB_OK;
    out = malloc(sizeof *out * (size_t)n);
    sum2 = calloc((size_t)n, sizeof *sum2);
    AB_CHECK(out && sum2, AB_ERR_NOMEM, "out of memory");
    for (long i = 0; i < n; i++) mean[i] = 0.0;
    for (int m = 0; m < e->n; m++) {
        struct ab_predictor *p = e->member[m];
        AB_CALL(ab_pred_eval_archs(p, archs, n, 1024, out, NULL, NULL));
        for (long i = 0; i < n; i++) {
            double y = (double)out[i] * p->label_std + p->label_mean;
            mean[i] += y;
            sum2[i] += y * y;
        }
    }
    for (long i = 0; i < n; i++) {
        mean[i] /= e->n;
        if (sd) {
            double var = e->n > 1 ? (sum2[i] - e->n * mean[i] * mean[i]) / (e->n - 1) : 0.0;
            sd[i] = var > 0 ? sqrt(var) : 0.0;
        }
    }
cleanup:
    free(out);
    free(sum2);
    return rc;
}
