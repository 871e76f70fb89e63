/* SPDX-License-Identifier: MIT
 *
 * This file tests labelled-architecture datasets: CSV import and its errors,
 * exact CSV and HDF5 round trips, refusal of truncated and foreign HDF5
 * files, and that failed writes leave nothing behind.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu_main.h"
#include "data/dataset.h"
#include "h5/h5util.h"
#include "util/fsutil.h"
#include "util/rng.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ab_test_dataset_XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
}

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* A CSV of n sampled architectures with metrics acc, latency_gpu. */
static char *make_csv(struct ab_space *sp, int n, uint64_t seed)
{
    struct ab_rng rng;
    size_t cap = (size_t)n * 1024 + 64, len = 0;
    char *out = malloc(cap), json[2048];
    ab_rng_seed(&rng, seed);
    len += (size_t)sprintf(out, "arch,acc,latency_gpu\n");
    for (int i = 0; i < n; i++) {
        struct ab_arch a;
        ab_arch_sample(sp, &rng, NULL, 0, &a);
        ab_arch_format_json(sp, &a, json, sizeof json);
        len += (size_t)sprintf(out + len, "\"");
        for (const char *p = json; *p; p++) {
            if (*p == '"') out[len++] = '"';
            out[len++] = *p;
        }
        char acc[40], lat[40];
        ab_format_double(0.7 + 0.1 * ab_rng_uniform(&rng), acc, sizeof acc);
        ab_format_double(5 + 20 * ab_rng_uniform(&rng), lat, sizeof lat);
        len += (size_t)sprintf(out + len, "\",%s,%s\n", acc, lat);
    }
    out[len] = '\0';
    return out;
}

static struct ab_space *mbv3(void)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_space_create_builtin("ofa_mbv3", &sp), AB_OK);
    return sp;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_import_roundtrip(void)
{
    struct ab_space *sp = mbv3();
    char *csv = make_csv(sp, 500, 11), *back = NULL;
    struct ab_dataset *d = NULL, *e = NULL;
    size_t len = 0;
    write_file(tpath("in.csv"), csv);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_import_csv("ofa_mbv3", tpath("in.csv"), &d), AB_OK);
    CU_ASSERT_EQUAL(d->n, 500);
    CU_ASSERT_EQUAL(d->n_metrics, 2);
    CU_ASSERT_STRING_EQUAL(d->metric_names[1], "latency_gpu");
    CU_ASSERT_EQUAL(ab_dataset_metric_index(d, "acc"), 0);
    CU_ASSERT_EQUAL(ab_dataset_metric_index(d, "flops"), -1);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_write(d, tpath("d.h5")), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_read(tpath("d.h5"), &e), AB_OK);
    CU_ASSERT_EQUAL(e->n, d->n);
    CU_ASSERT_EQUAL(e->n_metrics, d->n_metrics);
    CU_ASSERT_EQUAL(memcmp(e->archs, d->archs, sizeof *d->archs * (size_t)d->n), 0);
    CU_ASSERT_EQUAL(memcmp(e->hashes, d->hashes, sizeof *d->hashes * (size_t)d->n), 0);
    CU_ASSERT_EQUAL(memcmp(e->metrics, d->metrics, sizeof(double) * 1000), 0);
    CU_ASSERT_STRING_EQUAL(e->space->name, "ofa_mbv3");
    /* CSV export reproduces the canonical input byte for byte */
    CU_ASSERT_EQUAL_FATAL(ab_dataset_export_csv(e, tpath("out.csv")), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_fs_read_all(tpath("out.csv"), 1 << 26, &back, &len), AB_OK);
    CU_ASSERT_EQUAL(len, strlen(csv));
    CU_ASSERT_STRING_EQUAL(back, csv);
    free(back);
    free(csv);
    ab_dataset_destroy(&d);
    ab_dataset_destroy(&e);
    ab_space_destroy(&sp);
}

static void test_yaml_space_dataset(void)
{
    struct ab_space *sp = NULL;
    struct ab_dataset *d = NULL, *e = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/macro8.yaml",
             getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data");
    write_file(tpath("m8.csv"),
               "arch,err\n"
               "\"{\"\"space\"\":\"\"macro8\"\",\"\"stages\"\":[[\"\"id\"\",\"\"id\"\"],"
               "[\"\"id\"\",\"\"id\"\",\"\"ir_3x3_t3\"\"],[\"\"id\"\",\"\"id\"\",\"\"id\"\"]]}\",0.5\n");
    CU_ASSERT_EQUAL_FATAL(ab_dataset_import_csv(path, tpath("m8.csv"), &d), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_write(d, tpath("m8.h5")), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_read(tpath("m8.h5"), &e), AB_OK);
    CU_ASSERT_EQUAL(e->space->kind, AB_SPACE_YAML);
    CU_ASSERT_STRING_EQUAL(e->space->name, "macro8");
    CU_ASSERT(ab_arch_equal(&e->archs[0], &d->archs[0]));
    CU_ASSERT_EQUAL(e->metrics[0], 0.5);
    ab_dataset_destroy(&d);
    ab_dataset_destroy(&e);
    ab_space_destroy(&sp);
}

/* Imports text with the first `from` replaced by `to`; expects the error. */
static void expect_import_error(const char *csv, const char *from, const char *to,
                                const char *expect)
{
    struct ab_space *sp = mbv3();
    struct ab_dataset *d = NULL;
    size_t n = strlen(csv) + strlen(to) + 1;
    char *buf = malloc(n), *p;
    strcpy(buf, csv);
    p = strstr(buf, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memmove(p + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
    memcpy(p, to, strlen(to));
    CU_ASSERT_EQUAL(ab_dataset_import_csv_text(sp, buf, strlen(buf), "in.csv", &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(d);
    if (!strstr(ab_err_msg(), expect)) fprintf(stderr, "\n  expected '%s' in: %s\n", expect, ab_err_msg());
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), expect));
    free(buf);
    ab_space_destroy(&sp);
}

static void test_import_errors(void)
{
    struct ab_space *sp = mbv3();
    char *csv = make_csv(sp, 5, 3);
    ab_space_destroy(&sp);
    expect_import_error(csv, "arch,", "archs,", "line 1: no column named 'arch'");
    expect_import_error(csv, "latency_gpu", "acc", "column 'acc' appears twice");
    expect_import_error(csv, "latency_gpu", "latency-gpu", "'latency-gpu' is not a valid metric name");
    /* row 3's acc becomes NaN / empty / text / inf */
    char *row3 = strstr(strstr(strstr(csv, "\n") + 1, "\n") + 1, "\n") + 1;
    char *acc = strstr(row3, "]]}\",") + 5;
    char accv[32];
    snprintf(accv, sizeof accv, "%.*s,", (int)(strchr(acc, ',') - acc), acc);
    char pat[64];
    snprintf(pat, sizeof pat, "]]}\",%s", accv);
    expect_import_error(csv, pat, "]]}\",nan,", "row 3 (line 4), column 'acc': NaN is not allowed");
    expect_import_error(csv, pat, "]]}\",,", "row 3 (line 4), column 'acc': empty value");
    expect_import_error(csv, pat, "]]}\",high,", "column 'acc': 'high' is not a number");
    expect_import_error(csv, pat, "]]}\",-inf,", "an infinite value is not allowed");
    expect_import_error(csv, pat, "]]}\",1,2,", "row 3 (line 4): 4 fields, but the header has 3");
    expect_import_error(csv, "mbconv3_e", "mbconv3_x", "row 1 (line 2), column 'arch'");
    expect_import_error(csv, "\"resolution\"\":", "\"resolution\"\":1", "resolution 1");
    /* a duplicated architecture */
    char *line2 = strchr(csv, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    size_t l2 = (size_t)(line3 - line2);
    char *dup = malloc(strlen(csv) + l2 + 1);
    memcpy(dup, csv, (size_t)(line3 - csv));
    memcpy(dup + (line3 - csv), line2, l2);
    strcpy(dup + (line3 - csv) + l2, line3);
    expect_import_error(dup, "arch", "arch", "row 2 (line 3): the same architecture as row 1");
    expect_import_error("", "", "", "the file is empty");
    expect_import_error("arch,acc\n", "acc", "acc", "no data rows");
    expect_import_error("arch,acc\n\"{\"\"a\"\":1}\",0.1\n", "acc", "acc", "unknown key \"a\"");
    expect_import_error("arch,acc\n\"unterminated,0.1\n", "acc", "acc", "malformed CSV");
    free(dup);
    free(csv);
}

static void test_format_double(void)
{
    const double vals[] = {0.7564, 11.2, 1e-300, 123456789012345678.0, 0.1 + 0.2, -0.0, 5e-324,
                           1.7976931348623157e308, 2.0 / 3.0};
    char buf[40];
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        ab_format_double(vals[i], buf, sizeof buf);
        CU_ASSERT_EQUAL(strtod(buf, NULL), vals[i]);
    }
    ab_format_double(0.7564, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "0.7564");
    ab_format_double(0.1 + 0.2, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "0.30000000000000004");
    ab_format_double(411685376.0, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "411685376");
}

static void test_bad_h5_files(void)
{
    struct ab_dataset *d = NULL;
    struct ab_space *sp = mbv3();
    char *csv = make_csv(sp, 50, 5), *bytes = NULL;
    size_t len = 0;
    hid_t f;
    write_file(tpath("t.csv"), csv);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_import_csv("ofa_mbv3", tpath("t.csv"), &d), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_write(d, tpath("good.h5")), AB_OK);
    ab_dataset_destroy(&d);
    /* truncated to half */
    CU_ASSERT_EQUAL_FATAL(ab_fs_read_all(tpath("good.h5"), 1 << 26, &bytes, &len), AB_OK);
    FILE *t = fopen(tpath("trunc.h5"), "wb");
    fwrite(bytes, 1, len / 2, t);
    fclose(t);
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("trunc.h5"), &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "trunc.h5"));
    CU_ASSERT_PTR_NULL(d);
    /* not HDF5 at all */
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("t.csv"), &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "not an HDF5 file"));
    /* HDF5 of another kind: no format attribute, then another format */
    f = H5Fcreate(tpath("other.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("other.h5"), &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "not an autobuild autobuild-archdata file"));
    f = H5Fcreate(tpath("pred.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_EQUAL(ab_h5_write_identity(f, "autobuild-predictor", 1), AB_OK);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("pred.h5"), &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "'autobuild-predictor' file, not a 'autobuild-archdata'"));
    /* a future version */
    f = H5Fcreate(tpath("future.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_EQUAL(ab_h5_write_identity(f, AB_ARCHDATA_FORMAT, 99), AB_OK);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("future.h5"), &d), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "format_version 99"));
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("missing.h5"), &d), AB_ERR_INPUT);
    free(bytes);
    free(csv);
    ab_space_destroy(&sp);
}

static void test_failed_write_leaves_nothing(void)
{
    struct ab_dataset *d = NULL;
    struct ab_space *sp = mbv3();
    char *csv = make_csv(sp, 20, 9);
    write_file(tpath("w.csv"), csv);
    CU_ASSERT_EQUAL_FATAL(ab_dataset_import_csv("ofa_mbv3", tpath("w.csv"), &d), AB_OK);
    /* an unwritable destination directory */
    CU_ASSERT_NOT_EQUAL(ab_dataset_write(d, "/nonexistent-dir/d.h5"), AB_OK);
    CU_ASSERT_NOT_EQUAL(ab_dataset_export_csv(d, "/nonexistent-dir/d.csv"), AB_OK);
    /* an existing good file survives a failing overwrite attempt */
    CU_ASSERT_EQUAL_FATAL(ab_dataset_write(d, tpath("keep.h5")), AB_OK);
    mkdir(tpath("keep.h5.dir"), 0700);
    CU_ASSERT_NOT_EQUAL(ab_dataset_write(d, tpath("keep.h5.dir")), AB_OK); /* rename onto a dir */
    struct ab_dataset *e = NULL;
    CU_ASSERT_EQUAL(ab_dataset_read(tpath("keep.h5"), &e), AB_OK);
    ab_dataset_destroy(&e);
    /* no temporary files remain */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q 'tmp-'", tmpdir);
    CU_ASSERT_NOT_EQUAL(system(cmd), 0);
    rmdir(tpath("keep.h5.dir"));
    ab_dataset_destroy(&d);
    free(csv);
    ab_space_destroy(&sp);
}

static void cleanup_tmpdir(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void test_setup(void)
{
    ab_h5_init();
    make_tmpdir();
}

static const struct cu_case cases[] = {
    {"setup", test_setup},
    {"import, HDF5 and CSV round trips", test_import_roundtrip},
    {"YAML space datasets", test_yaml_space_dataset},
    {"import errors name row and column", test_import_errors},
    {"shortest exact number form", test_format_double},
    {"truncated and foreign HDF5 files", test_bad_h5_files},
    {"failed writes leave nothing behind", test_failed_write_leaves_nothing},
    {"cleanup", cleanup_tmpdir},
    {NULL, NULL},
};
CU_MAIN("dataset", cases)
