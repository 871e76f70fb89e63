/* SPDX-License-Identifier: MIT
 *
 * This file implements the predictor pictures (predictor_plot.h): the
 * architecture graph coloured per hop, FE-MLP importance and hop SRCC.
 */
#include "report/predictor_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/seqgraph.h"
#include "predictor/importance.h"
#include "report/plot.h"
#include "util/log.h"

/* The file name without its folders. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

ab_status ab_report_hop_path(const char *out, int hop, char *buf, size_t cap)
{
    const char *base = base_name(out), *dot = strrchr(base, '.');
    int n;
    if (!dot || dot == base) dot = base + strlen(base);
    n = snprintf(buf, cap, "%.*s_hop%d%s", (int)(dot - out), out, hop, dot);
    if (n < 0 || (size_t)n >= cap) return ab_err_set(AB_ERR_INPUT, "%s: the path is too long", out);
    return AB_OK;
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

ab_status ab_report_arch_png(struct ab_predictor *p, const char *name, const struct ab_arch *a,
                             int one_hop, const char *out)
{
    ab_status rc = AB_OK;
    struct arch_picture *pic = NULL;
    struct arch_view view = {0};
    char path[4096];
    AB_CALL(arch_view_compute(p, a, &view));
    pic = calloc(1, sizeof *pic);
    AB_CHECK_ALLOC(pic);
    for (int l = 0; l <= p->cfg.layers; l++) {
        if (one_hop >= 0 && l != one_hop) continue;
        if (one_hop >= 0) snprintf(path, sizeof path, "%s", out);
        else AB_CALL(ab_report_hop_path(out, l, path, sizeof path));
        AB_CALL(draw_arch_hop(p, name, a, &view, l, pic, path));
        AB_LOG_I("drew hop %d of the architecture into %s", l, path);
    }
cleanup:
    free(pic);
    arch_view_free(&view);
    return rc;
}

ab_status ab_report_importance_png(const struct ab_predictor *p, const char *name,
                                   const char *out)
{
    ab_status rc = AB_OK;
    struct ab_pred_importance *items = NULL;
    struct ab_plot_bar *bars = NULL;
    struct ab_plot_bars chart;
    char title[768];
    int n = 0;
    AB_CALL(ab_pred_importance_list(p, &items, &n));
    bars = malloc(sizeof *bars * (size_t)(n ? n : 1));
    AB_CHECK_ALLOC(bars);
    for (int i = 0; i < n; i++) {
        /* under the heading "stage", "stage 2" reads as "2" */
        const char *label = items[i].label;
        size_t glen = strlen(items[i].feature);
        if (!strncmp(label, items[i].feature, glen) && label[glen] == ' ' && label[glen + 1])
            label += glen + 1;
        bars[i].group = items[i].feature;
        bars[i].label = label;
        bars[i].value = items[i].score;
    }
    snprintf(title, sizeof title,
             "FE-MLP importance of every feature value (higher = drives the target more)\n"
             "target %s, space %s, predictor %s",
             p->target ? p->target : "?", p->space->name, base_name(name));
    ab_plot_bars_init(&chart);
    chart.title = title;
    chart.ylabel = "0-hop score |FE-MLP(value)|";
    chart.bars = bars;
    chart.n_bars = n;
    chart.value_format = "%.3f";
    AB_CALL(ab_plot_bars_png(&chart, out));
    AB_LOG_I("drew the FE-MLP importance of %d feature values into %s", n, out);
cleanup:
    free(bars);
    free(items);
    return rc;
}

ab_status ab_report_hops_png(const struct ab_predictor *p, const char *name, const char *out)
{
    ab_status rc = AB_OK;
    struct ab_plot_bar bars[AB_PRED_MAX_LAYERS + 1];
    char labels[AB_PRED_MAX_LAYERS + 1][24], title[768], ref[96], note[128] = "", n_test[48] = "";
    struct ab_plot_bars chart;
    int missing = 0;
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
             p->cfg.norm_ord, p->target ? p->target : "?", p->space->name, base_name(name),
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
    return rc;
}

