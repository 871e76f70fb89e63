/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of the OFA inference engine
 * (worker/ofa/ofa_kernels.c, ofa_subnet.c and the layer plan of ofa_net.c)
 * against naive references written here from OFA's definitions, not from
 * the engine's code:
 *
 *   - the blocked depthwise kernel against direct loops for every kernel,
 *     stride and plane size (odd, even, smaller than the kernel), with and
 *     without the fused bias + activation; im2col and the small kernels;
 *   - the layer plan: widths, SE widths, shortcuts, sides and its errors;
 *   - a naive forward pass in double, built from the architecture and the
 *     supernet's raw tensors (unfolded BatchNorm, direct convolutions, the
 *     7to5 / 5to3 kernel transforms as F.linear, SE, both heads), against
 *     ab_ofa_subnet_forward for random supernets of both families;
 *   - BatchNorm re-calibration against a naive set_running_statistics;
 *   - threads, chunking, and splicing invariants of the kernel transform.
 *
 * Random supernets have random BatchNorm statistics, so activations can be
 * large; logits are compared with max |diff| <= tol * max(1, max |ref|).
 *
 * Cost: the reference's loops are most of this program's time, and the
 * sanitizer build compiles without optimisation (4x slower), so this file
 * asks GCC for -O2. Runs with 2 threads are few and small, and waiting
 * threads sleep (main()): on a loaded 2-core machine (ctest -j2) spinning
 * OpenMP threads made them 5x slower.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_main.h"
#include "ofa/ofa_kernels.h"
#include "ofa/ofa_net.h"
#include "ofa/ofa_subnet.h"
#include "ofa/ofa_supernet.h"
#include "space/space.h"
#include "util/error.h"
#include "util/rng.h"

#define NET_MBV3 "ofa_mbv3_d234_e346_k357_w1.2"
#define NET_MBV3_W10 "ofa_mbv3_d234_e346_k357_w1.0"
#define NET_PN "ofa_proxyless_d234_e346_k357_w1.3"
#define N_CLASSES 10

/* --- shared fixtures: spaces and random supernets, made once ------------ */

static struct ab_space *g_mbv3, *g_pn;
static struct ab_ofa_supernet *g_sn_mbv3, *g_sn_pn;

static void free_fixtures(void)
{
    ab_space_destroy(&g_mbv3);
    ab_space_destroy(&g_pn);
    ab_ofa_supernet_destroy(&g_sn_mbv3);
    ab_ofa_supernet_destroy(&g_sn_pn);
}

static void fixtures(void)
{
    static int done;
    if (done) return;
    done = 1;
    atexit(free_fixtures);
    if (ab_space_create_builtin("ofa_mbv3", &g_mbv3) ||
        ab_space_create_builtin("ofa_pn", &g_pn) ||
        ab_ofa_supernet_random(NET_MBV3, N_CLASSES, 11, &g_sn_mbv3) ||
        ab_ofa_supernet_random(NET_PN, N_CLASSES, 12, &g_sn_pn)) {
        fprintf(stderr, "fixtures: %s\n", ab_err_msg());
        abort();
    }
}

static struct ab_space *space_of(int pn)
{
    fixtures();
    return pn ? g_pn : g_mbv3;
}

static struct ab_ofa_supernet *supernet_of(int pn)
{
    fixtures();
    return pn ? g_sn_pn : g_sn_mbv3;
}

/* --- architectures -------------------------------------------------------- */

/* An architecture given per stage as depth and (e, k) per layer, parsed
 * from its canonical JSON at resolution 128 (the space's range) and then
 * moved to `res` (the plan accepts any resolution). */
struct arch_spec {
    int depth[6];
    int ek[6][4][2];
};

static struct ab_arch make_arch(int pn, const struct arch_spec *s, int res)
{
    struct ab_space *sp = space_of(pn);
    char json[2048];
    size_t len = 0;
    struct ab_arch a;
    len += (size_t)snprintf(json + len, sizeof json - len,
                            "{\"space\":\"%s\",\"resolution\":128,\"stages\":[",
                            pn ? "ofa_pn" : "ofa_mbv3");
    for (int st = 0; st < sp->n_stages; st++) {
        len += (size_t)snprintf(json + len, sizeof json - len, "%s[", st ? "," : "");
        for (int l = 0; l < s->depth[st]; l++)
            len += (size_t)snprintf(json + len, sizeof json - len, "%s\"mbconv%d_e%d_k%d\"",
                                    l ? "," : "", pn ? 2 : 3, s->ek[st][l][0], s->ek[st][l][1]);
        len += (size_t)snprintf(json + len, sizeof json - len, "]");
    }
    snprintf(json + len, sizeof json - len, "]}");
    memset(&a, 0, sizeof a);
    if (ab_arch_parse_json(sp, json, &a) != AB_OK) {
        fprintf(stderr, "make_arch: %s\n%s\n", ab_err_msg(), json);
        abort();
    }
    a.resolution = res;
    return a;
}

/* All layers (e, k), depth d per stage (PN's last stage: 1). */
static struct ab_arch uniform_arch(int pn, int d, int e, int k, int res)
{
    struct arch_spec s;
    memset(&s, 0, sizeof s);
    for (int st = 0; st < 6; st++) {
        s.depth[st] = pn && st == 5 ? 1 : d;
        for (int l = 0; l < 4; l++) {
            s.ek[st][l][0] = e;
            s.ek[st][l][1] = k;
        }
    }
    return make_arch(pn, &s, res);
}

/* Depths 4,2,3,4,3(,1) and every (e, k) pair in turn, so that consecutive
 * blocks differ in width and kernel. */
static struct ab_arch mixed_arch_d(int pn, int res, int offset, int max_depth)
{
    static const int es[3] = {3, 4, 6}, ks[3] = {3, 5, 7};
    static const int depths[6] = {4, 2, 3, 4, 3, 1};
    struct arch_spec s;
    int t = offset;
    memset(&s, 0, sizeof s);
    for (int st = 0; st < 6; st++) {
        s.depth[st] = depths[(st + offset) % 5];
        if (s.depth[st] > max_depth) s.depth[st] = max_depth;
        if (pn && st == 5) s.depth[st] = 1;
        for (int l = 0; l < 4; l++, t++) {
            s.ek[st][l][0] = es[t % 3];
            s.ek[st][l][1] = ks[(t / 3 + st) % 3];
        }
    }
    return make_arch(pn, &s, res);
}

static struct ab_arch mixed_arch(int pn, int res, int offset)
{
    return mixed_arch_d(pn, res, offset, 4);
}

/* --- comparison helpers ----------------------------------------------------- */

static double max_abs(const double *r, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++)
        if (fabs(r[i]) > m) m = fabs(r[i]);
    return m;
}

/* max |got - ref| <= rel * max(1, max |ref|); prints the worst element when
 * not (and when a value is not finite). */
static int close_to_ref(const char *what, const float *got, const double *ref, long n,
                        double rel)
{
    double scale = fmax(1.0, max_abs(ref, n)), worst = 0.0;
    long at = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= worst)) {
            worst = d;
            at = i;
        }
    }
    if (worst <= rel * scale && isfinite(worst)) return 1;
    fprintf(stderr, "\n%s: max |diff| %.3g at %ld (got %.9g, ref %.9g), scale %.3g, "
            "tolerance %.3g\n", what, worst, at, (double)got[at], ref[at], scale, rel * scale);
    return 0;
}

static int close_floats(const char *what, const float *a, const float *b, long n, double rel)
{
    double *r = malloc((size_t)n * sizeof *r);
    int ok;
    for (long i = 0; i < n; i++) r[i] = b[i];
    ok = close_to_ref(what, a, r, n, rel);
    free(r);
    return ok;
}

static float *random_input(int n, int res, uint64_t seed)
{
    struct ab_rng rng;
    long count = (long)n * 3 * res * res;
    float *x = malloc((size_t)count * sizeof *x);
    ab_rng_seed(&rng, seed);
    for (long i = 0; i < count; i++) x[i] = (float)ab_rng_normal(&rng);
    return x;
}

/* --- depthwise kernel ------------------------------------------------------ */

static double act_ref(double x, enum ab_ofa_act act)
{
    switch (act) {
    case AB_OFA_ACT_RELU: return x < 0 ? 0 : x;
    case AB_OFA_ACT_RELU6: return x < 0 ? 0 : (x > 6 ? 6 : x);
    case AB_OFA_ACT_HSWISH: {
        double r6 = x + 3 < 0 ? 0 : (x + 3 > 6 ? 6 : x + 3);
        return x * r6 / 6.0;
    }
    case AB_OFA_ACT_NONE:
    default: return x;
    }
}

/* out[oy][ox] = sum w[ky][kx] in[oy s - k/2 + ky][ox s - k/2 + kx] */
static void dw_naive(const float *in, int h, int w, const float *wk, int k, int stride,
                     double *out, int ho, int wo)
{
    int pad = k / 2;
    for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
            double s = 0.0;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                        s += (double)wk[ky * k + kx] * in[iy * w + ix];
                }
            out[oy * wo + ox] = s;
        }
}

static void check_dw_case(int h, int w, int k, int stride, int apply, enum ab_ofa_act act,
                          struct ab_rng *rng)
{
    int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
    size_t ns = stride <= 2 ? ab_ofa_dw_scratch_floats(h, w, k, stride, ho, wo) : 1;
    /* exact sizes, so that AddressSanitizer sees any access outside */
    float *in = malloc((size_t)h * w * sizeof *in), *wk = malloc((size_t)k * k * sizeof *wk);
    float *out = malloc((size_t)ho * wo * sizeof *out), *scratch = malloc(ns * sizeof *scratch);
    double *ref = malloc((size_t)ho * wo * sizeof *ref);
    float bias = (float)ab_rng_normal(rng);
    char what[128];
    for (int i = 0; i < h * w; i++) in[i] = (float)(2 * ab_rng_normal(rng));
    for (int i = 0; i < k * k; i++) wk[i] = (float)ab_rng_normal(rng);
    /* garbage where the kernel must write or pad itself */
    for (size_t i = 0; i < ns; i++) scratch[i] = NAN;
    for (int i = 0; i < ho * wo; i++) out[i] = NAN;
    dw_naive(in, h, w, wk, k, stride, ref, ho, wo);
    if (apply)
        for (int i = 0; i < ho * wo; i++) ref[i] = act_ref(ref[i] + bias, act);
    ab_ofa_dw_plane(in, h, w, wk, k, stride, out, ho, wo, scratch, bias, act, apply);
    snprintf(what, sizeof what, "dw %dx%d k%d s%d apply %d act %d", h, w, k, stride, apply,
             (int)act);
    /* 1e-5 relative to the plane's scale */
    CU_ASSERT(close_to_ref(what, out, ref, (long)ho * wo, 1e-5));
    free(in);
    free(wk);
    free(out);
    free(scratch);
    free(ref);
}

static void test_dw_plane(void)
{
    static const int sizes[] = {1, 2, 3, 7, 8, 13, 14, 15, 16, 17, 28, 56, 57};
    static const enum ab_ofa_act acts[] = {AB_OFA_ACT_NONE, AB_OFA_ACT_RELU, AB_OFA_ACT_RELU6,
                                           AB_OFA_ACT_HSWISH};
    struct ab_rng rng;
    ab_rng_seed(&rng, 5);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int k = 3; k <= 7; k += 2)
            for (int stride = 1; stride <= 2; stride++) {
                int h = sizes[si];
                check_dw_case(h, h, k, stride, 0, AB_OFA_ACT_NONE, &rng);
                for (int a = 0; a < 4; a++) check_dw_case(h, h, k, stride, 1, acts[a], &rng);
            }
}

/* Non-square planes and the generic path (stride 3). */
static void test_dw_plane_rect_and_generic(void)
{
    struct ab_rng rng;
    ab_rng_seed(&rng, 6);
    for (int k = 3; k <= 7; k += 2)
        for (int stride = 1; stride <= 3; stride++) {
            check_dw_case(5, 19, k, stride, 1, AB_OFA_ACT_HSWISH, &rng);
            check_dw_case(18, 3, k, stride, 0, AB_OFA_ACT_NONE, &rng);
            check_dw_case(33, 31, k, stride, 1, AB_OFA_ACT_RELU6, &rng);
        }
}

static void test_im2col(void)
{
    static const int sizes[] = {1, 2, 3, 7, 8, 33};
    struct ab_rng rng;
    ab_rng_seed(&rng, 7);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int h = sizes[si], w = sizes[si] + 1, ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
        float *in = malloc((size_t)3 * h * w * sizeof *in);
        float *col = malloc((size_t)27 * ho * wo * sizeof *col);
        int bad = 0;
        for (int i = 0; i < 3 * h * w; i++) in[i] = (float)ab_rng_normal(&rng);
        for (int i = 0; i < 27 * ho * wo; i++) col[i] = NAN;
        ab_ofa_im2col3x3s2(in, 3, h, w, col, ho, wo);
        for (int c = 0; c < 3; c++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    for (int oy = 0; oy < ho; oy++)
                        for (int ox = 0; ox < wo; ox++) {
                            int iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx;
                            float want = iy < 0 || iy >= h || ix < 0 || ix >= w
                                             ? 0.0f
                                             : in[(c * h + iy) * w + ix];
                            float got = col[((c * 9 + ky * 3 + kx) * ho + oy) * wo + ox];
                            if (got != want) bad++;
                        }
        CU_ASSERT_EQUAL(bad, 0);
        free(in);
        free(col);
    }
}

static void test_small_kernels(void)
{
    float y[37], z[37];
    double s = 0, sq = 0, mean;
    for (int i = 0; i < 37; i++) y[i] = z[i] = (float)(i - 18) * 0.5f;
    for (int i = 0; i < 37; i++) s += y[i];
    mean = s / 37;
    for (int i = 0; i < 37; i++) sq += (y[i] - mean) * (y[i] - mean);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_plane_sum(y, 37), s, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_plane_sqdev(y, 37, mean), sq, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_plane_mean(y, 37), mean, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_hsigmoid(-4.0f), 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_hsigmoid(0.0f), 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(ab_ofa_hsigmoid(5.0f), 1.0, 0);
    for (int a = AB_OFA_ACT_NONE; a <= AB_OFA_ACT_HSWISH; a++) {
        float t[37];
        memcpy(t, y, sizeof t);
        ab_ofa_affine_act(t, 37, 1.5f, -0.25f, (enum ab_ofa_act)a);
        for (int i = 0; i < 37; i++)
            CU_ASSERT_DOUBLE_EQUAL(t[i], act_ref(y[i] * 1.5 - 0.25, (enum ab_ofa_act)a), 1e-5);
        memcpy(t, y, sizeof t);
        ab_ofa_act(t, 37, (enum ab_ofa_act)a);
        for (int i = 0; i < 37; i++)
            CU_ASSERT_DOUBLE_EQUAL(t[i], act_ref(y[i], (enum ab_ofa_act)a), 1e-6);
    }
    ab_ofa_add(z, y, 37);
    for (int i = 0; i < 37; i++) CU_ASSERT_EQUAL(z[i], 2 * y[i]);
}

/* --- the plan ---------------------------------------------------------------- */

static void test_make_divisible(void)
{
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(16 * 1.2), 24);   /* 19.2 */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(16 * 1.3), 24);   /* 20.8 */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(32 * 1.3), 40);   /* 41.6 */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(112 * 1.2), 136); /* 134.4 */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(3), 8);
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(12), 16);  /* half rounds up */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(11.9), 8 + 8); /* 8 < 0.9 * 11.9 */
    CU_ASSERT_EQUAL(ab_ofa_make_divisible(96), 96);
    CU_ASSERT_EQUAL(ab_ofa_conv_out(224, 2), 112);
    CU_ASSERT_EQUAL(ab_ofa_conv_out(7, 2), 4);
    CU_ASSERT_EQUAL(ab_ofa_conv_out(1, 2), 1);
    CU_ASSERT_EQUAL(ab_ofa_conv_out(13, 1), 13);
}

/* Index in the plan of the last block of elastic stage st (1-based). */
static int last_of_stage(const struct ab_ofa_plan *p, int st)
{
    int last = -1;
    for (int i = 0; i < p->n_blocks; i++)
        if (p->blocks[i].stage == st) last = i;
    return last;
}

static void test_plan_mbv3(void)
{
    static const int widths[5] = {32, 48, 96, 136, 192};
    static const int h224[5] = {56, 28, 14, 14, 7};
    struct ab_ofa_plan p;
    struct ab_arch a = uniform_arch(0, 4, 6, 7, 224);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_plan_make(g_mbv3, &a, 1.2, 1000, &p), AB_OK);
    CU_ASSERT_EQUAL(p.family, AB_OFA_MBV3);
    CU_ASSERT_EQUAL(p.stem, 24);
    CU_ASSERT_EQUAL(p.h_stem, 112);
    CU_ASSERT_EQUAL(p.stem_act, AB_OFA_ACT_HSWISH);
    CU_ASSERT_EQUAL(p.n_blocks, 21);
    CU_ASSERT_EQUAL(p.blocks[0].c_in, 24);
    CU_ASSERT_EQUAL(p.blocks[0].c_out, 24);
    CU_ASSERT_EQUAL(p.blocks[0].mid, 24);
    CU_ASSERT_EQUAL(p.blocks[0].expand, 1);
    CU_ASSERT_EQUAL(p.blocks[0].kernel, 3);
    CU_ASSERT_EQUAL(p.blocks[0].stride, 1);
    CU_ASSERT_EQUAL(p.blocks[0].residual, 1);
    CU_ASSERT_EQUAL(p.blocks[0].se_mid, 0);
    CU_ASSERT_EQUAL(p.blocks[0].act, AB_OFA_ACT_RELU);
    CU_ASSERT_EQUAL(p.blocks[0].h_out, 112);
    for (int st = 1; st <= 5; st++) {
        int first = 1 + (st - 1) * 4, last = last_of_stage(&p, st);
        const struct ab_ofa_block *b = &p.blocks[first];
        CU_ASSERT_EQUAL(last, first + 3);
        CU_ASSERT_EQUAL(b->index, first);
        CU_ASSERT_EQUAL(b->c_out, widths[st - 1]);
        CU_ASSERT_EQUAL(b->c_in, st == 1 ? 24 : widths[st - 2]);
        CU_ASSERT_EQUAL(b->mid, ab_ofa_make_divisible(b->c_in * 6.0));
        CU_ASSERT_EQUAL(b->stride, st == 4 ? 1 : 2);
        CU_ASSERT_EQUAL(b->residual, 0); /* stage 4: stride 1 but 96 -> 136 */
        CU_ASSERT_EQUAL(b->act, st <= 2 ? AB_OFA_ACT_RELU : AB_OFA_ACT_HSWISH);
        for (int l = 1; l < 4; l++) {
            const struct ab_ofa_block *c = &p.blocks[first + l];
            CU_ASSERT_EQUAL(c->residual, 1);
            CU_ASSERT_EQUAL(c->stride, 1);
            CU_ASSERT_EQUAL(c->c_in, widths[st - 1]);
            CU_ASSERT_EQUAL(c->mid, widths[st - 1] * 6);
            CU_ASSERT_EQUAL(c->se_mid, (st == 2 || st == 4 || st == 5)
                                           ? ab_ofa_make_divisible(widths[st - 1] * 6 / 4)
                                           : 0);
        }
        CU_ASSERT_EQUAL(p.blocks[last].h_out, h224[st - 1]);
    }
    /* SE widths by hand: stage 2 first block 32 x 6 = 192 -> 48; stage 4
     * 96 x 6 = 576 -> 144; stage 5 first 136 x 6 = 816 -> 204 -> 208 */
    CU_ASSERT_EQUAL(p.blocks[5].se_mid, 48);
    CU_ASSERT_EQUAL(p.blocks[13].se_mid, 144);
    CU_ASSERT_EQUAL(p.blocks[17].mid, 816);
    CU_ASSERT_EQUAL(p.blocks[17].se_mid, 208);
    CU_ASSERT_EQUAL(p.blocks[1].se_mid, 0);
    CU_ASSERT_EQUAL(p.h_last, 7);
    CU_ASSERT_EQUAL(p.c_feat, 192);
    CU_ASSERT_EQUAL(p.final_expand, 1152);
    CU_ASSERT_EQUAL(p.last, 1536);
    CU_ASSERT_EQUAL(p.mix_bn, 0);
    CU_ASSERT_EQUAL(p.mix_after_pool, 1);
    CU_ASSERT_EQUAL(p.head_act, AB_OFA_ACT_HSWISH);
    CU_ASSERT_EQUAL(p.n_classes, 1000);

    /* the smallest, at w1.0 and an odd resolution: e3 widths, sides ceil */
    a = uniform_arch(0, 2, 3, 3, 33);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_plan_make(g_mbv3, &a, 1.0, 10, &p), AB_OK);
    CU_ASSERT_EQUAL(p.n_blocks, 11);
    CU_ASSERT_EQUAL(p.stem, 16);
    CU_ASSERT_EQUAL(p.h_stem, 17);
    CU_ASSERT_EQUAL(p.blocks[1].c_in, 16);
    CU_ASSERT_EQUAL(p.blocks[1].mid, 48);
    CU_ASSERT_EQUAL(p.blocks[1].index, 1);
    CU_ASSERT_EQUAL(p.blocks[3].index, 5); /* stage 2 starts at blocks.5 */
    CU_ASSERT_EQUAL(p.blocks[3].mid, 72);  /* 24 x 3 */
    CU_ASSERT_EQUAL(p.blocks[3].se_mid, 24); /* 72 // 4 = 18 -> 24 */
    CU_ASSERT_EQUAL(p.blocks[9].index, 17);
    CU_ASSERT_EQUAL(p.blocks[1].h_out, 9);
    CU_ASSERT_EQUAL(p.blocks[3].h_out, 5);
    CU_ASSERT_EQUAL(p.blocks[5].h_out, 3);
    CU_ASSERT_EQUAL(p.blocks[7].h_out, 3);
    CU_ASSERT_EQUAL(p.blocks[9].h_out, 2);
    CU_ASSERT_EQUAL(p.final_expand, 960);
    CU_ASSERT_EQUAL(p.last, 1280);
}

static void test_plan_pn(void)
{
    static const int widths[6] = {32, 56, 104, 128, 248, 416};
    static const int h224[6] = {56, 28, 14, 14, 7, 7};
    struct ab_ofa_plan p;
    struct ab_arch a = uniform_arch(1, 4, 4, 5, 224);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_plan_make(g_pn, &a, 1.3, 1000, &p), AB_OK);
    CU_ASSERT_EQUAL(p.family, AB_OFA_PROXYLESS);
    CU_ASSERT_EQUAL(p.stem, 40);
    CU_ASSERT_EQUAL(p.h_stem, 112);
    CU_ASSERT_EQUAL(p.stem_act, AB_OFA_ACT_RELU6);
    CU_ASSERT_EQUAL(p.n_blocks, 1 + 5 * 4 + 1);
    CU_ASSERT_EQUAL(p.blocks[0].c_in, 40);
    CU_ASSERT_EQUAL(p.blocks[0].mid, 40);
    CU_ASSERT_EQUAL(p.blocks[0].c_out, 24);
    CU_ASSERT_EQUAL(p.blocks[0].residual, 0);
    CU_ASSERT_EQUAL(p.blocks[0].act, AB_OFA_ACT_RELU6);
    for (int st = 1; st <= 6; st++) {
        int first = 1 + (st - 1) * 4, last = last_of_stage(&p, st);
        const struct ab_ofa_block *b = &p.blocks[first];
        CU_ASSERT_EQUAL(b->index, first);
        CU_ASSERT_EQUAL(b->c_out, widths[st - 1]);
        CU_ASSERT_EQUAL(b->c_in, st == 1 ? 24 : widths[st - 2]);
        CU_ASSERT_EQUAL(b->mid, ab_ofa_make_divisible(b->c_in * 4.0));
        CU_ASSERT_EQUAL(b->kernel, 5);
        CU_ASSERT_EQUAL(b->stride, (st == 4 || st == 6) ? 1 : 2);
        CU_ASSERT_EQUAL(b->residual, 0);
        CU_ASSERT_EQUAL(b->se_mid, 0);
        CU_ASSERT_EQUAL(b->act, AB_OFA_ACT_RELU6);
        CU_ASSERT_EQUAL(last, st == 6 ? first : first + 3);
        for (int l = 1; st < 6 && l < 4; l++) {
            CU_ASSERT_EQUAL(p.blocks[first + l].residual, 1);
            CU_ASSERT_EQUAL(p.blocks[first + l].se_mid, 0);
        }
        CU_ASSERT_EQUAL(p.blocks[last].h_out, h224[st - 1]);
    }
    CU_ASSERT_EQUAL(p.c_feat, 416);
    CU_ASSERT_EQUAL(p.final_expand, 0);
    CU_ASSERT_EQUAL(p.last, 1664);
    CU_ASSERT_EQUAL(p.mix_bn, 1);
    CU_ASSERT_EQUAL(p.mix_after_pool, 0);
    CU_ASSERT_EQUAL(p.head_act, AB_OFA_ACT_RELU6);
}

static void test_plan_errors(void)
{
    struct ab_ofa_plan p;
    struct ab_arch good = uniform_arch(0, 3, 4, 5, 64), a;
    struct ab_arch pn = uniform_arch(1, 3, 4, 5, 64);
    struct ab_space *sp = g_mbv3;
    enum ab_space_kind kind;

    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 1.2, 10, &p), AB_OK);
    a = good;
    a.depth[2] = 5;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "stage 3"));
    a = good;
    a.depth[0] = 0;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    a = good;
    a.choice[1][2] = 200;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "choice 200"));
    a = good;
    a.choice[0][0] = (uint8_t)sp->stages[0].n_choices;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    a = good;
    a.resolution = 0;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    a.resolution = AB_OFA_MAX_RESOLUTION + 1;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_ERR_INPUT);
    a.resolution = 1;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &a, 1.2, 10, &p), AB_OK);
    CU_ASSERT_EQUAL(p.h_last, 1);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 0.0, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(p.n_blocks, 0); /* cleared on failure */
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, -1.0, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, NAN, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 4.5, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 1.2, 0, &p), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "classes"));
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 1.2, AB_OFA_MAX_CLASSES + 1, &p), AB_ERR_INPUT);
    /* PN: the last stage holds one block in the supernet */
    a = pn;
    a.depth[5] = 2;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(g_pn, &a, 1.3, 10, &p), AB_ERR_INPUT);
    /* an MBv3 architecture in the PN space: its stage 6 is empty */
    CU_ASSERT_EQUAL(ab_ofa_plan_make(g_pn, &good, 1.3, 10, &p), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "stage 6"));
    /* not an OFA space */
    kind = sp->kind;
    sp->kind = AB_SPACE_YAML;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 1.2, 10, &p), AB_ERR_INPUT);
    sp->kind = kind;
    CU_ASSERT_EQUAL(ab_ofa_plan_make(NULL, &good, 1.2, 10, &p), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, NULL, 1.2, 10, &p), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_ofa_plan_make(sp, &good, 1.2, 10, NULL), AB_ERR_INTERNAL);
    ab_err_clear();
}

/* --- the naive reference forward ------------------------------------------- */

#define MAX_BN 80

enum ref_mode { REF_EVAL, REF_CALIB };

/* n images x c channels x h x h, doubles. */
struct dt {
    int n, c, h;
    double *v;
};

#define AT(t, i, ch, y, x) ((t).v[((((long)(i) * (t).c + (ch)) * (t).h + (y)) * (t).h) + (x)])

static struct dt dt_new(int n, int c, int h)
{
    struct dt t = {n, c, h, calloc((size_t)n * c * h * h, sizeof(double))};
    return t;
}

static void dt_free(struct dt *t)
{
    free(t->v);
    t->v = NULL;
}

struct ref {
    const struct ab_ofa_supernet *sn;
    int pn;
    enum ref_mode mode;
    int crop;       /* depthwise k < 7: plain centre crop, no matrices */
    int n_bn;       /* BatchNorms met so far in this pass */
    char bn_name[MAX_BN][96];
    int bn_c[MAX_BN];
    /* REF_CALIB: sums of batch mean / biased variance x batch size */
    double *acc_mean[MAX_BN], *acc_var[MAX_BN];
    /* REF_EVAL: replacement running statistics (NULL: the supernet's) */
    const float *ov_mean[MAX_BN], *ov_var[MAX_BN];
};

static const float *tensorf(struct ref *r, long min_count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The supernet tensor of that name, at least min_count values. */
static const float *tensorf(struct ref *r, long min_count, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    const struct ab_ofa_param *p;
    const float *t;
    long count = 1;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t = ab_ofa_supernet_tensor(r->sn, name, &p);
    if (!t) {
        fprintf(stderr, "\nreference: supernet has no %s\n", name);
        abort();
    }
    for (int i = 0; i < p->ndim; i++) count *= (long)p->shape[i];
    if (count < min_count) {
        fprintf(stderr, "\nreference: %s has %ld values, need %ld\n", name, count, min_count);
        abort();
    }
    return t;
}

/* Second dimension of a tensor (the full input width of a weight). */
static int dim1(struct ref *r, const char *name)
{
    const struct ab_ofa_param *p;
    if (!ab_ofa_supernet_tensor(r->sn, name, &p) || p->ndim < 2) abort();
    return (int)p->shape[1];
}

/* BatchNorm prefix.{weight,bias,running_mean,running_var}[:c] on t, then act;
 * module is its name in the spliced subnet. */
static void ref_bn(struct ref *r, const char *prefix, const char *module, struct dt *t,
                   enum ab_ofa_act act)
{
    int k = r->n_bn++;
    int C = t->c;
    long hw = (long)t->h * t->h;
    const float *g = tensorf(r, C, "%s.weight", prefix), *b = tensorf(r, C, "%s.bias", prefix);
    const float *rm = tensorf(r, C, "%s.running_mean", prefix);
    const float *rv = tensorf(r, C, "%s.running_var", prefix);
    double eps = r->sn->bn_eps;
    if (k >= MAX_BN) abort();
    snprintf(r->bn_name[k], sizeof r->bn_name[k], "%s", module);
    r->bn_c[k] = C;
    if (r->mode == REF_CALIB && !r->acc_mean[k]) {
        r->acc_mean[k] = calloc((size_t)C, sizeof(double));
        r->acc_var[k] = calloc((size_t)C, sizeof(double));
    }
    for (int c = 0; c < C; c++) {
        double m, v;
        if (r->mode == REF_CALIB) {
            double s = 0, sq = 0, cnt = (double)t->n * hw;
            for (int i = 0; i < t->n; i++)
                for (long p = 0; p < hw; p++) s += t->v[((long)i * C + c) * hw + p];
            m = s / cnt;
            for (int i = 0; i < t->n; i++)
                for (long p = 0; p < hw; p++) {
                    double d = t->v[((long)i * C + c) * hw + p] - m;
                    sq += d * d;
                }
            v = sq / cnt;
            r->acc_mean[k][c] += m * t->n;
            r->acc_var[k][c] += v * t->n;
        } else if (r->ov_mean[k]) {
            m = r->ov_mean[k][c];
            v = r->ov_var[k][c];
        } else {
            m = rm[c];
            v = rv[c];
        }
        for (int i = 0; i < t->n; i++)
            for (long p = 0; p < hw; p++) {
                double *x = &t->v[((long)i * C + c) * hw + p];
                *x = act_ref((*x - m) / sqrt(v + eps) * g[c] + b[c], act);
            }
    }
}

/* Dense k x k convolution, stride s, padding k / 2, of the first c_out
 * filters of w (full input width w_cin) over the c_in = in->c channels. */
static struct dt ref_conv(const struct dt *in, const float *w, int w_cin, int c_out, int k,
                          int stride)
{
    int ho = (in->h - 1) / stride + 1, pad = k / 2;
    struct dt out = dt_new(in->n, c_out, ho);
    for (int i = 0; i < in->n; i++)
        for (int o = 0; o < c_out; o++)
            for (int ci = 0; ci < in->c; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        double wv = w[(((long)o * w_cin + ci) * k + ky) * k + kx];
                        for (int oy = 0; oy < ho; oy++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= in->h) continue;
                            for (int ox = 0; ox < ho; ox++) {
                                int ix = ox * stride - pad + kx;
                                if (ix < 0 || ix >= in->h) continue;
                                AT(out, i, o, oy, ox) += wv * AT(*in, i, ci, iy, ix);
                            }
                        }
                    }
    return out;
}

/* dst[p] += w * src[p] for p < n. */
static void axpy(double *restrict dst, double w, const double *restrict src, long n)
{
    for (long p = 0; p < n; p++) dst[p] += w * src[p];
}

/* 1x1 convolution: out[o] = sum_ci w[o][ci] in[ci] (w rows of w_cin). */
static struct dt ref_pw(const struct dt *in, const float *w, int w_cin, int c_out)
{
    long hw = (long)in->h * in->h;
    struct dt out = dt_new(in->n, c_out, in->h);
    for (int i = 0; i < in->n; i++)
        for (int o = 0; o < c_out; o++)
            for (int ci = 0; ci < in->c; ci++)
                axpy(out.v + ((long)i * c_out + o) * hw, w[(long)o * w_cin + ci],
                     in->v + ((long)i * in->c + ci) * hw, hw);
    return out;
}

/* Depthwise k x k (filters: c x k x k doubles), stride s, padding k / 2:
 * out[oy][ox] = sum over taps f[ky][kx] in[oy s - k/2 + ky][ox s - k/2 + kx],
 * taps outside the input skipped (tap by tap over the valid outputs). */
static struct dt ref_dw(const struct dt *in, const double *f, int k, int stride)
{
    int ho = (in->h - 1) / stride + 1, pad = k / 2, h = in->h;
    struct dt out = dt_new(in->n, in->c, ho);
    for (int i = 0; i < in->n; i++)
        for (int c = 0; c < in->c; c++) {
            const double *src = in->v + ((long)i * in->c + c) * h * h;
            double *dst = out.v + ((long)i * in->c + c) * ho * ho;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    double w = f[((long)c * k + ky) * k + kx];
                    for (int oy = 0; oy < ho; oy++) {
                        int iy = oy * stride - pad + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int ox = 0; ox < ho; ox++) {
                            int ix = ox * stride - pad + kx;
                            if (ix >= 0 && ix < h) dst[oy * ho + ox] += w * src[iy * h + ix];
                        }
                    }
                }
        }
    return out;
}

/* OFA's get_active_filter(in_channel, k) for channel c of a 7x7 filter
 * bank: the centre 5x5 through F.linear(x, 7to5) (y = x W^T), its centre
 * 3x3 through F.linear(x, 5to3). */
static void ref_filter(const float *full, const float *m75, const float *m53, int c, int k,
                       int crop, double *out)
{
    const float *f = full + (long)c * 49;
    double x5[25], y5[25], x3[9];
    if (k == 7) {
        for (int i = 0; i < 49; i++) out[i] = f[i];
        return;
    }
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) x5[y * 5 + x] = f[(y + 1) * 7 + x + 1];
    for (int p = 0; p < 25; p++) {
        double s = 0;
        if (crop) {
            y5[p] = x5[p];
            continue;
        }
        for (int q = 0; q < 25; q++) s += x5[q] * m75[p * 25 + q];
        y5[p] = s;
    }
    if (k == 5) {
        memcpy(out, y5, sizeof y5);
        return;
    }
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) x3[y * 3 + x] = y5[(y + 1) * 5 + x + 1];
    for (int p = 0; p < 9; p++) {
        double s = 0;
        if (crop) {
            out[p] = x3[p];
            continue;
        }
        for (int q = 0; q < 9; q++) s += x3[q] * m53[p * 9 + q];
        out[p] = s;
    }
}

/* x *= h_sigmoid(expand(relu(reduce(mean(x))))) with the [:se, :mid] and
 * [:mid, :se] slices of the full SE weights. */
static void ref_se(struct ref *r, const char *pre, struct dt *x, int se)
{
    char name[160];
    int mid = x->c, full_mid, full_se;
    long hw = (long)x->h * x->h;
    const float *rw, *rb, *ew, *eb;
    double *pooled = malloc((size_t)mid * sizeof *pooled), *red = malloc((size_t)se * sizeof *red);
    snprintf(name, sizeof name, "%s.depth_conv.se.fc.reduce.weight", pre);
    full_mid = dim1(r, name);
    snprintf(name, sizeof name, "%s.depth_conv.se.fc.expand.weight", pre);
    full_se = dim1(r, name);
    rw = tensorf(r, (long)se * full_mid, "%s.depth_conv.se.fc.reduce.weight", pre);
    rb = tensorf(r, se, "%s.depth_conv.se.fc.reduce.bias", pre);
    ew = tensorf(r, (long)mid * full_se, "%s.depth_conv.se.fc.expand.weight", pre);
    eb = tensorf(r, mid, "%s.depth_conv.se.fc.expand.bias", pre);
    for (int i = 0; i < x->n; i++) {
        for (int c = 0; c < mid; c++) {
            double s = 0;
            for (long p = 0; p < hw; p++) s += x->v[((long)i * mid + c) * hw + p];
            pooled[c] = s / hw;
        }
        for (int j = 0; j < se; j++) {
            double s = rb[j];
            for (int c = 0; c < mid; c++) s += rw[(long)j * full_mid + c] * pooled[c];
            red[j] = s < 0 ? 0 : s;
        }
        for (int c = 0; c < mid; c++) {
            double s = eb[c], gate;
            for (int j = 0; j < se; j++) s += ew[(long)c * full_se + j] * red[j];
            gate = act_ref(s + 3, AB_OFA_ACT_RELU6) / 6.0;
            for (long p = 0; p < hw; p++) x->v[((long)i * mid + c) * hw + p] *= gate;
        }
    }
    free(pooled);
    free(red);
}

/* The families as once-for-all defines them (ofa_mbv3.py, ofa_proxyless.py):
 * strides and activations of the elastic stages, SE stages. */
static const int mbv3_stride[5] = {2, 2, 2, 1, 2}, pn_stride[6] = {2, 2, 2, 1, 2, 1};
static const int mbv3_se[5] = {0, 1, 0, 1, 1};

static enum ab_ofa_act stage_act(int pn, int st)
{
    if (pn) return AB_OFA_ACT_RELU6;
    return st < 2 ? AB_OFA_ACT_RELU : AB_OFA_ACT_HSWISH;
}

/* One MBConv block of the plan at position pos (block index idx of the
 * supernet), on x; returns the output. */
static struct dt ref_block(struct ref *r, const struct ab_ofa_plan *plan, int pos, int idx,
                           int e, int k, int stride, enum ab_ofa_act act, int use_se,
                           struct dt *x)
{
    const struct ab_ofa_block *b = &plan->blocks[pos];
    char pre[64], name[160], mod[96];
    struct dt mid_t, dw_t, out;
    double *filters;
    int mid = b->mid, full;

    /* the plan must agree with the architecture and the family */
    CU_ASSERT_EQUAL(b->index, idx);
    CU_ASSERT_EQUAL(b->kernel, k);
    CU_ASSERT_EQUAL(b->stride, stride);
    CU_ASSERT_EQUAL(b->act, act);
    CU_ASSERT_EQUAL(b->c_in, x->c);
    CU_ASSERT_EQUAL(b->h_in, x->h);
    CU_ASSERT_EQUAL(b->residual, stride == 1 && b->c_in == b->c_out);
    CU_ASSERT_EQUAL(!!b->se_mid, use_se);
    if (e > 1) CU_ASSERT_EQUAL(mid, ab_ofa_make_divisible(floor(x->c * (double)e + 0.5)));
    snprintf(pre, sizeof pre, "blocks.%d.conv", idx);
    filters = malloc((size_t)mid * k * k * sizeof *filters);
    if (e == 1) {
        const float *w = tensorf(r, (long)mid * 9, "%s.depth_conv.conv.weight", pre);
        for (long i = 0; i < (long)mid * 9; i++) filters[i] = w[i];
        dw_t = ref_dw(x, filters, 3, stride);
        snprintf(name, sizeof name, "%s.depth_conv.bn", pre);
        snprintf(mod, sizeof mod, "blocks.%d.conv.depth_conv.bn", pos);
        ref_bn(r, name, mod, &dw_t, act);
        snprintf(name, sizeof name, "%s.point_linear.conv.weight", pre);
        full = dim1(r, name);
        out = ref_pw(&dw_t, tensorf(r, (long)b->c_out * full, "%s", name), full, b->c_out);
        snprintf(name, sizeof name, "%s.point_linear.bn", pre);
        snprintf(mod, sizeof mod, "blocks.%d.conv.point_linear.bn", pos);
        ref_bn(r, name, mod, &out, AB_OFA_ACT_NONE);
    } else {
        const float *f7, *m75, *m53;
        snprintf(name, sizeof name, "%s.inverted_bottleneck.conv.conv.weight", pre);
        full = dim1(r, name);
        mid_t = ref_pw(x, tensorf(r, (long)mid * full, "%s", name), full, mid);
        snprintf(name, sizeof name, "%s.inverted_bottleneck.bn.bn", pre);
        snprintf(mod, sizeof mod, "blocks.%d.conv.inverted_bottleneck.bn", pos);
        ref_bn(r, name, mod, &mid_t, act);
        f7 = tensorf(r, (long)mid * 49, "%s.depth_conv.conv.conv.weight", pre);
        m75 = tensorf(r, 625, "%s.depth_conv.conv.7to5_matrix", pre);
        m53 = tensorf(r, 81, "%s.depth_conv.conv.5to3_matrix", pre);
        for (int c = 0; c < mid; c++)
            ref_filter(f7, m75, m53, c, k, r->crop, filters + (long)c * k * k);
        dw_t = ref_dw(&mid_t, filters, k, stride);
        dt_free(&mid_t);
        snprintf(name, sizeof name, "%s.depth_conv.bn.bn", pre);
        snprintf(mod, sizeof mod, "blocks.%d.conv.depth_conv.bn", pos);
        ref_bn(r, name, mod, &dw_t, act);
        if (use_se) ref_se(r, pre, &dw_t, b->se_mid);
        snprintf(name, sizeof name, "%s.point_linear.conv.conv.weight", pre);
        full = dim1(r, name);
        out = ref_pw(&dw_t, tensorf(r, (long)b->c_out * full, "%s", name), full, b->c_out);
        snprintf(name, sizeof name, "%s.point_linear.bn.bn", pre);
        snprintf(mod, sizeof mod, "blocks.%d.conv.point_linear.bn", pos);
        ref_bn(r, name, mod, &out, AB_OFA_ACT_NONE);
    }
    dt_free(&dw_t);
    free(filters);
    if (stride == 1 && x->c == out.c)
        for (long i = 0; i < (long)out.n * out.c * out.h * out.h; i++) out.v[i] += x->v[i];
    return out;
}

/* logits[n][classes] of architecture a on x (n x 3 x R x R). */
static void ref_forward(struct ref *r, const struct ab_space *sp, const struct ab_arch *a,
                        const float *x, int n, double *logits)
{
    int pn = r->pn, res = a->resolution, n_classes = r->sn->n_classes;
    struct ab_ofa_plan plan;
    struct dt in = dt_new(n, 3, res), t, u;
    long hw;
    double *pooled;
    int pos = 0, width;

    r->n_bn = 0;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_plan_make(sp, a, r->sn->net->width_mult, n_classes, &plan),
                          AB_OK);
    for (long i = 0; i < (long)n * 3 * res * res; i++) in.v[i] = x[i];
    /* first_conv: 3x3 stride 2, BN, h-swish / ReLU6 */
    t = ref_conv(&in, tensorf(r, (long)plan.stem * 27, "first_conv.conv.weight"), 3, plan.stem,
                 3, 2);
    dt_free(&in);
    ref_bn(r, "first_conv.bn", "first_conv.bn", &t,
           pn ? AB_OFA_ACT_RELU6 : AB_OFA_ACT_HSWISH);
    /* blocks.0: expansion 1, k 3, stride 1 */
    u = ref_block(r, &plan, pos++, 0, 1, 3, 1, pn ? AB_OFA_ACT_RELU6 : AB_OFA_ACT_RELU, 0, &t);
    dt_free(&t);
    t = u;
    for (int st = 0; st < sp->n_stages; st++)
        for (int l = 0; l < a->depth[st]; l++) {
            const struct ab_choice *ch = &sp->stages[st].choices[a->choice[st][l]];
            int stride = l ? 1 : (pn ? pn_stride[st] : mbv3_stride[st]);
            int use_se = !pn && mbv3_se[st];
            u = ref_block(r, &plan, pos++, 1 + 4 * st + l, ch->expand, ch->kernel, stride,
                          stage_act(pn, st), use_se, &t);
            dt_free(&t);
            t = u;
        }
    CU_ASSERT_EQUAL(pos, plan.n_blocks);
    CU_ASSERT_EQUAL(t.c, plan.c_feat);
    CU_ASSERT_EQUAL(t.h, plan.h_last);
    /* head */
    if (!pn) {
        /* final_expand_layer 1x1 + BN + h-swish, pool, feature_mix_layer
         * 1x1 (no BN, no bias) + h-swish */
        int full = dim1(r, "final_expand_layer.conv.weight");
        u = ref_pw(&t, tensorf(r, (long)plan.final_expand * full, "final_expand_layer.conv.weight"),
                   full, plan.final_expand);
        ref_bn(r, "final_expand_layer.bn", "final_expand_layer.bn", &u, AB_OFA_ACT_HSWISH);
    } else {
        /* feature_mix_layer 1x1 + BN + ReLU6, pool */
        int full = dim1(r, "feature_mix_layer.conv.weight");
        u = ref_pw(&t, tensorf(r, (long)plan.last * full, "feature_mix_layer.conv.weight"),
                   full, plan.last);
        ref_bn(r, "feature_mix_layer.bn", "feature_mix_layer.bn", &u, AB_OFA_ACT_RELU6);
    }
    dt_free(&t);
    hw = (long)u.h * u.h;
    width = u.c;
    pooled = calloc((size_t)n * width, sizeof *pooled);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < width; c++) {
            double s = 0;
            for (long p = 0; p < hw; p++) s += u.v[((long)i * width + c) * hw + p];
            pooled[(long)i * width + c] = s / hw;
        }
    dt_free(&u);
    if (!pn) {
        int full = dim1(r, "feature_mix_layer.conv.weight");
        const float *w = tensorf(r, (long)plan.last * full, "feature_mix_layer.conv.weight");
        double *mixed = calloc((size_t)n * plan.last, sizeof *mixed);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < plan.last; o++) {
                double s = 0;
                for (int c = 0; c < width; c++)
                    s += w[(long)o * full + c] * pooled[(long)i * width + c];
                mixed[(long)i * plan.last + o] = act_ref(s, AB_OFA_ACT_HSWISH);
            }
        free(pooled);
        pooled = mixed;
        width = plan.last;
    }
    {
        const float *w = tensorf(r, (long)n_classes * width, "classifier.linear.weight");
        const float *b = tensorf(r, n_classes, "classifier.linear.bias");
        for (int i = 0; i < n; i++)
            for (int o = 0; o < n_classes; o++) {
                double s = b[o];
                for (int c = 0; c < width; c++)
                    s += w[(long)o * width + c] * pooled[(long)i * width + c];
                logits[(long)i * n_classes + o] = s;
            }
    }
    free(pooled);
}

static void ref_init(struct ref *r, const struct ab_ofa_supernet *sn, int pn)
{
    memset(r, 0, sizeof *r);
    r->sn = sn;
    r->pn = pn;
}

static void ref_free(struct ref *r)
{
    for (int i = 0; i < MAX_BN; i++) {
        free(r->acc_mean[i]);
        free(r->acc_var[i]);
        r->acc_mean[i] = r->acc_var[i] = NULL;
    }
}

/* --- forward against the reference ------------------------------------------ */

/* Engine logits of a on x with `threads` threads and reserve `batch`. */
static float *engine_logits(const struct ab_ofa_supernet *sn, const struct ab_space *sp,
                            const struct ab_arch *a, const float *x, int n, int threads,
                            int batch)
{
    struct ab_ofa_subnet *net = NULL;
    float *logits = malloc((size_t)n * sn->n_classes * sizeof *logits);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(sn, sp, a, &net), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_set_threads(net, threads), AB_OK);
    if (batch > 0) CU_ASSERT_EQUAL(ab_ofa_subnet_reserve(net, batch), AB_OK);
    for (long i = 0; i < (long)n * sn->n_classes; i++) logits[i] = NAN;
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, n, logits), AB_OK);
    ab_ofa_subnet_destroy(&net);
    CU_ASSERT_PTR_NULL(net);
    return logits;
}

static void check_forward(const struct ab_ofa_supernet *sn, int pn, const struct ab_arch *a,
                          int n, int threads, int crop, const char *what)
{
    struct ab_space *sp = space_of(pn);
    float *x = random_input(n, a->resolution, 100 + (uint64_t)a->resolution);
    double *ref = malloc((size_t)n * sn->n_classes * sizeof *ref);
    float *got = engine_logits(sn, sp, a, x, n, threads, n);
    struct ref r;
    char label[160];
    ref_init(&r, sn, pn);
    r.crop = crop;
    ref_forward(&r, sp, a, x, n, ref);
    snprintf(label, sizeof label, "%s (res %d, batch %d, %d threads)", what, a->resolution, n,
             threads);
    CU_ASSERT(close_to_ref(label, got, ref, (long)n * sn->n_classes, 1e-4));
    ref_free(&r);
    free(x);
    free(ref);
    free(got);
}

static void test_forward_mbv3(void)
{
    struct ab_ofa_supernet *sn = supernet_of(0);
    struct ab_arch a;
    a = uniform_arch(0, 4, 6, 7, 32);
    check_forward(sn, 0, &a, 2, 1, 0, "mbv3 largest");
    a = uniform_arch(0, 2, 3, 3, 48);
    check_forward(sn, 0, &a, 3, 2, 0, "mbv3 smallest");
    a = mixed_arch(0, 32, 0);
    check_forward(sn, 0, &a, 3, 1, 0, "mbv3 mixed");
    a = mixed_arch(0, 37, 1); /* odd sides everywhere */
    check_forward(sn, 0, &a, 2, 1, 0, "mbv3 mixed odd");
    a = uniform_arch(0, 3, 4, 5, 40);
    check_forward(sn, 0, &a, 2, 1, 0, "mbv3 e4 k5");
}

static void test_forward_pn(void)
{
    struct ab_ofa_supernet *sn = supernet_of(1);
    struct ab_arch a;
    a = uniform_arch(1, 4, 6, 7, 32);
    check_forward(sn, 1, &a, 2, 1, 0, "pn largest");
    a = uniform_arch(1, 2, 3, 3, 48);
    check_forward(sn, 1, &a, 3, 1, 0, "pn smallest");
    a = mixed_arch(1, 32, 0);
    check_forward(sn, 1, &a, 3, 2, 0, "pn mixed");
    a = mixed_arch(1, 33, 2);
    check_forward(sn, 1, &a, 2, 1, 0, "pn mixed odd");
}

/* The reference must be able to fail: a perturbed weight or a different
 * kernel transform changes the logits beyond the tolerance. */
static void test_reference_detects_changes(void)
{
    struct ab_ofa_supernet *sn = NULL;
    struct ab_space *sp = space_of(0);
    struct ab_arch a = uniform_arch(0, 2, 4, 3, 32);
    float *x = random_input(2, 32, 9), *got;
    double ref[2 * N_CLASSES];
    struct ref r;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_MBV3_W10, N_CLASSES, 3, &sn), AB_OK);
    got = engine_logits(sn, sp, &a, x, 2, 1, 2);
    ref_init(&r, sn, 0);
    ref_forward(&r, sp, &a, x, 2, ref);
    CU_ASSERT(close_to_ref("w1.0 e4 k3", got, ref, 2 * N_CLASSES, 1e-4));
    /* the crop-only reference differs from the k = 3 transform chain */
    r.crop = 1;
    ref_forward(&r, sp, &a, x, 2, ref);
    {
        double scale = fmax(1.0, max_abs(ref, 2 * N_CLASSES)), worst = 0;
        for (int i = 0; i < 2 * N_CLASSES; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
        CU_ASSERT(worst > 1e-3 * scale);
    }
    ref_free(&r);
    free(got);
    free(x);
    ab_ofa_supernet_destroy(&sn);
}

/* --- kernel transform splicing ----------------------------------------------- */

static float *param_data(struct ab_ofa_supernet *sn, const char *name)
{
    for (int i = 0; i < sn->n_params; i++)
        if (!strcmp(sn->params[i].name, name)) return sn->data[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Sets every 7to5 / 5to3 matrix: identity, plus N(0, sd^2) when sd > 0. */
static void set_matrices(struct ab_ofa_supernet *sn, double sd, uint64_t seed)
{
    struct ab_rng rng;
    ab_rng_seed(&rng, seed);
    for (int i = 0; i < sn->n_params; i++) {
        const struct ab_ofa_param *p = &sn->params[i];
        if (ends_with(p->name, "_matrix")) {
            int k = (int)p->shape[0];
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++)
                    sn->data[i][y * k + x] = (float)((x == y) + sd * ab_rng_normal(&rng));
        }
    }
}

/* Zeroes the taps of every 7x7 depthwise filter outside the centre k x k. */
static void zero_ring(struct ab_ofa_supernet *sn, int k)
{
    int lo = (7 - k) / 2, hi = lo + k;
    for (int i = 0; i < sn->n_params; i++) {
        const struct ab_ofa_param *p = &sn->params[i];
        if (ends_with(p->name, "depth_conv.conv.conv.weight"))
            for (int64_t c = 0; c < p->shape[0]; c++)
                for (int y = 0; y < 7; y++)
                    for (int x = 0; x < 7; x++)
                        if (y < lo || y >= hi || x < lo || x >= hi)
                            sn->data[i][c * 49 + y * 7 + x] = 0.0f;
    }
}

/* With identity transform matrices, a k = 5 or k = 3 filter is the plain
 * centre of the 7x7 one. */
static void test_identity_transforms(void)
{
    struct ab_ofa_supernet *sn = NULL;
    struct ab_space *sp = space_of(0);
    struct ab_arch a5 = uniform_arch(0, 2, 4, 5, 32), a3 = uniform_arch(0, 2, 6, 3, 32);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_MBV3_W10, N_CLASSES, 4, &sn), AB_OK);
    set_matrices(sn, 0.0, 0);
    check_forward(sn, 0, &a5, 2, 1, 1, "identity matrices, k5 = centre crop");
    check_forward(sn, 0, &a3, 2, 1, 1, "identity matrices, k3 = centre crop");
    check_forward(sn, 0, &a3, 2, 1, 0, "identity matrices, k3 through the chain");

    /* and then with the taps outside the centre 3x3 zero, k = 7, 5 and 3
     * subnets are the same network */
    zero_ring(sn, 3);
    {
        struct ab_arch a7 = uniform_arch(0, 3, 4, 7, 40), b5 = uniform_arch(0, 3, 4, 5, 40),
                       b3 = uniform_arch(0, 3, 4, 3, 40);
        float *x = random_input(2, 40, 77);
        float *l7 = engine_logits(sn, sp, &a7, x, 2, 1, 2);
        float *l5 = engine_logits(sn, sp, &b5, x, 2, 1, 2);
        float *l3 = engine_logits(sn, sp, &b3, x, 2, 1, 2);
        CU_ASSERT(close_floats("k5 vs k7, zero ring", l5, l7, 2 * N_CLASSES, 1e-5));
        CU_ASSERT(close_floats("k3 vs k7, zero ring", l3, l7, 2 * N_CLASSES, 1e-5));
        free(x);
        free(l7);
        free(l5);
        free(l3);
    }
    ab_ofa_supernet_destroy(&sn);
}

/* Matrices far from the identity (a transposed product would differ
 * clearly), on both families. */
static void test_strong_transforms(void)
{
    struct ab_ofa_supernet *sn = NULL;
    struct ab_arch a = mixed_arch(0, 32, 2), b = mixed_arch(1, 32, 1);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_MBV3_W10, N_CLASSES, 5, &sn), AB_OK);
    set_matrices(sn, 0.4, 21);
    check_forward(sn, 0, &a, 2, 1, 0, "mbv3 w1.0, random transform matrices");
    ab_ofa_supernet_destroy(&sn);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_PN, N_CLASSES, 6, &sn), AB_OK);
    set_matrices(sn, 0.4, 22);
    check_forward(sn, 1, &b, 2, 1, 0, "pn, random transform matrices");
    ab_ofa_supernet_destroy(&sn);
}

/* Splicing copies: changing the supernet afterwards does not change a
 * subnet made before. */
static void test_splice_copies(void)
{
    struct ab_ofa_supernet *sn = NULL;
    struct ab_ofa_subnet *net = NULL;
    struct ab_arch a = uniform_arch(0, 2, 3, 5, 32);
    float *x = random_input(2, 32, 3), before[2 * N_CLASSES], after[2 * N_CLASSES];
    CU_ASSERT_EQUAL_FATAL(ab_ofa_supernet_random(NET_MBV3_W10, N_CLASSES, 8, &sn), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(sn, g_mbv3, &a, &net), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 2, before), AB_OK);
    set_matrices(sn, 0.5, 1);
    memset(param_data(sn, "classifier.linear.weight"), 0, sizeof(float) * 10);
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 2, after), AB_OK);
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0);
    ab_ofa_subnet_destroy(&net);
    ab_ofa_subnet_destroy(&net); /* NULL-safe */
    ab_ofa_supernet_destroy(&sn);
    free(x);
}

/* --- threads and chunking -------------------------------------------------- */

static void test_threads_and_chunks(void)
{
    for (int pn = 0; pn <= 1; pn++) {
        struct ab_ofa_supernet *sn = supernet_of(pn);
        struct ab_space *sp = space_of(pn);
        struct ab_arch a = mixed_arch(pn, 36, 3);
        int n = 4;
        float *x = random_input(n, 36, 31);
        float *t1 = engine_logits(sn, sp, &a, x, n, 1, n);
        float *t2 = engine_logits(sn, sp, &a, x, n, 2, n);
        float *c1 = engine_logits(sn, sp, &a, x, n, 1, 3); /* chunks 3 + 1 */
        float *c0 = engine_logits(sn, sp, &a, x, n, 1, 0); /* nothing reserved: 1 at a time */
        long m = (long)n * sn->n_classes;
        CU_ASSERT(close_floats("threads 2 vs 1", t2, t1, m, 1e-5));
        CU_ASSERT(close_floats("batch 3 chunks vs 4", c1, t1, m, 1e-5));
        CU_ASSERT(close_floats("no reservation vs 4", c0, t1, m, 1e-5));
        /* images are independent: the logits of image 2 alone are row 2 */
        {
            float *one = engine_logits(sn, sp, &a, x + 2L * 3 * 36 * 36, 1, 1, 1);
            CU_ASSERT(close_floats("image 2 alone", one, t1 + 2L * sn->n_classes,
                                   sn->n_classes, 1e-5));
            free(one);
        }
        free(x);
        free(t1);
        free(t2);
        free(c1);
        free(c0);
    }
}

static void test_reserve(void)
{
    struct ab_ofa_subnet *net = NULL;
    struct ab_arch a = uniform_arch(0, 2, 3, 3, 32);
    size_t b1, b4;
    float *x = random_input(4, 32, 2), l1[4 * N_CLASSES], l2[4 * N_CLASSES];
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(supernet_of(0), g_mbv3, &a, &net), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_reserved_bytes(net), 0);
    CU_ASSERT_EQUAL(ab_ofa_subnet_reserve(net, 0), AB_OK); /* at least 1 */
    b1 = ab_ofa_subnet_reserved_bytes(net);
    CU_ASSERT(b1 > 0);
    CU_ASSERT_EQUAL(ab_ofa_subnet_reserve(net, 4), AB_OK);
    b4 = ab_ofa_subnet_reserved_bytes(net);
    CU_ASSERT(b4 > b1);
    CU_ASSERT_EQUAL(ab_ofa_subnet_reserve(net, 2), AB_OK); /* never shrinks */
    CU_ASSERT_EQUAL(ab_ofa_subnet_reserved_bytes(net), b4);
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 4, l1), AB_OK);
    /* more threads later, then the same again */
    CU_ASSERT_EQUAL(ab_ofa_subnet_set_threads(net, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 4, l2), AB_OK);
    CU_ASSERT(close_floats("set_threads after reserve", l2, l1, 4 * N_CLASSES, 1e-5));
    CU_ASSERT_EQUAL(ab_ofa_subnet_set_threads(net, 0), AB_OK); /* means 1 */
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 4, l2), AB_OK);
    CU_ASSERT(close_floats("threads 0 = 1", l2, l1, 4 * N_CLASSES, 1e-5));
    ab_ofa_subnet_destroy(&net);
    free(x);
}

/* --- BatchNorm re-calibration --------------------------------------------- */

/* Largest error of calibrated statistics (float, per channel) against the
 * reference's sums (double, x n), relative to the layer's scale: mean
 * errors over sqrt(mean(v) + mean(m^2)), variance errors over mean(v).
 * Single channels may have tiny variances (dead ReLUs), so the scale is the
 * layer's, not the channel's. */
static void stats_error(const float *mean, const float *var, const double *sum_m,
                        const double *sum_v, int n, int c, double *em, double *ev)
{
    double mv = 0, mm = 0, dm = 0, dv = 0;
    for (int i = 0; i < c; i++) {
        mv += sum_v[i] / n;
        mm += (sum_m[i] / n) * (sum_m[i] / n);
        dm = fmax(dm, fabs(mean[i] - sum_m[i] / n));
        dv = fmax(dv, fabs(var[i] - sum_v[i] / n));
        if (!isfinite(mean[i]) || !isfinite(var[i])) dm = dv = INFINITY;
    }
    mv /= c;
    mm /= c;
    *em = dm / sqrt(mv + mm + 1e-30);
    *ev = dv / (mv + 1e-30);
}

/* Calibrates the engine and the reference on n images in batches of b,
 * compares every BatchNorm's statistics, then the logits with them. */
static void check_calibration(int pn, const struct ab_arch *a, int n, int b)
{
    struct ab_ofa_supernet *sn = supernet_of(pn);
    struct ab_space *sp = space_of(pn);
    struct ab_ofa_subnet *net = NULL;
    struct ref r;
    int res = a->resolution, nb;
    long img = 3L * res * res;
    float *x = random_input(n, res, 55), *after = malloc((size_t)n * N_CLASSES * sizeof(float));
    double *ref = malloc((size_t)n * N_CLASSES * sizeof *ref);
    const float *before_mean = ab_ofa_supernet_tensor(sn, "first_conv.bn.running_mean", NULL);
    float keep = before_mean[0];

    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(sn, sp, a, &net), AB_OK);
    ref_init(&r, sn, pn);
    r.mode = REF_CALIB;
    ab_ofa_subnet_calib_begin(net);
    for (int i = 0; i < n; i += b) {
        int m = n - i < b ? n - i : b;
        double scratch[8 * N_CLASSES];
        CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(net, x + i * img, m), AB_OK);
        if (m > 8) abort();
        ref_forward(&r, sp, a, x + i * img, m, scratch);
    }
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(net), AB_OK);
    nb = ab_ofa_subnet_n_bn(net);
    CU_ASSERT_EQUAL(nb, r.n_bn);
    for (int k = 0; k < nb && k < r.n_bn; k++) {
        const char *name;
        const float *mean, *var;
        int c;
        CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_bn(net, k, &name, &c, &mean, &var), AB_OK);
        CU_ASSERT_STRING_EQUAL(name, r.bn_name[k]);
        CU_ASSERT_EQUAL_FATAL(c, r.bn_c[k]);
        {
            double em, ev;
            stats_error(mean, var, r.acc_mean[k], r.acc_var[k], n, c, &em, &ev);
            if (!(em <= 1e-4 && ev <= 1e-4))
                fprintf(stderr, "\n%s: mean error %.3g, variance error %.3g (relative to the "
                        "layer's scale)\n", name, em, ev);
            CU_ASSERT(em <= 1e-4 && ev <= 1e-4);
        }
        r.ov_mean[k] = mean;
        r.ov_var[k] = var;
    }
    /* eval with the new statistics: engine vs reference using them (two
     * images are enough; images are independent in eval mode) */
    CU_ASSERT_EQUAL(ab_ofa_subnet_forward(net, x, 2, after), AB_OK);
    r.mode = REF_EVAL;
    ref_forward(&r, sp, a, x, 2, ref);
    CU_ASSERT(close_to_ref("logits after calibration", after, ref, 2L * N_CLASSES, 1e-4));
    /* the supernet itself is untouched */
    CU_ASSERT_EQUAL(before_mean[0], keep);
    ref_free(&r);
    ab_ofa_subnet_destroy(&net);
    free(x);
    free(after);
    free(ref);
}

/* Training-mode BatchNorm through many layers on few images amplifies
 * float rounding (the reference itself moves by ~1e-5 for a 1e-7 change of
 * the input at 11 blocks, and by 1e-1 at 17 blocks of 1 x 1 pixels), so the
 * cases are shallow and at 80 x 80: the engine then agrees to ~2e-5. */
static void test_calibration(void)
{
    struct ab_arch a = uniform_arch(0, 2, 4, 5, 80);
    check_calibration(0, &a, 5, 2); /* batches 2 + 2 + 1 */
    a = mixed_arch_d(0, 80, 0, 2);
    check_calibration(0, &a, 6, 4); /* 4 + 2 */
    a = mixed_arch_d(1, 80, 1, 2);
    check_calibration(1, &a, 6, 4);
}

/* Calibration results depend on the batches only: a second calibration
 * after begin() forgets the first; end() without batches fails. */
static void test_calibration_restart(void)
{
    struct ab_ofa_subnet *n1 = NULL, *n2 = NULL;
    struct ab_arch a = uniform_arch(0, 2, 4, 5, 32);
    float *x = random_input(6, 32, 66), *y = random_input(3, 32, 67);
    long img = 3L * 32 * 32;
    const float *orig_m;
    float m0;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(supernet_of(0), g_mbv3, &a, &n1), AB_OK);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(supernet_of(0), g_mbv3, &a, &n2), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n1, 0, NULL, NULL, &orig_m, NULL), AB_OK);
    m0 = orig_m[0];
    ab_ofa_subnet_calib_begin(n1);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n1), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "no images"));
    CU_ASSERT_EQUAL(orig_m[0], m0); /* statistics kept */
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(n1, y, 0), AB_OK); /* nothing */
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n1), AB_ERR_INPUT);
    ab_err_clear();
    /* n1: calibrate on y, then again on x; n2: on x only */
    ab_ofa_subnet_calib_begin(n1);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(n1, y, 3), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n1), AB_OK);
    ab_ofa_subnet_calib_begin(n1);
    ab_ofa_subnet_calib_begin(n2);
    for (int i = 0; i < 6; i += 3) {
        CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(n1, x + i * img, 3), AB_OK);
        CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(n2, x + i * img, 3), AB_OK);
    }
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n1), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n2), AB_OK);
    for (int k = 0; k < ab_ofa_subnet_n_bn(n1); k++) {
        const float *m1, *v1, *m2, *v2;
        int c1, c2;
        CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n1, k, NULL, &c1, &m1, &v1), AB_OK);
        CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n2, k, NULL, &c2, &m2, &v2), AB_OK);
        CU_ASSERT_EQUAL(c1, c2);
        CU_ASSERT(close_floats("restart mean", m1, m2, c1, 1e-6));
        CU_ASSERT(close_floats("restart var", v1, v2, c1, 1e-6));
    }
    /* the batch size matters, as in OFA: one batch of 6 differs from 2 x 3 */
    ab_ofa_subnet_calib_begin(n2);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_batch(n2, x, 6), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_calib_end(n2), AB_OK);
    {
        const float *v1, *v2;
        int c;
        double diff = 0;
        int last = ab_ofa_subnet_n_bn(n1) - 1;
        CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n1, last, NULL, &c, NULL, &v1), AB_OK);
        CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n2, last, NULL, NULL, NULL, &v2), AB_OK);
        for (int i = 0; i < c; i++) diff = fmax(diff, fabs(v1[i] - v2[i]) / (v1[i] + 1e-9));
        CU_ASSERT(diff > 1e-4);
    }
    CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n1, -1, NULL, NULL, NULL, NULL), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_ofa_subnet_bn(n1, ab_ofa_subnet_n_bn(n1), NULL, NULL, NULL, NULL),
                    AB_ERR_INTERNAL);
    ab_err_clear();
    ab_ofa_subnet_destroy(&n1);
    ab_ofa_subnet_destroy(&n2);
    free(x);
    free(y);
}

/* BatchNorm names and count in named_modules() order. */
static void test_bn_names(void)
{
    struct ab_ofa_subnet *net = NULL;
    struct ab_arch a = uniform_arch(0, 2, 3, 3, 32), b = uniform_arch(1, 2, 3, 3, 32);
    const char *name;
    int c;
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(supernet_of(0), g_mbv3, &a, &net), AB_OK);
    /* stem, blocks.0 (2), 10 blocks x 3, final expand */
    CU_ASSERT_EQUAL(ab_ofa_subnet_n_bn(net), 1 + 2 + 30 + 1);
    ab_ofa_subnet_bn(net, 0, &name, &c, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "first_conv.bn");
    CU_ASSERT_EQUAL(c, 24);
    ab_ofa_subnet_bn(net, 1, &name, NULL, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "blocks.0.conv.depth_conv.bn");
    ab_ofa_subnet_bn(net, 2, &name, NULL, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "blocks.0.conv.point_linear.bn");
    ab_ofa_subnet_bn(net, 3, &name, &c, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "blocks.1.conv.inverted_bottleneck.bn");
    CU_ASSERT_EQUAL(c, 72);
    /* the subnet's block positions, not the supernet's indices: stage 2
     * starts at blocks.3 of the spliced subnet */
    ab_ofa_subnet_bn(net, 3 + 2 * 3, &name, NULL, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "blocks.3.conv.inverted_bottleneck.bn");
    ab_ofa_subnet_bn(net, 33, &name, &c, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "final_expand_layer.bn");
    CU_ASSERT_EQUAL(c, 1152);
    CU_ASSERT_PTR_NOT_NULL(ab_ofa_subnet_plan(net));
    CU_ASSERT_EQUAL(ab_ofa_subnet_plan(net)->resolution, 32);
    ab_ofa_subnet_destroy(&net);
    CU_ASSERT_EQUAL_FATAL(ab_ofa_subnet_create(supernet_of(1), g_pn, &b, &net), AB_OK);
    CU_ASSERT_EQUAL(ab_ofa_subnet_n_bn(net), 1 + 2 + 11 * 3 + 1);
    ab_ofa_subnet_bn(net, ab_ofa_subnet_n_bn(net) - 1, &name, &c, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(name, "feature_mix_layer.bn");
    CU_ASSERT_EQUAL(c, 1664);
    ab_ofa_subnet_destroy(&net);
    CU_ASSERT_EQUAL(ab_ofa_subnet_n_bn(NULL), 0);
}

static void test_subnet_create_errors(void)
{
    static char junk;
    struct ab_ofa_subnet *net = (struct ab_ofa_subnet *)&junk; /* must be set to NULL */
    struct ab_arch a = uniform_arch(0, 2, 3, 3, 32), p = uniform_arch(1, 2, 3, 3, 32);
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(supernet_of(1), g_mbv3, &a, &net), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "ofa_mbv3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "ofa_pn"));
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(supernet_of(0), g_pn, &p, &net), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), NET_MBV3));
    a.depth[1] = 5;
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(supernet_of(0), g_mbv3, &a, &net), AB_ERR_INPUT);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT_EQUAL(ab_ofa_subnet_create(NULL, g_mbv3, &a, &net), AB_ERR_INTERNAL);
    ab_err_clear();
}

static const struct cu_case cases[] = {
    {"depthwise plane vs direct loops", test_dw_plane},
    {"depthwise: non-square planes, stride 3", test_dw_plane_rect_and_generic},
    {"im2col 3x3 stride 2", test_im2col},
    {"affine, activations, reductions", test_small_kernels},
    {"make_divisible and conv_out", test_make_divisible},
    {"plan MBv3 w1.2: widths, SE, shortcuts, sides", test_plan_mbv3},
    {"plan PN w1.3: widths, shortcuts, sides", test_plan_pn},
    {"plan errors", test_plan_errors},
    {"forward MBv3 w1.2 vs naive reference", test_forward_mbv3},
    {"forward PN w1.3 vs naive reference", test_forward_pn},
    {"the reference sees a wrong kernel transform", test_reference_detects_changes},
    {"identity transforms = centre crop; zero rings", test_identity_transforms},
    {"random transform matrices", test_strong_transforms},
    {"splicing copies the weights", test_splice_copies},
    {"threads and chunks give the same logits", test_threads_and_chunks},
    {"reserve", test_reserve},
    {"calibration vs naive set_running_statistics", test_calibration},
    {"calibration restart, no batches, batch size", test_calibration_restart},
    {"BatchNorm names and order", test_bn_names},
    {"subnet_create errors", test_subnet_create_errors},
    {NULL, NULL}};
/* libgomp reads its wait policy before main(): run again with passive
 * waiting unless one was chosen (as coordinator/main.c does for threaded
 * commands). */
int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv); /* returns only on failure: go on */
    }
    return cu_run("ofa_engine", cases);
}
