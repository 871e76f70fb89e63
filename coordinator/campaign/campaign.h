/* SPDX-License-Identifier: MIT
 *
 * campaign.h - the whole AutoBuild pipeline as one resumable job
 * (`autobuild campaign --config C.yaml`):
 *
 *     data     sample N unique architectures, label them through the
 *              evaluator chain (dispatch.h: in-process, or worker ranks
 *              under MPI), every evaluation recorded in a result store
 *              (store.h), then the labelled dataset   -> DIR/data.h5
 *     train    one predictor (or ensemble) per `predictors:` entry
 *                                                     -> DIR/predictors/NAME.h5
 *     label    every module of the space scored by each predictor (Eq. 5)
 *                                                     -> DIR/units/NAME.h5
 *     reduce   the union of the top-K modules per unit -> DIR/reduced.h5
 *     search   the AutoBuild-NAS Pareto EA inside the reduced space
 *                                                     -> DIR/search.yaml, DIR/search.h5
 *     report   the front and hypervolume per iteration -> DIR/front.csv,
 *                                                        DIR/history.csv, DIR/front.png
 *
 * Every output is written under a temporary name and renamed into place;
 * after a stage's outputs are in place a stamp (stamp.h) records the
 * stage's identity (its options and the content hashes of its inputs) and
 * the outputs' hashes. A rerun skips every stage whose stamp is complete;
 * a stage whose options or inputs changed is redone, and so (through the
 * hashes) is every stage after it. The data and search stages keep their
 * evaluations in stores, so a killed or preempted campaign loses at most
 * the evaluations in flight; SIGTERM/SIGUSR1 during them checkpoint and end
 * the run with exit status 75.
 *
 *     struct ab_campaign *c;
 *     AB_CALL(ab_campaign_load("C.yaml", &c));     // rank 0; checks everything
 *     AB_CALL(ab_campaign_run(rt, c, &sum));       // rank 0; collective
 *     ... on ranks >= 1: ab_campaign_serve(rt)
 *     ab_campaign_destroy(&c);
 */
#ifndef AB_CAMPAIGN_CAMPAIGN_H
#define AB_CAMPAIGN_CAMPAIGN_H

#include <jansson.h>

#include "mpi/runtime.h"
#include "predictor/train.h"
#include "search/search.h"
#include "space/space.h"
#include "util/error.h"

#define AB_CAMPAIGN_MAX_PRED 16
#define AB_CAMPAIGN_MAX_RES 64
#define AB_CAMPAIGN_MAX_BASELINES 2

/* One `predictors:` entry. */
struct ab_campaign_predictor {
    char *name;                  /* [A-Za-z0-9_-]+: predictors/NAME.h5, units/NAME.h5 */
    char *target;                /* label equation over the data's metrics */
    struct ab_pred_config cfg;
    struct ab_train_opts opts;
    int folds, seeds;            /* both 0: one predictor; else an F x S ensemble */
    int line;                    /* of the entry, for messages */
};

struct ab_campaign {
    char *origin;                /* the configuration file */
    char *base_dir;              /* its folder: relative paths start here */
    char *dir;                   /* the campaign folder, resolved */
    struct ab_space *space;
    char *space_spec;            /* campaign.space: a built-in name or the YAML file's path */
    uint64_t seed;
    /* data */
    long n;
    uint64_t data_seed;
    int res[AB_CAMPAIGN_MAX_RES], n_res;   /* resolutions to sample (0: the space's) */
    json_t *data_evaluators;     /* specs as written */
    json_t *data_run_specs;      /* the same with `file` paths resolved to absolute ones */
    char *data_evaluators_id;    /* canonical JSON: specs and the hashes of their files */
    char **data_metrics;         /* metrics the data's evaluators give */
    int n_data_metrics;
    /* train */
    int n_pred;
    struct ab_campaign_predictor pred[AB_CAMPAIGN_MAX_PRED];
    /* label and reduce */
    int ks[AB_MAX_STAGES], n_k;
    int constrained;
    int label_resolution;        /* 0 for spaces without resolutions */
    /* search */
    long init, iterations, per_iteration;
    double mutate_prob, snapshot_interval;
    uint64_t search_seed;
    int search_resolution;       /* 0: the search's default */
    int search_async;            /* search.mode: async (steady state) instead of sync */
    int n_obj;
    struct ab_objective obj[AB_SEARCH_MAX_OBJ];   /* ref NaN: 'auto' (from data.h5) */
    int n_baselines;             /* searches of the full space beside AutoBuild-NAS */
    char baselines[AB_CAMPAIGN_MAX_BASELINES][16];  /* stage_full, layer_full */
    json_t *search_run_specs;    /* evaluator specs, `file` paths absolute */
    char *search_evaluators_id;  /* canonical JSON: specs and the hashes of their files */
};

/* Loads and checks a campaign configuration: unknown keys and sections,
 * bad values, unknown evaluator types, evaluator files that cannot be
 * read, targets naming a metric the data's evaluators do not give,
 * objectives the search's evaluators do not give, a K list that does not
 * fit the space's units, duplicate predictor names. Errors are one line
 * naming the file, the line and the key (AB_ERR_INPUT); *out is then NULL.
 * Reads the evaluator files; writes nothing. */
ab_status ab_campaign_load(const char *path, struct ab_campaign **out);
/* The same from text held in memory; `path` names it in messages and
 * gives the folder relative paths are resolved against. */
ab_status ab_campaign_parse(const char *text, size_t len, const char *path,
                            struct ab_campaign **out);
/* NULL-safe; sets *c to NULL. */
void ab_campaign_destroy(struct ab_campaign **c);

/* The YAML configuration of a search of the campaign (`autobuild search`
 * --config): the search variant (autobuild_nas, stage_full, layer_full) in
 * `space` with store `store` (both as written into the file, relative to
 * its folder), the objectives' references refs[] (NULL: c->obj[].ref).
 * malloc'd into *out. */
ab_status ab_campaign_search_yaml(const struct ab_campaign *c, const char *space,
                                  const char *store, const char *variant, const double *refs,
                                  char **out);

/* What a finished (or interrupted) campaign reports. */
struct ab_campaign_summary {
    int interrupted;             /* 1: a stop signal; rerun to continue */
    long labelled, failed;       /* data stage */
    long evaluations, front_size;/* search stage */
    double hypervolume, seconds;
    char *reduced_size;          /* architectures per resolution (decimal) */
    json_t *stages;              /* {"data": "done"|"skipped", ...} */
    json_t *predictors;          /* [{"name", "target", "test_srcc"}] */
    json_t *baselines;           /* [{"variant", "evaluations", "front_size", "hypervolume",
                                  *   ...}] of search.baselines */
};
void ab_campaign_summary_free(struct ab_campaign_summary *s);

/* Runs every stage that is not complete, in order, on rank 0. Collective
 * over rt->comm: ranks >= 1 must be in ab_campaign_serve(); rank 0 tells
 * them each step (evaluate through dispatch, train ensemble members, end).
 * Progress lines "[campaign] STAGE: ..." go to stderr. On a stop signal
 * during the data or search stage everything is saved, sum->interrupted is
 * set and AB_OK returned; the caller exits with status 75. */
ab_status ab_campaign_run(const struct ab_runtime *rt, const struct ab_campaign *c,
                          struct ab_campaign_summary *sum);

/* The report stage's own files in c->dir: report.md (data, predictors with
 * their FE-MLP insights, reduced space, searches, an architecture of the
 * front) and its pictures (importance_NAME.png, hops_NAME.png, fronts.png
 * with two objectives, best_arch_hopL.png). Reads data.h5, predictors/,
 * search.h5 and the baselines' stores. *names: the files written
 * (relative, malloc'd, free each and the array). */
ab_status ab_campaign_write_report(const struct ab_campaign *c,
                                   const struct ab_campaign_summary *sum, char ***names,
                                   int *n_names);

/* Ranks >= 1: takes part in the steps rank 0 announces until it ends the
 * campaign (also when rank 0 failed). Collective with ab_campaign_run. */
ab_status ab_campaign_serve(const struct ab_runtime *rt);

/* Rank 0 when ab_campaign_run is not reached (the configuration failed to
 * load): lets the ranks in ab_campaign_serve return. Collective. */
void ab_campaign_release(const struct ab_runtime *rt);

#endif /* AB_CAMPAIGN_CAMPAIGN_H */
