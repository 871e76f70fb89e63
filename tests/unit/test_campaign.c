/* SPDX-License-Identifier: MIT
 *
 * This file tests the campaign's non-CLI parts (coordinator/campaign/):
 *
 * 1. Stamps: FNV-1a 64 of texts and files (known values, a file hashes
 *    like its bytes); a written stamp is complete for its identity, changed
 *    for another, damaged when an output is edited, shortened or removed,
 *    absent when the stamp is removed or unreadable; the summary comes
 *    back; a stamp naming a missing output is refused and none is left.
 * 2. Configurations: defaults (seeds inherited from campaign.seed, the
 *    modules' scoring resolution, ensemble defaults folds 5 / seeds 1,
 *    search evaluators = data's), resolved paths, metric names of the data
 *    evaluators; every error is one line naming the file, the line and the
 *    key: unknown keys and sections, missing required keys, values out of
 *    range, a reduced space as campaign.space, resolutions the space lacks,
 *    unknown evaluator types, targets over metrics the data lacks,
 *    objectives no search evaluator gives, K lists of the wrong length,
 *    duplicate predictor names; an evaluator file's content is part of the
 *    evaluators' identity.
 * 3. The generated search configuration parses (ab_search_config_parse)
 *    into the campaign's search: autobuild_nas in the given reduced space,
 *    sizes, seed, mode, objectives with directions and references, evaluators
 *    with absolute file paths, the store beside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "campaign/campaign.h"
#include "campaign/stamp.h"
#include "cu_main.h"
#include "data/dataset.h"
#include "h5/h5util.h"
#include "search/search.h"
#include "util/log.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int msg_has(const char *needle)
{
    int ok = strstr(ab_err_msg(), needle) != NULL;
    if (!ok) fprintf(stderr, "\n  expected '%s' in error: %s\n", needle, ab_err_msg());
    return ok;
}

/* ---- stamps ------------------------------------------------------------------ */

static void test_hashes(void)
{
    char hex[17];
    long bytes = -1;
    CU_ASSERT(ab_stamp_hash_text("") == 0xcbf29ce484222325ULL);
    CU_ASSERT(ab_stamp_hash_text("a") == 0xaf63dc4c8601ec8cULL);
    write_file(tpath("h.txt"), "campaign");
    CU_ASSERT_FATAL(ab_stamp_file_hash(tpath("h.txt"), hex, &bytes) == AB_OK);
    {
        char want[17];
        snprintf(want, sizeof want, "%016llx",
                 (unsigned long long)ab_stamp_hash_text("campaign"));
        CU_ASSERT_STRING_EQUAL(hex, want);
    }
    CU_ASSERT(bytes == 8);
    CU_ASSERT(ab_stamp_file_hash(tpath("absent.txt"), hex, &bytes) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("absent.txt"));
}

static enum ab_stamp_state state_of(const char *identity)
{
    enum ab_stamp_state s = (enum ab_stamp_state)-1;
    CU_ASSERT_FATAL(ab_stamp_check(tmpdir, "stage", identity, &s, NULL) == AB_OK);
    return s;
}

static void test_stamps(void)
{
    const char *outs[] = {"out1.txt", "sub/out2.txt"};
    char sub[600];
    json_t *sum = json_pack("{s:i}", "labelled", 42), *back = NULL;
    enum ab_stamp_state s;
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    CU_ASSERT_FATAL(mkdir(sub, 0777) == 0);
    write_file(tpath("out1.txt"), "first output\n");
    write_file(tpath("sub/out2.txt"), "second output\n");
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_NONE);
    CU_ASSERT_FATAL(ab_stamp_write(tmpdir, "stage", "{\"a\":1}", outs, 2, sum) == AB_OK);
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_COMPLETE);
    CU_ASSERT(state_of("{\"a\":2}") == AB_STAMP_CHANGED);
    CU_ASSERT_FATAL(ab_stamp_check(tmpdir, "stage", "{\"a\":1}", &s, &back) == AB_OK);
    CU_ASSERT(back && json_integer_value(json_object_get(back, "labelled")) == 42);
    json_decref(back);
    /* an output edited (same size), grown, removed */
    write_file(tpath("sub/out2.txt"), "second OUTPUT\n");
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_DAMAGED);
    CU_ASSERT(ab_stamp_check(tmpdir, "stage", "{\"a\":1}", &s, &back) == AB_OK && back == NULL);
    write_file(tpath("sub/out2.txt"), "second output\n");
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_COMPLETE);
    write_file(tpath("out1.txt"), "first output\nmore\n");
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_DAMAGED);
    unlink(tpath("out1.txt"));
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_DAMAGED);
    /* a stamp naming a missing output is refused; the old one stays removed */
    CU_ASSERT_FATAL(ab_stamp_remove(tmpdir, "stage") == AB_OK);
    CU_ASSERT(ab_stamp_remove(tmpdir, "stage") == AB_OK); /* absent is fine */
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_NONE);
    CU_ASSERT(ab_stamp_write(tmpdir, "stage", "{\"a\":1}", outs, 2, NULL) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("out1.txt"));
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_NONE);
    CU_ASSERT(access(tpath("stamps/stage.json"), F_OK) != 0);
    /* an unreadable stamp counts as none */
    write_file(tpath("out1.txt"), "first output\n");
    CU_ASSERT_FATAL(ab_stamp_write(tmpdir, "stage", "{\"a\":1}", outs, 2, NULL) == AB_OK);
    write_file(tpath("stamps/stage.json"), "{\"identity\": ");
    CU_ASSERT(state_of("{\"a\":1}") == AB_STAMP_NONE);
    CU_ASSERT_STRING_EQUAL(ab_stamp_state_text(AB_STAMP_CHANGED),
                           "its configuration or inputs changed");
    json_decref(sum);
}

/* ---- configurations -------------------------------------------------------------- */

static const char base_yaml[] =
    "campaign: {dir: camp, space: ofa_mbv3, seed: 9}\n"                        /* 1 */
    "data:\n"                                                                   /* 2 */
    "  n: 300\n"                                                                /* 3 */
    "  evaluators:\n"                                                           /* 4 */
    "    - {type: synthetic, metrics: [acc, latency]}\n"                       /* 5 */
    "predictors:\n"                                                             /* 6 */
    "  - {name: acc, target: acc, epochs: 5}\n"                                 /* 7 */
    "  - {name: fast, target: -latency, folds: 3}\n"                            /* 8 */
    "modules: {k: 4, select: constrained}\n"                                    /* 9 */
    "search:\n"                                                                 /* 10 */
    "  init: 30\n"                                                              /* 11 */
    "  per_iteration: 20\n"                                                     /* 12 */
    "  objectives:\n"                                                           /* 13 */
    "    - {metric: acc, goal: max, ref: 0.6}\n"                                /* 14 */
    "    - {metric: latency, goal: min, ref: 200.0}\n";                         /* 15 */

/* The base text with `from` replaced by `to` (first occurrence). */
static char *edited(const char *from, const char *to)
{
    const char *at = strstr(base_yaml, from);
    char *out;
    CU_ASSERT_FATAL(at != NULL);
    out = malloc(sizeof base_yaml + strlen(to));
    CU_ASSERT_FATAL(out != NULL);
    memcpy(out, base_yaml, (size_t)(at - base_yaml));
    strcpy(out + (at - base_yaml), to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_config_defaults(void)
{
    struct ab_campaign *c = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
    if (ab_campaign_parse(base_yaml, strlen(base_yaml), path, &c) != AB_OK)
        fprintf(stderr, "\n  %s\n", ab_err_msg());
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->dir, tpath("camp"));
    CU_ASSERT_STRING_EQUAL(c->space->name, "ofa_mbv3");
    CU_ASSERT(c->seed == 9 && c->data_seed == 9 && c->search_seed == 9);
    CU_ASSERT(c->n == 300 && c->n_res == 0);
    CU_ASSERT(c->n_data_metrics == 2);
    CU_ASSERT_STRING_EQUAL(c->data_metrics[1], "latency");
    CU_ASSERT(c->n_pred == 2);
    CU_ASSERT_STRING_EQUAL(c->pred[1].target, "-latency");
    CU_ASSERT(c->pred[0].opts.epochs == 5 && c->pred[1].opts.epochs == 200);
    CU_ASSERT(c->pred[0].opts.seed == 9 && c->pred[0].opts.threads == 1);
    CU_ASSERT(c->pred[0].folds == 0 && c->pred[0].seeds == 0);
    CU_ASSERT(c->pred[1].folds == 3 && c->pred[1].seeds == 1);
    CU_ASSERT(c->pred[0].cfg.layers == 4 && c->pred[0].cfg.hidden == 32);
    CU_ASSERT(c->n_k == 1 && c->ks[0] == 4 && c->constrained == 1);
    CU_ASSERT(c->label_resolution == 224);
    CU_ASSERT(c->init == 30 && c->iterations == 4 && c->per_iteration == 20);
    CU_ASSERT(c->mutate_prob == 0.5 && c->search_resolution == 0);
    CU_ASSERT(c->n_obj == 2 && c->obj[0].maximize && !c->obj[1].maximize);
    CU_ASSERT(c->obj[1].ref == 200.0);
    CU_ASSERT_STRING_EQUAL(c->search_evaluators_id, c->data_evaluators_id);
    CU_ASSERT(json_equal(c->search_run_specs, c->data_run_specs));
    ab_campaign_destroy(&c);
    CU_ASSERT(c == NULL);
    ab_campaign_destroy(&c); /* NULL-safe */
}

static void expect_error(const char *from, const char *to, const char *want1,
                         const char *want2)
{
    struct ab_campaign *c = (struct ab_campaign *)1;
    char *text = edited(from, to);
    ab_status rc = ab_campaign_parse(text, strlen(text), "c.yaml", &c);
    CU_ASSERT(rc == AB_ERR_INPUT);
    CU_ASSERT(c == NULL);
    CU_ASSERT(msg_has("c.yaml"));
    CU_ASSERT(msg_has(want1));
    if (want2) CU_ASSERT(msg_has(want2));
    CU_ASSERT(strchr(ab_err_msg(), '\n') == NULL);
    free(text);
}

static void test_config_errors(void)
{
    expect_error("seed: 9}", "seed: 9, colour: red}", "line 1: unknown key 'colour' in campaign",
                 NULL);
    expect_error("search:\n", "serach:\n", "line 10: unknown key 'serach'", NULL);
    expect_error("  n: 300\n", "", "data needs 'n'", NULL);
    expect_error("  n: 300\n", "  n: 0\n", "line 3: data.n: expected an integer from 1", NULL);
    expect_error("space: ofa_mbv3", "space: ofa_zz", "line 1: campaign.space", "ofa_zz");
    expect_error("  n: 300\n", "  n: 300\n  resolutions: [224, 225]\n",
                 "data.resolutions: '225' is not a resolution", NULL);
    expect_error("{type: synthetic,", "{type: lookup,", "line 5: data.evaluators[1]: unknown "
                 "evaluator type 'lookup'", NULL);
    expect_error("{type: synthetic, metrics: [acc, latency]}",
                 "{type: predictor, file: none.h5, metric: acc}", "line 5: data.evaluators[1]: "
                 "none.h5", NULL);
    expect_error("target: -latency", "target: -energy", "line 8: predictors[2].target",
                 "unknown metric 'energy'");
    expect_error("target: acc,", "target: 'acc*',", "line 7: predictors[1].target", NULL);
    expect_error("epochs: 5}", "epochs: 5, epoch: 3}", "line 7: unknown key 'epoch' in "
                 "predictors[1]", NULL);
    expect_error("name: fast", "name: acc", "predictors[2].name: 'acc' is used twice", NULL);
    expect_error("name: fast", "name: 'a/b'", "predictors[2].name: 'a/b' must be", NULL);
    expect_error("folds: 3}", "folds: 1}", "predictors[2].folds: expected an integer from 2",
                 NULL);
    expect_error("epochs: 5}", "epochs: 5, gnn: gcn}", "predictors[1].gnn: expected gatv2 or "
                 "graphconv", NULL);
    expect_error("modules: {k: 4, select: constrained}", "modules: {select: constrained}",
                 "line 9: modules needs 'k'", NULL);
    expect_error("{k: 4,", "{k: [4, 4],", "modules.k: give one K or one per unit (ofa_mbv3 has "
                 "5 units), got 2", NULL);
    expect_error("{k: 4,", "{k: [4, 4, 0, 4, 4],", "modules.k: expected integers from 1", NULL);
    expect_error("select: constrained", "select: best", "modules.select: expected constrained",
                 NULL);
    expect_error("metric: latency, goal", "metric: energy, goal",
                 "line 15: search.objectives[2].metric: 'energy' is produced by no search "
                 "evaluator (they give: acc, latency)", NULL);
    expect_error("goal: max", "goal: up", "line 14: search.objectives[1].goal must be max or min",
                 NULL);
    expect_error(", ref: 0.6}", "}", "search.objectives[1] needs 'ref'", NULL);
    expect_error("  init: 30\n", "  init: 30\n  evaluators: [{type: synthetic, metrics: [a]}]\n",
                 "search.objectives[1].metric: 'acc' is produced by no search evaluator (they "
                 "give: a)", NULL);
    expect_error("  init: 30\n", "  init: 30\n  variant: stage_full\n",
                 "unknown key 'variant' in search", NULL);
    expect_error("  init: 30\n", "  init: 30\n  mode: fast\n",
                 "search.mode: expected sync or async, got 'fast'", NULL);
    expect_error("  init: 30\n", "  init: 30\n  baselines: [layer_insight]\n",
                 "search.baselines[1]: 'layer_insight' is not a baseline the campaign runs: "
                 "stage_full or layer_full", NULL);
    expect_error("  init: 30\n", "  init: 30\n  baselines: [stage_full, stage_full]\n",
                 "search.baselines: 'stage_full' is listed twice", NULL);
    expect_error("  init: 30\n", "  init: 30\n  baselines: stage_full\n",
                 "search.baselines", NULL);
    expect_error("  per_iteration: 20\n  objectives:\n    - {metric: acc, goal: max, ref: 0.6}",
                 "  per_iteration: 20\n  evaluators: [{type: synthetic, metrics: [acc, latency, "
                 "energy]}]\n  objectives:\n    - {metric: energy, goal: max, ref: auto}",
                 "line 15: search.objectives[1].ref: 'auto' takes the worst labelled value of "
                 "'energy', which the data's evaluators do not give", NULL);
}

/* search.baselines and ref: auto are accepted; the search configuration
 * names the variant and the references it is given. */
static void test_config_baselines_auto(void)
{
    struct ab_campaign *c = NULL;
    char *text = NULL;
    const char *yaml =
        "campaign: {dir: camp, space: ofa_mbv3, seed: 9}\n"
        "data:\n"
        "  n: 300\n"
        "  evaluators: [{type: synthetic, metrics: [acc, latency]}]\n"
        "predictors:\n"
        "  - {name: acc, target: acc, epochs: 5}\n"
        "modules: {k: 4}\n"
        "search:\n"
        "  init: 30\n"
        "  objectives:\n"
        "    - {metric: acc, goal: max, ref: auto}\n"
        "    - {metric: latency, goal: min, ref: 200}\n"
        "  baselines: [stage_full, layer_full]\n";
    double refs[2] = {0.25, 200};
    CU_ASSERT_FATAL(ab_campaign_parse(yaml, strlen(yaml), "/tmp/c.yaml", &c) == AB_OK);
    CU_ASSERT(isnan(c->obj[0].ref));
    CU_ASSERT_EQUAL(c->obj[1].ref, 200);
    CU_ASSERT_EQUAL(c->n_baselines, 2);
    CU_ASSERT_STRING_EQUAL(c->baselines[0], "stage_full");
    CU_ASSERT_STRING_EQUAL(c->baselines[1], "layer_full");
    CU_ASSERT_FATAL(ab_campaign_search_yaml(c, "ofa_mbv3", "b.h5", "stage_full", refs, &text) ==
                    AB_OK);
    CU_ASSERT(strstr(text, "variant: stage_full") != NULL);
    CU_ASSERT(strstr(text, "\"ref\": 0.25}") != NULL);
    CU_ASSERT(strstr(text, "\"ref\": 200}") != NULL);
    free(text);
    ab_campaign_destroy(&c);
}

/* An evaluator file's content is part of the identity: a table file that
 * changes (same name) changes the data evaluators' identity. */
static void test_config_file_identity(void)
{
    struct ab_campaign *c = NULL;
    char *id1, *text, path[600];
    const char *csv1 = "arch,acc,latency\n"
                       "\"{\"\"space\"\":\"\"ofa_mbv3\"\",\"\"resolution\"\":224,\"\"stages\"\":"
                       "[[\"\"mbconv3_e3_k3\"\",\"\"mbconv3_e3_k3\"\"],[\"\"mbconv3_e3_k3\"\","
                       "\"\"mbconv3_e3_k3\"\"],[\"\"mbconv3_e3_k3\"\",\"\"mbconv3_e3_k3\"\"],"
                       "[\"\"mbconv3_e3_k3\"\",\"\"mbconv3_e3_k3\"\"],[\"\"mbconv3_e3_k3\"\","
                       "\"\"mbconv3_e3_k3\"\"]]}\",0.7,10\n";
    struct ab_dataset *d = NULL;
    snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
    write_file(tpath("t.csv"), csv1);
    CU_ASSERT_FATAL(ab_dataset_import_csv("ofa_mbv3", tpath("t.csv"), &d) == AB_OK);
    CU_ASSERT_FATAL(ab_dataset_write(d, tpath("table.h5")) == AB_OK);
    text = edited("{type: synthetic, metrics: [acc, latency]}", "{type: table, file: table.h5}");
    CU_ASSERT_FATAL(ab_campaign_parse(text, strlen(text), path, &c) == AB_OK);
    id1 = strdup(c->data_evaluators_id);
    /* the run specs hold the absolute path */
    CU_ASSERT(json_string_value(json_object_get(json_array_get(c->data_run_specs, 0), "file"))[0]
              == '/');
    CU_ASSERT(strstr(id1, "\"table.h5\"") != NULL);
    ab_campaign_destroy(&c);
    d->metrics[0] = 0.71;
    CU_ASSERT_FATAL(ab_dataset_write(d, tpath("table.h5")) == AB_OK);
    CU_ASSERT_FATAL(ab_campaign_parse(text, strlen(text), path, &c) == AB_OK);
    CU_ASSERT(strcmp(id1, c->data_evaluators_id) != 0);
    ab_campaign_destroy(&c);
    ab_dataset_destroy(&d);
    free(id1);
    free(text);
}

/* ---- the generated search configuration ----------------------------------------- */

static void test_search_yaml(void)
{
    struct ab_campaign *c = NULL;
    struct ab_search_config *s = NULL;
    struct ab_space *sp = NULL;
    char *text = NULL, *y, path[600];
    snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
    y = edited("  init: 30\n", "  init: 30\n  iterations: 2\n  stage_mutate_prob: 0.25\n"
                               "  resolution: 208\n  seed: 77\n  mode: async\n");
    CU_ASSERT_FATAL(ab_campaign_parse(y, strlen(y), path, &c) == AB_OK);
    /* a reduced space: the first 3 subgraphs of every unit */
    CU_ASSERT_FATAL(ab_space_open("ofa_mbv3", &sp) == AB_OK);
    for (int u = 0; u < sp->n_units; u++) {
        sp->allowed[u].index = malloc(3 * sizeof(uint64_t));
        CU_ASSERT_FATAL(sp->allowed[u].index != NULL);
        for (int i = 0; i < 3; i++) sp->allowed[u].index[i] = (uint64_t)i;
        sp->allowed[u].n = 3;
    }
    sp->reduced = 1;
    sp->reduced_source = strdup("r.h5");
    CU_ASSERT_FATAL(ab_reduced_space_save(sp, tpath("r.h5")) == AB_OK);
    CU_ASSERT_FATAL(ab_campaign_search_yaml(c, "r.h5", "s.h5", "autobuild_nas", NULL, &text) == AB_OK);
    if (ab_search_config_parse(text, strlen(text), tpath("search.yaml"), &s) != AB_OK)
        fprintf(stderr, "\n  %s\n%s\n", ab_err_msg(), text);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->variant == AB_AUTOBUILD_NAS && s->space->reduced);
    CU_ASSERT(s->init == 30 && s->iterations == 2 && s->per_iteration == 20);
    CU_ASSERT(s->mutate_prob == 0.25 && s->seed == 77 && s->resolution == 208);
    CU_ASSERT(s->async == 1);
    CU_ASSERT(s->n_obj == 2 && s->obj[0].maximize && !s->obj[1].maximize);
    CU_ASSERT(s->obj[0].ref == 0.6 && s->obj[1].ref == 200.0);
    CU_ASSERT_STRING_EQUAL(s->obj[1].metric, "latency");
    CU_ASSERT(json_equal(s->evaluators, c->search_run_specs));
    CU_ASSERT_STRING_EQUAL(s->store, tpath("s.h5"));
    ab_search_config_destroy(&s);
    ab_space_destroy(&sp);
    ab_campaign_destroy(&c);
    free(text);
    free(y);
}

/* ---- driver --------------------------------------------------------------------- */

static void setup(void)
{
    ab_h5_init();
    ab_log_set_level(AB_LOG_WARN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ab_test_campaign_XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(tmpdir) != NULL);
}

static void cleanup(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static const struct cu_case cases[] = {
    {"setup", setup},
    {"stamps: FNV-1a of texts and files", test_hashes},
    {"stamps: complete, changed, damaged, none; refusals", test_stamps},
    {"configuration: defaults and resolved paths", test_config_defaults},
    {"configuration: one-line errors naming line and key", test_config_errors},
    {"configuration: evaluator files are part of the identity", test_config_file_identity},
    {"search stage: the generated configuration parses", test_search_yaml},
    {"search.baselines and ref: auto", test_config_baselines_auto},
    {"cleanup", cleanup},
    {NULL, NULL}};

CU_MAIN("campaign", cases)
