/* SPDX-License-Identifier: MIT
 *
 * This file implements dispatch.h: the coordinator's work queue over MPI
 * worker ranks (or in-process evaluation), the workers' serve loop, and
 * the preemption signal flag.
 *
 * Protocol (tags): SETUP is a broadcast (length, then "space\0specs\0dir");
 * a gather of struct hello tells rank 0 each worker's host, node and whether
 * its evaluators were created; WORK carries "index\tjson\n" lines; RESULT
 * carries packed struct item_result records followed by the metrics; STOP
 * ends a worker.
 */
#include "search/dispatch.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/log.h"
#include "util/stop.h"

enum { TAG_WORK = 11, TAG_RESULT = 12, TAG_STOP = 13 };
#define MAX_CHUNK 256

void ab_dispatch_install_signals(void)
{
    ab_stop_install();
}

int ab_dispatch_stop_requested(void)
{
    return ab_stop_requested();
}

struct hello {
    int ok;
    int node;
    char host[64];
    char err[400];
};

struct item_result {
    int32_t index;
    int32_t status;
    double t_start, t_end;
    char err[AB_EVAL_ERRLEN];
};

struct worker {
    int busy;        /* items in flight */
    int node;
    char host[64];
    char *buf;       /* this worker's WORK message, kept until its send completes */
    size_t cap;
    MPI_Request req;
};

struct ab_dispatch {
    const struct ab_runtime *rt;
    struct ab_eval_chain *chain;
    int n_workers;   /* ranks >= 1 */
    struct worker *w;   /* [rt->size] */
    int *node_excl;     /* [rt->size]: exclusive items in flight per node leader */
    char host[64];
    char *recvbuf;
    size_t recvcap;
    int stop_seen;      /* a worker answered AB_EVAL_INTERRUPTED: it was told to stop */
};

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int node_leader(MPI_Comm comm, int rank)
{
    MPI_Comm shared;
    int leader = rank;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &shared) !=
        MPI_SUCCESS)
        return rank;
    MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, shared);
    MPI_Comm_free(&shared);
    return leader;
}

static ab_status grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return AB_OK;
    size_t c = *cap ? *cap : 65536;
    while (c < need) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    *buf = b;
    *cap = c;
    return AB_OK;
}

ab_status ab_dispatch_create(const struct ab_runtime *rt, struct ab_eval_chain *chain,
                             const char *space_def, const char *specs_json,
                             const char *base_dir, const char *workdir,
                             struct ab_dispatch **out)
{
    ab_status rc = AB_OK;
    struct ab_dispatch *d = calloc(1, sizeof *d);
    struct hello me = {0}, *all = NULL;
    char *setup = NULL;
    *out = NULL;
    AB_CHECK_ALLOC(d);
    d->rt = rt;
    d->chain = chain;
    gethostname(d->host, sizeof d->host - 1);
    if (rt->mpi && rt->size > 1) {
        const char *wd = workdir ? workdir : "";
        size_t a = strlen(space_def) + 1, b = strlen(specs_json) + 1, c = strlen(base_dir) + 1;
        size_t w = strlen(wd) + 1;
        long len = (long)(a + b + c + w);
        setup = malloc((size_t)len);
        AB_CHECK_ALLOC(setup);
        memcpy(setup, space_def, a);
        memcpy(setup + a, specs_json, b);
        memcpy(setup + a + b, base_dir, c);
        memcpy(setup + a + b + c, wd, w);
        AB_MPI(MPI_Bcast(&len, 1, MPI_LONG, 0, rt->comm));
        AB_MPI(MPI_Bcast(setup, (int)len, MPI_CHAR, 0, rt->comm));
        me.ok = 1;
        me.node = node_leader(rt->comm, rt->rank);
        snprintf(me.host, sizeof me.host, "%s", d->host);
        all = calloc((size_t)rt->size, sizeof *all);
        d->w = calloc((size_t)rt->size, sizeof *d->w);
        d->node_excl = calloc((size_t)rt->size, sizeof *d->node_excl);
        AB_CHECK(all && d->w && d->node_excl, AB_ERR_NOMEM, "out of memory");
        AB_MPI(MPI_Gather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, 0,
                          rt->comm));
        d->n_workers = rt->size - 1;
        for (int r = 0; r < rt->size; r++) d->w[r].req = MPI_REQUEST_NULL;
        for (int r = 1; r < rt->size; r++) {
            d->w[r].node = all[r].node >= 0 && all[r].node < rt->size ? all[r].node : r;
            snprintf(d->w[r].host, sizeof d->w[r].host, "%s", all[r].host);
        }
        for (int r = 1; r < rt->size; r++)
            if (!all[r].ok) {
                /* the workers wait for STOP; ab_dispatch_destroy sends it */
                *out = d;
                d = NULL;
                AB_FAIL(AB_ERR_INPUT, "rank %d (%s): %s", r, all[r].host, all[r].err);
            }
        {
            int nodes = 0;
            for (int r = 0; r < rt->size; r++)
                if (all[r].node == r) nodes++;
            ab_log(AB_LOG_INFO, "dispatch: %d workers on %d node%s", d->n_workers, nodes,
                   nodes == 1 ? "" : "s");
        }
    }
    *out = d;
    d = NULL;
cleanup:
    free(setup);
    free(all);
    if (d) {
        free(d->w);
        free(d->node_excl);
        free(d);
    }
    return rc;
}

int ab_dispatch_workers(const struct ab_dispatch *d)
{
    return d->n_workers > 0 ? d->n_workers : 1;
}

/* ---- in-process ---------------------------------------------------------- */

/* ---- MPI coordinator ------------------------------------------------------- */

/* Sends items (idx[i], js[i]) to worker r as one WORK message. The send
 * is non-blocking: a message above the eager limit would otherwise hold the
 * coordinator until the worker wakes up to receive it. The worker's buffer
 * is reused only after its previous send completed (it has, once the worker
 * answered, so the wait returns at once). */
static ab_status send_work(struct ab_dispatch *d, int r, const int *idx, const char *const *js,
                           int cnt)
{
    ab_status rc = AB_OK;
    struct worker *w = &d->w[r];
    size_t need = 1;
    size_t at = 0;
    if (w->req != MPI_REQUEST_NULL) AB_MPI(MPI_Wait(&w->req, MPI_STATUS_IGNORE));
    for (int i = 0; i < cnt; i++) need += strlen(js[i]) + 16;
    AB_CALL(grow(&w->buf, &w->cap, need));
    for (int i = 0; i < cnt; i++) {
        int k = snprintf(w->buf + at, w->cap - at, "%d\t%s\n", idx[i], js[i]);
        at += (size_t)k;
    }
    AB_MPI(MPI_Isend(w->buf, (int)at, MPI_CHAR, r, TAG_WORK, d->rt->comm, &w->req));
    w->busy += cnt;
    if (d->chain->exclusive) d->node_excl[w->node] += cnt;
cleanup:
    return rc;
}

/* Receives one result message if one is waiting; *got = items in it. */
static ab_status take_result(struct ab_dispatch *d, ab_dispatch_cb cb, void *ctx, int *got)
{
    ab_status rc = AB_OK;
    MPI_Status s;
    int flag = 0, bytes = 0, nm = d->chain->n_metrics;
    size_t rec = sizeof(struct item_result) + sizeof(double) * (size_t)nm;
    *got = 0;
    AB_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, d->rt->comm, &flag, &s));
    if (!flag) return AB_OK;
    AB_MPI(MPI_Get_count(&s, MPI_BYTE, &bytes));
    AB_CALL(grow(&d->recvbuf, &d->recvcap, (size_t)bytes + 1));
    AB_MPI(MPI_Recv(d->recvbuf, bytes, MPI_BYTE, s.MPI_SOURCE, TAG_RESULT, d->rt->comm,
                    MPI_STATUS_IGNORE));
    AB_CHECK((size_t)bytes % rec == 0, AB_ERR_INTERNAL, "malformed result from rank %d",
             s.MPI_SOURCE);
    for (size_t off = 0; off < (size_t)bytes; off += rec) {
        struct item_result ir;
        double m[64];
        memcpy(&ir, d->recvbuf + off, sizeof ir);
        memcpy(m, d->recvbuf + off + sizeof ir, sizeof(double) * (size_t)nm);
        ir.err[AB_EVAL_ERRLEN - 1] = 0;
        struct ab_dispatch_done dn = {.index = ir.index, .status = ir.status,
                                      .rank = s.MPI_SOURCE, .host = d->w[s.MPI_SOURCE].host,
                                      .t_start = ir.t_start, .t_end = ir.t_end,
                                      .metrics = m, .error = ir.err};
        d->w[s.MPI_SOURCE].busy--;
        if (d->chain->exclusive) d->node_excl[d->w[s.MPI_SOURCE].node]--;
        (*got)++;
        /* a worker told to stop: nothing to record, the next run redoes it */
        if (ir.status == AB_EVAL_INTERRUPTED) {
            d->stop_seen = 1;
            continue;
        }
        AB_CALL(cb(ctx, &dn));
    }
cleanup:
    return rc;
}

/* ---- streaming (asynchronous steady state) ------------------------------------ */

/* In-process: evaluates what feed gives, in batches of at most 64. */
static ab_status stream_local(struct ab_dispatch *d, ab_dispatch_feed feed, void *feed_ctx,
                              ab_dispatch_cb cb, void *ctx, int *interrupted)
{
    ab_status rc = AB_OK;
    struct ab_eval_chain *c = d->chain;
    int cap = c->batch < 64 ? c->batch : 64;
    double *m = malloc(sizeof *m * (size_t)cap * (size_t)(c->n_metrics + 1));
    int *st = malloc(sizeof *st * (size_t)cap), *idx = malloc(sizeof *idx * (size_t)cap);
    struct ab_arch *archs = malloc(sizeof *archs * (size_t)cap);
    const char **js = malloc(sizeof *js * (size_t)cap);
    char *err = malloc((size_t)cap * AB_EVAL_ERRLEN);
    AB_CHECK(m && st && idx && archs && js && err, AB_ERR_NOMEM, "out of memory");
    for (;;) {
        int cnt = 0;
        double t0, t1;
        if (ab_stop_requested()) {
            *interrupted = 1;
            break;
        }
        AB_CALL(feed(feed_ctx, cap, &cnt, idx, archs, js));
        if (cnt <= 0) break;
        t0 = ab_store_now();
        AB_CALL(ab_eval_chain_run(c, archs, cnt, m, st, err));
        t1 = ab_store_now();
        for (int j = 0; j < cnt; j++) {
            if (st[j] == AB_EVAL_INTERRUPTED) {
                *interrupted = 1; /* not recorded: the next run evaluates it again */
                continue;
            }
            struct ab_dispatch_done dn = {
                .index = idx[j], .status = st[j], .rank = 0, .host = d->host,
                .t_start = t0 + (t1 - t0) * j / cnt, .t_end = t0 + (t1 - t0) * (j + 1) / cnt,
                .metrics = m + (size_t)j * (size_t)c->n_metrics,
                .error = err + (size_t)j * AB_EVAL_ERRLEN};
            AB_CALL(cb(ctx, &dn));
        }
    }
cleanup:
    free(m);
    free(st);
    free(idx);
    free(archs);
    free(js);
    free(err);
    return rc;
}

/* Streams feed's items to idle workers (or evaluates them in-process). */
static ab_status stream(struct ab_dispatch *d, ab_dispatch_feed feed, void *feed_ctx,
                        ab_dispatch_cb cb, void *ctx, int *interrupted)
{
    ab_status rc = AB_OK;
    int idx[MAX_CHUNK], exhausted = 0;
    const char *js[MAX_CHUNK];
    struct ab_arch *archs = NULL;
    long idle_us = 0, in_flight = 0;
    double grace_until = 0;
    *interrupted = 0;
    if (d->n_workers == 0) return stream_local(d, feed, feed_ctx, cb, ctx, interrupted);
    AB_CHECK(d->chain->n_metrics <= 64, AB_ERR_INPUT, "at most 64 metrics");
    archs = malloc(sizeof *archs * MAX_CHUNK);
    AB_CHECK_ALLOC(archs);
    for (;;) {
        int got = 0, sent = 0;
        if ((ab_stop_requested() || d->stop_seen) && !*interrupted) {
            *interrupted = 1;
            grace_until = ab_store_now() + 5.0;
            ab_log(AB_LOG_WARN, "stop signal: no new work; waiting up to 5 s for %ld in flight",
                   in_flight);
        }
        if (*interrupted) {
            if (in_flight == 0 || ab_store_now() > grace_until) break;
        } else if (exhausted && in_flight == 0) {
            break;
        }
        for (int r = 1; r < d->rt->size && !exhausted && !*interrupted; r++) {
            int max, cnt = 0;
            if (d->w[r].busy) continue;
            if (d->chain->exclusive) {
                if (d->node_excl[d->w[r].node] >= d->chain->exclusive) continue;
                max = 1;
            } else {
                max = d->chain->batch < MAX_CHUNK ? d->chain->batch : MAX_CHUNK;
                if (max < 1) max = 1;
            }
            AB_CALL(feed(feed_ctx, max, &cnt, idx, archs, js));
            if (cnt <= 0) {
                exhausted = 1;
                break;
            }
            AB_CALL(send_work(d, r, idx, js, cnt));
            in_flight += cnt;
            sent = 1;
        }
        AB_CALL(take_result(d, cb, ctx, &got));
        in_flight -= got;
        if (got || sent) {
            idle_us = 0;
        } else {
            idle_us = idle_us ? idle_us * 2 : 2;
            if (idle_us > 2000) idle_us = 2000;
            sleep_us(idle_us);
        }
    }
cleanup:
    free(archs);
    return rc;
}

ab_status ab_dispatch_stream(struct ab_dispatch *d, ab_dispatch_feed feed, ab_dispatch_cb cb,
                             void *ctx, int *interrupted)
{
    return stream(d, feed, ctx, cb, ctx, interrupted);
}

/* A fixed batch as a feed: each idle worker gets an equal share of what is
 * left (so instant evaluations spread over all workers), at most `max`. */
struct array_feed {
    const struct ab_arch *archs;
    char *const *json;
    int n, next, workers;
};

static ab_status feed_array(void *vctx, int max, int *n, int *idx, struct ab_arch *archs,
                            const char **js)
{
    struct array_feed *f = vctx;
    int share = (f->n - f->next + f->workers - 1) / f->workers;
    if (share < max) max = share > 0 ? share : 1;
    for (*n = 0; *n < max && f->next < f->n; (*n)++, f->next++) {
        idx[*n] = f->next;
        archs[*n] = f->archs[f->next];
        js[*n] = f->json[f->next];
    }
    return AB_OK;
}

ab_status ab_dispatch_run(struct ab_dispatch *d, const struct ab_arch *archs,
                          char *const *json, int n, ab_dispatch_cb cb, void *ctx,
                          int *interrupted)
{
    struct array_feed f = {archs, json, n, 0, ab_dispatch_workers(d)};
    return stream(d, feed_array, &f, cb, ctx, interrupted);
}

void ab_dispatch_destroy(struct ab_dispatch **pd, int force)
{
    struct ab_dispatch *d = pd ? *pd : NULL;
    if (!d) return;
    if (d->rt->mpi && d->rt->size > 1) {
        int busy = 0;
        for (int r = 1; r < d->rt->size; r++) busy += d->w[r].busy;
        if (force && busy) {
            ab_log(AB_LOG_WARN, "%d evaluations still running on workers; ending the job", busy);
            fflush(NULL);
            MPI_Abort(d->rt->comm, 75);
        }
        for (int r = 1; r < d->rt->size; r++) {
            if (d->w[r].req != MPI_REQUEST_NULL) MPI_Wait(&d->w[r].req, MPI_STATUS_IGNORE);
            MPI_Send(NULL, 0, MPI_CHAR, r, TAG_STOP, d->rt->comm);
        }
        for (int r = 0; r < d->rt->size; r++) free(d->w[r].buf);
    }
    free(d->w);
    free(d->node_excl);
    free(d->recvbuf);
    free(d);
    *pd = NULL;
}

/* ---- worker ------------------------------------------------------------------ */

static ab_status serve_loop(const struct ab_runtime *rt, struct ab_eval_chain *chain,
                            const struct ab_space *sp)
{
    ab_status rc = AB_OK;
    char *buf = NULL, *out = NULL;
    size_t cap = 0, ocap = 0;
    int nm = chain->n_metrics;
    size_t rec = sizeof(struct item_result) + sizeof(double) * (size_t)nm;
    struct ab_arch *archs = malloc(sizeof *archs * MAX_CHUNK);
    int *index = malloc(sizeof *index * MAX_CHUNK), *status = malloc(sizeof(int) * MAX_CHUNK);
    int *parsed = malloc(sizeof(int) * MAX_CHUNK);
    double *m = malloc(sizeof *m * MAX_CHUNK * (size_t)(nm + 1));
    char *err = malloc((size_t)MAX_CHUNK * AB_EVAL_ERRLEN);
    long idle_us = 0;
    AB_CHECK(archs && index && status && parsed && m && err, AB_ERR_NOMEM, "out of memory");
    for (;;) {
        MPI_Status s;
        int flag = 0, bytes = 0, cnt = 0, ok = 0;
        AB_MPI(MPI_Iprobe(0, MPI_ANY_TAG, rt->comm, &flag, &s));
        if (!flag) {
            idle_us = idle_us ? idle_us * 2 : 2;
            if (idle_us > 2000) idle_us = 2000;
            sleep_us(idle_us);
            continue;
        }
        idle_us = 0;
        AB_MPI(MPI_Get_count(&s, MPI_CHAR, &bytes));
        AB_CALL(grow(&buf, &cap, (size_t)bytes + 1));
        AB_MPI(MPI_Recv(buf, bytes, MPI_CHAR, 0, s.MPI_TAG, rt->comm, MPI_STATUS_IGNORE));
        if (s.MPI_TAG == TAG_STOP) break;
        buf[bytes] = 0;
        for (char *line = buf, *nl; *line && cnt < MAX_CHUNK; line = nl + 1) {
            char *tab = strchr(line, '\t');
            nl = strchr(line, '\n');
            if (!tab || !nl) break;
            *nl = 0;
            index[cnt] = atoi(line);
            parsed[cnt] = ab_arch_parse_json(sp, tab + 1, &archs[cnt]) == AB_OK;
            if (!parsed[cnt]) {
                snprintf(err + (size_t)cnt * AB_EVAL_ERRLEN, AB_EVAL_ERRLEN, "%s", ab_err_msg());
                memset(&archs[cnt], 0, sizeof archs[cnt]);
            }
            cnt++;
        }
        {
            /* evaluate the parsed ones together */
            struct ab_arch *good = malloc(sizeof *good * (size_t)(cnt ? cnt : 1));
            int *pos = malloc(sizeof *pos * (size_t)(cnt ? cnt : 1));
            double t0 = ab_store_now(), t1;
            int ng = 0;
            if (!good || !pos) {
                free(good);
                free(pos);
                AB_FAIL(AB_ERR_NOMEM, "out of memory");
            }
            for (int i = 0; i < cnt; i++)
                if (parsed[i]) {
                    pos[ng] = i;
                    good[ng++] = archs[i];
                }
            double *gm = malloc(sizeof *gm * (size_t)(ng ? ng : 1) * (size_t)(nm + 1));
            int *gs = malloc(sizeof *gs * (size_t)(ng ? ng : 1));
            char *ge = malloc((size_t)(ng ? ng : 1) * AB_EVAL_ERRLEN);
            if (gm && gs && ge) rc = ab_eval_chain_run(chain, good, ng, gm, gs, ge);
            else rc = ab_err_set(AB_ERR_NOMEM, "out of memory");
            t1 = ab_store_now();
            AB_CALL(grow(&out, &ocap, rec * (size_t)(cnt ? cnt : 1)));
            for (int i = 0; i < cnt; i++) {
                struct item_result ir = {.index = index[i], .status = AB_EVAL_FAILED,
                                         .t_start = t0 + (t1 - t0) * i / cnt,
                                         .t_end = t0 + (t1 - t0) * (i + 1) / cnt};
                for (int k = 0; k < nm; k++) m[(size_t)i * nm + k] = NAN;
                if (!parsed[i])
                    snprintf(ir.err, sizeof ir.err, "%s", err + (size_t)i * AB_EVAL_ERRLEN);
                else if (rc != AB_OK)
                    snprintf(ir.err, sizeof ir.err, "evaluator failed: %s", ab_err_msg());
                memcpy(out + rec * (size_t)i, &ir, sizeof ir);
            }
            for (int g = 0; g < ng && rc == AB_OK; g++) {
                int i = pos[g];
                struct item_result ir;
                memcpy(&ir, out + rec * (size_t)i, sizeof ir);
                ir.status = gs[g];
                snprintf(ir.err, sizeof ir.err, "%s", ge + (size_t)g * AB_EVAL_ERRLEN);
                memcpy(out + rec * (size_t)i, &ir, sizeof ir);
                memcpy(m + (size_t)i * nm, gm + (size_t)g * nm, sizeof(double) * (size_t)nm);
            }
            for (int i = 0; i < cnt; i++)
                memcpy(out + rec * (size_t)i + sizeof(struct item_result), m + (size_t)i * nm,
                       sizeof(double) * (size_t)nm);
            free(good);
            free(pos);
            free(gm);
            free(gs);
            free(ge);
            if (rc != AB_OK)
                ab_log(AB_LOG_ERROR, "evaluation failed: %s", ab_err_msg());
            rc = AB_OK;
            ok = 1;
        }
        if (ok)
            AB_MPI(MPI_Send(out, (int)(rec * (size_t)cnt), MPI_BYTE, 0, TAG_RESULT, rt->comm));
    }
cleanup:
    free(buf);
    free(out);
    free(archs);
    free(index);
    free(status);
    free(parsed);
    free(m);
    free(err);
    return rc;
}

ab_status ab_dispatch_serve(const struct ab_runtime *rt)
{
    ab_status rc = AB_OK;
    long len = 0;
    char *setup = NULL;
    struct hello me = {0};
    struct ab_space *sp = NULL;
    struct ab_eval_chain *chain = NULL;
    json_t *specs = NULL;
    json_error_t jerr;
    ab_dispatch_install_signals(); /* preemption: wait for the coordinator's STOP */
    AB_MPI(MPI_Bcast(&len, 1, MPI_LONG, 0, rt->comm));
    if (len <= 0) return AB_OK; /* the coordinator failed before dispatching */
    setup = malloc((size_t)len);
    AB_CHECK_ALLOC(setup);
    AB_MPI(MPI_Bcast(setup, (int)len, MPI_CHAR, 0, rt->comm));
    gethostname(me.host, sizeof me.host - 1);
    me.node = node_leader(rt->comm, rt->rank);
    {
        const char *space_def = setup, *specs_text = setup + strlen(setup) + 1;
        const char *base_dir = specs_text + strlen(specs_text) + 1;
        const char *workdir = base_dir + strlen(base_dir) + 1;
        struct ab_eval_context ctx = {0};
        rc = ab_space_from_definition(space_def, "coordinator", &sp);
        if (rc == AB_OK) {
            specs = json_loads(specs_text, 0, &jerr);
            ctx.space = sp;
            ctx.origin = "configuration";
            ctx.base_dir = base_dir;
            ctx.workdir = workdir[0] ? workdir : NULL;
            rc = specs ? ab_eval_chain_create(&ctx, specs, &chain)
                       : ab_err_set(AB_ERR_INTERNAL, "bad evaluator specs from rank 0");
        }
        me.ok = rc == AB_OK;
        if (!me.ok) snprintf(me.err, sizeof me.err, "%s", ab_err_msg());
    }
    AB_MPI(MPI_Gather(&me, (int)sizeof me, MPI_BYTE, NULL, 0, MPI_BYTE, 0, rt->comm));
    if (!me.ok) {
        /* wait for STOP */
        char dummy;
        AB_MPI(MPI_Recv(&dummy, 1, MPI_CHAR, 0, TAG_STOP, rt->comm, MPI_STATUS_IGNORE));
        rc = AB_OK;
        goto cleanup;
    }
    AB_CALL(serve_loop(rt, chain, sp));
cleanup:
    free(setup);
    json_decref(specs);
    ab_eval_chain_destroy(&chain);
    ab_space_destroy(&sp);
    return rc;
}
