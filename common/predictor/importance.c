/* SPDX-License-Identifier: MIT
 *
 * This file implements the FE-MLP importance read-out (importance.h).
 */
#include "predictor/importance.h"

#include <math.h>
#include <stdio.h>
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
