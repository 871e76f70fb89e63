/* SPDX-License-Identifier: MIT
 *
 * This file implements labelled-architecture datasets: CSV import (parsed
 * with libcsv), CSV export, and the HDF5 file format documented in
 * hdf5-schemas/archdata.md.
 */
#include "data/dataset.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "util/fsutil.h"
#include "util/u64map.h"

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

void ab_dataset_destroy(struct ab_dataset **dp)
{
    struct ab_dataset *d;
    if (!dp || !*dp) return;
    d = *dp;
    ab_space_destroy(&d->space);
    for (int m = 0; m < d->n_metrics; m++) free(d->metric_names[m]);
    free(d->metric_names);
    free(d->archs);
    free(d->hashes);
    free(d->metrics);
    free(d);
    *dp = NULL;
}

int ab_dataset_metric_index(const struct ab_dataset *d, const char *name)
{
    for (int m = 0; m < d->n_metrics; m++)
        if (!strcmp(d->metric_names[m], name)) return m;
    return -1;
}

void ab_format_double(double v, char *buf, size_t cap)
{
    /* %.15g prints the shortest form whenever one of <= 15 digits exists. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ---------------------------------------------------------------------- */
/* CSV import                                                              */

struct csv_ctx {
    struct ab_space *sp;
    const char *origin;
    ab_status rc;          /* first error; later rows are ignored */
    long row;              /* data rows seen (1-based after the header) */
    int header_done;
    int n_cols, arch_col;
    char **header;         /* n_cols */
    char **fields;         /* current row */
    int n_fields, cap_fields;
    struct ab_dataset *d;
    long cap_rows;
    struct ab_u64map seen;
};

static int valid_metric_name(const char *s)
{
    if (!*s || strlen(s) > 63) return 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

static void on_field(void *s, size_t len, void *data)
{
    struct csv_ctx *c = data;
    if (c->rc) return;
    if (c->n_fields == c->cap_fields) {
        int nc = c->cap_fields ? c->cap_fields * 2 : 16;
        char **nf = realloc(c->fields, (size_t)nc * sizeof *nf);
        if (!nf) {
            c->rc = ab_err_set(AB_ERR_NOMEM, "out of memory reading %s", c->origin);
            return;
        }
        c->fields = nf;
        c->cap_fields = nc;
    }
    char *f = malloc(len + 1);
    if (!f) {
        c->rc = ab_err_set(AB_ERR_NOMEM, "out of memory reading %s", c->origin);
        return;
    }
    if (len) memcpy(f, s, len);
    f[len] = '\0';
    c->fields[c->n_fields++] = f;
}

static ab_status take_header(struct csv_ctx *c)
{
    ab_status rc = AB_OK;
    struct ab_dataset *d = c->d;
    c->n_cols = c->n_fields;
    c->header = c->fields;
    c->fields = NULL;
    c->n_fields = c->cap_fields = 0;
    c->arch_col = -1;
    /* a UTF-8 byte-order mark before the first name */
    if (c->n_cols > 0 && !strncmp(c->header[0], "\xEF\xBB\xBF", 3))
        memmove(c->header[0], c->header[0] + 3, strlen(c->header[0] + 3) + 1);
    for (int i = 0; i < c->n_cols; i++) {
        for (int j = 0; j < i; j++)
            AB_CHECK(strcmp(c->header[i], c->header[j]), AB_ERR_INPUT,
                     "%s: line 1: column '%.64s' appears twice; rename one", c->origin,
                     c->header[i]);
        if (!strcmp(c->header[i], "arch")) c->arch_col = i;
    }
    AB_CHECK(c->arch_col >= 0, AB_ERR_INPUT,
             "%s: line 1: no column named 'arch'; the header must name an 'arch' column "
             "holding each architecture's JSON", c->origin);
    d->n_metrics = c->n_cols - 1;
    d->metric_names = calloc((size_t)c->n_cols, sizeof(char *));
    AB_CHECK_ALLOC(d->metric_names);
    for (int i = 0, m = 0; i < c->n_cols; i++) {
        if (i == c->arch_col) continue;
        AB_CHECK(valid_metric_name(c->header[i]), AB_ERR_INPUT,
                 "%s: line 1: column '%.64s' is not a valid metric name; use letters, "
                 "digits and _ (not starting with a digit) so equations can refer to it",
                 c->origin, c->header[i]);
        d->metric_names[m] = strdup(c->header[i]);
        AB_CHECK_ALLOC(d->metric_names[m]);
        m++;
    }
cleanup:
    return rc;
}

static ab_status grow_rows(struct csv_ctx *c)
{
    struct ab_dataset *d = c->d;
    if (d->n < c->cap_rows) return AB_OK;
    long nc = c->cap_rows ? c->cap_rows * 2 : 1024;
    struct ab_arch *na = realloc(d->archs, (size_t)nc * sizeof *na);
    if (na) d->archs = na;
    uint64_t *nh = realloc(d->hashes, (size_t)nc * sizeof *nh);
    if (nh) d->hashes = nh;
    double *nm = realloc(d->metrics, (size_t)nc * (size_t)(d->n_metrics ? d->n_metrics : 1) *
                                         sizeof *nm);
    if (nm) d->metrics = nm;
    if (!na || !nh || !nm) return ab_err_set(AB_ERR_NOMEM, "out of memory at row %ld", d->n);
    c->cap_rows = nc;
    return AB_OK;
}

static ab_status take_row(struct csv_ctx *c)
{
    ab_status rc = AB_OK;
    struct ab_dataset *d = c->d;
    long row = ++c->row;
    int64_t first;
    AB_CHECK(c->n_fields == c->n_cols, AB_ERR_INPUT,
             "%s: row %ld (line %ld): %d fields, but the header has %d columns", c->origin,
             row, row + 1, c->n_fields, c->n_cols);
    AB_CALL(grow_rows(c));
    struct ab_arch *a = &d->archs[d->n];
    if (ab_arch_parse_json(c->sp, c->fields[c->arch_col], a) != AB_OK) {
        rc = ab_err_prefix("%s: row %ld (line %ld), column 'arch'", c->origin, row, row + 1);
        goto cleanup;
    }
    d->hashes[d->n] = ab_arch_hash(c->sp, a);
    int put = ab_u64map_put(&c->seen, d->hashes[d->n], d->n, &first);
    AB_CHECK(put >= 0, AB_ERR_NOMEM, "out of memory");
    AB_CHECK(put == 0 || !ab_arch_equal(a, &d->archs[first]), AB_ERR_INPUT,
             "%s: row %ld (line %ld): the same architecture as row %lld; remove or merge "
             "the duplicate", c->origin, row, row + 1, (long long)first + 1);
    for (int i = 0, m = 0; i < c->n_cols; i++) {
        if (i == c->arch_col) continue;
        const char *f = c->fields[i];
        char *end;
        double v;
        while (*f == ' ' || *f == '\t') f++;
        AB_CHECK(*f, AB_ERR_INPUT, "%s: row %ld (line %ld), column '%s': empty value; every "
                 "metric needs a number", c->origin, row, row + 1, d->metric_names[m]);
        errno = 0;
        v = strtod(f, &end);
        while (*end == ' ' || *end == '\t') end++;
        AB_CHECK(end != f && !*end, AB_ERR_INPUT,
                 "%s: row %ld (line %ld), column '%s': '%.32s' is not a number", c->origin,
                 row, row + 1, d->metric_names[m], c->fields[i]);
        AB_CHECK(isfinite(v), AB_ERR_INPUT,
                 "%s: row %ld (line %ld), column '%s': %s is not allowed; remove the row or "
                 "give a finite value", c->origin, row, row + 1, d->metric_names[m],
                 isnan(v) ? "NaN" : "an infinite value");
        d->metrics[(size_t)d->n * (size_t)d->n_metrics + (size_t)m] = v;
        m++;
    }
    d->n++;
cleanup:
    return rc;
}

static void on_row(int term, void *data)
{
    struct csv_ctx *c = data;
    (void)term;
    if (!c->rc) c->rc = c->header_done ? take_row(c) : take_header(c);
    c->header_done = 1;
    for (int i = 0; i < c->n_fields; i++) free(c->fields[i]);
    c->n_fields = 0;
}

ab_status ab_dataset_import_csv_text(struct ab_space *sp, const char *text, size_t len,
                                     const char *origin, struct ab_dataset **out)
{
    ab_status rc = AB_OK;
    struct csv_parser p;
    int have_parser = 0;
    struct csv_ctx c;
    memset(&c, 0, sizeof c);
    *out = NULL;
    c.sp = sp;
    c.origin = origin;
    c.d = calloc(1, sizeof *c.d);
    AB_CHECK_ALLOC(c.d);
    AB_CALL(ab_u64map_init(&c.seen, 1024));
    AB_CHECK(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) == 0, AB_ERR_NOMEM, "out of memory");
    have_parser = 1;
    if (csv_parse(&p, text, len, on_field, on_row, &c) != len && !c.rc)
        AB_FAIL(AB_ERR_INPUT, "%s: row %ld (line %ld): malformed CSV: %s", origin, c.row + 1,
                c.row + 2, csv_strerror(csv_error(&p)));
    if (csv_fini(&p, on_field, on_row, &c) != 0 && !c.rc)
        AB_FAIL(AB_ERR_INPUT, "%s: malformed CSV at the end of the file: %s", origin,
                csv_strerror(csv_error(&p)));
    if (c.rc) {
        rc = c.rc;
        goto cleanup;
    }
    AB_CHECK(c.header_done, AB_ERR_INPUT, "%s: the file is empty; expected a header line "
             "with an 'arch' column", origin);
    AB_CHECK(c.d->n > 0, AB_ERR_INPUT, "%s: no data rows after the header", origin);
    *out = c.d;
    c.d = NULL;
cleanup:
    if (have_parser) csv_free(&p);
    for (int i = 0; i < c.n_fields; i++) free(c.fields[i]);
    free(c.fields);
    for (int i = 0; i < c.n_cols; i++) free(c.header[i]);
    free(c.header);
    ab_u64map_free(&c.seen);
    if (c.d) c.d->space = NULL; /* borrowed */
    ab_dataset_destroy(&c.d);
    return rc;
}

ab_status ab_dataset_import_csv(const char *space, const char *csv_path,
                                struct ab_dataset **out)
{
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    AB_CALL(ab_space_open(space, &sp));
    AB_CALL(ab_fs_read_all(csv_path, (size_t)1 << 34, &text, &len));
    AB_CALL(ab_dataset_import_csv_text(sp, text, len, csv_path, out));
    (*out)->space = sp;
    sp = NULL;
cleanup:
    free(text);
    ab_space_destroy(&sp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* CSV export                                                              */

ab_status ab_dataset_write_csv_stream(const struct ab_dataset *d, FILE *f, const char *path)
{
    ab_status rc = AB_OK;
    char num[40];
    char *json = NULL;
    size_t cap = 0;
    fputs("arch", f);
    for (int m = 0; m < d->n_metrics; m++) fprintf(f, ",%s", d->metric_names[m]);
    fputc('\n', f);
    for (long i = 0; i < d->n; i++) {
        size_t need = ab_arch_format_json(d->space, &d->archs[i], json, cap);
        if (need >= cap) {
            free(json);
            cap = need + 1;
            json = malloc(cap);
            AB_CHECK_ALLOC(json);
            ab_arch_format_json(d->space, &d->archs[i], json, cap);
        }
        AB_CHECK(csv_fwrite(f, json, need) == 0, AB_ERR_IO, "%s: write failed", path);
        for (int m = 0; m < d->n_metrics; m++) {
            ab_format_double(d->metrics[(size_t)i * (size_t)d->n_metrics + (size_t)m], num,
                             sizeof num);
            fputc(',', f);
            fputs(num, f);
        }
        fputc('\n', f);
    }
    AB_CHECK(!ferror(f) && fflush(f) == 0, AB_ERR_IO, "%s: write failed: %s", path,
             strerror(errno));
cleanup:
    free(json);
    return rc;
}

ab_status ab_dataset_export_csv(const struct ab_dataset *d, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096];
    FILE *f = NULL;
    if (!strcmp(path, "-")) return ab_dataset_write_csv_stream(d, stdout, "standard output");
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    f = fopen(tmp, "w");
    AB_CHECK(f != NULL, AB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    AB_CALL(ab_dataset_write_csv_stream(d, f, path));
    AB_CHECK(fclose(f) == 0, AB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    f = NULL;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    if (f) fclose(f);
    if (rc && f == NULL) unlink(tmp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* HDF5                                                                    */

static ab_status write_h5(const struct ab_dataset *d, hid_t f)
{
    ab_status rc = AB_OK;
    hid_t sp = H5I_INVALID_HID, ds = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hid_t st = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    char **json = calloc((size_t)d->n + 1, sizeof *json);
    const char **names = calloc((size_t)d->n_metrics + 1, sizeof *names);
    AB_CHECK_ALLOC(json);
    AB_CHECK_ALLOC(names);
    AB_CALL(ab_h5_write_identity(f, AB_ARCHDATA_FORMAT, AB_ARCHDATA_VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "space", d->space->name));
    AB_CALL(ab_h5_write_str_attr(f, "space_definition", d->space->definition));
    AB_CALL(ab_h5_write_i64_attr(f, "n_archs", d->n));
    for (long i = 0; i < d->n; i++) {
        json[i] = ab_arch_to_json(d->space, &d->archs[i]);
        AB_CHECK_ALLOC(json[i]);
    }
    AB_CALL(ab_h5_write_strings(f, "arch", (const char *const *)json, d->n));
    {
        hsize_t dims[1] = {(hsize_t)d->n};
        AB_H5(sp = H5Screate_simple(1, dims, NULL), "arch_hash: space");
        AB_H5(ds = H5Dcreate2(f, "arch_hash", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT), "arch_hash: create");
        AB_H5(H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->hashes),
              "arch_hash: write");
        ab_h5_close(&ds);
        ab_h5_close(&sp);
    }
    {
        hsize_t dims[2] = {(hsize_t)d->n, (hsize_t)d->n_metrics};
        AB_H5(sp = H5Screate_simple(2, dims, NULL), "metrics: space");
        AB_H5(ds = H5Dcreate2(f, "metrics", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT), "metrics: create");
        if (d->n_metrics > 0)
            AB_H5(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->metrics),
                  "metrics: write");
        ab_h5_close(&sp);
        hsize_t md[1] = {(hsize_t)d->n_metrics};
        for (int m = 0; m < d->n_metrics; m++) names[m] = d->metric_names[m];
        AB_H5(st = H5Tcopy(H5T_C_S1), "metrics: names type");
        AB_H5(H5Tset_size(st, H5T_VARIABLE), "metrics: names type");
        AB_H5(H5Tset_cset(st, H5T_CSET_UTF8), "metrics: names type");
        AB_H5(sp = H5Screate_simple(1, md, NULL), "metrics: names space");
        AB_H5(a = H5Acreate2(ds, "names", st, sp, H5P_DEFAULT, H5P_DEFAULT), "metrics: names");
        if (d->n_metrics > 0) AB_H5(H5Awrite(a, st, names), "metrics: names write");
    }
cleanup:
    if (json)
        for (long i = 0; i < d->n; i++) free(json[i]);
    free(json);
    free(names);
    ab_h5_close(&dcpl);
    ab_h5_close(&a);
    ab_h5_close(&st);
    ab_h5_close(&ds);
    ab_h5_close(&sp);
    return rc;
}

ab_status ab_dataset_write(const struct ab_dataset *d, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096];
    hid_t f = H5I_INVALID_HID;
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create",
          tmp);
    AB_CALL(write_h5(d, f));
    AB_H5(H5Fclose(f), "%s: cannot close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    if (rc) {
        ab_h5_close(&f);
        unlink(tmp);
    }
    return rc;
}

static ab_status read_metrics(hid_t f, struct ab_dataset *d, const char *path)
{
    ab_status rc = AB_OK;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hid_t st = H5I_INVALID_HID, asp = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    char **names = NULL;
    AB_CHECK(H5Lexists(f, "metrics", H5P_DEFAULT) > 0, AB_ERR_INPUT,
             "%s: missing dataset 'metrics'", path);
    AB_H5R(ds = H5Dopen2(f, "metrics", H5P_DEFAULT), "%s: metrics", path);
    AB_H5R(sp = H5Dget_space(ds), "%s: metrics", path);
    AB_CHECK(H5Sget_simple_extent_ndims(sp) == 2, AB_ERR_INPUT,
             "%s: 'metrics' must be two-dimensional (archs x metrics)", path);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    AB_CHECK((long)dims[0] == d->n && dims[1] < 4096, AB_ERR_INPUT,
             "%s: 'metrics' has %llu rows for %ld architectures", path,
             (unsigned long long)dims[0], d->n);
    d->n_metrics = (int)dims[1];
    d->metrics = malloc(sizeof(double) * (size_t)(d->n ? d->n : 1) * (dims[1] ? dims[1] : 1));
    d->metric_names = calloc(dims[1] + 1, sizeof(char *));
    AB_CHECK_ALLOC(d->metrics);
    AB_CHECK_ALLOC(d->metric_names);
    if (d->n > 0 && d->n_metrics > 0)
        AB_H5R(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->metrics),
               "%s: reading 'metrics'", path);
    AB_CHECK(H5Aexists(ds, "names") > 0, AB_ERR_INPUT,
             "%s: 'metrics' has no 'names' attribute", path);
    AB_H5R(a = H5Aopen(ds, "names", H5P_DEFAULT), "%s: metrics names", path);
    AB_H5R(asp = H5Aget_space(a), "%s: metrics names", path);
    AB_CHECK(H5Sget_simple_extent_npoints(asp) == (hssize_t)dims[1], AB_ERR_INPUT,
             "%s: 'metrics' names do not match its columns", path);
    names = calloc(dims[1] + 1, sizeof *names);
    AB_CHECK_ALLOC(names);
    AB_H5(st = H5Tcopy(H5T_C_S1), "type");
    AB_H5(H5Tset_size(st, H5T_VARIABLE), "type");
    AB_H5(H5Tset_cset(st, H5T_CSET_UTF8), "type");
    if (dims[1] > 0) AB_H5R(H5Aread(a, st, names), "%s: metrics names", path);
    for (hsize_t m = 0; m < dims[1]; m++) {
        AB_CHECK(names[m] && valid_metric_name(names[m]), AB_ERR_INPUT,
                 "%s: metric name %llu is invalid", path, (unsigned long long)m + 1);
        d->metric_names[m] = strdup(names[m]);
        AB_CHECK_ALLOC(d->metric_names[m]);
    }
cleanup:
    if (names && dims[1] > 0 && asp >= 0 && st >= 0) H5Dvlen_reclaim(st, asp, H5P_DEFAULT, names);
    free(names);
    ab_h5_close(&st);
    ab_h5_close(&asp);
    ab_h5_close(&a);
    ab_h5_close(&sp);
    ab_h5_close(&ds);
    return rc;
}

ab_status ab_dataset_read(const char *path, struct ab_dataset **out)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    struct ab_dataset *d = NULL;
    char *def = NULL, **json = NULL;
    long n = 0;
    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, AB_ARCHDATA_FORMAT, AB_ARCHDATA_VERSION, &f, NULL));
    d = calloc(1, sizeof *d);
    AB_CHECK_ALLOC(d);
    if (ab_h5_read_str_attr(f, "space_definition", &def) != AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    if (ab_space_from_definition(def, path, &d->space) != AB_OK) {
        rc = ab_err_prefix("%s: the stored space definition", path);
        goto cleanup;
    }
    if (ab_h5_read_strings(f, "arch", &n, &json) != AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    d->n = n;
    d->archs = malloc(sizeof *d->archs * (size_t)(n ? n : 1));
    d->hashes = malloc(sizeof *d->hashes * (size_t)(n ? n : 1));
    AB_CHECK_ALLOC(d->archs);
    AB_CHECK_ALLOC(d->hashes);
    for (long i = 0; i < n; i++) {
        if (ab_arch_parse_json(d->space, json[i], &d->archs[i]) != AB_OK) {
            rc = ab_err_prefix("%s: arch %ld", path, i + 1);
            goto cleanup;
        }
        d->hashes[i] = ab_arch_hash(d->space, &d->archs[i]);
    }
    AB_CALL(read_metrics(f, d, path));
    *out = d;
    d = NULL;
cleanup:
    ab_h5_free_strings(json, n);
    free(def);
    ab_h5_close(&ds);
    ab_h5_close(&f);
    ab_dataset_destroy(&d);
    return rc;
}
