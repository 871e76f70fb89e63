/* SPDX-License-Identifier: MIT
 *
 * predictor_plot.h - the pictures of what a predictor learned, shared by
 * `autobuild plot` and the campaign report:
 *
 *   ab_report_arch_png        one architecture as its sequence graph, every
 *                             layer coloured by the norm of its embedding,
 *                             one PNG per hop (Graphviz)
 *   ab_report_importance_png  the FE-MLP score of every feature value
 *   ab_report_hops_png        the test SRCC of ||h_G|| per hop (gnuplot)
 *
 * `name` is how the predictor is named in titles (its file name). PNGs are
 * written atomically (report/plot.h).
 */
#ifndef AB_REPORT_PREDICTOR_PLOT_H
#define AB_REPORT_PREDICTOR_PLOT_H

#include <stddef.h>

#include "predictor/model.h"
#include "space/space.h"
#include "util/error.h"

/* F.png -> F_hop<l>.png (the suffix goes before the extension, if any). */
ab_status ab_report_hop_path(const char *out, int hop, char *buf, size_t cap);

/* Draws the architecture at hop `one_hop` into out, or (one_hop < 0) every
 * hop into ab_report_hop_path(out, l). */
ab_status ab_report_arch_png(struct ab_predictor *p, const char *name, const struct ab_arch *a,
                             int one_hop, const char *out);

ab_status ab_report_importance_png(const struct ab_predictor *p, const char *name,
                                   const char *out);

ab_status ab_report_hops_png(const struct ab_predictor *p, const char *name, const char *out);

#endif /* AB_REPORT_PREDICTOR_PLOT_H */
