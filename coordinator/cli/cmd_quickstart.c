/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild quickstart`: the README's main job, a
 * whole AutoBuild campaign that needs nothing but this machine. It writes a
 * random-weight Once-for-All supernet and a campaign configuration into
 * the output folder and runs `autobuild campaign` on it: real CPU latency
 * of a few hundred subnets measured with autobuild's engine, predictors
 * for latency and compute efficiency, module scores, a reduced space,
 * AutoBuild-NAS and Stage-Full side by side, and the report.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "campaign/campaign.h"
#include "cli/cli.h"
#include "ofa/ofa_supernet.h"
#include "predictor/checkpoint.h"
#include "predictor/ensemble.h"
#include "predictor/importance.h"
#include "util/fsutil.h"
#include "util/log.h"

static const char quickstart_help[] =
    "usage: autobuild quickstart [--out DIR] [--space S] [--n N] [--budget B]\n"
    "                            [--seed K] [--json]\n"
    "\n"
    "The main job: a whole AutoBuild campaign on this machine, with data it makes\n"
    "itself (about 3 minutes on 2 cores with the defaults):\n"
    "\n"
    "  1. a Once-for-All supernet with random weights       -> DIR/supernet.h5\n"
    "  2. N random subnets, each spliced from it and timed: the median CPU\n"
    "     latency of 10 runs at batch 1 with autobuild's engine (one at a time\n"
    "     per node), plus exact MACs ('flops') and parameters -> DIR/data.h5\n"
    "  3. two predictors: '-latency_ms' (fast) and 'flops/latency_ms' (MACs per\n"
    "     millisecond: how well a subnet uses this CPU), a 5-fold ensemble each\n"
    "                                                   -> DIR/predictors/\n"
    "  4. every module scored by both (Eq. 5), the top 3 per stage kept\n"
    "                                       -> DIR/units/, DIR/reduced.h5\n"
    "  5. AutoBuild-NAS in the reduced space and Stage-Full in the whole space,\n"
    "     B evaluations each, trading MACs (max) against measured latency (min)\n"
    "                                       -> DIR/search.h5, DIR/baseline-*.h5\n"
    "  6. the report: DIR/report.md with its pictures (fronts, hop SRCC,\n"
    "     FE-MLP importance, the best architecture coloured by importance)\n"
    "\n"
    "and prints what the latency predictor learned: which stages, layers, kernel\n"
    "sizes and expansion ratios drive latency on this CPU.\n"
    "\n"
    "What it measures: latency and model cost, not accuracy. The weights are\n"
    "random (latency does not depend on them); MACs stand in for capacity. For\n"
    "accuracy, put an accuracy evaluator in a campaign of your own: the authors'\n"
    "pretrained surrogate predictors ({type: predictor}, see\n"
    "experiments/search-mbv3) or OFA's released supernet with ImageNet ({type:\n"
    "ofa, supernet: ..., data: val.h5}, see tools/convert_ofa_supernet.py and\n"
    "tools/convert_imagenet_folder.py). The configuration this command runs is\n"
    "DIR/quickstart.yaml: a starting point for your own ('autobuild campaign\n"
    "--help').\n"
    "\n"
    "Reruns continue (every finished stage is skipped; a killed run loses at most\n"
    "the subnet being timed). Under mpirun/srun, rank 0 coordinates and the other\n"
    "ranks time subnets, one per node at a time.\n"
    "\n"
    "  --out DIR    output folder (default autobuild-quickstart)\n"
    "  --space S    ofa_mbv3 (default; the w1.0 supernet) or ofa_pn (w1.3)\n"
    "  --n N        subnets to time (default 400)\n"
    "  --budget B   evaluations per search (default 150, at least 40)\n"
    "  --seed K     seed of the sample, the training and the searches (default 1)\n"
    "  --json       the campaign's summary as one JSON line\n";

/* The campaign configuration of the quickstart. */
static ab_status write_config(const char *path, const char *space, long n, long budget,
                              long seed)
{
    char tmp[PATH_MAX];
    FILE *f;
    /* 5 iterations; the initial pool takes the remainder, so that
     * init + 5 x per == budget exactly (budget >= 40) */
    long per = (budget - (budget >= 100 ? 50 : 20)) / 5, iters = 5;
    long init = budget - iters * per;
    int bad;
    AB_TRY(ab_fs_temp_path(path, tmp, sizeof tmp));
    f = fopen(tmp, "w");
    if (!f) return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    fprintf(f,
            "# Written by 'autobuild quickstart' (rewritten on every run): the campaign it\n"
            "# runs. Copy it to start a campaign of your own ('autobuild campaign --help').\n"
            "campaign:\n"
            "  dir: .                     # this folder\n"
            "  space: %s\n"
            "  seed: %ld\n"
            "data:\n"
            "  n: %ld\n"
            "  evaluators:\n"
            "    # random weights: latency (median of 10 runs, batch 1, one thread, one\n"
            "    # subnet at a time per node), exact MACs ('flops') and parameters\n"
            "    - {type: ofa, supernet: supernet.h5, latency_runs: 10, latency_warmup: 2}\n"
            "predictors:                  # high scores are kept: costs enter negated\n"
            "  - {name: latency, target: -latency_ms, epochs: 200, lr: 0.001, folds: 5, seeds: 1}\n"
            "  - {name: efficiency, target: flops/latency_ms, epochs: 200, lr: 0.001, folds: 5, "
            "seeds: 1}\n"
            "modules:\n"
            "  k: 3\n"
            "search:\n"
            "  init: %ld\n"
            "  iterations: %ld\n"
            "  per_iteration: %ld\n"
            "  objectives:                # ref auto: the worst labelled value\n"
            "    - {metric: flops, goal: max, ref: auto}\n"
            "    - {metric: latency_ms, goal: min, ref: auto}\n"
            "  baselines: [stage_full]\n",
            space, seed, n, init, iters, per);
    bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        return ab_err_set(AB_ERR_IO, "%s: cannot write", path);
    }
    return ab_fs_commit(tmp, path);
}

/* Rank 0: the folder, the supernet (once) and the configuration. */
static ab_status prepare(const char *dir, const char *sup, const char *cfg, const char *net,
                         const char *space, long n, long budget, long seed)
{
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        AB_FAIL(AB_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    if (!ab_fs_exists(sup)) {
        AB_LOG_I("[quickstart] writing a %s supernet with random weights -> %s", net, sup);
        AB_CALL(ab_ofa_supernet_random(net, 1000, (uint64_t)seed, &sn));
        AB_CALL(ab_ofa_supernet_save(sn, sup));
    }
    AB_CALL(write_config(cfg, space, n, budget, seed));
    AB_LOG_I("[quickstart] running the campaign %s (about 3 minutes on 2 cores; rerun to "
             "continue if interrupted)", cfg);
cleanup:
    ab_ofa_supernet_destroy(&sn);
    return rc;
}

ab_status ab_cmd_quickstart(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"space", required_argument, NULL, 's'},
                                         {"n", required_argument, NULL, 'n'},
                                         {"budget", required_argument, NULL, 'b'},
                                         {"seed", required_argument, NULL, 'k'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ensemble *ens = NULL;
    const char *dir = "autobuild-quickstart", *space = "ofa_mbv3", *net;
    char cfg[PATH_MAX], sup[PATH_MAX], pred[PATH_MAX];
    long n = 400, budget = 150, seed = 1;
    int o, json = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'o': dir = optarg; break;
        case 's': space = optarg; break;
        case 'n': AB_CALL(ab_cli_int("--n", optarg, 50, 10000000, &n)); break;
        case 'b': AB_CALL(ab_cli_int("--budget", optarg, 40, 10000000, &budget)); break;
        case 'k': AB_CALL(ab_cli_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed)); break;
        case 'j': json = 1; break;
        case 'h': if (rt->rank == 0) fputs(quickstart_help, stdout); goto cleanup;
        default: rc = ab_cli_usage(argv[0], "unknown option or missing value"); goto cleanup;
        }
    }
    AB_CHECK(optind == argc, AB_ERR_INPUT, "quickstart: unexpected argument '%s'", argv[optind]);
    if (!strcmp(space, "ofa_mbv3"))
        net = "ofa_mbv3_d234_e346_k357_w1.0";
    else if (!strcmp(space, "ofa_pn"))
        net = "ofa_proxyless_d234_e346_k357_w1.3";
    else
        AB_FAIL(AB_ERR_INPUT, "quickstart: --space must be ofa_mbv3 or ofa_pn, not '%.64s' (for "
                "other spaces write a campaign: 'autobuild campaign --help')", space);
    AB_CHECK(strlen(dir) < PATH_MAX - 64, AB_ERR_INPUT, "--out: the path is too long");
    snprintf(cfg, sizeof cfg, "%s/quickstart.yaml", dir);
    snprintf(sup, sizeof sup, "%s/supernet.h5", dir);
    snprintf(pred, sizeof pred, "%s/predictors/latency.h5", dir);
    if (rt->rank == 0 && (rc = prepare(dir, sup, cfg, net, space, n, budget, seed)) != AB_OK) {
        ab_campaign_release(rt); /* the other ranks wait in the campaign: end it */
        goto cleanup;
    }
    {
        char *cargv[] = {"campaign", "--config", cfg, json ? "--json" : NULL, NULL};
        AB_CALL(ab_cmd_campaign(json ? 4 : 3, cargv, rt));
    }
    if (rt->rank != 0 || json) goto cleanup;
    AB_CALL(ab_ensemble_load_any(pred, &ens));
    printf("\nWhat drives latency on this CPU (FE-MLP importance of predictor %s;\n"
           "higher = matters more for latency, whichever way):\n", pred);
    AB_CALL(ab_pred_importance_write_ranked(stdout, ens->member[0]));
    printf("\nThe report: %s/report.md (open it first), with fronts.png, hops_*.png,\n"
           "importance_*.png and best_arch_hop*.png beside it.\n", dir);
cleanup:
    ab_ensemble_destroy(&ens);
    return rc;
}
