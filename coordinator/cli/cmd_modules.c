/* SPDX-License-Identifier: MIT
 *
 * This file implements the commands that turn a trained predictor into
 * architectures (METHOD.md sections 4-5): `autobuild label` (module scoring,
 * Eq. 5), `autobuild units show`, `autobuild reduce` (reduced search spaces)
 * and `autobuild build` (direct construction by exact best-first
 * enumeration).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "cli/cli.h"
#include "modules/units.h"
#include "predictor/checkpoint.h"
#include "predictor/ensemble.h"
#include "util/log.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

#define MAX_UNIT_FILES 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The default resolution to score subgraphs at: 224 for OFA (as the
 * authors), the largest for YAML spaces with resolutions, else none. */
static int default_resolution(const struct ab_space *sp)
{
    if (sp->n_resolutions == 0) return 0;
    if (ab_space_has_resolution(sp, 224)) return 224;
    return sp->resolutions[sp->n_resolutions - 1];
}

static void subgraph_text(const struct ab_space *sp, int u, uint64_t index, char *buf, size_t cap)
{
    struct ab_subgraph g;
    size_t len;
    if (ab_space_unit_subgraph(sp, u, index, &g) != AB_OK) {
        snprintf(buf, cap, "?");
        return;
    }
    len = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < g.n_stages && len < cap; k++) {
        const struct ab_stage *st = &sp->stages[sp->units[u].first + k];
        len += (size_t)snprintf(buf + len, cap - len, "%s[", k ? "," : "");
        for (int l = 0; l < g.depth[k] && len < cap; l++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", l ? "," : "",
                                    st->choices[g.choice[k][l]].name);
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "]");
    }
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ---------------------------------------------------------------------- */
/* label                                                                   */

static const char label_help[] =
    "usage: autobuild label --predictor P.h5 --out U.h5 [--resolution R] [--threads T]\n"
    "\n"
    "Scores every subgraph of every search unit of the predictor's space (METHOD.md\n"
    "section 4): each subgraph is fed alone, its nodes carrying their positions in\n"
    "a whole network, and scored by the norm of its last node's embedding at hop\n"
    "n-1, shifted by Eq. 5 with the predictor's hop moments and stage moments so\n"
    "subgraphs of different sizes compare. OFA-MBv3: 5 x 7371 subgraphs; OFA-PN:\n"
    "4 x 7371 + 66339 (stages 5 and 6 merged). Writes the scores per unit, best\n"
    "first (hdf5-schemas/units.md); read them with 'autobuild units show'.\n"
    "\n"
    "P.h5 may be an ensemble from 'autobuild train --folds F --seeds S': each\n"
    "subgraph then scores the sum over members of its standardised score weighted\n"
    "by the member's held-out SRCC at the subgraph's hop.\n"
    "\n"
    "  --resolution R   input resolution of the subgraphs (default 224 for OFA, as\n"
    "                   the authors; the largest for YAML spaces)\n"
    "  --threads T      threads (default 1)\n";

ab_status ab_cmd_label(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"predictor", required_argument, NULL, 'p'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"threads", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_predictor *p = NULL;
    struct ab_ensemble *ens = NULL;
    struct ab_units *us = NULL;
    const char *pred = NULL, *out = NULL;
    long res = -1, threads = 1;
    int o;
    double t0 = now_s();
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': pred = optarg; break;
        case 'o': out = optarg; break;
        case 'r': AB_CALL(ab_cli_int("--resolution", optarg, 1, 100000, &res)); break;
        case 'T': AB_CALL(ab_cli_int("--threads", optarg, 1, AB_PRED_MAX_THREADS, &threads)); break;
        case 'h': fputs(label_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!pred || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--predictor and --out are required");
        goto cleanup;
    }
    if (ab_ensemble_is_file(pred)) {
        AB_CALL(ab_ensemble_load(pred, &ens));
        for (int m = 0; m < ens->n; m++) ens->member[m]->threads = (int)threads;
        if (res < 0) res = default_resolution(ens->member[0]->space);
        AB_CHECK(res == 0 ? ens->member[0]->space->n_resolutions == 0
                          : ab_space_has_resolution(ens->member[0]->space, (int)res),
                 AB_ERR_INPUT, "--resolution %ld is not a resolution of the space", res);
        AB_CALL(ab_units_score_ensemble(ens->member, ens->n, pred, (int)res, 4096, &us));
    } else {
        AB_CALL(ab_predictor_load(pred, &p));
        p->threads = (int)threads;
        if (res < 0) res = default_resolution(p->space);
        AB_CHECK(res == 0 ? p->space->n_resolutions == 0
                          : ab_space_has_resolution(p->space, (int)res),
                 AB_ERR_INPUT, "--resolution %ld is not a resolution of space '%s'", res,
                 p->space->name);
        AB_CALL(ab_units_score(p, pred, (int)res, 4096, &us));
    }
    AB_CALL(ab_units_save(us, out));
    long total = 0;
    for (int u = 0; u < us->n_units; u++) total += us->u[u].n;
    AB_LOG_I("scored %ld subgraphs of %d units of %s in %.2f s -> %s", total, us->n_units,
             us->space->name, now_s() - t0, out);
cleanup:
    ab_ensemble_destroy(&ens);
    ab_units_destroy(&us);
    ab_predictor_destroy(&p);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* units show                                                              */

static const char show_help[] =
    "usage: autobuild units show U.h5 [--top N] [--unit U]\n"
    "\n"
    "Prints the best N subgraphs (default 10) of every unit (or of unit U, 1-based)\n"
    "of a units file from 'autobuild label': rank, Eq. 5 score, raw embedding norm,\n"
    "layer count, and the subgraph's blocks per stage.\n";

ab_status ab_cmd_units_show(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"top", required_argument, NULL, 't'},
                                         {"unit", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_units *us = NULL;
    long top = 10, unit = 0;
    int o;
    char buf[2048];
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 't': AB_CALL(ab_cli_int("--top", optarg, 1, 100000000, &top)); break;
        case 'u': AB_CALL(ab_cli_int("--unit", optarg, 1, AB_MAX_STAGES, &unit)); break;
        case 'h': fputs(show_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (optind != argc - 1) {
        rc = ab_cli_usage(argv[0], "expected one units file");
        goto cleanup;
    }
    AB_CALL(ab_units_load(argv[optind], &us));
    AB_CHECK(unit <= us->n_units, AB_ERR_INPUT, "--unit %ld: the space has units 1 to %d", unit,
             us->n_units);
    printf("%s: space %s, target %s, predictor %s, resolution %d\n", argv[optind],
           us->space->name, us->target, us->predictor, us->resolution);
    for (int u = 0; u < us->n_units; u++) {
        const struct ab_unit_scores *s = &us->u[u];
        const struct ab_unit *un = &us->space->units[u];
        if (unit && u != unit - 1) continue;
        printf("\nunit %d (stage%s %d", u + 1, un->n_stages > 1 ? "s" : "", un->first + 1);
        if (un->n_stages > 1) printf("-%d", un->first + un->n_stages);
        printf("), %ld subgraphs\n  %5s %10s %10s %6s  %s\n", s->n, "rank", "score", "raw",
               "layers", "subgraph");
        for (long i = 0; i < s->n && i < top; i++) {
            subgraph_text(us->space, u, s->index[i], buf, sizeof buf);
            printf("  %5ld %10.4f %10.4f %6d  %s\n", i + 1, s->score[i], s->raw[i], s->nodes[i],
                   buf);
        }
    }
cleanup:
    ab_units_destroy(&us);
    return rc;
}

/* Loads several units files of one space; errors name the odd one out. */
static ab_status load_units(char **paths, int n, struct ab_units **us)
{
    for (int i = 0; i < n; i++) {
        AB_TRY(ab_units_load(paths[i], &us[i]));
        if (i > 0 && strcmp(us[i]->space->definition, us[0]->space->definition))
            return ab_err_set(AB_ERR_INPUT, "%s is a units file of space '%s', but %s is of '%s'; "
                              "give units files of one space", paths[i], us[i]->space->name,
                              paths[0], us[0]->space->name);
    }
    return AB_OK;
}

/* ---------------------------------------------------------------------- */
/* reduce                                                                  */

static const char reduce_help[] =
    "usage: autobuild reduce --units U1.h5 [--units U2.h5 ...] --k K[,K2,...] --out S.h5\n"
    "                        [--resolution R[,R...]]\n"
    "\n"
    "Builds a reduced search space (METHOD.md section 5): per unit, the union over\n"
    "the given units files (predictors of several targets) of their top-K\n"
    "subgraphs; the reduced space is the product over units. One K for all units\n"
    "or one per unit. Prints the reduced space's size. The file\n"
    "(hdf5-schemas/reduced-space.md) is a space: 'autobuild data sample --space\n"
    "S.h5', 'autobuild space info S.h5' and the search use it.\n"
    "\n"
    "  --resolution L   resolutions the reduced space samples from (default: the\n"
    "                   one the subgraphs were scored at)\n"
    "  --select S       unconstrained (default): the top K of each unit regardless of\n"
    "                   size; constrained: the top K of each size (layer count) in\n"
    "                   each unit (METHOD.md section 5)\n";

ab_status ab_cmd_reduce(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"units", required_argument, NULL, 'u'},
                                         {"k", required_argument, NULL, 'k'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"select", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    char *paths[MAX_UNIT_FILES];
    struct ab_units *us[MAX_UNIT_FILES] = {0};
    struct ab_space *sp = NULL;
    int constrained = 0, n_units, per_resolution;
    int n_files = 0, ks[AB_MAX_STAGES], n_k = 0, res[64], n_res = 0, o;
    const char *out = NULL;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            AB_CHECK(n_files < MAX_UNIT_FILES, AB_ERR_INPUT, "at most %d --units", MAX_UNIT_FILES);
            paths[n_files++] = optarg;
            break;
        case 'k': AB_CALL(ab_cli_int_list("--k", optarg, AB_MAX_STAGES, ks, &n_k)); break;
        case 'o': out = optarg; break;
        case 'r': AB_CALL(ab_cli_int_list("--resolution", optarg, 64, res, &n_res)); break;
        case 's':
            AB_CHECK(!strcmp(optarg, "constrained") || !strcmp(optarg, "unconstrained"),
                     AB_ERR_INPUT, "--select: expected constrained or unconstrained, got '%s'",
                     optarg);
            constrained = !strcmp(optarg, "constrained");
            break;
        case 'h': fputs(reduce_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!n_files || !n_k || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--units, --k and --out are required");
        goto cleanup;
    }
    AB_CALL(load_units(paths, n_files, us));
    n_units = us[0]->space->n_units;
    AB_CHECK(n_k == 1 || n_k == n_units, AB_ERR_INPUT,
             "--k: give one K or one per unit (%d units), got %d values", n_units, n_k);
    for (int i = 0; i < n_k; i++) AB_CHECK(ks[i] >= 1, AB_ERR_INPUT, "--k must be at least 1");
    for (int i = 0; i < n_res; i++)
        AB_CHECK(ab_space_has_resolution(us[0]->space, res[i]), AB_ERR_INPUT,
                 "--resolution %d is not a resolution of space '%s'", res[i],
                 us[0]->space->name);
    per_resolution = n_res > 0 || us[0]->resolution > 0;
    AB_CALL(ab_units_reduce(us, n_files, ks, n_k, constrained, res, n_res, out, &sp));
    AB_CALL(ab_reduced_space_save(sp, out));
    char *size = ab_space_size_string(sp);
    printf("reduced space of %s from %d units file%s:", sp->name, n_files, n_files > 1 ? "s" : "");
    for (int u = 0; u < sp->n_units; u++) printf(" %llu", (unsigned long long)sp->allowed[u].n);
    printf(" subgraphs per unit -> %s architectures%s -> %s\n", size ? size : "?",
           per_resolution ? " per resolution" : "", out);
    free(size);
cleanup:
    for (int f = 0; f < n_files; f++) ab_units_destroy(&us[f]);
    ab_space_destroy(&sp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* build: exact best-first enumeration of the top-N combinations           */

struct cand {
    double score;
    int config;                  /* the configuration whose lists idx points into */
    int last;                    /* last coordinate incremented (tree parent rule) */
    int idx[AB_MAX_STAGES];
};

struct heap {
    struct cand *a;
    long n, cap;
};

static int heap_push(struct heap *h, const struct cand *c)
{
    if (h->n == h->cap) {
        long nc = h->cap ? 2 * h->cap : 1024;
        struct cand *na = realloc(h->a, sizeof *na * (size_t)nc);
        if (!na) return -1;
        h->a = na;
        h->cap = nc;
    }
    long i = h->n++;
    h->a[i] = *c;
    while (i > 0 && h->a[(i - 1) / 2].score < h->a[i].score) {
        struct cand t = h->a[i];
        h->a[i] = h->a[(i - 1) / 2];
        h->a[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static struct cand heap_pop(struct heap *h)
{
    struct cand top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (long i = 0;;) {
        long l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->a[l].score > h->a[m].score) m = l;
        if (r < h->n && h->a[r].score > h->a[m].score) m = r;
        if (m == i) break;
        struct cand t = h->a[i];
        h->a[i] = h->a[m];
        h->a[m] = t;
        i = m;
    }
    return top;
}

struct pair {
    double value;
    uint64_t index;
};

static int by_value(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->value > y->value) return -1;
    if (x->value < y->value) return 1;
    return x->index < y->index ? -1 : 1;
}

static const char build_help[] =
    "usage: autobuild build --units U1.h5 [--units U2.h5 ...] --top N [--resolution R]\n"
    "                       [--scores]\n"
    "\n"
    "Constructs the N architectures with the highest summed unit scores (METHOD.md\n"
    "section 5, direct construction): exact best-first enumeration over the units'\n"
    "sorted score lists, not sampling. With several units files (predictors of\n"
    "several targets), a subgraph's score is the sum of its scores. Prints\n"
    "canonical JSON lines, best first ('SCORE<TAB>ARCH' with --scores). In spaces\n"
    "whose units are coupled (sd_unet's channel rules) only valid architectures\n"
    "are constructed: the enumeration runs per channel configuration.\n"
    "\n"
    "  --resolution R   the architectures' resolution (default: the one the\n"
    "                   subgraphs were scored at)\n";

ab_status ab_cmd_build(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"units", required_argument, NULL, 'u'},
                                         {"top", required_argument, NULL, 't'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"scores", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    char *paths[MAX_UNIT_FILES];
    struct ab_units *us[MAX_UNIT_FILES] = {0};
    struct heap h = {0};
    long top = -1, res = -1;
    int n_files = 0, scores = 0, o;
    /* per unit: subgraph indices and combined scores, best first */
    uint64_t *sub[AB_MAX_STAGES] = {0};
    double *val[AB_MAX_STAGES] = {0};
    long cnt[AB_MAX_STAGES] = {0};
    long **cpos = NULL, *ccnt = NULL;
    char buf[4096];
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            AB_CHECK(n_files < MAX_UNIT_FILES, AB_ERR_INPUT, "at most %d --units", MAX_UNIT_FILES);
            paths[n_files++] = optarg;
            break;
        case 't': AB_CALL(ab_cli_int("--top", optarg, 1, 100000000, &top)); break;
        case 'r': AB_CALL(ab_cli_int("--resolution", optarg, 1, 100000, &res)); break;
        case 's': scores = 1; break;
        case 'h': fputs(build_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!n_files || top < 1 || optind != argc) {
        rc = ab_cli_usage(argv[0], "--units and --top are required");
        goto cleanup;
    }
    AB_CALL(load_units(paths, n_files, us));
    const struct ab_space *sp = us[0]->space;
    if (res < 0) res = us[0]->resolution;
    AB_CHECK(res == 0 ? sp->n_resolutions == 0 : ab_space_has_resolution(sp, (int)res),
             AB_ERR_INPUT, "--resolution %ld is not a resolution of space '%s'", res, sp->name);
    for (int u = 0; u < sp->n_units; u++) {
        long n = us[0]->u[u].n;
        double *sum = calloc((size_t)n, sizeof(double)); /* by subgraph index */
        AB_CHECK_ALLOC(sum);
        for (int f = 0; f < n_files; f++)
            for (long i = 0; i < n; i++) sum[us[f]->u[u].index[i]] += us[f]->u[u].score[i];
        /* order by combined score: with one file it is the file's order */
        sub[u] = malloc(sizeof(uint64_t) * (size_t)n);
        val[u] = malloc(sizeof(double) * (size_t)n);
        if (!sub[u] || !val[u]) {
            free(sum);
            AB_FAIL(AB_ERR_NOMEM, "out of memory");
        }
        for (long i = 0; i < n; i++) sub[u][i] = us[0]->u[u].index[i];
        for (long i = 0; i < n; i++) val[u][i] = sum[sub[u][i]];
        if (n_files > 1) {
            struct pair *pr = malloc(sizeof *pr * (size_t)n);
            if (!pr) {
                free(sum);
                AB_FAIL(AB_ERR_NOMEM, "out of memory");
            }
            for (long i = 0; i < n; i++) pr[i] = (struct pair){val[u][i], sub[u][i]};
            qsort(pr, (size_t)n, sizeof *pr, by_value);
            for (long i = 0; i < n; i++) {
                sub[u][i] = pr[i].index;
                val[u][i] = pr[i].value;
            }
            free(pr);
        }
        cnt[u] = n;
        free(sum);
    }
    /* Spaces whose units are coupled (the U-Net's channel rules) split into
     * configurations; within one, units are independent. Per configuration,
     * each unit's list keeps the subgraphs that configuration allows, in the
     * combined-score order; every configuration's best tuple seeds one heap.
     * A tuple's children increment one coordinate at or after its last
     * incremented one, so every tuple is reached exactly once and scores
     * never increase down the tree: the pops are the exact top N. */
    int n_cfg = ab_space_n_configs(sp) > 0 ? ab_space_n_configs(sp) : 1;
    cpos = calloc((size_t)n_cfg * AB_MAX_STAGES, sizeof *cpos);
    ccnt = calloc((size_t)n_cfg * AB_MAX_STAGES, sizeof *ccnt);
    AB_CHECK(cpos && ccnt, AB_ERR_NOMEM, "out of memory");
    for (int c = 0; c < n_cfg; c++) {
        int empty = 0;
        for (int u = 0; u < sp->n_units; u++) {
            long *list = malloc(sizeof(long) * (size_t)(cnt[u] ? cnt[u] : 1)), k = 0;
            AB_CHECK_ALLOC(list);
            for (long i = 0; i < cnt[u]; i++)
                if (ab_space_config_allows(sp, c, u, sub[u][i])) list[k++] = i;
            cpos[c * AB_MAX_STAGES + u] = list;
            ccnt[c * AB_MAX_STAGES + u] = k;
            if (k == 0) empty = 1;
        }
        if (empty) continue;
        struct cand root = {0};
        root.config = c;
        for (int u = 0; u < sp->n_units; u++) root.score += val[u][cpos[c * AB_MAX_STAGES + u][0]];
        AB_CHECK(heap_push(&h, &root) == 0, AB_ERR_NOMEM, "out of memory");
    }
    for (long emitted = 0; emitted < top && h.n > 0; emitted++) {
        struct cand best = heap_pop(&h);
        long *const *lists = cpos + best.config * AB_MAX_STAGES;
        const long *lens = ccnt + best.config * AB_MAX_STAGES;
        struct ab_arch a;
        memset(&a, 0, sizeof a);
        a.resolution = (int)res;
        for (int u = 0; u < sp->n_units; u++) {
            struct ab_subgraph g;
            AB_CALL(ab_space_unit_subgraph(sp, u, sub[u][lists[u][best.idx[u]]], &g));
            ab_arch_set_unit(sp, &a, &g);
        }
        AB_CALL(ab_arch_validate(sp, &a));
        ab_arch_format_json(sp, &a, buf, sizeof buf);
        if (scores) printf("%.6f\t%s\n", best.score, buf);
        else printf("%s\n", buf);
        for (int u = best.last; u < sp->n_units; u++) {
            if (best.idx[u] + 1 >= lens[u]) continue;
            struct cand ch = best;
            ch.idx[u]++;
            ch.last = u;
            ch.score = best.score - val[u][lists[u][best.idx[u]]] + val[u][lists[u][ch.idx[u]]];
            AB_CHECK(heap_push(&h, &ch) == 0, AB_ERR_NOMEM, "out of memory");
        }
    }
cleanup:
    free(h.a);
    if (cpos) {
        int n_cfg_free = ab_space_n_configs(us[0]->space) > 0 ? ab_space_n_configs(us[0]->space) : 1;
        for (long i = 0; i < (long)n_cfg_free * AB_MAX_STAGES; i++) free(cpos[i]);
    }
    free(cpos);
    free(ccnt);
    for (int u = 0; u < AB_MAX_STAGES; u++) {
        free(sub[u]);
        free(val[u]);
    }
    for (int f = 0; f < n_files; f++) ab_units_destroy(&us[f]);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* exhaustive: the baseline that ranks every architecture                  */

struct ranked {
    double score;
    uint64_t index;
};

/* A min-heap of the best `cap` entries seen. */
static void keep_best(struct ranked *h, long *n, long cap, struct ranked r)
{
    if (*n < cap) {
        long i = (*n)++;
        h[i] = r;
        while (i > 0 && h[(i - 1) / 2].score > h[i].score) {
            struct ranked t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    if (r.score <= h[0].score) return;
    h[0] = r;
    for (long i = 0;;) {
        long l = 2 * i + 1, rr = l + 1, m = i;
        if (l < *n && h[l].score < h[m].score) m = l;
        if (rr < *n && h[rr].score < h[m].score) m = rr;
        if (m == i) break;
        struct ranked t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int by_rank_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return x->index < y->index ? -1 : 1;
}

static const char exhaustive_help[] =
    "usage: autobuild exhaustive --ensemble E.h5 --top N [--space S] [--resolution R]\n"
    "                            [--batch B]\n"
    "\n"
    "The exhaustive-search baseline of METHOD.md section 5: ranks EVERY architecture\n"
    "of a space small enough to enumerate (at most 10^10) by an ensemble's\n"
    "SRCC-weighted prediction (the sum over members of each member's standardised\n"
    "prediction times its held-out test SRCC; train the ensemble with\n"
    "'autobuild train --folds F --seeds S --lambda 0' for plain MSE predictors),\n"
    "streaming in batches with constant memory. Under mpirun the ranks split the\n"
    "architectures and rank 0 merges their best N. Prints 'SCORE<TAB>ARCH' lines,\n"
    "best first. Invalid architectures of constrained spaces are skipped.\n"
    "\n"
    "  --space S        the space to enumerate (default: the ensemble's; a reduced\n"
    "                   space from 'autobuild reduce' enumerates only its subsets)\n"
    "  --resolution R   resolution of every architecture (default as 'label')\n"
    "  --batch B        architectures per forward pass (default 2048)\n";

ab_status ab_cmd_exhaustive(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"ensemble", required_argument, NULL, 'e'},
                                         {"top", required_argument, NULL, 't'},
                                         {"space", required_argument, NULL, 's'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ensemble *ens = NULL;
    struct ab_space *sp = NULL;
    struct ab_arch *archs = NULL;
    uint64_t *ids = NULL;
    float *out = NULL;
    struct ranked *best = NULL, *all = NULL;
    const char *path = NULL, *space = NULL;
    long top = -1, res = -1, batch = 2048, n_best = 0;
    int o;
    double t0 = now_s();
    char buf[4096];
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'e': path = optarg; break;
        case 't': AB_CALL(ab_cli_int("--top", optarg, 1, 1000000, &top)); break;
        case 's': space = optarg; break;
        case 'r': AB_CALL(ab_cli_int("--resolution", optarg, 1, 100000, &res)); break;
        case 'b': AB_CALL(ab_cli_int("--batch", optarg, 1, 1 << 20, &batch)); break;
        case 'h': if (rt->rank == 0) fputs(exhaustive_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!path || top < 1 || optind != argc) {
        rc = ab_cli_usage(argv[0], "--ensemble and --top are required");
        goto cleanup;
    }
    AB_CALL(ab_ensemble_load(path, &ens));
    /* the ranks are the parallelism (one per core); OpenBLAS threads on
     * these small GEMMs only add synchronisation (1.3x slower with 2) */
    openblas_set_num_threads(1);
    if (space) {
        AB_CALL(ab_space_open(space, &sp));
        AB_CHECK(!strcmp(sp->name, ens->member[0]->space->name), AB_ERR_INPUT,
                 "--space %s is of space '%s', the ensemble of '%s'", space, sp->name,
                 ens->member[0]->space->name);
    } else {
        AB_CALL(ab_space_from_definition(ens->member[0]->space->definition, path, &sp));
    }
    if (res < 0) res = default_resolution(sp);
    AB_CHECK(res == 0 ? sp->n_resolutions == 0 : ab_space_has_resolution(sp, (int)res),
             AB_ERR_INPUT, "--resolution %ld is not a resolution of space '%s'", res, sp->name);
    AB_CHECK(ab_space_size_log10(sp) <= 10.0, AB_ERR_INPUT,
             "space '%s' has 10^%.1f architectures; exhaustive search enumerates at most 10^10 "
             "(reduce it first with 'autobuild reduce')", sp->name, ab_space_size_log10(sp));
    /* ab_space_arch_at numbers the valid architectures only (coupled spaces
     * such as sd_unet enumerate per configuration) */
    char *size_text = ab_space_size_string(sp);
    AB_CHECK_ALLOC(size_text);
    uint64_t total = strtoull(size_text, NULL, 10);
    free(size_text);
    /* ranks take whole batches, so every architecture is scored in the same
     * batch whatever the number of ranks: results are bit-identical */
    uint64_t n_batches = (total + (uint64_t)batch - 1) / (uint64_t)batch;
    uint64_t lo = n_batches * (uint64_t)rt->rank / (uint64_t)rt->size * (uint64_t)batch;
    uint64_t hi = n_batches * (uint64_t)(rt->rank + 1) / (uint64_t)rt->size * (uint64_t)batch;
    if (lo > total) lo = total;
    if (hi > total) hi = total;
    archs = malloc(sizeof *archs * (size_t)batch);
    ids = malloc(sizeof *ids * (size_t)batch);
    out = malloc(sizeof *out * (size_t)batch);
    best = malloc(sizeof *best * (size_t)top);
    AB_CHECK(archs && ids && out && best, AB_ERR_NOMEM, "out of memory");
    double *acc = malloc(sizeof(double) * (size_t)batch);
    AB_CHECK_ALLOC(acc);
    for (uint64_t s = lo; s < hi;) {
        long n = 0;
        while (s < hi && n < batch) {
            if (ab_space_arch_at(sp, s, (int)res, &archs[n]) == AB_OK &&
                ab_arch_validate(sp, &archs[n]) == AB_OK)
                ids[n++] = s;
            s++;
        }
        ab_err_clear();
        for (long i = 0; i < n; i++) acc[i] = 0;
        for (int m = 0; m < ens->n; m++) {
            struct ab_predictor *p = ens->member[m];
            double w = isfinite(p->test_srcc) && p->test_srcc > 0 ? p->test_srcc : 0.0;
            if (ab_pred_eval_archs(p, archs, n, (int)batch, out, NULL, NULL) != AB_OK) {
                free(acc);
                rc = ab_err_status();
                goto cleanup;
            }
            for (long i = 0; i < n; i++) acc[i] += w * out[i];
        }
        for (long i = 0; i < n; i++) keep_best(best, &n_best, top, (struct ranked){acc[i], ids[i]});
    }
    free(acc);
    /* gather every rank's best on rank 0 */
    long n_all = n_best;
    if (rt->mpi && rt->size > 1) {
        int mine = (int)n_best * (int)sizeof(struct ranked), *counts = NULL, *displs = NULL;
        if (rt->rank == 0) {
            counts = malloc(sizeof(int) * (size_t)rt->size);
            displs = malloc(sizeof(int) * (size_t)rt->size);
            AB_CHECK(counts && displs, AB_ERR_NOMEM, "out of memory");
        }
        AB_MPI(MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, rt->comm));
        if (rt->rank == 0) {
            n_all = 0;
            for (int r = 0; r < rt->size; r++) {
                displs[r] = (int)(n_all * (long)sizeof(struct ranked));
                n_all += counts[r] / (long)sizeof(struct ranked);
            }
            all = malloc(sizeof *all * (size_t)(n_all ? n_all : 1));
            if (!all) {
                free(counts);
                free(displs);
                AB_FAIL(AB_ERR_NOMEM, "out of memory");
            }
        }
        int mpi_rc = MPI_Gatherv(best, mine, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, rt->comm);
        free(counts);
        free(displs);
        if (mpi_rc != MPI_SUCCESS) {
            rc = ab_mpi_error(mpi_rc, "MPI_Gatherv");
            goto cleanup;
        }
    } else {
        all = best;
        best = NULL;
    }
    if (rt->rank != 0) goto cleanup;
    qsort(all, (size_t)n_all, sizeof *all, by_rank_desc);
    for (long i = 0; i < n_all && i < top; i++) {
        struct ab_arch a;
        AB_CALL(ab_space_arch_at(sp, all[i].index, (int)res, &a));
        ab_arch_format_json(sp, &a, buf, sizeof buf);
        printf("%.6f\t%s\n", all[i].score, buf);
    }
    AB_LOG_I("ranked %llu architectures of %s with %d predictors on %d rank%s in %.1f s",
             (unsigned long long)total, sp->name, ens->n, rt->size, rt->size > 1 ? "s" : "",
             now_s() - t0);
cleanup:
    free(archs);
    free(ids);
    free(out);
    free(best);
    free(all);
    ab_space_destroy(&sp);
    ab_ensemble_destroy(&ens);
    return rc;
}
