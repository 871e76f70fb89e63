/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild campaign`: the whole AutoBuild pipeline
 * (data, train, label, reduce, search, report) as one resumable job; the
 * stages live in coordinator/campaign/.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "campaign/campaign.h"
#include "cli/cli.h"

static const char campaign_help[] =
    "usage: autobuild campaign --config C.yaml [--json]\n"
    "\n"
    "Runs the whole AutoBuild pipeline in one job, each stage's output a file in\n"
    "the campaign folder (campaign.dir):\n"
    "\n"
    "  1. data     sample data.n unique architectures (seeded) and label them\n"
    "              through data.evaluators, every evaluation recorded as it\n"
    "              arrives in a store (data-labels.h5 + .journal); then the\n"
    "              labelled dataset, failed evaluations left out -> data.h5\n"
    "              (the 'autobuild data import' format)\n"
    "  2. train    one predictor per predictors: entry ('autobuild train'),\n"
    "              or an ensemble when it sets folds/seeds -> predictors/NAME.h5\n"
    "  3. label    score every module of the space with each ('autobuild\n"
    "              label', Eq. 5)                           -> units/NAME.h5\n"
    "  4. reduce   union of every predictor's top-K modules per unit\n"
    "              ('autobuild reduce')                     -> reduced.h5\n"
    "  5. search   the AutoBuild-NAS evolutionary search inside the reduced\n"
    "              space ('autobuild search')   -> search.yaml, search.h5\n"
    "  5b. baselines  the same search in the whole space for each of\n"
    "              search.baselines (stage_full, layer_full)\n"
    "                                      -> baseline-VARIANT.yaml, .h5\n"
    "  6. report   report.md: the data, each predictor's test SRCC per hop and\n"
    "              FE-MLP insights (which feature values drive its target),\n"
    "              the reduced space, the searches side by side, an\n"
    "              architecture of the front coloured by importance; its\n"
    "              pictures (importance_NAME.png, hops_NAME.png, fronts.png,\n"
    "              best_arch_hopL.png); and front.csv, history.csv, front.png\n"
    "\n"
    "Reruns continue. After a stage's files are in place, stamps/STAGE.json\n"
    "records the stage's configuration and the hashes of its inputs and\n"
    "outputs. Running the same command again skips every complete stage\n"
    "('[campaign] STAGE: skipped (complete)'); a stage whose part of the\n"
    "configuration (or whose input) changed is redone, and with it every\n"
    "later stage; a killed data or search stage continues from its store, so\n"
    "at most the evaluations in flight are lost (a larger data.n, too, only\n"
    "evaluates the architectures it adds). SIGTERM or SIGUSR1 (Slurm\n"
    "preemption) during data or search saves everything and exits with status\n"
    "75; run the same command again. Files are written under temporary names\n"
    "and renamed into place, so no stage leaves a half-written file; a second\n"
    "run in a folder that a campaign is using is refused (campaign.lock).\n"
    "\n"
    "Plain, evaluations run in this process; under mpirun/srun rank 0\n"
    "coordinates, every other rank evaluates (data, search) and trains its\n"
    "share of ensemble members. Progress lines '[campaign] ...' go to stderr;\n"
    "the summary to stdout (with --json its last line is one object:\n"
    "labelled, failed, predictors, reduced_size, evaluations, front_size,\n"
    "hypervolume, seconds, interrupted, stages, baselines, dir).\n"
    "\n"
    "Configuration (YAML; unknown keys are errors; relative paths start at the\n"
    "configuration's folder):\n"
    "  campaign:\n"
    "    dir: camp                # the campaign folder (created)\n"
    "    space: ofa_mbv3          # built-in name or YAML space file\n"
    "    seed: 1                  # default seed of every stage\n"
    "  data:\n"
    "    n: 3000                  # architectures to sample and label\n"
    "    seed: 1                  # (default campaign.seed)\n"
    "    resolutions: [224]       # to sample from (default: the space's, OFA\n"
    "                             # 192/208/224)\n"
    "    evaluators:              # as in 'autobuild search'; metrics merge\n"
    "      - {type: predictor, file: l1_acc.h5, metric: acc}\n"
    "      - {type: predictor, file: l1_npu.h5, metric: latency_npu}\n"
    "      # - {type: table, file: labelled.h5}\n"
    "      # - {type: synthetic, metrics: [acc, latency_npu]}  (for trials)\n"
    "  predictors:                # one per target equation over data's metrics;\n"
    "                             # high scores are kept, so negate costs\n"
    "    - {name: acc, target: acc, epochs: 200}\n"
    "    - {name: npu, target: -latency_npu, epochs: 200}\n"
    "    - {name: ratio, target: 'acc*100/latency_npu', folds: 5, seeds: 2}\n"
    "      # also: batch, lr, wd, lambda, seed, threads, gnn, hidden, layers,\n"
    "      # aggr, activ, norm - the options of 'autobuild train'\n"
    "  modules:\n"
    "    k: 5                     # top K per unit, or one per unit: [5, 5, 4, 4, 3]\n"
    "    select: constrained      # or unconstrained (default), see 'reduce --help'\n"
    "    resolution: 224          # modules scored at (default 224 for OFA)\n"
    "  search:                    # budget = init + iterations x per_iteration\n"
    "    init: 50\n"
    "    iterations: 4\n"
    "    per_iteration: 50\n"
    "    stage_mutate_prob: 0.5\n"
    "    seed: 1                  # (default campaign.seed)\n"
    "    resolution: 224          # (default 224 for OFA)\n"
    "    mode: sync               # or async (steady state), see 'search --help'\n"
    "    objectives:\n"
    "      - {metric: acc, goal: max, ref: 0.70}     # ref: hypervolume reference, or\n"
    "                             # auto: the worst labelled value (data.h5)\n"
    "      - {metric: latency_npu, goal: min, ref: 60.0}\n"
    "    evaluators: [...]        # default: data.evaluators\n"
    "    baselines: [stage_full]  # also search the whole space this way, same\n"
    "                             # budget (stage_full, layer_full); compared\n"
    "                             # in the report\n"
    "    snapshot_interval: 5     # seconds between store snapshots\n"
    "\n"
    "An example: experiments/campaign-synthetic.yaml. Exit status: 0 done,\n"
    "2 bad configuration (one line naming file, line and key; nothing is\n"
    "written), 75 interrupted (rerun to continue), 1 other failures.\n";

static void print_summary(const struct ab_campaign *c, const struct ab_campaign_summary *s,
                          int json)
{
    if (json) {
        json_t *j = json_object();
        char *t;
        json_object_set_new(j, "dir", json_string(c->dir));
        json_object_set_new(j, "labelled", json_integer(s->labelled));
        json_object_set_new(j, "failed", json_integer(s->failed));
        json_object_set(j, "predictors", s->predictors);
        json_object_set_new(j, "reduced_size", s->reduced_size ? json_string(s->reduced_size)
                                                               : json_null());
        json_object_set_new(j, "evaluations", json_integer(s->evaluations));
        json_object_set_new(j, "front_size", json_integer(s->front_size));
        json_object_set_new(j, "hypervolume", isfinite(s->hypervolume)
                                                  ? json_real(s->hypervolume)
                                                  : json_null());
        json_object_set_new(j, "seconds", json_real(s->seconds));
        json_object_set_new(j, "interrupted", json_boolean(s->interrupted));
        json_object_set(j, "stages", s->stages);
        json_object_set(j, "baselines", s->baselines);
        t = json_dumps(j, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
        return;
    }
    if (s->interrupted) {
        printf("campaign %s: interrupted after %.1f s; run it again to continue\n", c->dir,
               s->seconds);
        return;
    }
    printf("campaign %s: done in %.1f s\n", c->dir, s->seconds);
    printf("  data      %ld architectures labelled, %ld failed          data.h5\n", s->labelled,
           s->failed);
    for (size_t i = 0; i < json_array_size(s->predictors); i++) {
        json_t *p = json_array_get(s->predictors, i);
        printf("  train     %-10s '%s': test SRCC %.4f   predictors/%s.h5\n",
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "target")),
               json_number_value(json_object_get(p, "test_srcc")),
               json_string_value(json_object_get(p, "name")));
    }
    printf("  reduce    %s architectures per resolution        reduced.h5\n",
           s->reduced_size ? s->reduced_size : "?");
    printf("  search    %ld evaluations, front %ld, hypervolume %.6g   search.h5\n",
           s->evaluations, s->front_size, s->hypervolume);
    for (size_t i = 0; i < json_array_size(s->baselines); i++) {
        json_t *b = json_array_get(s->baselines, i);
        printf("  baseline  %-10s %lld evaluations, front %lld, hypervolume %.6g   "
               "baseline-%s.h5\n", json_string_value(json_object_get(b, "variant")),
               (long long)json_integer_value(json_object_get(b, "evaluations")),
               (long long)json_integer_value(json_object_get(b, "front_size")),
               json_number_value(json_object_get(b, "hypervolume")),
               json_string_value(json_object_get(b, "variant")));
    }
    printf("  report    report.md (open it first), front.csv, history.csv, front.png\n");
}

ab_status ab_cmd_campaign(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    const char *config = NULL;
    int json = 0, o;
    struct ab_campaign *c = NULL;
    struct ab_campaign_summary sum = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'j': json = 1; break;
        case 'h': if (rt->rank == 0) fputs(campaign_help, stdout); return AB_OK;
        default: return ab_cli_usage(argv[0], "unknown option or missing value");
        }
    }
    if (!config || optind != argc)
        return ab_cli_usage(argv[0], "--config C.yaml is required");
    if (rt->rank != 0) return ab_campaign_serve(rt);
    rc = ab_campaign_load(config, &c);
    if (rc) {
        ab_campaign_release(rt);
        return rc;
    }
    rc = ab_campaign_run(rt, c, &sum);
    if (rc == AB_OK) print_summary(c, &sum, json);
    fflush(stdout);
    if (rc == AB_OK && sum.interrupted) {
        ab_campaign_summary_free(&sum);
        ab_campaign_destroy(&c);
        ab_runtime_finalize(rt, 75);
        exit(75);
    }
    ab_campaign_summary_free(&sum);
    ab_campaign_destroy(&c);
    return rc;
}
