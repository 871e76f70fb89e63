/* SPDX-License-Identifier: MIT
 *
 * This file implements sequence graphs and their batches (seqgraph.h).
 */
#include "graph/seqgraph.h"

#include <stdlib.h>
#include <string.h>

static int expand_index(int e) { return e == 3 ? 0 : e == 4 ? 1 : 2; }
static int kernel_index(int k) { return k == 3 ? 0 : k == 5 ? 1 : 2; }

void ab_seqgraph_node_features(const struct ab_space *sp, int stage, int layer,
                               int choice, int resolution, float *row)
{
    const struct ab_choice *c = &sp->stages[stage].choices[choice];
    if (sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN) {
        row[0] = (float)stage;
        row[1] = (float)layer;
        row[2] = sp->kind == AB_SPACE_OFA_MBV3 ? 1.0f : 0.0f;
        row[3] = (float)expand_index(c->expand);
        row[4] = (float)kernel_index(c->kernel);
        /* float32 division as torch.Tensor does it on the Python float */
        row[5] = (float)((double)(resolution - 192) / 32.0);
        return;
    }
    if (sp->kind == AB_SPACE_SD_UNET) {
        /* [operation, channels index, section, stage] (space_sdunet.c) */
        for (int k = 0; k < 4; k++) row[k] = (float)c->attr[k];
        return;
    }
    int k = 0;
    row[k++] = (float)stage;
    row[k++] = (float)layer;
    row[k++] = (float)choice;
    for (int a = 0; a < sp->n_attrs; a++) row[k++] = (float)c->attr[a];
    if (sp->n_resolutions > 0) {
        int lo = sp->resolutions[0], hi = sp->resolutions[sp->n_resolutions - 1];
        row[k++] = (float)((double)(resolution - lo) / (hi - lo > 1 ? hi - lo : 1));
    }
}

ab_status ab_graph_batch_create(int n_features, struct ab_graph_batch **out)
{
    ab_status rc = AB_OK;
    struct ab_graph_batch *b = calloc(1, sizeof *b);
    *out = NULL;
    AB_CHECK_ALLOC(b);
    b->n_features = n_features;
    b->graph_ptr = calloc(1, sizeof(int));
    AB_CHECK_ALLOC(b->graph_ptr);
    b->cap_graphs = 0;
    *out = b;
    b = NULL;
cleanup:
    ab_graph_batch_destroy(&b);
    return rc;
}

void ab_graph_batch_clear(struct ab_graph_batch *b)
{
    b->n_graphs = b->n_nodes = b->n_edges = 0;
    b->graph_ptr[0] = 0;
}

void ab_graph_batch_destroy(struct ab_graph_batch **bp)
{
    struct ab_graph_batch *b;
    if (!bp || !*bp) return;
    b = *bp;
    free(b->x);
    free(b->node_graph);
    free(b->graph_ptr);
    free(b->edge_src);
    free(b->edge_dst);
    free(b);
    *bp = NULL;
}

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 0;
    int nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

/* Makes room for `nodes` more nodes, `nodes - 1 + extra` edges and one
 * graph. */
static ab_status reserve(struct ab_graph_batch *b, int nodes, int extra)
{
    int cn = b->cap_nodes, ce = b->cap_edges, cg = b->cap_graphs;
    int need_n = b->n_nodes + nodes, need_e = b->n_edges + nodes + extra;
    int need_g = b->n_graphs + 2;
    int cn2 = cn, ce2 = ce, cg2 = cg;
    if (grow((void **)&b->node_graph, &cn, need_n, sizeof(int)) ||
        grow((void **)&b->x, &cn2, need_n, sizeof(float) * (size_t)b->n_features) ||
        grow((void **)&b->edge_src, &ce, need_e, sizeof(int)) ||
        grow((void **)&b->edge_dst, &ce2, need_e, sizeof(int)) ||
        grow((void **)&b->graph_ptr, &cg2, need_g, sizeof(int)))
        return ab_err_set(AB_ERR_NOMEM, "out of memory growing a graph batch");
    (void)cg;
    b->cap_nodes = cn < cn2 ? cn : cn2;
    b->cap_edges = ce < ce2 ? ce : ce2;
    b->cap_graphs = cg2;
    return AB_OK;
}

static void push_node(struct ab_graph_batch *b, const struct ab_space *sp, int stage,
                      int layer, int choice, int resolution)
{
    int v = b->n_nodes++;
    ab_seqgraph_node_features(sp, stage, layer, choice, resolution,
                              b->x + (size_t)v * (size_t)b->n_features);
    b->node_graph[v] = b->n_graphs;
    if (v > b->graph_ptr[b->n_graphs]) {
        b->edge_src[b->n_edges] = v - 1;
        b->edge_dst[b->n_edges] = v;
        b->n_edges++;
    }
}

ab_status ab_graph_batch_add_arch(struct ab_graph_batch *b, const struct ab_space *sp,
                                  const struct ab_arch *a)
{
    /* skip connections of U-Net spaces, after the chain edges */
    int src[AB_MAX_STAGES * AB_MAX_LAYERS], dst[AB_MAX_STAGES * AB_MAX_LAYERS];
    int extra = ab_arch_extra_edges(sp, a, src, dst, AB_MAX_STAGES * AB_MAX_LAYERS);
    int first = b->n_nodes;
    AB_TRY(reserve(b, ab_arch_n_layers(sp, a), extra));
    for (int s = 0; s < sp->n_stages; s++)
        for (int l = 0; l < a->depth[s]; l++)
            push_node(b, sp, s, l, a->choice[s][l], a->resolution);
    for (int e = 0; e < extra; e++) {
        b->edge_src[b->n_edges] = first + src[e];
        b->edge_dst[b->n_edges] = first + dst[e];
        b->n_edges++;
    }
    b->n_graphs++;
    b->graph_ptr[b->n_graphs] = b->n_nodes;
    return AB_OK;
}

ab_status ab_graph_batch_add_subgraph(struct ab_graph_batch *b, const struct ab_space *sp,
                                      const struct ab_subgraph *g, int resolution)
{
    int n = 0, first = sp->units[g->unit].first;
    for (int k = 0; k < g->n_stages; k++) n += g->depth[k];
    AB_TRY(reserve(b, n, 0));
    for (int k = 0; k < g->n_stages; k++)
        for (int l = 0; l < g->depth[k]; l++)
            push_node(b, sp, first + k, l, g->choice[k][l], resolution);
    b->n_graphs++;
    b->graph_ptr[b->n_graphs] = b->n_nodes;
    return AB_OK;
}
