/* SPDX-License-Identifier: MIT
 *
 * This file tests the utilities: the error slot, the random number
 * generator, the u64 hash map and crash-consistent file output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/rng.h"
#include "util/u64map.h"

static void test_error_slot(void)
{
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_err_status(), AB_OK);
    CU_ASSERT_EQUAL(ab_err_set(AB_ERR_INPUT, "stage %d has %d layers", 2, 5), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_err_prefix("%s: line %d", "a.jsonl", 3), AB_ERR_INPUT);
    CU_ASSERT_STRING_EQUAL(ab_err_msg(), "a.jsonl: line 3: stage 2 has 5 layers");
    CU_ASSERT_EQUAL(ab_status_exit_code(AB_ERR_INPUT), 2);
    CU_ASSERT_EQUAL(ab_status_exit_code(AB_ERR_IO), 1);
    CU_ASSERT_EQUAL(ab_status_exit_code(AB_OK), 0);
    /* a long prefix is truncated, not overflowed */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ab_err_prefix("%s", big);
    CU_ASSERT(strlen(ab_err_msg()) < 1024);
    /* quoted input with line breaks still gives a one-line error */
    ab_err_set(AB_ERR_INPUT, "got '%s'", "25\n  filetic\r,5");
    CU_ASSERT_STRING_EQUAL(ab_err_msg(), "got '25   filetic ,5'");
    ab_err_prefix("%s", "f.yaml\tline 2");
    CU_ASSERT_STRING_EQUAL(ab_err_msg(), "f.yaml line 2: got '25   filetic ,5'");
}

static void test_rng(void)
{
    struct ab_rng a, b;
    ab_rng_seed(&a, 42);
    ab_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) CU_ASSERT_EQUAL(ab_rng_next(&a), ab_rng_next(&b));
    /* a fixed stream: the first value for seed 1 never changes */
    ab_rng_seed(&a, 1);
    uint64_t first = ab_rng_next(&a);
    ab_rng_seed(&b, 1);
    CU_ASSERT_EQUAL(first, ab_rng_next(&b));
    /* bounded draws cover the range uniformly */
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = ab_rng_below(&a, 7);
        CU_ASSERT_FATAL(v < 7);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++) CU_ASSERT(counts[k] > 9500 && counts[k] < 10500);
    double mean = 0;
    for (int i = 0; i < 100000; i++) {
        double u = ab_rng_uniform(&a);
        CU_ASSERT_FATAL(u >= 0 && u < 1);
        mean += u;
    }
    CU_ASSERT(mean / 100000 > 0.49 && mean / 100000 < 0.51);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double z = ab_rng_normal(&a);
        s += z;
        s2 += z * z;
    }
    CU_ASSERT(s / 1e5 > -0.02 && s / 1e5 < 0.02);
    CU_ASSERT(s2 / 1e5 > 0.97 && s2 / 1e5 < 1.03);
}

static void test_u64map(void)
{
    struct ab_u64map m;
    int64_t v;
    CU_ASSERT_EQUAL_FATAL(ab_u64map_init(&m, 4), AB_OK);
    for (int64_t i = 0; i < 50000; i++)
        CU_ASSERT_EQUAL(ab_u64map_put(&m, (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL, i, NULL), 0);
    CU_ASSERT_EQUAL(m.n, 50000);
    CU_ASSERT_EQUAL(ab_u64map_put(&m, 8 * 0x9e3779b97f4a7c15ULL, 99, &v), 1);
    CU_ASSERT_EQUAL(v, 7);
    for (int64_t i = 0; i < 50000; i += 97) {
        CU_ASSERT_EQUAL(ab_u64map_get(&m, (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL, &v), 1);
        CU_ASSERT_EQUAL(v, i);
    }
    CU_ASSERT_EQUAL(ab_u64map_get(&m, 12345, &v), 0);
    CU_ASSERT_EQUAL(ab_u64map_put(&m, 0, 1, NULL), 0); /* key 0 is a valid key */
    CU_ASSERT_EQUAL(ab_u64map_get(&m, 0, &v), 1);
    ab_u64map_free(&m);
}

static void test_fs_commit(void)
{
    char dir[] = "/tmp/ab_test_fs_XXXXXX", path[256], tmp[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CU_ASSERT_EQUAL(ab_fs_temp_path(path, tmp, sizeof tmp), AB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(tmp, "/.out.txt.tmp-"));
    FILE *f = fopen(tmp, "w");
    fputs("hello", f);
    fclose(f);
    CU_ASSERT_FALSE(ab_fs_exists(path));
    CU_ASSERT_EQUAL(ab_fs_commit(tmp, path), AB_OK);
    CU_ASSERT_TRUE(ab_fs_exists(path));
    CU_ASSERT_FALSE(ab_fs_exists(tmp));
    char *text = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(ab_fs_read_all(path, 100, &text, &len), AB_OK);
    CU_ASSERT_STRING_EQUAL(text, "hello");
    free(text);
    CU_ASSERT_EQUAL(ab_fs_read_all(path, 2, &text, &len), AB_OK); /* under the 64 KiB chunk */
    free(text);
    /* a commit during a failing caller's cleanup keeps the caller's error */
    ab_err_set(AB_ERR_INPUT, "the caller's error");
    f = fopen(tmp, "w");
    fputs("again", f);
    fclose(f);
    CU_ASSERT_EQUAL(ab_fs_commit(tmp, path), AB_OK);
    CU_ASSERT_STRING_EQUAL(ab_err_msg(), "the caller's error");
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_fs_commit("/nonexistent/tmp", path), AB_ERR_IO);
    CU_ASSERT_TRUE(ab_fs_exists(path)); /* untouched */
    char small[8];
    CU_ASSERT_EQUAL(ab_fs_temp_path(path, small, sizeof small), AB_ERR_INPUT);
    unlink(path);
    rmdir(dir);
}

static const struct cu_case cases[] = {
    {"error slot and prefixes", test_error_slot},
    {"rng determinism and distributions", test_rng},
    {"u64 hash map", test_u64map},
    {"atomic file commit", test_fs_commit},
    {NULL, NULL},
};
CU_MAIN("util", cases)
