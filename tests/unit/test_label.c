/* SPDX-License-Identifier: MIT
 *
 * Tests of the labelling of a fixed list of architectures (search/label.h),
 * in-process with the synthetic evaluator: every architecture is recorded
 * once (a repeated one is evaluated once), a reopened store plans only what
 * it lacks, a store of another identity is removed (RESTART) or refused
 * with nothing changed (REFUSE), failures are counted and left out of the
 * dataset, and a list whose evaluations all failed writes no dataset.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "data/dataset.h"
#include "search/label.h"
#include "store/store.h"
#include "util/fsutil.h"
#include "util/log.h"

static char dir[64];
static char store_path[128];
static char data_path[128];

static const struct ab_runtime plain = {0, 0, 1, MPI_COMM_NULL};

struct fixture {
    struct ab_space *sp;
    struct ab_eval_chain *chain;
    json_t *specs;
    char *specs_text;
    struct ab_arch *archs; /* 6: a, b, c, a, d, e (one repeated) */
    long n;
};

static void setup(struct fixture *f, const char *spec_json)
{
    struct ab_eval_context ctx = {NULL, "test", ".", NULL};
    struct ab_arch *sample = NULL;
    memset(f, 0, sizeof *f);
    CU_ASSERT_FATAL(ab_space_open("ofa_mbv3", &f->sp) == AB_OK);
    ctx.space = f->sp;
    f->specs = json_loads(spec_json, 0, NULL);
    CU_ASSERT_FATAL(f->specs != NULL);
    f->specs_text = json_dumps(f->specs, JSON_COMPACT);
    CU_ASSERT_FATAL(ab_eval_chain_create(&ctx, f->specs, &f->chain) == AB_OK);
    CU_ASSERT_FATAL(ab_arch_sample_unique(f->sp, 5, 7, NULL, 0, &sample) == AB_OK);
    f->archs = malloc(sizeof *f->archs * 6);
    CU_ASSERT_FATAL(f->archs != NULL);
    f->archs[0] = sample[0];
    f->archs[1] = sample[1];
    f->archs[2] = sample[2];
    f->archs[3] = sample[0];
    f->archs[4] = sample[3];
    f->archs[5] = sample[4];
    f->n = 6;
    free(sample);
}

static void teardown(struct fixture *f)
{
    ab_eval_chain_destroy(&f->chain);
    json_decref(f->specs);
    free(f->specs_text);
    free(f->archs);
    ab_space_destroy(&f->sp);
}

static struct ab_label_opts opts(struct fixture *f, const char *identity,
                                 enum ab_label_other other)
{
    struct ab_label_opts o = {0};
    o.space = f->sp;
    o.chain = f->chain;
    o.store = store_path;
    o.identity = identity;
    o.on_other = other;
    o.specs_json = f->specs_text;
    o.base_dir = ".";
    o.origin = "test";
    o.evaluators_key = "evaluators";
    return o;
}

static void remove_store(void)
{
    ab_label_forget_store(store_path);
    unlink(data_path);
}

static void test_label_once_and_resume(void)
{
    struct fixture f;
    struct ab_label_opts o;
    struct ab_label *lab = NULL;
    struct ab_dataset *d = NULL;
    long pending = -1, recorded = -1, failed = -1;
    int interrupted = 1;
    remove_store();
    setup(&f, "[{\"type\":\"synthetic\"}]");
    o = opts(&f, "{\"id\":1}", AB_LABEL_REFUSE);
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(lab->resumed == 0);
    CU_ASSERT_FATAL(ab_label_plan(lab, f.archs, f.n, &pending) == AB_OK);
    CU_ASSERT(pending == 5); /* the repeated architecture once */
    CU_ASSERT_FATAL(ab_label_run(&plain, lab, &interrupted) == AB_OK);
    CU_ASSERT(interrupted == 0);
    CU_ASSERT(lab->fresh == 5);
    CU_ASSERT(lab->st->n == 5);
    ab_label_count(lab, &recorded, &failed);
    CU_ASSERT(recorded == 6); /* counted per list entry */
    CU_ASSERT(failed == 0);
    CU_ASSERT(ab_label_write_dataset(lab, data_path, &failed) == AB_OK);
    CU_ASSERT(failed == 0);
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    CU_ASSERT(lab == NULL);
    CU_ASSERT_FATAL(ab_dataset_read(data_path, &d) == AB_OK);
    CU_ASSERT(d->n == 5);
    CU_ASSERT(d->hashes[0] == ab_arch_hash(f.sp, &f.archs[0]));
    CU_ASSERT(d->hashes[4] == ab_arch_hash(f.sp, &f.archs[5]));
    ab_dataset_destroy(&d);

    /* reopened with the same identity: nothing to do */
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(lab->resumed == 1);
    CU_ASSERT(lab->recorded_at_open == 5);
    CU_ASSERT(ab_label_plan(lab, f.archs, f.n, &pending) == AB_OK);
    CU_ASSERT(pending == 0);
    CU_ASSERT(ab_label_run(&plain, lab, &interrupted) == AB_OK);
    CU_ASSERT(lab->fresh == 0);
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    ab_label_close(&lab); /* NULL-safe */
    teardown(&f);
}

static void test_other_identity(void)
{
    struct fixture f;
    struct ab_label_opts o;
    struct ab_label *lab = NULL;
    int resume = -1, interrupted;
    long recorded = -1, pending;
    remove_store();
    setup(&f, "[{\"type\":\"synthetic\"}]");
    o = opts(&f, "{\"id\":1}", AB_LABEL_RESTART);
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(ab_label_plan(lab, f.archs, 2, &pending) == AB_OK);
    CU_ASSERT(ab_label_run(&plain, lab, &interrupted) == AB_OK);
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    /* refused: an input error naming the store, the store unchanged */
    CU_ASSERT(ab_label_store_resumable(store_path, "{\"id\":2}", AB_LABEL_REFUSE, NULL, &resume,
                                       &recorded) == AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "the store was made for another configuration") != NULL);
    CU_ASSERT(strstr(ab_err_msg(), store_path) != NULL);
    ab_err_clear();
    o.identity = "{\"id\":2}";
    o.on_other = AB_LABEL_REFUSE;
    CU_ASSERT(ab_label_open(&o, &lab) == AB_ERR_INPUT);
    ab_err_clear();
    CU_ASSERT(lab == NULL);
    CU_ASSERT(ab_label_store_resumable(store_path, "{\"id\":1}", AB_LABEL_REFUSE, NULL, &resume,
                                       &recorded) == AB_OK);
    CU_ASSERT(resume == 1 && recorded == 2);
    /* restart: removed, a new store */
    o.on_other = AB_LABEL_RESTART;
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(lab->resumed == 0);
    CU_ASSERT(lab->st->n == 0);
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    teardown(&f);
}

static void test_failures(void)
{
    struct fixture f;
    struct ab_label_opts o;
    struct ab_label *lab = NULL;
    long pending, recorded, failed = -1;
    int interrupted;
    remove_store();
    /* every evaluation fails: counted, and no dataset */
    setup(&f, "[{\"type\":\"synthetic\",\"fail_rate\":1}]");
    o = opts(&f, "{\"id\":3}", AB_LABEL_REFUSE);
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(ab_label_plan(lab, f.archs, f.n, &pending) == AB_OK);
    CU_ASSERT(ab_label_run(&plain, lab, &interrupted) == AB_OK);
    ab_label_count(lab, &recorded, &failed);
    CU_ASSERT(recorded == 6 && failed == 6);
    CU_ASSERT(ab_label_write_dataset(lab, data_path, &failed) == AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "test: all 5 evaluations failed") != NULL);
    CU_ASSERT(strstr(ab_err_msg(), "fix evaluators") != NULL);
    ab_err_clear();
    CU_ASSERT(!ab_fs_exists(data_path));
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    teardown(&f);
}

static void test_dataset_needs_every_evaluation(void)
{
    struct fixture f;
    struct ab_label_opts o;
    struct ab_label *lab = NULL;
    long pending, failed;
    remove_store();
    setup(&f, "[{\"type\":\"synthetic\"}]");
    o = opts(&f, "{\"id\":4}", AB_LABEL_REFUSE);
    CU_ASSERT_FATAL(ab_label_open(&o, &lab) == AB_OK);
    CU_ASSERT(ab_label_plan(lab, f.archs, f.n, &pending) == AB_OK);
    /* not run: nothing recorded */
    CU_ASSERT(ab_label_write_dataset(lab, data_path, &failed) == AB_ERR_INTERNAL);
    ab_err_clear();
    CU_ASSERT(!ab_fs_exists(data_path));
    CU_ASSERT(ab_label_close(&lab) == AB_OK);
    teardown(&f);
}

static const struct cu_case cases[] = {
    {"labels each architecture once, resumes with nothing to do", test_label_once_and_resume},
    {"a store of another identity: refused unchanged, or restarted", test_other_identity},
    {"failures are counted; all failed: no dataset", test_failures},
    {"a dataset needs every architecture recorded", test_dataset_needs_every_evaluation},
    {NULL, NULL}};

static int run_all(void)
{
    int rc;
    ab_log_set_level(AB_LOG_WARN);
    snprintf(dir, sizeof dir, "/tmp/ab_test_label_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(store_path, sizeof store_path, "%s/s.h5", dir);
    snprintf(data_path, sizeof data_path, "%s/d.h5", dir);
    rc = cu_run("label", cases);
    remove_store();
    rmdir(dir);
    return rc;
}

int main(void)
{
    return run_all();
}
