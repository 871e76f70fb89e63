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
/* FE-MLP importance (the same scores as `autobuild explain`)              */


struct score_item {
    char group[32];
    char label[64];
    double score;
};

struct score_list {
    struct score_item *items;
    int n, cap;
};

static ab_status add_score(struct score_list *l, const char *group, const char *label, double s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        struct score_item *ni = realloc(l->items, sizeof *ni * (size_t)cap);
        if (!ni) return ab_err_set(AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
        l->items = ni;
        l->cap = cap;
    }
    struct score_item *it = &l->items[l->n++];
    snprintf(it->group, sizeof it->group, "%s", group);
    snprintf(it->label, sizeof it->label, "%s", label);
    it->score = s;
    return AB_OK;
}

/* The values of a numeric attribute that the space's choices take. */
static ab_status add_numeric_attr(const struct ab_predictor *p, int f, struct score_list *l)
{
    const struct ab_space *sp = p->space;
    const char *name = sp->features[f].name;
    char label[64];
    double seen[64];
    int ns = ab_pred_attr_values(sp, name, seen, 64);
    for (int k = 0; k < ns; k++) {
        snprintf(label, sizeof label, "%g", seen[k]);
        AB_TRY(add_score(l, name, label, ab_pred_fe_score(p, f, seen[k])));
    }
    return AB_OK;
}

/* Every (category, value, score) that `autobuild explain` prints, in order. */
static ab_status collect_importance(const struct ab_predictor *p, struct score_list *l)
{
    const struct ab_space *sp = p->space;
    char label[64];
    for (int f = 0; f < p->n_fe; f++) {
        const struct ab_feature *ft = &sp->features[f];
        if (ft->cardinality > 0) {
            int n = ft->cardinality;
            if (!strcmp(ft->name, "stage") && n > sp->n_stages) n = sp->n_stages;
            for (int v = 0; v < n; v++) {
                ab_pred_fe_label(sp, f, v, label, sizeof label);
                AB_TRY(add_score(l, ft->name, label, ab_pred_fe_score(p, f, v)));
            }
        } else if (sp->n_resolutions > 0 && !strcmp(ft->name, "resolution")) {
            for (int i = 0; i < sp->n_resolutions; i += (sp->n_resolutions > 8 ? 4 : 1)) {
                int r = sp->resolutions[i];
                snprintf(label, sizeof label, "%d", r);
                AB_TRY(add_score(l, ft->name, label, ab_pred_fe_score(p, f, ab_pred_resolution_input(sp, r))));
            }
        } else {
            AB_TRY(add_numeric_attr(p, f, l));
        }
    }
    return AB_OK;
}

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

/* The file name without its folders. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* F.png -> F_hop<l>.png (the suffix goes before the extension, if any). */
static ab_status hop_path(const char *out, int hop, char *buf, size_t cap)
{
    const char *base = base_name(out), *dot = strrchr(base, '.');
    int n;
    if (!dot || dot == base) dot = base + strlen(base);
    n = snprintf(buf, cap, "%.*s_hop%d%s", (int)(dot - out), out, hop, dot);
    if (n < 0 || (size_t)n >= cap) return ab_err_set(AB_ERR_INPUT, "%s: the path is too long", out);
    return AB_OK;
}

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

/* The architecture's sequence graph as the predictor sees it. */
struct arch_view {
    int n_nodes, n_edges;
    float *norms;          /* [(L+1) x n_nodes]: node-embedding norm per hop */
    int *edge_src, *edge_dst;
    double prediction;     /* in label units */
};

static void arch_view_free(struct arch_view *v)
{
    free(v->norms);
    free(v->edge_src);
    free(v->edge_dst);
    memset(v, 0, sizeof *v);
}

/* Runs the predictor on the architecture (eval mode): the norm (L1, or the
 * predictor's norm) of every node embedding at every hop, the graph's edges
 * and the prediction. */
static ab_status arch_view_compute(struct ab_predictor *p, const struct ab_arch *a,
                                   struct arch_view *v)
{
    ab_status rc = AB_OK;
    struct ab_graph_batch *b = NULL;
    struct ab_pred_ws *ws = NULL;
    float *norms = NULL;
    const int L = p->cfg.layers;
    memset(v, 0, sizeof *v);
    AB_CALL(ab_graph_batch_create(p->space->n_features, &b));
    AB_CALL(ab_graph_batch_add_arch(b, p->space, a));
    AB_CALL(ab_pred_ws_create(p, &ws));
    AB_CALL(ab_pred_forward(p, ws, b, 0));
    v->prediction = (double)ab_pred_output(ws)[0] * p->label_std + p->label_mean;
    const int n = b->n_nodes;
    norms = malloc(sizeof *norms * (size_t)n * (size_t)(L + 1));
    AB_CHECK_ALLOC(norms);
    v->edge_src = malloc(sizeof *v->edge_src * (size_t)(b->n_edges + 1));
    v->edge_dst = malloc(sizeof *v->edge_dst * (size_t)(b->n_edges + 1));
    AB_CHECK_ALLOC(v->edge_src);
    AB_CHECK_ALLOC(v->edge_dst);
    memcpy(v->edge_src, b->edge_src, sizeof *v->edge_src * (size_t)b->n_edges);
    memcpy(v->edge_dst, b->edge_dst, sizeof *v->edge_dst * (size_t)b->n_edges);
    v->n_edges = b->n_edges;
    for (int l = 0; l <= L; l++) {
        int w = 0;
        const float *h = ab_pred_node_embeddings(p, ws, l, &w);
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < w; k++) {
                double x = h[(size_t)i * (size_t)w + (size_t)k];
                s += p->cfg.norm_ord == 2 ? x * x : fabs(x);
            }
            norms[(size_t)l * (size_t)n + (size_t)i] = (float)(p->cfg.norm_ord == 2 ? sqrt(s) : s);
        }
    }
    v->norms = norms;
    v->n_nodes = n;
    norms = NULL;
cleanup:
    free(norms);
    if (rc) arch_view_free(v);
    ab_pred_ws_destroy(&ws);
    ab_graph_batch_destroy(&b);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* plot arch                                                               */

struct arch_picture {
    struct ab_plot_node nodes[AB_MAX_STAGES * AB_MAX_LAYERS];
    char details[AB_MAX_STAGES * AB_MAX_LAYERS][40];
    char cluster_names[AB_MAX_STAGES][24];
    const char *clusters[AB_MAX_STAGES];
};

/* Draws hop `hop` of the architecture into path. */
static ab_status draw_arch_hop(const struct ab_predictor *p, const char *pred_path,
                               const struct ab_arch *a, const struct arch_view *v, int hop,
                               struct arch_picture *pic, const char *path)
{
    const int n = v->n_nodes;
    const struct ab_space *sp = p->space;
    const int L = p->cfg.layers;
    char title[768], value_name[128], res[32] = "";
    int i = 0;
    for (int s = 0; s < sp->n_stages; s++) {
        snprintf(pic->cluster_names[s], sizeof pic->cluster_names[s], "stage %d", s + 1);
        pic->clusters[s] = pic->cluster_names[s];
        for (int j = 0; j < a->depth[s] && i < n; j++, i++) {
            struct ab_plot_node *nd = &pic->nodes[i];
            snprintf(pic->details[i], sizeof pic->details[i], "stage %d, layer %d", s + 1, j + 1);
            nd->title = sp->stages[s].choices[a->choice[s][j]].name;
            nd->detail = pic->details[i];
            nd->value = v->norms[(size_t)hop * (size_t)n + (size_t)i];
            nd->cluster = s;
        }
    }
    if (a->resolution > 0) snprintf(res, sizeof res, " at resolution %d", a->resolution);
    snprintf(title, sizeof title,
             "%s architecture%s: hop %d of %d%s\n"
             "predictor %s (target %s): predicted %.6g",
             sp->name, res, hop, L, hop == 0 ? " (FE-MLP output)" : "", base_name(pred_path),
             p->target ? p->target : "?", v->prediction);
    snprintf(value_name, sizeof value_name, "L%d norm of the layer's embedding at hop %d",
             p->cfg.norm_ord, hop);
    struct ab_plot_graph g = {
        .title = title, .value_name = value_name, .value_format = "%.3g",
        .nodes = pic->nodes, .n_nodes = i, /* edges beyond them are skipped */
        .edge_src = v->edge_src, .edge_dst = v->edge_dst, .n_edges = v->n_edges,
        .clusters = pic->clusters, .n_clusters = sp->n_stages,
    };
    return ab_plot_graph_png(&g, path);
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
    struct arch_picture *pic = NULL;
    struct ab_arch arch;
    struct arch_view view = {0};
    const char *pred = NULL, *in = NULL, *out = NULL, *hops = "all";
    long one_hop = -1;
    int c;
    char path[4096];
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
    AB_CALL(arch_view_compute(p, &arch, &view));
    pic = calloc(1, sizeof *pic);
    AB_CHECK_ALLOC(pic);
    for (int l = 0; l <= L; l++) {
        if (one_hop >= 0 && l != one_hop) continue;
        if (one_hop >= 0) snprintf(path, sizeof path, "%s", out);
        else AB_CALL(hop_path(out, l, path, sizeof path));
        AB_CALL(draw_arch_hop(p, pred, &arch, &view, l, pic, path));
        AB_LOG_I("drew hop %d of the architecture into %s", l, path);
    }
cleanup:
    free(pic);
    arch_view_free(&view);
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
    struct score_list l = {0};
    struct ab_plot_bar *bars = NULL;
    struct ab_plot_bars chart;
    const char *pred, *out;
    char title[768];
    int done;
    AB_CALL(parse_chart_args(argc, argv, importance_help, &pred, &out, &done));
    if (done) goto cleanup;
    AB_CALL(ab_predictor_load(pred, &p));
    AB_CALL(collect_importance(p, &l));
    bars = malloc(sizeof *bars * (size_t)(l.n ? l.n : 1));
    AB_CHECK_ALLOC(bars);
    for (int i = 0; i < l.n; i++) {
        /* under the heading "stage", "stage 2" reads as "2" */
        const char *label = l.items[i].label;
        size_t glen = strlen(l.items[i].group);
        if (!strncmp(label, l.items[i].group, glen) && label[glen] == ' ' && label[glen + 1])
            label += glen + 1;
        bars[i].group = l.items[i].group;
        bars[i].label = label;
        bars[i].value = l.items[i].score;
    }
    snprintf(title, sizeof title,
             "FE-MLP importance of every feature value (higher = drives the target more)\n"
             "target %s, space %s, predictor %s",
             p->target ? p->target : "?", p->space->name, base_name(pred));
    ab_plot_bars_init(&chart);
    chart.title = title;
    chart.ylabel = "0-hop score |FE-MLP(value)|";
    chart.bars = bars;
    chart.n_bars = l.n;
    chart.value_format = "%.3f";
    AB_CALL(ab_plot_bars_png(&chart, out));
    AB_LOG_I("drew the FE-MLP importance of %d feature values into %s", l.n, out);
cleanup:
    free(bars);
    free(l.items);
    ab_predictor_destroy(&p);
    return rc;
}

static ab_status plot_hops(int argc, char **argv)
{
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_plot_bar bars[AB_PRED_MAX_LAYERS + 1];
    char labels[AB_PRED_MAX_LAYERS + 1][24], title[768], ref[96], note[128] = "", n_test[48] = "";
    struct ab_plot_bars chart;
    const char *pred, *out;
    int done, missing = 0;
    AB_CALL(parse_chart_args(argc, argv, hops_help, &pred, &out, &done));
    if (done) goto cleanup;
    AB_CALL(ab_predictor_load(pred, &p));
    const int L = p->cfg.layers;
    for (int l = 0; l <= L; l++) {
        if (l == 0) snprintf(labels[l], sizeof labels[l], "hop 0 (FE-MLP)");
        else snprintf(labels[l], sizeof labels[l], "hop %d", l);
        bars[l].group = NULL;
        bars[l].label = labels[l];
        bars[l].value = p->hop_srcc[l];
        missing += !isfinite(p->hop_srcc[l]);
    }
    if (missing)
        snprintf(note, sizeof note, "\nn/a: this checkpoint records no test SRCC for %s",
                 missing == L + 1 ? "any hop (converted from the authors' files)" : "some hops");
    if (p->n_test > 0) snprintf(n_test, sizeof n_test, ", %ld test architectures", p->n_test);
    snprintf(title, sizeof title,
             "Test SRCC between the target and the hop embedding norm ||h_G||_%d\n"
             "target %s, space %s, predictor %s%s%s",
             p->cfg.norm_ord, p->target ? p->target : "?", p->space->name, base_name(pred),
             n_test, note);
    if (isfinite(p->test_srcc))
        snprintf(ref, sizeof ref, "prediction: test SRCC %.3f", p->test_srcc);
    ab_plot_bars_init(&chart);
    chart.title = title;
    chart.ylabel = "Spearman rank correlation (test split)";
    chart.bars = bars;
    chart.n_bars = L + 1;
    chart.value_format = "%.3f";
    chart.ref = p->test_srcc;
    chart.ref_label = ref;
    chart.ymax = 1.12;
    AB_CALL(ab_plot_bars_png(&chart, out));
    AB_LOG_I("drew the per-hop test SRCC into %s", out);
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
