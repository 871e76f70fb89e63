/* SPDX-License-Identifier: MIT
 *
 * seqgraph.h - architectures as directed sequence graphs, batched for the
 * predictor.
 *
 * One node per layer in network order, one edge i -> i+1 (node i+1 receives
 * from node i). Node features (one float row per node):
 *
 *   OFA spaces (bit-exact with the authors' encoding):
 *     [stage (0-based), layer in stage (0-based), family (mbconv3 = 1,
 *      mbconv2 = 0), expansion index {3:0,4:1,6:2}, kernel index
 *      {3:0,5:1,7:2}, (resolution - 192) / 32]
 *   YAML spaces:
 *     [stage, layer, choice index, one column per attribute (numeric value
 *      or categorical index), (r - r_min) / max(1, r_max - r_min) when the
 *      space has resolutions]
 *
 * The column meanings and category sizes are sp->features[].
 *
 * A batch concatenates the nodes of many graphs:
 *
 *     struct ab_graph_batch *b = NULL;
 *     ab_graph_batch_create(sp->n_features, &b);
 *     for (i...) ab_graph_batch_add_arch(b, sp, &archs[i]);
 *     // b->x is n_nodes x n_features, b->graph_ptr[g]..graph_ptr[g+1] the
 *     // nodes of graph g, b->edge_src/edge_dst the edges (global indices).
 *     ab_graph_batch_destroy(&b);
 */
#ifndef AB_GRAPH_SEQGRAPH_H
#define AB_GRAPH_SEQGRAPH_H

#include "space/space.h"

struct ab_graph_batch {
    int n_features;
    int n_graphs, n_nodes, n_edges;
    float *x;          /* n_nodes x n_features, row-major */
    int *node_graph;   /* n_nodes: the graph each node belongs to */
    int *graph_ptr;    /* n_graphs + 1: first node of each graph */
    int *edge_src;     /* n_edges: message source (global node index) */
    int *edge_dst;     /* n_edges: message destination */
    /* capacities (internal) */
    int cap_nodes, cap_edges, cap_graphs;
};

/* Creates an empty batch. On failure *out is NULL. */
ab_status ab_graph_batch_create(int n_features, struct ab_graph_batch **out);

/* Empties the batch, keeping its memory. */
void ab_graph_batch_clear(struct ab_graph_batch *b);

/* Appends an architecture's graph (it must be valid in sp). Fails only when
 * out of memory; the batch is then unchanged. */
ab_status ab_graph_batch_add_arch(struct ab_graph_batch *b, const struct ab_space *sp,
                                  const struct ab_arch *a);

/* Appends a unit subgraph alone, its nodes carrying the stage and layer
 * positions they have inside a whole architecture, at the given resolution
 * (ignored by spaces without one). Used by module scoring. */
ab_status ab_graph_batch_add_subgraph(struct ab_graph_batch *b, const struct ab_space *sp,
                                      const struct ab_subgraph *g, int resolution);

/* Frees the batch and sets *b to NULL. NULL-safe. */
void ab_graph_batch_destroy(struct ab_graph_batch **b);

/* Writes the feature row of one layer into row[sp->n_features]. */
void ab_seqgraph_node_features(const struct ab_space *sp, int stage, int layer,
                               int choice, int resolution, float *row);

#endif /* AB_GRAPH_SEQGRAPH_H */
