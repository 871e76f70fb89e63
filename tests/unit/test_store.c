/* SPDX-License-Identifier: MIT
 *
 * Tests of the result store (common/store): records survive close/reopen
 * through the journal and through the snapshot alone; a torn or corrupt
 * journal tail is cut on resume and everything before it is kept; a new
 * store never overwrites an existing one; resume refuses another search's
 * store and other metric columns; iterations are recorded once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu_main.h"
#include "store/store.h"
#include "util/fsutil.h"

static const char *const metrics[] = {"acc", "latency"};
static char dir[64], path[128], journal[160];

static void fresh(void)
{
    snprintf(dir, sizeof dir, "/tmp/ab_store_XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/run.h5", dir);
    snprintf(journal, sizeof journal, "%s.journal", path);
}

static void cleanup_dir(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

static void add_evals(struct ab_store *st, long from, long to)
{
    for (long i = from; i < to; i++) {
        double m[2] = {0.7 + i * 1e-3, i % 3 ? 10.0 + i : NAN};
        char arch[64];
        snprintf(arch, sizeof arch, "{\"arch\":%ld,\"q\":\"\\\"x\\\"\"}", i);
        struct ab_store_eval e = {.seq = i, .iteration = (int)(i / 10), .hash = 1000 + (uint64_t)i,
                                  .arch = arch, .status = i % 7 == 0, .rank = (int)(i % 4),
                                  .host = "node1", .evaluator = "synthetic",
                                  .t_start = 1.5 * i, .t_end = 1.5 * i + 1,
                                  .metrics = m, .error = i % 7 == 0 ? "boom, \"quoted\"" : ""};
        CU_ASSERT_EQUAL(ab_store_add(st, &e), AB_OK);
    }
}

static void check_evals(const struct ab_store *st, long n)
{
    CU_ASSERT_EQUAL(st->n, n);
    for (long i = 0; i < st->n && i < n; i++) {
        long at = ab_store_find(st, 1000 + (uint64_t)i);
        CU_ASSERT_EQUAL_FATAL(at >= 0, 1);
        const struct ab_store_eval *e = &st->ev[at];
        char arch[64];
        snprintf(arch, sizeof arch, "{\"arch\":%ld,\"q\":\"\\\"x\\\"\"}", i);
        CU_ASSERT_EQUAL(e->seq, i);
        CU_ASSERT_STRING_EQUAL(e->arch, arch);
        CU_ASSERT_EQUAL(e->status, i % 7 == 0);
        CU_ASSERT_EQUAL(e->rank, i % 4);
        CU_ASSERT_DOUBLE_EQUAL(e->metrics[0], 0.7 + i * 1e-3, 1e-15);
        CU_ASSERT(i % 3 ? e->metrics[1] == 10.0 + i : isnan(e->metrics[1]));
        CU_ASSERT_STRING_EQUAL(e->error, i % 7 == 0 ? "boom, \"quoted\"" : "");
        CU_ASSERT_STRING_EQUAL(e->host, "node1");
    }
    CU_ASSERT_EQUAL(ab_store_find(st, 999), -1);
}

static void test_roundtrip(void)
{
    struct ab_store *st = NULL;
    fresh();
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"id\":1}", metrics, 2, 0, &st), AB_OK);
    add_evals(st, 0, 25);
    long front[3] = {1, 5, 9};
    struct ab_store_iter it = {.iteration = 0, .evaluations = 25, .unique = 25,
                               .hypervolume = 1.25, .n_front = 3, .front = front};
    CU_ASSERT_EQUAL(ab_store_add_iteration(st, &it), AB_OK);
    CU_ASSERT_EQUAL(ab_store_add_iteration(st, &it), AB_OK); /* recorded once */
    CU_ASSERT_EQUAL(st->n_iter, 1);
    ab_store_set_complete(st, 1);
    CU_ASSERT_EQUAL(ab_store_close(&st), AB_OK);
    CU_ASSERT_PTR_NULL(st);
    /* through the journal */
    CU_ASSERT_EQUAL_FATAL(ab_store_read(path, &st), AB_OK);
    check_evals(st, 25);
    CU_ASSERT_EQUAL(st->n_iter, 1);
    CU_ASSERT_EQUAL(st->it[0].n_front, 3);
    CU_ASSERT_EQUAL(st->it[0].front[2], 9);
    CU_ASSERT_DOUBLE_EQUAL(st->it[0].hypervolume, 1.25, 0);
    CU_ASSERT_EQUAL(st->status_complete, 1);
    ab_store_close(&st);
    /* through the snapshot alone: resume rebuilds the journal */
    CU_ASSERT_EQUAL(unlink(journal), 0);
    CU_ASSERT_EQUAL_FATAL(ab_store_read(path, &st), AB_OK);
    check_evals(st, 25);
    ab_store_close(&st);
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"id\":1}", metrics, 2, 1, &st), AB_OK);
    check_evals(st, 25);
    add_evals(st, 25, 30);
    CU_ASSERT_EQUAL(ab_store_close(&st), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_store_read(path, &st), AB_OK);
    check_evals(st, 30);
    ab_store_close(&st);
    cleanup_dir();
}

static void truncate_by(const char *p, long bytes)
{
    struct stat sb;
    CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
    CU_ASSERT_EQUAL(truncate(p, sb.st_size - bytes), 0);
}

static void test_torn_tail(void)
{
    struct ab_store *st = NULL;
    fresh();
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"id\":2}", metrics, 2, 0, &st), AB_OK);
    add_evals(st, 0, 12);
    CU_ASSERT_EQUAL(ab_store_sync(st, 0), AB_OK);
    /* simulate kill -9: drop the object without the final writes */
    fclose(st->journal);
    st->journal = NULL;
    st->writable = 0;
    ab_store_close(&st);
    truncate_by(journal, 17); /* the last record is torn */
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"id\":2}", metrics, 2, 1, &st), AB_OK);
    check_evals(st, 11);
    CU_ASSERT(st->dropped_tail > 0);
    add_evals(st, 11, 14);
    CU_ASSERT_EQUAL(ab_store_close(&st), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_store_read(path, &st), AB_OK);
    check_evals(st, 14);
    ab_store_close(&st);
    /* a flipped byte inside the last record fails its CRC: cut there */
    {
        FILE *f = fopen(journal, "r+");
        CU_ASSERT_FATAL(f != NULL);
        fseek(f, -30, SEEK_END);
        fputc('#', f);
        fclose(f);
    }
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"id\":2}", metrics, 2, 1, &st), AB_OK);
    check_evals(st, 13);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_refusals(void)
{
    struct ab_store *st = NULL;
    struct stat before, after;
    fresh();
    CU_ASSERT_EQUAL(ab_store_open(path, "{}", metrics, 2, 1, &st), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "no store to resume") != NULL);
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, "{\"a\":1}", metrics, 2, 0, &st), AB_OK);
    add_evals(st, 0, 5);
    CU_ASSERT_EQUAL(ab_store_close(&st), AB_OK);
    CU_ASSERT_EQUAL(stat(journal, &before), 0);
    /* a new search must not overwrite it */
    CU_ASSERT_EQUAL(ab_store_open(path, "{\"a\":1}", metrics, 2, 0, &st), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "--resume") != NULL);
    /* another search's store */
    CU_ASSERT_EQUAL(ab_store_open(path, "{\"a\":2}", metrics, 2, 1, &st), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "another search") != NULL);
    /* other metric columns */
    const char *const other[] = {"acc", "energy"};
    CU_ASSERT_EQUAL(ab_store_open(path, "{\"a\":1}", other, 2, 1, &st), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "energy") != NULL);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_EQUAL(stat(journal, &after), 0);
    CU_ASSERT_EQUAL(before.st_size, after.st_size);
    CU_ASSERT_EQUAL(before.st_mtime, after.st_mtime);
    cleanup_dir();
}

static void test_parse_journal(void)
{
    struct ab_store *st = NULL;
    size_t valid = 0;
    CU_ASSERT_EQUAL(ab_store_parse_journal("", 0, "j", &st, &valid), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_store_parse_journal("E 00000000 {}\n", 14, "j", &st, &valid),
                    AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(st);
}

static const struct cu_case cases[] = {
    {"records survive close, reopen, snapshot-only resume", test_roundtrip},
    {"a torn or corrupt journal tail is cut on resume", test_torn_tail},
    {"never overwrites; refuses other searches and metrics", test_refusals},
    {"journal text that is not a journal", test_parse_journal},
    {NULL, NULL}};

CU_MAIN("store", cases)
