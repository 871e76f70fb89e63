/* SPDX-License-Identifier: MIT
 *
 * search_report.h - the files that summarise a search store (common/store,
 * hdf5-schemas/store.md): the final Pareto front as CSV, the per-iteration
 * history as CSV and a two-panel PNG (gnuplot, via report/plot.h). The store
 * is only read (ab_store_read: snapshot plus the journal's complete
 * records), so it works on finished stores and on live or interrupted ones.
 *
 *     // after `autobuild search` (or while it runs)
 *     if (ab_search_report_files("run.h5", "front.csv", "history.csv", "run.png"))
 *         fprintf(stderr, "%s\n", ab_err_msg());   // one line naming the file
 *
 * What is written:
 *   front CSV    header `seq,<metric>...,arch`; one row per member of the
 *                front of the last recorded iteration (the highest
 *                iteration number), in the store's order; metrics as %.17g,
 *                empty when not a number; arch is the canonical JSON,
 *                double-quoted with inner quotes doubled (RFC 4180).
 *   history CSV  header `iteration,evaluations,unique,failed,front_size,
 *                hypervolume`; one row per recorded iteration.
 *   PNG          left: every successful evaluation (grey) in the space of
 *                the first two objectives, axes "<metric> (max|min)", the
 *                front highlighted as points joined by its attainment
 *                staircase; right: hypervolume against evaluations spent,
 *                one point per iteration. With more than two objectives the
 *                first two are drawn and the title says so. The objectives
 *                and their directions come from the store's identity JSON
 *                ("objectives": [{"metric", "max"}]); a store without them
 *                falls back to the first two metric columns, unlabelled.
 *
 * Every output is written under a temporary name beside its destination
 * and renamed into place; the CSVs are renamed only after the picture
 * succeeded, so a failure leaves no new file and never damages an existing
 * one (there is no partial output).
 */
#ifndef AB_REPORT_SEARCH_REPORT_H
#define AB_REPORT_SEARCH_REPORT_H

#include <stdio.h>

#include "util/error.h"

struct ab_store;
struct ab_dataset;

/* Reads the store at store_path and writes the outputs that are not NULL
 * (all NULL: only checks that the store reads). Errors are one line that
 * names the file: AB_ERR_INPUT when store_path is not a readable store or
 * its objectives name no stored metric, AB_ERR_IO when an output cannot be
 * created or written or gnuplot is missing or fails (the line then says to
 * install gnuplot-nox). On failure no output file is created or changed. */
ab_status ab_search_report_files(const char *store_path, const char *front_csv,
                                 const char *history_csv, const char *png);

/* The same for a store already read (ab_store_read or ab_store_open); the
 * store is not modified. Error text names st->path for store problems. */
ab_status ab_search_report_write(const struct ab_store *st, const char *front_csv,
                                 const char *history_csv, const char *png);

/* Writes the front CSV / the history CSV described above to a stream.
 * Fails (AB_ERR_IO) when the stream reports a write error. */
ab_status ab_search_report_front_csv(const struct ab_store *st, FILE *f);
ab_status ab_search_report_history_csv(const struct ab_store *st, FILE *f);

/* Writes the gnuplot script of the two-panel picture (everything after the
 * terminal and output lines, ending with `unset multiplot`) and its size
 * in pixels into *width, *height. Fails (AB_ERR_INPUT) when an objective of
 * the identity is not a metric column of the store, (AB_ERR_IO) when the
 * stream reports a write error. A store without evaluations or iterations
 * gives empty panels that say so, not an error. */
ab_status ab_search_report_write_gnuplot(const struct ab_store *st, FILE *f, int *width,
                                         int *height);

/* One picture comparing searches of the same objectives (at most 6, the
 * first two objectives with known directions): left, each store's final
 * front (points and attainment staircase, labels[i] in the key) over the
 * labelled data's points (grey; data NULL for none, and none with a warning
 * when data lacks one of the two objectives' metrics);
 * right, each search's hypervolume against evaluations. AB_ERR_INPUT when
 * a store cannot be read or the objectives differ; AB_ERR_IO from gnuplot.
 * The PNG is written atomically. */
ab_status ab_search_report_compare_png(const char *const *stores, const char *const *labels,
                                       int n, const struct ab_dataset *data,
                                       const char *png);

#endif /* AB_REPORT_SEARCH_REPORT_H */
