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

ab_status ab_units_save(const struct ab_units *us, const char *path);
ab_status ab_units_load(const char *path, struct ab_units **out);
void ab_units_destroy(struct ab_units **us);

#endif
