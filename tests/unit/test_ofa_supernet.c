/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of the OFA worker's files
 * (worker/ofa/ofa_supernet.c, ofa_io.c and the state-dict layout of
 * ofa_net.c): supernets made at random, saved and loaded back bit for bit;
 * files with OFA's older tensor names; every way a supernet file can be
 * wrong (one AB_ERR_INPUT naming the file and the tensor or attribute);
 * input tensors, logits files and image sets, the latter written here with
 * the HDF5 C API exactly as hdf5-schemas/imageset.md describes them (as
 * h5py writes them: variable-length UTF-8 string attributes, int64 and
 * float64 arrays).
 */
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "h5/h5util.h"
#include "ofa/ofa_io.h"
#include "ofa/ofa_net.h"
#include "ofa/ofa_subnet.h"
#include "ofa/ofa_supernet.h"
#include "space/space.h"
#include "util/error.h"

#define NET_W10 "ofa_mbv3_d234_e346_k357_w1.0"
#define NET_W12 "ofa_mbv3_d234_e346_k357_w1.2"
#define NET_PN "ofa_proxyless_d234_e346_k357_w1.3"
#define N_CLASSES 10

/* Every HDF5 call of the test is checked. */
#define H5OK(call) CU_ASSERT_FATAL((call) >= 0)

/* --- scratch folder and the base supernet file ------------------------- */

static char g_dir[64];
static char g_base[128];                 /* NET_W10, N_CLASSES, saved */
static struct ab_ofa_supernet *g_sn;     /* what g_base holds */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    ab_ofa_supernet_destroy(&g_sn);
    if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void);

/* name in the scratch folder (8 rotating buffers). */
static const char *path_of(const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    setup();
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

static void setup(void)
{
    static int done;
    if (done) return;
    done = 1;
    ab_h5_init(); /* errors are reported through ab_err_msg(), not printed */
    snprintf(g_dir, sizeof g_dir, "/tmp/ab_ofa_supernet_XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    atexit(cleanup);
    snprintf(g_base, sizeof g_base, "%s/base.h5", g_dir);
    if (ab_ofa_supernet_random(NET_W10, N_CLASSES, 7, &g_sn) ||
        ab_ofa_supernet_save(g_sn, g_base)) {
        fprintf(stderr, "setup: %s\n", ab_err_msg());
        abort();
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    static char buf[1 << 20];
    size_t n;
    CU_ASSERT_FATAL(in && out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) CU_ASSERT_FATAL(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
}

static int contains(const char *msg, const char *part)
{
    if (strstr(msg, part)) return 1;
    fprintf(stderr, "\n'%s' not in: %s\n", part, msg);
    return 0;
}

/* Any non-NULL pointer: a failing call must set its output to NULL. */
static char junk;
#define JUNK ((void *)&junk)

/* --- raw HDF5 writers (as h5py writes) ----------------------------------- */

static void attr_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a;
    H5OK(t);
    H5OK(H5Tset_size(t, H5T_VARIABLE));
    H5OK(H5Tset_cset(t, H5T_CSET_UTF8));
    if (H5Aexists(loc, name) > 0) H5OK(H5Adelete(loc, name));
    H5OK(a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT));
    H5OK(H5Awrite(a, t, &value));
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void attr_i64s(hid_t loc, const char *name, const int64_t *v, int n, int scalar)
{
    hsize_t dim = (hsize_t)n;
    hid_t s = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL), a;
    if (H5Aexists(loc, name) > 0) H5OK(H5Adelete(loc, name));
    H5OK(a = H5Acreate2(loc, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT));
    H5OK(H5Awrite(a, H5T_NATIVE_INT64, v));
    H5Aclose(a);
    H5Sclose(s);
}

static void attr_i64(hid_t loc, const char *name, int64_t v)
{
    attr_i64s(loc, name, &v, 1, 1);
}

static void attr_f64s(hid_t loc, const char *name, const double *v, int n, int scalar)
{
    hsize_t dim = (hsize_t)n;
    hid_t s = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL), a;
    if (H5Aexists(loc, name) > 0) H5OK(H5Adelete(loc, name));
    H5OK(a = H5Acreate2(loc, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT));
    H5OK(H5Awrite(a, H5T_NATIVE_DOUBLE, v));
    H5Aclose(a);
    H5Sclose(s);
}

/* A dataset of `type` (file) from `mem` values. */
static void write_ds(hid_t loc, const char *name, hid_t type, hid_t mem, int rank,
                     const hsize_t *dims, const void *data)
{
    hid_t s = H5Screate_simple(rank, dims, NULL), d;
    H5OK(s);
    H5OK(d = H5Dcreate2(loc, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5OK(H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    H5Dclose(d);
    H5Sclose(s);
}

/* --- supernets: layout, random, save / load ------------------------------ */

static const struct ab_ofa_param *find_param(const struct ab_ofa_param *p, int n,
                                             const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    return NULL;
}

static int shape_is(const struct ab_ofa_param *p, int ndim, int64_t a, int64_t b, int64_t c,
                    int64_t d)
{
    int64_t want[4] = {a, b, c, d};
    if (!p || p->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (p->shape[i] != want[i]) return 0;
    return 1;
}

static void test_layout(void)
{
    struct ab_ofa_param *p = NULL;
    int n = 0, bn = 0;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_layout(AB_OFA_MBV3, 1.2, 1000, &p, &n), AB_OK);
    /* stem 24, blocks.0 24 -> 24, stage widths 32 48 96 136 192, e 6 */
    CU_ASSERT(shape_is(find_param(p, n, "first_conv.conv.weight"), 4, 24, 3, 3, 3));
    CU_ASSERT(shape_is(find_param(p, n, "first_conv.bn.running_var"), 1, 24, 0, 0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.0.conv.depth_conv.conv.weight"), 4, 24, 1, 3, 3));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.0.conv.point_linear.conv.weight"), 4, 24, 24,
                       1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.1.conv.inverted_bottleneck.conv.conv.weight"),
                       4, 144, 24, 1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.1.conv.depth_conv.conv.conv.weight"), 4, 144,
                       1, 7, 7));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.1.conv.depth_conv.conv.7to5_matrix"), 2, 25, 25,
                       0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.1.conv.depth_conv.conv.5to3_matrix"), 2, 9, 9,
                       0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.1.conv.point_linear.conv.conv.weight"), 4, 32,
                       144, 1, 1));
    CU_ASSERT_PTR_NULL(find_param(p, n, "blocks.1.conv.depth_conv.se.fc.reduce.weight"));
    /* stage 2 (blocks.5..8) has SE: 32 x 6 = 192 -> 48 */
    CU_ASSERT(shape_is(find_param(p, n, "blocks.5.conv.depth_conv.se.fc.reduce.weight"), 4, 48,
                       192, 1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.5.conv.depth_conv.se.fc.expand.weight"), 4, 192,
                       48, 1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.6.conv.depth_conv.se.fc.expand.bias"), 1, 288,
                       0, 0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.20.conv.point_linear.bn.bn.weight"), 1, 192, 0,
                       0, 0));
    CU_ASSERT_PTR_NULL(find_param(p, n, "blocks.21.conv.point_linear.bn.bn.weight"));
    CU_ASSERT(shape_is(find_param(p, n, "final_expand_layer.conv.weight"), 4, 1152, 192, 1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "feature_mix_layer.conv.weight"), 4, 1536, 1152, 1, 1));
    CU_ASSERT_PTR_NULL(find_param(p, n, "feature_mix_layer.bn.weight"));
    CU_ASSERT(shape_is(find_param(p, n, "classifier.linear.weight"), 2, 1000, 1536, 0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "classifier.linear.bias"), 1, 1000, 0, 0, 0));
    for (int i = 0; i < n; i++) {
        CU_ASSERT_PTR_NULL(strstr(p[i].name, "num_batches_tracked"));
        CU_ASSERT_PTR_NULL(strstr(p[i].name, "mobile_inverted_conv"));
        CU_ASSERT_PTR_NULL(find_param(p, i, p[i].name)); /* no duplicates */
        bn += strstr(p[i].name, "running_mean") != NULL;
    }
    /* stem, blocks.0 x 2, 20 blocks x 3, final expand */
    CU_ASSERT_EQUAL(bn, 1 + 2 + 60 + 1);
    free(p);

    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_layout(AB_OFA_PROXYLESS, 1.3, 7, &p, &n), AB_OK);
    CU_ASSERT(shape_is(find_param(p, n, "first_conv.conv.weight"), 4, 40, 3, 3, 3));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.0.conv.depth_conv.conv.weight"), 4, 40, 1, 3, 3));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.0.conv.point_linear.conv.weight"), 4, 24, 40,
                       1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "blocks.21.conv.point_linear.conv.conv.weight"), 4, 416,
                       248 * 6, 1, 1));
    CU_ASSERT_PTR_NULL(find_param(p, n, "blocks.22.conv.point_linear.conv.conv.weight"));
    CU_ASSERT(shape_is(find_param(p, n, "feature_mix_layer.conv.weight"), 4, 1664, 416, 1, 1));
    CU_ASSERT(shape_is(find_param(p, n, "feature_mix_layer.bn.running_var"), 1, 1664, 0, 0, 0));
    CU_ASSERT(shape_is(find_param(p, n, "classifier.linear.weight"), 2, 7, 1664, 0, 0));
    CU_ASSERT_PTR_NULL(find_param(p, n, "final_expand_layer.conv.weight"));
    for (int i = 0; i < n; i++) CU_ASSERT_PTR_NULL(strstr(p[i].name, ".se."));
    free(p);

    CU_ASSERT_EQUAL(ab_ofa_supernet_layout(AB_OFA_MBV3, 0.0, 10, &p, &n), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(ab_ofa_supernet_layout(AB_OFA_MBV3, 1.0, 0, &p, &n), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_ofa_supernet_layout((enum ab_ofa_family)7, 1.0, 10, &p, &n),
                    AB_ERR_INTERNAL);
    ab_err_clear();
    CU_ASSERT_PTR_NOT_NULL(ab_ofa_netdef_find(NET_W12));
    CU_ASSERT_PTR_NULL(ab_ofa_netdef_find("ofa_mbv3_d234_e346_k357_w1.1"));
    CU_ASSERT_PTR_NULL(ab_ofa_netdef_find(NULL));
    CU_ASSERT_EQUAL(ab_ofa_netdef_find(NET_PN)->family, AB_OFA_PROXYLESS);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_netdef_find(NET_PN)->bn_eps, 1e-3, 0);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_netdef_find(NET_W12)->bn_eps, 1e-5, 0);
}

static int same_supernet(const struct ab_ofa_supernet *a, const struct ab_ofa_supernet *b)
{
    if (a->n_params != b->n_params || a->n_classes != b->n_classes || a->net != b->net ||
        a->bn_eps != b->bn_eps)
        return 0;
    for (int i = 0; i < a->n_params; i++) {
        size_t count = 1;
        if (strcmp(a->params[i].name, b->params[i].name) || a->params[i].ndim != b->params[i].ndim)
            return 0;
        for (int d = 0; d < a->params[i].ndim; d++) {
            if (a->params[i].shape[d] != b->params[i].shape[d]) return 0;
            count *= (size_t)a->params[i].shape[d];
        }
        if (memcmp(a->data[i], b->data[i], count * sizeof(float))) {
            fprintf(stderr, "\n%s differs\n", a->params[i].name);
            return 0;
        }
    }
    return 1;
}

static void test_random(void)
{
    struct ab_ofa_supernet *a = NULL, *b = NULL, *c = NULL;
    const float *m75, *rv, *bw;
    const struct ab_ofa_param *p;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, 5, 3, &a), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, 5, 3, &b), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, 5, 4, &c), AB_OK);
    CU_ASSERT(same_supernet(a, b));
    CU_ASSERT_NOT_EQUAL(memcmp(a->data[0], c->data[0], 10 * sizeof(float)), 0);
    CU_ASSERT_STRING_EQUAL(a->path, "random");
    CU_ASSERT_EQUAL(a->n_classes, 5);
    CU_ASSERT_DOUBLE_EQUAL(a->bn_eps, 1e-3, 0);
    CU_ASSERT_EQUAL(a->legacy_names, 0);
    /* the documented distributions, roughly */
    m75 = ab_ofa_supernet_tensor(a, "blocks.3.conv.depth_conv.conv.7to5_matrix", &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m75);
    CU_ASSERT_EQUAL(p->shape[0], 25);
    CU_ASSERT(fabs(m75[0] - 1) < 0.3 && fabs(m75[1]) < 0.3);
    rv = ab_ofa_supernet_tensor(a, "blocks.3.conv.depth_conv.bn.bn.running_var", &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rv);
    for (int64_t i = 0; i < p->shape[0]; i++) CU_ASSERT(rv[i] >= 0.5 && rv[i] <= 2.0);
    bw = ab_ofa_supernet_tensor(a, "first_conv.bn.weight", &p);
    for (int64_t i = 0; i < p->shape[0]; i++) CU_ASSERT(bw[i] >= 0.5 && bw[i] <= 1.5);
    CU_ASSERT_PTR_NULL(ab_ofa_supernet_tensor(a, "no.such.tensor", &p));
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NULL(ab_ofa_supernet_tensor(NULL, "first_conv.bn.weight", NULL));
    ab_ofa_supernet_destroy(&a);
    ab_ofa_supernet_destroy(&b);
    ab_ofa_supernet_destroy(&c);
    ab_ofa_supernet_destroy(&c); /* NULL-safe */

    a = JUNK;
    CU_ASSERT_EQUAL(ab_ofa_supernet_random("ofa_resnet50", 10, 1, &a), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT(contains(ab_err_msg(), "ofa_resnet50"));
    CU_ASSERT(contains(ab_err_msg(), NET_W12));
    CU_ASSERT_EQUAL(ab_ofa_supernet_random(NET_W10, 0, 1, &a), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_ofa_supernet_random(NULL, 10, 1, &a), AB_ERR_INPUT);
    ab_err_clear();
}

static void check_root_attrs(const char *path, const struct ab_ofa_supernet *sn)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), g;
    char *s = NULL;
    int64_t v = 0, list[8];
    int n = 0;
    double d = 0;
    H5G_info_t info;
    H5OK(f);
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "format", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, "autobuild-ofa-supernet");
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_i64_attr(f, "format_version", &v), AB_OK);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "net_id", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, sn->net->net_id);
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "space", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, sn->net->space);
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_f64_attr(f, "width_mult", &d), AB_OK);
    CU_ASSERT_DOUBLE_EQUAL(d, sn->net->width_mult, 0);
    CU_ASSERT_EQUAL(ab_h5_read_f64_attr(f, "bn_eps", &d), AB_OK);
    CU_ASSERT_DOUBLE_EQUAL(d, sn->bn_eps, 0);
    CU_ASSERT_EQUAL(ab_h5_read_i64_attr(f, "n_classes", &v), AB_OK);
    CU_ASSERT_EQUAL(v, sn->n_classes);
    CU_ASSERT_EQUAL(ab_h5_read_i64_array_attr(f, "ks_list", 8, list, &n), AB_OK);
    CU_ASSERT(n == 3 && list[0] == 3 && list[1] == 5 && list[2] == 7);
    CU_ASSERT_EQUAL(ab_h5_read_i64_array_attr(f, "expand_ratio_list", 8, list, &n), AB_OK);
    CU_ASSERT(n == 3 && list[0] == 3 && list[1] == 4 && list[2] == 6);
    CU_ASSERT_EQUAL(ab_h5_read_i64_array_attr(f, "depth_list", 8, list, &n), AB_OK);
    CU_ASSERT(n == 3 && list[0] == 2 && list[1] == 3 && list[2] == 4);
    H5OK(g = H5Gopen2(f, "params", H5P_DEFAULT));
    H5OK(H5Gget_info(g, &info));
    CU_ASSERT_EQUAL(info.nlinks, (hsize_t)sn->n_params);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_save_load(void)
{
    struct ab_ofa_supernet *back = NULL, *pn = NULL;
    const char *p2 = path_of("pn.h5");
    setup();
    check_root_attrs(g_base, g_sn);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_load(g_base, &back), AB_OK);
    CU_ASSERT(same_supernet(back, g_sn));
    CU_ASSERT_STRING_EQUAL(back->path, g_base);
    CU_ASSERT_EQUAL(back->legacy_names, 0);
    CU_ASSERT_STRING_EQUAL(back->net->net_id, NET_W10);
    ab_ofa_supernet_destroy(&back);

    /* PN (another eps), saved over an existing file */
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, 3, 9, &pn), AB_OK);
    copy_file(g_base, p2);
    CU_ASSERT_EQUAL(ab_ofa_supernet_save(pn, p2), AB_OK);
    check_root_attrs(p2, pn);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_load(p2, &back), AB_OK);
    CU_ASSERT(same_supernet(back, pn));
    CU_ASSERT_DOUBLE_EQUAL(back->bn_eps, 1e-3, 0);
    ab_ofa_supernet_destroy(&back);

    /* an unwritable place: AB_ERR_IO, nothing written */
    CU_ASSERT_EQUAL(ab_ofa_supernet_save(pn, path_of("no/such/dir/x.h5")), AB_ERR_IO);
    CU_ASSERT_EQUAL(access(path_of("no"), F_OK), -1);
    ab_err_clear();
    ab_ofa_supernet_destroy(&pn);
    unlink(p2);
}

/* blocks.N.conv.X -> blocks.N.mobile_inverted_conv.X for every tensor. */
static int rename_legacy(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), g;
    H5G_info_t info;
    int renamed = 0;
    H5OK(f);
    H5OK(g = H5Gopen2(f, "params", H5P_DEFAULT));
    H5OK(H5Gget_info(g, &info));
    {
        char (*names)[128] = calloc(info.nlinks, sizeof *names);
        for (hsize_t i = 0; i < info.nlinks; i++)
            H5OK(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, names[i],
                                    sizeof names[i], H5P_DEFAULT));
        for (hsize_t i = 0; i < info.nlinks; i++) {
            char to[160];
            int idx, len = 0;
            if (sscanf(names[i], "blocks.%d.conv.%n", &idx, &len) == 1 && len > 0) {
                snprintf(to, sizeof to, "blocks.%d.mobile_inverted_conv.%s", idx, names[i] + len);
                H5OK(H5Lmove(g, names[i], g, to, H5P_DEFAULT, H5P_DEFAULT));
                renamed++;
            }
        }
        free(names);
    }
    attr_str(f, "naming", "legacy");
    H5Gclose(g);
    H5Fclose(f);
    return renamed;
}

static void test_legacy_names(void)
{
    struct ab_ofa_supernet *back = NULL;
    const char *p = path_of("legacy.h5");
    int renamed;
    setup();
    copy_file(g_base, p);
    renamed = rename_legacy(p);
    /* all block tensors: blocks.0 (12) and 20 dynamic blocks */
    CU_ASSERT(renamed > 12 + 20 * 14);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_load(p, &back), AB_OK);
    CU_ASSERT_EQUAL(back->legacy_names, 1);
    CU_ASSERT(same_supernet(back, g_sn));
    /* kept under the current names */
    CU_ASSERT_PTR_NOT_NULL(ab_ofa_supernet_tensor(back, "blocks.3.conv.depth_conv.conv.7to5_matrix",
                                                  NULL));
    ab_ofa_supernet_destroy(&back);
    unlink(p);
}

/* A copy of the base file changed by fn must fail to load with
 * AB_ERR_INPUT and a message holding the file's path and `want`. */
static void expect_load_error(const char *name, void (*fn)(hid_t f), const char *want)
{
    struct ab_ofa_supernet *sn = JUNK;
    const char *p = path_of(name);
    hid_t f;
    setup();
    copy_file(g_base, p);
    H5OK(f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT));
    fn(f);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ab_ofa_supernet_load(p, &sn), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(sn);
    CU_ASSERT(contains(ab_err_msg(), p));
    CU_ASSERT(contains(ab_err_msg(), want));
    CU_ASSERT_PTR_NULL(strchr(ab_err_msg(), '\n'));
    ab_err_clear();
    if (sn != JUNK) ab_ofa_supernet_destroy(&sn);
    unlink(p);
}

static void drop_tensor(hid_t f)
{
    H5OK(H5Ldelete(f, "params/blocks.7.conv.depth_conv.bn.bn.running_var", H5P_DEFAULT));
}

static void reshape_tensor(hid_t f)
{
    hsize_t dims[1] = {11};
    float v[11] = {0};
    H5OK(H5Ldelete(f, "params/classifier.linear.bias", H5P_DEFAULT));
    write_ds(f, "params/classifier.linear.bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, v);
}

/* Element 1 (C order) of a tensor becomes value. */
static void set_element(hid_t f, const char *name, float value)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), s;
    float *v;
    H5OK(d);
    H5OK(s = H5Dget_space(d));
    v = malloc((size_t)H5Sget_simple_extent_npoints(s) * sizeof *v);
    H5OK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
    v[1] = value;
    H5OK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
    free(v);
    H5Sclose(s);
    H5Dclose(d);
}

static void nan_tensor(hid_t f)
{
    set_element(f, "params/blocks.3.conv.point_linear.conv.conv.weight", NAN);
}

static void inf_tensor(hid_t f)
{
    set_element(f, "params/final_expand_layer.bn.running_var", INFINITY);
}

static void bad_format(hid_t f)
{
    attr_str(f, "format", "autobuild-store");
}

static void bad_net_id(hid_t f)
{
    attr_str(f, "net_id", "ofa_resnet50_d234");
}

static void bad_width(hid_t f)
{
    double w = 1.2;
    attr_f64s(f, "width_mult", &w, 1, 1);
}

static void bad_ks_list(hid_t f)
{
    int64_t ks[3] = {3, 5, 9};
    attr_i64s(f, "ks_list", ks, 3, 0);
}

static void short_depth_list(hid_t f)
{
    int64_t ds[2] = {2, 3};
    attr_i64s(f, "depth_list", ds, 2, 0);
}

static void bad_classes(hid_t f)
{
    attr_i64(f, "n_classes", 0);
}

static void other_classes(hid_t f)
{
    /* a valid count that the classifier's shape does not match */
    attr_i64(f, "n_classes", 1000);
}

static void no_params(hid_t f)
{
    H5OK(H5Lmove(f, "params", f, "weights", H5P_DEFAULT, H5P_DEFAULT));
}

static void test_load_errors(void)
{
    expect_load_error("missing.h5", drop_tensor, "blocks.7.conv.depth_conv.bn.bn.running_var");
    expect_load_error("missing2.h5", drop_tensor, "missing");
    expect_load_error("shape.h5", reshape_tensor, "classifier.linear.bias has shape 11; this "
                      "net expects 10");
    expect_load_error("nan.h5", nan_tensor, "blocks.3.conv.point_linear.conv.conv.weight holds "
                      "a non-finite value at element 1");
    expect_load_error("inf.h5", inf_tensor, "final_expand_layer.bn.running_var holds a "
                      "non-finite value");
    expect_load_error("format.h5", bad_format, "autobuild-store");
    expect_load_error("netid.h5", bad_net_id, "net_id 'ofa_resnet50_d234' is not supported");
    expect_load_error("width.h5", bad_width, "width_mult 1.2 does not match");
    expect_load_error("ks.h5", bad_ks_list, "ks_list");
    expect_load_error("depth.h5", short_depth_list, "depth_list");
    expect_load_error("classes.h5", bad_classes, "n_classes");
    expect_load_error("classes1000.h5", other_classes, "classifier.linear.weight");
    expect_load_error("noparams.h5", no_params, "/params");
}

static void test_load_not_supernet(void)
{
    struct ab_ofa_supernet *sn = NULL;
    const char *txt = path_of("text.h5");
    FILE *f = fopen(txt, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("not hdf5\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ab_ofa_supernet_load(txt, &sn), AB_ERR_INPUT);
    CU_ASSERT(contains(ab_err_msg(), txt));
    CU_ASSERT(contains(ab_err_msg(), "not an HDF5 file"));
    CU_ASSERT_EQUAL(ab_ofa_supernet_load(path_of("absent.h5"), &sn), AB_ERR_INPUT);
    CU_ASSERT(contains(ab_err_msg(), "absent.h5"));
    CU_ASSERT_PTR_NULL(sn);
    ab_err_clear();
    unlink(txt);
}

/* A supernet of the other family and an MBv3 architecture. */
static void test_family_mismatch(void)
{
    struct ab_space *mb = NULL, *pn = NULL;
    struct ab_ofa_supernet *sn = NULL;
    struct ab_ofa_subnet *net = JUNK;
    struct ab_arch a, b;
    const char *p = path_of("pn_family.h5");
    CU_ASSERT_EQUAL_FATAL(ab_space_create_builtin("ofa_mbv3", &mb), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_space_create_builtin("ofa_pn", &pn), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(mb, "{\"space\":\"ofa_mbv3\",\"resolution\":128,"
                          "\"stages\":[[\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"],[\"mbconv3_e3_k3\","
                          "\"mbconv3_e3_k3\"],[\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"],["
                          "\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"],[\"mbconv3_e3_k3\","
                          "\"mbconv3_e3_k3\"]]}", &a), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(pn, "{\"space\":\"ofa_pn\",\"resolution\":128,"
                          "\"stages\":[[\"mbconv2_e3_k3\",\"mbconv2_e3_k3\"],[\"mbconv2_e3_k3\","
                          "\"mbconv2_e3_k3\"],[\"mbconv2_e3_k3\",\"mbconv2_e3_k3\"],["
                          "\"mbconv2_e3_k3\",\"mbconv2_e3_k3\"],[\"mbconv2_e3_k3\","
                          "\"mbconv2_e3_k3\"],[\"mbconv2_e6_k7\"]]}", &b), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, 4, 1, &sn), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_save(sn, p), AB_OK);
    ab_ofa_supernet_destroy(&sn);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_load(p, &sn), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(sn, mb, &a, &net), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT(contains(ab_err_msg(), "ofa_mbv3"));
    CU_ASSERT(contains(ab_err_msg(), "ofa_pn"));
    CU_ASSERT(contains(ab_err_msg(), p));
    ab_err_clear();
    /* the right family splices */
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(sn, pn, &b, &net), AB_OK);
    CU_ASSERT_PTR_NOT_NULL(net);
    ab_ofa_subnet_destroy(&net);
    ab_ofa_supernet_destroy(&sn);
    ab_space_destroy(&mb);
    ab_space_destroy(&pn);
    unlink(p);
}

/* --- input tensors ------------------------------------------------------- */

static void write_input(const char *path, const char *name, int rank, const hsize_t *dims,
                        const float *v)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(f);
    write_ds(f, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, v);
    H5Fclose(f);
}

static void expect_input_error(const char *name, const char *ds, int rank, const hsize_t *dims,
                               int want_r, const float *v, const char *want)
{
    const char *p = path_of(name);
    float *x = JUNK;
    int n = -1, r = -1;
    write_input(p, ds, rank, dims, v);
    CU_ASSERT_EQUAL(ab_ofa_input_read(p, want_r, &x, &n, &r), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(x);
    CU_ASSERT(n == 0 && r == 0);
    CU_ASSERT(contains(ab_err_msg(), p));
    CU_ASSERT(contains(ab_err_msg(), want));
    ab_err_clear();
    unlink(p);
}

static void test_input_read(void)
{
    static float v[2 * 3 * 9 * 9];
    hsize_t d4[4] = {2, 3, 8, 8};
    float *x = NULL;
    int n = 0, r = 0;
    const char *p = path_of("input.h5");
    setup();
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) v[i] = (float)i * 0.25f - 100.0f;
    write_input(p, "input", 4, d4, v);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_input_read(p, 8, &x, &n, &r), AB_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(r, 8);
    CU_ASSERT_EQUAL(memcmp(x, v, 2 * 3 * 8 * 8 * sizeof(float)), 0);
    free(x);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_input_read(p, 0, &x, &n, &r), AB_OK); /* any side */
    CU_ASSERT_EQUAL(r, 8);
    free(x);
    unlink(p);

    expect_input_error("i_name.h5", "images", 4, d4, 8, v, "no dataset 'input'");
    {
        hsize_t d3[3] = {3, 8, 8};
        expect_input_error("i_3d.h5", "input", 3, d3, 8, v, "3 dimensions");
    }
    {
        hsize_t d[4] = {2, 2, 8, 8};
        expect_input_error("i_2ch.h5", "input", 4, d, 8, v, "2 x 8 x 8");
    }
    {
        hsize_t d[4] = {2, 3, 8, 9};
        expect_input_error("i_rect.h5", "input", 4, d, 0, v, "8 x 9; expected N x 3 x R x R");
    }
    {
        hsize_t d[4] = {0, 3, 8, 8};
        expect_input_error("i_empty.h5", "input", 4, d, 8, v, "0 x 3 x 8 x 8");
    }
    expect_input_error("i_res.h5", "input", 4, d4, 16, v, "resolution is 16");
    v[100] = NAN;
    expect_input_error("i_nan.h5", "input", 4, d4, 8, v, "non-finite value at element 100");
    v[100] = 0;
    v[7] = -INFINITY;
    expect_input_error("i_inf.h5", "input", 4, d4, 8, v, "non-finite value at element 7");
    {
        float *x2 = NULL;
        CU_ASSERT_EQUAL(ab_ofa_input_read(path_of("absent.h5"), 8, &x2, &n, &r), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "absent.h5"));
        CU_ASSERT_EQUAL(ab_ofa_input_read(g_base, 8, &x2, &n, &r), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "no dataset 'input'"));
        CU_ASSERT_PTR_NULL(x2);
        ab_err_clear();
    }
}

/* --- logits files -------------------------------------------------------- */

static float *read_f32(hid_t loc, const char *name, int rank, const hsize_t *want)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), s;
    hsize_t dims[4] = {0, 0, 0, 0}, count = 1;
    float *v;
    CU_ASSERT_FATAL(d >= 0);
    H5OK(s = H5Dget_space(d));
    CU_ASSERT_EQUAL(H5Sget_simple_extent_ndims(s), rank);
    H5Sget_simple_extent_dims(s, dims, NULL);
    for (int i = 0; i < rank; i++) {
        CU_ASSERT_EQUAL(dims[i], want[i]);
        count *= dims[i];
    }
    v = malloc(count * sizeof *v);
    H5OK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
    H5Sclose(s);
    H5Dclose(d);
    return v;
}

static void test_logits_write(void)
{
    float logits[3 * N_CLASSES];
    const char *p = path_of("logits.h5"), *pc = path_of("logits_bn.h5");
    hid_t f, g;
    char *s = NULL;
    int64_t v = -1;
    hsize_t dims[2] = {3, N_CLASSES};
    float *back;
    struct ab_space *sp = NULL;
    struct ab_ofa_subnet *net = NULL;
    struct ab_arch a;
    setup();
    for (int i = 0; i < 3 * N_CLASSES; i++) logits[i] = (float)i / 7.0f - 2.0f;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_logits_write(p, logits, 3, N_CLASSES, "{\"x\":1}", "s.h5",
                                              NULL, 0), AB_OK);
    H5OK(f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT));
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "format", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, "autobuild-ofa-logits");
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_i64_attr(f, "format_version", &v), AB_OK);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "arch", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, "{\"x\":1}");
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_str_attr(f, "supernet", &s), AB_OK);
    CU_ASSERT_STRING_EQUAL(s, "s.h5");
    free(s);
    CU_ASSERT_EQUAL(ab_h5_read_i64_attr(f, "bn_calibrated", &v), AB_OK);
    CU_ASSERT_EQUAL(v, 0);
    back = read_f32(f, "logits", 2, dims);
    CU_ASSERT_EQUAL(memcmp(back, logits, sizeof logits), 0);
    free(back);
    CU_ASSERT_EQUAL(H5Lexists(f, "bn", H5P_DEFAULT), 0);
    H5Fclose(f);

    /* with a calibrated subnet: its BatchNorm statistics under /bn */
    CU_ASSERT_EQUAL_FATAL(ab_space_create_builtin("ofa_mbv3", &sp), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_arch_parse_json(sp, "{\"space\":\"ofa_mbv3\",\"resolution\":128,"
                          "\"stages\":[[\"mbconv3_e3_k3\",\"mbconv3_e4_k5\"],[\"mbconv3_e3_k3\","
                          "\"mbconv3_e3_k3\"],[\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"],["
                          "\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"],[\"mbconv3_e3_k3\","
                          "\"mbconv3_e6_k7\"]]}", &a), AB_OK);
    a.resolution = 16;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(g_sn, sp, &a, &net), AB_OK);
    {
        float x[2 * 3 * 16 * 16];
        for (int i = 0; i < 2 * 3 * 16 * 16; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        ab_ofa_subnet_calib_begin(net);
        CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(net, x, 2), AB_OK);
        CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(net), AB_OK);
    }
    CU_ASSERT_EQUAL_FATAL(ab_ofa_logits_write(pc, logits, 3, N_CLASSES, "{}", "s.h5", net, 1),
                          AB_OK);
    H5OK(f = H5Fopen(pc, H5F_ACC_RDONLY, H5P_DEFAULT));
    CU_ASSERT_EQUAL(ab_h5_read_i64_attr(f, "bn_calibrated", &v), AB_OK);
    CU_ASSERT_EQUAL(v, 1);
    H5OK(g = H5Gopen2(f, "bn", H5P_DEFAULT));
    {
        long n_order = 0;
        char **order = NULL;
        int nb = ab_ofa_subnet_n_bn(net);
        CU_ASSERT_EQUAL(ab_h5_read_strings(g, "order", &n_order, &order), AB_OK);
        CU_ASSERT_EQUAL(n_order, nb);
        for (int i = 0; i < nb && i < n_order; i++) {
            const char *name;
            const float *mean, *var;
            int c;
            char ds[160];
            hsize_t cd[1];
            ab_ofa_subnet_bn(net, i, &name, &c, &mean, &var);
            CU_ASSERT_STRING_EQUAL(order[i], name);
            cd[0] = (hsize_t)c;
            snprintf(ds, sizeof ds, "%s.running_mean", name);
            back = read_f32(g, ds, 1, cd);
            CU_ASSERT_EQUAL(memcmp(back, mean, (size_t)c * sizeof(float)), 0);
            free(back);
            snprintf(ds, sizeof ds, "%s.running_var", name);
            back = read_f32(g, ds, 1, cd);
            CU_ASSERT_EQUAL(memcmp(back, var, (size_t)c * sizeof(float)), 0);
            free(back);
        }
        ab_h5_free_strings(order, n_order);
    }
    H5Gclose(g);
    H5Fclose(f);
    /* a subnet but not calibrated: no /bn */
    CU_ASSERT_EQUAL_FATAL(ab_ofa_logits_write(pc, logits, 3, N_CLASSES, "{}", "s.h5", net, 0),
                          AB_OK);
    H5OK(f = H5Fopen(pc, H5F_ACC_RDONLY, H5P_DEFAULT));
    CU_ASSERT_EQUAL(H5Lexists(f, "bn", H5P_DEFAULT), 0);
    H5Fclose(f);
    /* nowhere to write: AB_ERR_IO */
    CU_ASSERT_EQUAL(ab_ofa_logits_write(path_of("none/l.h5"), logits, 3, N_CLASSES, "{}", "s",
                                        NULL, 0), AB_ERR_IO);
    CU_ASSERT_EQUAL(access(path_of("none"), F_OK), -1);
    ab_err_clear();
    ab_ofa_subnet_destroy(&net);
    ab_space_destroy(&sp);
    unlink(p);
    unlink(pc);
}

/* --- image sets ---------------------------------------------------------- */

struct set_spec {
    const char *format;
    int n, n_classes;
    int n_res;
    int res[3];
    int64_t labels[8];
    double mean[3], std[3];
    int n_mean;                 /* values in the mean attribute */
    int image_channels;         /* 3, or another count for a broken set */
};

static uint8_t pixel(int i, int r, int y, int x, int c)
{
    return (uint8_t)((i * 53 + r * 7 + y * 13 + x * 29 + c * 101) % 256);
}

static void default_spec(struct set_spec *s)
{
    static const int64_t labels[5] = {0, 3, 1, 2, 3};
    memset(s, 0, sizeof *s);
    s->format = "autobuild-imageset";
    s->n = 5;
    s->n_classes = 4;
    s->n_res = 2;
    s->res[0] = 12;
    s->res[1] = 8;
    memcpy(s->labels, labels, sizeof labels);
    s->mean[0] = 0.485;
    s->mean[1] = 0.456;
    s->mean[2] = 0.406;
    s->std[0] = 0.229;
    s->std[1] = 0.224;
    s->std[2] = 0.225;
    s->n_mean = 3;
    s->image_channels = 3;
}

/* Writes an image set as tools/convert_imagenet_folder.py does. */
static void write_set(const char *path, const struct set_spec *s)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int64_t res64[3];
    H5OK(f);
    attr_str(f, "format", s->format);
    attr_i64(f, "format_version", 1);
    attr_str(f, "created_by", "tools/convert_imagenet_folder.py");
    attr_f64s(f, "mean", s->mean, s->n_mean, 0);
    attr_f64s(f, "std", s->std, 3, 0);
    for (int i = 0; i < s->n_res; i++) res64[i] = s->res[i];
    attr_i64s(f, "resolutions", res64, s->n_res, 0);
    attr_i64(f, "n_images", s->n);
    attr_i64(f, "n_classes", s->n_classes);
    attr_str(f, "preprocessing", "Resize(ceil(R / 0.875)) bilinear, CenterCrop(R), uint8 RGB");
    attr_str(f, "source", "synthetic n=5 classes=4 seed=1");
    attr_str(f, "selection", "all 5");
    {
        hsize_t n = (hsize_t)s->n;
        write_ds(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, s->labels);
    }
    {
        const char *names[8] = {"synthetic_0000", "synthetic_0001", "synthetic_0002",
                                "synthetic_0003", "synthetic_0004", "synthetic_0005",
                                "synthetic_0006", "synthetic_0007"};
        hsize_t n = (hsize_t)(s->n_classes < 8 ? s->n_classes : 8);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5OK(H5Tset_size(t, H5T_VARIABLE));
        H5OK(H5Tset_cset(t, H5T_CSET_UTF8));
        write_ds(f, "class_names", t, t, 1, &n, names);
        H5Tclose(t);
    }
    for (int k = 0; k < s->n_res; k++) {
        int r = s->res[k], ch = s->image_channels;
        char name[32];
        hsize_t dims[4] = {(hsize_t)s->n, (hsize_t)r, (hsize_t)r, (hsize_t)ch};
        hsize_t chunk[4] = {1, (hsize_t)r, (hsize_t)r, (hsize_t)ch};
        uint8_t *img = malloc((size_t)s->n * r * r * ch);
        hid_t g, sp, pl, d;
        for (int i = 0; i < s->n; i++)
            for (int y = 0; y < r; y++)
                for (int x = 0; x < r; x++)
                    for (int c = 0; c < ch; c++)
                        img[(((size_t)i * r + y) * r + x) * ch + c] = pixel(i, r, y, x, c);
        snprintf(name, sizeof name, "r%d", r);
        H5OK(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        attr_i64(g, "resolution", r);
        attr_i64(g, "resize", (int64_t)ceil(r / 0.875));
        H5OK(sp = H5Screate_simple(4, dims, NULL));
        H5OK(pl = H5Pcreate(H5P_DATASET_CREATE));
        H5OK(H5Pset_chunk(pl, 4, chunk));
        if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5OK(H5Pset_deflate(pl, 4));
        H5OK(d = H5Dcreate2(g, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT));
        H5OK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img));
        H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(sp);
        H5Gclose(g);
        free(img);
    }
    H5Fclose(f);
}

/* Images [first, first + count) at r must be (u8 / 255 - mean) / std, CHW. */
static int check_images(const struct set_spec *s, const float *out, int r, int first, int count)
{
    int bad = 0;
    for (int i = 0; i < count; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < r; y++)
                for (int x = 0; x < r; x++) {
                    double want = (pixel(first + i, r, y, x, c) / 255.0 - s->mean[c]) / s->std[c];
                    float got = out[(((size_t)i * 3 + c) * r + y) * r + x];
                    if (fabs(got - want) > 1e-6 * fmax(1, fabs(want))) bad++;
                }
    return bad;
}

static void test_imageset_read(void)
{
    struct set_spec s;
    struct ab_imageset *set = NULL;
    const char *p = path_of("set.h5");
    float *out;
    setup();
    default_spec(&s);
    write_set(p, &s);
    CU_ASSERT_EQUAL_FATAL(ab_imageset_open(p, &set), AB_OK);
    CU_ASSERT_EQUAL(set->n, 5);
    CU_ASSERT_EQUAL(set->n_classes, 4);
    CU_ASSERT_EQUAL(set->n_res, 2);
    CU_ASSERT(set->res[0] == 12 && set->res[1] == 8);
    for (int c = 0; c < 3; c++) {
        CU_ASSERT_DOUBLE_EQUAL(set->mean[c], s.mean[c], 0);
        CU_ASSERT_DOUBLE_EQUAL(set->std[c], s.std[c], 0);
    }
    for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(set->labels[i], s.labels[i]);
    CU_ASSERT_STRING_EQUAL(set->path, p);
    out = malloc((size_t)5 * 3 * 12 * 12 * sizeof *out);
    CU_ASSERT_EQUAL(ab_imageset_read(set, 12, 0, 5, out), AB_OK);
    CU_ASSERT_EQUAL(check_images(&s, out, 12, 0, 5), 0);
    CU_ASSERT_EQUAL(ab_imageset_read(set, 8, 1, 3, out), AB_OK);
    CU_ASSERT_EQUAL(check_images(&s, out, 8, 1, 3), 0);
    CU_ASSERT_EQUAL(ab_imageset_read(set, 8, 4, 1, out), AB_OK);
    CU_ASSERT_EQUAL(check_images(&s, out, 8, 4, 1), 0);

    /* a resolution the set does not have: the message lists the ones it has */
    CU_ASSERT_EQUAL(ab_imageset_read(set, 16, 0, 1, out), AB_ERR_INPUT);
    CU_ASSERT(contains(ab_err_msg(), "no images at resolution 16"));
    CU_ASSERT(contains(ab_err_msg(), "(it has 12, 8)"));
    CU_ASSERT(contains(ab_err_msg(), p));
    CU_ASSERT_EQUAL(ab_imageset_read(set, 8, 4, 2, out), AB_ERR_INPUT);
    CU_ASSERT(contains(ab_err_msg(), "the set has 5"));
    CU_ASSERT_EQUAL(ab_imageset_read(set, 8, -1, 2, out), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_imageset_read(set, 8, 0, 0, out), AB_ERR_INPUT);
    ab_err_clear();
    free(out);
    ab_imageset_close(&set);
    CU_ASSERT_PTR_NULL(set);
    ab_imageset_close(&set); /* NULL-safe */
    unlink(p);
}

static void expect_set_error(const char *name, const struct set_spec *s, const char *want)
{
    struct ab_imageset *set = JUNK;
    const char *p = path_of(name);
    write_set(p, s);
    CU_ASSERT_EQUAL(ab_imageset_open(p, &set), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(set);
    CU_ASSERT(contains(ab_err_msg(), p));
    CU_ASSERT(contains(ab_err_msg(), want));
    ab_err_clear();
    unlink(p);
}

static void test_imageset_errors(void)
{
    struct set_spec s;
    setup();
    default_spec(&s);
    s.labels[2] = 4;
    expect_set_error("s_label.h5", &s, "label 4 of image 2 is outside 0 .. 3");
    default_spec(&s);
    s.labels[0] = -1;
    expect_set_error("s_label_neg.h5", &s, "label -1 of image 0");
    default_spec(&s);
    s.std[1] = 0;
    expect_set_error("s_std0.h5", &s, "std must be positive");
    default_spec(&s);
    s.std[2] = -0.2;
    expect_set_error("s_stdneg.h5", &s, "std must be positive");
    default_spec(&s);
    s.mean[0] = NAN;
    expect_set_error("s_meannan.h5", &s, "mean finite");
    default_spec(&s);
    s.n_mean = 2;
    expect_set_error("s_mean2.h5", &s, "'mean' must hold 3 values");
    default_spec(&s);
    s.format = "autobuild-store";
    expect_set_error("s_format.h5", &s, "autobuild-store");
    default_spec(&s);
    s.n_classes = 0;
    expect_set_error("s_classes.h5", &s, "n_classes 0");
    /* images stored with one channel: open succeeds, read says the shape */
    default_spec(&s);
    s.image_channels = 1;
    {
        struct ab_imageset *set = NULL;
        const char *p = path_of("s_gray.h5");
        float out[3 * 8 * 8];
        write_set(p, &s);
        CU_ASSERT_EQUAL_FATAL(ab_imageset_open(p, &set), AB_OK);
        CU_ASSERT_EQUAL(ab_imageset_read(set, 8, 0, 1, out), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "expected 5 x 8 x 8 x 3"));
        ab_err_clear();
        ab_imageset_close(&set);
        unlink(p);
    }
    /* labels for another number of images */
    {
        const char *p = path_of("s_nlabels.h5");
        struct ab_imageset *set = NULL;
        hid_t f;
        default_spec(&s);
        write_set(p, &s);
        H5OK(f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT));
        attr_i64(f, "n_images", 6);
        H5Fclose(f);
        CU_ASSERT_EQUAL(ab_imageset_open(p, &set), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "5 labels for 6 images"));
        ab_err_clear();
        unlink(p);
    }
    /* not an image set at all */
    {
        struct ab_imageset *set = NULL;
        CU_ASSERT_EQUAL(ab_imageset_open(g_base, &set), AB_ERR_INPUT);
        CU_ASSERT(contains(ab_err_msg(), "autobuild-ofa-supernet"));
        CU_ASSERT_PTR_NULL(set);
        ab_err_clear();
    }
}

static const struct cu_case cases[] = {
    {"state-dict layout of both families", test_layout},
    {"random supernets", test_random},
    {"save and load: bit-identical, attributes", test_save_load},
    {"legacy mobile_inverted_conv names", test_legacy_names},
    {"load errors name the file and the tensor", test_load_errors},
    {"load: not HDF5, missing file", test_load_not_supernet},
    {"supernet of the other family", test_family_mismatch},
    {"input tensors", test_input_read},
    {"logits files", test_logits_write},
    {"image sets: normalised CHW images", test_imageset_read},
    {"image set errors", test_imageset_errors},
    {NULL, NULL}};
CU_MAIN("ofa_supernet", cases)
