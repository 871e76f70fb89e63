/* SPDX-License-Identifier: MIT
 *
 * This file implements the Stable Diffusion v1.4 inpainting U-Net search
 * spaces of the paper's supplementary (sections 7.9 and 7.10) on top of the
 * stage/layer model of space.h, and the rules that couple their units. The
 * design, the multiplier vectors and the size are explained in
 * common/space/sd_unet.md; in short:
 *
 *   stages   input 1..L, middle, output L..1 (network order; L = 4 levels)
 *   layers   one per graph node: residual conv "res", attention "attn",
 *            downsample "down" (end of input stages 1..L-1), upsample "up"
 *            (end of output stages 2..L); every choice name carries the
 *            stage's channel count, e.g. "res_512", "attn_768", "down_256"
 *   stage    residual blocks (each optionally followed by its attention
 *            block) then the sampling layer; the middle is res, attn, res
 *   config   one global channel count times one multiplier vector gives
 *            every stage its channels; an input stage and its output stage
 *            share a multiplier, the middle takes level L's
 *
 *   sd_unet     channels {128, 192, 256} x 8 vectors, 2 input / 3 output
 *               blocks per stage (one may be dropped), attention never in
 *               stages 1-2, optional per stage in 3-4: 24 x 4096 = 98304
 *   sd_unet_hw  channels 256, the 5 vectors never above the baseline
 *               [1,2,3,4]: 5 x 4096 = 20480
 *
 * Units are the stages. Each unit enumerates only its structurally valid
 * subgraphs (channels x block structures), so the only rules left between
 * units are the channel rules: a combination of unit subgraphs is valid
 * exactly when one configuration allows every unit's channels. Sizes,
 * sampling and enumeration (ab_space_arch_at) go configuration by
 * configuration, so they count and produce only valid architectures.
 *
 * YAML: a space file whose `space` mapping has a `unet` block starts from
 * a built-in and overrides any of its choices (see common/space/sd_unet.md):
 *
 *   space:
 *     name: my_unet
 *     unet:
 *       base: sd_unet                   # or sd_unet_hw
 *       channels: [128, 192, 256]
 *       multipliers: [[1, 2, 3, 4], [1, 1, 2, 4]]   # the first is the baseline
 *       input_blocks: [2, 2, 2, 2]
 *       output_blocks: [3, 3, 3, 3]
 *       drop: 1                         # blocks each stage may drop
 *       attention: [never, never, optional, optional]
 *       attention_per_block: false      # true: each block's attention alone
 *       within_baseline: false          # true: keep vectors <= the baseline
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "space/space.h"
#include "util/rng.h"

#define MAX_LEVELS 6
#define MAX_GLOBAL 8
#define MAX_VECTORS 64
#define MAX_MULT 16
#define MAX_BLOCKS 6
#define MAX_GLOBAL_CHANNELS 4096

enum op { OP_RES, OP_ATTN, OP_DOWN, OP_UP, N_OPS };
enum section { SEC_INPUT, SEC_MIDDLE, SEC_OUTPUT };
enum attn_rule { ATTN_NEVER, ATTN_OPTIONAL, ATTN_ALWAYS };

static const char *const op_names[N_OPS] = {"res", "attn", "down", "up"};
static const char *const attn_names[3] = {"never", "optional", "always"};

/* What a U-Net space is built from: the built-in values, then YAML. */
struct unet_params {
    int n_levels;
    int n_global, global[MAX_GLOBAL];          /* global channel counts */
    int n_vectors, mult[MAX_VECTORS][MAX_LEVELS]; /* [0] is the baseline */
    int in_blocks[MAX_LEVELS], out_blocks[MAX_LEVELS]; /* baseline blocks */
    int drop;                                  /* blocks a stage may drop */
    int attention[MAX_LEVELS];                 /* enum attn_rule per level */
    int attn_per_block;  /* 0: attention kept or removed for a whole stage */
    int within_baseline; /* keep only vectors <= the baseline elementwise */
};

/* One valid subgraph of a stage. */
struct stage_sub {
    uint8_t depth;
    uint8_t choice[AB_MAX_LAYERS];
    int width; /* the stage's channel count */
};

struct stage_info {
    int section, level;  /* level 0..L-1; the middle is at level L-1 */
    int sampling;        /* OP_DOWN, OP_UP or -1 */
    int n_ops, ops[N_OPS];
    int attention;       /* enum attn_rule (the middle: fixed) */
    int bmin, bmax, base; /* residual blocks allowed, and the baseline */
    int n_widths, *widths; /* the stage's channel counts, ascending */
    int n_structs;       /* block structures per channel count */
    int n_sub;
    struct stage_sub *sub; /* every valid subgraph, in enumeration order */
};

struct ab_unet {
    struct unet_params par;    /* vectors already filtered by within_baseline */
    int n_configs;             /* distinct channel tuples */
    int *config_global, *config_vector; /* the (global, vector) behind each */
    int (*config_width)[MAX_LEVELS];    /* channels per level */
    uint64_t structures;       /* product of n_structs over the stages */
    int n_widths, *widths;     /* the channel feature's values, ascending */
    struct stage_info st[AB_MAX_STAGES];
};

/* ---------------------------------------------------------------------- */
/* built-in parameters                                                     */

/* The baseline [1,2,3,4] and the seven other vectors (common/space/sd_unet.md says
 * why): every one keeps multiplier 1 at level 1, so the stage-1 channels
 * name the global channel count and no two configurations build the same
 * network. */
static const int sd_vectors[8][4] = {
    {1, 2, 3, 4}, {1, 1, 2, 4}, {1, 3, 4, 2}, {1, 2, 2, 2},
    {1, 1, 2, 2}, {1, 2, 3, 3}, {1, 2, 4, 4}, {1, 3, 4, 4},
};

static void builtin_params(int hw, struct unet_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_levels = 4;
    p->n_global = 3;
    p->global[0] = 128;
    p->global[1] = 192;
    p->global[2] = 256;
    p->n_vectors = 8;
    for (int v = 0; v < 8; v++)
        for (int i = 0; i < 4; i++) p->mult[v][i] = sd_vectors[v][i];
    for (int i = 0; i < 4; i++) {
        p->in_blocks[i] = 2;
        p->out_blocks[i] = 3;
        /* level 1 never had attention in the base model; the paper removes
         * it from level 2 and lets stages 3 and 4 drop it */
        p->attention[i] = i < 2 ? ATTN_NEVER : ATTN_OPTIONAL;
    }
    p->drop = 1;
    if (hw) { /* section 7.10: channels fixed, never wider than the baseline */
        p->n_global = 1;
        p->global[0] = 256;
        p->within_baseline = 1;
    }
}

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

static int stage_of_input(int L, int level) { return level; }
static int stage_of_output(int L, int level) { return 2 * L - level; }

static int choice_op(const struct stage_info *st, int c) { return st->ops[c % st->n_ops]; }
static int choice_width(const struct stage_info *st, int c) { return st->widths[c / st->n_ops]; }

static int choice_index(const struct stage_info *st, int width, int op)
{
    int w = 0, o = 0;
    while (w < st->n_widths && st->widths[w] != width) w++;
    while (o < st->n_ops && st->ops[o] != op) o++;
    return w * st->n_ops + o;
}

/* "input stage 2 (stage 2)", "the middle stage (stage 5)" */
static void stage_label(const struct ab_unet *U, int s, char *buf, size_t cap)
{
    const struct stage_info *st = &U->st[s];
    if (st->section == SEC_MIDDLE) snprintf(buf, cap, "the middle stage (stage %d)", s + 1);
    else
        snprintf(buf, cap, "%s stage %d (stage %d)", st->section == SEC_INPUT ? "input" : "output",
                 st->level + 1, s + 1);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_sub(const void *a, const void *b)
{
    const struct stage_sub *x = a, *y = b;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    return memcmp(x->choice, y->choice, x->depth);
}

/* Appends "[1,2,3,4]" to buf. */
static size_t put_vector(char *buf, size_t cap, size_t len, const int *v, int n)
{
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, "%s%d",
                                i ? "," : "[", v[i]);
    len += (size_t)snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, "]");
    return len;
}

/* ---------------------------------------------------------------------- */
/* building a space                                                        */

void ab_sdunet_free(struct ab_unet *U)
{
    if (!U) return;
    for (int s = 0; s < AB_MAX_STAGES; s++) {
        free(U->st[s].widths);
        free(U->st[s].sub);
    }
    free(U->config_global);
    free(U->config_vector);
    free(U->config_width);
    free(U->widths);
    free(U);
}

/* Distinct channel tuples of (global, vector) pairs, first pair kept. */
static ab_status make_configs(struct ab_unet *U)
{
    ab_status rc = AB_OK;
    const struct unet_params *p = &U->par;
    int n = p->n_global * p->n_vectors;
    U->config_global = malloc(sizeof(int) * (size_t)n);
    U->config_vector = malloc(sizeof(int) * (size_t)n);
    U->config_width = malloc(sizeof *U->config_width * (size_t)n);
    AB_CHECK(U->config_global && U->config_vector && U->config_width, AB_ERR_NOMEM,
             "out of memory");
    U->n_configs = 0;
    for (int g = 0; g < p->n_global; g++) {
        for (int v = 0; v < p->n_vectors; v++) {
            int w[MAX_LEVELS] = {0}, dup = 0;
            for (int i = 0; i < p->n_levels; i++) w[i] = p->global[g] * p->mult[v][i];
            for (int c = 0; c < U->n_configs && !dup; c++)
                dup = !memcmp(U->config_width[c], w, sizeof w);
            if (dup) continue;
            U->config_global[U->n_configs] = g;
            U->config_vector[U->n_configs] = v;
            memcpy(U->config_width[U->n_configs], w, sizeof w);
            U->n_configs++;
        }
    }
cleanup:
    return rc;
}

/* Sorted distinct values of vals[0..n). Returns the count. */
static int sort_unique(int *vals, int n)
{
    int k = 0;
    qsort(vals, (size_t)n, sizeof(int), cmp_int);
    for (int i = 0; i < n; i++)
        if (k == 0 || vals[k - 1] != vals[i]) vals[k++] = vals[i];
    return k;
}

static void stage_shape(const struct unet_params *p, int s, struct stage_info *st)
{
    int L = p->n_levels;
    st->section = s < L ? SEC_INPUT : s == L ? SEC_MIDDLE : SEC_OUTPUT;
    st->level = s < L ? s : s == L ? L - 1 : 2 * L - s;
    st->sampling = -1;
    if (st->section == SEC_INPUT && st->level < L - 1) st->sampling = OP_DOWN;
    if (st->section == SEC_OUTPUT && st->level > 0) st->sampling = OP_UP;
    st->n_ops = 0;
    st->ops[st->n_ops++] = OP_RES;
    st->ops[st->n_ops++] = OP_ATTN; /* listed even where the rules forbid it */
    if (st->sampling >= 0) st->ops[st->n_ops++] = st->sampling;
    if (st->section == SEC_MIDDLE) {
        st->attention = ATTN_ALWAYS;
        st->bmin = st->bmax = st->base = 2;
        return;
    }
    st->attention = p->attention[st->level];
    st->base = st->section == SEC_INPUT ? p->in_blocks[st->level] : p->out_blocks[st->level];
    st->bmax = st->base;
    st->bmin = st->base - p->drop > 1 ? st->base - p->drop : 1;
}

/* Appends one structure (n blocks, attention mask) at every channel count. */
static void add_structure(struct stage_info *st, int n, unsigned mask, int middle)
{
    for (int w = 0; w < st->n_widths; w++) {
        struct stage_sub *g = &st->sub[st->n_sub++];
        int d = 0, width = st->widths[w];
        memset(g, 0, sizeof *g);
        if (middle) {
            g->choice[d++] = (uint8_t)choice_index(st, width, OP_RES);
            g->choice[d++] = (uint8_t)choice_index(st, width, OP_ATTN);
            g->choice[d++] = (uint8_t)choice_index(st, width, OP_RES);
        } else {
            for (int b = 0; b < n; b++) {
                g->choice[d++] = (uint8_t)choice_index(st, width, OP_RES);
                if (mask >> b & 1u) g->choice[d++] = (uint8_t)choice_index(st, width, OP_ATTN);
            }
            if (st->sampling >= 0) g->choice[d++] = (uint8_t)choice_index(st, width, st->sampling);
        }
        g->depth = (uint8_t)d;
        g->width = width;
    }
}

/* The valid subgraphs of stage st, sorted into enumeration order. */
static ab_status make_subgraphs(const struct unet_params *p, struct stage_info *st)
{
    ab_status rc = AB_OK;
    int cap = 0;
    for (int n = st->bmin; n <= st->bmax; n++) cap += 1 << n;
    st->sub = calloc((size_t)cap * (size_t)st->n_widths, sizeof *st->sub);
    AB_CHECK_ALLOC(st->sub);
    st->n_sub = 0;
    if (st->section == SEC_MIDDLE) {
        add_structure(st, 2, 0, 1);
    } else {
        for (int n = st->bmin; n <= st->bmax; n++) {
            unsigned all = (1u << n) - 1u;
            if (st->attention == ATTN_NEVER) add_structure(st, n, 0, 0);
            else if (st->attention == ATTN_ALWAYS) add_structure(st, n, all, 0);
            else if (!p->attn_per_block) {
                add_structure(st, n, 0, 0);
                add_structure(st, n, all, 0);
            } else {
                for (unsigned m = 0; m <= all; m++) add_structure(st, n, m, 0);
            }
        }
    }
    st->n_structs = st->n_sub / st->n_widths;
    qsort(st->sub, (size_t)st->n_sub, sizeof *st->sub, cmp_sub);
cleanup:
    return rc;
}

static ab_status make_stage(struct ab_space *sp, struct ab_unet *U, int s)
{
    ab_status rc = AB_OK;
    struct stage_info *st = &U->st[s];
    struct ab_stage *stage = &sp->stages[s];
    stage_shape(&U->par, s, st);
    st->widths = malloc(sizeof(int) * (size_t)U->n_configs);
    AB_CHECK_ALLOC(st->widths);
    for (int c = 0; c < U->n_configs; c++) st->widths[c] = U->config_width[c][st->level];
    st->n_widths = sort_unique(st->widths, U->n_configs);
    AB_CHECK(st->n_widths * st->n_ops <= AB_MAX_CHOICES, AB_ERR_INPUT,
             "space '%s': stage %d would have %d choices (%d channel counts x %d operations); "
             "at most %d: use fewer global channel counts or multiplier values", sp->name, s + 1,
             st->n_widths * st->n_ops, st->n_widths, st->n_ops, AB_MAX_CHOICES);
    AB_CALL(make_subgraphs(&U->par, st));
    stage->n_choices = st->n_widths * st->n_ops;
    stage->choices = calloc((size_t)stage->n_choices, sizeof *stage->choices);
    AB_CHECK_ALLOC(stage->choices);
    for (int c = 0; c < stage->n_choices; c++) {
        struct ab_choice *ch = &stage->choices[c];
        char name[32];
        int width = choice_width(st, c), op = choice_op(st, c), wi = 0;
        while (U->widths[wi] != width) wi++;
        snprintf(name, sizeof name, "%s_%d", op_names[op], width);
        ch->name = strdup(name);
        ch->attr = calloc(4, sizeof(double));
        AB_CHECK(ch->name && ch->attr, AB_ERR_NOMEM, "out of memory");
        /* the node features: operation, channels, section, stage */
        ch->attr[0] = op;
        ch->attr[1] = wi;
        ch->attr[2] = st->section;
        ch->attr[3] = st->level;
    }
    stage->min_layers = stage->max_layers = st->sub[0].depth;
    for (int k = 0; k < st->n_sub; k++) {
        if (st->sub[k].depth < stage->min_layers) stage->min_layers = st->sub[k].depth;
        if (st->sub[k].depth > stage->max_layers) stage->max_layers = st->sub[k].depth;
    }
cleanup:
    return rc;
}

static void add_feature(struct ab_space *sp, const char *name, int card, int dim)
{
    struct ab_feature *f = &sp->features[sp->n_features++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->cardinality = card;
    f->embed_dim = dim;
}

/* Builds the space from parameters that passed their checks. Takes over
 * nothing; on failure *out is NULL. */
static ab_status create(const struct unet_params *par, const char *name, const char *source,
                        const char *definition, struct ab_space **out)
{
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    struct ab_unet *U = NULL;
    int L = par->n_levels;
    *out = NULL;
    sp = calloc(1, sizeof *sp);
    AB_CHECK_ALLOC(sp);
    sp->kind = AB_SPACE_SD_UNET;
    sp->name = strdup(name);
    sp->source = strdup(source);
    sp->definition = strdup(definition);
    AB_CHECK(sp->name && sp->source && sp->definition, AB_ERR_NOMEM, "out of memory");
    U = calloc(1, sizeof *U);
    AB_CHECK_ALLOC(U);
    sp->unet = U;
    U->par = *par;
    if (par->within_baseline) {
        int k = 0;
        for (int v = 0; v < par->n_vectors; v++) {
            int ok = 1;
            for (int i = 0; i < L; i++) ok &= par->mult[v][i] <= par->mult[0][i];
            if (ok) memcpy(U->par.mult[k++], par->mult[v], sizeof par->mult[v]);
        }
        U->par.n_vectors = k;
    }
    AB_CALL(make_configs(U));
    U->widths = malloc(sizeof(int) * (size_t)(U->n_configs * L));
    AB_CHECK_ALLOC(U->widths);
    for (int c = 0; c < U->n_configs; c++)
        for (int i = 0; i < L; i++) U->widths[c * L + i] = U->config_width[c][i];
    U->n_widths = sort_unique(U->widths, U->n_configs * L);
    sp->n_stages = 2 * L + 1;
    U->structures = 1;
    for (int s = 0; s < sp->n_stages; s++) {
        AB_CALL(make_stage(sp, U, s));
        AB_CHECK(!__builtin_mul_overflow(U->structures, (uint64_t)U->st[s].n_structs,
                                         &U->structures),
                 AB_ERR_INPUT, "space '%s' has more than 2^64 block structures; allow fewer "
                 "blocks or attention patterns", name);
    }
    uint64_t total;
    AB_CHECK(!__builtin_mul_overflow(U->structures, (uint64_t)U->n_configs, &total), AB_ERR_INPUT,
             "space '%s' has more than 2^64 architectures", name);
    sp->n_features = 0;
    add_feature(sp, "operation", N_OPS, 2);
    add_feature(sp, "channels", U->n_widths, 3);
    add_feature(sp, "section", 3, 2);
    add_feature(sp, "stage", L, 2);
    AB_CALL(ab_space_finalize(sp));
    *out = sp;
    sp = NULL;
cleanup:
    ab_space_destroy(&sp);
    return rc;
}

ab_status ab_sdunet_create_builtin(const char *name, struct ab_space **out)
{
    struct unet_params p;
    char def[64];
    int hw = !strcmp(name, "sd_unet_hw");
    *out = NULL;
    if (!hw && strcmp(name, "sd_unet"))
        return ab_err_set(AB_ERR_INPUT, "unknown U-Net space '%.64s': use sd_unet or sd_unet_hw",
                          name);
    builtin_params(hw, &p);
    snprintf(def, sizeof def, "{\"builtin\":\"%s\"}", name);
    return create(&p, name, "built-in", def, out);
}

/* ---------------------------------------------------------------------- */
/* validation                                                              */

/* Checks the block structure of stage s; *width is its channel count. */
static ab_status check_stage(const struct ab_space *sp, const struct ab_arch *a, int s,
                             int *width)
{
    ab_status rc = AB_OK;
    const struct ab_unet *U = sp->unet;
    const struct stage_info *st = &U->st[s];
    const struct ab_stage *stage = &sp->stages[s];
    int d = a->depth[s], body, blocks = 0, attn = 0, w0;
    char lb[64];
    stage_label(U, s, lb, sizeof lb);
    AB_CHECK(d >= 1 && d <= AB_MAX_LAYERS, AB_ERR_INPUT,
             "%s has %d layers; space '%s' allows %d to %d there", lb, d, sp->name,
             stage->min_layers, stage->max_layers);
    for (int l = 0; l < d; l++)
        AB_CHECK(a->choice[s][l] < stage->n_choices, AB_ERR_INPUT,
                 "stage %d layer %d: choice index %d is out of range (%d choices)", s + 1, l + 1,
                 a->choice[s][l], stage->n_choices);
    w0 = choice_width(st, a->choice[s][0]);
    for (int l = 1; l < d; l++)
        AB_CHECK(choice_width(st, a->choice[s][l]) == w0, AB_ERR_INPUT,
                 "%s layer %d is '%s' with %d channels, but layer 1 has %d; every layer of a "
                 "stage has the stage's channels", lb, l + 1,
                 stage->choices[a->choice[s][l]].name, choice_width(st, a->choice[s][l]), w0);
    *width = w0;
    if (st->section == SEC_MIDDLE) {
        AB_CHECK(d == 3 && choice_op(st, a->choice[s][0]) == OP_RES &&
                     choice_op(st, a->choice[s][1]) == OP_ATTN &&
                     choice_op(st, a->choice[s][2]) == OP_RES,
                 AB_ERR_INPUT, "%s is fixed as res_%d, attn_%d, res_%d", lb, w0, w0, w0);
        goto cleanup;
    }
    body = d;
    if (st->sampling >= 0) {
        AB_CHECK(choice_op(st, a->choice[s][d - 1]) == st->sampling, AB_ERR_INPUT,
                 "%s must end with its %s layer '%s_%d'", lb,
                 st->sampling == OP_DOWN ? "downsample" : "upsample", op_names[st->sampling], w0);
        body = d - 1;
    }
    for (int l = 0; l < body; l++) {
        int op = choice_op(st, a->choice[s][l]);
        AB_CHECK(op != OP_ATTN, AB_ERR_INPUT,
                 "%s layer %d: attention must follow a residual block", lb, l + 1);
        AB_CHECK(op == OP_RES, AB_ERR_INPUT, "%s layer %d: '%s' may only be the stage's last layer",
                 lb, l + 1, stage->choices[a->choice[s][l]].name);
        blocks++;
        if (l + 1 < body && choice_op(st, a->choice[s][l + 1]) == OP_ATTN) {
            attn++;
            l++;
        }
    }
    AB_CHECK(blocks >= st->bmin && blocks <= st->bmax, AB_ERR_INPUT,
             "%s has %d residual block%s; space '%s' allows %d to %d there (baseline %d, up to %d "
             "dropped)", lb, blocks, blocks == 1 ? "" : "s", sp->name, st->bmin, st->bmax,
             st->base, U->par.drop);
    AB_CHECK(st->attention != ATTN_NEVER || attn == 0, AB_ERR_INPUT,
             "%s has attention, but space '%s' never has attention in stage %d (%s)", lb, sp->name,
             st->level + 1,
             strcmp(sp->source, "built-in") ? "its attention rule is 'never'"
             : st->level == 1               ? "the paper removes it from stage 2"
                                            : "the base U-Net has none there");
    AB_CHECK(st->attention != ATTN_ALWAYS || attn == blocks, AB_ERR_INPUT,
             "%s must have attention after each of its residual blocks (attention after %d of %d)",
             lb, attn, blocks);
    AB_CHECK(st->attention != ATTN_OPTIONAL || U->par.attn_per_block || attn == 0 ||
                 attn == blocks,
             AB_ERR_INPUT,
             "%s has attention after %d of its %d residual blocks; attention is kept or removed "
             "for the whole stage", lb, attn, blocks);
cleanup:
    return rc;
}

/* The configuration whose channels are w (per level), or -1. */
static int find_config(const struct ab_unet *U, const int *w)
{
    for (int c = 0; c < U->n_configs; c++) {
        int ok = 1;
        for (int i = 0; i < U->par.n_levels && ok; i++) ok = U->config_width[c][i] == w[i];
        if (ok) return c;
    }
    return -1;
}

/* Explains why channels w (per level) match no configuration. */
static ab_status config_error(const struct ab_space *sp, const int *w)
{
    const struct unet_params *p = &sp->unet->par;
    char chans[128], globals[96], vecs[512], hint[160];
    size_t len = 0;
    int L = p->n_levels;
    chans[0] = globals[0] = vecs[0] = '\0';
    for (int i = 0; i < L; i++)
        len += (size_t)snprintf(chans + len, sizeof chans - len, "%s%d", i ? ", " : "", w[i]);
    len = 0;
    for (int g = 0; g < p->n_global; g++)
        len += (size_t)snprintf(globals + len, sizeof globals - len, "%s%d", g ? ", " : "",
                                p->global[g]);
    len = 0;
    for (int v = 0; v < p->n_vectors && len + 32 < sizeof vecs; v++) {
        if (v) len += (size_t)snprintf(vecs + len, sizeof vecs - len, " ");
        len = put_vector(vecs, sizeof vecs, len, p->mult[v], L);
    }
    snprintf(hint, sizeof hint, "no global channel count divides every stage's channels");
    for (int g = 0; g < p->n_global; g++) {
        int m[MAX_LEVELS], ok = 1;
        for (int i = 0; i < L; i++) {
            ok &= w[i] % p->global[g] == 0;
            m[i] = w[i] / p->global[g];
        }
        if (!ok) continue;
        len = (size_t)snprintf(hint, sizeof hint, "global channels %d would need multipliers ",
                               p->global[g]);
        len = put_vector(hint, sizeof hint, len, m, L);
        snprintf(hint + (len < sizeof hint ? len : sizeof hint - 1),
                 len < sizeof hint ? sizeof hint - len : 1, ", which is not one of the vectors");
        break;
    }
    return ab_err_set(AB_ERR_INPUT,
                      "the stage channels (%s) are not one global channel count (%s) times one "
                      "multiplier vector (%s) of space '%s': %s", chans, globals, vecs, sp->name,
                      hint);
}

/* Structure of every stage and the channel rules; *config the match. */
static ab_status check_arch(const struct ab_space *sp, const struct ab_arch *a, int *config)
{
    ab_status rc = AB_OK;
    const struct ab_unet *U = sp->unet;
    int L = U->par.n_levels, width[AB_MAX_STAGES], w[MAX_LEVELS];
    *config = -1;
    for (int s = 0; s < sp->n_stages; s++) AB_CALL(check_stage(sp, a, s, &width[s]));
    for (int i = 0; i < L; i++) {
        int si = stage_of_input(L, i), so = stage_of_output(L, i);
        AB_CHECK(width[so] == width[si], AB_ERR_INPUT,
                 "output stage %d (stage %d) has %d channels but input stage %d (stage %d) has "
                 "%d; an input stage and its output stage must share a channel multiplier",
                 i + 1, so + 1, width[so], i + 1, si + 1, width[si]);
        w[i] = width[si];
    }
    AB_CHECK(width[L] == w[L - 1], AB_ERR_INPUT,
             "the middle stage (stage %d) has %d channels but input stage %d has %d; the middle "
             "stage takes the channels of stage %d", L + 1, width[L], L, w[L - 1], L);
    *config = find_config(U, w);
    if (*config < 0) rc = config_error(sp, w);
cleanup:
    return rc;
}

ab_status ab_arch_check_constraints(const struct ab_space *sp, const struct ab_arch *a)
{
    int c;
    if (!sp->unet) return AB_OK;
    return check_arch(sp, a, &c);
}

int ab_arch_config(const struct ab_space *sp, const struct ab_arch *a)
{
    int c = -1;
    if (!sp->unet) return 0;
    if (check_arch(sp, a, &c) != AB_OK) {
        ab_err_clear();
        return -1;
    }
    return c;
}

/* ---------------------------------------------------------------------- */
/* units, configurations and counts                                        */

uint64_t ab_sdunet_unit_count(const struct ab_space *sp, int u)
{
    return (uint64_t)sp->unet->st[u].n_sub;
}

ab_status ab_sdunet_unit_subgraph(const struct ab_space *sp, int u, uint64_t index,
                                  struct ab_subgraph *out)
{
    const struct stage_sub *g = &sp->unet->st[u].sub[index];
    memset(out, 0, sizeof *out);
    out->unit = u;
    out->n_stages = 1;
    out->depth[0] = g->depth;
    memcpy(out->choice[0], g->choice, g->depth);
    return AB_OK;
}

uint64_t ab_sdunet_unit_subgraph_index(const struct ab_space *sp, const struct ab_subgraph *g)
{
    const struct stage_info *st = &sp->unet->st[g->unit];
    for (int k = 0; k < st->n_sub; k++)
        if (st->sub[k].depth == g->depth[0] &&
            !memcmp(st->sub[k].choice, g->choice[0], st->sub[k].depth))
            return (uint64_t)k;
    return UINT64_MAX;
}

int ab_space_n_configs(const struct ab_space *sp)
{
    return sp->unet ? sp->unet->n_configs : 0;
}

int ab_space_config_allows(const struct ab_space *sp, int config, int u, uint64_t index)
{
    const struct ab_unet *U = sp->unet;
    if (!U) return 1;
    if (config < 0 || config >= U->n_configs || u < 0 || u >= sp->n_units ||
        index >= (uint64_t)U->st[u].n_sub)
        return 0;
    return U->st[u].sub[index].width == U->config_width[config][U->st[u].level];
}

/* The subgraphs of unit u that configuration c allows (and, in a reduced
 * space, the unit keeps): how many, and the k-th of them (k < count). */
static uint64_t matching(const struct ab_space *sp, int c, int u, uint64_t k, uint64_t *kth)
{
    uint64_t n = 0;
    uint64_t total = sp->reduced ? sp->allowed[u].n : (uint64_t)sp->unet->st[u].n_sub;
    for (uint64_t i = 0; i < total; i++) {
        uint64_t idx = sp->reduced ? sp->allowed[u].index[i] : i;
        if (!ab_space_config_allows(sp, c, u, idx)) continue;
        if (n == k && kth) *kth = idx;
        n++;
    }
    return n;
}

/* Valid architectures of configuration c (saturating at UINT64_MAX). */
static uint64_t config_count(const struct ab_space *sp, int c)
{
    uint64_t n = 1;
    if (!sp->reduced) return sp->unet->structures;
    for (int u = 0; u < sp->n_units; u++)
        if (__builtin_mul_overflow(n, matching(sp, c, u, UINT64_MAX, NULL), &n)) return UINT64_MAX;
    return n;
}

uint64_t ab_sdunet_count(const struct ab_space *sp)
{
    uint64_t total = 0;
    for (int c = 0; c < sp->unet->n_configs; c++)
        if (__builtin_add_overflow(total, config_count(sp, c), &total)) return UINT64_MAX;
    return total;
}

/* Fills every unit from configuration c: unit u takes its pick[u]-th
 * matching subgraph. */
static void fill_config(const struct ab_space *sp, int c, const uint64_t *pick,
                        struct ab_arch *a)
{
    for (int u = 0; u < sp->n_units; u++) {
        struct ab_subgraph g;
        uint64_t idx = 0;
        matching(sp, c, u, pick[u], &idx);
        ab_sdunet_unit_subgraph(sp, u, idx, &g);
        ab_arch_set_unit(sp, a, &g);
    }
}

ab_status ab_space_arch_at(const struct ab_space *sp, uint64_t index, int resolution,
                           struct ab_arch *out)
{
    ab_status rc = AB_OK;
    uint64_t pick[AB_MAX_STAGES];
    memset(out, 0, sizeof *out);
    out->resolution = resolution;
    if (!sp->unet) { /* independent units: mixed radix, the last unit fastest */
        uint64_t total = 1;
        for (int u = 0; u < sp->n_units; u++)
            AB_CHECK(!__builtin_mul_overflow(total, ab_space_unit_count(sp, u), &total),
                     AB_ERR_INPUT, "space '%s' has more than 2^64 architectures", sp->name);
        AB_CHECK(index < total, AB_ERR_INPUT,
                 "architecture %llu is out of range (space '%s' has %llu)",
                 (unsigned long long)index, sp->name, (unsigned long long)total);
        for (int u = sp->n_units - 1; u >= 0; u--) {
            uint64_t n = ab_space_unit_count(sp, u), k = index % n;
            struct ab_subgraph g;
            index /= n;
            AB_CALL(ab_space_unit_subgraph(sp, u, sp->reduced ? sp->allowed[u].index[k] : k, &g));
            ab_arch_set_unit(sp, out, &g);
        }
        goto cleanup;
    }
    for (int c = 0; c < sp->unet->n_configs; c++) {
        uint64_t n = config_count(sp, c);
        if (index >= n) {
            index -= n;
            continue;
        }
        for (int u = sp->n_units - 1; u >= 0; u--) {
            uint64_t m = matching(sp, c, u, UINT64_MAX, NULL);
            pick[u] = index % m;
            index /= m;
        }
        fill_config(sp, c, pick, out);
        goto cleanup;
    }
    AB_FAIL(AB_ERR_INPUT, "architecture index is out of range (space '%s' has %llu)", sp->name,
            (unsigned long long)ab_sdunet_count(sp));
cleanup:
    return rc;
}

void ab_sdunet_sample(const struct ab_space *sp, struct ab_rng *rng, struct ab_arch *out)
{
    const struct ab_unet *U = sp->unet;
    uint64_t pick[AB_MAX_STAGES], total = ab_sdunet_count(sp), r;
    int c = 0;
    memset(out, 0, sizeof *out);
    if (total == 0) {
        /* a reduced space whose units share no configuration: nothing is
         * valid; return its first combination (ab_arch_validate rejects it) */
        for (int u = 0; u < sp->n_units; u++) {
            struct ab_subgraph g;
            ab_sdunet_unit_subgraph(sp, u, sp->allowed[u].index[0], &g);
            ab_arch_set_unit(sp, out, &g);
        }
        return;
    }
    /* a configuration with probability proportional to its architectures,
     * then each unit uniformly among its matching subgraphs: uniform over
     * the valid architectures */
    r = ab_rng_below(rng, total);
    for (c = 0; c < U->n_configs; c++) {
        uint64_t n = config_count(sp, c);
        if (r < n) break;
        r -= n;
    }
    for (int u = 0; u < sp->n_units; u++)
        pick[u] = ab_rng_below(rng, matching(sp, c, u, UINT64_MAX, NULL));
    fill_config(sp, c, pick, out);
}

/* ---------------------------------------------------------------------- */
/* graph edges                                                             */

/* Nodes of stage s (offset `first`): the output node of each residual
 * block (its attention node when it has one) and each block's res node. */
static int stage_blocks(const struct ab_space *sp, const struct ab_arch *a, int s, int first,
                        int *out_node, int *res_node)
{
    const struct stage_info *st = &sp->unet->st[s];
    int n = 0;
    for (int l = 0; l < a->depth[s]; l++) {
        if (choice_op(st, a->choice[s][l]) != OP_RES) continue;
        res_node[n] = first + l;
        out_node[n] = first + l;
        if (l + 1 < a->depth[s] && choice_op(st, a->choice[s][l + 1]) == OP_ATTN)
            out_node[n] = first + l + 1;
        n++;
    }
    return n;
}

int ab_arch_extra_edges(const struct ab_space *sp, const struct ab_arch *a, int *src, int *dst,
                        int cap)
{
    int L, first[AB_MAX_STAGES + 1], n = 0;
    if (!sp->unet) return 0;
    L = sp->unet->par.n_levels;
    first[0] = 0;
    for (int s = 0; s < sp->n_stages; s++) first[s + 1] = first[s] + a->depth[s];
    /* As the SD/LDM U-Net pops its skip stack: output block j of a level
     * takes the input level's blocks last first; the blocks beyond them
     * take the tensor that entered the level (the previous level's
     * downsample node; at level 1 the stem, which is no node, so its first
     * block stands in). Edges come in network order of their
     * destinations: level L first. */
    for (int i = L - 1; i >= 0; i--) {
        int si = stage_of_input(L, i), so = stage_of_output(L, i);
        int in_out[AB_MAX_LAYERS], in_res[AB_MAX_LAYERS], out_out[AB_MAX_LAYERS],
            out_res[AB_MAX_LAYERS];
        int n_in = stage_blocks(sp, a, si, first[si], in_out, in_res);
        int n_out = stage_blocks(sp, a, so, first[so], out_out, out_res);
        for (int j = 0; j < n_out && n_in > 0; j++) {
            int from = j < n_in ? in_out[n_in - 1 - j] : i > 0 ? first[si] - 1 : in_out[0];
            if (n < cap) {
                src[n] = from;
                dst[n] = out_res[j];
            }
            n++;
        }
    }
    return n < cap ? n : cap;
}

int ab_space_feature_label(const struct ab_space *sp, int f, int v, char *buf, size_t cap)
{
    static const char *const sections[3] = {"input", "middle", "output"};
    const struct ab_unet *U = sp->unet;
    if (!U || f < 0 || f >= sp->n_features || v < 0 || v >= sp->features[f].cardinality)
        return 0;
    switch (f) {
    case 0: snprintf(buf, cap, "%s", op_names[v]); return 1;
    case 1: snprintf(buf, cap, "%d", U->widths[v]); return 1;
    case 2: snprintf(buf, cap, "%s", sections[v]); return 1;
    case 3: snprintf(buf, cap, "stage %d", v + 1); return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* description                                                             */

#define OUT(...)                                                               \
    (len += (size_t)snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, \
                             __VA_ARGS__))

size_t ab_space_describe_constraints(const struct ab_space *sp, char *buf, size_t cap)
{
    size_t len = 0;
    const struct ab_unet *U = sp->unet;
    const struct unet_params *p;
    char dummy;
    int L;
    if (!buf) {
        buf = &dummy;
        cap = 0;
    }
    if (cap) buf[0] = '\0';
    if (!U) return 0;
    p = &U->par;
    L = p->n_levels;
    OUT("U-Net with %d levels; stages in network order: input 1-%d, middle, output %d-1\n", L, L,
        L);
    OUT("global channels:");
    for (int g = 0; g < p->n_global; g++) OUT("%s %d", g ? "," : "", p->global[g]);
    OUT("\nmultiplier vectors (%d; the first is the baseline):", p->n_vectors);
    for (int v = 0; v < p->n_vectors; v++) {
        OUT(" ");
        len = put_vector(buf, cap, len, p->mult[v], L);
    }
    OUT("\nresidual blocks per stage: input");
    for (int i = 0; i < L; i++) OUT("%s %d", i ? "," : "", p->in_blocks[i]);
    OUT("; output");
    for (int i = 0; i < L; i++) OUT("%s %d", i ? "," : "", p->out_blocks[i]);
    OUT("; each stage may drop up to %d\n", p->drop);
    OUT("attention by stage:");
    for (int i = 0; i < L; i++) OUT("%s %d %s", i ? "," : "", i + 1, attn_names[p->attention[i]]);
    OUT(" (%s); the middle stage is res, attn, res\n",
        p->attn_per_block ? "block by block" : "kept or removed for a whole stage");
    OUT("channel rules: one global channel count everywhere; an input stage and its output "
        "stage share a multiplier; the middle stage takes stage %d's\n", L);
    if (sp->reduced)
        OUT("architectures: %llu (sum over the %d channel configurations of the product of "
            "each unit's kept subgraphs with those channels)\n",
            (unsigned long long)ab_sdunet_count(sp), U->n_configs);
    else
        OUT("architectures: %d channel configurations x %llu block structures = %llu\n",
            U->n_configs, (unsigned long long)U->structures,
            (unsigned long long)ab_sdunet_count(sp));
    return len;
}
#undef OUT

/* ---------------------------------------------------------------------- */
/* YAML                                                                    */

struct ydoc {
    yaml_document_t doc;
    const char *origin;
};

static yaml_node_t *ynode(struct ydoc *y, int i) { return yaml_document_get_node(&y->doc, i); }

static const char *yscalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int yline(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

static yaml_node_t *ymap_get(struct ydoc *y, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = yscalar(ynode(y, p->key));
        if (k && !strcmp(k, key)) return ynode(y, p->value);
    }
    return NULL;
}

static ab_status yfail(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ab_status yfail(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ab_err_set(AB_ERR_INPUT, "%s:%d: %s", y->origin, yline(n), msg);
}

/* Loads the document; 0 when it is not YAML. */
static int yload(struct ydoc *y, const char *text, size_t len)
{
    yaml_parser_t parser;
    int ok;
    if (!yaml_parser_initialize(&parser)) return 0;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    ok = yaml_parser_load(&parser, &y->doc);
    yaml_parser_delete(&parser);
    if (ok && !yaml_document_get_root_node(&y->doc)) {
        yaml_document_delete(&y->doc);
        ok = 0;
    }
    return ok;
}

int ab_sdunet_yaml_claims(const char *text, size_t len)
{
    struct ydoc y = {.origin = ""};
    int yes;
    if (!yload(&y, text, len)) return 0;
    yes = ymap_get(&y, ymap_get(&y, yaml_document_get_root_node(&y.doc), "space"), "unet") != NULL;
    yaml_document_delete(&y.doc);
    return yes;
}

/* Every key of map is one of allowed (NULL-terminated) and none repeats. */
static ab_status ycheck_keys(struct ydoc *y, yaml_node_t *map, const char *where,
                             const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = ynode(y, p->key);
        const char *k = yscalar(kn);
        int ok = 0;
        char list[256] = "";
        size_t len = 0;
        if (!k) return yfail(y, kn, "%s: keys must be plain names", where);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(yscalar(ynode(y, q->key)), k))
                return yfail(y, kn, "%s: duplicated key '%.64s' (first at line %d); remove one",
                             where, k, yline(ynode(y, q->key)));
        for (const char *const *a = allowed; *a; a++) {
            ok |= !strcmp(k, *a);
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", a == allowed ? "" : ", ",
                                    *a);
        }
        if (!ok) return yfail(y, kn, "%s: unknown key '%.64s' (allowed: %s)", where, k, list);
    }
    return AB_OK;
}

static ab_status yint(struct ydoc *y, yaml_node_t *n, const char *where, int lo, int hi, int *out)
{
    const char *s = yscalar(n);
    char *end;
    long v;
    if (!s || !*s) return yfail(y, n, "%s: expected an integer from %d to %d", where, lo, hi);
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return yfail(y, n, "%s: expected an integer from %d to %d, got '%.64s'", where, lo, hi, s);
    *out = (int)v;
    return AB_OK;
}

static ab_status ybool(struct ydoc *y, yaml_node_t *n, const char *where, int *out)
{
    const char *s = yscalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "false"))) {
        *out = !strcmp(s, "true");
        return AB_OK;
    }
    return yfail(y, n, "%s: expected true or false", where);
}

/* A list of 1..max integers in [lo, hi]; *count its length. */
static ab_status yint_list(struct ydoc *y, yaml_node_t *n, const char *where, int max, int lo,
                           int hi, int *vals, int *count)
{
    long len;
    char w[96];
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yfail(y, n, "%s: expected a list like [1, 2, 3]", where);
    len = n->data.sequence.items.top - n->data.sequence.items.start;
    if (len < 1 || len > max)
        return yfail(y, n, "%s: expected 1 to %d entries, got %ld", where, max, len);
    for (long i = 0; i < len; i++) {
        snprintf(w, sizeof w, "%s[%ld]", where, i + 1);
        AB_TRY(yint(y, ynode(y, n->data.sequence.items.start[i]), w, lo, hi, &vals[i]));
    }
    *count = (int)len;
    return AB_OK;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

static int is_builtin_name(const char *s)
{
    return !strcmp(s, "ofa_mbv3") || !strcmp(s, "ofa_pn") || !strcmp(s, "sd_unet") ||
           !strcmp(s, "sd_unet_hw");
}

/* A per-level list given in YAML must have one entry per level. */
static ab_status ylevels(struct ydoc *y, yaml_node_t *n, const char *key, int L, int got)
{
    if (got == L) return AB_OK;
    return yfail(y, n, "unet.%s: %d entries, but the multiplier vectors have %d levels; give one "
                 "per level", key, got, L);
}

static ab_status yparse_multipliers(struct ydoc *y, yaml_node_t *v, struct unet_params *p)
{
    long n;
    if (v->type != YAML_SEQUENCE_NODE)
        return yfail(y, v, "unet.multipliers: expected a list of vectors like [[1, 2, 3, 4]]");
    n = v->data.sequence.items.top - v->data.sequence.items.start;
    if (n < 1 || n > MAX_VECTORS)
        return yfail(y, v, "unet.multipliers: expected 1 to %d vectors, got %ld", MAX_VECTORS, n);
    for (long k = 0; k < n; k++) {
        yaml_node_t *e = ynode(y, v->data.sequence.items.start[k]);
        char w[48];
        int len;
        snprintf(w, sizeof w, "unet.multipliers[%ld]", k + 1);
        AB_TRY(yint_list(y, e, w, MAX_LEVELS, 1, MAX_MULT, p->mult[k], &len));
        if (len < 2) return yfail(y, e, "%s: a U-Net needs at least 2 levels", w);
        if (k == 0) p->n_levels = len;
        else if (len != p->n_levels)
            return yfail(y, e, "%s: %d levels, but the first vector has %d; every vector has one "
                         "multiplier per level", w, len, p->n_levels);
        for (long j = 0; j < k; j++)
            if (!memcmp(p->mult[j], p->mult[k], sizeof(int) * (size_t)len))
                return yfail(y, e, "%s: the same vector as multipliers[%ld]", w, j + 1);
    }
    p->n_vectors = (int)n;
    return AB_OK;
}

static ab_status yparse_attention(struct ydoc *y, yaml_node_t *v, struct unet_params *p, int *got)
{
    long n;
    if (v->type != YAML_SEQUENCE_NODE)
        return yfail(y, v, "unet.attention: expected a list like [never, never, optional, "
                     "optional]");
    n = v->data.sequence.items.top - v->data.sequence.items.start;
    if (n < 1 || n > MAX_LEVELS)
        return yfail(y, v, "unet.attention: expected 1 to %d entries, got %ld", MAX_LEVELS, n);
    for (long i = 0; i < n; i++) {
        yaml_node_t *e = ynode(y, v->data.sequence.items.start[i]);
        const char *s = yscalar(e);
        int r = 0;
        while (r < 3 && (!s || strcmp(s, attn_names[r]))) r++;
        if (r == 3)
            return yfail(y, e, "unet.attention[%ld]: expected never, optional or always, got "
                         "'%.64s'", i + 1, s ? s : "a list or mapping");
        p->attention[i] = r;
    }
    *got = (int)n;
    return AB_OK;
}

/* Fills p from the `unet` mapping n (over the base's values). */
static ab_status yparse_unet(struct ydoc *y, yaml_node_t *n, struct unet_params *p)
{
    static const char *const keys[] = {"base", "channels", "multipliers", "input_blocks",
                                       "output_blocks", "drop", "attention",
                                       "attention_per_block", "within_baseline", NULL};
    yaml_node_t *v, *nin = NULL, *nout = NULL, *natt = NULL;
    int got_in = 0, got_out = 0, got_att = 0, L, minb = MAX_BLOCKS;
    if (n->type != YAML_MAPPING_NODE)
        return yfail(y, n, "unet: expected a mapping of U-Net choices (base, channels, ...)");
    AB_TRY(ycheck_keys(y, n, "unet", keys));
    builtin_params(0, p);
    if ((v = ymap_get(y, n, "base"))) {
        const char *b = yscalar(v);
        if (!b || (strcmp(b, "sd_unet") && strcmp(b, "sd_unet_hw")))
            return yfail(y, v, "unet.base: expected sd_unet or sd_unet_hw");
        builtin_params(!strcmp(b, "sd_unet_hw"), p);
    }
    if ((v = ymap_get(y, n, "channels"))) {
        AB_TRY(yint_list(y, v, "unet.channels", MAX_GLOBAL, 1, MAX_GLOBAL_CHANNELS, p->global,
                         &p->n_global));
        for (int i = 0; i < p->n_global; i++)
            for (int j = 0; j < i; j++)
                if (p->global[i] == p->global[j])
                    return yfail(y, v, "unet.channels: %d is repeated", p->global[i]);
    }
    if ((v = ymap_get(y, n, "multipliers"))) AB_TRY(yparse_multipliers(y, v, p));
    L = p->n_levels;
    if ((nin = ymap_get(y, n, "input_blocks")))
        AB_TRY(yint_list(y, nin, "unet.input_blocks", MAX_LEVELS, 1, MAX_BLOCKS, p->in_blocks,
                         &got_in));
    if ((nout = ymap_get(y, n, "output_blocks")))
        AB_TRY(yint_list(y, nout, "unet.output_blocks", MAX_LEVELS, 1, MAX_BLOCKS, p->out_blocks,
                         &got_out));
    if ((natt = ymap_get(y, n, "attention"))) AB_TRY(yparse_attention(y, natt, p, &got_att));
    /* per-level lists: one entry per level, given or inherited */
    AB_TRY(ylevels(y, nin ? nin : n, "input_blocks", L, nin ? got_in : 4));
    AB_TRY(ylevels(y, nout ? nout : n, "output_blocks", L, nout ? got_out : 4));
    AB_TRY(ylevels(y, natt ? natt : n, "attention", L, natt ? got_att : 4));
    for (int i = 0; i < L; i++) {
        if (p->in_blocks[i] < minb) minb = p->in_blocks[i];
        if (p->out_blocks[i] < minb) minb = p->out_blocks[i];
    }
    if ((v = ymap_get(y, n, "drop"))) AB_TRY(yint(y, v, "unet.drop", 0, minb - 1, &p->drop));
    if ((v = ymap_get(y, n, "attention_per_block")))
        AB_TRY(ybool(y, v, "unet.attention_per_block", &p->attn_per_block));
    if ((v = ymap_get(y, n, "within_baseline")))
        AB_TRY(ybool(y, v, "unet.within_baseline", &p->within_baseline));
    return AB_OK;
}

ab_status ab_sdunet_from_yaml(const char *text, size_t len, const char *origin,
                              struct ab_space **out)
{
    static const char *const top_keys[] = {"space", NULL};
    static const char *const space_keys[] = {"name", "unet", NULL};
    ab_status rc = AB_OK;
    struct ydoc y = {.origin = origin};
    struct unet_params p;
    yaml_node_t *root, *sn, *v;
    char *def = NULL;
    int have_doc = 0;
    *out = NULL;
    AB_CHECK(yload(&y, text, len), AB_ERR_INPUT, "%s: not a YAML document with a 'space' mapping",
             origin);
    have_doc = 1;
    root = yaml_document_get_root_node(&y.doc);
    AB_CHECK(root->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
             "%s:%d: expected a mapping with the key 'space'", origin, yline(root));
    AB_CALL(ycheck_keys(&y, root, "top level", top_keys));
    sn = ymap_get(&y, root, "space");
    AB_CHECK(sn && sn->type == YAML_MAPPING_NODE, AB_ERR_INPUT,
             "%s:%d: 'space' must be a mapping with name and unet", origin, yline(sn ? sn : root));
    AB_CALL(ycheck_keys(&y, sn, "space (a U-Net space)", space_keys));
    v = ymap_get(&y, sn, "name");
    AB_CHECK(v != NULL, AB_ERR_INPUT, "%s:%d: space: missing 'name'", origin, yline(sn));
    AB_CHECK(yscalar(v) && valid_name(yscalar(v)), AB_ERR_INPUT,
             "%s:%d: space.name: expected a name of 1-63 letters, digits or _ . : + -", origin,
             yline(v));
    AB_CHECK(!is_builtin_name(yscalar(v)), AB_ERR_INPUT,
             "%s:%d: space.name: '%s' is a built-in space; choose another name", origin, yline(v),
             yscalar(v));
    AB_CHECK(ymap_get(&y, sn, "unet") != NULL, AB_ERR_INPUT, "%s:%d: space: missing 'unet'",
             origin, yline(sn));
    AB_CALL(yparse_unet(&y, ymap_get(&y, sn, "unet"), &p));
    def = strndup(text, len);
    AB_CHECK_ALLOC(def);
    rc = create(&p, yscalar(v), origin, def, out);
    if (rc) rc = ab_err_prefix("%s", origin);
cleanup:
    if (rc) ab_space_destroy(out);
    free(def);
    if (have_doc) yaml_document_delete(&y.doc);
    return rc;
}
