/* SPDX-License-Identifier: MIT
 *
 * dispatch.h - getting candidates evaluated: in-process (single-process
 * mode) or by worker ranks under MPI. Rank 0 coordinates; ranks >= 1 run
 * ab_dispatch_serve() until the coordinator stops them.
 *
 * A work message carries canonical architecture JSON lines (the evaluator
 * chain is the one every worker built from the broadcast specs); a result
 * message carries, per item, status, start/end time, metrics and error
 * text. Dispatch is asynchronous: every idle worker gets work at once,
 * results are taken in whatever order they arrive, and a slow worker never
 * holds the others. Items go out in chunks sized to the queue (one at a
 * time for slow evaluators, up to 256 for instant ones) so the coordinator
 * spends microseconds per evaluation. A chain marked exclusive runs on at
 * most one rank per node at a time (nodes from MPI_Comm_split_type).
 *
 * SIGTERM and SIGUSR1 (Slurm's preemption signals) set a flag; the
 * coordinator stops dispatching, waits a grace period for work in flight,
 * and returns with *interrupted set so the caller checkpoints and exits.
 */
#ifndef AB_COORDINATOR_DISPATCH_H
#define AB_COORDINATOR_DISPATCH_H

#include "eval/evaluator.h"
#include "mpi/runtime.h"

struct ab_dispatch;

/* One finished evaluation, handed to the caller's callback. */
struct ab_dispatch_done {
    int index;            /* position in the batch */
    int status;           /* AB_EVAL_OK or AB_EVAL_FAILED */
    int rank;
    const char *host;
    double t_start, t_end;
    const double *metrics;  /* chain->n_metrics */
    const char *error;
};

typedef ab_status (*ab_dispatch_cb)(void *ctx, const struct ab_dispatch_done *d);

/* Collective over rt->comm. On rank 0: creates the coordinator side with
 * the chain (used in-process when there are no workers) and sends every
 * worker the space definition, the evaluator specs (JSON array), the base
 * directory and the run's work directory (ab_eval_context.workdir, e.g.
 * STORE.jobs for external jobs; NULL: none). On workers: never called (see
 * ab_dispatch_serve). */
ab_status ab_dispatch_create(const struct ab_runtime *rt, struct ab_eval_chain *chain,
                             const char *space_def, const char *specs_json,
                             const char *base_dir, const char *workdir,
                             struct ab_dispatch **out);

/* Evaluates n architectures (canonical JSON in json[i], parsed in archs[i]);
 * calls cb once per finished item, in completion order. Returns early with
 * *interrupted = 1 when a stop signal arrived (items not reported are not
 * done). Coordinator only. */
ab_status ab_dispatch_run(struct ab_dispatch *d, const struct ab_arch *archs,
                          char *const *json, int n, ab_dispatch_cb cb, void *ctx,
                          int *interrupted);

/* Supplies up to `max` new items for an idle worker: item i gets the
 * caller's identifier idx[i] (>= 0, handed back in ab_dispatch_done.index),
 * its architecture archs[i] (copied) and canonical JSON js[i] (read before
 * the next call). *n = 0 means there is no more work. */
typedef ab_status (*ab_dispatch_feed)(void *ctx, int max, int *n, int *idx,
                                      struct ab_arch *archs, const char **js);

/* Asynchronous steady state: whenever a worker is idle, asks `feed` for
 * work and sends it; calls cb once per finished item, in completion order,
 * so the caller can let every result shape the next items. Returns when
 * feed has no more work and nothing is in flight, or early with
 * *interrupted = 1 after a stop signal (items not reported are not done).
 * In-process, items are evaluated as fed (in batches of at most 64), which
 * makes the sequence deterministic. Coordinator only. */
ab_status ab_dispatch_stream(struct ab_dispatch *d, ab_dispatch_feed feed, ab_dispatch_cb cb,
                             void *ctx, int *interrupted);

/* Number of evaluating processes (workers, or 1 in-process). */
int ab_dispatch_workers(const struct ab_dispatch *d);

/* Stops the workers (they leave ab_dispatch_serve) and frees. Coordinator
 * only; with force = 1 (interrupted with work in flight) aborts the MPI job
 * after the caller has saved everything, since busy workers cannot be
 * stopped politely. */
void ab_dispatch_destroy(struct ab_dispatch **d, int force);

/* Worker side (ranks >= 1), collective with ab_dispatch_create: receives
 * the configuration, builds the chain, evaluates until stopped. An
 * evaluator that cannot be created is reported to the coordinator, which
 * fails the run with that message. */
ab_status ab_dispatch_serve(const struct ab_runtime *rt);

/* Installs the SIGTERM/SIGUSR1 handlers; ab_dispatch_stop_requested() says
 * whether one fired. */
void ab_dispatch_install_signals(void);
int ab_dispatch_stop_requested(void);

#endif /* AB_COORDINATOR_DISPATCH_H */
