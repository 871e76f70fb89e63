/* SPDX-License-Identifier: MIT
 *
 * This file implements the result store (store.h): the in-memory record of
 * a search, its append-only CRC-checked journal, and the HDF5 snapshot.
 *
 * Journal: one record per line, "<kind> <crc32 hex> <json>\n", kind H
 * (header: format, version, identity, metric names), E (an evaluation), I
 * (an iteration's state) or C (the search completed). The CRC covers the
 * JSON text. A line that is incomplete or fails its CRC ends the journal:
 * it is what kill -9 in the middle of a write leaves.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "util/fsutil.h"
#include "util/log.h"

double ab_store_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* ---- CRC-32 (IEEE, reflected) ------------------------------------------ */

static uint32_t crc_table[256];
static int crc_ready;

uint32_t ab_store_crc32(const char *s, size_t n)
{
    uint32_t c = 0xffffffffu;
    if (!crc_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;
            for (int k = 0; k < 8; k++) v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            crc_table[i] = v;
        }
        crc_ready = 1;
    }
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ (uint8_t)s[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- a growable text buffer --------------------------------------------- */

struct buf {
    char *s;
    size_t n, cap;
    int oom;
};

static void bput(struct buf *b, const char *t, size_t len)
{
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + len + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, t, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        bput(b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    bput(b, big, (size_t)k);
    free(big);
}

static void bstr(struct buf *b, const char *s)
{
    const char *run = s;
    bput(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\' || c < 0x20) {
            char e[8];
            bput(b, run, (size_t)(s - run));
            if (c == '"' || c == '\\') {
                e[0] = '\\';
                e[1] = (char)c;
                bput(b, e, 2);
            } else {
                snprintf(e, sizeof e, "\\u%04x", c);
                bput(b, e, 6);
            }
            run = s + 1;
        }
    }
    bput(b, run, (size_t)(s - run));
    bput(b, "\"", 1);
}

static void bnum(struct buf *b, double v)
{
    if (!isfinite(v))
        bput(b, "null", 4);
    else
        bprintf(b, "%.17g", v);
}

/* ---- records ------------------------------------------------------------- */

static void free_eval(struct ab_store_eval *e)
{
    free(e->arch);
    free(e->host);
    free(e->evaluator);
    free(e->metrics);
    free(e->error);
}

static void free_store(struct ab_store *st)
{
    for (long i = 0; i < st->n; i++) free_eval(&st->ev[i]);
    free(st->ev);
    for (long i = 0; i < st->n_iter; i++) free(st->it[i].front);
    free(st->it);
    for (int i = 0; i < st->n_metrics; i++) free(st->metrics[i]);
    free(st->metrics);
    ab_u64map_free(&st->by_hash);
    free(st->path);
    free(st->journal_path);
    free(st->identity);
    free(st);
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

/* Adds to memory only. */
static ab_status keep_eval(struct ab_store *st, const struct ab_store_eval *e)
{
    ab_status rc = AB_OK;
    struct ab_store_eval *c;
    if (st->n == st->cap) {
        long cap = st->cap ? st->cap * 2 : 1024;
        struct ab_store_eval *ev = realloc(st->ev, sizeof *ev * (size_t)cap);
        AB_CHECK_ALLOC(ev);
        st->ev = ev;
        st->cap = cap;
    }
    c = &st->ev[st->n];
    memset(c, 0, sizeof *c);
    *c = *e;
    c->arch = dupstr(e->arch);
    c->host = dupstr(e->host);
    c->evaluator = dupstr(e->evaluator);
    c->error = dupstr(e->error);
    c->metrics = malloc(sizeof *c->metrics * (size_t)(st->n_metrics ? st->n_metrics : 1));
    if (!c->arch || !c->host || !c->evaluator || !c->error || !c->metrics) {
        free_eval(c);
        AB_FAIL(AB_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < st->n_metrics; k++) c->metrics[k] = e->metrics ? e->metrics[k] : NAN;
    AB_CHECK(ab_u64map_put(&st->by_hash, e->hash, st->n, NULL) >= 0, AB_ERR_NOMEM,
             "out of memory");
    st->n++;
cleanup:
    return rc;
}

static ab_status keep_iter(struct ab_store *st, const struct ab_store_iter *it)
{
    ab_status rc = AB_OK;
    struct ab_store_iter *c;
    if (st->n_iter == st->cap_iter) {
        long cap = st->cap_iter ? st->cap_iter * 2 : 16;
        struct ab_store_iter *v = realloc(st->it, sizeof *v * (size_t)cap);
        AB_CHECK_ALLOC(v);
        st->it = v;
        st->cap_iter = cap;
    }
    c = &st->it[st->n_iter];
    *c = *it;
    c->front = malloc(sizeof *c->front * (size_t)(it->n_front ? it->n_front : 1));
    AB_CHECK_ALLOC(c->front);
    if (it->n_front) memcpy(c->front, it->front, sizeof *c->front * (size_t)it->n_front);
    st->n_iter++;
cleanup:
    return rc;
}

long ab_store_find(const struct ab_store *st, uint64_t hash)
{
    int64_t v;
    return ab_u64map_get(&st->by_hash, hash, &v) ? (long)v : -1;
}

/* ---- journal writing ------------------------------------------------------ */

static ab_status write_line(struct ab_store *st, char kind, const char *json, size_t len)
{
    char head[16];
    snprintf(head, sizeof head, "%c %08x ", kind, ab_store_crc32(json, len));
    if (fwrite(head, 1, 11, st->journal) != 11 || fwrite(json, 1, len, st->journal) != len ||
        fputc('\n', st->journal) == EOF)
        return ab_err_set(AB_ERR_IO, "%s: cannot write: %s", st->journal_path, strerror(errno));
    st->journal_pending++;
    return AB_OK;
}

static void eval_json(const struct ab_store *st, const struct ab_store_eval *e, struct buf *b)
{
    b->n = 0;
    bprintf(b, "{\"seq\":%ld,\"it\":%d,\"hash\":\"%016llx\",\"status\":%d,\"rank\":%d,", e->seq,
            e->iteration, (unsigned long long)e->hash, e->status, e->rank);
    bput(b, "\"t0\":", 5);
    bnum(b, e->t_start);
    bput(b, ",\"t1\":", 6);
    bnum(b, e->t_end);
    bput(b, ",\"m\":[", 6);
    for (int k = 0; k < st->n_metrics; k++) {
        if (k) bput(b, ",", 1);
        bnum(b, e->metrics ? e->metrics[k] : NAN);
    }
    bput(b, "],\"host\":", 9);
    bstr(b, e->host ? e->host : "");
    bput(b, ",\"ev\":", 6);
    bstr(b, e->evaluator ? e->evaluator : "");
    bput(b, ",\"err\":", 7);
    bstr(b, e->error ? e->error : "");
    bput(b, ",\"arch\":", 8);
    bstr(b, e->arch ? e->arch : "");
    bput(b, "}", 1);
}

static void iter_json(const struct ab_store_iter *it, struct buf *b)
{
    b->n = 0;
    bprintf(b, "{\"it\":%d,\"evals\":%ld,\"unique\":%ld,\"failed\":%ld,\"hv\":", it->iteration,
            it->evaluations, it->unique, it->failed);
    bnum(b, it->hypervolume);
    bput(b, ",\"time\":", 8);
    bnum(b, it->time);
    bput(b, ",\"front\":[", 10);
    for (long i = 0; i < it->n_front; i++) bprintf(b, i ? ",%ld" : "%ld", it->front[i]);
    bput(b, "]}", 2);
}

ab_status ab_store_add(struct ab_store *st, const struct ab_store_eval *e)
{
    ab_status rc = AB_OK;
    struct buf b = {0};
    AB_CALL(keep_eval(st, e));
    if (st->writable) {
        eval_json(st, e, &b);
        AB_CHECK(!b.oom, AB_ERR_NOMEM, "out of memory");
        AB_CALL(write_line(st, 'E', b.s, b.n));
    }
cleanup:
    free(b.s);
    return rc;
}

ab_status ab_store_add_iteration(struct ab_store *st, const struct ab_store_iter *it)
{
    ab_status rc = AB_OK;
    struct buf b = {0};
    for (long i = 0; i < st->n_iter; i++)
        if (st->it[i].iteration == it->iteration) return AB_OK;
    AB_CALL(keep_iter(st, it));
    if (st->writable) {
        iter_json(it, &b);
        AB_CHECK(!b.oom, AB_ERR_NOMEM, "out of memory");
        AB_CALL(write_line(st, 'I', b.s, b.n));
    }
cleanup:
    free(b.s);
    return rc;
}

void ab_store_set_complete(struct ab_store *st, int complete)
{
    if (complete && !st->status_complete && st->writable) write_line(st, 'C', "{}", 2);
    st->status_complete = complete;
}

ab_status ab_store_sync(struct ab_store *st, int durable)
{
    if (!st->writable || !st->journal) return AB_OK;
    if (fflush(st->journal) != 0)
        return ab_err_set(AB_ERR_IO, "%s: cannot write: %s", st->journal_path, strerror(errno));
    if (durable && fsync(fileno(st->journal)) != 0)
        return ab_err_set(AB_ERR_IO, "%s: fsync: %s", st->journal_path, strerror(errno));
    st->journal_pending = 0;
    st->last_sync = ab_store_now();
    return AB_OK;
}

/* ---- journal reading ------------------------------------------------------ */

static ab_status parse_header(struct ab_store *st, json_t *j, const char *path)
{
    json_t *ms = json_object_get(j, "metrics");
    const char *fmt = json_string_value(json_object_get(j, "format"));
    const char *id = json_string_value(json_object_get(j, "identity"));
    if (!fmt || strcmp(fmt, AB_STORE_FORMAT) || !id || !json_is_array(ms))
        return ab_err_set(AB_ERR_INPUT, "%s: not an autobuild store journal", path);
    if (json_integer_value(json_object_get(j, "version")) > AB_STORE_VERSION)
        return ab_err_set(AB_ERR_INPUT, "%s: written by a newer autobuild (store version %lld)",
                          path, json_integer_value(json_object_get(j, "version")));
    st->identity = strdup(id);
    st->n_metrics = (int)json_array_size(ms);
    st->metrics = calloc((size_t)st->n_metrics + 1, sizeof *st->metrics);
    if (!st->identity || !st->metrics) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < st->n_metrics; k++) {
        st->metrics[k] = dupstr(json_string_value(json_array_get(ms, (size_t)k)));
        if (!st->metrics[k]) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    return AB_OK;
}

static double jnum(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static ab_status parse_eval(struct ab_store *st, json_t *j)
{
    struct ab_store_eval e = {0};
    double m[64];
    json_t *ms = json_object_get(j, "m");
    const char *h = json_string_value(json_object_get(j, "hash"));
    if (!h || !json_is_array(ms) || (int)json_array_size(ms) != st->n_metrics ||
        st->n_metrics > 64)
        return ab_err_set(AB_ERR_INPUT, "bad evaluation record");
    e.seq = (long)json_integer_value(json_object_get(j, "seq"));
    e.iteration = (int)json_integer_value(json_object_get(j, "it"));
    e.hash = strtoull(h, NULL, 16);
    e.status = (int)json_integer_value(json_object_get(j, "status"));
    e.rank = (int)json_integer_value(json_object_get(j, "rank"));
    e.t_start = jnum(json_object_get(j, "t0"));
    e.t_end = jnum(json_object_get(j, "t1"));
    for (int k = 0; k < st->n_metrics; k++) m[k] = jnum(json_array_get(ms, (size_t)k));
    e.metrics = m;
    e.host = (char *)json_string_value(json_object_get(j, "host"));
    e.evaluator = (char *)json_string_value(json_object_get(j, "ev"));
    e.error = (char *)json_string_value(json_object_get(j, "err"));
    e.arch = (char *)json_string_value(json_object_get(j, "arch"));
    if (ab_store_find(st, e.hash) >= 0) return AB_OK; /* defensive: keep the first */
    return keep_eval(st, &e);
}

static ab_status parse_iter(struct ab_store *st, json_t *j)
{
    ab_status rc = AB_OK;
    struct ab_store_iter it = {0};
    json_t *f = json_object_get(j, "front");
    it.iteration = (int)json_integer_value(json_object_get(j, "it"));
    it.evaluations = (long)json_integer_value(json_object_get(j, "evals"));
    it.unique = (long)json_integer_value(json_object_get(j, "unique"));
    it.failed = (long)json_integer_value(json_object_get(j, "failed"));
    it.hypervolume = jnum(json_object_get(j, "hv"));
    it.time = jnum(json_object_get(j, "time"));
    it.n_front = json_is_array(f) ? (long)json_array_size(f) : 0;
    it.front = malloc(sizeof *it.front * (size_t)(it.n_front ? it.n_front : 1));
    AB_CHECK_ALLOC(it.front);
    for (long i = 0; i < it.n_front; i++)
        it.front[i] = (long)json_integer_value(json_array_get(f, (size_t)i));
    for (long i = 0; i < st->n_iter; i++)
        if (st->it[i].iteration == it.iteration) goto cleanup;
    AB_CALL(keep_iter(st, &it));
cleanup:
    free(it.front);
    return rc;
}

/* Eight hex digits (the text need not be NUL-terminated). */
static int parse_hex8(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 1;
}

/* Parses journal text; *valid_len receives the length of its valid prefix. */
static ab_status parse_journal(struct ab_store *st, const char *text, size_t len,
                               const char *path, size_t *valid_len)
{
    ab_status rc = AB_OK;
    size_t at = 0;
    long line = 0;
    *valid_len = 0;
    while (at < len) {
        char *nl = memchr(text + at, '\n', len - at);
        char kind;
        unsigned crc;
        json_t *j;
        json_error_t jerr;
        size_t n;
        line++;
        if (!nl) break; /* torn last line */
        n = (size_t)(nl - (text + at));
        if (n < 12 || text[at + 1] != ' ' || text[at + 10] != ' ' ||
            !parse_hex8(text + at + 2, &crc) || ab_store_crc32(text + at + 11, n - 11) != crc)
            break;
        kind = text[at];
        j = json_loadb(text + at + 11, n - 11, 0, &jerr);
        if (!j) break;
        if (line == 1) {
            if (kind != 'H') {
                json_decref(j);
                AB_FAIL(AB_ERR_INPUT, "%s: not an autobuild store journal", path);
            }
            rc = parse_header(st, j, path);
        } else if (kind == 'E') {
            rc = parse_eval(st, j);
        } else if (kind == 'I') {
            rc = parse_iter(st, j);
        } else if (kind == 'C') {
            st->status_complete = 1;
        }
        json_decref(j);
        if (rc == AB_ERR_INPUT) {
            ab_err_prefix("%s: line %ld", path, line);
            goto cleanup;
        }
        if (rc) goto cleanup;
        at += n + 1;
        *valid_len = at;
    }
    AB_CHECK(st->identity, AB_ERR_INPUT, "%s: empty or damaged store journal (no header)", path);
cleanup:
    return rc;
}

static ab_status read_journal(struct ab_store *st, const char *path, size_t *valid_len)
{
    char *text = NULL;
    size_t len = 0;
    *valid_len = 0;
    AB_TRY(ab_fs_read_all(path, (size_t)1 << 40, &text, &len));
    ab_status rc = parse_journal(st, text, len, path, valid_len);
    free(text);
    return rc;
}

/* ---- snapshot (HDF5) ------------------------------------------------------- */

static ab_status write_ds(hid_t loc, const char *name, hid_t ft, hid_t mt, const void *v, int rank,
                          const hsize_t *dims)
{
    ab_status rc = AB_OK;
    hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID, pl = H5I_INVALID_HID;
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    AB_H5(s = H5Screate_simple(rank, dims, NULL), "%s", name);
    AB_H5(pl = H5Pcreate(H5P_DATASET_CREATE), "%s", name);
    AB_H5(d = H5Dcreate2(loc, name, ft, s, H5P_DEFAULT, pl, H5P_DEFAULT), "%s", name);
    if (total > 0) AB_H5(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "%s", name);
cleanup:
    ab_h5_close(&pl);
    ab_h5_close(&d);
    ab_h5_close(&s);
    return rc;
}

static ab_status snapshot_evals(struct ab_store *st, hid_t f)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    long n = st->n;
    size_t nn = (size_t)(n ? n : 1);
    int64_t *i64 = malloc(sizeof *i64 * nn);
    uint64_t *u64 = malloc(sizeof *u64 * nn);
    int32_t *i32 = malloc(sizeof *i32 * nn);
    double *dbl = malloc(sizeof *dbl * nn * (size_t)(st->n_metrics > 1 ? st->n_metrics : 1));
    const char **str = malloc(sizeof *str * nn);
    hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, (hsize_t)st->n_metrics};
    AB_CHECK(i64 && u64 && i32 && dbl && str, AB_ERR_NOMEM, "out of memory");
    AB_H5(g = H5Gcreate2(f, "evaluations", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group");
    for (long i = 0; i < n; i++) i64[i] = st->ev[i].seq;
    AB_CALL(write_ds(g, "seq", H5T_STD_I64LE, H5T_NATIVE_INT64, i64, 1, d1));
    for (long i = 0; i < n; i++) i32[i] = st->ev[i].iteration;
    AB_CALL(write_ds(g, "iteration", H5T_STD_I32LE, H5T_NATIVE_INT32, i32, 1, d1));
    for (long i = 0; i < n; i++) u64[i] = st->ev[i].hash;
    AB_CALL(write_ds(g, "hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, u64, 1, d1));
    for (long i = 0; i < n; i++) i32[i] = st->ev[i].status;
    AB_CALL(write_ds(g, "status", H5T_STD_I32LE, H5T_NATIVE_INT32, i32, 1, d1));
    for (long i = 0; i < n; i++) i32[i] = st->ev[i].rank;
    AB_CALL(write_ds(g, "rank", H5T_STD_I32LE, H5T_NATIVE_INT32, i32, 1, d1));
    for (long i = 0; i < n; i++) dbl[i] = st->ev[i].t_start;
    AB_CALL(write_ds(g, "t_start", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dbl, 1, d1));
    for (long i = 0; i < n; i++) dbl[i] = st->ev[i].t_end;
    AB_CALL(write_ds(g, "t_end", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dbl, 1, d1));
    for (long i = 0; i < n; i++)
        for (int k = 0; k < st->n_metrics; k++)
            dbl[(size_t)i * (size_t)st->n_metrics + (size_t)k] = st->ev[i].metrics[k];
    AB_CALL(write_ds(g, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dbl, 2, d2));
    for (long i = 0; i < n; i++) str[i] = st->ev[i].arch;
    AB_CALL(ab_h5_write_strings(g, "arch", str, n));
    for (long i = 0; i < n; i++) str[i] = st->ev[i].host;
    AB_CALL(ab_h5_write_strings(g, "host", str, n));
    for (long i = 0; i < n; i++) str[i] = st->ev[i].evaluator;
    AB_CALL(ab_h5_write_strings(g, "evaluator", str, n));
    for (long i = 0; i < n; i++) str[i] = st->ev[i].error;
    AB_CALL(ab_h5_write_strings(g, "error", str, n));
cleanup:
    ab_h5_close(&g);
    free(i64);
    free(u64);
    free(i32);
    free(dbl);
    free(str);
    return rc;
}

static ab_status snapshot_iters(struct ab_store *st, hid_t f)
{
    ab_status rc = AB_OK;
    hid_t g = H5I_INVALID_HID;
    long n = st->n_iter, nf = 0;
    size_t nn = (size_t)(n ? n : 1);
    int64_t *a = malloc(sizeof *a * nn), *ptr = malloc(sizeof *ptr * (nn + 1)), *fr = NULL;
    double *d = malloc(sizeof *d * nn);
    hsize_t d1[1] = {(hsize_t)n}, dp[1] = {(hsize_t)n + 1}, df[1];
    AB_CHECK(a && ptr && d, AB_ERR_NOMEM, "out of memory");
    AB_H5(g = H5Gcreate2(f, "iterations", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group");
    for (long i = 0; i < n; i++) a[i] = st->it[i].iteration;
    AB_CALL(write_ds(g, "iteration", H5T_STD_I64LE, H5T_NATIVE_INT64, a, 1, d1));
    for (long i = 0; i < n; i++) a[i] = st->it[i].evaluations;
    AB_CALL(write_ds(g, "evaluations", H5T_STD_I64LE, H5T_NATIVE_INT64, a, 1, d1));
    for (long i = 0; i < n; i++) a[i] = st->it[i].unique;
    AB_CALL(write_ds(g, "unique", H5T_STD_I64LE, H5T_NATIVE_INT64, a, 1, d1));
    for (long i = 0; i < n; i++) a[i] = st->it[i].failed;
    AB_CALL(write_ds(g, "failed", H5T_STD_I64LE, H5T_NATIVE_INT64, a, 1, d1));
    for (long i = 0; i < n; i++) a[i] = st->it[i].n_front;
    AB_CALL(write_ds(g, "front_size", H5T_STD_I64LE, H5T_NATIVE_INT64, a, 1, d1));
    for (long i = 0; i < n; i++) d[i] = st->it[i].hypervolume;
    AB_CALL(write_ds(g, "hypervolume", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, d, 1, d1));
    for (long i = 0; i < n; i++) d[i] = st->it[i].time;
    AB_CALL(write_ds(g, "time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, d, 1, d1));
    ptr[0] = 0;
    for (long i = 0; i < n; i++) ptr[i + 1] = ptr[i] + st->it[i].n_front;
    nf = (long)ptr[n];
    fr = malloc(sizeof *fr * (size_t)(nf ? nf : 1));
    AB_CHECK_ALLOC(fr);
    for (long i = 0; i < n; i++)
        for (long k = 0; k < st->it[i].n_front; k++) fr[ptr[i] + k] = st->it[i].front[k];
    AB_CALL(write_ds(g, "front_ptr", H5T_STD_I64LE, H5T_NATIVE_INT64, ptr, 1, dp));
    df[0] = (hsize_t)nf;
    AB_CALL(write_ds(g, "front_seq", H5T_STD_I64LE, H5T_NATIVE_INT64, fr, 1, df));
cleanup:
    ab_h5_close(&g);
    free(a);
    free(ptr);
    free(fr);
    free(d);
    return rc;
}

ab_status ab_store_snapshot(struct ab_store *st)
{
    ab_status rc = AB_OK;
    char tmp[4096];
    hid_t f = H5I_INVALID_HID;
    double t0 = ab_store_now();
    if (!st->writable) return AB_OK;
    AB_CALL(ab_store_sync(st, 0));
    AB_CALL(ab_fs_temp_path(st->path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create", tmp);
    AB_CALL(ab_h5_write_identity(f, AB_STORE_FORMAT, AB_STORE_VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "identity", st->identity));
    AB_CALL(ab_h5_write_str_attr(f, "status", st->status_complete ? "complete" : "running"));
    AB_CALL(ab_h5_write_str_attr(f, "journal", st->journal_path));
    AB_CALL(ab_h5_write_i64_attr(f, "n_evaluations", st->n));
    AB_CALL(ab_h5_write_i64_attr(f, "n_iterations", st->n_iter));
    AB_CALL(ab_h5_write_strings(f, "metric_names", (const char *const *)st->metrics,
                                st->n_metrics));
    AB_CALL(snapshot_evals(st, f));
    AB_CALL(snapshot_iters(st, f));
    AB_H5(H5Fclose(f), "%s: close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, st->path));
    st->snap_n = st->n;
    st->snap_iter = st->n_iter;
    st->last_snap = ab_store_now();
    st->snap_seconds = st->last_snap - t0;
cleanup:
    ab_h5_close(&f);
    if (rc) unlink(tmp);
    return rc;
}

ab_status ab_store_maybe_snapshot(struct ab_store *st, double interval)
{
    double now = ab_store_now(), wait = interval;
    if (!st->writable || (st->n == st->snap_n && st->n_iter == st->snap_iter)) return AB_OK;
    if (st->snap_seconds * 20 > wait) wait = st->snap_seconds * 20;
    if (now - st->last_snap < wait) return AB_OK;
    return ab_store_snapshot(st);
}

/* Reads the snapshot (used when the journal is missing). */
static ab_status read_snapshot(struct ab_store *st, const char *path)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int version;
    long n = 0, nm = 0, ns = 0;
    char **arch = NULL, **host = NULL, **ev = NULL, **err = NULL;
    int64_t *seq = NULL;
    uint64_t *hash = NULL;
    int32_t *it = NULL, *status = NULL, *rank = NULL;
    double *t0 = NULL, *t1 = NULL, *m = NULL;
    AB_CALL(ab_h5_open_checked(path, AB_STORE_FORMAT, AB_STORE_VERSION, &f, &version));
    AB_CALL(ab_h5_read_str_attr(f, "identity", &st->identity));
    AB_CALL(ab_h5_read_strings(f, "metric_names", &nm, &st->metrics));
    st->n_metrics = (int)nm;
    AB_H5R(g = H5Gopen2(f, "evaluations", H5P_DEFAULT), "%s: evaluations", path);
    AB_CALL(ab_h5_read_strings(g, "arch", &n, &arch));
    AB_CALL(ab_h5_read_strings(g, "host", &ns, &host));
    AB_CALL(ab_h5_read_strings(g, "evaluator", &ns, &ev));
    AB_CALL(ab_h5_read_strings(g, "error", &ns, &err));
    seq = malloc(sizeof *seq * (size_t)(n + 1));
    hash = malloc(sizeof *hash * (size_t)(n + 1));
    it = malloc(sizeof *it * (size_t)(n + 1));
    status = malloc(sizeof *status * (size_t)(n + 1));
    rank = malloc(sizeof *rank * (size_t)(n + 1));
    t0 = malloc(sizeof *t0 * (size_t)(n + 1));
    t1 = malloc(sizeof *t1 * (size_t)(n + 1));
    m = malloc(sizeof *m * (size_t)(n + 1) * (size_t)(nm + 1));
    AB_CHECK(seq && hash && it && status && rank && t0 && t1 && m, AB_ERR_NOMEM, "out of memory");
#define RD(name, type, buf)                                                                \
    do {                                                                                   \
        AB_H5R(d = H5Dopen2(g, name, H5P_DEFAULT), "%s: %s", path, name);                  \
        if (n) AB_H5R(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "%s: %s", path, name); \
        ab_h5_close(&d);                                                                   \
    } while (0)
    RD("seq", H5T_NATIVE_INT64, seq);
    RD("hash", H5T_NATIVE_UINT64, hash);
    RD("iteration", H5T_NATIVE_INT32, it);
    RD("status", H5T_NATIVE_INT32, status);
    RD("rank", H5T_NATIVE_INT32, rank);
    RD("t_start", H5T_NATIVE_DOUBLE, t0);
    RD("t_end", H5T_NATIVE_DOUBLE, t1);
    RD("metrics", H5T_NATIVE_DOUBLE, m);
#undef RD
    for (long i = 0; i < n; i++) {
        struct ab_store_eval e = {.seq = seq[i], .iteration = it[i], .hash = hash[i],
                                  .arch = arch[i], .status = status[i], .rank = rank[i],
                                  .host = host[i], .evaluator = ev[i], .t_start = t0[i],
                                  .t_end = t1[i], .metrics = m + (size_t)i * (size_t)nm,
                                  .error = err[i]};
        AB_CALL(keep_eval(st, &e));
    }
cleanup:
    ab_h5_close(&d);
    ab_h5_close(&g);
    ab_h5_close(&f);
    ab_h5_free_strings(arch, n);
    ab_h5_free_strings(host, n);
    ab_h5_free_strings(ev, n);
    ab_h5_free_strings(err, n);
    free(seq);
    free(hash);
    free(it);
    free(status);
    free(rank);
    free(t0);
    free(t1);
    free(m);
    return rc;
}

/* ---- open / close ---------------------------------------------------------- */

static ab_status alloc_store(const char *path, struct ab_store **out)
{
    ab_status rc = AB_OK;
    struct ab_store *st = calloc(1, sizeof *st);
    size_t len = strlen(path);
    AB_CHECK_ALLOC(st);
    st->path = strdup(path);
    st->journal_path = malloc(len + 9);
    AB_CHECK(st->path && st->journal_path, AB_ERR_NOMEM, "out of memory");
    memcpy(st->journal_path, path, len);
    memcpy(st->journal_path + len, ".journal", 9);
    AB_CALL(ab_u64map_init(&st->by_hash, 1024));
    *out = st;
    st = NULL;
cleanup:
    if (st) free_store(st);
    return rc;
}

ab_status ab_store_read(const char *path, struct ab_store **out)
{
    ab_status rc = AB_OK;
    struct ab_store *st = NULL;
    size_t valid;
    *out = NULL;
    AB_CALL(alloc_store(path, &st));
    if (ab_fs_exists(st->journal_path))
        AB_CALL(read_journal(st, st->journal_path, &valid));
    else
        AB_CALL(read_snapshot(st, path));
    *out = st;
    st = NULL;
cleanup:
    if (st) free_store(st);
    return rc;
}

ab_status ab_store_parse_journal(const char *text, size_t len, const char *origin,
                                 struct ab_store **out, size_t *valid_len)
{
    ab_status rc = AB_OK;
    struct ab_store *st = NULL;
    size_t valid = 0;
    *out = NULL;
    AB_CALL(alloc_store(origin, &st));
    AB_CALL(parse_journal(st, text, len, origin, &valid));
    if (valid_len) *valid_len = valid;
    *out = st;
    st = NULL;
cleanup:
    if (st) free_store(st);
    return rc;
}

static ab_status write_header(struct ab_store *st)
{
    ab_status rc = AB_OK;
    struct buf b = {0};
    bput(&b, "{\"format\":", 10);
    bstr(&b, AB_STORE_FORMAT);
    bprintf(&b, ",\"version\":%d,\"identity\":", AB_STORE_VERSION);
    bstr(&b, st->identity);
    bput(&b, ",\"metrics\":[", 12);
    for (int k = 0; k < st->n_metrics; k++) {
        if (k) bput(&b, ",", 1);
        bstr(&b, st->metrics[k]);
    }
    bput(&b, "]}", 2);
    AB_CHECK(!b.oom, AB_ERR_NOMEM, "out of memory");
    AB_CALL(write_line(st, 'H', b.s, b.n));
    AB_CALL(ab_store_sync(st, 1));
cleanup:
    free(b.s);
    return rc;
}

ab_status ab_store_open(const char *path, const char *identity, const char *const *metrics,
                        int n_metrics, int resume, struct ab_store **out)
{
    ab_status rc = AB_OK;
    struct ab_store *st = NULL;
    size_t valid = 0;
    int have_journal, have_snap;
    *out = NULL;
    AB_CALL(alloc_store(path, &st));
    have_journal = ab_fs_exists(st->journal_path);
    have_snap = ab_fs_exists(path);
    if (!resume) {
        AB_CHECK(!have_journal && !have_snap, AB_ERR_INPUT,
                 "%s: the store exists; continue that search with --resume, or choose another "
                 "'store:' path (nothing was overwritten)",
                 have_snap ? path : st->journal_path);
        st->identity = strdup(identity);
        st->metrics = calloc((size_t)n_metrics + 1, sizeof *st->metrics);
        AB_CHECK(st->identity && st->metrics, AB_ERR_NOMEM, "out of memory");
        for (int k = 0; k < n_metrics; k++) {
            st->metrics[k] = strdup(metrics[k]);
            AB_CHECK_ALLOC(st->metrics[k]);
            st->n_metrics = k + 1;
        }
        st->journal = fopen(st->journal_path, "wx");
        AB_CHECK(st->journal, AB_ERR_IO, "%s: cannot create: %s", st->journal_path,
                 strerror(errno));
        st->writable = 1;
        AB_CALL(write_header(st));
        AB_CALL(ab_store_snapshot(st));
    } else {
        AB_CHECK(have_journal || have_snap, AB_ERR_INPUT,
                 "%s: no store to resume (run without --resume to start the search)", path);
        if (have_journal)
            AB_CALL(read_journal(st, st->journal_path, &valid));
        else
            AB_CALL(read_snapshot(st, path));
        AB_CHECK(!strcmp(st->identity, identity), AB_ERR_INPUT,
                 "%s: this store belongs to another search (its configuration differs: space, "
                 "variant, seed, sizes, objectives or evaluators, or an older autobuild "
                 "wrote it with another sampler); resume it with its own configuration "
                 "and version or choose another 'store:' path (nothing was changed)",
                 path);
        AB_CHECK(st->n_metrics == n_metrics, AB_ERR_INPUT,
                 "%s: the store holds %d metrics, the configuration's evaluators %d", path,
                 st->n_metrics, n_metrics);
        for (int k = 0; k < n_metrics; k++)
            AB_CHECK(!strcmp(st->metrics[k], metrics[k]), AB_ERR_INPUT,
                     "%s: the store's metric %d is '%s', the evaluators give '%s'", path, k + 1,
                     st->metrics[k], metrics[k]);
        if (have_journal) {
            struct stat sb;
            AB_CHECK(stat(st->journal_path, &sb) == 0, AB_ERR_IO, "%s: %s", st->journal_path,
                     strerror(errno));
            if ((size_t)sb.st_size > valid) {
                st->dropped_tail = (int)((size_t)sb.st_size - valid);
                AB_CHECK(truncate(st->journal_path, (off_t)valid) == 0, AB_ERR_IO,
                         "%s: cannot cut the torn tail: %s", st->journal_path, strerror(errno));
                ab_log(AB_LOG_INFO, "%s: cut a torn last record (%d bytes)", st->journal_path,
                       st->dropped_tail);
            }
            st->journal = fopen(st->journal_path, "a");
            AB_CHECK(st->journal, AB_ERR_IO, "%s: cannot append: %s", st->journal_path,
                     strerror(errno));
            st->writable = 1;
        } else {
            /* rebuild the journal from the snapshot */
            struct buf b = {0};
            st->journal = fopen(st->journal_path, "wx");
            AB_CHECK(st->journal, AB_ERR_IO, "%s: cannot create: %s", st->journal_path,
                     strerror(errno));
            st->writable = 1;
            AB_CALL(write_header(st));
            for (long i = 0; i < st->n && rc == AB_OK; i++) {
                eval_json(st, &st->ev[i], &b);
                rc = b.oom ? ab_err_set(AB_ERR_NOMEM, "out of memory")
                           : write_line(st, 'E', b.s, b.n);
            }
            free(b.s);
            if (rc) goto cleanup;
            AB_CALL(ab_store_sync(st, 1));
        }
        st->status_complete = 0;
        st->snap_n = -1;
    }
    *out = st;
    st = NULL;
cleanup:
    if (st) {
        if (st->journal) fclose(st->journal);
        free_store(st);
    }
    return rc;
}

const struct ab_store_iter *ab_store_last_iter(const struct ab_store *st)
{
    const struct ab_store_iter *last = NULL;
    for (long i = 0; st && i < st->n_iter; i++)
        if (!last || st->it[i].iteration > last->iteration) last = &st->it[i];
    return last;
}

ab_status ab_store_close(struct ab_store **pst)
{
    ab_status rc = AB_OK;
    struct ab_store *st = pst ? *pst : NULL;
    if (!st) return AB_OK;
    if (st->writable) {
        rc = ab_store_sync(st, 1);
        if (rc == AB_OK) rc = ab_store_snapshot(st);
    }
    if (st->journal) fclose(st->journal);
    free_store(st);
    *pst = NULL;
    return rc;
}
