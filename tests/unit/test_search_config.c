/* SPDX-License-Identifier: MIT
 *
 * Tests of the search configuration (coordinator/search/search.c, with
 * common/util/yamldoc.c) and of the evaluator chain (worker/eval/): the
 * contract configuration loads with the documented defaults; every kind of
 * bad input is one input error naming the file, line or key; the identity
 * changes with what defines a search; chains merge metrics and reject
 * unknown types, unknown keys and a metric produced twice; the synthetic
 * evaluator is deterministic and fails what fail_rate says; the table
 * evaluator returns its rows and records a missing architecture as a
 * failed evaluation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "data/dataset.h"
#include "eval/evaluator.h"
#include "ofa/ofa_cost.h"
#include "search/search.h"
#include "util/rng.h"

static const char contract[] =
    "search:\n"
    "  space: ofa_mbv3\n"
    "  variant: stage_full\n"
    "  init: 50\n"
    "  iterations: 4\n"
    "  per_iteration: 50\n"
    "  stage_mutate_prob: 0.5\n"
    "  seed: 1\n"
    "  objectives:\n"
    "    - {metric: acc, goal: max, ref: 0.70}\n"
    "    - {metric: latency_npu, goal: min, ref: 60.0}\n"
    "evaluators:\n"
    "  - {type: synthetic, metrics: [acc, latency_npu]}\n"
    "store: run.h5\n";

static ab_status parse(const char *text, struct ab_search_config **c)
{
    return ab_search_config_parse(text, strlen(text), "/cfg/s.yaml", c);
}

/* text with `from` replaced by `to` */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(contract, from);
    size_t n = strlen(contract) + strlen(to) + 1;
    char *s = malloc(n);
    if (!at || !s) {
        free(s);
        return NULL;
    }
    snprintf(s, n, "%.*s%s%s", (int)(at - contract), contract, to, at + strlen(from));
    return s;
}

static void test_contract(void)
{
    struct ab_search_config *c = NULL;
    CU_ASSERT_EQUAL_FATAL(parse(contract, &c), AB_OK);
    CU_ASSERT_STRING_EQUAL(c->space->name, "ofa_mbv3");
    CU_ASSERT_EQUAL(c->variant, AB_STAGE_FULL);
    CU_ASSERT_EQUAL(c->init + c->iterations * c->per_iteration, 250);
    CU_ASSERT_EQUAL(c->resolution, 224);
    CU_ASSERT_EQUAL(c->n_obj, 2);
    CU_ASSERT(c->obj[0].maximize && !c->obj[1].maximize);
    CU_ASSERT_DOUBLE_EQUAL(c->obj[1].ref, 60.0, 0);
    CU_ASSERT_STRING_EQUAL(c->store, "/cfg/run.h5"); /* relative to the config */
    CU_ASSERT(strstr(c->identity, "stage_full") != NULL);
    ab_search_config_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
}

static void test_identity(void)
{
    struct ab_search_config *a = NULL, *b = NULL, *s = NULL;
    char *t1 = edit("seed: 1", "seed: 2"), *t2 = edit("store: run.h5", "store: other.h5");
    CU_ASSERT_EQUAL_FATAL(parse(contract, &a), AB_OK);
    CU_ASSERT_EQUAL_FATAL(parse(t1, &b), AB_OK);
    CU_ASSERT_EQUAL_FATAL(parse(t2, &s), AB_OK);
    CU_ASSERT(strcmp(a->identity, b->identity) != 0);   /* another search */
    CU_ASSERT_STRING_EQUAL(a->identity, s->identity);   /* the store path is not */
    /* Stage-Full in a whole space names its sampler: a store of the old
     * sampler is another search */
    CU_ASSERT(strstr(a->identity, "\"stage_sampler\":\"depth-uniform\"") != NULL);
    ab_search_config_destroy(&a);
    ab_search_config_destroy(&b);
    ab_search_config_destroy(&s);
    free(t1);
    free(t2);
}

struct bad_case {
    const char *from, *to, *want;
};

static void test_bad_input(void)
{
    static const struct bad_case cases[] = {
        {"  seed: 1\n", "  seed: 1\n  seed: 2\n", "duplicate key 'seed'"},
        {"  seed: 1\n", "  sead: 1\n", "unknown key 'sead' in search"},
        {"stage_full", "stage_ful", "unknown 'stage_ful'"},
        {"stage_full", "autobuild_nas", "reduced space"},
        {"stage_full", "layer_insight", "needs 'insight:'"},
        {"  seed: 1\n", "  seed: 1\n  insight: {preset: npu}\n", "applies to variant layer_insight"},
        {"init: 50", "init: 0", "search.init: expected an integer from 1"},
        {"init: 50", "init: many", "search.init"},
        {"stage_mutate_prob: 0.5", "stage_mutate_prob: 2", "stage_mutate_prob"},
        {"goal: max", "goal: up", "goal must be max or min"},
        {", ref: 0.70", "", "needs 'ref'"},
        {"metric: latency_npu, goal: min", "metric: acc, goal: min", "listed twice"},
        {"space: ofa_mbv3", "space: ofa_nope", "search.space"},
        {"store: run.h5\n", "", "needs 'store'"},
        {"  - {type: synthetic, metrics: [acc, latency_npu]}\n", "  type: synthetic\n",
         "'evaluators' must be a list"},
        {"  seed: 1\n", "  seed: 1\n  resolution: 225\n", "not a resolution"},
        {"  seed: 1\n", "  seed: [1\n", "YAML syntax error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ab_search_config *c = NULL;
        char *t = edit(cases[i].from, cases[i].to);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        ab_status rc = parse(t, &c);
        CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
        CU_ASSERT_PTR_NULL(c);
        if (!strstr(ab_err_msg(), cases[i].want) || !strstr(ab_err_msg(), "s.yaml") ||
            strchr(ab_err_msg(), '\n'))
            printf("\ncase %zu: want '%s', got '%s'\n", i, cases[i].want, ab_err_msg());
        CU_ASSERT(strstr(ab_err_msg(), cases[i].want) != NULL);
        CU_ASSERT(strstr(ab_err_msg(), "s.yaml") != NULL);
        CU_ASSERT(strchr(ab_err_msg(), '\n') == NULL);
        free(t);
    }
}

static void test_insight(void)
{
    struct ab_search_config *c = NULL;
    char *t = edit("stage_full", "layer_insight\n  insight: {preset: npu, max_layers: [3, 4, 4, 4, 4]}");
    CU_ASSERT_EQUAL_FATAL(parse(t, &c), AB_OK);
    int k7 = ab_space_find_choice(c->space, 0, "mbconv3_e6_k7");
    int k5 = ab_space_find_choice(c->space, 0, "mbconv3_e6_k5");
    CU_ASSERT(k7 >= 0 && k5 >= 0);
    for (int s = 0; s < 5; s++) {
        CU_ASSERT_EQUAL(c->allowed[s][k7], 0); /* the NPU rule drops k = 7 */
        CU_ASSERT_EQUAL(c->allowed[s][k5], 1);
    }
    CU_ASSERT_EQUAL(c->max_layers[0], 3);
    CU_ASSERT_DOUBLE_EQUAL(c->stage_prob[0], 0.25, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->stage_prob[4], 0.5, 0);
    ab_search_config_destroy(&c);
    free(t);
    t = edit("stage_full", "layer_insight\n  insight: {blocks: [mbconv3_e9_k7]}");
    CU_ASSERT_EQUAL(parse(t, &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "'mbconv3_e9_k7' is not a block") != NULL);
    free(t);
    t = edit("stage_full", "layer_insight\n  insight: {preset: tpu}");
    CU_ASSERT_EQUAL(parse(t, &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "no insight preset 'tpu'") != NULL);
    free(t);
}

/* ---- evaluators ----------------------------------------------------------- */

static struct ab_space *mbv3(void)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL(ab_space_open("ofa_mbv3", &sp), AB_OK);
    return sp;
}

static ab_status chain_from(const struct ab_space *sp, const char *json, struct ab_eval_chain **c)
{
    json_error_t e;
    json_t *specs = json_loads(json, 0, &e);
    struct ab_eval_context ctx = {sp, "cfg.yaml", ".", NULL};
    ab_status rc = ab_eval_chain_create(&ctx, specs, c);
    json_decref(specs);
    return rc;
}

static void test_chain_errors(void)
{
    struct ab_space *sp = mbv3();
    struct ab_eval_chain *c = NULL;
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"lookup\"}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "unknown evaluator type 'lookup'") != NULL);
    CU_ASSERT(strstr(ab_err_msg(), "table, predictor, synthetic, ofa, external") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"synthetic\",\"slep_ms\":1}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "unknown key 'slep_ms'") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"synthetic\"},{\"type\":\"synthetic\"}]", &c),
                    AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "produced by two evaluators") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"file\":\"x.h5\"}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "missing 'type' (one of: table, predictor, synthetic, ofa, external)") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[]", &c), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"table\"}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "needs 'file'") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"predictor\",\"file\":\"/nonexistent.h5\"}]", &c),
                    AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "/nonexistent.h5") != NULL);
    CU_ASSERT_PTR_NULL(c);
    ab_space_destroy(&sp);
}

/* exclusive: true / N / false, and the smallest limit wins in a chain */
static void test_exclusive_limits(void)
{
    struct ab_space *sp = mbv3();
    struct ab_eval_chain *c = NULL;
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, "[{\"type\":\"synthetic\",\"metrics\":[\"a\"],"
                                         "\"exclusive\":3},{\"type\":\"synthetic\","
                                         "\"metrics\":[\"b\"],\"exclusive\":2}]", &c), AB_OK);
    CU_ASSERT_EQUAL(c->exclusive, 2);
    ab_eval_chain_destroy(&c);
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, "[{\"type\":\"synthetic\",\"exclusive\":false}]", &c),
                          AB_OK);
    CU_ASSERT_EQUAL(c->exclusive, 0);
    ab_eval_chain_destroy(&c);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"synthetic\",\"exclusive\":0}]", &c),
                    AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "'exclusive' must be true, false or the number") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"synthetic\",\"exclusive\":\"yes\"}]", &c),
                    AB_ERR_INPUT);
    ab_space_destroy(&sp);
}

/* The ofa evaluator on a random-weight supernet: flops / params equal the
 * MAC counter, latency is measured, one measurement per node by default. */
static void test_ofa_evaluator(void)
{
    struct ab_space *sp = mbv3(), *yaml = NULL;
    struct ab_eval_chain *c = NULL;
    struct ab_arch a[2];
    struct ab_ofa_cost cost;
    double m[6];
    int st[2];
    char err[2 * AB_EVAL_ERRLEN];
    struct ab_rng rng;
    ab_rng_seed(&rng, 5);
    for (int i = 0; i < 2; i++) {
        ab_arch_sample(sp, &rng, NULL, 0, &a[i]);
        a[i].resolution = 128;
    }
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, "[{\"type\":\"ofa\",\"latency_runs\":2,"
                                         "\"latency_warmup\":0}]", &c), AB_OK);
    CU_ASSERT_EQUAL(c->n_metrics, 3);
    CU_ASSERT_EQUAL(ab_eval_chain_metric(c, "latency_ms"), 0);
    CU_ASSERT_EQUAL(ab_eval_chain_metric(c, "flops"), 1);
    CU_ASSERT_EQUAL(ab_eval_chain_metric(c, "top1"), -1);
    CU_ASSERT_EQUAL(c->exclusive, 1);
    CU_ASSERT_EQUAL(ab_eval_chain_run(c, a, 2, m, st, err), AB_OK);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(st[i], AB_EVAL_OK);
        CU_ASSERT(m[i * 3] > 0);
        CU_ASSERT_EQUAL(ab_ofa_cost(sp, &a[i], 1.2, 1000, &cost), AB_OK);
        CU_ASSERT_EQUAL(m[i * 3 + 1], (double)cost.macs);
        CU_ASSERT_EQUAL(m[i * 3 + 2], (double)cost.params);
    }
    ab_eval_chain_destroy(&c);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"ofa\",\"latency\":false,\"exclusive\":4}]",
                               &c), AB_OK);
    if (c) CU_ASSERT_EQUAL(c->exclusive, 4);
    ab_eval_chain_destroy(&c);
    /* accuracy needs weights; the family must match the space */
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"ofa\",\"data\":\"/nonexistent.h5\"}]", &c),
                    AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "/nonexistent.h5") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"ofa\",\"net\":"
                                   "\"ofa_proxyless_d234_e346_k357_w1.3\"}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "search space is ofa_mbv3") != NULL);
    CU_ASSERT_EQUAL(chain_from(sp, "[{\"type\":\"ofa\",\"net\":\"ofa_resnet50\"}]", &c),
                    AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "ofa_resnet50") != NULL);
    CU_ASSERT_EQUAL(ab_space_open("sd_unet", &yaml), AB_OK);
    CU_ASSERT_EQUAL(chain_from(yaml, "[{\"type\":\"ofa\"}]", &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "measures ofa_mbv3 and ofa_pn") != NULL);
    CU_ASSERT_PTR_NULL(c);
    ab_space_destroy(&yaml);
    ab_space_destroy(&sp);
}

static void test_synthetic(void)
{
    struct ab_space *sp = mbv3();
    struct ab_eval_chain *c = NULL, *f = NULL;
    struct ab_arch a[40];
    double m1[120], m2[120];
    int s1[40], s2[40];
    char e1[40 * AB_EVAL_ERRLEN], e2[40 * AB_EVAL_ERRLEN];
    struct ab_rng rng;
    ab_rng_seed(&rng, 3);
    for (int i = 0; i < 40; i++) ab_arch_sample(sp, &rng, NULL, 0, &a[i]);
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, "[{\"type\":\"synthetic\",\"metrics\":[\"acc\"]},"
                                         "{\"type\":\"synthetic\",\"metrics\":[\"lat\",\"mem\"],"
                                         "\"exclusive\":true}]", &c), AB_OK);
    CU_ASSERT_EQUAL(c->n_metrics, 3);
    CU_ASSERT_EQUAL(ab_eval_chain_metric(c, "mem"), 2);
    CU_ASSERT_EQUAL(ab_eval_chain_metric(c, "nope"), -1);
    CU_ASSERT(c->exclusive);
    CU_ASSERT_STRING_EQUAL(c->names, "synthetic+synthetic");
    CU_ASSERT_EQUAL(ab_eval_chain_run(c, a, 40, m1, s1, e1), AB_OK);
    CU_ASSERT_EQUAL(ab_eval_chain_run(c, a, 40, m2, s2, e2), AB_OK);
    CU_ASSERT_EQUAL(memcmp(m1, m2, sizeof(double) * 40 * 3), 0); /* deterministic */
    for (int i = 0; i < 40; i++) {
        CU_ASSERT_EQUAL(s1[i], AB_EVAL_OK);
        CU_ASSERT(m1[i * 3] > 0.55 && m1[i * 3] < 0.85);
        CU_ASSERT(m1[i * 3 + 1] > 0 && m1[i * 3 + 2] > 0);
    }
    /* a bigger network costs more and scores higher */
    struct ab_arch small, big;
    memset(&small, 0, sizeof small);
    memset(&big, 0, sizeof big);
    small.resolution = big.resolution = 224;
    for (int s = 0; s < sp->n_stages; s++) {
        small.depth[s] = (uint8_t)sp->stages[s].min_layers;
        big.depth[s] = (uint8_t)sp->stages[s].max_layers;
        memset(big.choice[s], sp->stages[s].n_choices - 1, big.depth[s]);
    }
    struct ab_arch two[2] = {small, big};
    CU_ASSERT_EQUAL(ab_eval_chain_run(c, two, 2, m1, s1, e1), AB_OK);
    CU_ASSERT(m1[0] < m1[3] && m1[1] < m1[4] && m1[2] < m1[5]);
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, "[{\"type\":\"synthetic\",\"fail_rate\":1}]", &f), AB_OK);
    CU_ASSERT_EQUAL(ab_eval_chain_run(f, a, 5, m1, s1, e1), AB_OK);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(s1[i], AB_EVAL_FAILED);
        CU_ASSERT(isnan(m1[i * 2]));
        CU_ASSERT(strstr(e1 + i * AB_EVAL_ERRLEN, "synthetic failure") != NULL);
    }
    ab_eval_chain_destroy(&c);
    ab_eval_chain_destroy(&f);
    ab_space_destroy(&sp);
}

static void test_table(void)
{
    struct ab_space *sp = mbv3();
    struct ab_eval_chain *c = NULL;
    struct ab_dataset *d = NULL;
    struct ab_rng rng;
    struct ab_arch a[6];
    char csv[8192], tmpl[] = "/tmp/ab_table_XXXXXX", path[64], spec[160];
    double m[12];
    int st[6];
    char err[6 * AB_EVAL_ERRLEN];
    size_t at = (size_t)snprintf(csv, sizeof csv, "arch,acc,lat\n");
    ab_rng_seed(&rng, 9);
    for (int i = 0; i < 6; i++) ab_arch_sample(sp, &rng, NULL, 0, &a[i]);
    for (int i = 0; i < 4; i++) { /* the table holds the first four */
        char *j = ab_arch_to_json(sp, &a[i]);
        at += (size_t)snprintf(csv + at, sizeof csv - at, "\"");
        for (char *p = j; *p; p++)
            at += (size_t)snprintf(csv + at, sizeof csv - at, *p == '"' ? "\"\"" : "%c", *p);
        at += (size_t)snprintf(csv + at, sizeof csv - at, "\",%g,%g\n", 0.5 + i, 10.0 * i);
        free(j);
    }
    CU_ASSERT_EQUAL_FATAL(ab_dataset_import_csv_text(sp, csv, at, "t.csv", &d), AB_OK);
    d->space = mbv3(); /* the import borrows the space; the dataset owns its own */
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
    snprintf(path, sizeof path, "%s/t.h5", tmpl);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_write(d, path), AB_OK);
    snprintf(spec, sizeof spec, "[{\"type\":\"table\",\"file\":\"%s\",\"metrics\":[\"lat\"]}]", path);
    CU_ASSERT_EQUAL_FATAL(chain_from(sp, spec, &c), AB_OK);
    CU_ASSERT_EQUAL(c->n_metrics, 1);
    CU_ASSERT_EQUAL(ab_eval_chain_run(c, a, 6, m, st, err), AB_OK);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(st[i], AB_EVAL_OK);
        CU_ASSERT_DOUBLE_EQUAL(m[i], 10.0 * i, 0);
    }
    for (int i = 4; i < 6; i++) {
        CU_ASSERT_EQUAL(st[i], AB_EVAL_FAILED);
        CU_ASSERT(strstr(err + i * AB_EVAL_ERRLEN, "not in the table") != NULL);
    }
    ab_eval_chain_destroy(&c);
    snprintf(spec, sizeof spec, "[{\"type\":\"table\",\"file\":\"%s\",\"metrics\":[\"energy\"]}]", path);
    CU_ASSERT_EQUAL(chain_from(sp, spec, &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "no metric 'energy'") != NULL);
    /* a table of another space */
    struct ab_space *pn = NULL;
    CU_ASSERT_EQUAL(ab_space_open("ofa_pn", &pn), AB_OK);
    snprintf(spec, sizeof spec, "[{\"type\":\"table\",\"file\":\"%s\"}]", path);
    CU_ASSERT_EQUAL(chain_from(pn, spec, &c), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "holds 'ofa_mbv3' architectures") != NULL);
    unlink(path);
    rmdir(tmpl);
    ab_space_destroy(&pn);
    ab_dataset_destroy(&d);
    ab_space_destroy(&sp);
}

static const struct cu_case cases[] = {
    {"the contract configuration loads with its defaults", test_contract},
    {"the identity follows what defines a search", test_identity},
    {"bad configurations: one input error naming file and key", test_bad_input},
    {"layer_insight presets and rules", test_insight},
    {"evaluator chains reject unknown types, keys, duplicate metrics", test_chain_errors},
    {"exclusive: true, N or false; the smallest limit of a chain", test_exclusive_limits},
    {"ofa evaluator: latency, exact flops/params, configuration errors", test_ofa_evaluator},
    {"synthetic evaluator: merged, deterministic, size-monotone, failures", test_synthetic},
    {"table evaluator: rows, missing architectures, wrong metric or space", test_table},
    {NULL, NULL}};

CU_MAIN("search_config", cases)
