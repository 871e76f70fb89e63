/* SPDX-License-Identifier: MIT
 *
 * This file implements the campaign's report (campaign.h,
 * ab_campaign_write_report): one folder a person opens first, with a
 * Markdown page that says what was measured, what the predictors learned
 * and how the searches compare, and the pictures it shows.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "campaign/campaign.h"
#include "data/dataset.h"
#include "predictor/checkpoint.h"
#include "predictor/ensemble.h"
#include "predictor/importance.h"
#include "report/predictor_plot.h"
#include "report/search_report.h"
#include "store/store.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MAX_OUTPUTS 64

struct outputs {
    char *name[MAX_OUTPUTS];
    int n;
};

static ab_status add_output(struct outputs *o, const char *name)
{
    if (o->n >= MAX_OUTPUTS) return ab_err_set(AB_ERR_INTERNAL, "too many report files");
    o->name[o->n] = strdup(name);
    return o->name[o->n++] ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
}

static void path_in(const struct ab_campaign *c, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", c->dir, rel);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The label of a search variant in tables and keys. */
static const char *method_name(const char *variant)
{
    if (!strcmp(variant, "autobuild_nas")) return "AutoBuild-NAS";
    if (!strcmp(variant, "stage_full")) return "Stage-Full";
    if (!strcmp(variant, "layer_full")) return "Layer-Full";
    return variant;
}

/* The front member of the store's last iteration closest to the ideal
 * point after scaling each objective to [0, 1] over the front (the knee),
 * as canonical JSON (a pointer into st). NULL when there is no front. */
static const char *knee_of(const struct ab_store *st, int *maxim, int *cols, int n_obj)
{
    const struct ab_store_iter *last = ab_store_last_iter(st);
    const char *best = NULL;
    double lo[4], hi[4], best_s = -1;
    if (!last || last->n_front == 0 || n_obj < 1 || n_obj > 4) return NULL;
    for (int k = 0; k < n_obj; k++) {
        lo[k] = INFINITY;
        hi[k] = -INFINITY;
    }
    for (int pass = 0; pass < 2; pass++)
        for (long f = 0; f < last->n_front; f++)
            for (long i = 0; i < st->n; i++) {
                if (st->ev[i].seq != last->front[f] || st->ev[i].status != 0) continue;
                double s = 0;
                for (int k = 0; k < n_obj; k++) {
                    double v = st->ev[i].metrics[cols[k]];
                    if (pass == 0) {
                        lo[k] = fmin(lo[k], v);
                        hi[k] = fmax(hi[k], v);
                    } else {
                        double t = hi[k] > lo[k] ? (v - lo[k]) / (hi[k] - lo[k]) : 1.0;
                        s += maxim[k] ? t : 1.0 - t;
                    }
                }
                if (pass == 1 && s > best_s) {
                    best_s = s;
                    best = st->ev[i].arch;
                }
            }
    return best;
}

ab_status ab_campaign_write_report(const struct ab_campaign *c,
                                   const struct ab_campaign_summary *sum, char ***out_names,
                                   int *n_out)
{
    ab_status rc = AB_OK;
    struct outputs o = {0};
    struct ab_store *st = NULL;
    struct ab_dataset *d = NULL;
    struct ab_ensemble *ens = NULL;
    char path[PATH_MAX], tmp[PATH_MAX], rel[128], md_path[PATH_MAX], md_tmp[PATH_MAX] = "";
    const char *stores[1 + AB_CAMPAIGN_MAX_BASELINES], *labels[1 + AB_CAMPAIGN_MAX_BASELINES];
    char store_paths[1 + AB_CAMPAIGN_MAX_BASELINES][PATH_MAX];
    FILE *md = NULL;
    int cols[AB_SEARCH_MAX_OBJ], maxim[AB_SEARCH_MAX_OBJ];
    time_t now = time(NULL);
    char when[64];
    *out_names = NULL;
    *n_out = 0;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", localtime(&now));
    path_in(c, "report.md", md_path, sizeof md_path);
    AB_CALL(ab_fs_temp_path(md_path, md_tmp, sizeof md_tmp));
    md = fopen(md_tmp, "w");
    AB_CHECK(md, AB_ERR_IO, "%s: cannot create: %s", md_tmp, strerror(errno));

    /* --- the data ------------------------------------------------------ */
    path_in(c, "data.h5", path, sizeof path);
    AB_CALL(ab_dataset_read(path, &d));
    fprintf(md, "# AutoBuild campaign report\n\n"
                "Campaign `%s` (configuration `%s`), space **%s**, written %s by "
                "`autobuild campaign`. Every file named here is in this folder.\n\n",
            c->dir, c->origin, c->space->name, when);
    fprintf(md, "## 1. Data\n\n%ld architectures labelled (%ld failed evaluations left out) "
                "with the metrics ", d->n, sum->failed);
    for (int k = 0; k < d->n_metrics; k++)
        fprintf(md, "%s`%s`", k ? (k == d->n_metrics - 1 ? " and " : ", ") : "",
                d->metric_names[k]);
    fprintf(md, " -> `data.h5`.\n\n| metric | min | median | max |\n|---|---:|---:|---:|\n");
    for (int k = 0; k < d->n_metrics; k++) {
        double *v = malloc(sizeof *v * (size_t)(d->n ? d->n : 1));
        long m = 0;
        AB_CHECK_ALLOC(v);
        for (long a = 0; a < d->n; a++)
            if (isfinite(d->metrics[a * d->n_metrics + k])) v[m++] = d->metrics[a * d->n_metrics + k];
        qsort(v, (size_t)m, sizeof *v, by_value);
        if (m) fprintf(md, "| %s | %.4g | %.4g | %.4g |\n", d->metric_names[k], v[0], v[m / 2],
                       v[m - 1]);
        free(v);
    }

    /* --- the predictors ------------------------------------------------ */
    fprintf(md, "\n## 2. Predictors: what drives each target\n\n"
                "| predictor | target | members | test SRCC | test SRCC of hops 0..L |\n"
                "|---|---|---:|---:|---|\n");
    for (int i = 0; i < c->n_pred; i++) {
        snprintf(rel, sizeof rel, "predictors/%s.h5", c->pred[i].name);
        path_in(c, rel, path, sizeof path);
        AB_CALL(ab_ensemble_load_any(path, &ens));
        const struct ab_predictor *p = ens->member[0];
        double srcc = 0;
        for (int m = 0; m < ens->n; m++) srcc += ens->member[m]->test_srcc / ens->n;
        fprintf(md, "| `%s` | `%s` | %d | %.3f | ", c->pred[i].name, c->pred[i].target, ens->n,
                srcc);
        for (int l = 0; l <= p->cfg.layers; l++)
            fprintf(md, "%s%.3f", l ? ", " : "", p->hop_srcc ? p->hop_srcc[l] : NAN);
        fprintf(md, " |\n");
        ab_ensemble_destroy(&ens);
    }
    fprintf(md, "\n(Ensembles: the mean test SRCC of their members; hop SRCC of the first "
                "member.) The FE-MLP maps every value of every node-feature category to one "
                "score, so these rankings are what each predictor learned matters most for its "
                "target (the paper's Fig. 3 / Table 3):\n\n");
    for (int i = 0; i < c->n_pred; i++) {
        char png[160];
        snprintf(rel, sizeof rel, "predictors/%s.h5", c->pred[i].name);
        path_in(c, rel, path, sizeof path);
        AB_CALL(ab_ensemble_load_any(path, &ens));
        fprintf(md, "### `%s` (target `%s`)\n\n", c->pred[i].name, c->pred[i].target);
        AB_CALL(ab_pred_importance_write_ranked(md, ens->member[0]));
        snprintf(png, sizeof png, "importance_%s.png", c->pred[i].name);
        path_in(c, png, tmp, sizeof tmp);
        AB_CALL(ab_report_importance_png(ens->member[0], rel, tmp));
        AB_CALL(add_output(&o, png));
        fprintf(md, "\n![FE-MLP importance, %s](%s)\n\n", c->pred[i].name, png);
        snprintf(png, sizeof png, "hops_%s.png", c->pred[i].name);
        path_in(c, png, tmp, sizeof tmp);
        AB_CALL(ab_report_hops_png(ens->member[0], rel, tmp));
        AB_CALL(add_output(&o, png));
        fprintf(md, "![test SRCC per hop, %s](%s)\n\n", c->pred[i].name, png);
        ab_ensemble_destroy(&ens);
    }

    /* --- the reduced space ---------------------------------------------- */
    {
        char *whole = ab_space_size_string(c->space);
        fprintf(md, "## 3. Reduced space\n\nThe union of every predictor's top modules per "
                    "unit (`reduced.h5`): %s architectures per resolution, against %s in the "
                    "whole space.\n\n", sum->reduced_size ? sum->reduced_size : "?",
                whole ? whole : "?");
        free(whole);
    }

    /* --- the searches --------------------------------------------------- */
    int n_st = 0;
    snprintf(store_paths[n_st], PATH_MAX, "%s/search.h5", c->dir);
    stores[n_st] = store_paths[n_st];
    labels[n_st++] = method_name("autobuild_nas");
    for (int b = 0; b < c->n_baselines; b++) {
        snprintf(store_paths[n_st], PATH_MAX, "%s/baseline-%s.h5", c->dir, c->baselines[b]);
        stores[n_st] = store_paths[n_st];
        labels[n_st++] = method_name(c->baselines[b]);
    }
    fprintf(md, "## 4. Searches\n\nBudget %ld evaluations each (%ld initial + %ld x %ld), "
                "seed %llu, objectives ", c->init + c->iterations * c->per_iteration, c->init,
            c->iterations, c->per_iteration, (unsigned long long)c->search_seed);
    for (int k = 0; k < c->n_obj; k++)
        fprintf(md, "%s`%s` (%s)", k ? " and " : "", c->obj[k].metric,
                c->obj[k].maximize ? "max" : "min");
    fprintf(md, "; AutoBuild-NAS searches the reduced space, the baselines the whole "
                "space.\n\n| method | store | evaluations | failed | front | hypervolume |\n"
                "|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_st; i++) {
        AB_CALL(ab_store_read(stores[i], &st));
        const struct ab_store_iter *last = ab_store_last_iter(st);
        fprintf(md, "| %s | `%s` | %ld | %ld | %ld | %.6g |\n", labels[i],
                strrchr(stores[i], '/') + 1, last ? last->evaluations : 0L,
                last ? last->failed : 0L, last ? last->n_front : 0L,
                last ? last->hypervolume : NAN);
        if (i == 0) {
            /* the objectives' columns, for the data points and the knee */
            for (int k = 0; k < c->n_obj; k++) {
                cols[k] = -1;
                maxim[k] = c->obj[k].maximize;
                for (int q = 0; q < st->n_metrics; q++)
                    if (!strcmp(st->metrics[q], c->obj[k].metric)) cols[k] = q;
                AB_CHECK(cols[k] >= 0, AB_ERR_INPUT, "%s: no metric '%s'", stores[0],
                         c->obj[k].metric);
            }
        }
        ab_store_close(&st);
    }
    fprintf(md, "\nThe hypervolume reference point is ");
    for (int k = 0; k < c->n_obj; k++)
        fprintf(md, "%s%s = %s", k ? ", " : "", c->obj[k].metric,
                isnan(c->obj[k].ref) ? "the worst labelled value" : "as configured");
    fprintf(md, " (the exact numbers are in `search.yaml`).\n\n");
    if (c->n_obj == 2) {
        path_in(c, "fronts.png", tmp, sizeof tmp);
        AB_CALL(ab_search_report_compare_png(stores, labels, n_st, d, tmp));
        AB_CALL(add_output(&o, "fronts.png"));
        fprintf(md, "![fronts and hypervolume](fronts.png)\n\n");
    }
    fprintf(md, "AutoBuild-NAS alone, with every evaluation: `front.png`, `front.csv`, "
                "`history.csv`.\n\n");

    /* --- the best architecture ------------------------------------------ */
    AB_CALL(ab_store_read(stores[0], &st));
    {
        const char *knee = knee_of(st, maxim, cols, c->n_obj);
        if (knee && c->n_pred > 0) {
            struct ab_arch a;
            snprintf(rel, sizeof rel, "predictors/%s.h5", c->pred[0].name);
            path_in(c, rel, path, sizeof path);
            AB_CALL(ab_ensemble_load_any(path, &ens));
            AB_CALL(ab_arch_parse_json(ens->member[0]->space, knee, &a));
            path_in(c, "best_arch.png", tmp, sizeof tmp);
            AB_CALL(ab_report_arch_png(ens->member[0], rel, &a, -1, tmp));
            fprintf(md, "## 5. An architecture of the front\n\nThe AutoBuild-NAS front member "
                        "closest to the ideal point (each objective scaled to [0, 1] over the "
                        "front):\n\n```\n%s\n```\n\nIts layers coloured by the node-embedding "
                        "norm of predictor `%s` at each hop (red: what the predictor finds "
                        "important; hop 0 is the FE-MLP output):\n\n", knee, c->pred[0].name);
            for (int l = 0; l <= ens->member[0]->cfg.layers; l++) {
                char png[64];
                snprintf(png, sizeof png, "best_arch_hop%d.png", l);
                AB_CALL(add_output(&o, png));
                fprintf(md, "![hop %d](%s)\n", l, png);
            }
            ab_ensemble_destroy(&ens);
        }
    }
    ab_store_close(&st);
    fprintf(md, "\n## Files\n\n`data.h5` labelled data, `predictors/` checkpoints, `units/` "
                "module scores (`autobuild units show`), `reduced.h5` the reduced space, "
                "`search.h5` and `baseline-*.h5` the search stores (`autobuild report`), "
                "`stamps/` what each stage was made from.\n");
    {
        int bad = ferror(md);
        bad |= fclose(md) != 0;
        md = NULL;
        AB_CHECK(!bad, AB_ERR_IO, "%s: cannot write", md_path);
    }
    AB_CALL(ab_fs_commit(md_tmp, md_path));
    md_tmp[0] = 0;
    AB_CALL(add_output(&o, "report.md"));
cleanup:
    if (md) fclose(md);
    if (md_tmp[0]) unlink(md_tmp);
    ab_ensemble_destroy(&ens);
    ab_store_close(&st);
    ab_dataset_destroy(&d);
    if (rc != AB_OK) {
        for (int i = 0; i < o.n; i++) free(o.name[i]);
        return rc;
    }
    *out_names = malloc(sizeof **out_names * (size_t)(o.n ? o.n : 1));
    if (!*out_names) {
        for (int i = 0; i < o.n; i++) free(o.name[i]);
        return ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    memcpy(*out_names, o.name, sizeof **out_names * (size_t)o.n);
    *n_out = o.n;
    return rc;
}
