/* SPDX-License-Identifier: MIT
 *
 * This file implements the `autobuild data ...` commands (sample, label,
 * import, export, info) and `autobuild quickstart`, the labelled-data
 * pipeline that chains them.
 */
#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "equation/equation.h"
#include "ofa/ofa_cost.h"
#include "predictor/checkpoint.h"
#include "space/space.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/u64map.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

/* Opens an output stream: a temporary file beside path, or stdout for "-"
 * or NULL. */
static ab_status open_out(const char *path, char *tmp, size_t cap, FILE **f)
{
    if (!path || !strcmp(path, "-")) {
        *f = stdout;
        return AB_OK;
    }
    AB_TRY(ab_fs_temp_path(path, tmp, cap));
    *f = fopen(tmp, "w");
    if (!*f) return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return AB_OK;
}

/* Closes the stream of open_out and renames it into place; on failure
 * (rc != AB_OK on entry) removes the temporary file. */
static ab_status close_out(const char *path, const char *tmp, FILE *f, ab_status rc)
{
    if (!f || f == stdout) {
        if (f && fflush(f) != 0 && !rc)
            return ab_err_set(AB_ERR_IO, "standard output: write failed");
        return rc;
    }
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (!rc && bad) rc = ab_err_set(AB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (!rc) rc = ab_fs_commit(tmp, path);
    if (rc) unlink(tmp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* sample                                                                  */

/* Draws n unique architectures (ab_arch_sample_unique); errors name --n. */
static ab_status sample_archs(const struct ab_space *sp, long n, uint64_t seed,
                              const int *res, int n_res, struct ab_arch **out)
{
    ab_status rc = ab_arch_sample_unique(sp, n, seed, res, n_res, out);
    if (rc) ab_err_prefix("--n %ld", n);
    return rc;
}

static ab_status write_jsonl(const struct ab_space *sp, const struct ab_arch *archs, long n,
                             const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096], buf[4096];
    FILE *f = NULL;
    AB_CALL(open_out(path, tmp, sizeof tmp, &f));
    for (long i = 0; i < n; i++) {
        size_t len = ab_arch_format_json(sp, &archs[i], buf, sizeof buf);
        AB_ASSERT(len < sizeof buf);
        fputs(buf, f);
        fputc('\n', f);
    }
cleanup:
    return close_out(path, tmp, f, rc);
}

static const char sample_help[] =
    "usage: autobuild data sample --space S --n N [--seed K] [--resolution R[,R...]]\n"
    "                             [--out FILE]\n"
    "\n"
    "Draws N unique random architectures of space S and prints them as JSON lines\n"
    "in canonical form. Each stage's layer count is uniform in its bounds, each\n"
    "layer's choice uniform, the resolution uniform over the sampled set (OFA\n"
    "spaces: 192, 208, 224 like the authors' data; override with --resolution).\n"
    "The same seed gives the same architectures on every machine.\n"
    "\n"
    "  --space S        built-in name (ofa_mbv3, ofa_pn) or YAML space file\n"
    "  --n N            how many (required)\n"
    "  --seed K         random seed (default 1)\n"
    "  --resolution L   comma-separated resolutions to draw from\n"
    "  --out FILE       write here (atomically) instead of standard output\n";

ab_status ab_cmd_data_sample(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"space", required_argument, NULL, 's'},
                                         {"n", required_argument, NULL, 'n'},
                                         {"seed", required_argument, NULL, 'k'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    struct ab_arch *archs = NULL;
    const char *space = NULL, *out = NULL;
    long n = -1, seed = 1;
    int res[64], n_res = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': space = optarg; break;
        case 'n': AB_CALL(ab_cli_int("--n", optarg, 0, 100000000, &n)); break;
        case 'k': AB_CALL(ab_cli_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed)); break;
        case 'r': AB_CALL(ab_cli_int_list("--resolution", optarg, 64, res, &n_res)); break;
        case 'o': out = optarg; break;
        case 'h': fputs(sample_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!space || n < 0 || optind != argc) {
        rc = ab_cli_usage(argv[0], "--space and --n are required");
        goto cleanup;
    }
    AB_CALL(ab_space_open(space, &sp));
    for (int i = 0; i < n_res; i++)
        AB_CHECK(ab_space_has_resolution(sp, res[i]), AB_ERR_INPUT,
                 "--resolution %d is not allowed in space '%s' (see 'autobuild space info %s')",
                 res[i], sp->name, space);
    AB_CHECK(n_res == 0 || sp->n_resolutions > 0, AB_ERR_INPUT,
             "--resolution: space '%s' has no input resolution", sp->name);
    AB_CALL(sample_archs(sp, n, (uint64_t)seed, res, n_res, &archs));
    AB_CALL(write_jsonl(sp, archs, n, out));
    if (out) AB_LOG_I("wrote %ld architectures of %s to %s", n, sp->name, out);
cleanup:
    free(archs);
    ab_space_destroy(&sp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* label                                                                   */

#define MAX_LABEL_PREDICTORS 16

/* A metric name for a predictor: NAME from FILE:NAME, else its target
 * equation when that is a plain identifier. */
static ab_status predictor_metric_name(const char *spec, const struct ab_predictor *p,
                                       char *name, size_t cap)
{
    const char *colon = strrchr(spec, ':');
    const char *src = colon ? colon + 1 : p->target;
    int ok = src && *src && !(*src >= '0' && *src <= '9');
    for (const char *q = src; ok && *q; q++)
        ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
             *q == '_';
    if (!ok)
        return ab_err_set(AB_ERR_INPUT,
                          "--predictor %s: its target '%s' is not a plain metric name; name the "
                          "column with --predictor FILE:NAME", spec, p->target ? p->target : "");
    snprintf(name, cap, "%s", src);
    return AB_OK;
}

/* Writes "arch,<metrics>" rows: macs and params of OFA subnets (cost), then
 * one column per predictor (label units). */
static ab_status label_archs(const struct ab_space *sp, const struct ab_arch *archs, long n,
                             int cost, double width, struct ab_predictor **preds,
                             char names[][64], int n_preds, const char *path)
{
    ab_status rc = AB_OK;
    char tmp[4096], buf[4096], num[40];
    FILE *f = NULL;
    float *pv = NULL;
    AB_CHECK(!cost || sp->kind == AB_SPACE_OFA_MBV3 || sp->kind == AB_SPACE_OFA_PN, AB_ERR_INPUT,
             "data label computes MACs and parameters of Once-for-All subnets; space '%s' is "
             "not an OFA space (label it with --predictor, or with your own tool)", sp->name);
    pv = malloc(sizeof *pv * (size_t)(n ? n : 1) * (size_t)(n_preds ? n_preds : 1));
    AB_CHECK_ALLOC(pv);
    for (int k = 0; k < n_preds; k++)
        AB_CALL(ab_pred_eval_archs(preds[k], archs, n, 1024, pv + (size_t)k * (size_t)n, NULL,
                                   NULL));
    AB_CALL(open_out(path, tmp, sizeof tmp, &f));
    fputs("arch", f);
    if (cost) fputs(",macs,params", f);
    for (int k = 0; k < n_preds; k++) fprintf(f, ",%s", names[k]);
    fputc('\n', f);
    for (long i = 0; i < n; i++) {
        size_t len = ab_arch_format_json(sp, &archs[i], buf, sizeof buf);
        AB_ASSERT(len < sizeof buf);
        csv_fwrite(f, buf, len);
        if (cost) {
            struct ab_ofa_cost c;
            AB_CALL(ab_ofa_cost(sp, &archs[i], width, 1000, &c));
            fprintf(f, ",%llu,%llu", (unsigned long long)c.macs, (unsigned long long)c.params);
        }
        for (int k = 0; k < n_preds; k++) {
            double y = (double)pv[(size_t)k * (size_t)n + (size_t)i] * preds[k]->label_std +
                       preds[k]->label_mean;
            ab_format_double(y, num, sizeof num);
            fprintf(f, ",%s", num);
        }
        fputc('\n', f);
    }
cleanup:
    free(pv);
    return close_out(path, tmp, f, rc);
}

static const char label_help[] =
    "usage: autobuild data label --space S --archs A.jsonl [--out L.csv]\n"
    "                            [--predictor P.h5[:NAME] ...] [--cost] [--width W]\n"
    "\n"
    "Labels architectures with metrics autobuild computes itself, writing a CSV\n"
    "ready for 'data import':\n"
    "  - for the OFA spaces (the default when no --predictor is given, or with\n"
    "    --cost): 'macs', the multiply-accumulates of one 1x3xRxR forward pass of\n"
    "    the spliced subnet, and 'params', its parameter count, exact integers\n"
    "    counted as OFA's count_net_flops/count_parameters do (1000 classes);\n"
    "  - with --predictor: one column per predictor checkpoint (trained by\n"
    "    'autobuild train' or converted from the authors' PyTorch predictors),\n"
    "    named by its target (e.g. acc, latency_gpu) or by NAME.\n"
    "\n"
    "  --space S        ofa_mbv3, ofa_pn or a YAML space\n"
    "  --archs FILE     JSON lines of architectures (e.g. from 'data sample')\n"
    "  --out FILE       CSV to write (default standard output)\n"
    "  --predictor P    a predictor; repeat for several metrics\n"
    "  --cost           also write macs and params next to predictor columns\n"
    "  --width W        supernet width multiplier for the cost (default: the\n"
    "                   authors' supernets, 1.2 for ofa_mbv3, 1.3 for ofa_pn)\n";

ab_status ab_cmd_data_label(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"space", required_argument, NULL, 's'},
                                         {"archs", required_argument, NULL, 'a'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"width", required_argument, NULL, 'w'},
                                         {"predictor", required_argument, NULL, 'p'},
                                         {"cost", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    struct ab_arch *archs = NULL;
    struct ab_predictor *preds[MAX_LABEL_PREDICTORS] = {0};
    const char *specs[MAX_LABEL_PREDICTORS];
    char names[MAX_LABEL_PREDICTORS][64];
    const char *space = NULL, *in = NULL, *out = NULL;
    double width = 0;
    long n = 0;
    int o, n_preds = 0, cost = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': space = optarg; break;
        case 'a': in = optarg; break;
        case 'o': out = optarg; break;
        case 'c': cost = 1; break;
        case 'p':
            AB_CHECK(n_preds < MAX_LABEL_PREDICTORS, AB_ERR_INPUT, "at most %d --predictor",
                     MAX_LABEL_PREDICTORS);
            specs[n_preds++] = optarg;
            break;
        case 'w': {
            char *end;
            width = strtod(optarg, &end);
            AB_CHECK(*optarg && !*end && width > 0 && width <= 4, AB_ERR_INPUT,
                     "--width: expected a multiplier in (0, 4], got '%s'", optarg);
            break;
        }
        case 'h': fputs(label_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!space || !in || optind != argc) {
        rc = ab_cli_usage(argv[0], "--space and --archs are required");
        goto cleanup;
    }
    AB_CALL(ab_space_open(space, &sp));
    for (int k = 0; k < n_preds; k++) {
        char path[4096];
        const char *colon = strrchr(specs[k], ':');
        snprintf(path, sizeof path, "%.*s", colon ? (int)(colon - specs[k]) : (int)strlen(specs[k]),
                 specs[k]);
        AB_CALL(ab_predictor_load(path, &preds[k]));
        AB_CHECK(!strcmp(preds[k]->space->name, sp->name), AB_ERR_INPUT,
                 "--predictor %s is a predictor for space '%s', not '%s'", path,
                 preds[k]->space->name, sp->name);
        AB_CALL(predictor_metric_name(specs[k], preds[k], names[k], sizeof names[k]));
        for (int j = 0; j < k; j++)
            AB_CHECK(strcmp(names[j], names[k]), AB_ERR_INPUT,
                     "two predictors give the column '%s'; name one with FILE:NAME", names[k]);
    }
    AB_CALL(ab_arch_read_jsonl(sp, in, &archs, &n));
    if (width == 0) width = ab_ofa_default_width(sp);
    AB_CALL(label_archs(sp, archs, n, cost || n_preds == 0, width, preds, names, n_preds, out));
    if (out) AB_LOG_I("labelled %ld architectures into %s", n, out);
cleanup:
    for (int k = 0; k < n_preds; k++) ab_predictor_destroy(&preds[k]);
    free(archs);
    ab_space_destroy(&sp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* import / export                                                         */

static const char import_help[] =
    "usage: autobuild data import --space S --csv IN.csv --out D.h5\n"
    "\n"
    "Imports labelled architectures into an HDF5 dataset (hdf5-schemas/archdata.md).\n"
    "The CSV has a header; column 'arch' holds each architecture's JSON (canonical\n"
    "form or any whitespace/key order, or the authors' [resolution, stages] form),\n"
    "every other column is a numeric metric named like an identifier:\n"
    "\n"
    "  arch,acc,latency_gpu\n"
    "  \"{\"\"space\"\":\"\"ofa_mbv3\"\",\"\"resolution\"\":224,\"\"stages\"\":[...]}\",0.7564,11.2\n"
    "\n"
    "Refused with the row and column: invalid architectures, duplicates, empty,\n"
    "non-numeric, NaN or infinite metrics. The output appears only when complete.\n";

ab_status ab_cmd_data_import(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"space", required_argument, NULL, 's'},
                                         {"csv", required_argument, NULL, 'c'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    const char *space = NULL, *csv = NULL, *out = NULL;
    double t0 = now_s();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': space = optarg; break;
        case 'c': csv = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(import_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!space || !csv || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--space, --csv and --out are required");
        goto cleanup;
    }
    AB_CALL(ab_dataset_import_csv(space, csv, &d));
    AB_CALL(ab_dataset_write(d, out));
    AB_LOG_I("imported %ld architectures of %s with %d metrics into %s (%.3f s)", d->n,
             d->space->name, d->n_metrics, out, now_s() - t0);
cleanup:
    ab_dataset_destroy(&d);
    return rc;
}

static const char export_help[] =
    "usage: autobuild data export --in D.h5 --csv OUT.csv\n"
    "\n"
    "Writes a dataset as CSV (column 'arch' first, then the metrics in stored\n"
    "order, numbers in the shortest form that reads back exactly), so import ->\n"
    "export reproduces a canonical CSV byte for byte. '-' writes to stdout.\n";

ab_status ab_cmd_data_export(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"in", required_argument, NULL, 'i'},
                                         {"csv", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    const char *in = NULL, *csv = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in = optarg; break;
        case 'c': csv = optarg; break;
        case 'h': fputs(export_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!in || !csv || optind != argc) {
        rc = ab_cli_usage(argv[0], "--in and --csv are required");
        goto cleanup;
    }
    AB_CALL(ab_dataset_read(in, &d));
    AB_CALL(ab_dataset_export_csv(d, csv));
cleanup:
    ab_dataset_destroy(&d);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* info                                                                    */

struct stats {
    double min, max, mean, std;
};

static struct stats column_stats(const double *v, long n, long stride)
{
    struct stats s = {INFINITY, -INFINITY, 0, 0};
    double sum = 0, sq = 0;
    for (long i = 0; i < n; i++) {
        double x = v[i * stride];
        if (x < s.min) s.min = x;
        if (x > s.max) s.max = x;
        sum += x;
    }
    s.mean = n ? sum / (double)n : 0;
    for (long i = 0; i < n; i++) sq += (v[i * stride] - s.mean) * (v[i * stride] - s.mean);
    s.std = n ? sqrt(sq / (double)n) : 0;
    return s;
}

static void print_stats(const char *name, struct stats s, int json, int first)
{
    char a[40], b[40], c[40], d[40];
    ab_format_double(s.min, a, sizeof a);
    ab_format_double(s.mean, b, sizeof b);
    ab_format_double(s.max, c, sizeof c);
    ab_format_double(s.std, d, sizeof d);
    if (json)
        printf("%s\"%s\":{\"min\":%s,\"mean\":%s,\"max\":%s,\"std\":%s}", first ? "" : ",",
               name, a, b, c, d);
    else
        printf("  %-24s min %-14.6g mean %-14.6g max %-14.6g std %.6g\n", name, s.min, s.mean,
               s.max, s.std);
}

/* Prints the dataset summary; target may be NULL. */
static ab_status dataset_info(const struct ab_dataset *d, const char *path, const char *target,
                              int json)
{
    ab_status rc = AB_OK;
    struct ab_equation *eq = NULL;
    double *y = NULL;
    if (target) {
        AB_CALL(ab_equation_parse(target, &eq));
        AB_CALL(ab_equation_bind(eq, (const char *const *)d->metric_names, d->n_metrics));
        y = malloc(sizeof *y * (size_t)d->n);
        AB_CHECK_ALLOC(y);
        if (ab_equation_eval_rows(eq, d->metrics, d->n, d->n_metrics, 0, y) != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
    }
    if (json) {
        printf("{\"file\":\"%s\",\"space\":\"%s\",\"n\":%ld,\"metrics\":{", path, d->space->name,
               d->n);
        for (int m = 0; m < d->n_metrics; m++)
            print_stats(d->metric_names[m], column_stats(d->metrics + m, d->n, d->n_metrics), 1,
                        m == 0);
        printf("}");
        if (y) {
            printf(",\"target\":{\"equation\":");
            /* the equation as a JSON string */
            putchar('"');
            for (const char *p = target; *p; p++) {
                if (*p == '"' || *p == '\\') putchar('\\');
                if ((unsigned char)*p >= 0x20) putchar(*p);
            }
            putchar('"');
            printf(",");
            print_stats("stats", column_stats(y, d->n, 1), 1, 1);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s: %ld architectures of space %s, %d metrics\n", path, d->n, d->space->name,
               d->n_metrics);
        for (int m = 0; m < d->n_metrics; m++)
            print_stats(d->metric_names[m], column_stats(d->metrics + m, d->n, d->n_metrics), 0,
                        0);
        if (y) {
            printf("target %s\n", target);
            print_stats("target", column_stats(y, d->n, 1), 0, 0);
        }
    }
cleanup:
    free(y);
    ab_equation_destroy(&eq);
    return rc;
}

static const char info_help[] =
    "usage: autobuild data info D.h5 [--target EQUATION] [--json]\n"
    "\n"
    "Summarises a dataset: its space, the number of architectures, and min, mean,\n"
    "max and standard deviation of every metric. With --target, also of a label\n"
    "equation over the metrics, as predictors use it, e.g.\n"
    "\n"
    "  --target 'acc'   --target '(acc*100)/latency_gpu'\n"
    "  --target 'np.power(100, acc)/(np.log10(latency_gpu+1)+1)'\n"
    "\n"
    "Equations know + - * / ^ (or **), parentheses, log log10 log2 exp pow sqrt abs\n"
    "min max (np./math. prefixes accepted); they never execute code. A row where\n"
    "the equation is NaN or infinite is refused with its row number.\n";

ab_status ab_cmd_data_info(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    const char *target = NULL;
    int json = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 't': target = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(info_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (optind != argc - 1) {
        rc = ab_cli_usage(argv[0], "expected one dataset file");
        goto cleanup;
    }
    AB_CALL(ab_dataset_read(argv[optind], &d));
    AB_CALL(dataset_info(d, argv[optind], target, json));
cleanup:
    ab_dataset_destroy(&d);
    return rc;
}
