/* SPDX-License-Identifier: MIT
 *
 * importance.h - reading the FE-MLP (METHOD.md section 2): each node-feature
 * category maps its value to one scalar through its own small module, so
 * |FE-MLP(value)| is directly the importance of that value (the paper's
 * Fig. 3 / Table 3). Used by `autobuild explain` and `autobuild plot
 * importance`.
 */
#ifndef AB_PREDICTOR_IMPORTANCE_H
#define AB_PREDICTOR_IMPORTANCE_H

#include <stddef.h>
#include <stdio.h>

#include "predictor/model.h"

/* The 0-hop score of feature f at value x: |Linear(embed[x])| for a
 * categorical feature (x a valid index), |Linear(Linear(x))| for a numeric
 * one. Can't fail. */
double ab_pred_fe_score(const struct ab_predictor *p, int f, double x);

/* A human label for value v of categorical feature f ("stage 2", "k5",
 * "e6", a choice or attribute name, "res_512" ...). Can't fail. */
void ab_pred_fe_label(const struct ab_space *sp, int f, int v, char *buf, size_t cap);

/* The numeric resolution feature's input for resolution r (seqgraph.h's
 * encoding: (r - 192) / 32 for OFA, scaled to [0, 1] for YAML spaces). */
double ab_pred_resolution_input(const struct ab_space *sp, int r);

/* The distinct values (at most cap, in order first seen) that the space's
 * choices give the numeric attribute named `name`; returns how many (0 when
 * there is no such attribute). Can't fail. */
int ab_pred_attr_values(const struct ab_space *sp, const char *name, double *out, int cap);

/* One value of one node-feature category and its 0-hop score. */
struct ab_pred_importance {
    char feature[32];   /* the category: "stage", "kernel", "resolution" ... */
    char label[64];     /* the value, as ab_pred_fe_label names it */
    double score;
};

/* Every (category, value, score) of the predictor, in the space's feature
 * order: categorical features by value (OFA: only the stages the space
 * has), the resolution at the space's resolutions (every 4th when there
 * are more than 8), other numeric attributes at the values the space's
 * choices take. *out is malloc'd (free it); AB_ERR_NOMEM only. */
ab_status ab_pred_importance_list(const struct ab_predictor *p, struct ab_pred_importance **out,
                                  int *n);

/* Writes one Markdown bullet per feature category: its values from the
 * most to the least important with their scores ("- **kernel**: k7 0.91 >
 * k5 0.55 > k3 0.12"). AB_ERR_NOMEM only. */
ab_status ab_pred_importance_write_ranked(FILE *f, const struct ab_predictor *p);

#endif
