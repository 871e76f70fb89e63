/* SPDX-License-Identifier: MIT
 *
 * This file implements reduced-space files (hdf5-schemas/reduced-space.md):
 * a base space plus, per search unit, the enumeration indices of the
 * subgraphs the reduced space keeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5/h5util.h"
#include "space/space.h"
#include "util/fsutil.h"

#define FORMAT "autobuild-reduced-space"
#define VERSION 1

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

ab_status ab_reduced_space_load(const char *path, struct ab_space **out)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, s = H5I_INVALID_HID;
    struct ab_space *sp = NULL;
    char *def = NULL, name[64];
    int *res = NULL;
    *out = NULL;
    AB_CALL(ab_h5_open_checked(path, FORMAT, VERSION, &f, NULL));
    if (ab_h5_read_str_attr(f, "space_definition", &def)) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    if (ab_space_from_definition(def, path, &sp)) {
        rc = ab_err_prefix("%s: the stored space definition", path);
        goto cleanup;
    }
    for (int u = 0; u < sp->n_units; u++) {
        hsize_t n = 0;
        snprintf(name, sizeof name, "unit_%d/index", u + 1);
        char group[32];
        snprintf(group, sizeof group, "unit_%d", u + 1);
        AB_CHECK(H5Lexists(f, group, H5P_DEFAULT) > 0 && H5Lexists(f, name, H5P_DEFAULT) > 0,
                 AB_ERR_INPUT, "%s: missing dataset '%s'", path, name);
        AB_H5R(d = H5Dopen2(f, name, H5P_DEFAULT), "%s: %s", path, name);
        AB_H5R(s = H5Dget_space(d), "%s: %s", path, name);
        AB_CHECK(H5Sget_simple_extent_ndims(s) == 1, AB_ERR_INPUT, "%s: %s must be a list", path,
                 name);
        H5Sget_simple_extent_dims(s, &n, NULL);
        AB_CHECK(n >= 1, AB_ERR_INPUT, "%s: unit %d keeps no subgraph", path, u + 1);
        sp->allowed[u].index = malloc(sizeof(uint64_t) * n);
        AB_CHECK_ALLOC(sp->allowed[u].index);
        sp->allowed[u].n = n;
        AB_H5R(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, sp->allowed[u].index),
               "%s: reading %s", path, name);
        ab_h5_close(&s);
        ab_h5_close(&d);
        qsort(sp->allowed[u].index, n, sizeof(uint64_t), cmp_u64);
        uint64_t full = ab_space_unit_count_full(sp, u);
        for (hsize_t i = 0; i < n; i++) {
            AB_CHECK(sp->allowed[u].index[i] < full, AB_ERR_INPUT,
                     "%s: unit %d lists subgraph %llu, but the space has %llu", path, u + 1,
                     (unsigned long long)sp->allowed[u].index[i], (unsigned long long)full);
            AB_CHECK(i == 0 || sp->allowed[u].index[i] != sp->allowed[u].index[i - 1],
                     AB_ERR_INPUT, "%s: unit %d lists a subgraph twice", path, u + 1);
        }
    }
    /* the resolutions the reduced space samples from */
    if (sp->n_resolutions > 0 && H5Lexists(f, "resolutions", H5P_DEFAULT) > 0) {
        hsize_t n = 0;
        AB_H5R(d = H5Dopen2(f, "resolutions", H5P_DEFAULT), "%s: resolutions", path);
        AB_H5R(s = H5Dget_space(d), "%s: resolutions", path);
        AB_CHECK(H5Sget_simple_extent_ndims(s) == 1, AB_ERR_INPUT,
                 "%s: 'resolutions' must be a list", path);
        H5Sget_simple_extent_dims(s, &n, NULL);
        AB_CHECK(n >= 1 && n <= 4096, AB_ERR_INPUT, "%s: bad 'resolutions'", path);
        res = malloc(sizeof(int) * n);
        AB_CHECK_ALLOC(res);
        AB_H5R(H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, res), "%s: resolutions",
               path);
        for (hsize_t i = 0; i < n; i++)
            AB_CHECK(ab_space_has_resolution(sp, res[i]), AB_ERR_INPUT,
                     "%s: resolution %d is not in space '%s'", path, res[i], sp->name);
        free(sp->sample_resolutions);
        sp->sample_resolutions = res;
        sp->n_sample_resolutions = (int)n;
        res = NULL;
    }
    sp->reduced = 1;
    sp->reduced_source = strdup(path);
    AB_CHECK_ALLOC(sp->reduced_source);
    *out = sp;
    sp = NULL;
cleanup:
    free(def);
    free(res);
    ab_h5_close(&s);
    ab_h5_close(&d);
    ab_h5_close(&f);
    ab_space_destroy(&sp);
    return rc;
}

static ab_status write_u64(hid_t loc, const char *name, const uint64_t *v, hsize_t n)
{
    ab_status rc = AB_OK;
    hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID;
    AB_H5(s = H5Screate_simple(1, &n, NULL), "%s", name);
    AB_H5(d = H5Dcreate2(loc, name, H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          "%s", name);
    AB_H5(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "%s", name);
cleanup:
    ab_h5_close(&d);
    ab_h5_close(&s);
    return rc;
}

ab_status ab_reduced_space_save(const struct ab_space *sp, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096], name[64];
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char **json = NULL;
    AB_CHECK(sp->reduced, AB_ERR_INTERNAL, "internal error: saving a space that is not reduced");
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: cannot create", tmp);
    AB_CALL(ab_h5_write_identity(f, FORMAT, VERSION));
    AB_CALL(ab_h5_write_str_attr(f, "space", sp->name));
    AB_CALL(ab_h5_write_str_attr(f, "space_definition", sp->definition));
    {
        char size[256];
        char *sz = ab_space_size_string(sp);
        snprintf(size, sizeof size, "%s", sz ? sz : "?");
        free(sz);
        AB_CALL(ab_h5_write_str_attr(f, "size", size));
    }
    if (sp->n_sample_resolutions > 0) {
        hsize_t n = (hsize_t)sp->n_sample_resolutions;
        hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID;
        AB_H5(s = H5Screate_simple(1, &n, NULL), "resolutions");
        d = H5Dcreate2(f, "resolutions", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        herr_t w = d >= 0 ? H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                     sp->sample_resolutions) : -1;
        ab_h5_close(&d);
        ab_h5_close(&s);
        AB_H5(w, "resolutions");
    }
    for (int u = 0; u < sp->n_units; u++) {
        const struct ab_unit_set *set = &sp->allowed[u];
        snprintf(name, sizeof name, "unit_%d", u + 1);
        AB_H5(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "%s", name);
        AB_CALL(write_u64(g, "index", set->index, set->n));
        json = calloc(set->n, sizeof *json);
        AB_CHECK_ALLOC(json);
        for (uint64_t i = 0; i < set->n; i++) {
            struct ab_subgraph sg;
            char buf[2048];
            AB_CALL(ab_space_unit_subgraph(sp, u, set->index[i], &sg));
            ab_subgraph_format_json(sp, &sg, buf, sizeof buf);
            json[i] = strdup(buf);
            AB_CHECK_ALLOC(json[i]);
        }
        AB_CALL(ab_h5_write_strings(g, "subgraph", (const char *const *)json, (long)set->n));
        for (uint64_t i = 0; i < set->n; i++) free(json[i]);
        free(json);
        json = NULL;
        ab_h5_close(&g);
    }
    AB_H5(H5Fclose(f), "%s: cannot close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
cleanup:
    if (json) free(json);
    ab_h5_close(&g);
    if (rc) {
        ab_h5_close(&f);
        unlink(tmp);
    }
    return rc;
}
