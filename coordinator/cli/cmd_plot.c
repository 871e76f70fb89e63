/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild plot arch|importance|hops`: pictures of
 * what a predictor learned. `arch` draws one architecture as its sequence
 * graph with every layer coloured by the norm of its embedding at each hop
 * (Graphviz), `importance` the FE-MLP score of every feature value and `hops`
 * the test SRCC of the hop embeddings (gnuplot). The drawing itself is in
 * report/plot.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graph/seqgraph.h"
#include "predictor/checkpoint.h"
#include "predictor/importance.h"
#include "report/plot.h"
#include "report/predictor_plot.h"
#include "util/fsutil.h"
#include "util/log.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = bad_option(argc, argv);                                           \
        goto cleanup;                                                          \
    } while (0)

/* The usage error for the option getopt_long (silenced) just refused. */
static ab_status bad_option(int argc, char **argv)
{
    char what[160];
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    snprintf(what, sizeof what, "unknown option or missing value near '%.64s'", arg);
    return ab_cli_usage(argv[0], what);
}

static const char plot_help[] =
    "usage: autobuild plot arch --predictor P.h5 --arch A.json --out F.png [--hops all|L]\n"
    "       autobuild plot importance P.h5 --out F.png\n"
    "       autobuild plot hops P.h5 --out F.png\n"
    "\n"
    "Draws what a predictor learned as PNG pictures:\n"
    "  arch        one architecture as its sequence graph, every layer coloured by\n"
    "              the norm of its node embedding at each hop (green = low, red =\n"
    "              high: the layers the predictor finds important), one PNG per hop\n"
    "  importance  a bar chart of the FE-MLP score of every value of every feature\n"
    "              category (stage, layer, block family, expansion, kernel,\n"
    "              resolution), the paper's Fig. 3 / Table 3\n"
    "  hops        the test SRCC of ||h_G|| at every hop (the paper's Fig. 2) with\n"
    "              the prediction's test SRCC as a reference line\n"
    "\n"
    "Graphs are drawn by Graphviz's 'dot' (apt-get install graphviz), charts by\n"
    "gnuplot (apt-get install gnuplot-nox); autobuild runs them and removes its\n"
    "temporary files. Pictures are written under a temporary name and renamed\n"
    "into place. 'autobuild plot <kind> --help' explains each kind.\n";

static const char arch_help[] =
    "usage: autobuild plot arch --predictor P.h5 --arch A.json --out F.png [--hops all|L]\n"
    "\n"
    "Draws the architecture in A.json (one canonical JSON architecture, possibly\n"
    "spread over several lines, or the first line of a JSON-lines file such as\n"
    "'data sample' writes) as its sequence graph: one box per layer, labelled with\n"
    "its block, stage and layer, the layers of a stage in one column, arrows in\n"
    "network order. Each box is coloured by the L1 norm of the layer's node\n"
    "embedding at one hop (L2 for predictors trained with --norm 2), from green\n"
    "(lowest in this architecture) through yellow and orange to red (highest); the\n"
    "legend gives the range and the title the predicted value. At hop l a node's\n"
    "embedding has seen the l layers before it (METHOD.md section 4).\n"
    "\n"
    "  --predictor P.h5  a predictor checkpoint (autobuild train, or converted)\n"
    "  --arch A.json     an architecture of the predictor's space\n"
    "  --out F.png       with --hops all (the default), one picture per hop:\n"
    "                    F_hop0.png ... F_hopL.png (L = the predictor's layers);\n"
    "                    with --hops L, only hop L, written to F.png itself\n"
    "  --hops all|L      which hops to draw (0 = FE-MLP output)\n";

static const char importance_help[] =
    "usage: autobuild plot importance P.h5 --out F.png\n"
    "\n"
    "Draws a bar chart of the FE-MLP importance of every value of every node-\n"
    "feature category of the predictor (the numbers 'autobuild explain' prints),\n"
    "grouped and coloured by category, titled with the target equation and the\n"
    "space. Because the FE-MLP maps each category to its own scalar, a taller bar\n"
    "is a value that drives the target more (the paper's Fig. 3 and Table 3).\n"
    "\n"
    "  --out F.png       the picture (written atomically)\n";

static const char hops_help[] =
    "usage: autobuild plot hops P.h5 --out F.png\n"
    "\n"
    "Draws the test-split Spearman correlation (SRCC) between the target and the\n"
    "norm of the graph embedding at every hop, the quantity the loss ranks (the\n"
    "paper's Fig. 2), with the prediction's test SRCC as a dashed reference line;\n"
    "titled with the target equation and the space. Checkpoints converted from the\n"
    "authors' PyTorch files record no per-hop SRCC: those hops are marked n/a.\n"
    "\n"
    "  --out F.png       the picture (written atomically)\n";

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

/* Reads the architecture of A.json: the first non-blank line, or the whole
 * file when that line alone is no architecture but the file is (pretty-
 * printed JSON). The error is the first line's. */
static ab_status read_first_arch(const struct ab_space *sp, const char *path, struct ab_arch *a)
{
    ab_status rc = AB_OK;
    char *text = NULL, *q, *nl, saved[1024];
    long line = 1;
    AB_CALL(ab_fs_read_all(path, (size_t)1 << 26, &text, NULL));
    for (q = text; *q && strspn(q, " \t\r\n") > 0; q++)
        if (*q == '\n') line++;
    AB_CHECK(*q, AB_ERR_INPUT, "%s: no architecture (expected one JSON object, e.g. a line of "
             "'autobuild data sample')", path);
    nl = strchr(q, '\n');
    if (nl) *nl = '\0';
    if (ab_arch_parse_json(sp, q, a) == AB_OK) goto cleanup;
    ab_status first = ab_err_status();
    snprintf(saved, sizeof saved, "%s", ab_err_msg());
    if (nl) {
        *nl = '\n';
        if (ab_arch_parse_json(sp, q, a) == AB_OK) {
            ab_err_clear();
            goto cleanup;
        }
    }
    rc = ab_err_set(first, "%s: line %ld: %s", path, line, saved);
cleanup:
    free(text);
    return rc;
}

static ab_status plot_arch(int argc, char **argv)
{
    static const struct option opts[] = {{"predictor", required_argument, NULL, 'p'},
                                         {"arch", required_argument, NULL, 'a'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"hops", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_arch arch;
    const char *pred = NULL, *in = NULL, *out = NULL, *hops = "all";
    long one_hop = -1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pred = optarg; break;
        case 'a': in = optarg; break;
        case 'o': out = optarg; break;
        case 'H': hops = optarg; break;
        case 'h': fputs(arch_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!pred || !in || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--predictor, --arch and --out are required");
        goto cleanup;
    }
    if (strcmp(hops, "all") && ab_cli_int("--hops", hops, 0, AB_PRED_MAX_LAYERS, &one_hop))
        AB_FAIL(AB_ERR_INPUT, "--hops: expected 'all' or a hop number (0 = FE-MLP output), got "
                "'%.64s'", hops);
    AB_CALL(ab_predictor_load(pred, &p));
    const int L = p->cfg.layers;
    AB_CHECK(one_hop <= L, AB_ERR_INPUT, "--hops: predictor %s has hops 0 to %d, not %ld", pred, L,
             one_hop);
    if (read_first_arch(p->space, in, &arch) != AB_OK) {
        rc = ab_err_prefix("predictor %s is for space '%s'", pred, p->space->name);
        goto cleanup;
    }
    AB_CALL(ab_report_arch_png(p, pred, &arch, (int)one_hop, out));
cleanup:
    ab_predictor_destroy(&p);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* plot importance, plot hops                                              */

/* Parses `<kind> P.h5 --out F.png`. */
static ab_status parse_chart_args(int argc, char **argv, const char *help, const char **pred,
                                  const char **out, int *done)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    *pred = *out = NULL;
    *done = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': *out = optarg; break;
        case 'h': fputs(help, stdout); *done = 1; return AB_OK;
        default: return bad_option(argc, argv);
        }
    }
    if (optind != argc - 1 || !*out)
        return ab_cli_usage(argv[0], "expected one predictor file and --out");
    *pred = argv[optind];
    return AB_OK;
}

static ab_status plot_importance(int argc, char **argv)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    const char *pred, *out;
    int done;
    AB_CALL(parse_chart_args(argc, argv, importance_help, &pred, &out, &done));
    if (done) goto cleanup;
    AB_CALL(ab_predictor_load(pred, &p));
    AB_CALL(ab_report_importance_png(p, pred, out));
cleanup:
    ab_predictor_destroy(&p);
    return rc;
}

static ab_status plot_hops(int argc, char **argv)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    const char *pred, *out;
    int done;
    AB_CALL(parse_chart_args(argc, argv, hops_help, &pred, &out, &done));
    if (done) goto cleanup;
    AB_CALL(ab_predictor_load(pred, &p));
    AB_CALL(ab_report_hops_png(p, pred, out));
cleanup:
    ab_predictor_destroy(&p);
    return rc;
}

/* ---------------------------------------------------------------------- */

ab_status ab_cmd_plot(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct {
        const char *kind;
        ab_status (*fn)(int, char **);
    } kinds[] = {{"arch", plot_arch}, {"importance", plot_importance}, {"hops", plot_hops}};
    char name[32];
    if (argc < 2) return ab_cli_usage(argv[0], "expected what to draw: arch, importance or hops");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(plot_help, stdout);
        return AB_OK;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcmp(argv[1], kinds[k].kind)) continue;
        snprintf(name, sizeof name, "%s %s", argv[0], kinds[k].kind);
        argv[1] = name;
        return kinds[k].fn(argc - 1, argv + 1);
    }
    return ab_err_set(AB_ERR_INPUT, "%s: unknown picture '%.64s': expected arch, importance or "
                      "hops (see 'autobuild plot --help')", argv[0], argv[1]);
}
