/* SPDX-License-Identifier: MIT
 *
 * This file implements the FE-MLP importance read-out (importance.h).
 */
#include "predictor/importance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double ab_pred_fe_score(const struct ab_predictor *p, int f, double x)
{
    const struct ab_pred_fe *fe = &p->fe[f];
    if (fe->card > 0) {
        int v = (int)x;
        double s = fe->b[0];
        for (int k = 0; k < fe->dim; k++) s += (double)fe->w[k] * fe->embed[v * fe->dim + k];
        return fabs(s);
    }
    double s = fe->b1[0];
    for (int k = 0; k < 3; k++) s += (double)fe->w1[k] * ((double)fe->w0[k] * x + fe->b0[k]);
    return fabs(s);
}

void ab_pred_fe_label(const struct ab_space *sp, int f, int v, char *buf, size_t cap)
{
    const char *name = sp->features[f].name;
    int ofa = sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN;
    if (ab_space_feature_label(sp, f, v, buf, cap)) return; /* spaces that name their own */
    if (!strcmp(name, "stage")) snprintf(buf, cap, "stage %d", v + 1);
    else if (!strcmp(name, "layer")) snprintf(buf, cap, "layer %d", v + 1);
    else if (ofa && !strcmp(name, "family")) snprintf(buf, cap, "mbconv%d", v + 2);
    else if (ofa && !strcmp(name, "expansion")) snprintf(buf, cap, "e%d", v == 0 ? 3 : v == 1 ? 4 : 6);
    else if (ofa && !strcmp(name, "kernel")) snprintf(buf, cap, "k%d", 3 + 2 * v);
    else if (!ofa && !strcmp(name, "choice")) {
        size_t len = 0;
        buf[0] = '\0';
        for (int s = 0; s < sp->n_stages && len + 2 < cap; s++) {
            if (v >= sp->stages[s].n_choices) continue;
            const char *c = sp->stages[s].choices[v].name;
            if (strstr(buf, c)) continue;
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "/" : "", c);
        }
    } else {
        for (int a = 0; a < sp->n_attrs; a++)
            if (!strcmp(sp->attrs[a].name, name) && !sp->attrs[a].numeric &&
                v < sp->attrs[a].n_values) {
                snprintf(buf, cap, "%s", sp->attrs[a].values[v]);
                return;
            }
        snprintf(buf, cap, "%d", v);
    }
}

double ab_pred_resolution_input(const struct ab_space *sp, int r)
{
    if (sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN) return (r - 192) / 32.0;
    int lo = sp->resolutions[0], hi = sp->resolutions[sp->n_resolutions - 1];
    return (double)(r - lo) / (hi - lo > 1 ? hi - lo : 1);
}

int ab_pred_attr_values(const struct ab_space *sp, const char *name, double *out, int cap)
{
    int n = 0;
    for (int a = 0; a < sp->n_attrs; a++) {
        if (strcmp(sp->attrs[a].name, name)) continue;
        for (int s = 0; s < sp->n_stages; s++)
            for (int c = 0; c < sp->stages[s].n_choices && n < cap; c++) {
                double v = sp->stages[s].choices[c].attr[a];
                int dup = 0;
                for (int k = 0; k < n; k++) dup |= out[k] == v;
                if (!dup) out[n++] = v;
            }
    }
    return n;
}

static ab_status add_score(struct ab_pred_importance **items, int *n, int *cap,
                           const char *feature, const char *label, double s)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        struct ab_pred_importance *ni = realloc(*items, sizeof *ni * (size_t)nc);
        if (!ni) return ab_err_set(AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
        *items = ni;
        *cap = nc;
    }
    struct ab_pred_importance *it = &(*items)[(*n)++];
    snprintf(it->feature, sizeof it->feature, "%s", feature);
    snprintf(it->label, sizeof it->label, "%s", label);
    it->score = s;
    return AB_OK;
}

ab_status ab_pred_importance_list(const struct ab_predictor *p, struct ab_pred_importance **out,
                                  int *n_out)
{
    ab_status rc = AB_OK;
    const struct ab_space *sp = p->space;
    struct ab_pred_importance *items = NULL;
    int n = 0, cap = 0;
    char label[64];
    for (int f = 0; f < p->n_fe; f++) {
        const struct ab_feature *ft = &sp->features[f];
        if (ft->cardinality > 0) {
            int card = ft->cardinality;
            if (!strcmp(ft->name, "stage") && card > sp->n_stages) card = sp->n_stages;
            for (int v = 0; v < card; v++) {
                ab_pred_fe_label(sp, f, v, label, sizeof label);
                AB_CALL(add_score(&items, &n, &cap, ft->name, label, ab_pred_fe_score(p, f, v)));
            }
        } else if (sp->n_resolutions > 0 && !strcmp(ft->name, "resolution")) {
            for (int i = 0; i < sp->n_resolutions; i += (sp->n_resolutions > 8 ? 4 : 1)) {
                int r = sp->resolutions[i];
                snprintf(label, sizeof label, "%d", r);
                AB_CALL(add_score(&items, &n, &cap, ft->name, label,
                                  ab_pred_fe_score(p, f, ab_pred_resolution_input(sp, r))));
            }
        } else {
            double seen[64];
            int ns = ab_pred_attr_values(sp, ft->name, seen, 64);
            for (int k = 0; k < ns; k++) {
                snprintf(label, sizeof label, "%g", seen[k]);
                AB_CALL(add_score(&items, &n, &cap, ft->name, label,
                                  ab_pred_fe_score(p, f, seen[k])));
            }
        }
    }
    *out = items;
    *n_out = n;
    items = NULL;
cleanup:
    free(items);
    return rc;
}

ab_status ab_pred_importance_write_ranked(FILE *f, const struct ab_predictor *p)
{
    struct ab_pred_importance *it = NULL;
    int n = 0;
    AB_TRY(ab_pred_importance_list(p, &it, &n));
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(it[j].feature, it[i].feature)) j++;
        /* selection by score, descending (categories have few values) */
        fprintf(f, "- **%s**: ", it[i].feature);
        for (int k = i; k < j; k++) {
            int best = k;
            for (int q = k + 1; q < j; q++)
                if (it[q].score > it[best].score) best = q;
            struct ab_pred_importance t = it[k];
            it[k] = it[best];
            it[best] = t;
            fprintf(f, "%s%s %.3f", k > i ? " > " : "", it[k].label, it[k].score);
        }
        fputc('\n', f);
        i = j;
    }
    free(it);
    return AB_OK;
}
