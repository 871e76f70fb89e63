/* SPDX-License-Identifier: MIT
 *
 * This file implements the labelling of a fixed list of architectures
 * (label.h): the store check (resume, start over or refuse), the plan of
 * what the store lacks, the dispatch of those architectures with every
 * result recorded as it arrives, and the dataset of the successful ones.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "search/dispatch.h"
#include "search/label.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/u64map.h"

/* A progress line "<prefix>..." on stderr (at log level info). */
static void say(const char *prefix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    if (!prefix) return;
    va_start(ap, fmt);
    ab_log_vprogress(prefix, fmt, ap);
    va_end(ap);
}

ab_status ab_label_forget_store(const char *path)
{
    char journal[PATH_MAX + 16];
    snprintf(journal, sizeof journal, "%s.journal", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return ab_err_set(AB_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    if (unlink(journal) != 0 && errno != ENOENT)
        return ab_err_set(AB_ERR_IO, "%s: cannot remove: %s", journal, strerror(errno));
    return AB_OK;
}

ab_status ab_label_store_resumable(const char *path, const char *identity,
                                   enum ab_label_other on_other, const char *progress,
                                   int *resume, long *recorded)
{
    char journal[PATH_MAX + 16], why[400];
    struct ab_store *st = NULL;
    *resume = 0;
    *recorded = 0;
    snprintf(journal, sizeof journal, "%s.journal", path);
    if (!ab_fs_exists(path) && !ab_fs_exists(journal)) return AB_OK;
    if (ab_store_read(path, &st) == AB_OK) {
        if (st->identity && !strcmp(st->identity, identity)) {
            *resume = 1;
            *recorded = st->n;
        }
        snprintf(why, sizeof why, "was made for another configuration");
    } else {
        snprintf(why, sizeof why, "cannot be read (%s)", ab_err_msg());
    }
    ab_err_clear();
    ab_store_close(&st);
    if (*resume) return AB_OK;
    if (on_other == AB_LABEL_REFUSE)
        return ab_err_set(AB_ERR_INPUT, "%s: the store %s; its results cost compute and are "
                          "kept: give another store path (or remove %s and %s.journal to "
                          "start over)", path, why, path, path);
    say(progress, "%s %s; starting over", path, why);
    return ab_label_forget_store(path);
}

ab_status ab_label_open(const struct ab_label_opts *o, struct ab_label **out)
{
    ab_status rc = AB_OK;
    struct ab_label *lab = calloc(1, sizeof *lab);
    *out = NULL;
    AB_CHECK_ALLOC(lab);
    lab->o = *o;
    AB_CALL(ab_label_store_resumable(o->store, o->identity, o->on_other, o->progress,
                                     &lab->resumed, &lab->recorded_at_open));
    if (lab->resumed)
        say(o->progress, "resuming %s: %ld evaluations recorded", o->store,
            lab->recorded_at_open);
    AB_CALL(ab_store_open(o->store, o->identity, (const char *const *)o->chain->metrics,
                          o->chain->n_metrics, lab->resumed, &lab->st));
    *out = lab;
    lab = NULL;
cleanup:
    if (lab) ab_label_close(&lab);
    return rc;
}

static void free_plan(struct ab_label *lab)
{
    for (long i = 0; lab->json && i < lab->pending; i++) free(lab->json[i]);
    free(lab->json);
    free(lab->todo);
    free(lab->hash);
    free(lab->seq);
    lab->json = NULL;
    lab->todo = NULL;
    lab->hash = NULL;
    lab->seq = NULL;
    lab->pending = 0;
}

ab_status ab_label_plan(struct ab_label *lab, const struct ab_arch *archs, long n,
                        long *pending)
{
    ab_status rc = AB_OK;
    const struct ab_space *sp = lab->o.space;
    struct ab_u64map queued = {0};
    long k = 0;
    free_plan(lab);
    lab->archs = archs;
    lab->n = n;
    lab->todo = malloc(sizeof *lab->todo * (size_t)(n + 1));
    lab->json = calloc((size_t)n + 1, sizeof *lab->json);
    lab->hash = malloc(sizeof *lab->hash * (size_t)(n + 1));
    lab->seq = malloc(sizeof *lab->seq * (size_t)(n + 1));
    AB_CHECK(lab->todo && lab->json && lab->hash && lab->seq, AB_ERR_NOMEM, "out of memory");
    AB_CALL(ab_u64map_init(&queued, (uint64_t)n + 16));
    for (long i = 0; i < n; i++) {
        uint64_t h = ab_arch_hash(sp, &archs[i]);
        int seen;
        if (ab_store_find(lab->st, h) >= 0) continue;
        seen = ab_u64map_put(&queued, h, i, NULL);
        AB_CHECK(seen >= 0, AB_ERR_NOMEM, "out of memory");
        if (seen) continue; /* listed twice: evaluated once */
        lab->todo[k] = archs[i];
        lab->hash[k] = h;
        lab->seq[k] = i;
        lab->json[k] = ab_arch_to_json(sp, &archs[i]);
        lab->pending = k + 1; /* so that free_plan frees the JSON made so far */
        AB_CHECK_ALLOC(lab->json[k]);
        k++;
    }
    lab->pending = k;
    AB_CHECK(k <= 0x7fffffffL, AB_ERR_INPUT, "%s: at most %ld architectures per run",
             lab->o.origin ? lab->o.origin : "labelling", 0x7fffffffL);
    if (pending) *pending = k;
cleanup:
    ab_u64map_free(&queued);
    return rc;
}

static ab_status on_labelled(void *vctx, const struct ab_dispatch_done *d)
{
    struct ab_label *x = vctx;
    struct ab_store_eval rec = {
        .seq = x->seq[d->index], .iteration = 0, .hash = x->hash[d->index],
        .arch = x->json[d->index], .status = d->status, .rank = d->rank,
        .host = (char *)d->host, .evaluator = x->o.chain->names, .t_start = d->t_start,
        .t_end = d->t_end, .metrics = (double *)d->metrics,
        .error = (char *)(d->status ? d->error : "")};
    double now;
    AB_TRY(ab_store_add(x->st, &rec));
    x->done++;
    x->fresh++;
    now = ab_store_now();
    if (now - x->st->last_sync > 0.2) AB_TRY(ab_store_sync(x->st, 0));
    AB_TRY(ab_store_maybe_snapshot(x->st, 5.0));
    if (now - x->last > 2.0) {
        double rate = x->fresh / (now - x->t0 > 1e-9 ? now - x->t0 : 1e-9);
        say(x->o.progress, "%ld/%ld labelled, %.1f/s, ETA %.0f s", x->done, x->n, rate,
            rate > 0 ? (x->n - x->done) / rate : 0.0);
        x->last = now;
    }
    return AB_OK;
}

ab_status ab_label_run(const struct ab_runtime *rt, struct ab_label *lab, int *interrupted)
{
    ab_status rc = AB_OK;
    struct ab_dispatch *disp = NULL;
    *interrupted = 0;
    lab->done = lab->n - lab->pending;
    if (lab->pending == 0) return AB_OK;
    rc = ab_dispatch_create(rt, lab->o.chain, lab->o.space->definition, lab->o.specs_json,
                            lab->o.base_dir, lab->o.workdir, &disp);
    if (rc) goto cleanup;
    say(lab->o.progress, "%ld/%ld labelled, %ld to evaluate by %d process%s", lab->done,
        lab->n, lab->pending, ab_dispatch_workers(disp),
        ab_dispatch_workers(disp) == 1 ? "" : "es");
    lab->t0 = lab->last = ab_store_now();
    rc = ab_dispatch_run(disp, lab->todo, lab->json, (int)lab->pending, on_labelled, lab,
                         interrupted);
cleanup:
    if (disp) {
        /* everything is saved before an interrupted dispatch may end the job */
        ab_status r2 = ab_store_sync(lab->st, 1);
        if (r2 == AB_OK) r2 = ab_store_snapshot(lab->st);
        if (rc == AB_OK) rc = r2;
        if (*interrupted && rc == AB_OK && lab->o.on_interrupt)
            lab->o.on_interrupt(lab->o.on_interrupt_ctx, lab);
        ab_dispatch_destroy(&disp, *interrupted);
    }
    return rc;
}

void ab_label_count(const struct ab_label *lab, long *recorded, long *failed)
{
    long r = 0, f = 0;
    int m = lab->o.chain->n_metrics;
    for (long i = 0; i < lab->n; i++) {
        long at = ab_store_find(lab->st, ab_arch_hash(lab->o.space, &lab->archs[i]));
        const struct ab_store_eval *e = at >= 0 ? &lab->st->ev[at] : NULL;
        int ok;
        if (!e) continue;
        r++;
        ok = e->status == AB_EVAL_OK;
        for (int k = 0; ok && k < m; k++) ok = isfinite(e->metrics[k]);
        f += !ok;
    }
    if (recorded) *recorded = r;
    if (failed) *failed = f;
}

ab_status ab_label_write_dataset(struct ab_label *lab, const char *path, long *failed)
{
    ab_status rc = AB_OK;
    const struct ab_space *sp = lab->o.space;
    int m = lab->o.chain->n_metrics;
    struct ab_dataset ds = {0};
    struct ab_u64map written = {0};
    const char *first_error = NULL;
    long n = lab->n;
    *failed = 0;
    ds.space = (struct ab_space *)sp; /* borrowed: never destroyed here */
    ds.n_metrics = m;
    ds.metric_names = lab->o.chain->metrics;
    ds.archs = malloc(sizeof *ds.archs * (size_t)(n + 1));
    ds.hashes = malloc(sizeof *ds.hashes * (size_t)(n + 1));
    ds.metrics = malloc(sizeof *ds.metrics * (size_t)(n + 1) * (size_t)m);
    AB_CHECK(ds.archs && ds.hashes && ds.metrics, AB_ERR_NOMEM, "out of memory");
    AB_CALL(ab_u64map_init(&written, (uint64_t)n + 16));
    for (long i = 0; i < n; i++) {
        uint64_t h = ab_arch_hash(sp, &lab->archs[i]);
        long at = ab_store_find(lab->st, h);
        const struct ab_store_eval *e = at >= 0 ? &lab->st->ev[at] : NULL;
        int ok, seen;
        AB_CHECK(e != NULL, AB_ERR_INTERNAL, "%s: architecture %ld has no evaluation in %s",
                 lab->o.origin ? lab->o.origin : "labelling", i + 1, lab->o.store);
        seen = ab_u64map_put(&written, h, i, NULL);
        AB_CHECK(seen >= 0, AB_ERR_NOMEM, "out of memory");
        if (seen) continue;
        ok = e->status == AB_EVAL_OK;
        for (int k = 0; ok && k < m; k++) ok = isfinite(e->metrics[k]);
        if (!ok) {
            if (!first_error) first_error = e->error && e->error[0] ? e->error : "a metric is "
                                                                                 "not finite";
            (*failed)++;
            continue;
        }
        ds.archs[ds.n] = lab->archs[i];
        ds.hashes[ds.n] = h;
        memcpy(ds.metrics + (size_t)ds.n * (size_t)m, e->metrics, sizeof(double) * (size_t)m);
        ds.n++;
    }
    AB_CHECK(ds.n > 0, AB_ERR_INPUT, "%s: all %ld evaluations failed (first: %s); fix %s",
             lab->o.origin ? lab->o.origin : "labelling", *failed,
             first_error ? first_error : "?",
             lab->o.evaluators_key ? lab->o.evaluators_key : "the evaluators");
    AB_CALL(ab_dataset_write(&ds, path));
cleanup:
    ab_u64map_free(&written);
    free(ds.archs);
    free(ds.hashes);
    free(ds.metrics);
    return rc;
}

ab_status ab_label_close(struct ab_label **plab)
{
    struct ab_label *lab = plab ? *plab : NULL;
    ab_status rc = AB_OK;
    if (!lab) return AB_OK;
    if (lab->st) rc = ab_store_close(&lab->st);
    free_plan(lab);
    free(lab);
    *plab = NULL;
    return rc;
}
