/* SPDX-License-Identifier: MIT
 *
 * This file implements the campaign's stages (campaign.h): data, train,
 * label, reduce, search and report, each skipped when its stamp is
 * complete, and the step protocol that takes the worker ranks through
 * every stage that needs them.
 *
 * Steps (MPI_Bcast of struct step from rank 0): DISPATCH - the workers
 * serve evaluations (ab_dispatch_serve) until the coordinator stops them;
 * ENSEMBLE - every rank reads the dataset and trains its share of an
 * ensemble's members (ab_ensemble_train); END - the campaign is over (or
 * failed on rank 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "campaign/campaign.h"
#include "campaign/stamp.h"
#include "data/dataset.h"
#include "equation/equation.h"
#include "eval/evaluator.h"
#include "modules/units.h"
#include "predictor/checkpoint.h"
#include "predictor/ensemble.h"
#include "report/search_report.h"
#include "search/dispatch.h"
#include "search/label.h"
#include "store/store.h"
#include "util/fsutil.h"
#include "util/log.h"

enum { STEP_END = 0, STEP_DISPATCH = 1, STEP_ENSEMBLE = 2 };

struct step {
    int kind;
    int folds, seeds;
    struct ab_pred_config cfg;
    struct ab_train_opts opts;
    char data[PATH_MAX];
    char target[AB_EQUATION_MAX_LEN + 1];
};

struct run {
    const struct ab_runtime *rt;
    const struct ab_campaign *c;
    struct ab_campaign_summary *sum;
    double t0;
};

/* A progress line "[campaign] ..." on stderr (at log level info). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ab_log_vprogress("[campaign] ", fmt, ap);
    va_end(ap);
}

/* Steps travel by a non-blocking broadcast so that waiting workers can
 * sleep between polls instead of spinning (rank 0 may train for hours
 * between two steps, and the workers share its node). */
static void announce(const struct ab_runtime *rt, struct step *s)
{
    MPI_Request req;
    if (!rt->mpi || rt->size <= 1) return;
    if (MPI_Ibcast(s, (int)sizeof *s, MPI_BYTE, 0, rt->comm, &req) == MPI_SUCCESS)
        MPI_Wait(&req, MPI_STATUS_IGNORE);
}

/* Worker side of announce(): waits with growing sleeps (at most 20 ms). */
static ab_status await_step(const struct ab_runtime *rt, struct step *s)
{
    MPI_Request req;
    long idle_us = 0;
    int done = 0;
    if (MPI_Ibcast(s, (int)sizeof *s, MPI_BYTE, 0, rt->comm, &req) != MPI_SUCCESS)
        return ab_err_set(AB_ERR_MPI, "campaign: lost the coordinator");
    for (;;) {
        struct timespec ts;
        if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return ab_err_set(AB_ERR_MPI, "campaign: lost the coordinator");
        if (done) return AB_OK;
        idle_us = idle_us ? idle_us * 2 : 10;
        if (idle_us > 20000) idle_us = 20000;
        ts.tv_sec = 0;
        ts.tv_nsec = idle_us * 1000;
        nanosleep(&ts, NULL);
    }
}

void ab_campaign_release(const struct ab_runtime *rt)
{
    struct step s;
    memset(&s, 0, sizeof s);
    s.kind = STEP_END;
    announce(rt, &s);
}

/* DIR/rel into buf (PATH_MAX). */
static ab_status in_dir(const struct ab_campaign *c, const char *rel, char *buf)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", c->dir, rel);
    if (n < 0 || n >= PATH_MAX)
        return ab_err_set(AB_ERR_INPUT, "%s: the campaign folder's path is too long", c->dir);
    return AB_OK;
}

static ab_status make_dir(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
    return AB_OK;
}

/* "HASH/BYTES" of DIR/rel, the form inputs take in identities. */
static ab_status content_id(const struct ab_campaign *c, const char *rel, json_t **out)
{
    char path[PATH_MAX], hex[17], buf[64];
    long bytes;
    AB_TRY(in_dir(c, rel, path));
    AB_TRY(ab_stamp_file_hash(path, hex, &bytes));
    snprintf(buf, sizeof buf, "%s/%ld", hex, bytes);
    *out = json_string(buf);
    return *out ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
}

/* The canonical JSON of an identity object (consumed). */
static ab_status dump_identity(json_t *id, char **out)
{
    *out = id ? json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(id);
    return *out ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
}

/* Compares a stage's stamp with its identity: *skip = 1 when complete
 * (*summary then holds the stamp's summary); otherwise says why the stage
 * runs and removes the stale stamp. */
static ab_status begin_stage(struct run *r, const char *label, const char *name,
                             const char *identity, const char *output, int *skip,
                             json_t **summary)
{
    enum ab_stamp_state s;
    AB_TRY(ab_stamp_check(r->c->dir, name, identity, &s, summary));
    *skip = s == AB_STAMP_COMPLETE;
    if (*skip) return AB_OK;
    if (s == AB_STAMP_CHANGED)
        say("%s: the configuration or inputs changed since %s/%s was made; redoing it and every "
            "later stage", label, r->c->dir, output);
    else if (s == AB_STAMP_DAMAGED)
        say("%s: %s/%s is missing or was changed since it was made; making it again", label,
            r->c->dir, output);
    return ab_stamp_remove(r->c->dir, name);
}

/* The handlers of SIGTERM/SIGUSR1/SIGINT: the dispatch's flag while
 * evaluations run (checkpoint, exit 75), the default action otherwise
 * (every other stage's output is atomic; a rerun redoes the stage). */
static void signals_checkpoint(int on)
{
    if (on) {
        ab_dispatch_install_signals();
        return;
    }
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGINT, SIG_DFL);
}

/* ---- data ---------------------------------------------------------------------- */

/* The data stage's identity; with with_n = 0 the identity of its store,
 * which holds the evaluations of the first architectures drawn with the
 * seed whatever n is (the first n of a longer sample are the shorter
 * sample), so a larger or smaller n keeps every recorded evaluation. */
static ab_status data_identity(const struct ab_campaign *c, int with_n, char **out)
{
    json_t *id = json_object(), *res = json_array(), *ev = json_loads(c->data_evaluators_id, 0,
                                                                      NULL);
    if (!id || !res || !ev) {
        json_decref(id);
        json_decref(res);
        json_decref(ev);
        return ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < c->n_res; i++) json_array_append_new(res, json_integer(c->res[i]));
    json_object_set_new(id, "stage", json_string("data"));
    json_object_set_new(id, "space", json_string(c->space->definition));
    if (with_n) json_object_set_new(id, "n", json_integer(c->n));
    json_object_set_new(id, "seed", json_integer((json_int_t)c->data_seed));
    json_object_set_new(id, "resolutions", res);
    json_object_set_new(id, "evaluators", ev);
    return dump_identity(id, out);
}

static ab_status stage_data(struct run *r)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    char jobs[PATH_MAX], where[PATH_MAX + 16];
    struct ab_eval_context ctx = {c->space, c->origin, c->base_dir, jobs};
    struct ab_eval_chain *chain = NULL;
    struct ab_label *lab = NULL;
    struct ab_label_opts lo = {0};
    struct ab_arch *archs = NULL;
    char *identity = NULL, *store_identity = NULL, *specs = NULL, store_path[PATH_MAX];
    char out[PATH_MAX];
    json_t *summary = NULL;
    const char *outputs[] = {"data.h5"};
    int skip, interrupted = 0;
    long failed = 0, pending = 0;
    double t0 = ab_store_now();
    snprintf(jobs, sizeof jobs, "%s/jobs", c->dir);
    snprintf(where, sizeof where, "%s: data", c->origin);
    AB_CALL(data_identity(c, 1, &identity));
    AB_CALL(data_identity(c, 0, &store_identity));
    AB_CALL(in_dir(c, "data.h5", out));
    AB_CALL(in_dir(c, "data-labels.h5", store_path));
    AB_CALL(begin_stage(r, "data", "data", identity, "data.h5", &skip, &summary));
    if (skip) {
        r->sum->labelled = (long)json_integer_value(json_object_get(summary, "labelled"));
        r->sum->failed = (long)json_integer_value(json_object_get(summary, "failed"));
        say("data: skipped (complete: %ld labelled, %ld failed) -> %s", r->sum->labelled,
            r->sum->failed, out);
        json_object_set_new(r->sum->stages, "data", json_string("skipped"));
        goto cleanup;
    }
    AB_CALL(ab_arch_sample_unique(c->space, c->n, c->data_seed, c->res, c->n_res, &archs));
    AB_CALL(ab_eval_chain_create(&ctx, c->data_run_specs, &chain));
    specs = json_dumps(c->data_run_specs, JSON_COMPACT);
    AB_CHECK_ALLOC(specs);
    lo.space = c->space;
    lo.chain = chain;
    lo.store = store_path;
    lo.identity = store_identity;
    lo.on_other = AB_LABEL_RESTART;
    lo.specs_json = specs;
    lo.base_dir = c->base_dir;
    lo.workdir = jobs;
    lo.progress = "[campaign] data: ";
    lo.origin = where;
    lo.evaluators_key = "data.evaluators";
    AB_CALL(ab_label_open(&lo, &lab));
    signals_checkpoint(1);
    AB_CALL(ab_label_plan(lab, archs, c->n, &pending));
    if (pending > 0) {
        struct step s;
        memset(&s, 0, sizeof s);
        s.kind = STEP_DISPATCH;
        announce(r->rt, &s);
    }
    AB_CALL(ab_label_run(r->rt, lab, &interrupted));
    if (interrupted || ab_dispatch_stop_requested()) {
        r->sum->interrupted = 1;
        say("data: interrupted: %ld/%ld labelled, saved in %s; run the campaign again to "
            "continue", lab->st->n, c->n, store_path);
        goto cleanup;
    }
    AB_CALL(ab_label_write_dataset(lab, out, &failed));
    r->sum->labelled = c->n - failed;
    r->sum->failed = failed;
    summary = json_pack("{s:I,s:I}", "labelled", (json_int_t)r->sum->labelled, "failed",
                        (json_int_t)failed);
    AB_CHECK_ALLOC(summary);
    AB_CALL(ab_stamp_write(c->dir, "data", identity, outputs, 1, summary));
    json_object_set_new(r->sum->stages, "data", json_string("done"));
    say("data: %ld labelled, %ld failed (left out) -> %s (%.1f s)", r->sum->labelled, failed,
        out, ab_store_now() - t0);
cleanup:
    if (lab) {
        ab_status r2 = ab_label_close(&lab);
        if (rc == AB_OK) rc = r2;
    }
    signals_checkpoint(0);
    ab_eval_chain_destroy(&chain);
    free(archs);
    free(specs);
    free(identity);
    free(store_identity);
    json_decref(summary);
    return rc;
}

/* ---- train ------------------------------------------------------------------- */

static json_t *predictor_json(const struct ab_campaign_predictor *p)
{
    return json_pack("{s:s,s:I,s:i,s:f,s:f,s:f,s:I,s:i,s:s,s:i,s:i,s:s,s:s,s:i,s:i,s:i}",
                     "target", p->target, "epochs", (json_int_t)p->opts.epochs, "batch",
                     p->opts.batch, "lr", p->opts.lr, "wd", p->opts.wd, "lambda", p->cfg.lambda,
                     "seed", (json_int_t)p->opts.seed, "threads", p->opts.threads, "gnn",
                     p->cfg.gnn == AB_GNN_GATV2 ? "gatv2" : "graphconv", "hidden", p->cfg.hidden,
                     "layers", p->cfg.layers, "aggr", p->cfg.aggr_mean ? "mean" : "sum", "activ",
                     p->cfg.gnn_slope == 0.0f ? "relu" : "leaky_relu", "norm", p->cfg.norm_ord,
                     "folds", p->folds, "seeds", p->seeds);
}

/* Collective: every rank reads the dataset and trains its members. */
static ab_status ensemble_step(const struct ab_runtime *rt, const struct step *s,
                               struct ab_ensemble **out)
{
    ab_status rc;
    struct ab_dataset *d = NULL;
    int ok, all;
    *out = NULL;
    rc = ab_dataset_read(s->data, &d);
    ok = all = rc == AB_OK;
    if (rt->mpi && rt->size > 1) MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, rt->comm);
    if (!all) {
        if (rc == AB_OK) rc = ab_err_set(AB_ERR_IO, "%s: another rank cannot read it", s->data);
        goto cleanup;
    }
    rc = ab_ensemble_train(d, s->target, &s->cfg, &s->opts, s->folds, s->seeds, rt, out);
cleanup:
    ab_dataset_destroy(&d);
    return rc;
}

static ab_status train_one(struct run *r, const struct ab_campaign_predictor *p,
                           const char *data, const char *out, double *srcc)
{
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    struct ab_predictor *pr = NULL;
    struct ab_ensemble *ens = NULL;
    if (p->folds) {
        struct step *s = calloc(1, sizeof *s);
        AB_CHECK_ALLOC(s);
        s->kind = STEP_ENSEMBLE;
        s->folds = p->folds;
        s->seeds = p->seeds;
        s->cfg = p->cfg;
        s->opts = p->opts;
        snprintf(s->data, sizeof s->data, "%s", data);
        snprintf(s->target, sizeof s->target, "%s", p->target);
        announce(r->rt, s);
        rc = ensemble_step(r->rt, s, &ens);
        free(s);
        if (rc) {
            rc = ab_err_prefix("%s: train %s", data, p->name);
            goto cleanup;
        }
        AB_CALL(ab_ensemble_save(ens, out));
        *srcc = 0;
        for (int m = 0; m < ens->n; m++) *srcc += ens->member[m]->test_srcc / ens->n;
    } else {
        AB_CALL(ab_dataset_read(data, &d));
        if (ab_train_predictor(d, p->target, &p->cfg, &p->opts, &pr) != AB_OK) {
            rc = ab_err_prefix("%s: train %s", data, p->name);
            goto cleanup;
        }
        AB_CALL(ab_predictor_save(pr, out));
        *srcc = pr->test_srcc;
    }
cleanup:
    ab_ensemble_destroy(&ens);
    ab_predictor_destroy(&pr);
    ab_dataset_destroy(&d);
    return rc;
}

static ab_status stage_train(struct run *r, int i, json_t *data_id)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    const struct ab_campaign_predictor *p = &c->pred[i];
    char name[96], label[96], rel[128], out[PATH_MAX], data[PATH_MAX], *identity = NULL;
    const char *outputs[] = {rel};
    json_t *summary = NULL, *id = json_object();
    int skip;
    double srcc = NAN, t0 = ab_store_now();
    snprintf(name, sizeof name, "train-%s", p->name);
    snprintf(label, sizeof label, "train %s", p->name);
    snprintf(rel, sizeof rel, "predictors/%s.h5", p->name);
    AB_CHECK_ALLOC(id);
    json_object_set_new(id, "stage", json_string("train"));
    json_object_set(id, "data", data_id);
    json_object_set_new(id, "predictor", predictor_json(p));
    AB_CALL(dump_identity(id, &identity));
    id = NULL;
    AB_CALL(in_dir(c, rel, out));
    AB_CALL(in_dir(c, "data.h5", data));
    AB_CALL(begin_stage(r, label, name, identity, rel, &skip, &summary));
    if (skip) {
        srcc = json_number_value(json_object_get(summary, "test_srcc"));
        say("%s: skipped (complete: '%s', test SRCC %.4f) -> %s", label, p->target, srcc, out);
        json_object_set_new(r->sum->stages, name, json_string("skipped"));
    } else {
        say("%s: training '%s' (%ld epochs%s) on %s", label, p->target, p->opts.epochs,
            p->folds ? ", an ensemble" : "", data);
        AB_CALL(in_dir(c, "predictors", data));
        AB_CALL(make_dir(data));
        AB_CALL(in_dir(c, "data.h5", data));
        AB_CALL(train_one(r, p, data, out, &srcc));
        summary = json_pack("{s:s,s:f,s:f}", "target", p->target, "test_srcc",
                            isfinite(srcc) ? srcc : 0.0, "seconds", ab_store_now() - t0);
        AB_CHECK_ALLOC(summary);
        AB_CALL(ab_stamp_write(c->dir, name, identity, outputs, 1, summary));
        json_object_set_new(r->sum->stages, name, json_string("done"));
        say("%s: '%s' test SRCC %.4f (%.1f s) -> %s", label, p->target, srcc,
            ab_store_now() - t0, out);
    }
    json_array_append_new(r->sum->predictors,
                          json_pack("{s:s,s:s,s:f}", "name", p->name, "target", p->target,
                                    "test_srcc", isfinite(srcc) ? srcc : 0.0));
cleanup:
    json_decref(id);
    json_decref(summary);
    free(identity);
    return rc;
}

/* ---- label ----------------------------------------------------------------------- */

static ab_status score_file(const char *path, int resolution, int threads,
                            struct ab_units **us)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_ensemble *ens = NULL;
    if (ab_ensemble_is_file(path)) {
        AB_CALL(ab_ensemble_load(path, &ens));
        for (int m = 0; m < ens->n; m++) ens->member[m]->threads = threads;
        AB_CALL(ab_units_score_ensemble(ens->member, ens->n, path, resolution, 4096, us));
    } else {
        AB_CALL(ab_predictor_load(path, &p));
        p->threads = threads;
        AB_CALL(ab_units_score(p, path, resolution, 4096, us));
    }
cleanup:
    ab_ensemble_destroy(&ens);
    ab_predictor_destroy(&p);
    return rc;
}

static ab_status stage_label(struct run *r, int i)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    const struct ab_campaign_predictor *p = &c->pred[i];
    char name[96], label[96], rel[128], prel[128], out[PATH_MAX], pred[PATH_MAX];
    char *identity = NULL;
    const char *outputs[] = {rel};
    json_t *summary = NULL, *id = json_object(), *pid = NULL;
    struct ab_units *us = NULL;
    int skip;
    double t0 = ab_store_now();
    snprintf(name, sizeof name, "label-%s", p->name);
    snprintf(label, sizeof label, "label %s", p->name);
    snprintf(rel, sizeof rel, "units/%s.h5", p->name);
    snprintf(prel, sizeof prel, "predictors/%s.h5", p->name);
    AB_CHECK_ALLOC(id);
    AB_CALL(content_id(c, prel, &pid));
    json_object_set_new(id, "stage", json_string("label"));
    json_object_set_new(id, "predictor", pid);
    json_object_set_new(id, "resolution", json_integer(c->label_resolution));
    AB_CALL(dump_identity(id, &identity));
    id = NULL;
    AB_CALL(in_dir(c, rel, out));
    AB_CALL(in_dir(c, prel, pred));
    AB_CALL(begin_stage(r, label, name, identity, rel, &skip, &summary));
    if (skip) {
        say("%s: skipped (complete) -> %s", label, out);
        json_object_set_new(r->sum->stages, name, json_string("skipped"));
        goto cleanup;
    }
    AB_CALL(in_dir(c, "units", out));
    AB_CALL(make_dir(out));
    AB_CALL(in_dir(c, rel, out));
    AB_CALL(score_file(pred, c->label_resolution, p->opts.threads, &us));
    AB_CALL(ab_units_save(us, out));
    {
        long total = 0;
        for (int u = 0; u < us->n_units; u++) total += us->u[u].n;
        summary = json_pack("{s:I}", "subgraphs", (json_int_t)total);
        AB_CHECK_ALLOC(summary);
        AB_CALL(ab_stamp_write(c->dir, name, identity, outputs, 1, summary));
        json_object_set_new(r->sum->stages, name, json_string("done"));
        say("%s: scored %ld subgraphs of %d units (%.1f s) -> %s", label, total, us->n_units,
            ab_store_now() - t0, out);
    }
cleanup:
    ab_units_destroy(&us);
    json_decref(id);
    json_decref(summary);
    free(identity);
    return rc;
}

/* ---- reduce -------------------------------------------------------------------- */

static ab_status stage_reduce(struct run *r)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    struct ab_units *us[AB_CAMPAIGN_MAX_PRED] = {0};
    struct ab_space *sp = NULL;
    char out[PATH_MAX], path[PATH_MAX], rel[128], *identity = NULL, *size = NULL;
    const char *outputs[] = {"reduced.h5"};
    json_t *summary = NULL, *id = json_object(), *units = json_array(), *ks = json_array();
    json_t *per_unit = NULL;
    int skip;
    AB_CHECK(id && units && ks, AB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_pred; i++) {
        json_t *h;
        snprintf(rel, sizeof rel, "units/%s.h5", c->pred[i].name);
        AB_CALL(content_id(c, rel, &h));
        json_array_append_new(units, h);
    }
    for (int i = 0; i < c->n_k; i++) json_array_append_new(ks, json_integer(c->ks[i]));
    json_object_set_new(id, "stage", json_string("reduce"));
    json_object_set(id, "units", units);
    json_object_set(id, "k", ks);
    json_object_set_new(id, "select",
                        json_string(c->constrained ? "constrained" : "unconstrained"));
    AB_CALL(dump_identity(id, &identity));
    id = NULL;
    AB_CALL(in_dir(c, "reduced.h5", out));
    AB_CALL(begin_stage(r, "reduce", "reduce", identity, "reduced.h5", &skip, &summary));
    if (skip) {
        const char *s = json_string_value(json_object_get(summary, "size"));
        r->sum->reduced_size = strdup(s ? s : "?");
        AB_CHECK_ALLOC(r->sum->reduced_size);
        say("reduce: skipped (complete: %s architectures per resolution) -> %s",
            r->sum->reduced_size, out);
        json_object_set_new(r->sum->stages, "reduce", json_string("skipped"));
        goto cleanup;
    }
    for (int i = 0; i < c->n_pred; i++) {
        snprintf(rel, sizeof rel, "units/%s.h5", c->pred[i].name);
        AB_CALL(in_dir(c, rel, path));
        AB_CALL(ab_units_load(path, &us[i]));
    }
    AB_CALL(ab_units_reduce(us, c->n_pred, c->ks, c->n_k, c->constrained, NULL, 0, out, &sp));
    AB_CALL(ab_reduced_space_save(sp, out));
    size = ab_space_size_string(sp);
    per_unit = json_array();
    AB_CHECK(size && per_unit, AB_ERR_NOMEM, "out of memory");
    for (int u = 0; u < sp->n_units; u++)
        json_array_append_new(per_unit, json_integer((json_int_t)sp->allowed[u].n));
    summary = json_pack("{s:s,s:O}", "size", size, "subgraphs_per_unit", per_unit);
    AB_CHECK_ALLOC(summary);
    AB_CALL(ab_stamp_write(c->dir, "reduce", identity, outputs, 1, summary));
    r->sum->reduced_size = size;
    size = NULL;
    json_object_set_new(r->sum->stages, "reduce", json_string("done"));
    {
        char *pu = json_dumps(per_unit, JSON_COMPACT);
        say("reduce: %s architectures per resolution (subgraphs per unit %s, %s top %d%s) -> %s",
            r->sum->reduced_size, pu ? pu : "?", c->constrained ? "constrained" : "unconstrained",
            c->ks[0], c->n_k > 1 ? "..." : "", out);
        free(pu);
    }
cleanup:
    for (int i = 0; i < c->n_pred; i++) ab_units_destroy(&us[i]);
    ab_space_destroy(&sp);
    json_decref(id);
    json_decref(units);
    json_decref(ks);
    json_decref(per_unit);
    json_decref(summary);
    free(identity);
    free(size);
    return rc;
}

/* ---- search ------------------------------------------------------------------------ */

/* The objectives' hypervolume references: as configured, or (ref: auto)
 * the worst value of the metric among the labelled architectures of
 * data.h5 (the largest for a goal min, the smallest for max), so that
 * every labelled architecture lies inside the reference box. */
static ab_status resolve_refs(const struct ab_campaign *c, double *refs)
{
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    char path[PATH_MAX];
    int any = 0;
    for (int i = 0; i < c->n_obj; i++) {
        refs[i] = c->obj[i].ref;
        any |= isnan(refs[i]);
    }
    if (!any) return AB_OK;
    AB_CALL(in_dir(c, "data.h5", path));
    AB_CALL(ab_dataset_read(path, &d));
    for (int i = 0; i < c->n_obj; i++) {
        int col = -1;
        double worst = NAN;
        if (!isnan(refs[i])) continue;
        for (int k = 0; k < d->n_metrics; k++)
            if (!strcmp(d->metric_names[k], c->obj[i].metric)) col = k;
        AB_CHECK(col >= 0, AB_ERR_INPUT, "%s: search.objectives[%d].ref: auto: %s has no metric "
                 "'%s'", c->origin, i + 1, path, c->obj[i].metric);
        for (long a = 0; a < d->n; a++) {
            double v = d->metrics[a * d->n_metrics + col];
            if (!isfinite(v)) continue;
            if (isnan(worst) || (c->obj[i].maximize ? v < worst : v > worst)) worst = v;
        }
        AB_CHECK(isfinite(worst), AB_ERR_INPUT, "%s: search.objectives[%d].ref: auto: no "
                 "labelled value of '%s' in %s; give a number", c->origin, i + 1,
                 c->obj[i].metric, path);
        refs[i] = worst;
    }
cleanup:
    ab_dataset_destroy(&d);
    return rc;
}

/* The identity of a search: its space (reduced.h5's content, or the
 * campaign's space for a baseline), variant, budget, seed, objectives with
 * their resolved references, evaluators. */
static ab_status search_identity(const struct ab_campaign *c, const char *variant,
                                 const double *refs, char **out)
{
    ab_status rc = AB_OK;
    json_t *id = json_object(), *objs = json_array(), *ev = json_loads(c->search_evaluators_id,
                                                                       0, NULL), *space = NULL;
    int nas = !strcmp(variant, "autobuild_nas");
    AB_CHECK(id && objs && ev, AB_ERR_NOMEM, "out of memory");
    if (nas) {
        AB_CALL(content_id(c, "reduced.h5", &space));
    } else {
        space = json_string(c->space->definition ? c->space->definition : c->space_spec);
        AB_CHECK_ALLOC(space);
        json_object_set_new(id, "variant", json_string(variant));
    }
    for (int i = 0; i < c->n_obj; i++)
        json_array_append_new(objs, json_pack("{s:s,s:b,s:f}", "metric", c->obj[i].metric, "max",
                                              c->obj[i].maximize, "ref", refs[i]));
    json_object_set_new(id, "stage", json_string(nas ? "search" : "baseline"));
    json_object_set_new(id, "space", space);
    space = NULL;
    json_object_set_new(id, "init", json_integer(c->init));
    json_object_set_new(id, "iterations", json_integer(c->iterations));
    json_object_set_new(id, "per_iteration", json_integer(c->per_iteration));
    json_object_set_new(id, "stage_mutate_prob", json_real(c->mutate_prob));
    json_object_set_new(id, "seed", json_integer((json_int_t)c->search_seed));
    json_object_set_new(id, "resolution", json_integer(c->search_resolution));
    json_object_set_new(id, "mode", json_string(c->search_async ? "async" : "sync"));
    json_object_set_new(id, "objectives", objs);
    objs = NULL;
    json_object_set_new(id, "evaluators", ev);
    ev = NULL;
    rc = dump_identity(id, out);
    id = NULL;
cleanup:
    json_decref(id);
    json_decref(objs);
    json_decref(ev);
    json_decref(space);
    return rc;
}

static ab_status write_text(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    FILE *f;
    int bad;
    AB_TRY(ab_fs_temp_path(path, tmp, sizeof tmp));
    f = fopen(tmp, "w");
    if (!f) return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bad = fputs(text, f) == EOF;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp);
        return ab_err_set(AB_ERR_IO, "%s: cannot write", path);
    }
    return ab_fs_commit(tmp, path);
}

/* Runs one search of the campaign: AutoBuild-NAS in reduced.h5 (stage
 * "search": search.yaml, search.h5) or a baseline variant in the whole
 * space (stage "<variant>": baseline-<variant>.yaml, .h5). *out gets the
 * summary {evaluations, unique, failed, front_size, hypervolume, seconds}
 * (new reference) unless interrupted. */
static ab_status run_search(struct run *r, const char *variant, json_t **out)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    struct ab_search_config *cfg = NULL;
    struct ab_search_summary ss = {0};
    char yaml_path[PATH_MAX], store[PATH_MAX], *identity = NULL, *text = NULL;
    char stage[32], yaml_rel[64], store_rel[64], journal_rel[80], label[48];
    const char *outputs[3];
    double refs[AB_SEARCH_MAX_OBJ];
    json_t *summary = NULL;
    int skip, resume, nas = !strcmp(variant, "autobuild_nas");
    long recorded;
    struct step s;
    *out = NULL;
    snprintf(stage, sizeof stage, "%s", nas ? "search" : variant);
    snprintf(yaml_rel, sizeof yaml_rel, nas ? "search.yaml" : "baseline-%s.yaml", variant);
    snprintf(store_rel, sizeof store_rel, nas ? "search.h5" : "baseline-%s.h5", variant);
    snprintf(journal_rel, sizeof journal_rel, "%s.journal", store_rel);
    snprintf(label, sizeof label, nas ? "search" : "baseline %s", variant);
    outputs[0] = yaml_rel;
    outputs[1] = store_rel;
    outputs[2] = journal_rel;
    AB_CALL(resolve_refs(c, refs));
    AB_CALL(search_identity(c, variant, refs, &identity));
    AB_CALL(in_dir(c, yaml_rel, yaml_path));
    AB_CALL(in_dir(c, store_rel, store));
    AB_CALL(begin_stage(r, label, stage, identity, store_rel, &skip, &summary));
    if (skip) {
        say("%s: skipped (complete: %lld evaluations, front %lld, hypervolume %.6g) -> %s", label,
            (long long)json_integer_value(json_object_get(summary, "evaluations")),
            (long long)json_integer_value(json_object_get(summary, "front_size")),
            json_number_value(json_object_get(summary, "hypervolume")), store);
        json_object_set_new(r->sum->stages, stage, json_string("skipped"));
        *out = summary;
        summary = NULL;
        goto cleanup;
    }
    AB_CALL(ab_campaign_search_yaml(c, nas ? "reduced.h5" : c->space_spec, store_rel, variant,
                                    refs, &text));
    AB_CALL(write_text(yaml_path, text));
    AB_CALL(ab_search_config_parse(text, strlen(text), yaml_path, &cfg));
    {
        char prefix[80];
        snprintf(prefix, sizeof prefix, "[campaign] %s: ", label);
        AB_CALL(ab_label_store_resumable(store, cfg->identity, AB_LABEL_RESTART, prefix, &resume,
                                         &recorded));
    }
    say("%s: %s %s in %s (budget %ld = %ld + %ld x %ld)%s", label,
        resume ? "resuming" : "starting", variant, cfg->space_spec, c->init + c->iterations *
        c->per_iteration, c->init, c->iterations, c->per_iteration,
        resume ? ", evaluations recorded so far are reused" : "");
    signals_checkpoint(1);
    memset(&s, 0, sizeof s);
    s.kind = STEP_DISPATCH;
    announce(r->rt, &s);
    if ((rc = ab_search_run(r->rt, cfg, resume, 1, &ss)) != AB_OK) {
        ab_err_prefix("%s: %s", c->origin, label);
        goto cleanup;
    }
    if (ss.interrupted) {
        r->sum->interrupted = 1;
        say("%s: interrupted: %ld evaluations saved in %s; run the campaign again to "
            "continue", label, ss.unique, store);
        goto cleanup;
    }
    summary = json_pack("{s:I,s:I,s:I,s:I,s:f,s:f}", "evaluations", (json_int_t)ss.evaluations,
                        "unique", (json_int_t)ss.unique, "failed", (json_int_t)ss.failed,
                        "front_size", (json_int_t)ss.front_size, "hypervolume", ss.hypervolume,
                        "seconds", ss.seconds);
    AB_CHECK_ALLOC(summary);
    AB_CALL(ab_stamp_write(c->dir, stage, identity, outputs, 3, summary));
    json_object_set_new(r->sum->stages, stage, json_string("done"));
    say("%s: %ld evaluations (%ld failed), front %ld, hypervolume %.6g (%.1f s) -> %s", label,
        ss.evaluations, ss.failed, ss.front_size, ss.hypervolume, ss.seconds, store);
    *out = summary;
    summary = NULL;
cleanup:
    signals_checkpoint(0);
    ab_search_config_destroy(&cfg);
    json_decref(summary);
    free(identity);
    free(text);
    return rc;
}

static ab_status stage_search(struct run *r)
{
    json_t *sm = NULL;
    AB_TRY(run_search(r, "autobuild_nas", &sm));
    if (!sm) return AB_OK; /* interrupted */
    r->sum->evaluations = (long)json_integer_value(json_object_get(sm, "evaluations"));
    r->sum->front_size = (long)json_integer_value(json_object_get(sm, "front_size"));
    r->sum->hypervolume = json_number_value(json_object_get(sm, "hypervolume"));
    json_decref(sm);
    return AB_OK;
}

/* The baseline searches (search.baselines) in the whole space, with the
 * same budget, seed, objectives and evaluators: the comparison the paper
 * makes (Fig. 5 bottom). */
static ab_status stage_baselines(struct run *r)
{
    for (int i = 0; i < r->c->n_baselines; i++) {
        json_t *sm = NULL;
        AB_TRY(run_search(r, r->c->baselines[i], &sm));
        if (!sm) return AB_OK; /* interrupted */
        json_object_set_new(sm, "variant", json_string(r->c->baselines[i]));
        json_array_append_new(r->sum->baselines, sm);
    }
    return AB_OK;
}

/* ---- report ------------------------------------------------------------------------ */

static ab_status stage_report(struct run *r)
{
    ab_status rc = AB_OK;
    const struct ab_campaign *c = r->c;
    char store[PATH_MAX], front[PATH_MAX], history[PATH_MAX], png[PATH_MAX], *identity = NULL;
    char **names = NULL, rel[96];
    const char **outputs = NULL;
    int n_names = 0;
    json_t *id = json_object(), *h = NULL, *summary = NULL;
    int skip;
    AB_CHECK_ALLOC(id);
    json_object_set_new(id, "stage", json_string("report"));
    AB_CALL(content_id(c, "search.h5", &h));
    json_object_set_new(id, "store", h);
    AB_CALL(content_id(c, "search.h5.journal", &h));
    json_object_set_new(id, "journal", h);
    /* the report also reads the data, the predictors and the baselines */
    AB_CALL(content_id(c, "data.h5", &h));
    json_object_set_new(id, "data", h);
    for (int i = 0; i < c->n_pred; i++) {
        snprintf(rel, sizeof rel, "predictors/%s.h5", c->pred[i].name);
        AB_CALL(content_id(c, rel, &h));
        json_object_set_new(id, rel, h);
    }
    for (int i = 0; i < c->n_baselines; i++) {
        snprintf(rel, sizeof rel, "baseline-%s.h5.journal", c->baselines[i]);
        AB_CALL(content_id(c, rel, &h));
        json_object_set_new(id, rel, h);
        snprintf(rel, sizeof rel, "baseline-%s.h5", c->baselines[i]);
        AB_CALL(content_id(c, rel, &h));
        json_object_set_new(id, rel, h);
    }
    json_object_set_new(id, "version", json_integer(2));
    AB_CALL(dump_identity(id, &identity));
    id = NULL;
    AB_CALL(in_dir(c, "search.h5", store));
    AB_CALL(in_dir(c, "front.csv", front));
    AB_CALL(in_dir(c, "history.csv", history));
    AB_CALL(in_dir(c, "front.png", png));
    AB_CALL(begin_stage(r, "report", "report", identity, "report.md", &skip, &summary));
    if (skip) {
        say("report: skipped (complete) -> %s/report.md", c->dir);
        json_object_set_new(r->sum->stages, "report", json_string("skipped"));
        goto cleanup;
    }
    AB_CALL(ab_search_report_files(store, front, history, png));
    AB_CALL(ab_campaign_write_report(c, r->sum, &names, &n_names));
    outputs = malloc(sizeof *outputs * (size_t)(n_names + 3));
    AB_CHECK_ALLOC(outputs);
    outputs[0] = "front.csv";
    outputs[1] = "history.csv";
    outputs[2] = "front.png";
    for (int i = 0; i < n_names; i++) outputs[3 + i] = names[i];
    AB_CALL(ab_stamp_write(c->dir, "report", identity, outputs, n_names + 3, NULL));
    json_object_set_new(r->sum->stages, "report", json_string("done"));
    say("report: %s/report.md, with %d pictures (the front alone: front.png, front.csv, "
        "history.csv)", c->dir, n_names);
cleanup:
    for (int i = 0; i < n_names; i++) free(names[i]);
    free(names);
    free(outputs);
    json_decref(id);
    json_decref(summary);
    free(identity);
    return rc;
}

/* ---- the whole campaign ------------------------------------------------------------- */

void ab_campaign_summary_free(struct ab_campaign_summary *s)
{
    if (!s) return;
    free(s->reduced_size);
    json_decref(s->stages);
    json_decref(s->predictors);
    json_decref(s->baselines);
    memset(s, 0, sizeof *s);
}

/* Takes DIR/campaign.lock (an advisory lock the kernel drops when the
 * process ends, even by kill -9), so two runs never write one folder:
 * a requeued job that starts while the old one still shuts down fails
 * with a clear message instead of corrupting the stores. */
static ab_status lock_dir(const struct ab_campaign *c, int *fd)
{
    char path[PATH_MAX];
    AB_TRY(in_dir(c, "campaign.lock", path));
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0) return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return ab_err_set(AB_ERR_INPUT, "%s: another 'autobuild campaign' is running in this "
                              "folder; wait for it to end (or stop it) and run again", c->dir);
        return ab_err_set(AB_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
    }
    return AB_OK;
}

/* 1 when a stop signal arrived since the last stage with evaluations. */
static int stopped(struct run *r)
{
    if (r->sum->interrupted) return 1;
    if (!ab_dispatch_stop_requested()) return 0;
    r->sum->interrupted = 1;
    say("stopped by a signal; run the campaign again to continue");
    return 1;
}

ab_status ab_campaign_run(const struct ab_runtime *rt, const struct ab_campaign *c,
                          struct ab_campaign_summary *sum)
{
    ab_status rc = AB_OK;
    struct run r = {rt, c, sum, ab_store_now()};
    json_t *data_id = NULL;
    int lock = -1;
    memset(sum, 0, sizeof *sum);
    sum->stages = json_object();
    sum->predictors = json_array();
    sum->baselines = json_array();
    AB_CHECK(sum->stages && sum->predictors && sum->baselines, AB_ERR_NOMEM, "out of memory");
    AB_CALL(make_dir(c->dir));
    AB_CALL(lock_dir(c, &lock));
    say("%s: campaign in %s (space %s, %d evaluating process%s)", c->origin, c->dir,
        c->space->name, rt->size > 1 ? rt->size - 1 : 1, rt->size > 2 ? "es" : "");
    AB_CALL(stage_data(&r));
    if (sum->interrupted) goto cleanup;
    AB_CALL(content_id(c, "data.h5", &data_id));
    for (int i = 0; i < c->n_pred && !stopped(&r); i++) AB_CALL(stage_train(&r, i, data_id));
    for (int i = 0; i < c->n_pred && !sum->interrupted; i++) AB_CALL(stage_label(&r, i));
    if (sum->interrupted || stopped(&r)) goto cleanup;
    AB_CALL(stage_reduce(&r));
    if (stopped(&r)) goto cleanup;
    AB_CALL(stage_search(&r));
    if (sum->interrupted) goto cleanup;
    AB_CALL(stage_baselines(&r));
    if (sum->interrupted) goto cleanup;
    AB_CALL(stage_report(&r));
cleanup:
    ab_campaign_release(rt);
    if (lock >= 0) close(lock); /* releases the lock */
    json_decref(data_id);
    sum->seconds = ab_store_now() - r.t0;
    return rc;
}

ab_status ab_campaign_serve(const struct ab_runtime *rt)
{
    struct step *s = malloc(sizeof *s);
    if (!s) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (;;) {
        struct ab_ensemble *ens = NULL;
        if (await_step(rt, s) != AB_OK) {
            free(s);
            return ab_err_status();
        }
        if (s->kind == STEP_END) break;
        /* a failure here is rank 0's too (it reports it and ends the campaign) */
        if (s->kind == STEP_DISPATCH && ab_dispatch_serve(rt) != AB_OK)
            ab_log(AB_LOG_DEBUG, "campaign: serving evaluations: %s", ab_err_msg());
        if (s->kind == STEP_ENSEMBLE && ensemble_step(rt, s, &ens) != AB_OK)
            ab_log(AB_LOG_DEBUG, "campaign: ensemble: %s", ab_err_msg());
        ab_ensemble_destroy(&ens);
        ab_err_clear();
    }
    free(s);
    return AB_OK;
}
