/* SPDX-License-Identifier: MIT
 *
 * This file tests the Stable Diffusion v1.4 inpainting U-Net spaces
 * (space_sdunet.c, common/space/sd_unet.md): exact sizes checked by enumerating
 * every architecture, unit subgraphs, seeded sampling against an
 * independent check of the rules, the JSON round trip, validation messages,
 * sequence graphs with skip edges and node features, the YAML overrides,
 * reduced spaces, and direct construction under the channel constraints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "graph/seqgraph.h"
#include "predictor/model.h"
#include "space/space.h"
#include "util/rng.h"
#include "util/u64map.h"

/* The SD v1.4 inpainting baseline: 256 channels, [1,2,3,4], every block,
 * attention in stages 3 and 4. */
static const char *baseline_stages[9] = {
    "[\"res_256\",\"res_256\",\"down_256\"]",
    "[\"res_512\",\"res_512\",\"down_512\"]",
    "[\"res_768\",\"attn_768\",\"res_768\",\"attn_768\",\"down_768\"]",
    "[\"res_1024\",\"attn_1024\",\"res_1024\",\"attn_1024\"]",
    "[\"res_1024\",\"attn_1024\",\"res_1024\"]",
    "[\"res_1024\",\"attn_1024\",\"res_1024\",\"attn_1024\",\"res_1024\",\"attn_1024\","
    "\"up_1024\"]",
    "[\"res_768\",\"attn_768\",\"res_768\",\"attn_768\",\"res_768\",\"attn_768\",\"up_768\"]",
    "[\"res_512\",\"res_512\",\"res_512\",\"up_512\"]",
    "[\"res_256\",\"res_256\",\"res_256\"]",
};

static struct ab_space *open_space(const char *name)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_open(name, &sp), AB_OK);
    return sp;
}

/* The baseline's JSON with stage `s` (0-based; -1 none) replaced. */
static void arch_json(const char *space, int s, const char *stage, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "{\"space\":\"%s\",\"stages\":[", space);
    for (int k = 0; k < 9; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? "," : "",
                                k == s ? stage : baseline_stages[k]);
    snprintf(buf + len, cap - len, "]}");
}

/* The error of parsing the baseline with stage s replaced (NULL if valid). */
static const char *parse_error(struct ab_space *sp, int s, const char *stage)
{
    char json[2048];
    struct ab_arch a;
    arch_json(sp->name, s, stage, json, sizeof json);
    if (ab_arch_parse_json(sp, json, &a) == AB_OK) return NULL;
    return ab_err_msg();
}

static int contains(const char *msg, const char *part)
{
    if (msg && strstr(msg, part)) return 1;
    printf("\n    message: %s\n    expected to contain: %s\n", msg ? msg : "(none)", part);
    return 0;
}

/* Independent check of an architecture's rules from its block names. */
static int rules_hold(const struct ab_space *sp, const struct ab_arch *a, int hw)
{
    static const int vecs[8][4] = {{1, 2, 3, 4}, {1, 1, 2, 4}, {1, 3, 4, 2}, {1, 2, 2, 2},
                                   {1, 1, 2, 2}, {1, 2, 3, 3}, {1, 2, 4, 4}, {1, 3, 4, 4}};
    int width[9];
    for (int s = 0; s < 9; s++) {
        int level = s < 4 ? s : s == 4 ? 3 : 8 - s, res = 0, attn = 0, w = -1;
        for (int l = 0; l < a->depth[s]; l++) {
            const char *name = sp->stages[s].choices[a->choice[s][l]].name;
            int c = atoi(strchr(name, '_') + 1);
            if (w >= 0 && c != w) return 0;
            w = c;
            if (!strncmp(name, "res_", 4)) res++;
            if (!strncmp(name, "attn_", 5)) attn++;
            if (!strncmp(name, "down_", 5) && (s >= 3 || l != a->depth[s] - 1)) return 0;
            if (!strncmp(name, "up_", 3) && (s < 5 || s > 7 || l != a->depth[s] - 1)) return 0;
        }
        width[s] = w;
        if (s == 4) {
            if (res != 2 || attn != 1) return 0;
            continue;
        }
        if (level < 2 && attn) return 0;                /* never in stages 1-2 */
        if (attn && attn != res) return 0;              /* whole stage */
        if (s < 4 && (res < 1 || res > 2)) return 0;    /* 2 blocks, one may go */
        if (s > 4 && (res < 2 || res > 3)) return 0;    /* 3 blocks, one may go */
    }
    for (int i = 0; i < 4; i++)
        if (width[i] != width[8 - i]) return 0; /* input i and output i share */
    if (width[4] != width[3]) return 0;
    for (int g = 128; g <= 256; g += 64) {
        if (hw && g != 256) continue;
        for (int v = 0; v < 8; v++) {
            int ok = 1;
            for (int i = 0; i < 4; i++) {
                ok &= width[i] == g * vecs[v][i];
                if (hw) ok &= vecs[v][i] <= vecs[0][i];
            }
            if (ok) return 1;
        }
    }
    return 0;
}

static void test_sizes(void)
{
    struct ab_space *sp = open_space("sd_unet"), *hw = open_space("sd_unet_hw");
    static const uint64_t units[9] = {6, 14, 24, 24, 6, 24, 24, 14, 6};
    static const uint64_t hw_units[9] = {2, 4, 8, 12, 3, 12, 8, 4, 2};
    char *s = ab_space_size_string(sp);
    CU_ASSERT_STRING_EQUAL(s, "98304"); /* 24 configurations x 4096 structures */
    free(s);
    s = ab_space_size_string(hw);
    CU_ASSERT_STRING_EQUAL(s, "20480"); /* 5 configurations x 4096 */
    free(s);
    CU_ASSERT_EQUAL(sp->kind, AB_SPACE_SD_UNET);
    CU_ASSERT_EQUAL(sp->n_stages, 9);
    CU_ASSERT_EQUAL(sp->n_units, 9);
    CU_ASSERT_EQUAL(sp->n_resolutions, 0);
    CU_ASSERT_EQUAL(ab_space_n_configs(sp), 24);
    CU_ASSERT_EQUAL(ab_space_n_configs(hw), 5);
    for (int u = 0; u < 9; u++) {
        CU_ASSERT_EQUAL(ab_space_unit_count(sp, u), units[u]);
        CU_ASSERT_EQUAL(ab_space_unit_count(hw, u), hw_units[u]);
    }
    CU_ASSERT_DOUBLE_EQUAL(ab_space_size_log10(sp), 4.99256, 1e-4);
    /* what `space info` prints about the rules */
    char text[2048];
    ab_space_describe_constraints(sp, text, sizeof text);
    CU_ASSERT(contains(text, "24 channel configurations x 4096 block structures = 98304"));
    CU_ASSERT(contains(text, "[1,2,3,4] [1,1,2,4] [1,3,4,2] [1,2,2,2] [1,1,2,2] [1,2,3,3] "
                             "[1,2,4,4] [1,3,4,4]"));
    CU_ASSERT(contains(text, "1 never, 2 never, 3 optional, 4 optional"));
    ab_space_describe_constraints(hw, text, sizeof text);
    CU_ASSERT(contains(text, "global channels: 256\n"));
    CU_ASSERT(contains(text, "5 channel configurations x 4096 block structures = 20480"));
    CU_ASSERT_EQUAL(ab_space_describe_constraints(hw, NULL, 0), strlen(text));
    /* other spaces have no coupled rules */
    struct ab_space *mb = open_space("ofa_mbv3");
    CU_ASSERT_EQUAL(ab_space_n_configs(mb), 0);
    CU_ASSERT_EQUAL(ab_space_describe_constraints(mb, text, sizeof text), 0);
    CU_ASSERT_EQUAL(ab_space_config_allows(mb, 0, 0, 5), 1);
    /* the stored definition re-creates the space */
    struct ab_space *again = NULL;
    CU_ASSERT_EQUAL(ab_space_from_definition(hw->definition, "t", &again), AB_OK);
    s = ab_space_size_string(again);
    CU_ASSERT_STRING_EQUAL(s, "20480");
    free(s);
    ab_space_destroy(&again);
    ab_space_destroy(&mb);
    ab_space_destroy(&sp);
    ab_space_destroy(&hw);
}

/* Every architecture, enumerated: all valid, distinct, 4096 per config. */
static void enumerate_all(const char *name, uint64_t expect, int hw)
{
    struct ab_space *sp = open_space(name);
    struct ab_u64map seen;
    struct ab_arch a;
    int per_config[24] = {0}, bad = 0;
    CU_ASSERT_EQUAL_FATAL(ab_u64map_init(&seen, expect), AB_OK);
    uint64_t i = 0;
    for (; ab_space_arch_at(sp, i, 0, &a) == AB_OK; i++) {
        int c = ab_arch_config(sp, &a);
        if (ab_arch_validate(sp, &a) != AB_OK || c < 0 || !rules_hold(sp, &a, hw)) bad++;
        else per_config[c]++;
        if (ab_u64map_put(&seen, ab_arch_hash(sp, &a), (int64_t)i, NULL) != 0) bad++;
    }
    CU_ASSERT_EQUAL(i, expect);
    CU_ASSERT_EQUAL(bad, 0);
    for (int c = 0; c < ab_space_n_configs(sp); c++) CU_ASSERT_EQUAL(per_config[c], 4096);
    CU_ASSERT(contains(ab_err_msg(), "out of range"));
    ab_u64map_free(&seen);
    ab_space_destroy(&sp);
}

static void test_enumerate_every_architecture(void)
{
    enumerate_all("sd_unet", 98304, 0);
    enumerate_all("sd_unet_hw", 20480, 1);
}

static void test_unit_subgraphs(void)
{
    struct ab_space *sp = open_space("sd_unet");
    for (int u = 0; u < sp->n_units; u++) {
        int prev_depth = 0, n_configs_seen = 0;
        for (uint64_t i = 0; i < ab_space_unit_count(sp, u); i++) {
            struct ab_subgraph g;
            CU_ASSERT_EQUAL_FATAL(ab_space_unit_subgraph(sp, u, i, &g), AB_OK);
            CU_ASSERT_EQUAL(ab_space_unit_subgraph_index(sp, &g), i);
            CU_ASSERT(g.depth[0] >= prev_depth); /* ordered by layer count */
            CU_ASSERT(g.depth[0] >= sp->stages[u].min_layers &&
                      g.depth[0] <= sp->stages[u].max_layers);
            prev_depth = g.depth[0];
            /* every subgraph belongs to some configuration */
            int any = 0;
            for (int c = 0; c < 24; c++) any |= ab_space_config_allows(sp, c, u, i);
            n_configs_seen += any;
        }
        CU_ASSERT_EQUAL(n_configs_seen, (int)ab_space_unit_count(sp, u));
        struct ab_subgraph g;
        CU_ASSERT_EQUAL(ab_space_unit_subgraph(sp, u, ab_space_unit_count(sp, u), &g),
                        AB_ERR_INPUT);
    }
    /* a subgraph that breaks the block rules has no index */
    struct ab_subgraph bad = {.unit = 0, .n_stages = 1, .depth = {2}};
    bad.choice[0][0] = (uint8_t)ab_space_find_choice(sp, 0, "attn_256");
    bad.choice[0][1] = (uint8_t)ab_space_find_choice(sp, 0, "down_256");
    CU_ASSERT_EQUAL(ab_space_unit_subgraph_index(sp, &bad), UINT64_MAX);
    CU_ASSERT_EQUAL(ab_space_config_allows(sp, 24, 0, 0), 0);
    CU_ASSERT_EQUAL(ab_space_config_allows(sp, 0, 0, 999), 0);
    ab_space_destroy(&sp);
}

static void sample_many(const char *name, int hw)
{
    struct ab_space *sp = open_space(name);
    struct ab_rng rng;
    int bad = 0, configs[24] = {0}, dropped = 0;
    ab_rng_seed(&rng, 7);
    for (int i = 0; i < 5000; i++) {
        struct ab_arch a;
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        int c = ab_arch_config(sp, &a);
        if (ab_arch_validate(sp, &a) != AB_OK || ab_arch_check_constraints(sp, &a) != AB_OK ||
            c < 0 || !rules_hold(sp, &a, hw))
            bad++;
        else configs[c]++;
        dropped += a.depth[0] == 2; /* input stage 1 dropped a block */
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int c = 0; c < ab_space_n_configs(sp); c++) CU_ASSERT(configs[c] > 0);
    CU_ASSERT(dropped > 2300 && dropped < 2700); /* uniform: half drop one */
    ab_space_destroy(&sp);
}

static void test_sampling(void)
{
    sample_many("sd_unet", 0);
    sample_many("sd_unet_hw", 1);
    /* seeded: the same stream gives the same architectures */
    struct ab_space *sp = open_space("sd_unet");
    struct ab_rng r1, r2;
    ab_rng_seed(&r1, 42);
    ab_rng_seed(&r2, 42);
    for (int i = 0; i < 50; i++) {
        struct ab_arch a, b;
        ab_arch_sample(sp, &r1, NULL, 0, &a);
        ab_arch_sample(sp, &r2, NULL, 0, &b);
        CU_ASSERT(ab_arch_equal(&a, &b));
    }
    ab_space_destroy(&sp);
}

static void test_json_round_trip(void)
{
    struct ab_space *sp = open_space("sd_unet");
    struct ab_rng rng;
    struct ab_arch a, b;
    char json[2048];
    arch_json("sd_unet", -1, NULL, json, sizeof json);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(sp, json, &a), AB_OK);
    char *back = ab_arch_to_json(sp, &a);
    CU_ASSERT_STRING_EQUAL(back, json);
    free(back);
    CU_ASSERT_EQUAL(ab_arch_n_layers(sp, &a), 39);
    CU_ASSERT_EQUAL(a.resolution, 0);
    ab_rng_seed(&rng, 3);
    for (int i = 0; i < 300; i++) {
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        char *j = ab_arch_to_json(sp, &a);
        CU_ASSERT_EQUAL(ab_arch_parse_json(sp, j, &b), AB_OK);
        CU_ASSERT(ab_arch_equal(&a, &b));
        CU_ASSERT_EQUAL(ab_arch_hash(sp, &a), ab_arch_hash(sp, &b));
        free(j);
    }
    /* a resolution is refused: the space has none */
    CU_ASSERT_EQUAL(ab_arch_parse_json(sp, "{\"space\":\"sd_unet\",\"resolution\":224,"
                                           "\"stages\":[]}", &a), AB_ERR_INPUT);
    CU_ASSERT(contains(ab_err_msg(), "has no input resolution"));
    ab_space_destroy(&sp);
}

static void test_invalid_messages(void)
{
    struct ab_space *sp = open_space("sd_unet"), *hw = open_space("sd_unet_hw");
    CU_ASSERT_PTR_NULL(parse_error(sp, -1, NULL));
    /* mismatched input/output multipliers */
    CU_ASSERT(contains(parse_error(sp, 7, "[\"res_768\",\"res_768\",\"res_768\",\"up_768\"]"),
                       "output stage 2 (stage 8) has 768 channels but input stage 2 (stage 2) has "
                       "512; an input stage and its output stage must share a channel "
                       "multiplier"));
    /* attention in the early stages */
    CU_ASSERT(contains(parse_error(sp, 1, "[\"res_512\",\"attn_512\",\"res_512\",\"attn_512\","
                                          "\"down_512\"]"),
                       "input stage 2 (stage 2) has attention, but space 'sd_unet' never has "
                       "attention in stage 2 (the paper removes it from stage 2)"));
    CU_ASSERT(contains(parse_error(sp, 7, "[\"res_512\",\"attn_512\",\"res_512\",\"attn_512\","
                                          "\"res_512\",\"attn_512\",\"up_512\"]"),
                       "output stage 2 (stage 8) has attention"));
    CU_ASSERT(contains(parse_error(sp, 0, "[\"res_256\",\"attn_256\",\"down_256\"]"),
                       "never has attention in stage 1 (the base U-Net has none there)"));
    /* too many and too few blocks */
    CU_ASSERT(contains(parse_error(sp, 0, "[\"res_256\",\"res_256\",\"res_256\",\"down_256\"]"),
                       "input stage 1 (stage 1) has 3 residual blocks; space 'sd_unet' allows 1 "
                       "to 2 there (baseline 2, up to 1 dropped)"));
    CU_ASSERT(contains(parse_error(sp, 6, "[\"res_768\",\"attn_768\",\"up_768\"]"),
                       "output stage 3 (stage 7) has 1 residual block; space 'sd_unet' allows 2 "
                       "to 3 there"));
    CU_ASSERT(contains(parse_error(sp, 5, "[\"res_1024\",\"attn_1024\",\"res_1024\",\"attn_1024\","
                                          "\"res_1024\",\"attn_1024\",\"res_1024\",\"attn_1024\","
                                          "\"up_1024\"]"),
                       "output stage 4 (stage 6) has 4 residual blocks"));
    /* attention is kept or removed for a whole stage */
    CU_ASSERT(contains(parse_error(sp, 2, "[\"res_768\",\"attn_768\",\"res_768\",\"down_768\"]"),
                       "input stage 3 (stage 3) has attention after 1 of its 2 residual blocks; "
                       "attention is kept or removed for the whole stage"));
    CU_ASSERT(contains(parse_error(sp, 3, "[\"attn_1024\",\"res_1024\"]"),
                       "input stage 4 (stage 4) layer 1: attention must follow a residual block"));
    /* sampling layers */
    CU_ASSERT(contains(parse_error(sp, 0, "[\"res_256\",\"res_256\"]"),
                       "input stage 1 (stage 1) must end with its downsample layer 'down_256'"));
    CU_ASSERT(contains(parse_error(sp, 7, "[\"res_512\",\"up_512\",\"res_512\",\"up_512\"]"),
                       "output stage 2 (stage 8) layer 2: 'up_512' may only be the stage's last "
                       "layer"));
    CU_ASSERT(contains(parse_error(sp, 3, "[\"res_1024\",\"down_1024\"]"),
                       "unknown block 'down_1024'")); /* level 4 has no downsample */
    /* channels inside a stage, the middle, the configurations */
    CU_ASSERT(contains(parse_error(sp, 0, "[\"res_256\",\"res_128\",\"down_256\"]"),
                       "input stage 1 (stage 1) layer 2 is 'res_128' with 128 channels, but layer "
                       "1 has 256; every layer of a stage has the stage's channels"));
    CU_ASSERT(contains(parse_error(sp, 4, "[\"res_768\",\"attn_768\",\"res_768\"]"),
                       "the middle stage (stage 5) has 768 channels but input stage 4 has 1024"));
    CU_ASSERT(contains(parse_error(sp, 4, "[\"res_1024\",\"res_1024\",\"attn_1024\"]"),
                       "the middle stage (stage 5) is fixed as res_1024, attn_1024, res_1024"));
    CU_ASSERT(contains(parse_error(sp, 0, "[\"res_128\",\"res_128\",\"res_128\",\"res_128\","
                                          "\"res_128\",\"res_128\",\"res_128\",\"res_128\","
                                          "\"res_128\",\"res_128\",\"res_128\",\"res_128\","
                                          "\"res_128\",\"res_128\",\"res_128\",\"res_128\","
                                          "\"down_128\"]"),
                       "stage 1 has 17 layers"));
    {
        /* global channels mixed: stage 1 at 128, the rest at 256 x [1,2,3,4] */
        char json[2048];
        struct ab_arch a;
        arch_json("sd_unet", 0, "[\"res_128\",\"res_128\",\"down_128\"]", json, sizeof json);
        char *p = strstr(json, "[\"res_256\",\"res_256\",\"res_256\"]");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        const char *out1 = "[\"res_128\",\"res_128\",\"res_128\"]";
        memcpy(p, out1, strlen(out1));
        CU_ASSERT_EQUAL(ab_arch_parse_json(sp, json, &a), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "the stage channels (128, 512, 768, 1024) are not one "
                                         "global channel count (128, 192, 256) times one "
                                         "multiplier vector"));
        CU_ASSERT(contains(ab_err_msg(), "global channels 128 would need multipliers [1,4,6,8], "
                                         "which is not one of the vectors"));
    }
    /* sd_unet_hw: multipliers never above the baseline */
    CU_ASSERT_PTR_NULL(parse_error(hw, -1, NULL));
    CU_ASSERT(contains(parse_error(hw, 1, "[\"res_768\",\"down_768\"]"),
                       "stage 2 layer 1: unknown block 'res_768'"));
    {
        /* every stage's channels exist, but [1,1,3,2] is no vector */
        static const char *st[9] = {
            "[\"res_256\",\"down_256\"]", "[\"res_256\",\"down_256\"]",
            "[\"res_768\",\"down_768\"]", "[\"res_512\"]", "[\"res_512\",\"attn_512\",\"res_512\"]",
            "[\"res_512\",\"res_512\",\"up_512\"]", "[\"res_768\",\"res_768\",\"up_768\"]",
            "[\"res_256\",\"res_256\",\"up_256\"]", "[\"res_256\",\"res_256\"]"};
        char json[2048];
        size_t len = (size_t)snprintf(json, sizeof json, "{\"space\":\"sd_unet_hw\",\"stages\":[");
        for (int k = 0; k < 9; k++)
            len += (size_t)snprintf(json + len, sizeof json - len, "%s%s", k ? "," : "", st[k]);
        snprintf(json + len, sizeof json - len, "]}");
        struct ab_arch a;
        CU_ASSERT_EQUAL(ab_arch_parse_json(hw, json, &a), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "global channels 256 would need multipliers [1,1,3,2]"));
    }
    ab_space_destroy(&sp);
    ab_space_destroy(&hw);
}

static void test_graph(void)
{
    struct ab_space *sp = open_space("sd_unet");
    struct ab_graph_batch *b = NULL;
    struct ab_arch a;
    char json[2048];
    /* skip edges of the baseline (node numbers in common/space/sd_unet.md) */
    static const int skips[12][2] = {
        {14, 18}, {12, 20}, {10, 22}, /* level 4 */
        {9, 25},  {7, 27},  {5, 29},  /* level 3 */
        {4, 32},  {3, 33},  {2, 34},  /* level 2 */
        {1, 36},  {0, 37},  {0, 38},  /* level 1 */
    };
    arch_json("sd_unet", -1, NULL, json, sizeof json);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(sp, json, &a), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    CU_ASSERT_EQUAL(sp->n_features, 4);
    CU_ASSERT_STRING_EQUAL(sp->features[0].name, "operation");
    CU_ASSERT_STRING_EQUAL(sp->features[1].name, "channels");
    CU_ASSERT_STRING_EQUAL(sp->features[2].name, "section");
    CU_ASSERT_STRING_EQUAL(sp->features[3].name, "stage");
    CU_ASSERT_EQUAL(sp->features[1].cardinality, 8); /* 128 ... 1024 */
    char label[32];
    CU_ASSERT(ab_space_feature_label(sp, 0, 3, label, sizeof label) && !strcmp(label, "up"));
    CU_ASSERT(ab_space_feature_label(sp, 1, 7, label, sizeof label) && !strcmp(label, "1024"));
    CU_ASSERT(ab_space_feature_label(sp, 2, 1, label, sizeof label) && !strcmp(label, "middle"));
    CU_ASSERT(ab_space_feature_label(sp, 3, 2, label, sizeof label) && !strcmp(label, "stage 3"));
    CU_ASSERT_EQUAL(ab_space_feature_label(sp, 1, 8, label, sizeof label), 0);
    /* a graph in the middle of a batch: indices are offset */
    CU_ASSERT_EQUAL(ab_graph_batch_add_arch(b, sp, &a), AB_OK);
    CU_ASSERT_EQUAL(ab_graph_batch_add_arch(b, sp, &a), AB_OK);
    CU_ASSERT_EQUAL(b->n_nodes, 78);
    CU_ASSERT_EQUAL(b->n_edges, 2 * (38 + 12));
    int e0 = 38 + 12, v0 = 39; /* the second graph */
    for (int e = 0; e < 38; e++) {
        CU_ASSERT_EQUAL(b->edge_src[e0 + e], v0 + e);
        CU_ASSERT_EQUAL(b->edge_dst[e0 + e], v0 + e + 1);
    }
    for (int k = 0; k < 12; k++) {
        CU_ASSERT_EQUAL(b->edge_src[e0 + 38 + k], v0 + skips[k][0]);
        CU_ASSERT_EQUAL(b->edge_dst[e0 + 38 + k], v0 + skips[k][1]);
    }
    /* rows: operation (res 0, attn 1, down 2, up 3), channels index,
     * section (input 0, middle 1, output 2), stage (0-based level) */
    static const float rows[][5] = {
        {0, 0, 2, 0, 0},  {2, 2, 2, 0, 0},  {5, 2, 4, 0, 1},  {7, 1, 6, 0, 2},
        {12, 1, 7, 0, 3}, {15, 0, 7, 1, 3}, {16, 1, 7, 1, 3}, {24, 3, 7, 2, 3},
        {31, 3, 6, 2, 2}, {35, 3, 4, 2, 1}, {38, 0, 2, 2, 0},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (int f = 0; f < 4; f++)
            CU_ASSERT_EQUAL(b->x[(size_t)(v0 + (int)rows[r][0]) * 4 + (size_t)f], rows[r][f + 1]);
    /* every output residual block has exactly one skip edge, from the
     * input section (or the previous level's downsample) */
    struct ab_rng rng;
    ab_rng_seed(&rng, 11);
    for (int t = 0; t < 500; t++) {
        int src[256], dst[256], in_deg[64] = {0};
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        ab_graph_batch_clear(b);
        CU_ASSERT_EQUAL(ab_graph_batch_add_arch(b, sp, &a), AB_OK);
        int n = ab_arch_extra_edges(sp, &a, src, dst, 256), res_out = 0;
        CU_ASSERT_EQUAL(b->n_edges, b->n_nodes - 1 + n);
        for (int k = 0; k < n; k++) {
            const float *xs = b->x + (size_t)src[k] * 4, *xd = b->x + (size_t)dst[k] * 4;
            CU_ASSERT(xs[2] == 0 && xd[2] == 2);            /* input -> output */
            CU_ASSERT(xd[0] == 0);                          /* into a res node */
            CU_ASSERT(xs[3] == xd[3] || (xs[0] == 2 && xs[3] == xd[3] - 1));
            CU_ASSERT(xs[1] == xd[1] || xs[0] == 2);        /* same channels */
            in_deg[dst[k]]++;
        }
        for (int v = 0; v < b->n_nodes; v++) {
            const float *x = b->x + (size_t)v * 4;
            if (x[2] == 2 && x[0] == 0) {
                res_out++;
                CU_ASSERT_EQUAL(in_deg[v], 1);
            }
        }
        CU_ASSERT_EQUAL(n, res_out);
        CU_ASSERT_EQUAL(ab_arch_extra_edges(sp, &a, src, dst, 3), 3); /* capped */
    }
    /* a unit subgraph alone: its chain only */
    struct ab_subgraph g;
    ab_graph_batch_clear(b);
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(sp, 5, ab_space_unit_count(sp, 5) - 1, &g), AB_OK);
    CU_ASSERT_EQUAL(ab_graph_batch_add_subgraph(b, sp, &g, 0), AB_OK);
    CU_ASSERT_EQUAL(b->n_nodes, 7); /* output stage 4: 3 x (res, attn), up */
    CU_ASSERT_EQUAL(b->n_edges, 6);
    CU_ASSERT_EQUAL(b->x[6 * 4 + 0], 3);
    /* chain spaces get no extra edges */
    struct ab_space *mb = open_space("ofa_mbv3");
    ab_arch_sample(mb, &rng, NULL, 0, &a);
    int src[4], dst[4];
    CU_ASSERT_EQUAL(ab_arch_extra_edges(mb, &a, src, dst, 4), 0);
    ab_space_destroy(&mb);
    ab_graph_batch_destroy(&b);
    ab_space_destroy(&sp);
}

static const char *yaml_error(const char *text)
{
    struct ab_space *sp = NULL;
    ab_status rc = ab_space_from_definition(text, "u.yaml", &sp);
    CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(sp);
    ab_space_destroy(&sp);
    return ab_err_msg();
}

static void test_yaml(void)
{
    struct ab_space *sp = NULL, *hw = open_space("sd_unet_hw");
    char path[512], *s;
    /* the hardware-aware variant written as YAML equals the built-in */
    snprintf(path, sizeof path, "%s/sd_unet_hw.yaml",
             getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data");
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &sp), AB_OK);
    CU_ASSERT_EQUAL(sp->kind, AB_SPACE_SD_UNET);
    CU_ASSERT_STRING_EQUAL(sp->name, "sd_unet_hw_yaml");
    s = ab_space_size_string(sp);
    CU_ASSERT_STRING_EQUAL(s, "20480");
    free(s);
    for (int st = 0; st < 9; st++) {
        CU_ASSERT_EQUAL(sp->stages[st].n_choices, hw->stages[st].n_choices);
        for (int c = 0; c < sp->stages[st].n_choices && c < hw->stages[st].n_choices; c++)
            CU_ASSERT_STRING_EQUAL(sp->stages[st].choices[c].name, hw->stages[st].choices[c].name);
    }
    /* files that hold architectures store the YAML and re-create it */
    struct ab_space *again = NULL;
    CU_ASSERT_EQUAL(ab_space_from_definition(sp->definition, path, &again), AB_OK);
    CU_ASSERT_STRING_EQUAL(again->name, "sd_unet_hw_yaml");
    ab_space_destroy(&again);
    ab_space_destroy(&sp);
    /* overrides: three levels, per-block attention */
    static const char *small =
        "space:\n"
        "  name: unet3\n"
        "  unet:\n"
        "    channels: [64, 128]\n"
        "    multipliers: [[1, 2, 2], [1, 1, 2]]\n"
        "    input_blocks: [1, 2, 2]\n"
        "    output_blocks: [2, 2, 3]\n"
        "    drop: 0\n"
        "    attention: [never, optional, always]\n"
        "    attention_per_block: true\n";
    CU_ASSERT_EQUAL_FATAL(ab_space_from_definition(small, "u.yaml", &sp), AB_OK);
    CU_ASSERT_EQUAL(sp->n_stages, 7);
    CU_ASSERT_EQUAL(ab_space_n_configs(sp), 4);
    /* structures: in 1, 4 (2 blocks, attention per block), 1; middle 1;
     * out 1, 4, 1 */
    s = ab_space_size_string(sp);
    CU_ASSERT_STRING_EQUAL(s, "64");
    free(s);
    for (uint64_t i = 0; i < 64; i++) {
        struct ab_arch a;
        CU_ASSERT_EQUAL(ab_space_arch_at(sp, i, 0, &a), AB_OK);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
    }
    ab_space_destroy(&sp);
    /* within_baseline alone gives the hw vectors */
    CU_ASSERT_EQUAL(ab_space_from_definition("space:\n  name: x\n  unet:\n"
                                             "    within_baseline: true\n", "u.yaml", &sp), AB_OK);
    CU_ASSERT_EQUAL(ab_space_n_configs(sp), 15); /* 3 channels x 5 vectors */
    ab_space_destroy(&sp);
    /* errors name the file, line and key */
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    chanels: [1]\n"),
                       "u.yaml:4: unet: unknown key 'chanels'"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    attention: [never, never, "
                                  "sometimes, optional]\n"),
                       "u.yaml:4: unet.attention[3]: expected never, optional or always, got "
                       "'sometimes'"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    multipliers: [[1, 2, 3]]\n"),
                       "unet.input_blocks: 4 entries, but the multiplier vectors have 3 levels"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    multipliers: [[1, 2], "
                                  "[1, 2, 3]]\n"),
                       "u.yaml:4: unet.multipliers[2]: 3 levels, but the first vector has 2"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    drop: 2\n"),
                       "unet.drop: expected an integer from 0 to 1, got '2'"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    channels: [128, 128]\n"),
                       "unet.channels: 128 is repeated"));
    CU_ASSERT(contains(yaml_error("space:\n  name: sd_unet\n  unet: {}\n"),
                       "'sd_unet' is a built-in space"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    base: sd_unet_xl\n"),
                       "unet.base: expected sd_unet or sd_unet_hw"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  stages: []\n  unet: {}\n"),
                       "unknown key 'stages'"));
    CU_ASSERT(contains(yaml_error("space:\n  name: x\n  unet:\n    drop: 1\n    drop: 0\n"),
                       "duplicated key 'drop'"));
    ab_space_destroy(&hw);
}

static void test_reduced(void)
{
    struct ab_space *sp = open_space("sd_unet");
    struct ab_rng rng;
    /* keep two subgraphs per unit: the first and the last */
    sp->reduced = 1;
    for (int u = 0; u < sp->n_units; u++) {
        sp->allowed[u].n = 2;
        sp->allowed[u].index = malloc(2 * sizeof(uint64_t));
        CU_ASSERT_PTR_NOT_NULL_FATAL(sp->allowed[u].index);
        sp->allowed[u].index[0] = 0;
        sp->allowed[u].index[1] = ab_space_unit_count_full(sp, u) - 1;
    }
    /* brute force over the 2^9 combinations */
    uint64_t valid = 0;
    for (unsigned m = 0; m < 512; m++) {
        struct ab_arch a;
        memset(&a, 0, sizeof a);
        for (int u = 0; u < 9; u++) {
            struct ab_subgraph g;
            ab_space_unit_subgraph(sp, u, sp->allowed[u].index[m >> u & 1u], &g);
            ab_arch_set_unit(sp, &a, &g);
        }
        valid += ab_arch_validate(sp, &a) == AB_OK;
    }
    char *s = ab_space_size_string(sp), expect[32];
    snprintf(expect, sizeof expect, "%llu", (unsigned long long)valid);
    CU_ASSERT_STRING_EQUAL(s, expect);
    CU_ASSERT(valid > 0);
    free(s);
    ab_rng_seed(&rng, 5);
    for (int i = 0; i < 200; i++) {
        struct ab_arch a;
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
    }
    for (uint64_t i = 0; i < valid; i++) {
        struct ab_arch a;
        CU_ASSERT_EQUAL(ab_space_arch_at(sp, i, 0, &a), AB_OK);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
    }
    ab_space_destroy(&sp);
}

/* --- direct construction ------------------------------------------------ */

struct cand {
    double score;
    int config, last;
    int idx[AB_MAX_STAGES];
};

static void heap_push(struct cand *h, int *n, struct cand c)
{
    int i = (*n)++;
    h[i] = c;
    while (i > 0 && h[(i - 1) / 2].score < h[i].score) {
        struct cand t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct cand heap_pop(struct cand *h, int *n)
{
    struct cand top = h[0];
    h[0] = h[--*n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && h[l].score > h[m].score) m = l;
        if (r < *n && h[r].score > h[m].score) m = r;
        if (m == i) break;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static const double *g_score;
static int by_score(const void *a, const void *b)
{
    double x = g_score[*(const int *)a], y = g_score[*(const int *)b];
    return (x < y) - (x > y);
}

/* Best-first over unit subgraph lists per configuration, merged across
 * configurations: the top-N valid architectures by summed unit scores. */
static void test_direct_construction(void)
{
    struct ab_space *sp = open_space("sd_unet");
    struct ab_rng rng;
    double score[AB_MAX_STAGES][32];
    int list[24][AB_MAX_STAGES][32], len[24][AB_MAX_STAGES];
    static struct cand heap[4096];
    int n_heap = 0;
    const int top = 40;
    ab_rng_seed(&rng, 99);
    for (int u = 0; u < 9; u++)
        for (uint64_t i = 0; i < ab_space_unit_count(sp, u); i++)
            score[u][i] = ab_rng_normal(&rng);
    for (int c = 0; c < 24; c++) {
        struct cand root = {.config = c};
        for (int u = 0; u < 9; u++) {
            len[c][u] = 0;
            for (uint64_t i = 0; i < ab_space_unit_count(sp, u); i++)
                if (ab_space_config_allows(sp, c, u, i)) list[c][u][len[c][u]++] = (int)i;
            g_score = score[u];
            qsort(list[c][u], (size_t)len[c][u], sizeof(int), by_score);
            root.score += score[u][list[c][u][0]];
        }
        heap_push(heap, &n_heap, root);
    }
    /* the exhaustive ranking to compare with */
    double *all = malloc(sizeof(double) * 98304);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    for (uint64_t i = 0; i < 98304; i++) {
        struct ab_arch a;
        all[i] = 0;
        CU_ASSERT_EQUAL(ab_space_arch_at(sp, i, 0, &a), AB_OK);
        for (int u = 0; u < 9; u++) {
            struct ab_subgraph g;
            ab_arch_get_unit(sp, &a, u, &g);
            all[i] += score[u][ab_space_unit_subgraph_index(sp, &g)];
        }
    }
    g_score = all;
    int *order = malloc(sizeof(int) * 98304);
    CU_ASSERT_PTR_NOT_NULL_FATAL(order);
    for (int i = 0; i < 98304; i++) order[i] = i;
    qsort(order, 98304, sizeof(int), by_score);
    for (int k = 0; k < top; k++) {
        struct cand best = heap_pop(heap, &n_heap);
        struct ab_arch a;
        memset(&a, 0, sizeof a);
        for (int u = 0; u < 9; u++) {
            struct ab_subgraph g;
            ab_space_unit_subgraph(sp, u, (uint64_t)list[best.config][u][best.idx[u]], &g);
            ab_arch_set_unit(sp, &a, &g);
        }
        /* no constructed U-Net violates a constraint */
        CU_ASSERT_EQUAL(ab_arch_check_constraints(sp, &a), AB_OK);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
        CU_ASSERT(rules_hold(sp, &a, 0));
        CU_ASSERT_EQUAL(ab_arch_config(sp, &a), best.config);
        CU_ASSERT_DOUBLE_EQUAL(best.score, all[order[k]], 1e-9);
        for (int u = best.last; u < 9; u++) {
            if (best.idx[u] + 1 >= len[best.config][u]) continue;
            struct cand ch = best;
            ch.idx[u]++;
            ch.last = u;
            ch.score += score[u][list[best.config][u][ch.idx[u]]] -
                        score[u][list[best.config][u][best.idx[u]]];
            heap_push(heap, &n_heap, ch);
        }
    }
    /* the unconstrained per-unit best combination usually breaks the rules */
    struct ab_arch a;
    memset(&a, 0, sizeof a);
    for (int u = 0; u < 9; u++) {
        struct ab_subgraph g;
        int best = 0;
        for (uint64_t i = 1; i < ab_space_unit_count(sp, u); i++)
            if (score[u][i] > score[u][best]) best = (int)i;
        ab_space_unit_subgraph(sp, u, (uint64_t)best, &g);
        ab_arch_set_unit(sp, &a, &g);
    }
    if (ab_arch_check_constraints(sp, &a) != AB_OK) {
        CU_ASSERT_EQUAL(ab_arch_config(sp, &a), -1);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_ERR_INPUT);
    }
    free(order);
    free(all);
    ab_space_destroy(&sp);
}

/* The predictor runs on U-Net graphs (skip edges, four categorical
 * features) with the paper's 6 message-passing layers. */
static void test_predictor_on_unet_graphs(void)
{
    struct ab_space *sp = open_space("sd_unet");
    struct ab_pred_config cfg;
    struct ab_predictor *p = NULL;
    struct ab_pred_ws *ws = NULL;
    struct ab_graph_batch *b = NULL;
    struct ab_arch archs[64];
    struct ab_rng rng;
    float y[64], out[64];
    ab_rng_seed(&rng, 1);
    ab_pred_config_default(sp, &cfg);
    cfg.layers = 6;
    CU_ASSERT_EQUAL_FATAL(ab_predictor_create(sp, &cfg, 1, &p), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_pred_ws_create(p, &ws), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_graph_batch_create(sp->n_features, &b), AB_OK);
    for (int i = 0; i < 64; i++) {
        ab_arch_sample(sp, &rng, NULL, 0, &archs[i]);
        CU_ASSERT_EQUAL(ab_graph_batch_add_arch(b, sp, &archs[i]), AB_OK);
        y[i] = (float)ab_rng_normal(&rng);
    }
    CU_ASSERT_EQUAL(ab_pred_forward(p, ws, b, 1), AB_OK);
    double loss = ab_pred_loss_backward(p, ws, y, NULL, NULL);
    CU_ASSERT(loss == loss && loss > 0 && loss < 1e6);
    CU_ASSERT_EQUAL(ab_pred_eval_archs(p, archs, 64, 16, out, NULL, NULL), AB_OK);
    for (int i = 0; i < 64; i++) CU_ASSERT(out[i] == out[i]);
    ab_graph_batch_destroy(&b);
    ab_pred_ws_destroy(&ws);
    ab_predictor_destroy(&p);
    ab_space_destroy(&sp);
}

static const struct cu_case cases[] = {
    {"sizes and constraint description", test_sizes},
    {"every architecture enumerated and valid", test_enumerate_every_architecture},
    {"unit subgraphs and configurations", test_unit_subgraphs},
    {"sampling gives only valid architectures", test_sampling},
    {"JSON round trip", test_json_round_trip},
    {"invalid architectures and their messages", test_invalid_messages},
    {"sequence graphs: skip edges and features", test_graph},
    {"YAML overrides", test_yaml},
    {"reduced U-Net spaces", test_reduced},
    {"direct construction respects the channel rules", test_direct_construction},
    {"the predictor runs on U-Net graphs", test_predictor_on_unet_graphs},
    {NULL, NULL}};
CU_MAIN("sdunet", cases)
