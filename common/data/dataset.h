/* SPDX-License-Identifier: MIT
 *
 * dataset.h - labelled-architecture datasets: architectures of one space,
 * each with the same set of numeric metrics (accuracy, latencies, FLOPs ...).
 *
 * On disk it is an HDF5 file (hdf5-schemas/archdata.md); it is imported from
 * and exported to CSV whose column `arch` holds the canonical JSON form and
 * every other column a metric:
 *
 *     arch,acc,latency_gpu
 *     "{""space"":""ofa_mbv3"",""resolution"":224,""stages"":[...]}",0.7564,11.2
 *
 * Import refuses (AB_ERR_INPUT, naming file, row and column): a missing
 * `arch` column, duplicated or badly named columns, rows with the wrong
 * number of fields, invalid architectures, the same architecture twice,
 * empty, non-numeric, NaN or infinite metrics. Every output file is written
 * to a temporary name and renamed, so a failure leaves nothing behind.
 */
#ifndef AB_DATA_DATASET_H
#define AB_DATA_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "space/space.h"

#define AB_ARCHDATA_FORMAT "autobuild-archdata"
#define AB_ARCHDATA_VERSION 1

struct ab_dataset {
    struct ab_space *space;   /* owned */
    long n;                   /* architectures */
    int n_metrics;
    char **metric_names;      /* n_metrics */
    struct ab_arch *archs;    /* n */
    uint64_t *hashes;         /* n: ab_arch_hash of each */
    double *metrics;          /* n x n_metrics, row-major */
};

/* Reads a dataset file; the space is re-created from the file. */
ab_status ab_dataset_read(const char *path, struct ab_dataset **out);

/* Writes the dataset to path atomically (temporary file + rename). */
ab_status ab_dataset_write(const struct ab_dataset *d, const char *path);

/* Imports a CSV file (see above) of architectures of space `space` (a
 * built-in name or a YAML file). */
ab_status ab_dataset_import_csv(const char *space, const char *csv_path,
                                struct ab_dataset **out);

/* Same, from a CSV text in memory; `origin` names it in errors. Takes
 * ownership of nothing. */
ab_status ab_dataset_import_csv_text(struct ab_space *sp, const char *text, size_t len,
                                     const char *origin, struct ab_dataset **out);

/* Exports to CSV atomically; "-" writes to standard output. Numbers are
 * written in the shortest form that reads back to the same double, so
 * import -> export -> import is exact. */
ab_status ab_dataset_export_csv(const struct ab_dataset *d, const char *path);

/* Writes the CSV form to an open stream; `name` names it in errors. */
ab_status ab_dataset_write_csv_stream(const struct ab_dataset *d, FILE *f, const char *name);

/* Index of a metric, or -1. */
int ab_dataset_metric_index(const struct ab_dataset *d, const char *name);

/* Frees the dataset (and its space) and sets *d to NULL. NULL-safe. When
 * the space was borrowed (import_csv_text), detach it first by setting
 * d->space = NULL. */
void ab_dataset_destroy(struct ab_dataset **d);

/* Shortest decimal form of v that strtod reads back exactly. buf >= 32. */
void ab_format_double(double v, char *buf, size_t cap);

#endif
