/* SPDX-License-Identifier: MIT
 *
 * Unit tests of an ensemble's prediction (coordinator/predictor/ensemble.c):
 * ab_ensemble_predict gives, per architecture, the mean and the sample
 * standard deviation of its members' predictions in label units (each
 * member with its own label mean and scale), checked against the members
 * evaluated one by one; one member has sd 0; bad input fails.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "predictor/ensemble.h"
#include "predictor/model.h"
#include "space/space.h"
#include "util/error.h"
#include "util/rng.h"

enum { N_ARCH = 37 };

static struct ab_ensemble *make_ensemble(const struct ab_space *sp, int n)
{
    struct ab_ensemble *e = calloc(1, sizeof *e);
    struct ab_pred_config cfg;
    CU_ASSERT_FATAL(e != NULL);
    e->member = calloc((size_t)n, sizeof *e->member);
    e->target = strdup("acc");
    CU_ASSERT_FATAL(e->member && e->target);
    e->n = n;
    e->folds = n;
    e->seeds = 1;
    ab_pred_config_default(NULL, &cfg);
    cfg.hidden = 16;
    cfg.layers = 3;
    for (int m = 0; m < n; m++) {
        CU_ASSERT_FATAL(ab_predictor_create(sp, &cfg, 100 + (unsigned long long)m,
                                            &e->member[m]) == AB_OK);
        /* members trained on different folds have different label moments */
        e->member[m]->label_mean = 0.5 + 0.1 * m;
        e->member[m]->label_std = 0.02 * (m + 1);
    }
    return e;
}

static struct ab_arch *sample(const struct ab_space *sp, long n)
{
    struct ab_rng r;
    struct ab_arch *a = calloc((size_t)n, sizeof *a);
    CU_ASSERT_FATAL(a != NULL);
    ab_rng_seed(&r, 5);
    for (long i = 0; i < n; i++) ab_arch_sample(sp, &r, NULL, 0, &a[i]);
    return a;
}

static void check_against_members(const char *space, int n_members)
{
    struct ab_space *sp = NULL;
    CU_ASSERT_FATAL(ab_space_open(space, &sp) == AB_OK);
    struct ab_ensemble *e = make_ensemble(sp, n_members);
    struct ab_arch *a = sample(sp, N_ARCH);
    double mean[N_ARCH], sd[N_ARCH], ys[8][N_ARCH];
    float out[N_ARCH];
    CU_ASSERT_FATAL(n_members <= 8);
    CU_ASSERT_FATAL(ab_ensemble_predict(e, a, N_ARCH, mean, sd) == AB_OK);
    for (int m = 0; m < n_members; m++) {
        struct ab_predictor *p = e->member[m];
        CU_ASSERT_FATAL(ab_pred_eval_archs(p, a, N_ARCH, 8, out, NULL, NULL) == AB_OK);
        for (long i = 0; i < N_ARCH; i++)
            ys[m][i] = (double)out[i] * p->label_std + p->label_mean;
    }
    int spread = 0;
    for (long i = 0; i < N_ARCH; i++) {
        double mu = 0, v = 0;
        for (int m = 0; m < n_members; m++) mu += ys[m][i];
        mu /= n_members;
        for (int m = 0; m < n_members; m++) v += (ys[m][i] - mu) * (ys[m][i] - mu);
        v = n_members > 1 ? sqrt(v / (n_members - 1)) : 0.0;
        CU_ASSERT(fabs(mean[i] - mu) <= 1e-9 * fabs(mu) + 1e-12);
        CU_ASSERT(fabs(sd[i] - v) <= 1e-6 * v + 1e-9);
        if (n_members == 1) CU_ASSERT_EQUAL(sd[i], 0.0);
        spread += sd[i] > 1e-6;
    }
    /* members with other moments disagree: the spread is not zero */
    if (n_members > 1) CU_ASSERT(spread == N_ARCH);
    /* the mean alone (sd NULL) is the same */
    double mean2[N_ARCH];
    CU_ASSERT_FATAL(ab_ensemble_predict(e, a, N_ARCH, mean2, NULL) == AB_OK);
    CU_ASSERT(memcmp(mean, mean2, sizeof mean) == 0);
    free(a);
    ab_ensemble_destroy(&e);
    ab_space_destroy(&sp);
}

static void test_mean_sd_mbv3(void) { check_against_members("ofa_mbv3", 5); }
static void test_mean_sd_pn(void) { check_against_members("ofa_pn", 3); }
static void test_one_member(void) { check_against_members("ofa_mbv3", 1); }

static void test_bad_input(void)
{
    struct ab_space *sp = NULL;
    struct ab_ensemble empty = {0};
    double m[1];
    CU_ASSERT_FATAL(ab_space_open("ofa_mbv3", &sp) == AB_OK);
    struct ab_arch *a = sample(sp, 1);
    CU_ASSERT_EQUAL(ab_ensemble_predict(&empty, a, 1, m, NULL), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "without members") != NULL);
    ab_err_clear();
    struct ab_ensemble *e = make_ensemble(sp, 2);
    CU_ASSERT_EQUAL(ab_ensemble_predict(e, a, 0, m, NULL), AB_OK); /* nothing to do */
    free(a);
    ab_ensemble_destroy(&e);
    ab_space_destroy(&sp);
}

static const struct cu_case cases[] = {
    {"predict: mean and sd of 5 members (ofa_mbv3)", test_mean_sd_mbv3},
    {"predict: mean and sd of 3 members (ofa_pn)", test_mean_sd_pn},
    {"predict: one member, sd 0", test_one_member},
    {"predict: no members, no architectures", test_bad_input},
    {NULL, NULL}};

CU_MAIN("ensemble", cases)
