/* SPDX-License-Identifier: MIT
 *
 * search.h - the multi-objective evolutionary search (BlockProfile's Pareto
 * EA, METHOD.md section 6) with the paper's four variants, driven by a YAML
 * configuration, evaluating through dispatch.h and recording everything in
 * a result store (store.h).
 *
 * The EA (synchronous mode): sample `init` unique architectures, evaluate
 * them, keep the Pareto front; each iteration, walk the front round robin
 * (oldest first), mutating each member into one unique, never-seen child
 * (up to 100 attempts per parent) until `per_iteration` children exist,
 * shuffle them and keep `per_iteration`; when mutation cannot find enough,
 * top up with unseen random architectures, so the budget
 * init + iterations x per_iteration is always spent exactly. The front is
 * recomputed from every successful evaluation (strict Pareto dominance; of
 * architectures with equal metrics the earliest stays). Variants:
 *   stage_full     each search unit replaced, with probability p, by a
 *                  random subgraph of that unit (at least one unit), drawn
 *                  as OFA samples: each stage's depth uniform, then every
 *                  block uniform; the initial pool is drawn the same way
 *   layer_full     each stage, with probability p, gets one edit: add a
 *                  random block at a random position, remove one, or swap
 *                  one for another block (uniform over the valid edits)
 *   layer_insight  layer_full within per-stage rules (allowed blocks, depth
 *                  bounds, mutation probabilities) from the configuration or
 *                  a preset (the paper's OFA GPU/CPU/NPU/Note10 rules)
 *   autobuild_nas  stage_full inside a reduced space (`autobuild reduce`);
 *                  a unit's subgraph is drawn uniformly from those it keeps
 * The random stream depends only on the seed and the evaluation results,
 * and results are merged in candidate order, so a run with deterministic
 * evaluators gives the same front for any number of workers, and a resumed
 * run (which replays the search, taking recorded evaluations from the
 * store) ends exactly where an uninterrupted one does.
 *
 * The asynchronous steady-state mode (`mode: async`) keeps every worker busy
 * when evaluation times vary widely: each finished evaluation updates the
 * front at once and the idle worker gets a child of the current front
 * (round robin over its members); the first `init` candidates are random;
 * iteration k is recorded when init + k x per_iteration results are in. It
 * is deterministic in-process only; --resume loads every recorded result and
 * goes on until the budget is spent (no replay needed).
 */
#ifndef AB_COORDINATOR_SEARCH_H
#define AB_COORDINATOR_SEARCH_H

#include <jansson.h>
#include <yaml.h>

#include "mpi/runtime.h"
#include "space/space.h"
#include "util/error.h"

#define AB_SEARCH_MAX_OBJ 8

enum ab_variant { AB_STAGE_FULL, AB_LAYER_FULL, AB_LAYER_INSIGHT, AB_AUTOBUILD_NAS };

struct ab_objective {
    char *metric;
    int maximize;
    double ref;   /* hypervolume reference point coordinate */
};

struct ab_search_config {
    char *origin;       /* the configuration file */
    char *base_dir;     /* its directory */
    char *space_spec;   /* as written: name, YAML file or reduced-space file */
    struct ab_space *space;
    enum ab_variant variant;
    long init, iterations, per_iteration;
    double mutate_prob;
    double stage_prob[AB_MAX_STAGES];     /* per stage (layer variants) / unit */
    uint64_t seed;
    int resolution;
    int n_obj;
    struct ab_objective obj[AB_SEARCH_MAX_OBJ];
    json_t *evaluators;  /* JSON array of evaluator specs */
    char *store;         /* the store path, resolved */
    double snapshot_interval;
    int async;           /* mode: async (steady state) instead of sync */
    char **cache;        /* stores whose evaluations are reused (search.cache) */
    int n_cache;
    /* layer_insight rules, per stage */
    int min_layers[AB_MAX_STAGES], max_layers[AB_MAX_STAGES];
    uint8_t allowed[AB_MAX_STAGES][AB_MAX_CHOICES + 1];
    char *identity;      /* canonical JSON of everything that defines the run */
};

/* Loads and checks a configuration file. Unknown keys, variants or
 * objectives without direction are input errors naming file, line and key.
 * A reduced-space file must be of the same base space as given elsewhere. */
ab_status ab_search_config_load(const char *path, struct ab_search_config **out);
/* The same from text held in memory; `path` names it in messages and gives
 * the folder relative paths are resolved against. */
ab_status ab_search_config_parse(const char *text, size_t len, const char *path,
                                 struct ab_search_config **out);
void ab_search_config_destroy(struct ab_search_config **c);

struct ab_yamldoc;
/* Parses the `objectives:` list of the mapping s (metric, goal max|min, ref;
 * 1 to AB_SEARCH_MAX_OBJ, no metric twice) into obj[*n_obj...], advancing
 * *n_obj; the metric names are allocated (the caller frees them, also on
 * failure). Errors name the file, line and key. allow_auto: `ref: auto`
 * is accepted and gives ref = NaN (the caller resolves it); else it is an
 * error. */
ab_status ab_search_objectives_parse(struct ab_yamldoc *d, yaml_node_t *s,
                                     struct ab_objective *obj, int *n_obj, int allow_auto);

struct ab_search_summary {
    long evaluations, unique, failed, front_size, iterations;
    long cached;   /* taken from search.cache stores instead of evaluated */
    double hypervolume, seconds;
    int interrupted;
};

/* Runs (or with resume = 1 continues) the search on rank 0. Collective over
 * rt->comm: ranks >= 1 must be in ab_dispatch_serve(). Progress lines go
 * to stderr; the front is printed to stdout unless quiet. */
ab_status ab_search_run(const struct ab_runtime *rt, struct ab_search_config *cfg, int resume,
                        int quiet, struct ab_search_summary *sum);

#endif /* AB_COORDINATOR_SEARCH_H */
