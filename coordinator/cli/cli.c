/* SPDX-License-Identifier: MIT
 *
 * This file implements the command table and the option helpers shared by
 * the subcommands.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const struct ab_cmd ab_commands[] = {
    {"space", "info", "print a search space: stages, choices, subgraph counts, size",
     ab_cmd_space_info, 0},
    {"space", "subgraphs", "enumerate the subgraphs of one search unit as JSON lines",
     ab_cmd_space_subgraphs, 0},
    {"data", "sample", "draw unique random architectures (JSON lines)", ab_cmd_data_sample, 0},
    {"data", "label", "label architectures with metrics autobuild computes (MACs, params)",
     ab_cmd_data_label, 0},
    {"data", "import", "import a labelled CSV into an HDF5 dataset", ab_cmd_data_import, 0},
    {"data", "export", "export an HDF5 dataset to CSV", ab_cmd_data_export, 0},
    {"data", "info", "summarise a dataset: count, metric ranges, a target equation",
     ab_cmd_data_info, 0},
    {NULL, "train", "train an AutoBuild predictor (FE-MLP + GNN) or an ensemble on a dataset",
     ab_cmd_train, 1},
    {NULL, "predict", "predict architectures with a predictor checkpoint", ab_cmd_predict, 0},
    {NULL, "explain", "a predictor's test metrics and FE-MLP feature importance",
     ab_cmd_explain, 0},
    {NULL, "plot", "PNG pictures of a predictor: an architecture, importance, hop SRCC",
     ab_cmd_plot, 0},
    {NULL, "label", "score every module (unit subgraph) of a space with a predictor (Eq. 5)",
     ab_cmd_label, 0},
    {"units", "show", "print the best-scored subgraphs of a units file", ab_cmd_units_show, 0},
    {NULL, "reduce", "build a reduced search space from the top-K subgraphs per unit",
     ab_cmd_reduce, 0},
    {NULL, "build", "construct the top-N architectures by summed unit scores", ab_cmd_build, 0},
    {NULL, "exhaustive", "rank every architecture of a small space with an ensemble (baseline)",
     ab_cmd_exhaustive, 1},
    {NULL, "search", "multi-objective evolutionary search over MPI workers, into a result store",
     ab_cmd_search, 1},
    {NULL, "report", "the front and history of a search store (finished or live)",
     ab_cmd_report, 0},
    {NULL, "campaign", "the whole pipeline as one resumable job", ab_cmd_campaign, 1},
    {NULL, "evaluate", "evaluate a list of architectures into a result store (resumable)",
     ab_cmd_evaluate, 1},
    {"ofa", "init", "write a random-weight Once-for-All supernet (for latency and tests)",
     ab_cmd_ofa_init, 0},
    {"ofa", "infer", "logits of a subnet spliced from an OFA supernet", ab_cmd_ofa_infer, 0},
    {"ofa", "latency", "median CPU latency of an OFA subnet with autobuild's engine",
     ab_cmd_ofa_latency, 0},
    {"ofa", "flops", "exact MACs and parameters of an OFA subnet", ab_cmd_ofa_flops, 0},
    {"ofa", "eval", "top-1/top-5 of an OFA subnet on an image set, BN re-calibration",
     ab_cmd_ofa_eval, 0},
    {"fid", "stats", "mean and covariance of a features file, for FID against it later",
     ab_cmd_fid_stats, 0},
    {NULL, "fid", "Frechet Inception Distance of two feature or statistics files",
     ab_cmd_fid, 0},
    {"test-double", "job", "a TEST DOUBLE of a fine-tune + FID job (CI, trials)",
     ab_cmd_testdouble_job, 0},
    {NULL, "quickstart", "the main job: a campaign timing OFA subnets on this CPU, with a report", ab_cmd_quickstart, 1},
    {NULL, NULL, NULL, NULL, 0},
};

ab_status ab_cli_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return ab_err_set(AB_ERR_INPUT, "%s: expected an integer from %ld to %ld, got '%.64s'",
                          opt, lo, hi, s);
    *out = v;
    return AB_OK;
}

ab_status ab_cli_int_list(const char *opt, const char *s, int max, int *out, int *n)
{
    char buf[1024], *save = NULL, *tok;
    *n = 0;
    if (strlen(s) >= sizeof buf)
        return ab_err_set(AB_ERR_INPUT, "%s: the list is too long", opt);
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n >= max) return ab_err_set(AB_ERR_INPUT, "%s: at most %d values", opt, max);
        AB_TRY(ab_cli_int(opt, tok, 1, 100000, &v));
        out[(*n)++] = (int)v;
    }
    if (*n == 0) return ab_err_set(AB_ERR_INPUT, "%s: expected a comma-separated list", opt);
    return AB_OK;
}

ab_status ab_cli_usage(const char *cmd, const char *what)
{
    return ab_err_set(AB_ERR_INPUT, "%s: %s (see 'autobuild %s --help')", cmd, what, cmd);
}
