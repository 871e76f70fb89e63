/* SPDX-License-Identifier: MIT
 *
 * This file tests the neural-network core (common/nn/nn.h). Every forward is
 * compared with a naive loop reference written here (double accumulation) on
 * random inputs of awkward sizes; every backward is compared with central
 * finite differences of the scalar loss L = sum(R .* y) for a fixed random R,
 * with respect to every input and every parameter element; backwards are
 * checked to ACCUMULATE into non-zero buffers; the GATv2 attention weights
 * are checked to be a softmax over each node's incoming edges; AdamW and
 * gradient clipping are compared with the torch formulas.
 *
 * Tolerances:
 *   - forward vs reference: |a - r| <= 1e-4 * max(1, |r|, sum of |terms|)
 *     (float32 accumulation, BLAS or not, against double);
 *   - finite differences: step h = 1e-2 (the loss is accumulated in double,
 *     the ops run in float); a GATv2 difference that flips the sign of a
 *     pre-activation (crosses the leaky kink) is retried with h / 8, then
 *     skipped (at most 10%); inputs of leaky/abs/L1 are kept >= 0.05 from 0.
 *     Pass when |analytic - numeric| <= FD_TOL * max(1, |numeric|), FD_TOL =
 *     5e-3. The worst error on a correct implementation is about 3e-4 (the
 *     last test asserts a 5x margin); each of 44 deliberate bugs tried in a
 *     private copy of nn.c (wrong sign, missing softmax or batch-norm term,
 *     wrong leaky slope in a derivative, = instead of +=, biased running
 *     variance, eps placement, AdamW bias corrections, ...) fails the suite.
 *   - accumulation: exact up to float rounding (1e-5 relative).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "nn/nn.h"
#include "util/rng.h"

#define FD_TOL 5e-3
#define FWD_TOL 1e-4
#define ACC_TOL 1e-5

static struct ab_rng rng;

/* ---- small helpers -------------------------------------------------------- */

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static int *ialloc(size_t n)
{
    int *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static float *fdup(const float *src, size_t n)
{
    float *p = falloc(n);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static void fill_normal(float *p, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)(scale * ab_rng_normal(&rng));
}

/* Normal values pushed away from 0 (|v| >= margin): finite differences of
 * kinked functions (leaky, abs, L1) must not straddle the kink. */
static void fill_away_from_zero(float *p, size_t n, double margin)
{
    for (size_t i = 0; i < n; i++) {
        double v = ab_rng_normal(&rng);
        p[i] = (float)(v >= 0 ? v + margin : v - margin);
    }
}

/* L = sum R .* y, accumulated in double. */
static double dotd(const float *r, const float *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

/* Compares a float array with a double reference; bound[i] (or 1 when bound
 * is NULL) scales the tolerance: |a - r| <= tol * max(1, |r|, bound[i]).
 * Prints the first few mismatches. Returns the number of mismatches. */
static int cmp_ref(const char *what, const float *a, const double *r, const double *bound,
                   size_t n, double tol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(1.0, fabs(r[i]));
        if (bound) scale = fmax(scale, bound[i]);
        if (!(fabs(a[i] - r[i]) <= tol * scale)) {
            if (bad < 5) printf("\n  %s[%zu]: got %.9g, want %.9g", what, i, a[i], r[i]);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    return bad;
}

static int cmp_f(const char *what, const float *a, const float *b, size_t n, double tol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(fabs((double)a[i] - b[i]) <= tol * fmax(1.0, fabs(b[i])))) {
            if (bad < 5) printf("\n  %s[%zu]: got %.9g, want %.9g", what, i, a[i], b[i]);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    return bad;
}

/* ---- finite differences --------------------------------------------------- */

typedef double (*loss_fn)(void *ctx);

/* Set by a loss function when the perturbed forward crossed a kink (a GATv2
 * pre-activation changed sign): that element's difference is skipped. */
static int g_kink;
static double g_fd_worst; /* largest scaled FD error seen (for tuning) */

/* (L(p[i] + h) - L(p[i] - h)) / (actual step); sets *kinked when the loss
 * reported a kink crossing. */
static double central_diff(float *p, size_t i, float h, loss_fn loss, void *ctx, int *kinked)
{
    float save = p[i];
    float up = save + h, down = save - h;
    g_kink = 0;
    p[i] = up;
    double lp = loss(ctx);
    p[i] = down;
    double lm = loss(ctx);
    p[i] = save;
    *kinked = g_kink;
    return (lp - lm) / ((double)up - (double)down);
}

/* Central differences of loss(ctx) w.r.t. p[0..n) against analytic an[0..n).
 * An element whose difference crosses a kink is retried with h / 8, then
 * skipped. Returns the number of mismatches; asserts none and few skipped. */
static int fd_check(const char *what, float *p, size_t n, const float *an, loss_fn loss,
                    void *ctx, float h)
{
    int bad = 0, skipped = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        int kinked;
        double num = central_diff(p, i, h, loss, ctx, &kinked);
        if (kinked) num = central_diff(p, i, h / 8, loss, ctx, &kinked);
        if (kinked) {
            skipped++;
            continue;
        }
        double err = fabs(an[i] - num) / fmax(1.0, fabs(num));
        if (err > worst) worst = err;
        if (!(err <= FD_TOL)) {
            if (bad < 5)
                printf("\n  d%s[%zu]: analytic %.7g, numeric %.7g", what, i, an[i], num);
            bad++;
        }
    }
    if (worst > g_fd_worst) g_fd_worst = worst;
    if (getenv("NN_TEST_VERBOSE"))
        printf("\n  d%s: %zu elements, worst scaled error %.2e, %d skipped", what, n, worst,
               skipped);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(skipped * 10 <= (int)n + 1);
    return bad;
}

/* Checks accumulation: after = before + once (elementwise). */
static void check_accum(const char *what, const float *after, const float *before,
                        const float *once, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = (double)before[i] + once[i];
        if (!(fabs(after[i] - want) <= ACC_TOL * fmax(1.0, fabs(want)))) {
            if (bad < 5) printf("\n  %s[%zu] accumulated %.9g, want %.9g", what, i, after[i], want);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Checks that twice = 2 * once. */
static void check_double(const char *what, const float *twice, const float *once, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = 2.0 * once[i];
        if (!(fabs(twice[i] - want) <= ACC_TOL * fmax(1.0, fabs(want)))) {
            if (bad < 5) printf("\n  %s[%zu] after two calls %.9g, want %.9g", what, i, twice[i], want);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- graphs --------------------------------------------------------------- */

/* A CSR graph over destinations built from an edge list, optionally adding a
 * self loop per node. The self loop goes first for even nodes and last for
 * odd nodes, so no position is assumed by the op under test. */
struct tgraph {
    struct ab_nn_graph g;
    int self_loops;
};

static void graph_build(struct tgraph *t, int n, const int *src, const int *dst, int ne,
                        int self_loops)
{
    int e_total = ne + (self_loops ? n : 0);
    t->g.n_nodes = n;
    t->g.n_edges = e_total;
    t->g.in_ptr = ialloc((size_t)n + 1);
    t->g.in_src = ialloc((size_t)e_total);
    t->self_loops = self_loops;
    int pos = 0;
    for (int i = 0; i < n; i++) {
        t->g.in_ptr[i] = pos;
        if (self_loops && i % 2 == 0) t->g.in_src[pos++] = i;
        for (int k = 0; k < ne; k++)
            if (dst[k] == i) t->g.in_src[pos++] = src[k];
        if (self_loops && i % 2 == 1) t->g.in_src[pos++] = i;
    }
    t->g.in_ptr[n] = pos;
    CU_ASSERT_FATAL(pos == e_total);
}

static void graph_free(struct tgraph *t)
{
    free(t->g.in_ptr);
    free(t->g.in_src);
    memset(t, 0, sizeof *t);
}

/* Several chains (i -> i+1 inside each chain) plus a few skip edges inside
 * chains and across chains. Chain lengths cycle through 1, 4, 2, 5, 3 ...
 * Writes the edges to src/dst (capacity 3n) and returns their count. The
 * first node of each chain receives no edge except its self loop, except for
 * the cross edges, which only ever point into non-head nodes. */
static int make_chains(int n, int *src, int *dst, int *is_head)
{
    static const int lens[] = {1, 4, 2, 5, 3, 7};
    int ne = 0, start = 0, c = 0, prev_start = -1;
    for (int i = 0; i < n; i++) is_head[i] = 0;
    while (start < n) {
        int len = lens[c % 6];
        if (start + len > n) len = n - start;
        is_head[start] = 1;
        for (int i = start; i + 1 < start + len; i++) {
            src[ne] = i;
            dst[ne++] = i + 1;
        }
        for (int i = start; i + 2 < start + len; i += 2) { /* skip edges */
            src[ne] = i;
            dst[ne++] = i + 2;
        }
        if (prev_start >= 0 && len >= 2) { /* cross edge into a non-head */
            src[ne] = prev_start;
            dst[ne++] = start + len - 1;
        }
        prev_start = start;
        start += len;
        c++;
    }
    return ne;
}

/* ---- linear --------------------------------------------------------------- */

static void ref_linear(const float *x, int n, int in, const float *w, const float *b, int out,
                       double *y, double *bound)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0, a = b ? fabs(b[o]) : 0;
            for (int k = 0; k < in; k++) {
                s += (double)x[i * in + k] * w[o * in + k];
                a += fabs((double)x[i * in + k] * w[o * in + k]);
            }
            y[i * out + o] = s;
            if (bound) bound[i * out + o] = a;
        }
}

static void test_linear_fwd(void)
{
    static const int ns[] = {1, 7, 130}, ws[] = {1, 3, 6, 32, 33};
    ab_rng_seed(&rng, 101);
    for (int a = 0; a < 3; a++)
        for (int bi = 0; bi < 5; bi++)
            for (int ci = 0; ci < 5; ci++)
                for (int with_b = 0; with_b < 2; with_b++) {
                    int n = ns[a], in = ws[bi], out = ws[ci];
                    float *x = falloc((size_t)n * in), *w = falloc((size_t)out * in);
                    float *b = falloc(out), *y = falloc((size_t)n * out);
                    double *r = dalloc((size_t)n * out);
                    double *bd = dalloc((size_t)n * out);
                    fill_normal(x, (size_t)n * in, 1);
                    fill_normal(w, (size_t)out * in, 1);
                    fill_normal(b, out, 1);
                    for (size_t i = 0; i < (size_t)n * out; i++) y[i] = NAN; /* overwritten */
                    ab_nn_linear_fwd(x, n, in, w, with_b ? b : NULL, out, y);
                    ref_linear(x, n, in, w, with_b ? b : NULL, out, r, bd);
                    if (cmp_ref("linear y", y, r, bd, (size_t)n * out, FWD_TOL))
                        printf(" (n %d in %d out %d bias %d)", n, in, out, with_b);
                    free(x), free(w), free(b), free(y), free(r), free(bd);
                }
}

struct linear_ctx {
    int n, in, out;
    float *x, *w, *b, *y, *r;
};

static double linear_loss(void *vc)
{
    struct linear_ctx *c = vc;
    ab_nn_linear_fwd(c->x, c->n, c->in, c->w, c->b, c->out, c->y);
    return dotd(c->r, c->y, (size_t)c->n * c->out);
}

static void linear_grad_case(int n, int in, int out)
{
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    struct linear_ctx c = {n, in, out, falloc(nx), falloc(nw), falloc(out), falloc(ny),
                           falloc(ny)};
    fill_normal(c.x, nx, 1);
    fill_normal(c.w, nw, 1);
    fill_normal(c.b, out, 1);
    fill_normal(c.r, ny, 1);
    float *dw = falloc(nw), *db = falloc(out), *dx = falloc(nx);
    ab_nn_linear_bwd(c.x, n, in, c.w, out, c.r, dw, db, dx);
    fd_check("linear x", c.x, nx, dx, linear_loss, &c, 1e-2f);
    fd_check("linear W", c.w, nw, dw, linear_loss, &c, 1e-2f);
    fd_check("linear b", c.b, out, db, linear_loss, &c, 1e-2f);

    /* accumulation into non-zero buffers */
    float *dw2 = falloc(nw), *db2 = falloc(out), *dx2 = falloc(nx);
    fill_normal(dw2, nw, 1);
    fill_normal(db2, out, 1);
    fill_normal(dx2, nx, 1);
    float *dw0 = fdup(dw2, nw), *db0 = fdup(db2, out), *dx0 = fdup(dx2, nx);
    ab_nn_linear_bwd(c.x, n, in, c.w, out, c.r, dw2, db2, dx2);
    check_accum("linear dW", dw2, dw0, dw, nw);
    check_accum("linear db", db2, db0, db, out);
    check_accum("linear dx", dx2, dx0, dx, nx);

    /* twice from zero doubles; optional outputs may be NULL */
    memset(dw2, 0, nw * sizeof *dw2);
    memset(db2, 0, out * sizeof *db2);
    memset(dx2, 0, nx * sizeof *dx2);
    ab_nn_linear_bwd(c.x, n, in, c.w, out, c.r, dw2, db2, dx2);
    ab_nn_linear_bwd(c.x, n, in, c.w, out, c.r, dw2, db2, dx2);
    check_double("linear dW", dw2, dw, nw);
    check_double("linear db", db2, db, out);
    check_double("linear dx", dx2, dx, nx);
    memset(dw2, 0, nw * sizeof *dw2);
    ab_nn_linear_bwd(c.x, n, in, c.w, out, c.r, dw2, NULL, NULL);
    cmp_f("linear dW (db, dx NULL)", dw2, dw, nw, ACC_TOL);

    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r);
    free(dw), free(db), free(dx), free(dw2), free(db2), free(dx2), free(dw0), free(db0),
        free(dx0);
}

static void test_linear_grad(void)
{
    ab_rng_seed(&rng, 102);
    linear_grad_case(7, 6, 3);
    linear_grad_case(1, 33, 1);
    linear_grad_case(3, 1, 33);
    linear_grad_case(130, 3, 6);
}

/* ---- elementwise ---------------------------------------------------------- */

static void test_elementwise_fwd(void)
{
    ab_rng_seed(&rng, 201);
    size_t n = 1031;
    float *x = falloc(n), *y = falloc(n), *z = falloc(n);
    fill_normal(x, n, 2);
    x[0] = 0.0f;
    x[1] = -0.0f;
    static const float slopes[] = {0.0f, 0.01f, 0.2f};
    for (int s = 0; s < 3; s++) {
        int bad = 0;
        ab_nn_leaky_fwd(x, n, slopes[s], y);
        for (size_t i = 0; i < n; i++) {
            float want = x[i] > 0 ? x[i] : slopes[s] * x[i];
            if (y[i] != want) bad++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        memcpy(z, x, n * sizeof *z); /* in place */
        ab_nn_leaky_fwd(z, n, slopes[s], z);
        CU_ASSERT(memcmp(z, y, n * sizeof *z) == 0);
    }
    int bad = 0;
    ab_nn_abs_fwd(x, n, y);
    for (size_t i = 0; i < n; i++)
        if (y[i] != fabsf(x[i]) || signbit(y[i])) bad++;
    CU_ASSERT_EQUAL(bad, 0);

    /* add_to: y += x exactly */
    fill_normal(y, n, 1);
    memcpy(z, y, n * sizeof *z);
    ab_nn_add_to(x, n, y);
    bad = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] != z[i] + x[i]) bad++;
    CU_ASSERT_EQUAL(bad, 0);
    free(x), free(y), free(z);
}

struct ew_ctx {
    size_t n;
    float slope;
    int op; /* 0 leaky, 1 abs */
    float *x, *y, *r;
};

static double ew_loss(void *vc)
{
    struct ew_ctx *c = vc;
    if (c->op == 0)
        ab_nn_leaky_fwd(c->x, c->n, c->slope, c->y);
    else
        ab_nn_abs_fwd(c->x, c->n, c->y);
    return dotd(c->r, c->y, c->n);
}

static void ew_grad_case(int op, float slope)
{
    size_t n = 257;
    struct ew_ctx c = {n, slope, op, falloc(n), falloc(n), falloc(n)};
    fill_away_from_zero(c.x, n, 0.05);
    fill_normal(c.r, n, 1);
    float *dx = falloc(n), *dx2 = falloc(n), *dx0;
    if (op == 0) {
        ab_nn_leaky_fwd(c.x, n, slope, c.y);
        ab_nn_leaky_bwd(c.y, c.r, n, slope, dx);
    } else {
        ab_nn_abs_bwd(c.x, c.r, n, dx);
    }
    fd_check(op == 0 ? (slope == 0 ? "relu x" : "leaky x") : "abs x", c.x, n, dx, ew_loss, &c,
             1e-2f);
    fill_normal(dx2, n, 1);
    dx0 = fdup(dx2, n);
    if (op == 0) {
        ab_nn_leaky_fwd(c.x, n, slope, c.y);
        ab_nn_leaky_bwd(c.y, c.r, n, slope, dx2);
        ab_nn_leaky_bwd(c.y, c.r, n, slope, dx2);
    } else {
        ab_nn_abs_bwd(c.x, c.r, n, dx2);
        ab_nn_abs_bwd(c.x, c.r, n, dx2);
    }
    for (size_t i = 0; i < n; i++) dx0[i] += 2 * dx[i];
    cmp_f("elementwise dx accumulated twice", dx2, dx0, n, ACC_TOL);
    free(c.x), free(c.y), free(c.r), free(dx), free(dx2), free(dx0);
}

static void test_elementwise_grad(void)
{
    ab_rng_seed(&rng, 202);
    ew_grad_case(0, 0.0f);
    ew_grad_case(0, 0.01f);
    ew_grad_case(0, 0.2f);
    ew_grad_case(1, 0.0f);
    /* exact values at and around 0: sign(0) = 0 for abs; leaky uses y > 0 */
    float x[4] = {0.0f, -0.0f, 2.0f, -3.0f}, y[4], dy[4] = {1, 1, 1, 1}, dx[4] = {0};
    ab_nn_abs_bwd(x, dy, 4, dx);
    CU_ASSERT(dx[0] == 0 && dx[1] == 0 && dx[2] == 1 && dx[3] == -1);
    memset(dx, 0, sizeof dx);
    ab_nn_leaky_fwd(x, 4, 0.01f, y);
    ab_nn_leaky_bwd(y, dy, 4, 0.01f, dx);
    CU_ASSERT(dx[2] == 1.0f && dx[3] == 0.01f);
    CU_ASSERT(dx[0] == 0.01f && dx[1] == 0.01f); /* y = 0 is not > 0 */
    /* add_to as its own backward: dx += dy */
    float acc[4] = {1, 2, 3, 4};
    ab_nn_add_to(dy, 4, acc);
    CU_ASSERT(acc[0] == 2 && acc[1] == 3 && acc[2] == 4 && acc[3] == 5);
}

/* ---- embedding ------------------------------------------------------------ */

struct emb_ctx {
    int n, d;
    const int *idx;
    float *table, *y, *r;
};

static double emb_loss(void *vc)
{
    struct emb_ctx *c = vc;
    ab_nn_embedding_fwd(c->table, c->d, c->idx, c->n, c->y);
    return dotd(c->r, c->y, (size_t)c->n * c->d);
}

static void test_embedding(void)
{
    ab_rng_seed(&rng, 301);
    static const int ds[] = {1, 3, 33};
    for (int di = 0; di < 3; di++) {
        int cn = 5, d = ds[di], n = 13;
        int idx[13];
        for (int i = 0; i < n; i++) idx[i] = (int)ab_rng_below(&rng, 3); /* repeats */
        idx[n - 1] = cn - 1;                                            /* last row */
        struct emb_ctx c = {n, d, idx, falloc((size_t)cn * d), falloc((size_t)n * d),
                            falloc((size_t)n * d)};
        fill_normal(c.table, (size_t)cn * d, 1);
        fill_normal(c.r, (size_t)n * d, 1);
        ab_nn_embedding_fwd(c.table, d, idx, n, c.y);
        int bad = 0;
        for (int i = 0; i < n; i++)
            if (memcmp(c.y + (size_t)i * d, c.table + (size_t)idx[i] * d, d * sizeof(float)))
                bad++;
        CU_ASSERT_EQUAL(bad, 0);

        float *dt = falloc((size_t)cn * d);
        double *ref = dalloc((size_t)cn * d);
        ab_nn_embedding_bwd(idx, n, d, c.r, dt);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) ref[idx[i] * d + k] += c.r[i * d + k];
        cmp_ref("embedding dtable", dt, ref, NULL, (size_t)cn * d, 1e-6);
        for (int k = 0; k < d; k++) CU_ASSERT(dt[3 * d + k] == 0.0f); /* unused row */
        fd_check("embedding table", c.table, (size_t)cn * d, dt, emb_loss, &c, 1e-2f);
        ab_nn_embedding_bwd(idx, n, d, c.r, dt);
        for (size_t k = 0; k < (size_t)cn * d; k++) ref[k] *= 2;
        cmp_ref("embedding dtable twice", dt, ref, NULL, (size_t)cn * d, 1e-6);
        free(c.table), free(c.y), free(c.r), free(dt), free(ref);
    }
}

/* ---- batch norm ----------------------------------------------------------- */

static void test_bn_fwd(void)
{
    static const int ns[] = {2, 7, 130}, cs[] = {1, 3, 33};
    static const float moms[] = {0.1f, 0.3f};
    ab_rng_seed(&rng, 401);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int mi = 0; mi < 2; mi++) {
                int n = ns[a], c = cs[b];
                float m = moms[mi], eps = 1e-5f;
                size_t nx = (size_t)n * c;
                float *x = falloc(nx), *y = falloc(nx), *g = falloc(c), *be = falloc(c);
                float *rm = falloc(c), *rv = falloc(c), *xhat = falloc(nx), *istd = falloc(c);
                double *ry = dalloc(nx), *rxh = dalloc(nx);
                double *rrm = dalloc(c), *rrv = dalloc(c);
                double *ris = dalloc(c);
                for (int k = 0; k < c; k++) { /* per-channel offset and scale */
                    double off = 3 * ab_rng_normal(&rng), sc = 0.5 + 2 * ab_rng_uniform(&rng);
                    if (k == 0 && c > 1) /* variance ~ eps: where eps goes matters */
                        off = 0.1 * ab_rng_normal(&rng), sc = 3e-3;
                    for (int i = 0; i < n; i++)
                        x[i * c + k] = (float)(off + sc * ab_rng_normal(&rng));
                }
                fill_normal(g, c, 1);
                fill_normal(be, c, 1);
                for (int k = 0; k < c; k++) {
                    rm[k] = (float)ab_rng_normal(&rng);
                    rv[k] = (float)(0.5 + ab_rng_uniform(&rng));
                }
                if (c > 1) rv[0] = 1e-5f; /* eval: a running variance ~ eps */
                for (int k = 0; k < c; k++) {
                    double mean = 0, var = 0;
                    for (int i = 0; i < n; i++) mean += x[i * c + k];
                    mean /= n;
                    for (int i = 0; i < n; i++) var += (x[i * c + k] - mean) * (x[i * c + k] - mean);
                    double unb = var / (n - 1);
                    var /= n;
                    ris[k] = 1 / sqrt(var + eps);
                    for (int i = 0; i < n; i++) {
                        rxh[i * c + k] = (x[i * c + k] - mean) * ris[k];
                        ry[i * c + k] = g[k] * rxh[i * c + k] + be[k];
                    }
                    rrm[k] = (1 - (double)m) * rm[k] + m * mean;
                    rrv[k] = (1 - (double)m) * rv[k] + m * unb;
                }
                struct ab_nn_bn_cache cache = {xhat, istd};
                ab_nn_bn_fwd(x, n, c, g, be, rm, rv, m, eps, &cache, y);
                cmp_ref("bn y", y, ry, NULL, nx, FWD_TOL);
                cmp_ref("bn xhat", xhat, rxh, NULL, nx, FWD_TOL);
                double *rel_is = dalloc(c); /* inv_std relative */
                for (int k = 0; k < c; k++) rel_is[k] = fabs(ris[k]);
                cmp_ref("bn inv_std", istd, ris, rel_is, c, FWD_TOL);
                cmp_ref("bn running mean", rm, rrm, NULL, c, FWD_TOL);
                cmp_ref("bn running var (unbiased)", rv, rrv, NULL, c, FWD_TOL);

                /* evaluation: running statistics, which stay untouched */
                float *rm0 = fdup(rm, c), *rv0 = fdup(rv, c);
                ab_nn_bn_fwd(x, n, c, g, be, rm, rv, m, eps, NULL, y);
                for (int k = 0; k < c; k++)
                    for (int i = 0; i < n; i++)
                        ry[i * c + k] =
                            g[k] * (x[i * c + k] - (double)rm0[k]) / sqrt(rv0[k] + (double)eps) +
                            be[k];
                double *bd = dalloc(nx);
                for (int k = 0; k < c; k++)
                    for (int i = 0; i < n; i++)
                        bd[i * c + k] = fabs(g[k] * (fabs(x[i * c + k]) + fabs(rm0[k])) /
                                             sqrt(rv0[k] + (double)eps));
                cmp_ref("bn eval y", y, ry, bd, nx, FWD_TOL);
                CU_ASSERT(memcmp(rm, rm0, c * sizeof *rm) == 0);
                CU_ASSERT(memcmp(rv, rv0, c * sizeof *rv) == 0);
                free(x), free(y), free(g), free(be), free(rm), free(rv), free(xhat), free(istd);
                free(ry), free(rxh), free(rrm), free(rrv), free(ris), free(rel_is), free(rm0),
                    free(rv0), free(bd);
            }
}

struct bn_ctx {
    int n, c;
    float *x, *g, *b, *rm, *rv, *xhat, *istd, *y, *r;
};

static double bn_loss(void *vc)
{
    struct bn_ctx *c = vc;
    struct ab_nn_bn_cache cache = {c->xhat, c->istd};
    ab_nn_bn_fwd(c->x, c->n, c->c, c->g, c->b, c->rm, c->rv, 0.1f, 1e-5f, &cache, c->y);
    return dotd(c->r, c->y, (size_t)c->n * c->c);
}

static void bn_grad_case(int n, int ch)
{
    size_t nx = (size_t)n * ch;
    struct bn_ctx c = {n,           ch,         falloc(nx), falloc(ch), falloc(ch), falloc(ch),
                       falloc(ch),  falloc(nx), falloc(ch), falloc(nx), falloc(nx)};
    fill_normal(c.x, nx, 1.5);
    for (size_t i = 0; i < nx; i++) c.x[i] += 0.7f;
    fill_normal(c.g, ch, 1);
    fill_normal(c.b, ch, 1);
    fill_normal(c.r, nx, 1);
    for (int k = 0; k < ch; k++) c.rv[k] = 1;
    float *dx = falloc(nx), *dg = falloc(ch), *db = falloc(ch);
    bn_loss(&c);
    struct ab_nn_bn_cache cache = {c.xhat, c.istd};
    ab_nn_bn_bwd(&cache, n, ch, c.g, c.r, dg, db, dx);
    /* the gradient does not depend on the running statistics */
    float *dx2 = falloc(nx), *dg2 = falloc(ch), *db2 = falloc(ch);
    for (int k = 0; k < ch; k++) c.rm[k] = 100, c.rv[k] = 1e-3f;
    bn_loss(&c);
    ab_nn_bn_bwd(&cache, n, ch, c.g, c.r, dg2, db2, dx2);
    cmp_f("bn dx (other running stats)", dx2, dx, nx, 1e-6);
    cmp_f("bn dgamma (other running stats)", dg2, dg, ch, 1e-6);
    cmp_f("bn dbeta (other running stats)", db2, db, ch, 1e-6);

    fd_check("bn x", c.x, nx, dx, bn_loss, &c, 1e-2f);
    fd_check("bn gamma", c.g, ch, dg, bn_loss, &c, 1e-2f);
    fd_check("bn beta", c.b, ch, db, bn_loss, &c, 1e-2f);

    /* dx sums to zero over the batch (a property of batch statistics) */
    for (int k = 0; k < ch; k++) {
        double s = 0, a = 0;
        for (int i = 0; i < n; i++) s += dx[i * ch + k], a += fabs(dx[i * ch + k]);
        CU_ASSERT(fabs(s) <= 1e-4 * fmax(1, a));
    }

    /* accumulation */
    fill_normal(dx2, nx, 1);
    fill_normal(dg2, ch, 1);
    fill_normal(db2, ch, 1);
    float *dx0 = fdup(dx2, nx), *dg0 = fdup(dg2, ch), *db0 = fdup(db2, ch);
    bn_loss(&c);
    ab_nn_bn_bwd(&cache, n, ch, c.g, c.r, dg2, db2, dx2);
    check_accum("bn dx", dx2, dx0, dx, nx);
    check_accum("bn dgamma", dg2, dg0, dg, ch);
    check_accum("bn dbeta", db2, db0, db, ch);
    memset(dx2, 0, nx * sizeof *dx2);
    memset(dg2, 0, ch * sizeof *dg2);
    memset(db2, 0, ch * sizeof *db2);
    ab_nn_bn_bwd(&cache, n, ch, c.g, c.r, dg2, db2, dx2);
    ab_nn_bn_bwd(&cache, n, ch, c.g, c.r, dg2, db2, dx2);
    check_double("bn dx", dx2, dx, nx);
    check_double("bn dgamma", dg2, dg, ch);
    check_double("bn dbeta", db2, db, ch);

    free(c.x), free(c.g), free(c.b), free(c.rm), free(c.rv), free(c.xhat), free(c.istd),
        free(c.y), free(c.r);
    free(dx), free(dg), free(db), free(dx2), free(dg2), free(db2), free(dx0), free(dg0),
        free(db0);
}

/* The widest layer nn.h allows (AB_NN_MAX_CHANNELS) in evaluation mode must
 * normalise every channel. */
static void test_bn_wide(void)
{
    const int n = 3, c = AB_NN_MAX_CHANNELS;
    size_t nx = (size_t)n * c;
    ab_rng_seed(&rng, 403);
    float *x = falloc(nx), *y = falloc(nx), *g = falloc(c), *be = falloc(c);
    float *rm = falloc(c), *rv = falloc(c);
    fill_normal(x, nx, 1);
    fill_normal(g, c, 1);
    fill_normal(be, c, 1);
    fill_normal(rm, c, 1);
    for (int k = 0; k < c; k++) rv[k] = 0.5f + (float)ab_rng_uniform(&rng);
    for (size_t i = 0; i < nx; i++) y[i] = NAN;
    ab_nn_bn_fwd(x, n, c, g, be, rm, rv, 0.1f, 1e-5f, NULL, y);
    double *ry = dalloc(nx), *bd = dalloc(nx);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            double inv = 1 / sqrt(rv[k] + 1e-5);
            ry[i * c + k] = g[k] * (x[i * c + k] - (double)rm[k]) * inv + be[k];
            bd[i * c + k] = fabs(g[k] * inv) * (fabs(x[i * c + k]) + fabs(rm[k])) + fabs(be[k]);
        }
    cmp_ref("bn eval y (widest layer)", y, ry, bd, nx, FWD_TOL);
    free(x), free(y), free(g), free(be), free(rm), free(rv), free(ry), free(bd);
}

static void test_bn_grad(void)
{
    ab_rng_seed(&rng, 402);
    bn_grad_case(2, 3);
    bn_grad_case(7, 6);
    bn_grad_case(33, 1);
}

/* ---- pooling and L1 norm -------------------------------------------------- */

/* Graph sizes cycle through 1, 4, 2, 7, 3 until n nodes are used. */
static int make_graph_ptr(int n, int *ptr)
{
    static const int sizes[] = {1, 4, 2, 7, 3};
    int g = 0, pos = 0;
    ptr[0] = 0;
    while (pos < n) {
        int s = sizes[g % 5];
        if (pos + s > n) s = n - pos;
        pos += s;
        ptr[++g] = pos;
    }
    return g;
}

struct pool_ctx {
    int c, g, mean;
    const int *ptr;
    float *x, *y, *r;
};

static double pool_loss(void *vc)
{
    struct pool_ctx *c = vc;
    ab_nn_pool_fwd(c->x, c->c, c->ptr, c->g, c->mean, c->y);
    return dotd(c->r, c->y, (size_t)c->g * c->c);
}

static void test_pool(void)
{
    static const int ns[] = {1, 7, 130}, cs[] = {1, 3, 33};
    ab_rng_seed(&rng, 501);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int mean = 0; mean < 2; mean++) {
                int n = ns[a], ch = cs[b];
                int *ptr = ialloc((size_t)n + 1);
                int g = make_graph_ptr(n, ptr);
                size_t nx = (size_t)n * ch, ny = (size_t)g * ch;
                struct pool_ctx c = {ch, g, mean, ptr, falloc(nx), falloc(ny), falloc(ny)};
                fill_normal(c.x, nx, 1);
                fill_normal(c.r, ny, 1);
                double *ref = dalloc(ny), *bd = dalloc(ny);
                for (int gi = 0; gi < g; gi++)
                    for (int k = 0; k < ch; k++) {
                        double s = 0, sa = 0;
                        for (int i = ptr[gi]; i < ptr[gi + 1]; i++)
                            s += c.x[i * ch + k], sa += fabs(c.x[i * ch + k]);
                        int cnt = ptr[gi + 1] - ptr[gi];
                        ref[gi * ch + k] = mean ? s / cnt : s;
                        bd[gi * ch + k] = mean ? sa / cnt : sa;
                    }
                pool_loss(&c);
                cmp_ref(mean ? "mean pool y" : "sum pool y", c.y, ref, bd, ny, FWD_TOL);

                float *dx = falloc(nx), *dx2 = falloc(nx);
                ab_nn_pool_bwd(c.r, ch, ptr, g, mean, dx);
                double *rdx = dalloc(nx);
                for (int gi = 0; gi < g; gi++)
                    for (int i = ptr[gi]; i < ptr[gi + 1]; i++)
                        for (int k = 0; k < ch; k++)
                            rdx[i * ch + k] =
                                c.r[gi * ch + k] / (mean ? (double)(ptr[gi + 1] - ptr[gi]) : 1.0);
                cmp_ref("pool dx", dx, rdx, NULL, nx, 1e-6);
                if (n <= 7) fd_check(mean ? "mean pool x" : "sum pool x", c.x, nx, dx, pool_loss,
                                     &c, 1e-2f);
                fill_normal(dx2, nx, 1);
                float *dx0 = fdup(dx2, nx);
                ab_nn_pool_bwd(c.r, ch, ptr, g, mean, dx2);
                check_accum("pool dx", dx2, dx0, dx, nx);
                free(ptr), free(c.x), free(c.y), free(c.r), free(ref), free(bd), free(dx),
                    free(dx2), free(rdx), free(dx0);
            }
}

struct l1_ctx {
    int n, c;
    float *x, *y, *r;
};

static double l1_loss(void *vc)
{
    struct l1_ctx *c = vc;
    ab_nn_l1norm_fwd(c->x, c->n, c->c, c->y);
    return dotd(c->r, c->y, (size_t)c->n);
}

static void test_l1norm(void)
{
    static const int ns[] = {1, 7, 130}, cs[] = {1, 3, 33};
    ab_rng_seed(&rng, 601);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            int n = ns[a], ch = cs[b];
            size_t nx = (size_t)n * ch;
            struct l1_ctx c = {n, ch, falloc(nx), falloc(n), falloc(n)};
            fill_away_from_zero(c.x, nx, 0.05);
            fill_normal(c.r, n, 1);
            double *ref = dalloc(n);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < ch; k++) ref[i] += fabs(c.x[i * ch + k]);
            l1_loss(&c);
            cmp_ref("l1 y", c.y, ref, ref, n, FWD_TOL);
            float *dx = falloc(nx), *dx2 = falloc(nx);
            ab_nn_l1norm_bwd(c.x, n, ch, c.r, dx);
            if (n * ch <= 231) fd_check("l1 x", c.x, nx, dx, l1_loss, &c, 1e-2f);
            fill_normal(dx2, nx, 1);
            float *dx0 = fdup(dx2, nx);
            ab_nn_l1norm_bwd(c.x, n, ch, c.r, dx2);
            check_accum("l1 dx", dx2, dx0, dx, nx);
            free(c.x), free(c.y), free(c.r), free(ref), free(dx), free(dx2), free(dx0);
        }
    /* sign(0) = 0 */
    float x[3] = {0.0f, -2.0f, 5.0f}, y[1], dy[1] = {2}, dx[3] = {0};
    ab_nn_l1norm_fwd(x, 1, 3, y);
    CU_ASSERT(y[0] == 7.0f);
    ab_nn_l1norm_bwd(x, 1, 3, dy, dx);
    CU_ASSERT(dx[0] == 0.0f && dx[1] == -2.0f && dx[2] == 2.0f);
}

static double l2_loss(void *vc)
{
    struct l1_ctx *c = vc;
    ab_nn_l2norm_fwd(c->x, c->n, c->c, c->y);
    return dotd(c->r, c->y, (size_t)c->n);
}

static void test_l2norm(void)
{
    static const int ns[] = {1, 7, 130}, cs[] = {1, 3, 33};
    ab_rng_seed(&rng, 611);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            int n = ns[a], ch = cs[b];
            size_t nx = (size_t)n * ch;
            struct l1_ctx c = {n, ch, falloc(nx), falloc(n), falloc(n)};
            fill_away_from_zero(c.x, nx, 0.05);
            fill_normal(c.r, n, 1);
            double *ref = dalloc(n);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < ch; k++) ref[i] += (double)c.x[i * ch + k] * c.x[i * ch + k];
                ref[i] = sqrt(ref[i]);
            }
            l2_loss(&c);
            cmp_ref("l2 y", c.y, ref, ref, n, FWD_TOL);
            float *dx = falloc(nx), *dx2 = falloc(nx);
            ab_nn_l2norm_bwd(c.x, c.y, n, ch, c.r, dx);
            if (n * ch <= 231) fd_check("l2 x", c.x, nx, dx, l2_loss, &c, 1e-2f);
            l2_loss(&c); /* y of the unperturbed x again: the backward reads it */
            fill_normal(dx2, nx, 1);
            float *dx0 = fdup(dx2, nx);
            ab_nn_l2norm_bwd(c.x, c.y, n, ch, c.r, dx2);
            check_accum("l2 dx", dx2, dx0, dx, nx);
            free(c.x), free(c.y), free(c.r), free(ref), free(dx), free(dx2), free(dx0);
        }
    /* a zero row has norm 0 and gets no gradient */
    float x[3] = {0.0f, 0.0f, 0.0f}, y[1], dy[1] = {2}, dx[3] = {0};
    ab_nn_l2norm_fwd(x, 1, 3, y);
    CU_ASSERT(y[0] == 0.0f);
    ab_nn_l2norm_bwd(x, y, 1, 3, dy, dx);
    CU_ASSERT(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 0.0f);
    float x2[2] = {3.0f, -4.0f}, y2[1], dy2[1] = {1}, dx2[2] = {0};
    ab_nn_l2norm_fwd(x2, 1, 2, y2);
    CU_ASSERT(y2[0] == 5.0f);
    ab_nn_l2norm_bwd(x2, y2, 1, 2, dy2, dx2);
    CU_ASSERT_DOUBLE_EQUAL(dx2[0], 0.6, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dx2[1], -0.8, 1e-6);
}

/* ---- GATv2 ---------------------------------------------------------------- */

struct gat_ref {
    double *xl, *xr, *s, *alpha, *y;
};

static double lrelu02(double v) { return v > 0 ? v : 0.2 * v; }

static void ref_gatv2(const struct ab_nn_graph *gr, const float *x, int in, int out,
                      const struct ab_nn_gat_params *p, struct gat_ref *r)
{
    int n = gr->n_nodes;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double sl = p->b[o], sr = p->b[out + o];
            for (int k = 0; k < in; k++) {
                sl += (double)x[i * in + k] * p->w[o * in + k];
                sr += (double)x[i * in + k] * p->w[(out + o) * in + k];
            }
            r->xl[i * out + o] = sl;
            r->xr[i * out + o] = sr;
        }
    for (int i = 0; i < n; i++) {
        int lo = gr->in_ptr[i], hi = gr->in_ptr[i + 1];
        double mx = -INFINITY, z = 0;
        for (int e = lo; e < hi; e++) {
            int j = gr->in_src[e];
            double sc = 0;
            for (int o = 0; o < out; o++) {
                double s = r->xl[j * out + o] + r->xr[i * out + o];
                r->s[(size_t)e * out + o] = s;
                sc += p->att[o] * lrelu02(s);
            }
            r->alpha[e] = sc;
            if (sc > mx) mx = sc;
        }
        for (int e = lo; e < hi; e++) z += exp(r->alpha[e] - mx);
        for (int e = lo; e < hi; e++) r->alpha[e] = exp(r->alpha[e] - mx) / z;
        for (int o = 0; o < out; o++) {
            double acc = p->bias[o];
            for (int e = lo; e < hi; e++) acc += r->alpha[e] * r->xl[gr->in_src[e] * out + o];
            r->y[i * out + o] = acc;
        }
    }
}

struct gat_case {
    struct tgraph t;
    int n, in, out, e;
    float *x, *w, *b, *att, *bias, *r, *y;
    float *xlr, *s, *alpha;
    signed char *sign0; /* signs of s at the unperturbed point */
};

static void gat_case_init(struct gat_case *c, int n, int in, int out, double wscale)
{
    int *src = ialloc(3 * (size_t)n + 3), *dst = ialloc(3 * (size_t)n + 3);
    int *head = ialloc(n);
    int ne = make_chains(n, src, dst, head);
    graph_build(&c->t, n, src, dst, ne, 1);
    free(src), free(dst), free(head);
    c->n = n, c->in = in, c->out = out, c->e = c->t.g.n_edges;
    c->x = falloc((size_t)n * in);
    c->w = falloc(2 * (size_t)out * in);
    c->b = falloc(2 * (size_t)out);
    c->att = falloc(out);
    c->bias = falloc(out);
    c->r = falloc((size_t)n * out);
    c->y = falloc((size_t)n * out);
    c->xlr = falloc((size_t)n * 2 * out);
    c->s = falloc((size_t)c->e * out);
    c->alpha = falloc(c->e);
    c->sign0 = calloc((size_t)c->e * out, 1);
    fill_normal(c->x, (size_t)n * in, 1);
    fill_normal(c->w, 2 * (size_t)out * in, wscale);
    fill_normal(c->b, 2 * (size_t)out, 0.5);
    fill_normal(c->att, out, 1);
    fill_normal(c->bias, out, 1);
    fill_normal(c->r, (size_t)n * out, 1);
}

static void gat_case_free(struct gat_case *c)
{
    graph_free(&c->t);
    free(c->x), free(c->w), free(c->b), free(c->att), free(c->bias), free(c->r), free(c->y);
    free(c->xlr), free(c->s), free(c->alpha), free(c->sign0);
}

static void gat_fwd(struct gat_case *c)
{
    struct ab_nn_gat_params p = {c->w, c->b, c->att, c->bias};
    struct ab_nn_gat_cache cache = {c->xlr, c->s, c->alpha};
    ab_nn_gatv2_fwd(&c->t.g, c->x, c->in, c->out, &p, &cache, c->y);
}

static double gat_loss(void *vc)
{
    struct gat_case *c = vc;
    gat_fwd(c);
    for (size_t k = 0; k < (size_t)c->e * c->out; k++)
        if ((c->s[k] > 0) != (c->sign0[k] > 0)) g_kink = 1;
    return dotd(c->r, c->y, (size_t)c->n * c->out);
}

static void test_gatv2_fwd(void)
{
    static const int ns[] = {1, 7, 130}, ws[] = {1, 3, 6, 32, 33};
    ab_rng_seed(&rng, 701);
    for (int a = 0; a < 3; a++)
        for (int bi = 0; bi < 5; bi++)
            for (int ci = 0; ci < 5; ci++) {
                int n = ns[a], in = ws[bi], out = ws[ci];
                struct gat_case c;
                gat_case_init(&c, n, in, out, 1.0 / sqrt(in));
                gat_fwd(&c);
                size_t no = (size_t)n * out, eo = (size_t)c.e * out;
                struct gat_ref r = {dalloc(no), dalloc(no), dalloc(eo),
                                    dalloc(c.e), dalloc(no)};
                struct ab_nn_gat_params p = {c.w, c.b, c.att, c.bias};
                ref_gatv2(&c.t.g, c.x, in, out, &p, &r);
                float *xl = falloc(no), *xr = falloc(no);
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < out; o++) {
                        xl[i * out + o] = c.xlr[(size_t)i * 2 * out + o];
                        xr[i * out + o] = c.xlr[(size_t)i * 2 * out + out + o];
                    }
                int bad = cmp_ref("gat cache xl", xl, r.xl, NULL, no, FWD_TOL);
                bad += cmp_ref("gat cache xr", xr, r.xr, NULL, no, FWD_TOL);
                bad += cmp_ref("gat cache s", c.s, r.s, NULL, eo, FWD_TOL);
                bad += cmp_ref("gat cache alpha", c.alpha, r.alpha, NULL, c.e, FWD_TOL);
                bad += cmp_ref("gat y", c.y, r.y, NULL, no, FWD_TOL);
                if (bad) printf(" (n %d in %d out %d)", n, in, out);
                free(r.xl), free(r.xr), free(r.s), free(r.alpha), free(r.y), free(xl), free(xr);
                gat_case_free(&c);
            }
}

/* Structure: alpha sums to 1 over each node's incoming edges; a node whose
 * only incoming edge is its self loop gets alpha 1 and y = xl + bias. */
static void test_gatv2_attention(void)
{
    ab_rng_seed(&rng, 702);
    int n = 23, in = 4, out = 5;
    struct gat_case c;
    gat_case_init(&c, n, in, out, 2.0); /* sharp attention */
    gat_fwd(&c);
    int heads_seen = 0, multi_seen = 0;
    for (int i = 0; i < n; i++) {
        int lo = c.t.g.in_ptr[i], hi = c.t.g.in_ptr[i + 1];
        double s = 0;
        for (int e = lo; e < hi; e++) {
            CU_ASSERT(c.alpha[e] >= 0 && c.alpha[e] <= 1);
            s += c.alpha[e];
        }
        CU_ASSERT(fabs(s - 1) <= 1e-5);
        if (hi - lo == 1) {
            heads_seen++;
            CU_ASSERT_EQUAL(c.t.g.in_src[lo], i);
            CU_ASSERT(fabs(c.alpha[lo] - 1) <= 1e-6);
            for (int o = 0; o < out; o++)
                CU_ASSERT(fabs(c.y[i * out + o] - (c.xlr[i * 2 * out + o] + c.bias[o])) <=
                          1e-5 * fmax(1, fabs(c.y[i * out + o])));
        } else {
            multi_seen++;
        }
    }
    CU_ASSERT(heads_seen >= 3);
    CU_ASSERT(multi_seen >= 10);
    gat_case_free(&c);

    /* large logits must not overflow: softmax is shift-invariant */
    ab_rng_seed(&rng, 703);
    gat_case_init(&c, 9, 3, 2, 30.0);
    for (int o = 0; o < 2; o++) c.att[o] *= 20;
    gat_fwd(&c);
    int finite = 1;
    for (int k = 0; k < 9 * 2; k++) finite &= isfinite(c.y[k]);
    for (int e = 0; e < c.e; e++) finite &= isfinite(c.alpha[e]);
    CU_ASSERT(finite);
    gat_case_free(&c);
}

static void gat_bwd(struct gat_case *c, struct ab_nn_gat_grads *g, float *dx, float *scratch)
{
    struct ab_nn_gat_params p = {c->w, c->b, c->att, c->bias};
    struct ab_nn_gat_cache cache = {c->xlr, c->s, c->alpha};
    ab_nn_gatv2_bwd(&c->t.g, c->x, c->in, c->out, &p, &cache, c->r, g, dx, scratch);
}

static void gat_grad_case(int n, int in, int out)
{
    struct gat_case c;
    gat_case_init(&c, n, in, out, 1.0);
    size_t nx = (size_t)n * in, nw = 2 * (size_t)out * in, nb = 2 * (size_t)out;
    size_t nscr = (size_t)n * 2 * out + (size_t)c.e * out;
    float *scratch = falloc(nscr);
    float *dx = falloc(nx);
    struct ab_nn_gat_grads g = {falloc(nw), falloc(nb), falloc(out), falloc(out)};
    gat_fwd(&c);
    for (size_t k = 0; k < (size_t)c.e * out; k++) c.sign0[k] = c.s[k] > 0;
    for (size_t k = 0; k < nscr; k++) scratch[k] = NAN; /* scratch needs no zeroing */
    gat_bwd(&c, &g, dx, scratch);

    fd_check("gat x", c.x, nx, dx, gat_loss, &c, 1e-2f);
    fd_check("gat W (Wl;Wr)", c.w, nw, g.w, gat_loss, &c, 1e-2f);
    fd_check("gat b (bl;br)", c.b, nb, g.b, gat_loss, &c, 1e-2f);
    fd_check("gat att", c.att, out, g.att, gat_loss, &c, 1e-2f);
    fd_check("gat bias", c.bias, out, g.bias, gat_loss, &c, 1e-2f);

    /* accumulation into non-zero buffers, and dx == NULL */
    struct ab_nn_gat_grads g2 = {falloc(nw), falloc(nb), falloc(out), falloc(out)};
    float *dx2 = falloc(nx);
    fill_normal(g2.w, nw, 1), fill_normal(g2.b, nb, 1), fill_normal(g2.att, out, 1);
    fill_normal(g2.bias, out, 1), fill_normal(dx2, nx, 1);
    float *w0 = fdup(g2.w, nw), *b0 = fdup(g2.b, nb), *a0 = fdup(g2.att, out);
    float *bi0 = fdup(g2.bias, out), *dx0 = fdup(dx2, nx);
    gat_fwd(&c);
    gat_bwd(&c, &g2, dx2, scratch);
    check_accum("gat dW", g2.w, w0, g.w, nw);
    check_accum("gat db", g2.b, b0, g.b, nb);
    check_accum("gat datt", g2.att, a0, g.att, out);
    check_accum("gat dbias", g2.bias, bi0, g.bias, out);
    check_accum("gat dx", dx2, dx0, dx, nx);
    memset(g2.w, 0, nw * sizeof(float)), memset(g2.b, 0, nb * sizeof(float)), memset(g2.att, 0, out * sizeof(float));
    memset(g2.bias, 0, out * sizeof(float)), memset(dx2, 0, nx * sizeof(float));
    gat_bwd(&c, &g2, dx2, scratch);
    gat_bwd(&c, &g2, dx2, scratch);
    check_double("gat dW", g2.w, g.w, nw);
    check_double("gat db", g2.b, g.b, nb);
    check_double("gat datt", g2.att, g.att, out);
    check_double("gat dbias", g2.bias, g.bias, out);
    check_double("gat dx", dx2, dx, nx);
    memset(g2.w, 0, nw * sizeof(float)), memset(g2.b, 0, nb * sizeof(float)), memset(g2.att, 0, out * sizeof(float));
    memset(g2.bias, 0, out * sizeof(float));
    gat_bwd(&c, &g2, NULL, scratch);
    cmp_f("gat dW (dx NULL)", g2.w, g.w, nw, ACC_TOL);
    cmp_f("gat db (dx NULL)", g2.b, g.b, nb, ACC_TOL);
    cmp_f("gat datt (dx NULL)", g2.att, g.att, out, ACC_TOL);
    cmp_f("gat dbias (dx NULL)", g2.bias, g.bias, out, ACC_TOL);

    free(scratch), free(dx), free(dx2), free(w0), free(b0), free(a0), free(bi0), free(dx0);
    free(g.w), free(g.b), free(g.att), free(g.bias);
    free(g2.w), free(g2.b), free(g2.att), free(g2.bias);
    gat_case_free(&c);
}

static void test_gatv2_grad(void)
{
    ab_rng_seed(&rng, 704);
    gat_grad_case(12, 5, 4);
    gat_grad_case(1, 3, 6);
    gat_grad_case(9, 1, 1);
    gat_grad_case(17, 6, 3);
}

/* ---- GraphConv ------------------------------------------------------------ */

struct gc_case {
    struct tgraph t;
    int n, in, out;
    float *x, *wrel, *brel, *wroot, *agg, *y, *r;
};

static void gc_case_init(struct gc_case *c, int n, int in, int out)
{
    int *src = ialloc(3 * (size_t)n + 3), *dst = ialloc(3 * (size_t)n + 3);
    int *head = ialloc(n);
    int ne = make_chains(n, src, dst, head);
    graph_build(&c->t, n, src, dst, ne, 0);
    free(src), free(dst), free(head);
    c->n = n, c->in = in, c->out = out;
    c->x = falloc((size_t)n * in);
    c->wrel = falloc((size_t)out * in);
    c->brel = falloc(out);
    c->wroot = falloc((size_t)out * in);
    c->agg = falloc((size_t)n * in);
    c->y = falloc((size_t)n * out);
    c->r = falloc((size_t)n * out);
    fill_normal(c->x, (size_t)n * in, 1);
    fill_normal(c->wrel, (size_t)out * in, 1);
    fill_normal(c->brel, out, 1);
    fill_normal(c->wroot, (size_t)out * in, 1);
    fill_normal(c->r, (size_t)n * out, 1);
}

static void gc_case_free(struct gc_case *c)
{
    graph_free(&c->t);
    free(c->x), free(c->wrel), free(c->brel), free(c->wroot), free(c->agg), free(c->y),
        free(c->r);
}

static double gc_loss(void *vc)
{
    struct gc_case *c = vc;
    struct ab_nn_gconv_params p = {c->wrel, c->brel, c->wroot};
    ab_nn_graphconv_fwd(&c->t.g, c->x, c->in, c->out, &p, c->agg, c->y);
    return dotd(c->r, c->y, (size_t)c->n * c->out);
}

static void test_graphconv_fwd(void)
{
    static const int ns[] = {1, 7, 130}, ws[] = {1, 3, 6, 32, 33};
    ab_rng_seed(&rng, 801);
    for (int a = 0; a < 3; a++)
        for (int bi = 0; bi < 5; bi++)
            for (int ci = 0; ci < 5; ci++) {
                int n = ns[a], in = ws[bi], out = ws[ci];
                struct gc_case c;
                gc_case_init(&c, n, in, out);
                for (size_t k = 0; k < (size_t)n * in; k++) c.agg[k] = NAN; /* overwritten */
                gc_loss(&c);
                size_t ni = (size_t)n * in, no = (size_t)n * out;
                double *ragg = dalloc(ni), *ry = dalloc(no), *bd = dalloc(no);
                for (int i = 0; i < n; i++)
                    for (int e = c.t.g.in_ptr[i]; e < c.t.g.in_ptr[i + 1]; e++)
                        for (int k = 0; k < in; k++)
                            ragg[i * in + k] += c.x[c.t.g.in_src[e] * in + k];
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < out; o++) {
                        double s = c.brel[o], sa = fabs(c.brel[o]);
                        for (int k = 0; k < in; k++) {
                            s += ragg[i * in + k] * c.wrel[o * in + k] +
                                 (double)c.x[i * in + k] * c.wroot[o * in + k];
                            sa += fabs(ragg[i * in + k] * c.wrel[o * in + k]) +
                                  fabs((double)c.x[i * in + k] * c.wroot[o * in + k]);
                        }
                        ry[i * out + o] = s;
                        bd[i * out + o] = sa;
                    }
                int bad = cmp_ref("graphconv agg", c.agg, ragg, NULL, ni, FWD_TOL);
                bad += cmp_ref("graphconv y", c.y, ry, bd, no, FWD_TOL);
                if (bad) printf(" (n %d in %d out %d)", n, in, out);
                free(ragg), free(ry), free(bd);
                gc_case_free(&c);
            }
}

static void gc_bwd(struct gc_case *c, struct ab_nn_gconv_grads *g, float *dx, float *scratch)
{
    struct ab_nn_gconv_params p = {c->wrel, c->brel, c->wroot};
    ab_nn_graphconv_bwd(&c->t.g, c->x, c->in, c->out, &p, c->agg, c->r, g, dx, scratch);
}

static void gc_grad_case(int n, int in, int out)
{
    struct gc_case c;
    gc_case_init(&c, n, in, out);
    size_t nx = (size_t)n * in, nw = (size_t)out * in;
    float *scratch = falloc(nx), *dx = falloc(nx);
    struct ab_nn_gconv_grads g = {falloc(nw), falloc(out), falloc(nw)};
    gc_loss(&c);
    for (size_t k = 0; k < nx; k++) scratch[k] = NAN; /* scratch needs no zeroing */
    gc_bwd(&c, &g, dx, scratch);
    fd_check("graphconv x", c.x, nx, dx, gc_loss, &c, 1e-2f);
    fd_check("graphconv Wrel", c.wrel, nw, g.w_rel, gc_loss, &c, 1e-2f);
    fd_check("graphconv brel", c.brel, out, g.b_rel, gc_loss, &c, 1e-2f);
    fd_check("graphconv Wroot", c.wroot, nw, g.w_root, gc_loss, &c, 1e-2f);

    struct ab_nn_gconv_grads g2 = {falloc(nw), falloc(out), falloc(nw)};
    float *dx2 = falloc(nx);
    fill_normal(g2.w_rel, nw, 1), fill_normal(g2.b_rel, out, 1);
    fill_normal(g2.w_root, nw, 1), fill_normal(dx2, nx, 1);
    float *wr0 = fdup(g2.w_rel, nw), *br0 = fdup(g2.b_rel, out), *wo0 = fdup(g2.w_root, nw);
    float *dx0 = fdup(dx2, nx);
    gc_loss(&c);
    gc_bwd(&c, &g2, dx2, scratch);
    check_accum("graphconv dWrel", g2.w_rel, wr0, g.w_rel, nw);
    check_accum("graphconv dbrel", g2.b_rel, br0, g.b_rel, out);
    check_accum("graphconv dWroot", g2.w_root, wo0, g.w_root, nw);
    check_accum("graphconv dx", dx2, dx0, dx, nx);
    memset(g2.w_rel, 0, nw * sizeof(float)), memset(g2.b_rel, 0, out * sizeof(float)), memset(g2.w_root, 0, nw * sizeof(float));
    memset(dx2, 0, nx * sizeof(float));
    gc_bwd(&c, &g2, dx2, scratch);
    gc_bwd(&c, &g2, dx2, scratch);
    check_double("graphconv dWrel", g2.w_rel, g.w_rel, nw);
    check_double("graphconv dbrel", g2.b_rel, g.b_rel, out);
    check_double("graphconv dWroot", g2.w_root, g.w_root, nw);
    check_double("graphconv dx", dx2, dx, nx);

    free(scratch), free(dx), free(dx2), free(wr0), free(br0), free(wo0), free(dx0);
    free(g.w_rel), free(g.b_rel), free(g.w_root), free(g2.w_rel), free(g2.b_rel),
        free(g2.w_root);
    gc_case_free(&c);
}

static void test_graphconv_grad(void)
{
    ab_rng_seed(&rng, 802);
    gc_grad_case(12, 5, 4);
    gc_grad_case(1, 3, 6);
    gc_grad_case(9, 1, 1);
    gc_grad_case(17, 6, 3);
}

/* ---- optimiser ------------------------------------------------------------ */

static void test_adamw(void)
{
    ab_rng_seed(&rng, 901);
    size_t n = 37;
    const float lr = 0.05f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
    float *p = falloc(n), *g = falloc(n), *m = falloc(n), *v = falloc(n);
    double *rp = dalloc(n), *rm = dalloc(n), *rv = dalloc(n);
    fill_normal(p, n, 1);
    for (size_t i = 0; i < n; i++) rp[i] = p[i];
    for (long t = 1; t <= 3; t++) {
        fill_normal(g, n, 1);
        g[0] = 0;           /* no gradient: only the decay acts */
        g[1] = 1e-8f;       /* eps matters */
        g[2] = t == 2 ? 0 : 3e-7f;
        g[3] = 100.0f;      /* a large gradient: step ~ lr */
        ab_nn_adamw_step(p, g, m, v, n, lr, b1, b2, eps, wd, t);
        double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
        for (size_t i = 0; i < n; i++) {
            rp[i] *= 1 - (double)lr * wd;
            rm[i] = b1 * rm[i] + (1 - (double)b1) * g[i];
            rv[i] = b2 * rv[i] + (1 - (double)b2) * (double)g[i] * g[i];
            double mh = rm[i] / bc1, vh = rv[i] / bc2;
            rp[i] -= lr * mh / (sqrt(vh) + eps);
        }
        /* m and v are compared relative to their own size (they can be tiny) */
        int bad = cmp_ref("adamw p", p, rp, NULL, n, 1e-5);
        for (size_t i = 0; i < n; i++) {
            if (!(fabs(m[i] - rm[i]) <= 1e-5 * fmax(fabs(rm[i]), 1e-30))) {
                if (bad++ < 5) printf("\n  adamw m[%zu] step %ld: %.9g, want %.9g", i, t, m[i], rm[i]);
            }
            if (!(fabs(v[i] - rv[i]) <= 1e-5 * fmax(fabs(rv[i]), 1e-30))) {
                if (bad++ < 5) printf("\n  adamw v[%zu] step %ld: %.9g, want %.9g", i, t, v[i], rv[i]);
            }
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* the zero-gradient element only decayed: p0 * (1 - lr wd)^3 */
    CU_ASSERT(fabs(p[0] - rp[0]) <= 1e-6 * fmax(1, fabs(rp[0])));
    free(p), free(g), free(m), free(v), free(rp), free(rm), free(rv);

    /* wd = 0 is plain Adam: the first step moves by lr * sign(g) (|g| >> eps) */
    float p1[3] = {1, -2, 0.5f}, g1[3] = {0.3f, -4, 1e-3f}, m1[3] = {0}, v1[3] = {0};
    ab_nn_adamw_step(p1, g1, m1, v1, 3, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    CU_ASSERT(fabs(p1[0] - (1 - 0.01)) <= 1e-6);
    CU_ASSERT(fabs(p1[1] - (-2 + 0.01)) <= 1e-6);
    CU_ASSERT(fabs(p1[2] - (0.5 - 0.01)) <= 1e-5);
}

static void test_clip_grad_norm(void)
{
    ab_rng_seed(&rng, 1001);
    size_t n = 1000;
    float *g = falloc(n), *g0 = falloc(n);
    fill_normal(g, n, 1);
    memcpy(g0, g, n * sizeof *g);
    double norm = 0;
    for (size_t i = 0; i < n; i++) norm += (double)g[i] * g[i];
    norm = sqrt(norm);

    /* below the limit: untouched, pre-clip norm returned */
    double ret = ab_nn_clip_grad_norm(g, n, norm * 2);
    CU_ASSERT(fabs(ret - norm) <= 1e-6 * norm);
    CU_ASSERT(memcmp(g, g0, n * sizeof *g) == 0);

    /* above the limit: scaled by max / (norm + 1e-6) */
    double maxn = 5.0;
    ret = ab_nn_clip_grad_norm(g, n, maxn);
    CU_ASSERT(fabs(ret - norm) <= 1e-6 * norm);
    double scale = maxn / (norm + 1e-6), after = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(fabs(g[i] - g0[i] * scale) <= 1e-6 * fmax(1e-3, fabs(g0[i] * scale)))) bad++;
        after += (double)g[i] * g[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(sqrt(after) <= maxn * (1 + 1e-6));
    CU_ASSERT(fabs(sqrt(after) - maxn) <= 1e-4);

    /* a zero gradient stays zero, no NaN */
    memset(g, 0, n * sizeof *g);
    ret = ab_nn_clip_grad_norm(g, n, 1.0);
    CU_ASSERT(ret == 0.0);
    for (size_t i = 0; i < n; i++) bad += g[i] != 0.0f;
    CU_ASSERT_EQUAL(bad, 0);

    /* norm exactly max: scale = max / (max + 1e-6) < 1 (torch clips) */
    float h[2] = {3, 4};
    ret = ab_nn_clip_grad_norm(h, 2, 5.0);
    CU_ASSERT(fabs(ret - 5.0) <= 1e-6);
    CU_ASSERT(fabs(h[0] - 3 * 5.0 / (5.0 + 1e-6)) <= 1e-6);
    CU_ASSERT(h[0] < 3.0f && h[1] < 4.0f);

    /* a long vector: the norm is accurate (accumulated in double) */
    size_t big = 1u << 20;
    float *gb = falloc(big);
    for (size_t i = 0; i < big; i++) gb[i] = 0.1f + (float)(i % 7) * 1e-3f;
    double rb = 0;
    for (size_t i = 0; i < big; i++) rb += (double)gb[i] * gb[i];
    rb = sqrt(rb);
    ret = ab_nn_clip_grad_norm(gb, big, 1e9);
    CU_ASSERT(fabs(ret - rb) <= 1e-5 * rb);
    free(g), free(g0), free(gb);
}

static void test_fd_report(void)
{
    /* the tolerance keeps a margin of at least 5x over the worst error seen */
    if (getenv("NN_TEST_VERBOSE")) printf("\n  worst FD scaled error %.2e", g_fd_worst);
    CU_ASSERT(g_fd_worst * 5 <= FD_TOL);
}

static const struct cu_case cases[] = {
    {"linear forward vs naive", test_linear_fwd},
    {"linear backward vs finite differences", test_linear_grad},
    {"leaky/abs/add_to forward", test_elementwise_fwd},
    {"leaky/abs backward vs finite differences", test_elementwise_grad},
    {"embedding forward and backward", test_embedding},
    {"batch norm forward (train and eval) vs naive", test_bn_fwd},
    {"batch norm evaluation at the widest layer", test_bn_wide},
    {"batch norm backward vs finite differences", test_bn_grad},
    {"mean/sum pooling forward and backward", test_pool},
    {"L1 row norm forward and backward", test_l1norm},
    {"L2 row norm forward and backward", test_l2norm},
    {"GATv2 forward vs naive", test_gatv2_fwd},
    {"GATv2 attention is a softmax per node", test_gatv2_attention},
    {"GATv2 backward vs finite differences", test_gatv2_grad},
    {"GraphConv forward vs naive", test_graphconv_fwd},
    {"GraphConv backward vs finite differences", test_graphconv_grad},
    {"AdamW matches torch over 3 steps", test_adamw},
    {"clip_grad_norm matches torch", test_clip_grad_norm},
    {"finite-difference errors well inside tolerance", test_fd_report},
    {NULL, NULL}};

CU_MAIN("nn", cases)
