/* SPDX-License-Identifier: MIT
 *
 * This file implements OFA subnets (ofa_subnet.h): splicing the active
 * weights out of a supernet exactly as get_active_subnet() does, folding
 * BatchNorm, the forward pass over planned buffers, and BatchNorm
 * re-calibration as set_running_statistics() does it.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofa/ofa_kernels.h"
#include "ofa/ofa_subnet.h"

#define MAX_BN (3 * AB_OFA_MAX_BLOCKS + 2)
#define FULL_KERNEL 7

/* A convolution and the BatchNorm after it (or its bias). */
struct conv {
    int c_in, c_out, k, stride, depthwise;
    int h_in, h_out;
    float *w;           /* raw: dense [c_out][c_in k k], depthwise [c][k k] */
    float *bias;        /* raw conv bias; NULL when none */
    float *g, *b, *m, *v; /* BatchNorm weight, bias, running mean / var; g NULL: none */
    float *wf, *bf;     /* what forward uses: BN folded in (== w / bias without BN) */
    enum ab_ofa_act act;
    double *acc_mean, *acc_var; /* calibration sums of batch moments x batch size */
    char name[80];      /* the BatchNorm's module name in the spliced subnet */
};

struct blk {
    struct ab_ofa_block b;
    struct conv expand, dw, project;    /* expand unused when b.expand == 1 */
    float *se_rw, *se_rb, *se_ew, *se_eb; /* [se_mid][mid], [se_mid], [mid][se_mid], [mid] */
};

struct ab_ofa_subnet {
    struct ab_ofa_plan plan;
    double eps;
    int threads;
    struct conv stem;
    struct blk blocks[AB_OFA_MAX_BLOCKS];
    struct conv head;   /* MBv3 final expand (BN); PN feature mix (BN) */
    struct conv mix;    /* MBv3 feature mix on the pooled vector (no BN, no bias) */
    float *cls_w, *cls_b; /* [n_classes][last], [n_classes] */
    int n_bn;
    struct conv *bn[MAX_BN];
    int calibrating;
    long calib_count;
    /* activation memory (ab_ofa_subnet_reserve) */
    int batch;
    size_t act_max;
    float *buf[3], *col, *pooled, *mixed, *se_tmp;
    size_t dw_scratch;  /* floats per thread */
    int scratch_threads;
    float *scratch;     /* scratch_threads x dw_scratch */
};

/* --- splicing --------------------------------------------------------- */

static const float *tensor(const struct ab_ofa_supernet *sn, const char *prefix,
                           const char *field, const struct ab_ofa_param **shape)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", prefix, field);
    return ab_ofa_supernet_tensor(sn, name, shape);
}

/* dst[r][c][i] = src[r][c][i] for r < rows, c < cols, i < inner, where the
 * source has src_cols columns: the [:rows, :cols] slice of a weight. */
static void slice(const float *src, long src_cols, long rows, long cols, long inner,
                  float *dst)
{
    for (long r = 0; r < rows; r++)
        memcpy(dst + r * cols * inner, src + r * src_cols * inner,
               (size_t)(cols * inner) * sizeof *dst);
}

static ab_status copy_slice(const struct ab_ofa_supernet *sn, const char *prefix,
                            const char *field, long rows, long cols, float **out)
{
    const struct ab_ofa_param *p;
    const float *src = tensor(sn, prefix, field, &p);
    long inner = 1, src_cols;
    *out = NULL;
    if (!src)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: supernet has no %s.%s",
                          prefix, field);
    src_cols = p->ndim > 1 ? (long)p->shape[1] : 1;
    for (int i = 2; i < p->ndim; i++) inner *= (long)p->shape[i];
    if (rows > p->shape[0] || cols > src_cols)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: %s.%s is smaller than the "
                          "subnet needs", prefix, field);
    *out = malloc((size_t)(rows * cols * inner) * sizeof **out);
    if (!*out) return ab_err_set(AB_ERR_NOMEM, "out of memory splicing %s", prefix);
    slice(src, src_cols, rows, cols, inner, *out);
    return AB_OK;
}

/* BatchNorm prefix.{weight,bias,running_mean,running_var}[:c]. */
static ab_status copy_bn(const struct ab_ofa_supernet *sn, const char *prefix, int c,
                         struct conv *cv)
{
    AB_TRY(copy_slice(sn, prefix, "weight", c, 1, &cv->g));
    AB_TRY(copy_slice(sn, prefix, "bias", c, 1, &cv->b));
    AB_TRY(copy_slice(sn, prefix, "running_mean", c, 1, &cv->m));
    AB_TRY(copy_slice(sn, prefix, "running_var", c, 1, &cv->v));
    return AB_OK;
}

/* DynamicSeparableConv2d.get_active_filter(): the first mid channels of the
 * 7x7 filter; for k < 7 its centre 5x5 x 7to5_matrix^T, then for k = 3 that
 * result's centre 3x3 x 5to3_matrix^T (F.linear on the flattened taps). */
static ab_status depthwise_filter(const struct ab_ofa_supernet *sn, const char *prefix,
                                  int mid, int k, float **out)
{
    const float *full = tensor(sn, prefix, "conv.weight", NULL);
    const float *m75 = tensor(sn, prefix, "7to5_matrix", NULL);
    const float *m53 = tensor(sn, prefix, "5to3_matrix", NULL);
    float *w;
    if (!full || !m75 || !m53)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: %s lacks a depthwise tensor",
                          prefix);
    w = malloc((size_t)mid * (size_t)(k * k) * sizeof *w);
    if (!w) return ab_err_set(AB_ERR_NOMEM, "out of memory splicing %s", prefix);
    for (int c = 0; c < mid; c++) {
        const float *f7 = full + (long)c * FULL_KERNEL * FULL_KERNEL;
        float x5[25], y5[25], x3[9], *dst = w + (long)c * k * k;
        if (k == FULL_KERNEL) {
            memcpy(dst, f7, FULL_KERNEL * FULL_KERNEL * sizeof *dst);
            continue;
        }
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) x5[i * 5 + j] = f7[(i + 1) * FULL_KERNEL + j + 1];
        for (int p = 0; p < 25; p++) {
            float s = 0.0f;
            for (int q = 0; q < 25; q++) s += x5[q] * m75[p * 25 + q];
            y5[p] = s;
        }
        if (k == 5) {
            memcpy(dst, y5, sizeof y5);
            continue;
        }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) x3[i * 3 + j] = y5[(i + 1) * 5 + j + 1];
        for (int p = 0; p < 9; p++) {
            float s = 0.0f;
            for (int q = 0; q < 9; q++) s += x3[q] * m53[p * 9 + q];
            dst[p] = s;
        }
    }
    *out = w;
    return AB_OK;
}

static void conv_shape(struct conv *cv, int c_in, int c_out, int k, int stride,
                       int depthwise, int h_in, enum ab_ofa_act act)
{
    cv->c_in = c_in;
    cv->c_out = c_out;
    cv->k = k;
    cv->stride = stride;
    cv->depthwise = depthwise;
    cv->h_in = h_in;
    cv->h_out = ab_ofa_conv_out(h_in, stride);
    cv->act = act;
}

static void register_bn(struct ab_ofa_subnet *net, struct conv *cv, const char *block,
                        int pos)
{
    if (pos >= 0)
        snprintf(cv->name, sizeof cv->name, "blocks.%d.conv.%s.bn", pos, block);
    else
        snprintf(cv->name, sizeof cv->name, "%s.bn", block);
    net->bn[net->n_bn++] = cv;
}

static ab_status splice_block(struct ab_ofa_subnet *net, const struct ab_ofa_supernet *sn,
                              struct blk *k, int pos)
{
    const struct ab_ofa_block *b = &k->b;
    char pre[96], p2[128];
    snprintf(pre, sizeof pre, "blocks.%d.conv", b->index);
    if (b->expand == 1) {
        /* static MBConvLayer: weights at their exact shapes */
        conv_shape(&k->dw, b->mid, b->mid, b->kernel, b->stride, 1, b->h_in, b->act);
        snprintf(p2, sizeof p2, "%s.depth_conv.conv", pre);
        AB_TRY(copy_slice(sn, p2, "weight", b->mid, 1, &k->dw.w));
        snprintf(p2, sizeof p2, "%s.depth_conv.bn", pre);
        AB_TRY(copy_bn(sn, p2, b->mid, &k->dw));
        register_bn(net, &k->dw, "depth_conv", pos);
        conv_shape(&k->project, b->mid, b->c_out, 1, 1, 0, b->h_out, AB_OFA_ACT_NONE);
        snprintf(p2, sizeof p2, "%s.point_linear.conv", pre);
        AB_TRY(copy_slice(sn, p2, "weight", b->c_out, b->mid, &k->project.w));
        snprintf(p2, sizeof p2, "%s.point_linear.bn", pre);
        AB_TRY(copy_bn(sn, p2, b->c_out, &k->project));
        register_bn(net, &k->project, "point_linear", pos);
        return AB_OK;
    }
    conv_shape(&k->expand, b->c_in, b->mid, 1, 1, 0, b->h_in, b->act);
    snprintf(p2, sizeof p2, "%s.inverted_bottleneck.conv.conv", pre);
    AB_TRY(copy_slice(sn, p2, "weight", b->mid, b->c_in, &k->expand.w));
    snprintf(p2, sizeof p2, "%s.inverted_bottleneck.bn.bn", pre);
    AB_TRY(copy_bn(sn, p2, b->mid, &k->expand));
    register_bn(net, &k->expand, "inverted_bottleneck", pos);

    conv_shape(&k->dw, b->mid, b->mid, b->kernel, b->stride, 1, b->h_in, b->act);
    snprintf(p2, sizeof p2, "%s.depth_conv.conv", pre);
    AB_TRY(depthwise_filter(sn, p2, b->mid, b->kernel, &k->dw.w));
    snprintf(p2, sizeof p2, "%s.depth_conv.bn.bn", pre);
    AB_TRY(copy_bn(sn, p2, b->mid, &k->dw));
    register_bn(net, &k->dw, "depth_conv", pos);

    if (b->se_mid) {
        snprintf(p2, sizeof p2, "%s.depth_conv.se.fc.reduce", pre);
        AB_TRY(copy_slice(sn, p2, "weight", b->se_mid, b->mid, &k->se_rw));
        AB_TRY(copy_slice(sn, p2, "bias", b->se_mid, 1, &k->se_rb));
        snprintf(p2, sizeof p2, "%s.depth_conv.se.fc.expand", pre);
        AB_TRY(copy_slice(sn, p2, "weight", b->mid, b->se_mid, &k->se_ew));
        AB_TRY(copy_slice(sn, p2, "bias", b->mid, 1, &k->se_eb));
    }

    conv_shape(&k->project, b->mid, b->c_out, 1, 1, 0, b->h_out, AB_OFA_ACT_NONE);
    snprintf(p2, sizeof p2, "%s.point_linear.conv.conv", pre);
    AB_TRY(copy_slice(sn, p2, "weight", b->c_out, b->mid, &k->project.w));
    snprintf(p2, sizeof p2, "%s.point_linear.bn.bn", pre);
    AB_TRY(copy_bn(sn, p2, b->c_out, &k->project));
    register_bn(net, &k->project, "point_linear", pos);
    return AB_OK;
}

static ab_status splice_head(struct ab_ofa_subnet *net, const struct ab_ofa_supernet *sn)
{
    const struct ab_ofa_plan *p = &net->plan;
    if (p->final_expand) {
        conv_shape(&net->head, p->c_feat, p->final_expand, 1, 1, 0, p->h_last, p->head_act);
        AB_TRY(copy_slice(sn, "final_expand_layer.conv", "weight", p->final_expand,
                          p->c_feat, &net->head.w));
        AB_TRY(copy_bn(sn, "final_expand_layer.bn", p->final_expand, &net->head));
        register_bn(net, &net->head, "final_expand_layer", -1);
        conv_shape(&net->mix, p->final_expand, p->last, 1, 1, 0, 1, p->head_act);
        AB_TRY(copy_slice(sn, "feature_mix_layer.conv", "weight", p->last, p->final_expand,
                          &net->mix.w));
    } else {
        conv_shape(&net->head, p->c_feat, p->last, 1, 1, 0, p->h_last, p->head_act);
        AB_TRY(copy_slice(sn, "feature_mix_layer.conv", "weight", p->last, p->c_feat,
                          &net->head.w));
        AB_TRY(copy_bn(sn, "feature_mix_layer.bn", p->last, &net->head));
        register_bn(net, &net->head, "feature_mix_layer", -1);
    }
    AB_TRY(copy_slice(sn, "classifier.linear", "weight", p->n_classes, p->last,
                      &net->cls_w));
    AB_TRY(copy_slice(sn, "classifier.linear", "bias", p->n_classes, 1, &net->cls_b));
    return AB_OK;
}

/* wf = w * g / sqrt(v + eps) per output channel, bf = b - m * g / sqrt(v + eps);
 * without BatchNorm wf and bf are w and the bias themselves. */
static ab_status fold(struct conv *cv, double eps)
{
    long per = cv->depthwise ? (long)cv->k * cv->k : (long)cv->c_in * cv->k * cv->k;
    if (!cv->g) {
        cv->wf = cv->w;
        cv->bf = cv->bias;
        return AB_OK;
    }
    if (!cv->wf) {
        cv->wf = malloc((size_t)(per * cv->c_out) * sizeof *cv->wf);
        cv->bf = malloc((size_t)cv->c_out * sizeof *cv->bf);
        if (!cv->wf || !cv->bf) return ab_err_set(AB_ERR_NOMEM, "out of memory folding BN");
    }
    for (int c = 0; c < cv->c_out; c++) {
        double scale = cv->g[c] / sqrt((double)cv->v[c] + eps);
        for (long i = 0; i < per; i++)
            cv->wf[c * per + i] = (float)(cv->w[c * per + i] * scale);
        cv->bf[c] = (float)(cv->b[c] - cv->m[c] * scale);
    }
    return AB_OK;
}

static struct conv *all_convs(struct ab_ofa_subnet *net, int i)
{
    /* stem, per block expand / dw / project, head, mix */
    int nb = net->plan.n_blocks;
    if (i == 0) return &net->stem;
    i--;
    if (i < 3 * nb) {
        struct blk *k = &net->blocks[i / 3];
        struct conv *c3[3] = {&k->expand, &k->dw, &k->project};
        return c3[i % 3];
    }
    i -= 3 * nb;
    if (i == 0) return &net->head;
    if (i == 1) return &net->mix;
    return NULL;
}

static ab_status fold_all(struct ab_ofa_subnet *net)
{
    struct conv *cv;
    for (int i = 0; (cv = all_convs(net, i)) != NULL; i++)
        if (cv->w) AB_TRY(fold(cv, net->eps));
    return AB_OK;
}

static ab_status splice(struct ab_ofa_subnet *net, const struct ab_ofa_supernet *sn)
{
    const struct ab_ofa_plan *p = &net->plan;
    conv_shape(&net->stem, 3, p->stem, 3, 2, 0, p->resolution, p->stem_act);
    AB_TRY(copy_slice(sn, "first_conv.conv", "weight", p->stem, 3, &net->stem.w));
    AB_TRY(copy_bn(sn, "first_conv.bn", p->stem, &net->stem));
    register_bn(net, &net->stem, "first_conv", -1);
    for (int i = 0; i < p->n_blocks; i++) {
        net->blocks[i].b = p->blocks[i];
        AB_TRY(splice_block(net, sn, &net->blocks[i], i));
    }
    AB_TRY(splice_head(net, sn));
    for (int i = 0; i < net->n_bn; i++) {
        struct conv *cv = net->bn[i];
        cv->acc_mean = calloc((size_t)cv->c_out, sizeof *cv->acc_mean);
        cv->acc_var = calloc((size_t)cv->c_out, sizeof *cv->acc_var);
        if (!cv->acc_mean || !cv->acc_var)
            return ab_err_set(AB_ERR_NOMEM, "out of memory splicing the subnet");
    }
    return fold_all(net);
}

static ab_status reserve_scratch(struct ab_ofa_subnet *net);

static enum ab_space_kind space_kind_of(const struct ab_ofa_supernet *sn)
{
    return sn->net->family == AB_OFA_MBV3 ? AB_SPACE_OFA_MBV3 : AB_SPACE_OFA_PN;
}

ab_status ab_ofa_subnet_create(const struct ab_ofa_supernet *sn, const struct ab_space *sp,
                               const struct ab_arch *a, struct ab_ofa_subnet **out)
{
    ab_status rc = AB_OK;
    struct ab_ofa_subnet *net = NULL;

    *out = NULL;
    AB_CHECK(sn && sp && a, AB_ERR_INTERNAL, "internal error: ab_ofa_subnet_create "
             "called with a NULL pointer; please report this");
    AB_CHECK(sp->kind == space_kind_of(sn), AB_ERR_INPUT,
             "the architecture is from space %s but supernet %s is %s (space %s); give an "
             "architecture of space %s or a supernet of that family",
             sp->name ? sp->name : "?", sn->path ? sn->path : "?", sn->net->net_id,
             sn->net->space, sn->net->space);
    net = calloc(1, sizeof *net);
    AB_CHECK_ALLOC(net);
    net->threads = 1;
    net->eps = sn->bn_eps;
    AB_CALL(ab_ofa_plan_make(sp, a, sn->net->width_mult, sn->n_classes, &net->plan));
    AB_CALL(splice(net, sn));
    AB_CALL(reserve_scratch(net));
    *out = net;
    net = NULL;
cleanup:
    ab_ofa_subnet_destroy(&net);
    return rc;
}

static void free_conv(struct conv *cv)
{
    if (cv->wf != cv->w) free(cv->wf);
    if (cv->bf != cv->bias) free(cv->bf);
    free(cv->w);
    free(cv->bias);
    free(cv->g);
    free(cv->b);
    free(cv->m);
    free(cv->v);
    free(cv->acc_mean);
    free(cv->acc_var);
}

static void free_buffers(struct ab_ofa_subnet *net)
{
    for (int i = 0; i < 3; i++) free(net->buf[i]);
    free(net->col);
    free(net->pooled);
    free(net->mixed);
    free(net->se_tmp);
    memset(net->buf, 0, sizeof net->buf);
    net->col = net->pooled = net->mixed = net->se_tmp = NULL;
    net->batch = 0;
}

void ab_ofa_subnet_destroy(struct ab_ofa_subnet **pnet)
{
    struct ab_ofa_subnet *net;
    struct conv *cv;
    if (!pnet || !*pnet) return;
    net = *pnet;
    for (int i = 0; (cv = all_convs(net, i)) != NULL; i++) free_conv(cv);
    for (int i = 0; i < AB_OFA_MAX_BLOCKS; i++) {
        free(net->blocks[i].se_rw);
        free(net->blocks[i].se_rb);
        free(net->blocks[i].se_ew);
        free(net->blocks[i].se_eb);
    }
    free(net->cls_w);
    free(net->cls_b);
    free(net->scratch);
    free_buffers(net);
    free(net);
    *pnet = NULL;
}

const struct ab_ofa_plan *ab_ofa_subnet_plan(const struct ab_ofa_subnet *net)
{
    return net ? &net->plan : NULL;
}

static size_t dw_scratch_floats(const struct ab_ofa_plan *p)
{
    size_t m = 0;
    for (int i = 0; i < p->n_blocks; i++) {
        const struct ab_ofa_block *b = &p->blocks[i];
        size_t s = ab_ofa_dw_scratch_floats(b->h_in, b->h_in, b->kernel, b->stride, b->h_out,
                                            b->h_out);
        if (s > m) m = s;
    }
    return m;
}

/* One depthwise scratch plane per thread. */
static ab_status reserve_scratch(struct ab_ofa_subnet *net)
{
    float *s;
    if (net->scratch && net->scratch_threads >= net->threads) return AB_OK;
    net->dw_scratch = dw_scratch_floats(&net->plan);
    s = malloc((size_t)net->threads * net->dw_scratch * sizeof *s);
    if (!s) return ab_err_set(AB_ERR_NOMEM, "out of memory for %d threads", net->threads);
    free(net->scratch);
    net->scratch = s;
    net->scratch_threads = net->threads;
    return AB_OK;
}

ab_status ab_ofa_subnet_set_threads(struct ab_ofa_subnet *net, int threads)
{
    net->threads = threads < 1 ? 1 : threads;
    /* One pool of threads: OpenMP splits the GEMMs (par_sgemm) and OpenBLAS
     * runs each piece in its caller. Two pools spinning on the same cores
     * fight (measured: 2 threads 3x slower than 1 with both pools). */
    openblas_set_num_threads(1);
    return reserve_scratch(net);
}

/* --- memory plan ------------------------------------------------------ */

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

static size_t largest_tensor(const struct ab_ofa_plan *p)
{
    size_t m = (size_t)p->stem * (size_t)p->h_stem * (size_t)p->h_stem;
    for (int i = 0; i < p->n_blocks; i++) {
        const struct ab_ofa_block *b = &p->blocks[i];
        size_t in = (size_t)b->h_in * (size_t)b->h_in, out = (size_t)b->h_out * (size_t)b->h_out;
        m = max_sz(m, (size_t)b->c_in * in);
        m = max_sz(m, (size_t)b->mid * in);
        m = max_sz(m, (size_t)b->c_out * out);
    }
    return max_sz(m, (size_t)(p->final_expand ? p->final_expand : p->last) *
                         (size_t)p->h_last * (size_t)p->h_last);
}

static int widest_vector(const struct ab_ofa_plan *p)
{
    int m = p->last > p->final_expand ? p->last : p->final_expand;
    for (int i = 0; i < p->n_blocks; i++)
        if (p->blocks[i].mid > m) m = p->blocks[i].mid;
    return m;
}

ab_status ab_ofa_subnet_reserve(struct ab_ofa_subnet *net, int batch)
{
    const struct ab_ofa_plan *p = &net->plan;
    struct ab_ofa_subnet fresh;
    size_t act, col;
    int vec;
    if (batch < 1) batch = 1;
    if (batch <= net->batch) return AB_OK;
    act = largest_tensor(p);
    col = 27 * (size_t)p->h_stem * (size_t)p->h_stem;
    vec = widest_vector(p);
    memset(&fresh, 0, sizeof fresh);
    for (int i = 0; i < 3; i++) fresh.buf[i] = malloc((size_t)batch * act * sizeof(float));
    fresh.col = malloc(col * sizeof(float));
    fresh.pooled = malloc((size_t)batch * (size_t)vec * sizeof(float));
    fresh.mixed = malloc((size_t)batch * (size_t)p->last * sizeof(float));
    fresh.se_tmp = malloc(2 * (size_t)vec * sizeof(float));
    if (!fresh.buf[0] || !fresh.buf[1] || !fresh.buf[2] || !fresh.col || !fresh.pooled ||
        !fresh.mixed || !fresh.se_tmp) {
        free_buffers(&fresh);
        return ab_err_set(AB_ERR_NOMEM, "out of memory: %d images at resolution %d need "
                          "%.0f MB of activations; use a smaller batch", batch,
                          p->resolution, 3.0 * (double)batch * (double)act * 4 / 1e6);
    }
    free_buffers(net);
    memcpy(net->buf, fresh.buf, sizeof fresh.buf);
    net->col = fresh.col;
    net->pooled = fresh.pooled;
    net->mixed = fresh.mixed;
    net->se_tmp = fresh.se_tmp;
    net->batch = batch;
    net->act_max = act;
    return AB_OK;
}

size_t ab_ofa_subnet_reserved_bytes(const struct ab_ofa_subnet *net)
{
    const struct ab_ofa_plan *p = &net->plan;
    if (!net->batch) return 0;
    return sizeof(float) * ((size_t)net->batch * (3 * net->act_max + (size_t)p->last +
                                                  (size_t)widest_vector(p)) +
                            27 * (size_t)p->h_stem * (size_t)p->h_stem +
                            2 * (size_t)widest_vector(p));
}

/* --- forward ---------------------------------------------------------- */

/* After a convolution wrote y (n images x c_out planes of hw values):
 * calibrating and with BatchNorm, normalise each channel with this batch's
 * mean and biased variance (over images and pixels) and record them;
 * otherwise add the folded bias. Then the activation. */
static void epilogue(struct ab_ofa_subnet *net, struct conv *cv, float *y, int n, long hw)
{
    int C = cv->c_out;
    if (net->calibrating && cv->g) {
        double count = (double)n * (double)hw;
#pragma omp parallel for num_threads(net->threads) if (net->threads > 1) schedule(static)
        for (int c = 0; c < C; c++) {
            double mean = 0.0, var = 0.0, scale, shift;
            for (int i = 0; i < n; i++) mean += ab_ofa_plane_sum(y + ((long)i * C + c) * hw, hw);
            mean /= count;
            for (int i = 0; i < n; i++)
                var += ab_ofa_plane_sqdev(y + ((long)i * C + c) * hw, hw, mean);
            var /= count;
            cv->acc_mean[c] += mean * n;
            cv->acc_var[c] += var * n;
            scale = cv->g[c] / sqrt(var + net->eps);
            shift = cv->b[c] - mean * scale;
            for (int i = 0; i < n; i++)
                ab_ofa_affine_act(y + ((long)i * C + c) * hw, hw, (float)scale, (float)shift,
                                  cv->act);
        }
        return;
    }
#pragma omp parallel for collapse(2) num_threads(net->threads) if (net->threads > 1) \
    schedule(static)
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++)
            ab_ofa_affine_act(y + ((long)i * C + c) * hw, hw, 1.0f, cv->bf ? cv->bf[c] : 0.0f,
                              cv->act);
}

static const float *weights(const struct ab_ofa_subnet *net, const struct conv *cv)
{
    return net->calibrating ? cv->w : cv->wf;
}

/* C[m][n] = A[m][k] x B[k][n] (row-major, C overwritten), split between the
 * subnet's threads along the longer of m and n in pieces of whole 16-float
 * vectors; each piece is a single-threaded OpenBLAS call. */
static void par_sgemm(const struct ab_ofa_subnet *net, int m, int n, int k, const float *a,
                      const float *b, float *c)
{
    int T = net->threads;
    if (T == 1 || (long)m * n * k < 200000) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n,
                    0.0f, c, n);
        return;
    }
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int along_n = n >= m, len = along_n ? n : m;
        int per = ((len + nt - 1) / nt + 15) / 16 * 16;
        int lo = t * per, hi = lo + per < len ? lo + per : len;
        if (lo < hi) {
            if (along_n)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hi - lo, k, 1.0f, a,
                            k, b + lo, n, 0.0f, c + lo, n);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, n, k, 1.0f,
                            a + (long)lo * k, k, b, n, 0.0f, c + (long)lo * n, n);
        }
    }
}

/* 1x1 convolution as a GEMM per image: out[c_out][hw] = W[c_out][c_in] x in. */
static void conv1x1(struct ab_ofa_subnet *net, struct conv *cv, const float *in, float *out,
                    int n)
{
    long hw = (long)cv->h_in * cv->h_in;
    const float *w = weights(net, cv);
    for (int i = 0; i < n; i++)
        par_sgemm(net, cv->c_out, (int)hw, cv->c_in, w, in + (long)i * cv->c_in * hw,
                  out + (long)i * cv->c_out * hw);
    epilogue(net, cv, out, n, hw);
}

static void conv_dw(struct ab_ofa_subnet *net, struct conv *cv, const float *in, float *out,
                    int n)
{
    int C = cv->c_out, h = cv->h_in, ho = cv->h_out, kk = cv->k * cv->k;
    long hw_in = (long)h * h, hw_out = (long)ho * ho;
    const float *w = weights(net, cv);
    int fuse = !net->calibrating || !cv->g;
#pragma omp parallel for collapse(2) num_threads(net->threads) if (net->threads > 1) \
    schedule(static)
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float *scratch = net->scratch + (size_t)omp_get_thread_num() * net->dw_scratch;
            ab_ofa_dw_plane(in + ((long)i * C + c) * hw_in, h, h, w + (long)c * kk, cv->k,
                            cv->stride, out + ((long)i * C + c) * hw_out, ho, ho, scratch,
                            cv->bf ? cv->bf[c] : 0.0f, cv->act, fuse);
        }
    if (!fuse) epilogue(net, cv, out, n, hw_out);
}

static void conv_stem(struct ab_ofa_subnet *net, const float *x, float *out, int n)
{
    struct conv *cv = &net->stem;
    int r = cv->h_in, ho = cv->h_out;
    long hw = (long)ho * ho;
    const float *w = weights(net, cv);
    for (int i = 0; i < n; i++) {
        ab_ofa_im2col3x3s2(x + (long)i * 3 * r * r, 3, r, r, net->col, ho, ho);
        par_sgemm(net, cv->c_out, (int)hw, 27, w, net->col, out + (long)i * cv->c_out * hw);
    }
    epilogue(net, cv, out, n, hw);
}

/* Squeeze-and-excitation on x (n images x mid planes of hw values):
 * x *= h_sigmoid(expand(relu(reduce(mean(x))))). */
static void squeeze_excite(struct ab_ofa_subnet *net, struct blk *k, float *x, int n,
                           long hw)
{
    int mid = k->b.mid, se = k->b.se_mid;
    float *pooled = net->se_tmp, *red = net->se_tmp + mid;
    for (int i = 0; i < n; i++) {
        float *xi = x + (long)i * mid * hw;
        for (int c = 0; c < mid; c++) pooled[c] = ab_ofa_plane_mean(xi + c * hw, hw);
        for (int j = 0; j < se; j++) {
            float s = k->se_rb[j];
            for (int c = 0; c < mid; c++) s += k->se_rw[(long)j * mid + c] * pooled[c];
            red[j] = s < 0.0f ? 0.0f : s;
        }
#pragma omp parallel for num_threads(net->threads) if (net->threads > 1) schedule(static)
        for (int c = 0; c < mid; c++) {
            float s = k->se_eb[c];
            for (int j = 0; j < se; j++) s += k->se_ew[(long)c * se + j] * red[j];
            ab_ofa_affine_act(xi + c * hw, hw, ab_ofa_hsigmoid(s), 0.0f, AB_OFA_ACT_NONE);
        }
    }
}

static void run_block(struct ab_ofa_subnet *net, struct blk *k, float **a, float **b,
                      float *c, int n)
{
    const struct ab_ofa_block *bl = &k->b;
    if (bl->expand != 1) {
        conv1x1(net, &k->expand, *a, *b, n);
        conv_dw(net, &k->dw, *b, c, n);
    } else {
        conv_dw(net, &k->dw, *a, c, n);
    }
    if (bl->se_mid) squeeze_excite(net, k, c, n, (long)bl->h_out * bl->h_out);
    conv1x1(net, &k->project, c, *b, n);
    if (bl->residual) ab_ofa_add(*b, *a, (long)n * bl->c_out * bl->h_out * bl->h_out);
    {
        float *t = *a;
        *a = *b;
        *b = t;
    }
}

/* out[n][cols] = in[n][inner] x W^T (+ bias), W [cols][inner]. */
static void dense(int n, int cols, int inner, const float *in, const float *w,
                  const float *bias, float *out)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < cols; j++) out[(long)i * cols + j] = bias ? bias[j] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, cols, inner, 1.0f, in, inner, w,
                inner, 1.0f, out, cols);
}

static void run_head(struct ab_ofa_subnet *net, float *x, float *tmp, int n, float *logits)
{
    const struct ab_ofa_plan *p = &net->plan;
    long hw = (long)p->h_last * p->h_last;
    int w = net->head.c_out;
    conv1x1(net, &net->head, x, tmp, n);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < w; c++)
            net->pooled[(long)i * w + c] = ab_ofa_plane_mean(tmp + ((long)i * w + c) * hw, hw);
    if (p->mix_after_pool) {
        dense(n, p->last, w, net->pooled, net->mix.w, NULL, net->mixed);
        ab_ofa_act(net->mixed, (long)n * p->last, net->mix.act);
        dense(n, p->n_classes, p->last, net->mixed, net->cls_w, net->cls_b, logits);
    } else {
        dense(n, p->n_classes, p->last, net->pooled, net->cls_w, net->cls_b, logits);
    }
}

static void run_chunk(struct ab_ofa_subnet *net, const float *x, int n, float *logits)
{
    float *a = net->buf[0], *b = net->buf[1], *c = net->buf[2];
    conv_stem(net, x, a, n);
    for (int i = 0; i < net->plan.n_blocks; i++) run_block(net, &net->blocks[i], &a, &b, c, n);
    run_head(net, a, b, n, logits);
}

ab_status ab_ofa_subnet_forward(struct ab_ofa_subnet *net, const float *x, int n,
                                float *logits)
{
    const struct ab_ofa_plan *p = &net->plan;
    long in_sz = 3L * p->resolution * p->resolution;
    if (!net->batch) AB_TRY(ab_ofa_subnet_reserve(net, 1));
    for (int i = 0; i < n; i += net->batch) {
        int m = n - i < net->batch ? n - i : net->batch;
        run_chunk(net, x + (long)i * in_sz, m, logits + (long)i * p->n_classes);
    }
    return AB_OK;
}

/* --- calibration ------------------------------------------------------ */

void ab_ofa_subnet_calib_begin(struct ab_ofa_subnet *net)
{
    for (int i = 0; i < net->n_bn; i++) {
        memset(net->bn[i]->acc_mean, 0, (size_t)net->bn[i]->c_out * sizeof(double));
        memset(net->bn[i]->acc_var, 0, (size_t)net->bn[i]->c_out * sizeof(double));
    }
    net->calib_count = 0;
}

ab_status ab_ofa_subnet_calib_batch(struct ab_ofa_subnet *net, const float *x, int n)
{
    float *scratch;
    if (n < 1) return AB_OK;
    AB_TRY(ab_ofa_subnet_reserve(net, n));
    /* the logits are not needed: write them where the head's vectors go */
    scratch = malloc((size_t)n * (size_t)net->plan.n_classes * sizeof *scratch);
    if (!scratch) return ab_err_set(AB_ERR_NOMEM, "out of memory calibrating BatchNorm");
    net->calibrating = 1;
    run_chunk(net, x, n, scratch);
    net->calibrating = 0;
    free(scratch);
    net->calib_count += n;
    return AB_OK;
}

ab_status ab_ofa_subnet_calib_end(struct ab_ofa_subnet *net)
{
    if (net->calib_count <= 0)
        return ab_err_set(AB_ERR_INPUT, "BatchNorm calibration saw no images; give at least "
                          "one calibration image");
    for (int i = 0; i < net->n_bn; i++) {
        struct conv *cv = net->bn[i];
        for (int c = 0; c < cv->c_out; c++) {
            cv->m[c] = (float)(cv->acc_mean[c] / (double)net->calib_count);
            cv->v[c] = (float)(cv->acc_var[c] / (double)net->calib_count);
        }
    }
    return fold_all(net);
}

int ab_ofa_subnet_n_bn(const struct ab_ofa_subnet *net)
{
    return net ? net->n_bn : 0;
}

ab_status ab_ofa_subnet_bn(const struct ab_ofa_subnet *net, int i, const char **name,
                           int *channels, const float **mean, const float **var)
{
    if (!net || i < 0 || i >= net->n_bn)
        return ab_err_set(AB_ERR_INTERNAL, "internal error: BatchNorm %d does not exist", i);
    if (name) *name = net->bn[i]->name;
    if (channels) *channels = net->bn[i]->c_out;
    if (mean) *mean = net->bn[i]->m;
    if (var) *var = net->bn[i]->v;
    return AB_OK;
}
