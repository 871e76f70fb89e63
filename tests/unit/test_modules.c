/* SPDX-License-Identifier: MIT
 *
 * This file tests module scoring and the spaces built from it
 * (common/space/space.h, reduced.c, coordinator/modules/units.h):
 *
 * 1. Unit subgraph enumeration: for every index of ofa_mbv3's units (7371
 *    each), ofa_pn's merged unit 5 (66339) and every unit of the YAML spaces
 *    tests/data/macro8.yaml and attrs.yaml, the unranked subgraph is valid,
 *    ranks back to its index, and is strictly after the previous one in the
 *    documented order (total layers, then per-stage layer counts, then choice
 *    indices, first layer most significant). Strict order + valid + the known
 *    count make unrank a bijection onto the unit's subgraphs. Subgraphs taken
 *    from sampled architectures rank and unrank to themselves.
 * 2. Reduced spaces: built in memory, saved, loaded through ab_space_open:
 *    sizes, counts, allowed sets and sample resolutions survive; 2000 samples
 *    hold only allowed subgraphs and cover all of them; validation accepts
 *    allowed architectures and rejects others naming the unit; load refuses
 *    non-HDF5 files, other autobuild formats, indices beyond the space,
 *    repeated indices, empty units, missing units, bad shapes, foreign
 *    resolutions and a broken space definition (files edited with the HDF5 C
 *    API).
 * 3. Module scoring (Eq. 5): with a predictor trained on a synthetic target
 *    (ofa_mbv3) every unit lists each subgraph exactly once, best first; for
 *    random subgraphs the score is recomputed one subgraph at a time (node
 *    features compared with the same layers inside a whole architecture,
 *    last node's embedding at hop min(n-1, L), L1 norm, shifted by the hop
 *    and stage moments); with hand-set moments on ofa_pn (L = 2, so hops are
 *    capped) the formula is checked against our own constants; spaces
 *    without resolutions and predictors without stage moments score the
 *    plain standardised norm; units files round-trip exactly and bad ones are
 *    refused.
 * 4. Reduce (ab_units_reduce): the sorted, repeat-free union of every
 *    file's top-K subgraphs per unit, one K or one per unit, the top K of
 *    each size when constrained, sample resolutions given or the scoring
 *    one; K 0, a K list of the wrong length, a foreign resolution and files
 *    of two spaces are refused.
 *
 * The best-first construction of `autobuild build` is checked against brute
 * force in tests/cli/test_modules.sh.
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "cu_main.h"
#include "data/dataset.h"
#include "graph/seqgraph.h"
#include "h5/h5util.h"
#include "modules/units.h"
#include "predictor/model.h"
#include "predictor/train.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/rng.h"

/* ---- helpers -------------------------------------------------------------- */

static char tmpdir[256];

static void ensure_tmpdir(void)
{
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ab_test_modules_XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(tmpdir) != NULL);
}

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    ensure_tmpdir();
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Number of entries in the temporary folder whose name contains `part`. */
static int tmp_count(const char *part)
{
    DIR *d;
    struct dirent *e;
    int n = 0;
    ensure_tmpdir();
    d = opendir(tmpdir);
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* A built-in space, or a file of tests/data (AB_TEST_DATA). */
static struct ab_space *open_space(const char *name)
{
    struct ab_space *sp = NULL;
    char path[1024];
    if (strstr(name, ".yaml")) {
        const char *dir = getenv("AB_TEST_DATA") ? getenv("AB_TEST_DATA") : "tests/data";
        snprintf(path, sizeof path, "%s/%s", dir, name);
        name = path;
    }
    if (ab_space_open(name, &sp) != AB_OK) fprintf(stderr, "\n  %s\n", ab_err_msg());
    CU_ASSERT_FATAL(sp != NULL);
    return sp;
}

static int msg_has(const char *needle)
{
    int ok = strstr(ab_err_msg(), needle) != NULL;
    if (!ok) fprintf(stderr, "\n  expected '%s' in error: %s\n", needle, ab_err_msg());
    return ok;
}

static void copy_file(const char *from, const char *to)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    CU_ASSERT_FATAL(ab_fs_read_all(from, (size_t)1 << 28, &buf, &len) == AB_OK);
    f = fopen(to, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(buf, 1, len, f) == len);
    fclose(f);
    free(buf);
}

/* Replaces (or creates) dataset `name` in an HDF5 file: file type ft, memory
 * type mt, rank and dims; data NULL for an empty dataset. */
static void h5_put(const char *path, const char *name, hid_t ft, hid_t mt, int rank,
                   const hsize_t *dims, const void *data)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), s, d;
    CU_ASSERT_FATAL(f >= 0);
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) CU_ASSERT_FATAL(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    s = H5Screate_simple(rank, dims, NULL);
    CU_ASSERT_FATAL(s >= 0);
    d = H5Dcreate2(f, name, ft, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    if (data) CU_ASSERT_FATAL(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(s);
    CU_ASSERT_FATAL(H5Fclose(f) >= 0);
}

static void h5_put_u64(const char *path, const char *name, const uint64_t *v, hsize_t n)
{
    h5_put(path, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n, n ? v : NULL);
}

static void h5_delete(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_FATAL(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    CU_ASSERT_FATAL(H5Fclose(f) >= 0);
}

static void h5_set_str_attr(const char *path, const char *name, const char *value)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    if (H5Aexists(f, name) > 0) CU_ASSERT_FATAL(H5Adelete(f, name) >= 0);
    CU_ASSERT_FATAL(ab_h5_write_str_attr(f, name, value) == AB_OK);
    CU_ASSERT_FATAL(H5Fclose(f) >= 0);
}

static int subgraph_nodes(const struct ab_subgraph *g)
{
    int n = 0;
    for (int k = 0; k < g->n_stages; k++) n += g->depth[k];
    return n;
}

/* ---- 1. rank / unrank ------------------------------------------------------- */

/* Compares two subgraphs of one unit in the documented enumeration order:
 * total layer count, then the stages' layer counts, then the choice indices
 * (first stage, first layer most significant). */
static int order_cmp(const struct ab_subgraph *a, const struct ab_subgraph *b)
{
    int ta = subgraph_nodes(a), tb = subgraph_nodes(b);
    if (ta != tb) return ta < tb ? -1 : 1;
    for (int k = 0; k < a->n_stages; k++)
        if (a->depth[k] != b->depth[k]) return a->depth[k] < b->depth[k] ? -1 : 1;
    for (int k = 0; k < a->n_stages; k++)
        for (int l = 0; l < a->depth[k]; l++)
            if (a->choice[k][l] != b->choice[k][l]) return a->choice[k][l] < b->choice[k][l] ? -1 : 1;
    return 0;
}

/* 1 when g is a valid subgraph of unit u (layers beyond the depth zero). */
static int subgraph_valid(const struct ab_space *sp, int u, const struct ab_subgraph *g)
{
    const struct ab_unit *un = &sp->units[u];
    if (g->unit != u || g->n_stages != un->n_stages) return 0;
    for (int k = 0; k < un->n_stages; k++) {
        const struct ab_stage *st = &sp->stages[un->first + k];
        if (g->depth[k] < st->min_layers || g->depth[k] > st->max_layers) return 0;
        for (int l = 0; l < AB_MAX_LAYERS; l++) {
            if (l < g->depth[k] && g->choice[k][l] >= st->n_choices) return 0;
            if (l >= g->depth[k] && g->choice[k][l] != 0) return 0;
        }
    }
    for (int k = un->n_stages; k < AB_MAX_STAGES; k++)
        if (g->depth[k] != 0) return 0;
    return 1;
}

static void check_unit_rank(const struct ab_space *sp, int u, uint64_t expect)
{
    struct ab_subgraph prev, g;
    uint64_t n = ab_space_unit_count_full(sp, u);
    long bad_rank = 0, bad_order = 0, bad_valid = 0;
    CU_ASSERT_EQUAL(n, expect);
    CU_ASSERT_EQUAL(ab_space_unit_count(sp, u), expect);
    for (uint64_t i = 0; i < n; i++) {
        CU_ASSERT_FATAL(ab_space_unit_subgraph(sp, u, i, &g) == AB_OK);
        if (!subgraph_valid(sp, u, &g)) bad_valid++;
        if (ab_space_unit_subgraph_index(sp, &g) != i) bad_rank++;
        if (i > 0 && order_cmp(&prev, &g) >= 0) bad_order++;
        prev = g;
    }
    if (bad_rank || bad_order || bad_valid)
        fprintf(stderr, "\n  %s unit %d: %ld rank mismatches, %ld out of order, %ld invalid\n",
                sp->name, u + 1, bad_rank, bad_order, bad_valid);
    CU_ASSERT_EQUAL(bad_rank, 0);
    CU_ASSERT_EQUAL(bad_order, 0);
    CU_ASSERT_EQUAL(bad_valid, 0);
    /* the index one past the end is refused */
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(sp, u, n, &g), AB_ERR_INPUT);
    CU_ASSERT(msg_has("out of range"));
}

static void test_rank_ofa_mbv3(void)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    CU_ASSERT_EQUAL(sp->n_units, 5);
    for (int u = 0; u < sp->n_units; u++) check_unit_rank(sp, u, 7371);
    ab_space_destroy(&sp);
}

static void test_rank_ofa_pn(void)
{
    struct ab_space *sp = open_space("ofa_pn");
    CU_ASSERT_EQUAL_FATAL(sp->n_units, 5);
    CU_ASSERT_EQUAL(sp->units[4].n_stages, 2);
    check_unit_rank(sp, 4, 66339);
    check_unit_rank(sp, 0, 7371);
    ab_space_destroy(&sp);
}

static void test_rank_yaml(void)
{
    struct ab_space *sp = open_space("macro8.yaml");
    static const uint64_t macro8[] = {9, 27, 27};
    static const uint64_t attrs[] = {3 + 9 + 27, 4, 2 + 4};
    CU_ASSERT_EQUAL_FATAL(sp->n_units, 3);
    for (int u = 0; u < 3; u++) check_unit_rank(sp, u, macro8[u]);
    ab_space_destroy(&sp);
    sp = open_space("attrs.yaml");
    CU_ASSERT_EQUAL_FATAL(sp->n_units, 3);
    CU_ASSERT_EQUAL(sp->units[2].n_stages, 2);
    for (int u = 0; u < 3; u++) check_unit_rank(sp, u, attrs[u]);
    /* an out-of-range unit is refused */
    struct ab_subgraph g;
    CU_ASSERT_EQUAL(ab_space_unit_subgraph(sp, 3, 0, &g), AB_ERR_INPUT);
    CU_ASSERT(msg_has("unit 4"));
    ab_space_destroy(&sp);
}

/* A unit of three stages whose layer counts all vary, so one total layer
 * count has several depth tuples: (2+4+8) x (3+9) x (4+8) = 2016 subgraphs,
 * and a unit of one fixed layer. */
static const char merged3_yaml[] =
    "space:\n"
    "  name: merged3\n"
    "  units: [[1, 2, 3], [4]]\n"
    "  stages:\n"
    "    - {min_layers: 1, max_layers: 3, choices: [a, b]}\n"
    "    - {min_layers: 1, max_layers: 2, choices: [a, b, c]}\n"
    "    - {min_layers: 2, max_layers: 3, choices: [x, y]}\n"
    "    - {min_layers: 1, max_layers: 1, choices: [z]}\n";

static void test_rank_merged3(void)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_FATAL(ab_space_from_yaml(merged3_yaml, strlen(merged3_yaml), "merged3", &sp) ==
                    AB_OK);
    CU_ASSERT_EQUAL_FATAL(sp->n_units, 2);
    check_unit_rank(sp, 0, 2016);
    check_unit_rank(sp, 1, 1);
    ab_space_destroy(&sp);
}

/* Subgraphs taken out of sampled architectures (ab_arch_get_unit) rank to an
 * index that unranks to the same subgraph, and set back into an arch give
 * the same architecture. */
static void test_rank_from_archs(void)
{
    const char *spaces[] = {"ofa_mbv3", "ofa_pn", "attrs.yaml"};
    for (int k = 0; k < 3; k++) {
        struct ab_space *sp = open_space(spaces[k]);
        struct ab_rng r;
        long bad = 0;
        ab_rng_seed(&r, 42 + (uint64_t)k);
        for (int i = 0; i < 500; i++) {
            struct ab_arch a, b;
            ab_arch_sample(sp, &r, NULL, 0, &a);
            b = a;
            for (int u = 0; u < sp->n_units; u++) {
                struct ab_subgraph g, h;
                ab_arch_get_unit(sp, &a, u, &g);
                uint64_t idx = ab_space_unit_subgraph_index(sp, &g);
                if (idx >= ab_space_unit_count_full(sp, u) ||
                    ab_space_unit_subgraph(sp, u, idx, &h) != AB_OK || order_cmp(&g, &h) != 0) {
                    bad++;
                    continue;
                }
                ab_arch_set_unit(sp, &b, &h);
            }
            if (!ab_arch_equal(&a, &b)) bad++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        ab_space_destroy(&sp);
    }
}

/* ---- 2. reduced spaces ------------------------------------------------------ */

/* Makes sp reduced: unit u keeps picks[u][0..n[u]) (ascending). */
static void make_reduced(struct ab_space *sp, const uint64_t (*picks)[8], const int *n)
{
    for (int u = 0; u < sp->n_units; u++) {
        sp->allowed[u].n = (uint64_t)n[u];
        sp->allowed[u].index = malloc(sizeof(uint64_t) * (size_t)n[u]);
        CU_ASSERT_FATAL(sp->allowed[u].index != NULL);
        memcpy(sp->allowed[u].index, picks[u], sizeof(uint64_t) * (size_t)n[u]);
    }
    sp->reduced = 1;
}

static void set_sample_resolutions(struct ab_space *sp, const int *res, int n)
{
    free(sp->sample_resolutions);
    sp->sample_resolutions = malloc(sizeof(int) * (size_t)n);
    CU_ASSERT_FATAL(sp->sample_resolutions != NULL);
    memcpy(sp->sample_resolutions, res, sizeof(int) * (size_t)n);
    sp->n_sample_resolutions = n;
}

/* Position of index in unit u's allowed set, or -1. */
static int allowed_pos(const struct ab_space *sp, int u, uint64_t index)
{
    for (uint64_t i = 0; i < sp->allowed[u].n; i++)
        if (sp->allowed[u].index[i] == index) return (int)i;
    return -1;
}

/* Draws n architectures of a reduced space and checks they are valid, hold
 * only allowed subgraphs, cover every allowed subgraph of every unit and use
 * only (and all of) the sample resolutions. */
static void check_reduced_sampling(const struct ab_space *r, int n, uint64_t seed)
{
    struct ab_rng rng;
    int seen[AB_MAX_STAGES][8] = {{0}}, res_seen[8] = {0};
    long outside = 0, invalid = 0, bad_res = 0;
    ab_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        struct ab_arch a;
        ab_arch_sample(r, &rng, NULL, 0, &a);
        if (ab_arch_validate(r, &a) != AB_OK) invalid++;
        int rp = -1;
        for (int k = 0; k < r->n_sample_resolutions; k++)
            if (r->sample_resolutions[k] == a.resolution) rp = k;
        if (r->n_sample_resolutions > 0 && rp < 0) bad_res++;
        if (r->n_sample_resolutions == 0 && a.resolution != 0) bad_res++;
        if (rp >= 0) res_seen[rp] = 1;
        for (int u = 0; u < r->n_units; u++) {
            struct ab_subgraph g;
            ab_arch_get_unit(r, &a, u, &g);
            int p = allowed_pos(r, u, ab_space_unit_subgraph_index(r, &g));
            if (p < 0) outside++;
            else seen[u][p] = 1;
        }
    }
    CU_ASSERT_EQUAL(invalid, 0);
    CU_ASSERT_EQUAL(outside, 0);
    CU_ASSERT_EQUAL(bad_res, 0);
    for (int u = 0; u < r->n_units; u++)
        for (uint64_t i = 0; i < r->allowed[u].n; i++) CU_ASSERT(seen[u][i]);
    for (int k = 0; k < r->n_sample_resolutions; k++) CU_ASSERT(res_seen[k]);
}

static const uint64_t mbv3_picks[5][8] = {
    {0, 81, 810, 7370}, {1, 88, 811, 7369}, {2, 95, 812, 7368}, {3, 102, 813, 7367},
    {4, 109, 814, 7366}};
static const int mbv3_n[5] = {4, 4, 4, 4, 4};

/* The reduced ofa_mbv3 space of mbv3_picks sampling 160 and 224, saved. */
static void save_mbv3_reduced(const char *path)
{
    struct ab_space *sp = open_space("ofa_mbv3");
    static const int res[] = {160, 224};
    make_reduced(sp, mbv3_picks, mbv3_n);
    set_sample_resolutions(sp, res, 2);
    if (ab_reduced_space_save(sp, path) != AB_OK) fprintf(stderr, "\n  %s\n", ab_err_msg());
    CU_ASSERT_FATAL(ab_fs_exists(path));
    ab_space_destroy(&sp);
}

static void test_reduced_roundtrip_mbv3(void)
{
    const char *path = tpath("mbv3_reduced.h5");
    struct ab_space *r = NULL, *base = open_space("ofa_mbv3");
    char *size;
    save_mbv3_reduced(path);
    CU_ASSERT_EQUAL(tmp_count(".tmp"), 0); /* atomic save leaves no temporary */
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &r), AB_OK);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(r->reduced, 1);
    CU_ASSERT_EQUAL(r->kind, AB_SPACE_OFA_MBV3);
    CU_ASSERT_STRING_EQUAL(r->name, "ofa_mbv3");
    CU_ASSERT_STRING_EQUAL(r->definition, base->definition);
    CU_ASSERT(r->reduced_source && !strcmp(r->reduced_source, path));
    CU_ASSERT_EQUAL_FATAL(r->n_units, 5);
    for (int u = 0; u < 5; u++) {
        CU_ASSERT_EQUAL(ab_space_unit_count(r, u), 4);
        CU_ASSERT_EQUAL(ab_space_unit_count_full(r, u), 7371);
        CU_ASSERT_EQUAL_FATAL(r->allowed[u].n, 4);
        for (int i = 0; i < 4; i++) {
            CU_ASSERT_EQUAL(r->allowed[u].index[i], mbv3_picks[u][i]);
            CU_ASSERT(ab_space_unit_allows(r, u, mbv3_picks[u][i]));
        }
        CU_ASSERT(!ab_space_unit_allows(r, u, 5000));
        CU_ASSERT(ab_space_unit_allows(base, u, 5000)); /* full spaces allow all */
    }
    size = ab_space_size_string(r);
    CU_ASSERT(size && !strcmp(size, "1024")); /* 4^5 */
    free(size);
    CU_ASSERT(fabs(ab_space_size_log10(r) - log10(1024.0)) < 1e-9);
    CU_ASSERT_EQUAL_FATAL(r->n_sample_resolutions, 2);
    CU_ASSERT_EQUAL(r->sample_resolutions[0], 160);
    CU_ASSERT_EQUAL(r->sample_resolutions[1], 224);
    CU_ASSERT_EQUAL(r->n_resolutions, base->n_resolutions); /* all still valid */

    check_reduced_sampling(r, 2000, 7);

    /* validation: an allowed arch passes; one disallowed unit is named */
    struct ab_arch a, b;
    struct ab_subgraph g;
    struct ab_rng rng;
    ab_rng_seed(&rng, 3);
    ab_arch_sample(r, &rng, NULL, 0, &a);
    CU_ASSERT_EQUAL(ab_arch_validate(r, &a), AB_OK);
    CU_ASSERT_EQUAL(ab_arch_validate(base, &a), AB_OK);
    b = a;
    CU_ASSERT_FATAL(ab_space_unit_subgraph(r, 2, 5000, &g) == AB_OK);
    ab_arch_set_unit(r, &b, &g);
    CU_ASSERT_EQUAL(ab_arch_validate(base, &b), AB_OK);
    CU_ASSERT_EQUAL(ab_arch_validate(r, &b), AB_ERR_INPUT);
    CU_ASSERT(msg_has("unit 3"));
    CU_ASSERT(msg_has("reduced space"));
    CU_ASSERT(msg_has(path));
    /* ... also through the JSON parser */
    char *json = ab_arch_to_json(r, &b);
    struct ab_arch c;
    CU_ASSERT_FATAL(json != NULL);
    CU_ASSERT_EQUAL(ab_arch_parse_json(r, json, &c), AB_ERR_INPUT);
    CU_ASSERT(msg_has("unit 3"));
    CU_ASSERT_EQUAL(ab_arch_parse_json(base, json, &c), AB_OK);
    free(json);
    /* the last unit differs: named too */
    b = a;
    CU_ASSERT_FATAL(ab_space_unit_subgraph(r, 4, 7370, &g) == AB_OK);
    ab_arch_set_unit(r, &b, &g);
    CU_ASSERT_EQUAL(ab_arch_validate(r, &b), AB_ERR_INPUT);
    CU_ASSERT(msg_has("unit 5"));
    /* base rules still apply: a resolution outside the space */
    b = a;
    b.resolution = 225;
    CU_ASSERT_EQUAL(ab_arch_validate(r, &b), AB_ERR_INPUT);
    CU_ASSERT(msg_has("resolution 225"));
    /* the sample resolutions restrict sampling, not validity */
    b = a;
    b.resolution = 192;
    CU_ASSERT_EQUAL(ab_arch_validate(r, &b), AB_OK);
    /* every unit of every allowed combination validates */
    {
        long bad = 0;
        for (int u = 0; u < 5; u++)
            for (int i = 0; i < 4; i++) {
                b = a;
                CU_ASSERT_FATAL(ab_space_unit_subgraph(r, u, mbv3_picks[u][i], &g) == AB_OK);
                ab_arch_set_unit(r, &b, &g);
                if (ab_arch_validate(r, &b) != AB_OK) bad++;
            }
        CU_ASSERT_EQUAL(bad, 0);
    }

    /* the file lists each kept subgraph as JSON beside its index */
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), grp;
        char **sg = NULL, *attr = NULL;
        long n = 0;
        CU_ASSERT_FATAL(f >= 0);
        CU_ASSERT(ab_h5_read_str_attr(f, "size", &attr) == AB_OK && attr && !strcmp(attr, "1024"));
        free(attr);
        attr = NULL;
        CU_ASSERT(ab_h5_read_str_attr(f, "space", &attr) == AB_OK && attr &&
                  !strcmp(attr, "ofa_mbv3"));
        free(attr);
        grp = H5Gopen2(f, "unit_1", H5P_DEFAULT);
        CU_ASSERT_FATAL(grp >= 0);
        CU_ASSERT_FATAL(ab_h5_read_strings(grp, "subgraph", &n, &sg) == AB_OK);
        CU_ASSERT_EQUAL(n, 4);
        /* index 0: the first two-layer subgraph, all choice 0 */
        CU_ASSERT(n > 0 && !strcmp(sg[0], "[[\"mbconv3_e3_k3\",\"mbconv3_e3_k3\"]]"));
        /* index 7370: the last four-layer one */
        CU_ASSERT(n > 3 && !strcmp(sg[3], "[[\"mbconv3_e6_k7\",\"mbconv3_e6_k7\","
                                          "\"mbconv3_e6_k7\",\"mbconv3_e6_k7\"]]"));
        ab_h5_free_strings(sg, n);
        H5Gclose(grp);
        H5Fclose(f);
    }
    ab_space_destroy(&r);
    ab_space_destroy(&base);
}

/* A YAML space with a merged unit and uneven kept counts (3 x 2 x 6 = 36),
 * and a YAML space without resolutions. */
static void test_reduced_roundtrip_yaml(void)
{
    static const uint64_t picks[3][8] = {{0, 5, 38}, {1, 3}, {0, 1, 2, 3, 4, 5}};
    static const int n[3] = {3, 2, 6};
    const char *path = tpath("attrs_reduced.h5");
    struct ab_space *sp = open_space("attrs.yaml"), *r = NULL;
    char *size;
    make_reduced(sp, picks, n);
    CU_ASSERT_EQUAL_FATAL(ab_reduced_space_save(sp, path), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &r), AB_OK);
    CU_ASSERT_EQUAL(r->kind, AB_SPACE_YAML);
    CU_ASSERT_STRING_EQUAL(r->name, "attrs_demo");
    CU_ASSERT_STRING_EQUAL(r->definition, sp->definition);
    for (int u = 0; u < 3; u++) {
        CU_ASSERT_EQUAL_FATAL(ab_space_unit_count(r, u), (uint64_t)n[u]);
        for (int i = 0; i < n[u]; i++) CU_ASSERT_EQUAL(r->allowed[u].index[i], picks[u][i]);
    }
    size = ab_space_size_string(r);
    CU_ASSERT(size && !strcmp(size, "36"));
    free(size);
    /* sample_resolutions of the YAML space ([224]) are kept */
    CU_ASSERT_EQUAL_FATAL(r->n_sample_resolutions, 1);
    CU_ASSERT_EQUAL(r->sample_resolutions[0], 224);
    check_reduced_sampling(r, 2000, 11);
    ab_space_destroy(&r);
    ab_space_destroy(&sp);

    /* macro8: no resolutions, archs carry none */
    static const uint64_t mpicks[3][8] = {{8}, {0, 26}, {13}};
    static const int mn[3] = {1, 2, 1};
    path = tpath("macro8_reduced.h5");
    sp = open_space("macro8.yaml");
    make_reduced(sp, mpicks, mn);
    CU_ASSERT_EQUAL_FATAL(ab_reduced_space_save(sp, path), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_space_open(path, &r), AB_OK);
    size = ab_space_size_string(r);
    CU_ASSERT(size && !strcmp(size, "2"));
    free(size);
    CU_ASSERT_EQUAL(r->n_resolutions, 0);
    check_reduced_sampling(r, 200, 5);
    ab_space_destroy(&r);
    ab_space_destroy(&sp);

    /* a space that is not reduced is not saved as one */
    sp = open_space("macro8.yaml");
    CU_ASSERT_NOT_EQUAL(ab_reduced_space_save(sp, tpath("not_reduced.h5")), AB_OK);
    CU_ASSERT(!ab_fs_exists(tpath("not_reduced.h5")));
    /* an unwritable destination fails and leaves nothing */
    make_reduced(sp, mpicks, mn);
    CU_ASSERT_NOT_EQUAL(ab_reduced_space_save(sp, tpath("no_such_dir/r.h5")), AB_OK);
    CU_ASSERT_EQUAL(tmp_count(".tmp"), 0);
    ab_space_destroy(&sp);
}

/* Loads path as a space, expecting AB_ERR_INPUT with both substrings. */
static void expect_load_error(const char *path, const char *want1, const char *want2)
{
    struct ab_space *r = (struct ab_space *)1;
    ab_status rc = ab_space_open(path, &r);
    CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(r);
    if (want1) CU_ASSERT(msg_has(want1));
    if (want2) CU_ASSERT(msg_has(want2));
    if (rc == AB_OK) ab_space_destroy(&r);
}

/* A small archdata file of ofa_mbv3. */
static void write_archdata(const char *path)
{
    struct ab_dataset *d = calloc(1, sizeof *d);
    struct ab_rng rng;
    CU_ASSERT_FATAL(d != NULL);
    d->space = open_space("ofa_mbv3");
    d->n = 3;
    d->n_metrics = 1;
    d->metric_names = calloc(1, sizeof(char *));
    d->metric_names[0] = strdup("t");
    d->archs = calloc(3, sizeof *d->archs);
    d->hashes = calloc(3, sizeof *d->hashes);
    d->metrics = calloc(3, sizeof *d->metrics);
    ab_rng_seed(&rng, 1);
    for (int i = 0; i < 3; i++) {
        ab_arch_sample(d->space, &rng, NULL, 0, &d->archs[i]);
        d->hashes[i] = ab_arch_hash(d->space, &d->archs[i]);
        d->metrics[i] = i;
    }
    CU_ASSERT_FATAL(ab_dataset_write(d, path) == AB_OK);
    ab_dataset_destroy(&d);
}

static void test_reduced_load_errors(void)
{
    const char *good = tpath("good_reduced.h5");
    char bad[512];
    FILE *f;
    save_mbv3_reduced(good);
    snprintf(bad, sizeof bad, "%s", tpath("bad_reduced.h5"));

    /* missing file; not HDF5; another autobuild format */
    expect_load_error(tpath("missing.h5"), "missing.h5", NULL);
    f = fopen(bad, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("space:\n  name: not_hdf5\n", f);
    fclose(f);
    expect_load_error(bad, bad, "not an HDF5 file");
    write_archdata(bad);
    expect_load_error(bad, "autobuild-archdata", "autobuild-reduced-space");

    /* an index beyond the space (7371 subgraphs in unit 2) */
    copy_file(good, bad);
    {
        uint64_t v[] = {3, 7371};
        h5_put_u64(bad, "unit_2/index", v, 2);
    }
    expect_load_error(bad, "unit 2", "7371");
    /* the same index twice (unsorted in the file) */
    copy_file(good, bad);
    {
        uint64_t v[] = {9, 5, 9};
        h5_put_u64(bad, "unit_4/index", v, 3);
    }
    expect_load_error(bad, "unit 4", "twice");
    /* a unit that keeps nothing */
    copy_file(good, bad);
    h5_put_u64(bad, "unit_5/index", NULL, 0);
    expect_load_error(bad, "unit 5", "no subgraph");
    /* a missing unit */
    copy_file(good, bad);
    h5_delete(bad, "unit_3");
    expect_load_error(bad, "unit_3", NULL);
    /* an index table of two dimensions */
    copy_file(good, bad);
    {
        uint64_t v[] = {1, 2, 3, 4};
        hsize_t dims[2] = {2, 2};
        h5_put(bad, "unit_1/index", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, dims, v);
    }
    expect_load_error(bad, "unit_1/index", "list");
    /* a sample resolution outside the space */
    copy_file(good, bad);
    {
        int v[] = {224, 225};
        hsize_t n = 2;
        h5_put(bad, "resolutions", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &n, v);
    }
    expect_load_error(bad, "resolution 225", NULL);
    /* a broken space definition */
    copy_file(good, bad);
    h5_set_str_attr(bad, "space_definition", "{\"builtin\":\"ofa_resnet\"}");
    expect_load_error(bad, "space definition", NULL);
    /* resolutions of two dimensions are refused (the loader reads a
     * one-dimensional extent) */
    copy_file(good, bad);
    {
        int v[] = {224, 224, 160, 160};
        hsize_t dims[2] = {2, 2};
        h5_put(bad, "resolutions", H5T_STD_I32LE, H5T_NATIVE_INT, 2, dims, v);
    }
    expect_load_error(bad, "resolutions", NULL);

    /* the unsorted but distinct index list of a hand-made file is accepted
     * and sorted */
    copy_file(good, bad);
    {
        uint64_t v[] = {900, 7, 300};
        h5_put_u64(bad, "unit_4/index", v, 3);
        struct ab_space *r = NULL;
        CU_ASSERT_EQUAL_FATAL(ab_space_open(bad, &r), AB_OK);
        CU_ASSERT_EQUAL_FATAL(r->allowed[3].n, 3);
        CU_ASSERT(r->allowed[3].index[0] == 7 && r->allowed[3].index[1] == 300 &&
                  r->allowed[3].index[2] == 900);
        CU_ASSERT(ab_space_unit_allows(r, 3, 300) && !ab_space_unit_allows(r, 3, 301));
        ab_space_destroy(&r);
    }
    /* without a resolutions dataset the base space's sampling set is used */
    copy_file(good, bad);
    h5_delete(bad, "resolutions");
    {
        struct ab_space *r = NULL, *base = open_space("ofa_mbv3");
        CU_ASSERT_EQUAL_FATAL(ab_space_open(bad, &r), AB_OK);
        CU_ASSERT_EQUAL_FATAL(r->n_sample_resolutions, base->n_sample_resolutions);
        for (int i = 0; i < r->n_sample_resolutions; i++)
            CU_ASSERT_EQUAL(r->sample_resolutions[i], base->sample_resolutions[i]);
        ab_space_destroy(&r);
        ab_space_destroy(&base);
    }
    unlink(bad);
}

/* ---- 3. module scoring ------------------------------------------------------ */

/* A macs-like synthetic target: weighted layers, expansions and kernels. */
static double synthetic_target(const struct ab_space *sp, const struct ab_arch *a)
{
    double t = 0;
    for (int s = 0; s < sp->n_stages; s++)
        for (int l = 0; l < a->depth[s]; l++) {
            const struct ab_choice *c = &sp->stages[s].choices[a->choice[s][l]];
            t += (1.0 + 0.3 * s) * (1.0 + 0.5 * c->expand + 0.4 * c->kernel);
        }
    return t * (1.0 + (a->resolution - 192) / 64.0);
}

static struct ab_predictor *g_pred;

/* A GATv2 predictor (H 32, L 4) trained 15 epochs on 220 ofa_mbv3 archs. */
static struct ab_predictor *trained_predictor(void)
{
    struct ab_dataset *d;
    struct ab_pred_config cfg;
    struct ab_train_opts o;
    struct ab_rng rng;
    const long n = 220;
    if (g_pred) return g_pred;
    d = calloc(1, sizeof *d);
    CU_ASSERT_FATAL(d != NULL);
    d->space = open_space("ofa_mbv3");
    d->n = n;
    d->n_metrics = 1;
    d->metric_names = calloc(1, sizeof(char *));
    d->metric_names[0] = strdup("t");
    d->archs = calloc((size_t)n, sizeof *d->archs);
    d->hashes = calloc((size_t)n, sizeof *d->hashes);
    d->metrics = calloc((size_t)n, sizeof *d->metrics);
    CU_ASSERT_FATAL(d->metric_names[0] && d->archs && d->hashes && d->metrics);
    ab_rng_seed(&rng, 2024);
    for (long i = 0; i < n;) {
        int dup = 0;
        ab_arch_sample(d->space, &rng, NULL, 0, &d->archs[i]);
        for (long j = 0; j < i && !dup; j++) dup = ab_arch_equal(&d->archs[i], &d->archs[j]);
        if (dup) continue;
        d->hashes[i] = ab_arch_hash(d->space, &d->archs[i]);
        d->metrics[i] = synthetic_target(d->space, &d->archs[i]);
        i++;
    }
    ab_pred_config_default(d->space, &cfg);
    ab_train_opts_default(&o);
    o.epochs = 15;
    o.batch = 32;
    o.lr = 3e-3;
    o.seed = 5;
    o.progress_s = 0;
    if (ab_train_predictor(d, "t", &cfg, &o, &g_pred) != AB_OK)
        fprintf(stderr, "\n  %s\n", ab_err_msg());
    CU_ASSERT_FATAL(g_pred != NULL);
    CU_ASSERT_FATAL(g_pred->stage_moments != NULL);
    ab_dataset_destroy(&d);
    return g_pred;
}

/* Every unit lists each of its subgraphs once, best first (ties by index),
 * with its node count. */
static void check_units_shape(const struct ab_space *sp, const struct ab_units *us)
{
    CU_ASSERT_EQUAL_FATAL(us->n_units, sp->n_units);
    for (int u = 0; u < us->n_units; u++) {
        const struct ab_unit_scores *s = &us->u[u];
        uint64_t full = ab_space_unit_count_full(sp, u);
        char *seen = calloc((size_t)full, 1);
        long dup = 0, range = 0, order = 0, nodes = 0, nonfinite = 0;
        CU_ASSERT_FATAL(seen != NULL);
        CU_ASSERT_EQUAL_FATAL((uint64_t)s->n, full);
        for (long i = 0; i < s->n; i++) {
            struct ab_subgraph g;
            if (s->index[i] >= full) {
                range++;
                continue;
            }
            if (seen[s->index[i]]++) dup++;
            if (!isfinite(s->score[i]) || !isfinite(s->raw[i]) || s->raw[i] < 0) nonfinite++;
            if (i > 0 && (s->score[i] > s->score[i - 1] ||
                          (s->score[i] == s->score[i - 1] && s->index[i] < s->index[i - 1])))
                order++;
            if (ab_space_unit_subgraph(sp, u, s->index[i], &g) != AB_OK ||
                subgraph_nodes(&g) != s->nodes[i])
                nodes++;
        }
        if (dup || range || order || nodes || nonfinite)
            fprintf(stderr, "\n  unit %d: %ld dup, %ld range, %ld order, %ld nodes, %ld nonfinite\n",
                    u + 1, dup, range, order, nodes, nonfinite);
        CU_ASSERT_EQUAL(dup + range + order + nodes + nonfinite, 0);
        free(seen);
    }
}

/* The raw norm of one subgraph fed alone: last node's embedding at hop
 * min(n-1, L), L1 norm. Also checks the subgraph's graph: a chain of n
 * nodes whose feature rows equal those of the same layers inside a whole
 * architecture at that resolution. */
static double raw_norm_alone(struct ab_predictor *p, int u, uint64_t index, int resolution,
                             int *n_out)
{
    const struct ab_space *sp = p->space;
    struct ab_pred_ws *ws = NULL;
    struct ab_graph_batch *b = NULL, *w = NULL;
    struct ab_subgraph g;
    struct ab_arch a;
    struct ab_rng rng;
    int n, hop, width, before = 0, F = sp->n_features;
    double norm = 0;
    CU_ASSERT_FATAL(ab_space_unit_subgraph(sp, u, index, &g) == AB_OK);
    n = subgraph_nodes(&g);
    CU_ASSERT_FATAL(ab_graph_batch_create(p->n_fe, &b) == AB_OK);
    CU_ASSERT_FATAL(ab_graph_batch_add_subgraph(b, sp, &g, resolution) == AB_OK);
    CU_ASSERT_EQUAL(b->n_graphs, 1);
    CU_ASSERT_EQUAL_FATAL(b->n_nodes, n);
    CU_ASSERT_EQUAL(b->n_edges, n - 1);
    /* the same layers inside a whole (random) architecture */
    ab_rng_seed(&rng, index * 31 + (uint64_t)u);
    ab_arch_sample(sp, &rng, NULL, 0, &a);
    a.resolution = resolution;
    ab_arch_set_unit(sp, &a, &g);
    CU_ASSERT_FATAL(ab_arch_validate(sp, &a) == AB_OK);
    CU_ASSERT_FATAL(ab_graph_batch_create(p->n_fe, &w) == AB_OK);
    CU_ASSERT_FATAL(ab_graph_batch_add_arch(w, sp, &a) == AB_OK);
    for (int s = 0; s < sp->units[u].first; s++) before += a.depth[s];
    CU_ASSERT(memcmp(b->x, w->x + (size_t)before * (size_t)F, sizeof(float) * (size_t)(n * F)) ==
              0);
    /* forward alone, evaluation mode */
    CU_ASSERT_FATAL(ab_pred_ws_create(p, &ws) == AB_OK);
    CU_ASSERT_FATAL(ab_pred_forward(p, ws, b, 0) == AB_OK);
    hop = n - 1 < p->cfg.layers ? n - 1 : p->cfg.layers;
    const float *h = ab_pred_node_embeddings(p, ws, hop, &width);
    CU_ASSERT_FATAL(h != NULL);
    for (int k = 0; k < width; k++) norm += fabs((double)h[(size_t)(n - 1) * (size_t)width + k]);
    ab_pred_ws_destroy(&ws);
    ab_graph_batch_destroy(&b);
    ab_graph_batch_destroy(&w);
    *n_out = n;
    return norm;
}

/* Checks `count` random entries (and the first and last) of every unit
 * against a recomputation; mu/sd(hop), smu/ssd(unit, n) give Eq. 5. Returns
 * how many checked subgraphs had n - 1 > L (capped hop). */
typedef void (*moments_fn)(const struct ab_predictor *p, int u, int n, double *mu, double *sd,
                           double *smu, double *ssd);

static int check_scores(struct ab_predictor *p, const struct ab_units *us, int resolution,
                        int count, uint64_t seed, moments_fn moments)
{
    struct ab_rng rng;
    int capped = 0;
    long bad_raw = 0, bad_score = 0, bad_formula = 0;
    ab_rng_seed(&rng, seed);
    for (int u = 0; u < us->n_units; u++) {
        const struct ab_unit_scores *s = &us->u[u];
        for (int k = 0; k < count + 2; k++) {
            long i = k == 0 ? 0 : k == 1 ? s->n - 1 : (long)ab_rng_below(&rng, (uint64_t)s->n);
            int n;
            double raw = raw_norm_alone(p, u, s->index[i], resolution, &n);
            double mu, sd, smu, ssd;
            moments(p, u, n, &mu, &sd, &smu, &ssd);
            if (n - 1 > p->cfg.layers) capped++;
            double want = (raw - mu) / sd * ssd + smu;
            double from_stored = (s->raw[i] - mu) / sd * ssd + smu;
            /* float32 network; batch composition changes summation order */
            double tol_raw = 1e-4 * (fabs(raw) + 1e-3);
            double tol_score = fabs(ssd / sd) * tol_raw + 1e-9 * fabs(want);
            if (fabs(raw - s->raw[i]) > tol_raw) bad_raw++;
            if (fabs(want - s->score[i]) > tol_score) bad_score++;
            if (fabs(from_stored - s->score[i]) > 1e-9 * (fabs(from_stored) + 1)) bad_formula++;
            if (fabs(raw - s->raw[i]) > tol_raw || fabs(want - s->score[i]) > tol_score)
                fprintf(stderr, "\n  unit %d index %llu (n %d): raw %.9g vs %.9g, score %.9g vs %.9g\n",
                        u + 1, (unsigned long long)s->index[i], n, raw, s->raw[i], want,
                        s->score[i]);
        }
    }
    CU_ASSERT_EQUAL(bad_raw, 0);
    CU_ASSERT_EQUAL(bad_score, 0);
    CU_ASSERT_EQUAL(bad_formula, 0);
    return capped;
}

/* Eq. 5 moments as the predictor holds them. */
static void predictor_moments(const struct ab_predictor *p, int u, int n, double *mu, double *sd,
                              double *smu, double *ssd)
{
    int hop = n - 1 < p->cfg.layers ? n - 1 : p->cfg.layers;
    *mu = p->hop_mean[hop];
    *sd = p->hop_std[hop] > 0 ? p->hop_std[hop] : 1.0;
    *smu = 0.0;
    *ssd = 1.0;
    if (p->stage_moments && u < p->stage_units && n - 1 < p->stage_hmax) {
        *smu = p->stage_moments[2 * ((size_t)u * (size_t)p->stage_hmax + (size_t)(n - 1))];
        *ssd = p->stage_moments[2 * ((size_t)u * (size_t)p->stage_hmax + (size_t)(n - 1)) + 1];
    }
}

static void test_score_trained(void)
{
    struct ab_predictor *p = trained_predictor();
    struct ab_units *us = NULL, *us2 = NULL, *us160 = NULL;
    CU_ASSERT_EQUAL_FATAL(p->cfg.norm_ord, 1);
    /* every node count of every unit was seen in training (2..4 layers) */
    for (int u = 0; u < 5; u++)
        for (int c = 2; c <= 4; c++)
            CU_ASSERT(p->stage_moments[2 * ((size_t)u * (size_t)p->stage_hmax + (size_t)(c - 1)) + 1] > 0);
    /* batches of 1000: the last batch of each unit is partial */
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, "pred.h5", 224, 1000, &us), AB_OK);
    CU_ASSERT_STRING_EQUAL(us->target, "t");
    CU_ASSERT_STRING_EQUAL(us->predictor, "pred.h5");
    CU_ASSERT_EQUAL(us->resolution, 224);
    CU_ASSERT_STRING_EQUAL(us->space->name, "ofa_mbv3");
    CU_ASSERT_EQUAL(us->space->reduced, 0);
    check_units_shape(p->space, us);
    check_scores(p, us, 224, 12, 99, predictor_moments);
    /* Eq. 5 keeps the size bias: the best subgraphs of a unit of a target
     * that grows with layers and expansion are four-layer ones */
    for (int u = 0; u < 5; u++) CU_ASSERT_EQUAL(us->u[u].nodes[0], 4);

    /* other batch size and threads: same scores (float tolerance) */
    p->threads = 3;
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, NULL, 224, 4096, &us2), AB_OK);
    p->threads = 1;
    CU_ASSERT_STRING_EQUAL(us2->predictor, "");
    {
        long bad = 0;
        for (int u = 0; u < 5; u++) {
            double *by = calloc(7371, sizeof(double));
            CU_ASSERT_FATAL(by != NULL);
            for (long i = 0; i < us->u[u].n; i++) by[us->u[u].index[i]] = us->u[u].raw[i];
            for (long i = 0; i < us2->u[u].n; i++)
                if (fabs(by[us2->u[u].index[i]] - us2->u[u].raw[i]) > 1e-4 * (us2->u[u].raw[i] + 1e-3))
                    bad++;
            free(by);
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* the resolution is a node feature: scoring at 160 changes raw norms */
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, "pred.h5", 160, 4096, &us160), AB_OK);
    CU_ASSERT_EQUAL(us160->resolution, 160);
    check_scores(p, us160, 160, 3, 5, predictor_moments);
    {
        long differ = 0;
        for (int u = 0; u < 5; u++) {
            double *by = calloc(7371, sizeof(double));
            CU_ASSERT_FATAL(by != NULL);
            for (long i = 0; i < us->u[u].n; i++) by[us->u[u].index[i]] = us->u[u].raw[i];
            for (long i = 0; i < us160->u[u].n; i++)
                if (fabs(by[us160->u[u].index[i]] - us160->u[u].raw[i]) > 1e-3) differ++;
            free(by);
        }
        CU_ASSERT(differ > 1000);
    }
    ab_units_destroy(&us);
    ab_units_destroy(&us2);
    ab_units_destroy(&us160);
    CU_ASSERT_PTR_NULL(us);
    ab_units_destroy(&us); /* NULL-safe */
}

/* Hand-set moments: mu_l = 1 + l, sd_l = 0.5 + l; unit u, n nodes:
 * (10 u + n, 1 + 0.1 n). */
static void handset_moments(const struct ab_predictor *p, int u, int n, double *mu, double *sd,
                            double *smu, double *ssd)
{
    int hop = n - 1 < p->cfg.layers ? n - 1 : p->cfg.layers;
    *mu = 1.0 + hop;
    *sd = 0.5 + hop;
    *smu = 10.0 * u + n;
    *ssd = 1.0 + 0.1 * n;
}

static void test_score_handset_ofa_pn(void)
{
    struct ab_space *sp = open_space("ofa_pn");
    struct ab_pred_config cfg;
    struct ab_predictor *p = NULL;
    struct ab_units *us = NULL;
    ab_pred_config_default(sp, &cfg);
    cfg.hidden = 8;
    cfg.layers = 2; /* unit 5 has 3 to 5 nodes: hops 3 and 4 are capped at 2 */
    CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 17, &p) == AB_OK);
    for (int l = 0; l <= 2; l++) {
        p->hop_mean[l] = 1.0 + l;
        p->hop_std[l] = 0.5 + l;
    }
    p->stage_units = 5;
    p->stage_hmax = 5;
    p->stage_moments = calloc(5 * 5 * 2, sizeof(double));
    CU_ASSERT_FATAL(p->stage_moments != NULL);
    for (int u = 0; u < 5; u++)
        for (int c = 1; c <= 5; c++) {
            p->stage_moments[2 * (u * 5 + c - 1)] = 10.0 * u + c;
            p->stage_moments[2 * (u * 5 + c - 1) + 1] = 1.0 + 0.1 * c;
        }
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, "pn.h5", 224, 2500, &us), AB_OK);
    CU_ASSERT_EQUAL_FATAL(us->n_units, 5);
    CU_ASSERT_EQUAL(us->u[4].n, 66339);
    CU_ASSERT_EQUAL(us->u[0].n, 7371);
    check_units_shape(p->space, us);
    CU_ASSERT(check_scores(p, us, 224, 20, 123, handset_moments) > 0);
    ab_units_destroy(&us);
    ab_predictor_destroy(&p);
    ab_space_destroy(&sp);
}

/* No stage moments (an untrained predictor) and no resolutions: the score is
 * the hop-standardised norm. */
static void test_score_untrained_macro8(void)
{
    struct ab_space *sp = open_space("macro8.yaml");
    struct ab_pred_config cfg;
    struct ab_predictor *p = NULL;
    struct ab_units *us = NULL;
    ab_pred_config_default(sp, &cfg);
    cfg.hidden = 8;
    cfg.layers = 1;
    CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 3, &p) == AB_OK);
    CU_ASSERT_PTR_NULL(p->stage_moments);
    p->hop_mean[1] = 0.25;
    p->hop_std[1] = 2.0;
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, "m.h5", 0, 7, &us), AB_OK);
    CU_ASSERT_EQUAL(us->resolution, 0);
    check_units_shape(p->space, us);
    check_scores(p, us, 0, 5, 8, predictor_moments);
    for (int u = 0; u < 3; u++)
        for (long i = 0; i < us->u[u].n; i++)
            CU_ASSERT_DOUBLE_EQUAL(us->u[u].score[i], (us->u[u].raw[i] - 0.25) / 2.0, 1e-12);
    ab_units_destroy(&us);
    ab_predictor_destroy(&p);
    ab_space_destroy(&sp);
}

static void expect_units_error(const char *path, const char *want1, const char *want2)
{
    struct ab_units *us = (struct ab_units *)1;
    ab_status rc = ab_units_load(path, &us);
    CU_ASSERT_EQUAL(rc, AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(us);
    if (want1) CU_ASSERT(msg_has(want1));
    if (want2) CU_ASSERT(msg_has(want2));
    if (rc == AB_OK) ab_units_destroy(&us);
}

static void test_units_file(void)
{
    struct ab_predictor *p = trained_predictor();
    struct ab_units *us = NULL, *back = NULL;
    const char *path = tpath("units.h5");
    char bad[512];
    CU_ASSERT_EQUAL_FATAL(ab_units_score(p, "some/pred.h5", 208, 4096, &us), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_units_save(us, path), AB_OK);
    CU_ASSERT_EQUAL(tmp_count(".tmp"), 0);
    CU_ASSERT_EQUAL_FATAL(ab_units_load(path, &back), AB_OK);
    CU_ASSERT_STRING_EQUAL(back->target, "t");
    CU_ASSERT_STRING_EQUAL(back->predictor, "some/pred.h5");
    CU_ASSERT_EQUAL(back->resolution, 208);
    CU_ASSERT_STRING_EQUAL(back->space->name, "ofa_mbv3");
    CU_ASSERT_STRING_EQUAL(back->space->definition, us->space->definition);
    CU_ASSERT_EQUAL_FATAL(back->n_units, us->n_units);
    for (int u = 0; u < us->n_units; u++) {
        const struct ab_unit_scores *a = &us->u[u], *b = &back->u[u];
        CU_ASSERT_EQUAL_FATAL(a->n, b->n);
        CU_ASSERT(!memcmp(a->index, b->index, sizeof *a->index * (size_t)a->n));
        CU_ASSERT(!memcmp(a->score, b->score, sizeof *a->score * (size_t)a->n));
        CU_ASSERT(!memcmp(a->raw, b->raw, sizeof *a->raw * (size_t)a->n));
        CU_ASSERT(!memcmp(a->nodes, b->nodes, sizeof *a->nodes * (size_t)a->n));
    }
    /* the file's attributes and text form */
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), g;
        int64_t v = 0;
        char **sg = NULL;
        long n = 0;
        struct ab_subgraph sub;
        CU_ASSERT_FATAL(f >= 0);
        CU_ASSERT(ab_h5_read_i64_attr(f, "n_units", &v) == AB_OK && v == 5);
        g = H5Gopen2(f, "unit_5", H5P_DEFAULT);
        CU_ASSERT_FATAL(g >= 0);
        CU_ASSERT_FATAL(ab_h5_read_strings(g, "subgraph", &n, &sg) == AB_OK);
        CU_ASSERT_EQUAL_FATAL(n, 7371);
        CU_ASSERT_FATAL(ab_space_unit_subgraph(us->space, 4, us->u[4].index[0], &sub) == AB_OK);
        {
            char want[512];
            size_t len = (size_t)snprintf(want, sizeof want, "[[");
            for (int l = 0; l < sub.depth[0]; l++)
                len += (size_t)snprintf(want + len, sizeof want - len, "%s\"%s\"", l ? "," : "",
                                        us->space->stages[4].choices[sub.choice[0][l]].name);
            snprintf(want + len, sizeof want - len, "]]");
            CU_ASSERT_STRING_EQUAL(sg[0], want);
        }
        ab_h5_free_strings(sg, n);
        H5Gclose(g);
        H5Fclose(f);
    }
    ab_units_destroy(&back);

    /* refusals: other formats, a missing unit, a wrong length, unsorted
     * scores, an index beyond the unit */
    snprintf(bad, sizeof bad, "%s", tpath("bad_units.h5"));
    save_mbv3_reduced(bad);
    expect_units_error(bad, "autobuild-reduced-space", "autobuild-units");
    copy_file(path, bad);
    h5_delete(bad, "unit_4");
    expect_units_error(bad, "unit_4", NULL);
    copy_file(path, bad);
    {
        double v[] = {3, 2, 1};
        hsize_t n = 3;
        h5_put(bad, "unit_2/score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, v);
    }
    expect_units_error(bad, "score", "7371");
    copy_file(path, bad);
    {
        double *v = malloc(sizeof(double) * 7371);
        hsize_t n = 7371;
        CU_ASSERT_FATAL(v != NULL);
        memcpy(v, us->u[2].score, sizeof(double) * 7371);
        double t = v[10];
        v[10] = v[11];
        v[11] = t;
        if (v[10] == v[11]) v[11] = v[10] + 1; /* make the swap visible */
        h5_put(bad, "unit_3/score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, v);
        free(v);
    }
    expect_units_error(bad, "unit 3", "sorted");
    copy_file(path, bad);
    {
        uint64_t *v = malloc(sizeof(uint64_t) * 7371);
        hsize_t n = 7371;
        CU_ASSERT_FATAL(v != NULL);
        memcpy(v, us->u[0].index, sizeof(uint64_t) * 7371);
        v[100] = 7371;
        h5_put(bad, "unit_1/index", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n, v);
        free(v);
    }
    expect_units_error(bad, "unit 1", "invalid");
    /* a subgraph listed twice (another one missing) is refused: `build`
     * would otherwise emit the same architecture twice */
    copy_file(path, bad);
    {
        uint64_t *v = malloc(sizeof(uint64_t) * 7371);
        hsize_t n = 7371;
        CU_ASSERT_FATAL(v != NULL);
        memcpy(v, us->u[0].index, sizeof(uint64_t) * 7371);
        v[1] = v[0];
        h5_put(bad, "unit_1/index", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n, v);
        free(v);
    }
    expect_units_error(bad, "unit 1", NULL);
    unlink(bad);
    ab_units_destroy(&us);
}

/* ---- reduce: the top-K union (ab_units_reduce) -------------------------------- */

/* A units file in memory: per unit, `n` subgraph indices (best first) with
 * node counts nodes[i] (the scores themselves do not matter to reduce). */
static struct ab_units *fake_units(const char *space, const uint64_t *index, const int *nodes,
                                   long n, int resolution)
{
    struct ab_units *us = calloc(1, sizeof *us);
    CU_ASSERT_FATAL(us != NULL);
    us->space = open_space(space);
    us->n_units = us->space->n_units;
    us->resolution = resolution;
    for (int u = 0; u < us->n_units; u++) {
        struct ab_unit_scores *s = &us->u[u];
        s->n = n;
        s->index = malloc(sizeof *s->index * (size_t)n);
        s->score = malloc(sizeof *s->score * (size_t)n);
        s->raw = malloc(sizeof *s->raw * (size_t)n);
        s->nodes = malloc(sizeof *s->nodes * (size_t)n);
        CU_ASSERT_FATAL(s->index && s->score && s->raw && s->nodes);
        for (long i = 0; i < n; i++) {
            s->index[i] = index[i] + (uint64_t)u; /* units differ a little */
            s->nodes[i] = nodes[i];
            s->score[i] = s->raw[i] = (double)(n - i);
        }
    }
    return us;
}

static void test_reduce_union(void)
{
    /* file A ranks 50, 40, 30, 20, 10 (sizes 2, 2, 3, 3, 4); file B 40, 60, 10, 70, 80 */
    const uint64_t ia[] = {50, 40, 30, 20, 10}, ib[] = {40, 60, 10, 70, 80};
    const int na[] = {2, 2, 3, 3, 4}, nb[] = {3, 3, 2, 2, 4};
    struct ab_units *us[3] = {fake_units("ofa_mbv3", ia, na, 5, 224),
                              fake_units("ofa_mbv3", ib, nb, 5, 224), NULL};
    struct ab_space *sp = NULL;
    int ks[5] = {2, 2, 2, 2, 2}, res[2] = {192, 208};
    /* unconstrained, K 2: {50, 40} u {40, 60}, sorted, no repeats */
    CU_ASSERT_FATAL(ab_units_reduce(us, 2, ks, 1, 0, NULL, 0, "r.h5", &sp) == AB_OK);
    CU_ASSERT(sp->reduced == 1);
    CU_ASSERT_STRING_EQUAL(sp->reduced_source, "r.h5");
    for (int u = 0; u < 5; u++) {
        CU_ASSERT_FATAL(sp->allowed[u].n == 3);
        CU_ASSERT(sp->allowed[u].index[0] == 40 + (uint64_t)u);
        CU_ASSERT(sp->allowed[u].index[1] == 50 + (uint64_t)u);
        CU_ASSERT(sp->allowed[u].index[2] == 60 + (uint64_t)u);
    }
    /* sample resolutions: the scoring resolution by default */
    CU_ASSERT(sp->n_sample_resolutions == 1 && sp->sample_resolutions[0] == 224);
    ab_space_destroy(&sp);
    /* one K per unit, given resolutions */
    int per[5] = {1, 2, 3, 4, 5};
    CU_ASSERT_FATAL(ab_units_reduce(us, 1, per, 5, 0, res, 2, "r.h5", &sp) == AB_OK);
    for (int u = 0; u < 5; u++) CU_ASSERT(sp->allowed[u].n == (uint64_t)per[u]);
    CU_ASSERT(sp->n_sample_resolutions == 2 && sp->sample_resolutions[1] == 208);
    ab_space_destroy(&sp);
    /* constrained, K 1: the best of each size; A: 50 (2), 30 (3), 10 (4);
     * B: 40 (3), 10 (2), 80 (4) -> {10, 30, 40, 50, 80} */
    CU_ASSERT_FATAL(ab_units_reduce(us, 2, per, 1, 1, NULL, 0, "r.h5", &sp) == AB_OK);
    {
        const uint64_t want[] = {10, 30, 40, 50, 80};
        CU_ASSERT_FATAL(sp->allowed[0].n == 5);
        for (int i = 0; i < 5; i++) CU_ASSERT(sp->allowed[0].index[i] == want[i]);
    }
    ab_space_destroy(&sp);
    /* refusals: K 0, a K list of the wrong length, a foreign resolution,
     * files of two spaces */
    ks[0] = 0;
    CU_ASSERT(ab_units_reduce(us, 2, ks, 1, 0, NULL, 0, "r.h5", &sp) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("k must be at least 1") && sp == NULL);
    ks[0] = 2;
    CU_ASSERT(ab_units_reduce(us, 2, ks, 2, 0, NULL, 0, "r.h5", &sp) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("one per unit (5 units), got 2") && sp == NULL);
    res[0] = 225;
    CU_ASSERT(ab_units_reduce(us, 2, ks, 1, 0, res, 1, "r.h5", &sp) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("resolution 225") && sp == NULL);
    us[2] = fake_units("ofa_pn", ia, na, 5, 224);
    CU_ASSERT(ab_units_reduce(us, 3, ks, 1, 0, NULL, 0, "r.h5", &sp) == AB_ERR_INPUT);
    CU_ASSERT(msg_has("units file 3 is of space 'ofa_pn'") && sp == NULL);
    for (int i = 0; i < 3; i++) ab_units_destroy(&us[i]);
}

/* ---- driver ----------------------------------------------------------------- */

static void setup(void)
{
    ab_h5_init();
    ab_log_set_level(AB_LOG_WARN); /* no training progress lines */
    ensure_tmpdir();
}

static void cleanup(void)
{
    char cmd[600];
    ab_predictor_destroy(&g_pred);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static const struct cu_case cases[] = {
    {"setup", setup},
    {"rank/unrank: ofa_mbv3 units (7371 each)", test_rank_ofa_mbv3},
    {"rank/unrank: ofa_pn merged unit 5 (66339)", test_rank_ofa_pn},
    {"rank/unrank: YAML spaces macro8, attrs", test_rank_yaml},
    {"rank/unrank: a unit of three variable stages", test_rank_merged3},
    {"rank/unrank: units of sampled architectures", test_rank_from_archs},
    {"reduced space: ofa_mbv3 round trip, sampling, validation", test_reduced_roundtrip_mbv3},
    {"reduced space: YAML spaces, failed saves", test_reduced_roundtrip_yaml},
    {"reduced space: load errors", test_reduced_load_errors},
    {"scoring: trained predictor, Eq. 5 recomputed", test_score_trained},
    {"scoring: hand-set moments on ofa_pn (capped hops)", test_score_handset_ofa_pn},
    {"scoring: no stage moments, no resolutions", test_score_untrained_macro8},
    {"units file: round trip and refusals", test_units_file},
    {"reduce: top-K union, constrained, refusals", test_reduce_union},
    {"cleanup", cleanup},
    {NULL, NULL}};

CU_MAIN("modules", cases)
