/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of the CSV importer: an import
 * that succeeds must export to CSV that imports to the same dataset.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

static struct ab_space *sp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ab_dataset *d = NULL, *e = NULL;
    char *buf = NULL;
    size_t len = 0;
    if (!sp && ab_space_create_builtin("ofa_mbv3", &sp)) abort();
    if (ab_dataset_import_csv_text(sp, (const char *)data, size, "fuzz.csv", &d) != AB_OK)
        return 0;
    d->space = sp;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    /* export through a memory stream: same writer as the file path */
    if (ab_dataset_write_csv_stream(d, f, "memory") != AB_OK) abort();
    fclose(f);
    if (ab_dataset_import_csv_text(sp, buf, len, "again.csv", &e) != AB_OK) abort();
    if (e->n != d->n || e->n_metrics != d->n_metrics) abort();
    for (long i = 0; i < d->n; i++)
        if (!ab_arch_equal(&d->archs[i], &e->archs[i])) abort();
    if (memcmp(d->metrics, e->metrics, sizeof(double) * (size_t)d->n * (size_t)d->n_metrics))
        abort();
    d->space = NULL;
    e->space = NULL;
    ab_dataset_destroy(&d);
    ab_dataset_destroy(&e);
    free(buf);
    return 0;
}
