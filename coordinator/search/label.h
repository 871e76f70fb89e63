/* SPDX-License-Identifier: MIT
 *
 * label.h - labelling a fixed list of architectures: every architecture
 * the result store (store.h) does not hold yet goes through the evaluator
 * chain, in-process or on the worker ranks (dispatch.h), and each result
 * is recorded as it arrives, so a killed or preempted run loses only the
 * evaluations in flight and a rerun evaluates only what is missing. The
 * data stage of `autobuild campaign` and `autobuild evaluate` are built on
 * it; a successful subset can then be written as a dataset (archdata).
 *
 *     struct ab_label_opts o = {.space = sp, .chain = chain, .store = "run.h5",
 *                               .identity = id, .on_other = AB_LABEL_REFUSE,
 *                               .specs_json = specs, .base_dir = ".",
 *                               .workdir = "run.h5.jobs", .progress = "[evaluate] "};
 *     struct ab_label *lab;
 *     AB_CALL(ab_label_open(&o, &lab));                 // rank 0
 *     AB_CALL(ab_label_plan(lab, archs, n, &todo));      // what the store lacks
 *     // todo > 0 and workers: ranks >= 1 must now be in ab_dispatch_serve()
 *     AB_CALL(ab_label_run(rt, lab, &interrupted));      // collective when todo > 0
 *     AB_CALL(ab_label_write_dataset(lab, "data.h5", &failed));
 *     AB_CALL(ab_label_close(&lab));
 *
 * Every function runs on rank 0 only; ab_label_run is the one collective
 * step (it creates a dispatch over rt->comm). Not thread-safe.
 */
#ifndef AB_SEARCH_LABEL_H
#define AB_SEARCH_LABEL_H

#include "eval/evaluator.h"
#include "mpi/runtime.h"
#include "space/space.h"
#include "store/store.h"
#include "util/error.h"

/* What ab_label_open does with a store made for another configuration (or
 * one too damaged to read). */
enum ab_label_other {
    AB_LABEL_RESTART = 0,  /* remove it and start over (its results are stale) */
    AB_LABEL_REFUSE = 1    /* AB_ERR_INPUT: the user picks another store path */
};

struct ab_label;

struct ab_label_opts {
    const struct ab_space *space;
    struct ab_eval_chain *chain;   /* borrowed; evaluates in-process, names the metrics */
    const char *store;             /* STORE.h5 (and STORE.h5.journal) */
    const char *identity;          /* what the store holds results of (canonical JSON) */
    enum ab_label_other on_other;
    const char *specs_json;        /* the chain's specs for the workers (JSON array) */
    const char *base_dir;          /* where relative paths in the specs start */
    const char *workdir;           /* the run's work directory (external jobs); may be NULL */
    const char *progress;          /* progress lines "<progress>3/10 labelled ..." on
                                    * stderr at log level info; NULL: none */
    const char *origin;            /* names the run in error messages, e.g. "c.yaml: data" */
    const char *evaluators_key;    /* the configuration key to fix when everything fails,
                                    * e.g. "data.evaluators" */
    /* Called (when set) by an interrupted ab_label_run after everything is
     * saved and before the dispatch ends, which with work still on the
     * workers ends the MPI job: the last chance to report. */
    void (*on_interrupt)(void *ctx, struct ab_label *lab);
    void *on_interrupt_ctx;
};

struct ab_label {
    struct ab_label_opts o;        /* the options (strings borrowed) */
    struct ab_store *st;           /* the open store */
    int resumed;                   /* the store existed and was made for this identity */
    long recorded_at_open;         /* evaluations it held then */
    /* the plan (ab_label_plan) */
    const struct ab_arch *archs;   /* borrowed, n of them */
    long n;
    long pending;                  /* to evaluate */
    struct ab_arch *todo;          /* [pending] */
    char **json;                   /* [pending]: canonical JSON */
    uint64_t *hash;                /* [pending] */
    long *seq;                     /* [pending]: index in archs */
    /* progress */
    long done, fresh;              /* recorded of n; evaluated by this run */
    double t0, last;
};

/* Opens (creating or resuming) the store for o->identity: a store that
 * exists and was made for the same identity is resumed; one of another
 * configuration is removed (AB_LABEL_RESTART, with a progress line) or
 * refused (AB_LABEL_REFUSE: AB_ERR_INPUT naming the store, nothing
 * changed). AB_ERR_IO when the store cannot be written. *out is NULL on
 * failure. Rank 0 only, not collective. */
ab_status ab_label_open(const struct ab_label_opts *o, struct ab_label **out);

/* Plans the labelling of archs[0..n) (borrowed until ab_label_close): the
 * architectures the store does not hold, in list order, each once (a
 * repeated architecture is evaluated once). *pending (optional) receives
 * their number. AB_ERR_NOMEM, or AB_ERR_INPUT for more than 2^31 - 1.
 * Rank 0 only. */
ab_status ab_label_plan(struct ab_label *lab, const struct ab_arch *archs, long n,
                        long *pending);

/* Evaluates the planned architectures and records every result in the
 * store as it arrives (failures with their reason). Collective over
 * rt->comm when something is pending and there are workers: ranks >= 1
 * must be in ab_dispatch_serve(), and they leave it when this returns;
 * with nothing pending it returns at once and involves no other rank.
 * A stop signal (ab_dispatch_install_signals) sets *interrupted: what
 * arrived is saved (journal synced, snapshot written) and, with work still
 * on the workers, the MPI job is ended with status 75 after saving. On
 * failure (the store cannot be written, an evaluator cannot be created on
 * a worker) the results recorded so far are kept. */
ab_status ab_label_run(const struct ab_runtime *rt, struct ab_label *lab, int *interrupted);

/* Counts over the planned list: *recorded architectures the store holds
 * a result for, *failed of them with a failed evaluation (or a non-finite
 * metric). Either pointer may be NULL. Cannot fail. */
void ab_label_count(const struct ab_label *lab, long *recorded, long *failed);

/* Writes the successful evaluations of the planned list (in list order,
 * each architecture once) as a dataset (archdata) at path, atomically;
 * *failed receives how many were left out. Every architecture must be
 * recorded (AB_ERR_INTERNAL otherwise). AB_ERR_INPUT naming the first
 * failure when none succeeded; AB_ERR_IO when the file cannot be written
 * (nothing is left at path then). Rank 0 only. */
ab_status ab_label_write_dataset(struct ab_label *lab, const char *path, long *failed);

/* Syncs and snapshots the store, closes it and frees lab. NULL-safe; sets
 * *lab to NULL. Returns the status of the final writes. */
ab_status ab_label_close(struct ab_label **lab);

/* Whether the store at path can be resumed for `identity`: *resume = 1
 * and *recorded = its evaluations when it exists and was made for it;
 * *resume = 0 when there is none. A store of another configuration (or one
 * too damaged to read) is removed with a progress line "<progress>PATH was
 * made for another configuration ...; starting over" (AB_LABEL_RESTART),
 * or refused with AB_ERR_INPUT naming it, nothing changed
 * (AB_LABEL_REFUSE). progress may be NULL. Not collective. */
ab_status ab_label_store_resumable(const char *path, const char *identity,
                                   enum ab_label_other on_other, const char *progress,
                                   int *resume, long *recorded);

/* Removes a store's two files (STORE.h5 and its journal); missing ones
 * are fine. AB_ERR_IO when one cannot be removed. */
ab_status ab_label_forget_store(const char *path);

#endif /* AB_SEARCH_LABEL_H */
