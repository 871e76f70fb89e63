/* SPDX-License-Identifier: MIT
 *
 * This file implements stage records of a campaign (stamp.h): content
 * hashes of files, and the atomic JSON stamp files that tie a stage's
 * identity to the outputs it wrote.
 */
#include "campaign/stamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/fsutil.h"

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

uint64_t ab_stamp_hash_text(const char *s)
{
    uint64_t h = FNV_OFFSET;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= FNV_PRIME;
    }
    return h;
}

ab_status ab_stamp_file_hash(const char *path, char *hex, long *bytes)
{
    ab_status rc = AB_OK;
    unsigned char buf[1 << 16];
    uint64_t h = FNV_OFFSET;
    long total = 0;
    size_t got;
    FILE *f = fopen(path, "rb");
    AB_CHECK(f, AB_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < got; i++) {
            h ^= buf[i];
            h *= FNV_PRIME;
        }
        total += (long)got;
    }
    AB_CHECK(!ferror(f), AB_ERR_INPUT, "%s: read error", path);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
    if (bytes) *bytes = total;
cleanup:
    if (f) fclose(f);
    return rc;
}

ab_status ab_stamp_path(const char *dir, const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/stamps/%s.json", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return ab_err_set(AB_ERR_INPUT, "%s: the campaign folder's path is too long", dir);
    return AB_OK;
}

const char *ab_stamp_state_text(enum ab_stamp_state s)
{
    switch (s) {
    case AB_STAMP_NONE: return "not done";
    case AB_STAMP_CHANGED: return "its configuration or inputs changed";
    case AB_STAMP_DAMAGED: return "an output is missing or changed";
    case AB_STAMP_COMPLETE: return "complete";
    }
    return "?";
}

/* 1 when every output listed in the stamp has the recorded size and hash. */
static int outputs_intact(const char *dir, json_t *outs)
{
    size_t i;
    json_t *o;
    if (!json_is_array(outs) || json_array_size(outs) == 0) return 0;
    json_array_foreach(outs, i, o) {
        const char *file = json_string_value(json_object_get(o, "file"));
        const char *want = json_string_value(json_object_get(o, "fnv1a64"));
        json_t *b = json_object_get(o, "bytes");
        char path[4096], hex[17];
        long bytes;
        if (!file || !want || !json_is_integer(b)) return 0;
        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return 0;
        if (ab_stamp_file_hash(path, hex, &bytes) != AB_OK) {
            ab_err_clear();
            return 0;
        }
        if (bytes != (long)json_integer_value(b) || strcmp(hex, want)) return 0;
    }
    return 1;
}

ab_status ab_stamp_check(const char *dir, const char *name, const char *identity,
                         enum ab_stamp_state *state, json_t **summary)
{
    char path[4096];
    json_t *j;
    json_error_t jerr;
    const char *id;
    *state = AB_STAMP_NONE;
    if (summary) *summary = NULL;
    AB_TRY(ab_stamp_path(dir, name, path, sizeof path));
    if (!ab_fs_exists(path)) return AB_OK;
    j = json_load_file(path, 0, &jerr);
    if (!j) return AB_OK;
    id = json_string_value(json_object_get(j, "identity"));
    if (!id) *state = AB_STAMP_NONE;
    else if (strcmp(id, identity)) *state = AB_STAMP_CHANGED;
    else if (!outputs_intact(dir, json_object_get(j, "outputs"))) *state = AB_STAMP_DAMAGED;
    else *state = AB_STAMP_COMPLETE;
    if (*state == AB_STAMP_COMPLETE && summary) {
        json_t *s = json_object_get(j, "summary");
        *summary = s ? json_incref(s) : json_object();
    }
    json_decref(j);
    return AB_OK;
}

ab_status ab_stamp_write(const char *dir, const char *name, const char *identity,
                         const char *const *outputs, int n, json_t *summary)
{
    ab_status rc = AB_OK;
    char path[4096], tmp[4096], sdir[4096], hex[17], hexid[17];
    json_t *j = json_object(), *outs = json_array();
    FILE *f = NULL;
    struct timeval tv;
    AB_CHECK(j && outs, AB_ERR_NOMEM, "out of memory");
    AB_CALL(ab_stamp_path(dir, name, path, sizeof path));
    snprintf(sdir, sizeof sdir, "%s/stamps", dir);
    AB_CHECK(mkdir(sdir, 0777) == 0 || errno == EEXIST, AB_ERR_IO, "%s: cannot create: %s", sdir,
             strerror(errno));
    for (int i = 0; i < n; i++) {
        char file[4096];
        long bytes;
        AB_CHECK(snprintf(file, sizeof file, "%s/%s", dir, outputs[i]) < (int)sizeof file,
                 AB_ERR_INPUT, "%s/%s: the path is too long", dir, outputs[i]);
        AB_CALL(ab_stamp_file_hash(file, hex, &bytes));
        json_array_append_new(outs, json_pack("{s:s,s:I,s:s}", "file", outputs[i], "bytes",
                                              (json_int_t)bytes, "fnv1a64", hex));
    }
    snprintf(hexid, sizeof hexid, "%016llx", (unsigned long long)ab_stamp_hash_text(identity));
    gettimeofday(&tv, NULL);
    json_object_set_new(j, "stage", json_string(name));
    json_object_set_new(j, "identity", json_string(identity));
    json_object_set_new(j, "hash", json_string(hexid));
    json_object_set(j, "outputs", outs);
    json_object_set_new(j, "summary", summary ? json_incref(summary) : json_object());
    json_object_set_new(j, "finished", json_real((double)tv.tv_sec + tv.tv_usec * 1e-6));
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    f = fopen(tmp, "w");
    AB_CHECK(f, AB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if (json_dumpf(j, f, JSON_INDENT(1) | JSON_SORT_KEYS) != 0 || fputc('\n', f) == EOF ||
        ferror(f)) {
        fclose(f);
        f = NULL;
        unlink(tmp);
        AB_FAIL(AB_ERR_IO, "%s: cannot write", path);
    }
    if (fclose(f) != 0) {
        f = NULL;
        unlink(tmp);
        AB_FAIL(AB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    f = NULL;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    json_decref(outs);
    json_decref(j);
    return rc;
}

ab_status ab_stamp_remove(const char *dir, const char *name)
{
    char path[4096];
    AB_TRY(ab_stamp_path(dir, name, path, sizeof path));
    if (unlink(path) != 0 && errno != ENOENT)
        return ab_err_set(AB_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return AB_OK;
}
