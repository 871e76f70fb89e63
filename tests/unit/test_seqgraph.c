/* SPDX-License-Identifier: MIT
 *
 * This file tests sequence graphs: node features bit-exact with the authors'
 * encoding (ge_utils/torch_geo_data.py, _mobilenet_custom_as_torch_geo),
 * chain edges, batching of many graphs and unit subgraphs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "graph/seqgraph.h"
#include "util/rng.h"

static const char *pn_json =
    "{\"space\":\"ofa_pn\",\"resolution\":208,\"stages\":[[\"mbconv2_e3_k3\",\"mbconv2_e4_k7\"],"
    "[\"mbconv2_e6_k5\",\"mbconv2_e6_k5\",\"mbconv2_e3_k7\"],[\"mbconv2_e4_k3\",\"mbconv2_e4_k5\"],"
    "[\"mbconv2_e3_k3\",\"mbconv2_e3_k3\"],[\"mbconv2_e6_k7\",\"mbconv2_e6_k7\",\"mbconv2_e6_k7\","
    "\"mbconv2_e6_k7\"],[\"mbconv2_e4_k5\"]]}";

/* The authors' row for block string b at stage s, layer l, resolution r. */
static void authors_row(const char *b, int s, int l, int r, float *row)
{
    int fam = b[6] - '0', e = b[9] - '0', k = b[12] - '0';
    row[0] = (float)s;
    row[1] = (float)l;
    row[2] = (float)(fam - 2);
    row[3] = (float)(e == 3 ? 0 : e == 4 ? 1 : 2);
    row[4] = (float)(k == 3 ? 0 : k == 5 ? 1 : 2);
    row[5] = (float)((r - 192) / 32.0);
}

static void test_ofa_features(void)
{
    struct ab_space *sp = NULL;
    struct ab_arch a;
    struct ab_graph_batch *b = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_open("ofa_pn", &sp), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(sp, pn_json, &a), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_add_arch(b, sp, &a), AB_OK);
    CU_ASSERT_EQUAL(b->n_graphs, 1);
    CU_ASSERT_EQUAL(b->n_nodes, 14);
    CU_ASSERT_EQUAL(b->n_edges, 13);
    CU_ASSERT_EQUAL(b->n_features, 6);
    int v = 0;
    for (int s = 0; s < 6; s++)
        for (int l = 0; l < a.depth[s]; l++, v++) {
            float want[6];
            authors_row(sp->stages[s].choices[a.choice[s][l]].name, s, l, 208, want);
            CU_ASSERT_EQUAL(memcmp(want, b->x + v * 6, sizeof want), 0);
        }
    /* spot values by hand: node 2 is stage 2 layer 1, e6 k5; res 0.5 */
    CU_ASSERT_EQUAL(b->x[2 * 6 + 0], 1.0f);
    CU_ASSERT_EQUAL(b->x[2 * 6 + 1], 0.0f);
    CU_ASSERT_EQUAL(b->x[2 * 6 + 2], 0.0f);
    CU_ASSERT_EQUAL(b->x[2 * 6 + 3], 2.0f);
    CU_ASSERT_EQUAL(b->x[2 * 6 + 4], 1.0f);
    CU_ASSERT_EQUAL(b->x[2 * 6 + 5], 0.5f);
    for (int e = 0; e < 13; e++) {
        CU_ASSERT_EQUAL(b->edge_src[e], e);
        CU_ASSERT_EQUAL(b->edge_dst[e], e + 1);
    }
    ab_graph_batch_destroy(&b);
    CU_ASSERT_PTR_NULL(b);
    ab_space_destroy(&sp);
}

static void test_batch(void)
{
    struct ab_space *sp = NULL;
    struct ab_graph_batch *b = NULL;
    struct ab_rng rng;
    struct ab_arch archs[300];
    int nodes = 0;
    CU_ASSERT_EQUAL_FATAL(ab_space_open("ofa_mbv3", &sp), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    ab_rng_seed(&rng, 3);
    for (int round = 0; round < 2; round++) {
        ab_graph_batch_clear(b);
        nodes = 0;
        for (int i = 0; i < 300; i++) {
            ab_arch_sample(sp, &rng, NULL, 0, &archs[i]);
            CU_ASSERT_EQUAL_FATAL(ab_graph_batch_add_arch(b, sp, &archs[i]), AB_OK);
            nodes += ab_arch_n_layers(sp, &archs[i]);
        }
        CU_ASSERT_EQUAL(b->n_graphs, 300);
        CU_ASSERT_EQUAL(b->n_nodes, nodes);
        CU_ASSERT_EQUAL(b->n_edges, nodes - 300);
        for (int g = 0; g < 300; g++) {
            int lo = b->graph_ptr[g], hi = b->graph_ptr[g + 1];
            CU_ASSERT_EQUAL(hi - lo, ab_arch_n_layers(sp, &archs[g]));
            for (int v = lo; v < hi; v++) CU_ASSERT_EQUAL(b->node_graph[v], g);
            /* the graph's first node is stage 0, layer 0; mbconv3 family */
            CU_ASSERT_EQUAL(b->x[lo * 6 + 0], 0.0f);
            CU_ASSERT_EQUAL(b->x[lo * 6 + 1], 0.0f);
            CU_ASSERT_EQUAL(b->x[lo * 6 + 2], 1.0f);
        }
        /* no edge crosses graphs */
        for (int e = 0; e < b->n_edges; e++)
            CU_ASSERT_EQUAL(b->node_graph[b->edge_src[e]], b->node_graph[b->edge_dst[e]]);
    }
    ab_graph_batch_destroy(&b);
    ab_space_destroy(&sp);
}

static void test_subgraph_positions(void)
{
    struct ab_space *sp = NULL;
    struct ab_graph_batch *b = NULL;
    struct ab_subgraph g;
    CU_ASSERT_EQUAL_FATAL(ab_space_open("ofa_pn", &sp), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    /* last subgraph of the merged unit: stage 5 (4 layers) + stage 6 */
    CU_ASSERT_EQUAL_FATAL(ab_space_unit_subgraph(sp, 4, 66338, &g), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_add_subgraph(b, sp, &g, 224), AB_OK);
    CU_ASSERT_EQUAL(b->n_nodes, 5);
    CU_ASSERT_EQUAL(b->x[0 * 6 + 0], 4.0f); /* stage index 4 (5th stage) */
    CU_ASSERT_EQUAL(b->x[3 * 6 + 1], 3.0f);
    CU_ASSERT_EQUAL(b->x[4 * 6 + 0], 5.0f); /* stage 6 */
    CU_ASSERT_EQUAL(b->x[4 * 6 + 1], 0.0f);
    CU_ASSERT_EQUAL(b->x[4 * 6 + 5], 1.0f);
    ab_graph_batch_destroy(&b);
    ab_space_destroy(&sp);
}

static void test_yaml_features(void)
{
    struct ab_space *sp = NULL;
    struct ab_graph_batch *b = NULL;
    struct ab_arch a;
    char path[1024];
    snprintf(path, sizeof path, "%s/attrs.yaml",
             getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data");
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &sp), AB_OK);
    CU_ASSERT_EQUAL_FATAL(
        ab_arch_parse_json(sp,
                           "{\"space\":\"attrs_demo\",\"resolution\":192,\"stages\":"
                           "[[\"ir_5x5_t6\"],[\"conv1\",\"conv3\"],[\"b\",\"a\"],[\"head\"]]}",
                           &a),
        AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_add_arch(b, sp, &a), AB_OK);
    CU_ASSERT_EQUAL(b->n_nodes, 6);
    /* node 0: stage 0, layer 0, choice 2, kernel 5, op ir(1), expand 6, res 0.5 */
    const float want0[7] = {0, 0, 2, 5, 1, 6, 0.5f};
    CU_ASSERT_EQUAL(memcmp(b->x, want0, sizeof want0), 0);
    /* node 2: stage 1, layer 1, conv3 = choice 0, kernel 3, op conv(2), expand 0 */
    const float want2[7] = {1, 1, 0, 3, 2, 0, 0.5f};
    CU_ASSERT_EQUAL(memcmp(b->x + 2 * 7, want2, sizeof want2), 0);
    ab_graph_batch_destroy(&b);
    ab_space_destroy(&sp);
}

static const struct cu_case cases[] = {
    {"OFA features bit-exact with the authors' encoding", test_ofa_features},
    {"batches of many graphs", test_batch},
    {"unit subgraph positions", test_subgraph_positions},
    {"YAML space features", test_yaml_features},
    {NULL, NULL},
};
CU_MAIN("seqgraph", cases)
