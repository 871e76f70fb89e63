/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild train`, `autobuild predict` and
 * `autobuild explain`: training an AutoBuild predictor on a labelled
 * dataset, predicting architectures with any predictor checkpoint, and
 * reading the FE-MLP's feature importance out of one.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "predictor/checkpoint.h"
#include "predictor/importance.h"
#include "predictor/ensemble.h"
#include "predictor/train.h"
#include "util/fsutil.h"
#include "util/log.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

static ab_status parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return ab_err_set(AB_ERR_INPUT, "%s: expected a number in [%g, %g], got '%.64s'", opt, lo,
                          hi, s);
    *out = v;
    return AB_OK;
}

static void print_json_double(double v)
{
    if (isfinite(v)) printf("%.10g", v);
    else printf("null");
}

/* ---------------------------------------------------------------------- */
/* FE-MLP importance                                                       */


static ab_status print_importance(const struct ab_predictor *p, int json)
{
    struct ab_pred_importance *items = NULL;
    int n = 0;
    AB_TRY(ab_pred_importance_list(p, &items, &n));
    if (json) printf("\"importance\":{");
    else printf("FE-MLP importance (0-hop score of each feature value; higher = matters more):\n");
    for (int i = 0; i < n; i++) {
        int first = i == 0 || strcmp(items[i].feature, items[i - 1].feature);
        int last = i == n - 1 || strcmp(items[i].feature, items[i + 1].feature);
        if (json) {
            if (first) printf("%s\"%s\":{", i ? "," : "", items[i].feature);
            printf("%s\"%s\":%.6g", first ? "" : ",", items[i].label, items[i].score);
            if (last) printf("}");
        } else {
            if (first) printf("  %s:\n", items[i].feature);
            printf("    %-24s %.4f\n", items[i].label, items[i].score);
        }
    }
    if (json) printf("}");
    free(items);
    return AB_OK;
}

static void print_metrics(const struct ab_predictor *p, int json)
{
    const int L = p->cfg.layers;
    if (json) {
        printf("\"test_srcc\":");
        print_json_double(p->test_srcc);
        printf(",\"hop_srcc\":[");
        for (int l = 0; l <= L; l++) {
            printf(l ? "," : "");
            print_json_double(p->hop_srcc[l]);
        }
        printf("],\"mae\":");
        print_json_double(p->test_mae);
        printf(",\"mape\":");
        print_json_double(p->test_mape);
        printf(",\"seconds\":%.3f,\"epochs\":%ld", p->seconds, p->epochs);
        return;
    }
    printf("target %s; test SRCC %.4f, MAE %.6g, MAPE %.4f%%\n", p->target ? p->target : "?",
           p->test_srcc, p->test_mae, 100 * p->test_mape);
    printf("SRCC of ||h_G||_%d per hop:", p->cfg.norm_ord);
    for (int l = 0; l <= L; l++) printf("  %d: %.4f", l, p->hop_srcc[l]);
    printf("\nhop moments (node-embedding L%d norms, mean/std):", p->cfg.norm_ord);
    for (int l = 0; l <= L; l++) printf("  %d: %.3g/%.3g", l, p->hop_mean[l], p->hop_std[l]);
    printf("\n");
}

/* ---------------------------------------------------------------------- */
/* train                                                                   */

static const char train_help[] =
    "usage: autobuild train --data D.h5 --target EQUATION --out P.h5 [options]\n"
    "\n"
    "Trains an AutoBuild predictor (FE-MLP + GNN, METHOD.md sections 2-3) on a\n"
    "labelled dataset: seeded 90/10 split, targets standardised, loss = MSE +\n"
    "lambda x mean over hops of (1 - soft Spearman(y, ||h_G||_1)). Prints progress,\n"
    "then the test SRCC of the prediction and of ||h_G||_1 at every hop, MAE and\n"
    "MAPE in label units, and the FE-MLP importance of every feature value; saves\n"
    "the checkpoint (hdf5-schemas/predictor.md) with hop and stage moments.\n"
    "\n"
    "  --target EQ       label equation over the dataset's metrics, e.g. acc,\n"
    "                    'acc*100/latency_gpu' (see 'autobuild data info --help')\n"
    "  --epochs N        200            --batch N        128\n"
    "  --lr X            1e-4           --wd X           1e-5 (AdamW)\n"
    "  --lambda X        1 (0: plain MSE predictor)\n"
    "  --seed S          1 (split, initialisation, shuffling)\n"
    "  --threads T       threads; each batch is split between them (default 1;\n"
    "                    results are deterministic for a given seed and T)\n"
    "  --gnn G           gatv2 (default) or graphconv\n"
    "  --hidden H        32             --layers L       4 (6 for sd_unet)\n"
    "  --aggr A          mean (default) or sum\n"
    "  --activ A         relu (default) or leaky_relu (slope 0.01)\n"
    "  --norm P          1 (default, L1 embedding norms as the paper) or 2\n"
    "  --json            print one final JSON line: test_srcc, hop_srcc, mae, mape,\n"
    "                    seconds, epochs\n"
    "  --folds F --seeds S\n"
    "                    train an ensemble for few labels (METHOD.md section 5): F x S\n"
    "                    members, member (f, s) on every fold but f with seed + s, its\n"
    "                    held-out SRCC per hop recorded; OUT is an ensemble file that\n"
    "                    'autobuild label' scores with. Under mpirun the members are\n"
    "                    trained in parallel across ranks (one thread each) and\n"
    "                    gathered on rank 0; the result does not depend on the ranks.\n";

ab_status ab_cmd_train(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},   {"target", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},    {"epochs", required_argument, NULL, 'e'},
        {"batch", required_argument, NULL, 'b'},  {"lr", required_argument, NULL, 'l'},
        {"wd", required_argument, NULL, 'w'},     {"lambda", required_argument, NULL, 'L'},
        {"seed", required_argument, NULL, 's'},   {"threads", required_argument, NULL, 'T'},
        {"gnn", required_argument, NULL, 'g'},    {"hidden", required_argument, NULL, 'H'},
        {"layers", required_argument, NULL, 'n'}, {"aggr", required_argument, NULL, 'a'},
        {"activ", required_argument, NULL, 'A'},  {"json", no_argument, NULL, 'j'},
        {"norm", required_argument, NULL, 'N'},   {"folds", required_argument, NULL, 'F'},
        {"seeds", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    struct ab_predictor *p = NULL;
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    const char *data = NULL, *target = NULL, *out = NULL;
    struct ab_ensemble *ens = NULL;
    int json = 0, c, folds = 0, seeds = 0, layers_given = 0;
    long v;
    ab_train_opts_default(&o);
    ab_pred_config_default(NULL, &cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 't': target = optarg; break;
        case 'o': out = optarg; break;
        case 'e': AB_CALL(ab_cli_int("--epochs", optarg, 0, 1000000, &o.epochs)); break;
        case 'b': AB_CALL(ab_cli_int("--batch", optarg, 2, 1000000, &v)); o.batch = (int)v; break;
        case 'l': AB_CALL(parse_double("--lr", optarg, 1e-12, 10, &o.lr)); break;
        case 'w': AB_CALL(parse_double("--wd", optarg, 0, 10, &o.wd)); break;
        case 'L': AB_CALL(parse_double("--lambda", optarg, 0, 1000, &cfg.lambda)); break;
        case 's': AB_CALL(ab_cli_int("--seed", optarg, 0, 0x7fffffffffffffffL, &v));
                  o.seed = (unsigned long long)v; break;
        case 'T': AB_CALL(ab_cli_int("--threads", optarg, 1, AB_PRED_MAX_THREADS, &v));
                  o.threads = (int)v; break;
        case 'g':
            if (!strcmp(optarg, "gatv2")) cfg.gnn = AB_GNN_GATV2;
            else if (!strcmp(optarg, "graphconv")) cfg.gnn = AB_GNN_GRAPHCONV;
            else AB_FAIL(AB_ERR_INPUT, "--gnn: expected gatv2 or graphconv, got '%s'", optarg);
            break;
        case 'H': AB_CALL(ab_cli_int("--hidden", optarg, 1, 4096, &v)); cfg.hidden = (int)v; break;
        case 'n': AB_CALL(ab_cli_int("--layers", optarg, 1, AB_PRED_MAX_LAYERS, &v));
                  cfg.layers = (int)v;
                  layers_given = 1;
                  break;
        case 'a':
            AB_CHECK(!strcmp(optarg, "mean") || !strcmp(optarg, "sum"), AB_ERR_INPUT,
                     "--aggr: expected mean or sum, got '%s'", optarg);
            cfg.aggr_mean = !strcmp(optarg, "mean");
            break;
        case 'A':
            AB_CHECK(!strcmp(optarg, "relu") || !strcmp(optarg, "leaky_relu"), AB_ERR_INPUT,
                     "--activ: expected relu or leaky_relu, got '%s'", optarg);
            cfg.gnn_slope = cfg.reg_slope = !strcmp(optarg, "relu") ? 0.0f : 0.01f;
            break;
        case 'N': AB_CALL(ab_cli_int("--norm", optarg, 1, 2, &v)); cfg.norm_ord = (int)v; break;
        case 'F': AB_CALL(ab_cli_int("--folds", optarg, 2, 1000, &v)); folds = (int)v; break;
        case 'S': AB_CALL(ab_cli_int("--seeds", optarg, 1, 1000, &v)); seeds = (int)v; break;
        case 'j': json = 1; break;
        case 'h': fputs(train_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!data || !target || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--data, --target and --out are required");
        goto cleanup;
    }
    if (folds || seeds) {
        if (!folds) folds = 5;
        if (!seeds) seeds = 1;
        AB_CALL(ab_dataset_read(data, &d));
        if (!layers_given) cfg.layers = d->space->kind == AB_SPACE_SD_UNET ? 6 : 4;
        if (ab_ensemble_train(d, target, &cfg, &o, folds, seeds, rt, &ens) != AB_OK) {
            rc = ab_err_prefix("%s", data);
            goto cleanup;
        }
        if (rt->rank != 0) goto cleanup;
        AB_CALL(ab_ensemble_save(ens, out));
        printf("ensemble of %d predictors (%d folds x %d seeds) on '%s' -> %s\n", ens->n, folds,
               seeds, target, out);
        for (int m = 0; m < ens->n; m++) {
            struct ab_predictor *q = ens->member[m];
            printf("  member %2d fold %d seed %ld: held-out SRCC %.4f, hops", m + 1, m / seeds + 1,
                   q->seed, q->test_srcc);
            for (int l = 0; l <= q->cfg.layers; l++) printf(" %.3f", q->hop_srcc[l]);
            printf("\n");
        }
        goto cleanup;
    }
    if (rt->rank != 0) goto cleanup; /* a single predictor trains on rank 0 */
    AB_CALL(ab_dataset_read(data, &d));
    if (!layers_given) cfg.layers = d->space->kind == AB_SPACE_SD_UNET ? 6 : 4;
    if (ab_train_predictor(d, target, &cfg, &o, &p) != AB_OK) {
        rc = ab_err_prefix("%s", data);
        goto cleanup;
    }
    AB_CALL(ab_predictor_save(p, out));
    if (json) {
        printf("{\"predictor\":\"%s\",\"target\":", out);
        putchar('"');
        for (const char *q = target; *q; q++) {
            if (*q == '"' || *q == '\\') putchar('\\');
            if ((unsigned char)*q >= 0x20) putchar(*q);
        }
        printf("\",");
        print_metrics(p, 1);
        printf(",");
        AB_CALL(print_importance(p, 1));
        printf("}\n");
    } else {
        print_metrics(p, 0);
        AB_CALL(print_importance(p, 0));
        AB_LOG_I("saved the predictor to %s (%.1f s of training)", out, p->seconds);
    }
cleanup:
    ab_ensemble_destroy(&ens);
    ab_predictor_destroy(&p);
    ab_dataset_destroy(&d);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* predict                                                                 */

static const char predict_help[] =
    "usage: autobuild predict --predictor P.h5 --archs A.jsonl [--json] [--hops]\n"
    "\n"
    "Predicts the target of every architecture in A.jsonl (one canonical JSON\n"
    "object per line, e.g. from 'data sample') with a predictor checkpoint: one\n"
    "trained by 'autobuild train' or converted from the authors' PyTorch files\n"
    "(tools/convert_torch_predictor.py). Output is in input order, in label\n"
    "units: 'PREDICTION<TAB>ARCH' lines, or with --json one object per line with\n"
    "\"arch\" and \"prediction\" (and \"hop_norms\", the L1 norm of the graph\n"
    "embedding at every hop, with --hops).\n"
    "\n"
    "P.h5 may be an ensemble ('autobuild train --folds F --seeds S'): the\n"
    "prediction is the mean of its members' predictions, and --json adds \"sd\",\n"
    "their standard deviation (how much the members disagree) and \"members\".\n"
    "--hops needs a single predictor: members embed on different scales.\n";

ab_status ab_cmd_predict(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"predictor", required_argument, NULL, 'p'},
                                         {"archs", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"hops", no_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ensemble *ens = NULL;
    struct ab_arch *archs = NULL;
    float *out = NULL, *hops = NULL;
    double *mean = NULL, *sd = NULL;
    const char *pred = NULL, *in = NULL;
    int json = 0, with_hops = 0, c;
    long n = 0;
    char buf[4096];
    (void)rt;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pred = optarg; break;
        case 'a': in = optarg; break;
        case 'j': json = 1; break;
        case 'H': with_hops = 1; break;
        case 'h': fputs(predict_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!pred || !in || optind != argc) {
        rc = ab_cli_usage(argv[0], "--predictor and --archs are required");
        goto cleanup;
    }
    AB_CALL(ab_ensemble_load_any(pred, &ens));
    const int is_ens = ab_ensemble_is_file(pred);
    const struct ab_predictor *p0 = ens->member[0];
    if (with_hops && is_ens) {
        rc = ab_cli_usage(argv[0], "--hops needs a single predictor, not an ensemble (its "
                                   "members' embeddings are on different scales)");
        goto cleanup;
    }
    if (ab_arch_read_jsonl(p0->space, in, &archs, &n) != AB_OK) {
        rc = ab_err_prefix("predictor %s is for space '%s'", pred, p0->space->name);
        goto cleanup;
    }
    const int L = p0->cfg.layers;
    mean = malloc(sizeof *mean * (size_t)(n ? n : 1));
    sd = malloc(sizeof *sd * (size_t)(n ? n : 1));
    AB_CHECK(mean && sd, AB_ERR_NOMEM, "out of memory");
    if (with_hops) {
        /* one predictor: the hop norms come with its prediction */
        out = malloc(sizeof *out * (size_t)(n ? n : 1));
        hops = malloc(sizeof *hops * (size_t)(n ? n : 1) * (size_t)(L + 1));
        AB_CHECK(out && hops, AB_ERR_NOMEM, "out of memory");
        AB_CALL(ab_pred_eval_archs(ens->member[0], archs, n, 1024, out, hops, NULL));
        for (long i = 0; i < n; i++)
            mean[i] = (double)out[i] * p0->label_std + p0->label_mean;
    } else {
        AB_CALL(ab_ensemble_predict(ens, archs, n, mean, sd));
    }
    for (long i = 0; i < n; i++) {
        double y = mean[i];
        ab_arch_format_json(p0->space, &archs[i], buf, sizeof buf);
        if (json) {
            printf("{\"arch\":%s,\"prediction\":%.9g", buf, y);
            if (is_ens) printf(",\"sd\":%.9g,\"members\":%d", sd[i], ens->n);
            if (hops) {
                printf(",\"hop_norms\":[");
                for (int l = 0; l <= L; l++)
                    printf("%s%.9g", l ? "," : "", hops[(size_t)l * (size_t)n + (size_t)i]);
                printf("]");
            }
            printf("}\n");
        } else {
            printf("%.9g\t%s\n", y, buf);
        }
    }
cleanup:
    free(out);
    free(hops);
    free(mean);
    free(sd);
    free(archs);
    ab_ensemble_destroy(&ens);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* explain                                                                 */

static const char explain_help[] =
    "usage: autobuild explain P.h5 [--json]\n"
    "\n"
    "Reads what a predictor learned: its target and test metrics (SRCC of the\n"
    "prediction and of ||h_G||_1 at every hop, MAE, MAPE) and the FE-MLP\n"
    "importance of every value of every node-feature category. Because the\n"
    "FE-MLP maps each category to its own scalar, these scores say directly which\n"
    "stages, layers, kernel sizes, expansion ratios and resolutions drive the\n"
    "target (the paper's Fig. 3 and Table 3).\n";

ab_status ab_cmd_explain(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(explain_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (optind != argc - 1) {
        rc = ab_cli_usage(argv[0], "expected one predictor file");
        goto cleanup;
    }
    AB_CALL(ab_predictor_load(argv[optind], &p));
    if (json) {
        printf("{\"predictor\":\"%s\",\"space\":\"%s\",", argv[optind], p->space->name);
        print_metrics(p, 1);
        printf(",");
        AB_CALL(print_importance(p, 1));
        printf("}\n");
    } else {
        printf("%s: %s predictor (%s, hidden %d, %d layers) of space %s\n", argv[optind],
               p->cfg.gnn == AB_GNN_GATV2 ? "GATv2" : "GraphConv", p->cfg.aggr_mean ? "mean" : "sum",
               p->cfg.hidden, p->cfg.layers, p->space->name);
        print_metrics(p, 0);
        AB_CALL(print_importance(p, 0));
    }
cleanup:
    ab_predictor_destroy(&p);
    return rc;
}
