/* SPDX-License-Identifier: MIT
 *
 * units.h - scoring architecture modules (METHOD.md section 4, Eq. 5).
 *
 * Every subgraph of every search unit is fed to a trained predictor alone,
 * its nodes carrying their positions inside a whole architecture; its score
 * is the norm of its LAST node's embedding at hop n-1 (that node has seen
 * the whole subgraph; hops beyond the predictor's L are taken at L), shifted
 * so scores of different sizes compare (Eq. 5):
 *
 *     s' = (s - mu_hop) / sigma_hop * sigma_{unit,hop} + mu_{unit,hop}
 *
 * with the predictor's hop moments (node norms over training nodes) and
 * stage moments (training labels by unit node count). Scores are stored per
 * unit, sorted best first, in a units file (hdf5-schemas/units.md).
 */
#ifndef AB_MODULES_UNITS_H
#define AB_MODULES_UNITS_H

#include "predictor/model.h"

struct ab_unit_scores {
    long n;
    uint64_t *index;   /* [n] subgraph enumeration index (ab_space_unit_subgraph) */
    double *score;     /* [n] Eq. 5 score, descending */
    double *raw;       /* [n] the norm before the shift */
    int *nodes;        /* [n] node count */
};

struct ab_units {
    struct ab_space *space;       /* owned; not reduced */
    char *target, *predictor;
    int resolution;               /* the resolution subgraphs were scored at (0: none) */
    int n_units;
    struct ab_unit_scores u[AB_MAX_STAGES];
};

/* Scores every subgraph of every unit of p's space. `resolution` is the
 * input resolution of the subgraphs' features (0 for spaces without one).
 * Batches of `batch` subgraphs; p->threads threads. */
ab_status ab_units_score(struct ab_predictor *p, const char *predictor_path, int resolution,
                         int batch, struct ab_units **out);

/* Ensemble scoring (METHOD.md section 5, few labels): each member scores
 * every subgraph (Eq. 5); per member and unit the scores are standardised to
 * N(0,1); a subgraph's score is the sum over members of its standardised
 * score weighted by the member's held-out SRCC at the subgraph's hop
 * (negative or unknown SRCCs weigh 0). raw = the members' mean raw norm. */
ab_status ab_units_score_ensemble(struct ab_predictor **member, int n_members,
                                  const char *path, int resolution, int batch,
                                  struct ab_units **out);

/* A reduced search space (METHOD.md section 5) from n_files units files of
 * one space: per unit, the union over the files of their top-K subgraphs
 * (constrained = 1: the top K of each layer count in each unit), the space
 * being the product over units. ks holds one K for every unit (n_k = 1) or
 * one per unit. The reduced space samples from res[n_res] (n_res = 0: the
 * resolution us[0] was scored at, if any); `source` is recorded as its
 * origin (ab_space.reduced_source). Fails (AB_ERR_INPUT) when the files are
 * of different spaces, K is not positive, n_k fits neither rule or a
 * resolution is not the space's; *out is then NULL. The caller saves the
 * space (ab_reduced_space_save) and destroys it. */
ab_status ab_units_reduce(struct ab_units *const *us, int n_files, const int *ks, int n_k,
                          int constrained, const int *res, int n_res, const char *source,
                          struct ab_space **out);

ab_status ab_units_save(const struct ab_units *us, const char *path);
ab_status ab_units_load(const char *path, struct ab_units **out);
void ab_units_destroy(struct ab_units **us);

#endif
