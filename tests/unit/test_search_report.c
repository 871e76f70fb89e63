/* SPDX-License-Identifier: MIT
 *
 * Tests of the search report files (coordinator/report/search_report.c):
 * the front CSV holds the last iteration's front (quoted arch, empty field
 * for NaN), the history CSV one row per iteration; the gnuplot script
 * labels the axes with the objectives' directions from the identity, draws
 * the staircase the right way round, says when only two of more objectives
 * are drawn and copes with a store without iterations or objectives; an
 * objective that is no metric column is an input error; a failing output
 * leaves no file behind and an existing one untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "report/search_report.h"
#include "store/store.h"
#include "util/fsutil.h"

static const char *const metrics[] = {"acc", "latency", "mem"};
static const char identity2[] =
    "{\"objectives\":[{\"metric\":\"acc\",\"max\":true},{\"metric\":\"latency\",\"max\":false}]}";
static const char identity3[] =
    "{\"objectives\":[{\"metric\":\"latency\",\"max\":false},{\"metric\":\"acc\",\"max\":true},"
    "{\"metric\":\"mem\",\"max\":false}]}";
static char dir[64], path[128];

static void fresh(void)
{
    snprintf(dir, sizeof dir, "/tmp/ab_srep_XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/run.h5", dir);
}

static void cleanup_dir(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

/* A store of 6 evaluations (seq 3 failed) and `n_iter` iterations; the
 * last iteration's front is {0, 2, 4}. */
static struct ab_store *make_store(const char *identity, int n_iter)
{
    struct ab_store *st = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_store_open(path, identity, metrics, 3, 0, &st), AB_OK);
    for (long i = 0; i < 6; i++) {
        double m[3] = {0.7 + 0.01 * i, 10.0 + i, i == 1 ? NAN : 100.0 - i};
        char arch[64];
        if (i == 3) m[0] = m[1] = m[2] = NAN;
        snprintf(arch, sizeof arch, "{\"arch\":%ld,\"q\":\"x\"}", i);
        struct ab_store_eval e = {.seq = i, .iteration = (int)(i / 3), .hash = 500 + (uint64_t)i,
                                  .arch = arch, .status = i == 3, .host = "h",
                                  .evaluator = "synthetic", .metrics = m,
                                  .error = i == 3 ? "boom" : ""};
        CU_ASSERT_EQUAL(ab_store_add(st, &e), AB_OK);
    }
    long f0[2] = {0, 1}, f1[3] = {0, 2, 4};
    for (int k = 0; k < n_iter; k++) {
        struct ab_store_iter it = {.iteration = k, .evaluations = 3 + 3 * k, .unique = 3 + 3 * k,
                                   .failed = k, .hypervolume = 1.5 + k,
                                   .n_front = k ? 3 : 2, .front = k ? f1 : f0};
        CU_ASSERT_EQUAL(ab_store_add_iteration(st, &it), AB_OK);
    }
    return st;
}

/* What a writer puts into a stream, as a malloc'd string. */
static char *capture(ab_status (*fn)(const struct ab_store *, FILE *), const struct ab_store *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(fn(st, f), AB_OK);
    fclose(f);
    return buf;
}

static char *script(const struct ab_store *st, ab_status want)
{
    char *buf = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(ab_search_report_write_gnuplot(st, f, &w, &h), want);
    fclose(f);
    if (want == AB_OK) CU_ASSERT(w > 0 && h > 0);
    return buf;
}

static void test_csv(void)
{
    fresh();
    struct ab_store *st = make_store(identity2, 2);
    char *front = capture(ab_search_report_front_csv, st);
    CU_ASSERT_STRING_EQUAL(front,
                           "seq,acc,latency,mem,arch\n"
                           "0,0.69999999999999996,10,100,\"{\"\"arch\"\":0,\"\"q\"\":\"\"x\"\"}\"\n"
                           "2,0.71999999999999997,12,98,\"{\"\"arch\"\":2,\"\"q\"\":\"\"x\"\"}\"\n"
                           "4,0.73999999999999999,14,96,\"{\"\"arch\"\":4,\"\"q\"\":\"\"x\"\"}\"\n");
    char *hist = capture(ab_search_report_history_csv, st);
    CU_ASSERT_STRING_EQUAL(hist, "iteration,evaluations,unique,failed,front_size,hypervolume\n"
                                 "0,3,3,0,2,1.5\n1,6,6,1,3,2.5\n");
    free(front);
    free(hist);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_script_two_objectives(void)
{
    fresh();
    struct ab_store *st = make_store(identity2, 2);
    char *s = script(st, AB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set xlabel \"acc (max)\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set ylabel \"latency (min)\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "with fsteps")); /* maximised x: vertical first */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "front after iteration 1 (3)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "successful evaluations (5)")); /* seq 3 failed */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "6 evaluations recorded (1 failed), not complete"));
    CU_ASSERT_PTR_NULL(strstr(s, "objectives shown"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "unset multiplot"));
    free(s);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_script_three_objectives(void)
{
    fresh();
    struct ab_store *st = make_store(identity3, 2);
    char *s = script(st, AB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set xlabel \"latency (min)\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set ylabel \"acc (max)\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "with steps")); /* minimised x: horizontal first */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "first 2 of 3 objectives shown"));
    free(s);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_script_empty_and_fallback(void)
{
    fresh();
    /* no iteration yet: the right panel says so, no front is drawn */
    struct ab_store *st = make_store(identity2, 0);
    char *s = script(st, AB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "no iteration recorded yet"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "no front recorded yet"));
    CU_ASSERT_PTR_NULL(strstr(s, "front after iteration"));
    free(s);
    char *front = capture(ab_search_report_front_csv, st);
    CU_ASSERT_STRING_EQUAL(front, "seq,acc,latency,mem,arch\n");
    free(front);
    ab_store_close(&st);
    cleanup_dir();
    /* no objectives in the identity: the first two metrics, no direction */
    fresh();
    st = make_store("{\"id\":1}", 2);
    s = script(st, AB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set xlabel \"acc\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "set ylabel \"latency\""));
    CU_ASSERT_PTR_NULL(strstr(s, "steps"));
    free(s);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_unknown_objective(void)
{
    fresh();
    struct ab_store *st =
        make_store("{\"objectives\":[{\"metric\":\"energy\",\"max\":false}]}", 1);
    char *s = script(st, AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "objective 'energy'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), path));
    free(s);
    ab_store_close(&st);
    cleanup_dir();
}

static void test_files(void)
{
    char front[160], hist[160], bad[160], tmp[200];
    fresh();
    struct ab_store *st = make_store(identity2, 2);
    ab_store_close(&st);
    snprintf(front, sizeof front, "%s/front.csv", dir);
    snprintf(hist, sizeof hist, "%s/history.csv", dir);
    snprintf(bad, sizeof bad, "%s/missing/history.csv", dir);
    CU_ASSERT_EQUAL(ab_search_report_files(path, front, hist, NULL), AB_OK);
    CU_ASSERT(ab_fs_exists(front) && ab_fs_exists(hist));
    /* an output that cannot be created: nothing written, the old file kept */
    FILE *f = fopen(front, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("old\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ab_search_report_files(path, front, bad, NULL), AB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), bad));
    char *text = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(ab_fs_read_all(front, 1 << 20, &text, &len), AB_OK);
    CU_ASSERT_STRING_EQUAL(text ? text : "", "old\n");
    free(text);
    CU_ASSERT_EQUAL(ab_fs_temp_path(front, tmp, sizeof tmp), AB_OK);
    CU_ASSERT(!ab_fs_exists(tmp));
    /* not a store */
    CU_ASSERT_EQUAL(ab_search_report_files(front, NULL, hist, NULL), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), front));
    CU_ASSERT_EQUAL(ab_search_report_files(NULL, NULL, NULL, NULL), AB_ERR_INPUT);
    /* one file named for two outputs */
    CU_ASSERT_EQUAL(ab_search_report_files(path, hist, hist, NULL), AB_ERR_INPUT);
    cleanup_dir();
}

static const struct cu_case cases[] = {
    {"front and history CSV", test_csv},
    {"picture of two objectives", test_script_two_objectives},
    {"picture of three objectives", test_script_three_objectives},
    {"picture without iterations or objectives", test_script_empty_and_fallback},
    {"objective that is no metric", test_unknown_objective},
    {"files: atomic, errors name the file", test_files},
    {NULL, NULL}};
CU_MAIN("search_report", cases)
