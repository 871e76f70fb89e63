/* SPDX-License-Identifier: MIT
 *
 * This file tests the search spaces: built-in and YAML definitions, exact
 * sizes, unit subgraph enumeration, the canonical JSON form, validation
 * errors, hashing and seeded sampling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "space/space.h"
#include "util/rng.h"
#include "util/u64map.h"

static const char *macro8 =
    "space:\n"
    "  name: macro8\n"
    "  stages:\n"
    "    - {min_layers: 2, max_layers: 2, choices: [id, ir_3x3_t3, ir_5x5_t6]}\n"
    "    - {min_layers: 3, max_layers: 3, choices: [id, ir_3x3_t3, ir_5x5_t6]}\n"
    "    - {min_layers: 3, max_layers: 3, choices: [id, ir_3x3_t3, ir_5x5_t6]}\n";

static struct ab_space *open_space(const char *name)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_open(name, &sp), AB_OK);
    return sp;
}

static struct ab_space *yaml(const char *text)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_from_yaml(text, strlen(text), "t.yaml", &sp), AB_OK);
    return sp;
}

/* The error text of a YAML that must fail. */
static const char *yaml_error(const char *text)
{
    struct ab_space *sp = NULL;
    ab_status rc = ab_space_from_yaml(text, strlen(text), "t.yaml", &sp);
    CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(sp);
    ab_space_destroy(&sp);
    return ab_err_msg();
}

static void test_builtin_sizes(void)
{
    struct ab_space *mb = open_space("ofa_mbv3"), *pn = open_space("ofa_pn");
    char *s;
    CU_ASSERT_EQUAL(mb->n_stages, 5);
    CU_ASSERT_EQUAL(mb->n_units, 5);
    for (int u = 0; u < 5; u++) CU_ASSERT_EQUAL(ab_space_unit_count(mb, u), 7371);
    s = ab_space_size_string(mb);
    CU_ASSERT_STRING_EQUAL(s, "21758655492572485851"); /* 7371^5 */
    free(s);
    CU_ASSERT_EQUAL(pn->n_stages, 6);
    CU_ASSERT_EQUAL(pn->n_units, 5);
    for (int u = 0; u < 4; u++) CU_ASSERT_EQUAL(ab_space_unit_count(pn, u), 7371);
    CU_ASSERT_EQUAL(ab_space_unit_count(pn, 4), 66339); /* 9^3 + 9^4 + 9^5 */
    s = ab_space_size_string(pn);
    CU_ASSERT_STRING_EQUAL(s, "195827899433152372659"); /* 7371^4 * 66339 */
    free(s);
    CU_ASSERT_EQUAL(mb->n_resolutions, 25);
    CU_ASSERT_EQUAL(mb->resolutions[0], 128);
    CU_ASSERT_EQUAL(mb->resolutions[24], 224);
    CU_ASSERT_STRING_EQUAL(mb->stages[0].choices[4].name, "mbconv3_e4_k5");
    CU_ASSERT_STRING_EQUAL(pn->stages[5].choices[8].name, "mbconv2_e6_k7");
    ab_space_destroy(&mb);
    ab_space_destroy(&pn);
    CU_ASSERT_PTR_NULL(mb);
    ab_space_destroy(&mb); /* NULL-safe */
}

static void test_macro8(void)
{
    struct ab_space *sp = yaml(macro8);
    char *s = ab_space_size_string(sp);
    CU_ASSERT_EQUAL(ab_space_unit_count(sp, 0), 9);
    CU_ASSERT_EQUAL(ab_space_unit_count(sp, 1), 27);
    CU_ASSERT_EQUAL(ab_space_unit_count(sp, 2), 27);
    CU_ASSERT_STRING_EQUAL(s, "6561");
    CU_ASSERT_EQUAL(sp->n_resolutions, 0);
    CU_ASSERT_EQUAL(sp->n_features, 3);
    free(s);
    ab_space_destroy(&sp);
}

/* Every subgraph of a unit is distinct, valid, ordered by layer count. */
static void check_unit_enumeration(struct ab_space *sp, int u)
{
    uint64_t n = ab_space_unit_count(sp, u);
    struct ab_u64map seen;
    int prev_total = 0;
    CU_ASSERT_EQUAL_FATAL(ab_u64map_init(&seen, n), AB_OK);
    for (uint64_t i = 0; i < n; i++) {
        struct ab_subgraph g;
        struct ab_arch a;
        int total = 0;
        CU_ASSERT_EQUAL_FATAL(ab_space_unit_subgraph(sp, u, i, &g), AB_OK);
        /* embed it in a valid architecture and hash that */
        memset(&a, 0, sizeof a);
        a.resolution = sp->n_resolutions ? sp->resolutions[0] : 0;
        for (int s = 0; s < sp->n_stages; s++) a.depth[s] = (uint8_t)sp->stages[s].min_layers;
        ab_arch_set_unit(sp, &a, &g);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
        for (int k = 0; k < g.n_stages; k++) total += g.depth[k];
        CU_ASSERT(total >= prev_total);
        prev_total = total;
        CU_ASSERT_EQUAL(ab_u64map_put(&seen, ab_arch_hash(sp, &a), (int64_t)i, NULL), 0);
        struct ab_subgraph back;
        ab_arch_get_unit(sp, &a, u, &back);
        CU_ASSERT_EQUAL(memcmp(&back, &g, sizeof g), 0);
    }
    struct ab_subgraph g;
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(sp, u, n, &g), AB_ERR_INPUT);
    ab_u64map_free(&seen);
}

static void test_unit_enumeration(void)
{
    struct ab_space *mb = open_space("ofa_mbv3"), *pn = open_space("ofa_pn");
    struct ab_space *m8 = yaml(macro8);
    struct ab_subgraph g;
    check_unit_enumeration(mb, 2);
    check_unit_enumeration(pn, 4);
    for (int u = 0; u < 3; u++) check_unit_enumeration(m8, u);
    /* first and last of an MBv3 stage: 2 x e3_k3 ... 4 x e6_k7 */
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(mb, 0, 0, &g), AB_OK);
    CU_ASSERT_EQUAL(g.depth[0], 2);
    CU_ASSERT_EQUAL(g.choice[0][0], 0);
    CU_ASSERT_EQUAL(g.choice[0][1], 0);
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(mb, 0, 81, &g), AB_OK);
    CU_ASSERT_EQUAL(g.depth[0], 3);
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(mb, 0, 7370, &g), AB_OK);
    CU_ASSERT_EQUAL(g.depth[0], 4);
    for (int l = 0; l < 4; l++) CU_ASSERT_EQUAL(g.choice[0][l], 8);
    /* index 1 varies the last layer first */
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(mb, 0, 1, &g), AB_OK);
    CU_ASSERT_EQUAL(g.choice[0][0], 0);
    CU_ASSERT_EQUAL(g.choice[0][1], 1);
    /* PN merged unit: stage 6 always one layer */
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(pn, 4, 66338, &g), AB_OK);
    CU_ASSERT_EQUAL(g.n_stages, 2);
    CU_ASSERT_EQUAL(g.depth[0], 4);
    CU_ASSERT_EQUAL(g.depth[1], 1);
    ab_space_destroy(&mb);
    ab_space_destroy(&pn);
    ab_space_destroy(&m8);
}

static const char *mb_json =
    "{\"space\":\"ofa_mbv3\",\"resolution\":224,\"stages\":[[\"mbconv3_e4_k5\",\"mbconv3_e3_k3\"],"
    "[\"mbconv3_e6_k7\",\"mbconv3_e6_k7\",\"mbconv3_e3_k5\"],[\"mbconv3_e4_k3\",\"mbconv3_e4_k3\"],"
    "[\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\"],"
    "[\"mbconv3_e6_k3\",\"mbconv3_e6_k5\"]]}";

static void test_json_roundtrip(void)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    struct ab_arch a, b;
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(sp, mb_json, &a), AB_OK);
    CU_ASSERT_EQUAL(a.resolution, 224);
    CU_ASSERT_EQUAL(a.depth[1], 3);
    CU_ASSERT_EQUAL(a.choice[1][0], 8); /* e6_k7 */
    CU_ASSERT_EQUAL(a.choice[0][0], 4); /* e4_k5 */
    char *s = ab_arch_to_json(sp, &a);
    CU_ASSERT_STRING_EQUAL(s, mb_json);
    free(s);
    /* whitespace, key order and the authors' tuple form are accepted */
    const char *spaced =
        " { \"stages\" : [[\"mbconv3_e4_k5\",\"mbconv3_e3_k3\"],"
        "[\"mbconv3_e6_k7\",\"mbconv3_e6_k7\",\"mbconv3_e3_k5\"],[\"mbconv3_e4_k3\",\"mbconv3_e4_k3\"],"
        "[\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\"],"
        "[\"mbconv3_e6_k3\",\"mbconv3_e6_k5\"]], \"resolution\": 224, \"space\":\"ofa_mbv3\"}\n";
    CU_ASSERT_EQUAL(ab_arch_parse_json(sp, spaced, &b), AB_OK);
    CU_ASSERT(ab_arch_equal(&a, &b));
    const char *tuple =
        "[224, [[\"mbconv3_e4_k5\",\"mbconv3_e3_k3\"],"
        "[\"mbconv3_e6_k7\",\"mbconv3_e6_k7\",\"mbconv3_e3_k5\"],[\"mbconv3_e4_k3\",\"mbconv3_e4_k3\"],"
        "[\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\"],"
        "[\"mbconv3_e6_k3\",\"mbconv3_e6_k5\"]]]";
    CU_ASSERT_EQUAL(ab_arch_parse_json(sp, tuple, &b), AB_OK);
    CU_ASSERT(ab_arch_equal(&a, &b));
    /* the hash is FNV-1a 64 of the canonical text */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = mb_json; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    CU_ASSERT_EQUAL(ab_arch_hash(sp, &a), h);
    ab_space_destroy(&sp);
}

/* Replaces the first occurrence of `from` in mb_json by `to`, parses it and
 * checks it fails with a message containing `expect`. */
static void expect_json_error(struct ab_space *sp, const char *from, const char *to,
                              const char *expect)
{
    char buf[2048], *p;
    struct ab_arch a;
    snprintf(buf, sizeof buf, "%s", mb_json);
    p = strstr(buf, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char tail[2048];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, sizeof buf - (size_t)(p - buf), "%s%s", to, tail);
    CU_ASSERT_EQUAL(ab_arch_parse_json(sp, buf, &a), AB_ERR_INPUT);
    if (!strstr(ab_err_msg(), expect))
        fprintf(stderr, "\n  expected '%s' in: %s\n", expect, ab_err_msg());
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), expect));
}

static void test_json_errors(void)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    expect_json_error(sp, "\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\"",
                      "\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\",\"mbconv3_e3_k7\","
                      "\"mbconv3_e3_k7\"", "stage 4 has 5 layers");
    expect_json_error(sp, "mbconv3_e4_k5", "mbconv3_e8_k5", "unknown block 'mbconv3_e8_k5'");
    expect_json_error(sp, "224", "225", "resolution 225 is not allowed");
    expect_json_error(sp, "224", "\"224\"", "\"resolution\" must be a positive integer");
    expect_json_error(sp, "ofa_mbv3", "ofa_pn", "of space 'ofa_pn', expected 'ofa_mbv3'");
    expect_json_error(sp, "\"resolution\"", "\"res\"", "unknown key \"res\"");
    expect_json_error(sp, "{\"space\"", "{\"space\":\"ofa_mbv3\",\"space\"", "invalid JSON");
    expect_json_error(sp, "]]}", "]]", "invalid JSON");
    expect_json_error(sp, "[[\"mbconv3_e4_k5\"", "[[7", "stage 1 layer 1 must be a block string");
    expect_json_error(sp, "[\"mbconv3_e6_k3\",\"mbconv3_e6_k5\"]]", "[\"mbconv3_e6_k3\"]]",
                      "stage 5 has 1 layers");
    expect_json_error(sp, ",[\"mbconv3_e6_k3\",\"mbconv3_e6_k5\"]]", "]", "has 4 stages");
    ab_space_destroy(&sp);
}

static void test_sampling(void)
{
    struct ab_space *sp = open_space("ofa_pn");
    struct ab_rng r1, r2, r3;
    int differ = 0, res_seen[3] = {0, 0, 0};
    ab_rng_seed(&r1, 7);
    ab_rng_seed(&r2, 7);
    ab_rng_seed(&r3, 8);
    for (int i = 0; i < 2000; i++) {
        struct ab_arch a, b, c;
        ab_arch_sample(sp, &r1, NULL, 0, &a);
        ab_arch_sample(sp, &r2, NULL, 0, &b);
        ab_arch_sample(sp, &r3, NULL, 0, &c);
        CU_ASSERT_EQUAL(ab_arch_validate(sp, &a), AB_OK);
        CU_ASSERT(ab_arch_equal(&a, &b));
        differ += !ab_arch_equal(&a, &c);
        CU_ASSERT_EQUAL(a.depth[5], 1);
        res_seen[(a.resolution - 192) / 16]++;
    }
    CU_ASSERT(differ > 1990);
    for (int k = 0; k < 3; k++) CU_ASSERT(res_seen[k] > 500); /* 192, 208, 224 */
    int only[1] = {160};
    struct ab_arch a;
    ab_arch_sample(sp, &r1, only, 1, &a);
    CU_ASSERT_EQUAL(a.resolution, 160);
    ab_space_destroy(&sp);
}

static void test_yaml_features(void)
{
    struct ab_space *sp = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/attrs.yaml", getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data");
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &sp), AB_OK);
    CU_ASSERT_EQUAL(sp->n_attrs, 3); /* kernel, op, expand (inferred numeric) */
    CU_ASSERT_STRING_EQUAL(sp->attrs[0].name, "kernel");
    CU_ASSERT_EQUAL(sp->attrs[0].numeric, 1);
    CU_ASSERT_EQUAL(sp->attrs[1].numeric, 0);
    CU_ASSERT_EQUAL(sp->attrs[2].numeric, 1);
    /* op values in order first seen: none (id), ir, conv, head */
    CU_ASSERT_EQUAL(sp->attrs[1].n_values, 4);
    CU_ASSERT_STRING_EQUAL(sp->attrs[1].values[0], "none");
    CU_ASSERT_STRING_EQUAL(sp->attrs[1].values[3], "head");
    CU_ASSERT_EQUAL(sp->stages[0].choices[2].attr[0], 5.0);
    CU_ASSERT_EQUAL(sp->stages[0].choices[2].attr[2], 6.0);
    CU_ASSERT_EQUAL(sp->stages[1].choices[0].attr[1], 2.0);
    CU_ASSERT_EQUAL(sp->n_resolutions, 3);
    CU_ASSERT_EQUAL(sp->resolutions[2], 224);
    CU_ASSERT_EQUAL(sp->n_sample_resolutions, 1);
    CU_ASSERT_EQUAL(sp->n_units, 3);
    CU_ASSERT_EQUAL(sp->units[2].first, 2);
    CU_ASSERT_EQUAL(sp->units[2].n_stages, 2);
    CU_ASSERT_EQUAL(ab_space_unit_count(sp, 2), (2 + 4) * 1);
    /* features: stage layer choice kernel op expand resolution */
    CU_ASSERT_EQUAL(sp->n_features, 7);
    CU_ASSERT_STRING_EQUAL(sp->features[4].name, "op");
    CU_ASSERT_EQUAL(sp->features[4].cardinality, 4);
    CU_ASSERT_EQUAL(sp->features[6].cardinality, 0);
    /* the stored definition re-creates the same space */
    struct ab_space *again = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_from_definition(sp->definition, "x", &again), AB_OK);
    char *s1 = ab_space_size_string(sp), *s2 = ab_space_size_string(again);
    CU_ASSERT_STRING_EQUAL(s1, s2);
    free(s1);
    free(s2);
    ab_space_destroy(&again);
    CU_ASSERT_EQUAL(ab_space_from_definition("{\"builtin\":\"ofa_pn\"}", "x", &again), AB_OK);
    CU_ASSERT_EQUAL(again->kind, AB_SPACE_OFA_PN);
    ab_space_destroy(&again);
    ab_space_destroy(&sp);
}

static void expect_yaml(const char *text, const char *expect)
{
    const char *msg = yaml_error(text);
    if (!strstr(msg, expect)) fprintf(stderr, "\n  expected '%s' in: %s\n", expect, msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, expect));
}

static void test_yaml_errors(void)
{
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: 3, max_layers: 2, choices: [a]}\n",
                "t.yaml:4: stages[1]: max_layers (2) is below min_layers (3)");
    expect_yaml("space:\n  name: x\n  name: y\n  stages: []\n", "t.yaml:3: duplicated key 'name'");
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: 1, max_layers: 1, choices: [a], "
                "choices: [b]}\n", "duplicated key 'choices'");
    expect_yaml("space:\n  name: x\n  stage: []\n", "unknown key 'stage'");
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: one, max_layers: 1, choices: [a]}\n",
                "min_layers: expected an integer");
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: 1, max_layers: 1, choices: [a, a]}\n",
                "choice 'a' is repeated");
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: 1, max_layers: 1, choices: []}\n",
                "expected 1 to 255 choices");
    expect_yaml("space:\n  name: 'bad name'\n  stages: []\n", "space.name");
    expect_yaml("space:\n  name: ofa_mbv3\n  stages: []\n", "is a built-in space");
    expect_yaml("space: [\n", "YAML syntax error");
    expect_yaml("", "the file is empty");
    expect_yaml("space:\n  name: x\n  units: [[2]]\n  stages:\n    - {min_layers: 1, max_layers: 1, "
                "choices: [a]}\n    - {min_layers: 1, max_layers: 1, choices: [a]}\n",
                "units: stage 2 out of order");
    expect_yaml("space:\n  name: x\n  attributes: {k: numeric}\n  stages:\n    - {min_layers: 1, "
                "max_layers: 1, choices: [{name: a, k: big}]}\n", "declared numeric");
    expect_yaml("space:\n  name: x\n  resolutions: [224]\n  sample_resolutions: [192]\n  stages:\n"
                "    - {min_layers: 1, max_layers: 1, choices: [a]}\n",
                "sample_resolutions: 192 is not one of the resolutions");
    expect_yaml("space:\n  name: x\n  stages:\n    - {min_layers: 1, max_layers: 17, choices: [a]}\n",
                "max_layers: expected an integer from 1 to 16");
}

static void test_open_errors(void)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL(ab_space_open("ofa_resnet", &sp), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "unknown space 'ofa_resnet'"));
    CU_ASSERT_EQUAL(ab_space_open("/nonexistent/space.yaml", &sp), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "/nonexistent/space.yaml"));
    CU_ASSERT_PTR_NULL(sp);
}

static const struct cu_case cases[] = {
    {"built-in sizes", test_builtin_sizes},
    {"macro8 YAML sizes", test_macro8},
    {"unit subgraph enumeration", test_unit_enumeration},
    {"canonical JSON round trip and hash", test_json_roundtrip},
    {"JSON validation errors", test_json_errors},
    {"seeded sampling", test_sampling},
    {"YAML attributes, units, resolutions", test_yaml_features},
    {"YAML errors with lines", test_yaml_errors},
    {"open errors", test_open_errors},
    {NULL, NULL},
};
CU_MAIN("space", cases)
