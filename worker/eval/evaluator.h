/* SPDX-License-Identifier: MIT
 *
 * evaluator.h - one interface for everything that turns an architecture
 * into metrics: tabular look-ups, predictors, synthetic test evaluators, and
 * (later) OFA subnet inference and external jobs.
 *
 * An evaluator is created from a spec, a JSON object that the search
 * configuration's `evaluators:` list item becomes, e.g.
 *
 *     {"type":"table","file":"labelled.h5"}
 *     {"type":"predictor","file":"l1_acc.h5","metric":"acc"}
 *     {"type":"synthetic","sleep_ms":100}
 *
 * The coordinator ships the specs (not the objects) to the workers, which
 * create their own evaluators from them. A candidate goes through every
 * evaluator of a chain; their metrics are merged (a metric produced by two
 * evaluators of one chain is a configuration error).
 *
 * Failure model: an evaluation error that concerns one architecture (missing
 * from a table, rejected by a job) is reported in status/err for that
 * architecture and is recorded; a failure of the evaluator itself (cannot
 * read its file) is returned as a status and stops the run.
 *
 * Long evaluations (days) keep their own resumable state in a directory
 * derived from the store (ab_eval_context.workdir) keyed by the
 * architecture's hash, so an evaluator restarted after preemption picks up
 * where it was.
 */
#ifndef AB_WORKER_EVALUATOR_H
#define AB_WORKER_EVALUATOR_H

#include <jansson.h>

#include "space/space.h"
#include "util/error.h"

#define AB_EVAL_ERRLEN 200   /* bytes of error text per architecture */
#define AB_EVAL_MAX 8        /* evaluators per chain */

/* AB_EVAL_INTERRUPTED: not evaluated because a stop was requested (an
 * external job left running, to be re-attached by the next run); the
 * dispatcher records nothing for it, so a rerun evaluates it again. */
enum ab_eval_status { AB_EVAL_OK = 0, AB_EVAL_FAILED = 1, AB_EVAL_INTERRUPTED = 2 };

struct ab_eval_context {
    const struct ab_space *space;
    const char *origin;    /* the configuration file, for messages */
    const char *base_dir;  /* relative paths are resolved here first */
    const char *workdir;   /* per-run scratch directory (may be NULL) */
};

struct ab_evaluator;

struct ab_eval_type {
    const char *name;
    const char *const *keys;   /* allowed spec keys besides type/exclusive/batch */
    const char *summary;       /* one line for --help */
    ab_status (*create)(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                        json_t *spec);
    /* Evaluates n architectures: metrics [n x ev->n_metrics] (NaN where
     * failed), status [n], err [n x AB_EVAL_ERRLEN]. Returns non-OK only
     * when the evaluator itself fails. */
    ab_status (*evaluate)(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                          double *metrics, int *status, char *err);
    void (*destroy)(struct ab_evaluator *ev);
};

struct ab_evaluator {
    const struct ab_eval_type *type;
    const struct ab_space *space;
    int n_metrics;
    char **metrics;   /* names of the metrics it produces */
    int exclusive;    /* 0, or at most this many evaluations at once per node
                       * (exclusive: true = 1, for latency measurement) */
    int batch;        /* most architectures per evaluate() call */
    void *impl;
};

/* All evaluators of a configuration, in order. */
struct ab_eval_chain {
    int n;
    struct ab_evaluator *ev[AB_EVAL_MAX];
    int n_metrics;        /* union of the evaluators' metrics */
    char **metrics;
    int *metric_of;       /* [sum of ev metrics]: chain column of each */
    int exclusive;        /* smallest non-zero evaluator limit; 0: none */
    int batch;            /* smallest preferred batch */
    char *names;          /* e.g. "table" or "predictor+predictor" */
};

/* Creates one evaluator from its spec. `where` names the spec in messages,
 * e.g. "evaluators[1]". Unknown types and keys are input errors listing the
 * known ones. */
ab_status ab_evaluator_create(const struct ab_eval_context *ctx, json_t *spec, const char *where,
                              struct ab_evaluator **out);
void ab_evaluator_destroy(struct ab_evaluator **ev);

/* Creates a chain from a JSON array of specs (at least one); merges metric
 * names and rejects a metric produced twice. */
ab_status ab_eval_chain_create(const struct ab_eval_context *ctx, json_t *specs,
                               struct ab_eval_chain **out);
void ab_eval_chain_destroy(struct ab_eval_chain **c);
/* Chain column of a metric, -1 when no evaluator produces it. */
int ab_eval_chain_metric(const struct ab_eval_chain *c, const char *name);

/* Evaluates n architectures through every evaluator of the chain (in
 * batches of c->batch): metrics [n x c->n_metrics]; an architecture fails
 * when any evaluator fails it (the first error text is kept). */
ab_status ab_eval_chain_run(struct ab_eval_chain *c, const struct ab_arch *archs, int n,
                            double *metrics, int *status, char *err);

/* The registered types (NULL-terminated), for --help and messages. */
extern const struct ab_eval_type *const ab_eval_types[];

/* Resolves a file named in a spec: absolute paths as they are; relative ones
 * against ctx->base_dir when the file exists there, else the working
 * directory. Writes into buf. */
void ab_eval_resolve_path(const struct ab_eval_context *ctx, const char *file, char *buf,
                          size_t cap);

/* Helpers for evaluator implementations: a string key (required or not),
 * a number key in a range, and the spec's metric name list. */
ab_status ab_eval_spec_str(json_t *spec, const char *where, const char *key, int required,
                           const char **out);
ab_status ab_eval_spec_num(json_t *spec, const char *where, const char *key, double def,
                           double lo, double hi, double *out);
ab_status ab_eval_set_metrics(struct ab_evaluator *ev, const char *const *names, int n);

#endif /* AB_WORKER_EVALUATOR_H */
