/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of worker/ofa/ofa_cost.c: exact MAC and
 * parameter counts of OFA subnets against numbers that the real once-for-all
 * code reported (tools/dev/ofa_cost_reference.py: count_parameters() and the
 * per-layer formula of count_net_flops() summed in integers, on
 * get_active_subnet() of OFAMobileNetV3 w1.2 / w1.0 and OFAProxylessNASNets
 * w1.3), plus the failure cases. The spaces are built by hand here so the
 * test needs nothing from common/space/space.c.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cu_main.h"
#include "ofa/ofa_cost.h"
#include "space/space.h"
#include "util/error.h"

/* One reference subnet: per stage, the (expansion, kernel) of each layer. */
struct ref_case {
    enum ab_space_kind kind;
    double width;
    int resolution;
    uint64_t macs, params;
    int depth[6];
    int ek[6][4][2];
};

/* Printed by `tools/dev/ofa_cost_reference.py --c-table` (seed 2024): per
 * space the largest and smallest subnets, two uniform ones, two random ones;
 * then MBv3 at width 1.0. OFA's own float32 count_net_flops() differs from
 * these exact MACs by -64 .. +32 on these rows (e.g. 843101056 for the first
 * row); the parameter counts are count_parameters() exactly. */
static const struct ref_case ref_cases[] = {
    {AB_SPACE_OFA_MBV3, 1.2, 224, UINT64_C(843101040), UINT64_C(10701632),
     {4, 4, 4, 4, 4},
     {{{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}}}},
    {AB_SPACE_OFA_MBV3, 1.2, 128, UINT64_C(65536896), UINT64_C(4602456),
     {2, 2, 2, 2, 2},
     {{{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}}}},
    {AB_SPACE_OFA_MBV3, 1.2, 192, UINT64_C(284524160), UINT64_C(6245312),
     {3, 3, 3, 3, 3},
     {{{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}}}},
    {AB_SPACE_OFA_MBV3, 1.2, 132, UINT64_C(174077352), UINT64_C(6207768),
     {4, 4, 4, 4, 4},
     {{{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}}}},
    {AB_SPACE_OFA_MBV3, 1.2, 168, UINT64_C(233850944), UINT64_C(6231512),
     {3, 3, 4, 2, 3},
     {{{3, 5}, {3, 7}, {6, 7}},
      {{3, 5}, {4, 3}, {4, 5}},
      {{4, 3}, {4, 3}, {4, 3}, {4, 5}},
      {{3, 7}, {4, 5}},
      {{6, 3}, {4, 3}, {4, 7}}}},
    {AB_SPACE_OFA_MBV3, 1.2, 132, UINT64_C(166307448), UINT64_C(7006864),
     {3, 2, 4, 4, 3},
     {{{3, 3}, {6, 3}, {3, 5}},
      {{6, 3}, {3, 3}},
      {{4, 3}, {4, 3}, {4, 7}, {4, 5}},
      {{4, 3}, {6, 7}, {3, 5}, {3, 5}},
      {{4, 7}, {6, 5}, {3, 5}}}},
    {AB_SPACE_OFA_PN, 1.3, 224, UINT64_C(1004908032), UINT64_C(7942056),
     {4, 4, 4, 4, 4, 1},
     {{{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}}}},
    {AB_SPACE_OFA_PN, 1.3, 128, UINT64_C(87823104), UINT64_C(3718832),
     {2, 2, 2, 2, 2, 1},
     {{{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}}}},
    {AB_SPACE_OFA_PN, 1.3, 192, UINT64_C(358218368), UINT64_C(5053864),
     {3, 3, 3, 3, 3, 1},
     {{{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}, {4, 5}, {4, 5}},
      {{4, 5}}}},
    {AB_SPACE_OFA_PN, 1.3, 132, UINT64_C(218804328), UINT64_C(5155296),
     {4, 4, 4, 4, 4, 1},
     {{{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}, {3, 7}, {3, 7}, {3, 7}},
      {{3, 7}}}},
    {AB_SPACE_OFA_PN, 1.3, 216, UINT64_C(477265656), UINT64_C(4940904),
     {2, 3, 2, 4, 2, 1},
     {{{3, 7}, {3, 7}},
      {{6, 7}, {6, 3}, {6, 3}},
      {{3, 7}, {3, 5}},
      {{4, 5}, {4, 3}, {6, 5}, {6, 5}},
      {{6, 7}, {6, 7}},
      {{3, 3}}}},
    {AB_SPACE_OFA_PN, 1.3, 204, UINT64_C(464210960), UINT64_C(5382824),
     {2, 4, 3, 3, 4, 1},
     {{{6, 7}, {6, 5}},
      {{3, 7}, {4, 7}, {3, 5}, {3, 3}},
      {{3, 5}, {4, 5}, {3, 7}},
      {{3, 7}, {6, 5}, {3, 3}},
      {{3, 5}, {6, 7}, {3, 3}, {3, 3}},
      {{3, 7}}}},
    {AB_SPACE_OFA_MBV3, 1.0, 224, UINT64_C(566170656), UINT64_C(7664760),
     {4, 4, 4, 4, 4},
     {{{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}},
      {{6, 7}, {6, 7}, {6, 7}, {6, 7}}}},
    {AB_SPACE_OFA_MBV3, 1.0, 128, UINT64_C(41476224), UINT64_C(3410792),
     {2, 2, 2, 2, 2},
     {{{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}},
      {{3, 3}, {3, 3}}}},
    {AB_SPACE_OFA_MBV3, 1.0, 168, UINT64_C(154602232), UINT64_C(4540128),
     {3, 3, 4, 2, 3},
     {{{3, 5}, {3, 7}, {6, 7}},
      {{3, 5}, {4, 3}, {4, 5}},
      {{4, 3}, {4, 3}, {4, 3}, {4, 5}},
      {{3, 7}, {4, 5}},
      {{6, 3}, {4, 3}, {4, 7}}}},
};
#define N_REF_CASES (sizeof ref_cases / sizeof ref_cases[0])

static const int expands[3] = {3, 4, 6};
static const int kernels[3] = {3, 5, 7};

/* The nine choices of an OFA stage, ordered e-major like space_ofa.c. */
static struct ab_choice choices[9];
static char choice_names[9][16];

static void init_choices(void)
{
    for (int i = 0; i < 9; i++) {
        snprintf(choice_names[i], sizeof choice_names[i], "e%d_k%d",
                 expands[i / 3], kernels[i % 3]);
        choices[i] = (struct ab_choice){.name = choice_names[i],
                                        .expand = expands[i / 3],
                                        .kernel = kernels[i % 3]};
    }
}

/* A hand-made ofa_mbv3 (5 stages of 2-4) or ofa_pn (5 of 2-4, then 1). */
static void make_space(enum ab_space_kind kind, struct ab_space *sp)
{
    init_choices();
    memset(sp, 0, sizeof *sp);
    sp->kind = kind;
    sp->n_stages = kind == AB_SPACE_OFA_PN ? 6 : 5;
    for (int s = 0; s < sp->n_stages; s++) {
        int fixed = kind == AB_SPACE_OFA_PN && s == 5;
        sp->stages[s].min_layers = fixed ? 1 : 2;
        sp->stages[s].max_layers = fixed ? 1 : 4;
        sp->stages[s].n_choices = 9;
        sp->stages[s].choices = choices;
    }
}

static int choice_index(int e, int k)
{
    int ei = e == 3 ? 0 : e == 4 ? 1 : 2;
    int ki = k == 3 ? 0 : k == 5 ? 1 : 2;
    return ei * 3 + ki;
}

static void make_arch(const struct ref_case *rc, int n_stages, struct ab_arch *a)
{
    memset(a, 0, sizeof *a);
    a->resolution = rc->resolution;
    for (int s = 0; s < n_stages; s++) {
        a->depth[s] = (uint8_t)rc->depth[s];
        for (int l = 0; l < rc->depth[s]; l++)
            a->choice[s][l] = (uint8_t)choice_index(rc->ek[s][l][0], rc->ek[s][l][1]);
    }
}

/* Uniform architecture: every layer (e, k), d layers per stage (1 in PN's
 * last stage). */
static void uniform_arch(const struct ab_space *sp, int e, int k, int d, int r,
                         struct ab_arch *a)
{
    memset(a, 0, sizeof *a);
    a->resolution = r;
    for (int s = 0; s < sp->n_stages; s++) {
        a->depth[s] = (uint8_t)(d < sp->stages[s].max_layers ? d : sp->stages[s].max_layers);
        for (int l = 0; l < a->depth[s]; l++) a->choice[s][l] = (uint8_t)choice_index(e, k);
    }
}

static void test_reference_values(void)
{
    for (size_t i = 0; i < N_REF_CASES; i++) {
        const struct ref_case *rc = &ref_cases[i];
        struct ab_space sp;
        struct ab_arch a;
        struct ab_ofa_cost cost;
        make_space(rc->kind, &sp);
        make_arch(rc, sp.n_stages, &a);
        CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, rc->width, 1000, &cost), AB_OK);
        if (cost.macs != rc->macs || cost.params != rc->params)
            fprintf(stderr, "\nrow %zu: macs %llu (want %llu), params %llu (want %llu)\n",
                    i, (unsigned long long)cost.macs, (unsigned long long)rc->macs,
                    (unsigned long long)cost.params, (unsigned long long)rc->params);
        CU_ASSERT_EQUAL(cost.macs, rc->macs);
        CU_ASSERT_EQUAL(cost.params, rc->params);
    }
}

static void test_default_width(void)
{
    struct ab_space sp;
    make_space(AB_SPACE_OFA_MBV3, &sp);
    CU_ASSERT_EQUAL(ab_ofa_default_width(&sp), 1.2);
    make_space(AB_SPACE_OFA_PN, &sp);
    CU_ASSERT_EQUAL(ab_ofa_default_width(&sp), 1.3);
    sp.kind = AB_SPACE_YAML;
    CU_ASSERT_EQUAL(ab_ofa_default_width(&sp), 0.0);
    CU_ASSERT_EQUAL(ab_ofa_default_width(NULL), 0.0);
}

/* The same architecture on the w1.0 and w1.2 MBv3 supernets: both rows are
 * in the reference table, and they differ. */
static void test_width_changes_cost(void)
{
    struct ab_space sp;
    struct ab_arch a;
    struct ab_ofa_cost w10, w12;
    make_space(AB_SPACE_OFA_MBV3, &sp);
    uniform_arch(&sp, 6, 7, 4, 224, &a);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, 1.0, 1000, &w10), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, 1.2, 1000, &w12), AB_OK);
    CU_ASSERT_EQUAL(w10.macs, UINT64_C(566170656));
    CU_ASSERT_EQUAL(w10.params, UINT64_C(7664760));
    CU_ASSERT_EQUAL(w12.macs, UINT64_C(843101040));
    CU_ASSERT_EQUAL(w12.params, UINT64_C(10701632));
    CU_ASSERT(w12.macs > w10.macs);
    CU_ASSERT(w12.params > w10.params);
}

/* Parameters do not depend on the resolution; MACs grow with it. */
static void test_resolution(void)
{
    struct ab_space sp;
    struct ab_arch a;
    struct ab_ofa_cost prev = {0, 0}, cur;
    for (int k = 0; k < 2; k++) {
        make_space(k ? AB_SPACE_OFA_PN : AB_SPACE_OFA_MBV3, &sp);
        for (int r = 128; r <= 224; r += 4) {
            uniform_arch(&sp, 4, 5, 3, r, &a);
            CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, ab_ofa_default_width(&sp),
                                              1000, &cur), AB_OK);
            if (r > 128) {
                CU_ASSERT_EQUAL(cur.params, prev.params);
                CU_ASSERT(cur.macs > prev.macs);
            }
            prev = cur;
        }
    }
}

/* The classifier is Linear(c_last, n) with bias: c_last = 1536 for MBv3
 * w1.2 (1280 * 1.2) and 1664 for PN w1.3. */
static void test_n_classes(void)
{
    static const struct {
        enum ab_space_kind kind;
        uint64_t last;
    } nets[2] = {{AB_SPACE_OFA_MBV3, 1536}, {AB_SPACE_OFA_PN, 1664}};
    for (int i = 0; i < 2; i++) {
        struct ab_space sp;
        struct ab_arch a;
        struct ab_ofa_cost c1000, c10;
        make_space(nets[i].kind, &sp);
        uniform_arch(&sp, 3, 3, 2, 160, &a);
        CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, ab_ofa_default_width(&sp), 1000,
                                          &c1000), AB_OK);
        CU_ASSERT_EQUAL_FATAL(ab_ofa_cost(&sp, &a, ab_ofa_default_width(&sp), 10,
                                          &c10), AB_OK);
        CU_ASSERT_EQUAL(c1000.macs - c10.macs, 990 * nets[i].last);
        CU_ASSERT_EQUAL(c1000.params - c10.params, 990 * (nets[i].last + 1));
    }
}

/* Expects AB_ERR_INPUT with a message and a zeroed result. */
static void expect_input_error(const struct ab_space *sp, const struct ab_arch *a,
                               double width, int n_classes)
{
    struct ab_ofa_cost cost = {123, 456};
    ab_err_clear();
    CU_ASSERT_EQUAL(ab_ofa_cost(sp, a, width, n_classes, &cost), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_err_status(), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "ofa: ") != NULL);
    CU_ASSERT_EQUAL(cost.macs, 0);
    CU_ASSERT_EQUAL(cost.params, 0);
}

static void test_invalid_space(void)
{
    struct ab_space sp;
    struct ab_arch a;
    make_space(AB_SPACE_OFA_MBV3, &sp);
    uniform_arch(&sp, 4, 5, 3, 224, &a);
    sp.kind = AB_SPACE_YAML;
    expect_input_error(&sp, &a, 1.2, 1000);
    CU_ASSERT(strstr(ab_err_msg(), "not an OFA space") != NULL);
    sp.kind = (enum ab_space_kind)0;
    expect_input_error(&sp, &a, 1.2, 1000);
    /* an OFA kind with the wrong number of stages */
    make_space(AB_SPACE_OFA_MBV3, &sp);
    sp.n_stages = 6;
    sp.stages[5] = sp.stages[4];
    expect_input_error(&sp, &a, 1.2, 1000);
}

static void test_invalid_arch(void)
{
    struct ab_space sp;
    struct ab_arch a, bad;
    make_space(AB_SPACE_OFA_MBV3, &sp);
    uniform_arch(&sp, 4, 5, 3, 224, &a);

    bad = a; bad.depth[2] = 5;          /* beyond the space and the supernet */
    bad.choice[2][3] = bad.choice[2][4] = 0;
    expect_input_error(&sp, &bad, 1.2, 1000);
    CU_ASSERT(strstr(ab_err_msg(), "stage 3") != NULL);
    bad = a; bad.depth[0] = 1;          /* below the space's minimum */
    expect_input_error(&sp, &bad, 1.2, 1000);
    bad = a; bad.depth[4] = 0;
    expect_input_error(&sp, &bad, 1.2, 1000);
    bad = a; bad.choice[1][2] = 9;      /* no such choice */
    expect_input_error(&sp, &bad, 1.2, 1000);
    bad = a; bad.resolution = 0;
    expect_input_error(&sp, &bad, 1.2, 1000);
    bad = a; bad.resolution = 5000;
    expect_input_error(&sp, &bad, 1.2, 1000);
    expect_input_error(&sp, &a, 0.0, 1000);
    expect_input_error(&sp, &a, -1.2, 1000);
    expect_input_error(&sp, &a, NAN, 1000);
    expect_input_error(&sp, &a, 1.2, 0);

    /* a choice the supernet does not hold */
    {
        struct ab_choice odd[2] = {{.name = "e5_k3", .expand = 5, .kernel = 3},
                                   {.name = "e3_k9", .expand = 3, .kernel = 9}};
        struct ab_space sp2 = sp;
        for (int i = 0; i < 2; i++) {
            sp2.stages[0].choices = &odd[i];
            sp2.stages[0].n_choices = 1;
            bad = a;
            for (int l = 0; l < bad.depth[0]; l++) bad.choice[0][l] = 0;
            expect_input_error(&sp2, &bad, 1.2, 1000);
        }
    }
    /* PN's last stage holds one block in the supernet, whatever the space
     * says */
    make_space(AB_SPACE_OFA_PN, &sp);
    uniform_arch(&sp, 4, 5, 3, 224, &a);
    sp.stages[5].max_layers = 4;
    a.depth[5] = 2;
    expect_input_error(&sp, &a, 1.3, 1000);
}

static void test_null_pointers(void)
{
    struct ab_space sp;
    struct ab_arch a;
    struct ab_ofa_cost cost;
    make_space(AB_SPACE_OFA_PN, &sp);
    uniform_arch(&sp, 4, 5, 3, 224, &a);
    CU_ASSERT_EQUAL(ab_ofa_cost(NULL, &a, 1.3, 1000, &cost), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_ofa_cost(&sp, NULL, 1.3, 1000, &cost), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_ofa_cost(&sp, &a, 1.3, 1000, NULL), AB_ERR_INTERNAL);
}

static const struct cu_case cases[] = {
    {"reference values from once-for-all", test_reference_values},
    {"default width multipliers", test_default_width},
    {"width 1.0 and 1.2 differ", test_width_changes_cost},
    {"resolution changes MACs, not params", test_resolution},
    {"classifier size", test_n_classes},
    {"invalid space", test_invalid_space},
    {"invalid architecture and arguments", test_invalid_arch},
    {"NULL pointers", test_null_pointers},
    {NULL, NULL}};

CU_MAIN("ofa_cost", cases)
