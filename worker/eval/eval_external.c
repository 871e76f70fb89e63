/* SPDX-License-Identifier: MIT
 *
 * This file implements the `external` evaluator: every candidate is
 * evaluated by the user's own program (a fine-tune + FID script that runs
 * for days, say), run as an external job (worker/jobs/job.h) with its state
 * on disk, so that a restarted search or campaign re-attaches to jobs still
 * running and never launches a candidate twice.
 *
 *     {type: external, command: [./finetune_fid.sh, "{arch_file}", "{result}"],
 *      metrics: [fid], launch: sbatch, launch_args: [--gpus=2],
 *      timeout: 172800, retries: 2, backoff: 600,
 *      fid_reference: coco_ref.h5}
 *
 * The program is run without a shell: `command` is an argv template whose
 * placeholders {arch_json} {arch_file} {workdir} {result} {seed} {hash}
 * {attempt} are replaced per job. It writes an HDF5 result file ({result})
 * holding, for every metric, a root attribute or a scalar dataset of that
 * name; or, for `fid` with `fid_reference` given, a dataset `features`
 * (N x D Inception pool features) from which the worker computes FID
 * against the reference statistics (autobuild fid stats). A result without
 * a metric, with a non-finite value, or features of the wrong width fails
 * the attempt (and is retried); a candidate that fails every attempt is
 * recorded as failed with its reason and the search goes on.
 *
 * Jobs live in <store>.jobs/<hash>/ (search) or <campaign>/jobs/<hash>/
 * (campaign data stage), or `jobs_dir`.
 */
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/evaluator.h"
#include "fid/fid.h"
#include "h5/h5util.h"
#include "jobs/job.h"
#include "util/stop.h"

#define MAX_METRICS 16
#define MAX_ARGS 256

static const char *const external_keys[] = {"command", "metrics", "launch", "launch_args",
                                            "timeout", "retries", "backoff", "poll", "seed",
                                            "fid_reference", "jobs_dir", NULL};

struct external {
    struct ab_job_spec spec;
    char jobs_dir[PATH_MAX];
    int fid_col;                /* column of `fid` computed from features; -1 none */
    struct ab_fid_stats ref;    /* reference statistics for fid_col */
    char ref_path[PATH_MAX];
    int n_metrics;
    const char *const *metrics;
    /* the metrics the job's validation read (FID included), so that the
     * evaluation does not read the features and compute FID again */
    char checked_path[4096 + 64];
    double checked_row[MAX_METRICS];
};

static void free_strings(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void external_destroy(struct ab_evaluator *ev)
{
    struct external *x = ev->impl;
    if (!x) return;
    free_strings(x->spec.argv, x->spec.argc);
    free_strings(x->spec.launch_args, x->spec.n_launch_args);
    ab_fid_stats_free(&x->ref);
    free(x);
    ev->impl = NULL;
}

/* A list of non-empty strings (at most max) from spec[key]. */
static ab_status string_list(json_t *spec, const char *where, const char *key, int required,
                             int max, char ***out, int *n)
{
    json_t *v = json_object_get(spec, key);
    *out = NULL;
    *n = 0;
    if (!v) {
        if (required)
            return ab_err_set(AB_ERR_INPUT, "%s: the external evaluator needs '%s', a list "
                              "such as [./finetune.sh, \"{arch_file}\", \"{result}\"]", where, key);
        return AB_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > (size_t)max)
        return ab_err_set(AB_ERR_INPUT, "%s: '%s' must be a list of at most %d strings", where,
                          key, max);
    *out = calloc(json_array_size(v) + 1, sizeof **out);
    if (!*out) return ab_err_set(AB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        char num[64];
        const char *s = json_string_value(e);
        if (!s && json_is_number(e)) { /* YAML may give numbers for bare words */
            snprintf(num, sizeof num, "%.17g", json_number_value(e));
            s = num;
        }
        if (!s || !s[0]) {
            free_strings(*out, (int)i);
            *out = NULL;
            return ab_err_set(AB_ERR_INPUT, "%s: %s[%zu] must be a non-empty string", where,
                              key, i);
        }
        (*out)[i] = strdup(s);
        if (!(*out)[i]) {
            free_strings(*out, (int)i);
            *out = NULL;
            return ab_err_set(AB_ERR_NOMEM, "out of memory");
        }
        (*n)++;
    }
    return AB_OK;
}

/* The program must exist and be executable now, not fail in every job.
 * A path is made absolute: jobs run in their own directories. */
static ab_status check_program(const char *where, const char *prog, const char *base_dir,
                               char *resolved, size_t cap)
{
    char real[PATH_MAX];
    snprintf(resolved, cap, "%s", prog);
    if (strchr(prog, '{')) return AB_OK; /* known only per job */
    if (strchr(prog, '/')) {
        if (prog[0] != '/' && base_dir) {
            char alt[PATH_MAX];
            snprintf(alt, sizeof alt, "%s/%s", base_dir, prog);
            if (access(alt, X_OK) == 0) {
                snprintf(resolved, cap, "%s", realpath(alt, real) ? real : alt);
                return AB_OK;
            }
        }
        if (access(prog, X_OK) == 0) {
            snprintf(resolved, cap, "%s", realpath(prog, real) ? real : prog);
            return AB_OK;
        }
        return ab_err_set(AB_ERR_INPUT, "%s: command[0] '%s' is not an executable file; give "
                          "a path to the program (relative to the configuration's folder)",
                          where, prog);
    }
    {
        const char *path = getenv("PATH");
        char dir[PATH_MAX];
        while (path && *path) {
            size_t n = strcspn(path, ":");
            snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, prog);
            if (n && access(dir, X_OK) == 0) return AB_OK;
            path += n + (path[n] == ':');
        }
    }
    return ab_err_set(AB_ERR_INPUT, "%s: command[0] '%s' is not found on PATH", where, prog);
}

static ab_status parse_launch(json_t *spec, const char *where, enum ab_job_launch *out)
{
    const char *s;
    AB_TRY(ab_eval_spec_str(spec, where, "launch", 0, &s));
    if (!s || !strcmp(s, "local"))
        *out = AB_JOB_LOCAL;
    else if (!strcmp(s, "srun"))
        *out = AB_JOB_SRUN;
    else if (!strcmp(s, "sbatch"))
        *out = AB_JOB_SBATCH;
    else
        return ab_err_set(AB_ERR_INPUT, "%s: launch '%s' is not known; use local (a child "
                          "process of the worker), srun (a job step of this allocation) or "
                          "sbatch (one batch job per candidate)", where, s);
    return AB_OK;
}

/* Reads metric `name` of a result file: a root attribute or a scalar (or
 * one-element) dataset. */
static ab_status read_metric(hid_t f, const char *path, const char *name, double *v)
{
    ab_status rc = AB_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    if (H5Aexists(f, name) > 0) {
        AB_CALL(ab_h5_read_f64_attr(f, name, v));
    } else if (H5Lexists(f, name, H5P_DEFAULT) > 0) {
        AB_H5R(d = H5Dopen2(f, name, H5P_DEFAULT), "%s: %s", path, name);
        AB_H5R(sp = H5Dget_space(d), "%s: %s", path, name);
        AB_CHECK(H5Sget_simple_extent_npoints(sp) == 1, AB_ERR_INPUT,
                 "%s: '%s' must be one number", path, name);
        AB_H5R(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), "%s: %s",
               path, name);
    } else {
        AB_FAIL(AB_ERR_INPUT, "%s: no metric '%s' (a root attribute or scalar dataset)", path,
                name);
    }
    AB_CHECK(isfinite(*v), AB_ERR_INPUT, "%s: metric '%s' is %g", path, name, *v);
cleanup:
    ab_h5_close(&sp);
    ab_h5_close(&d);
    return rc;
}

/* Reads every metric of a result file into row (ev->n_metrics values). */
static ab_status read_result(const struct external *x, const char *path, double *row)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID;
    AB_CHECK(H5Fis_hdf5(path) > 0, AB_ERR_INPUT, "%s: the result is not an HDF5 file", path);
    AB_H5R(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: open", path);
    for (int k = 0; k < x->n_metrics; k++) {
        if (k == x->fid_col && H5Aexists(f, "fid") <= 0 && H5Lexists(f, "fid", H5P_DEFAULT) <= 0)
            continue; /* computed from the features below */
        AB_CALL(read_metric(f, path, x->metrics[k], &row[k]));
    }
    ab_h5_close(&f);
    if (x->fid_col >= 0) {
        hid_t g = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        int has_fid = g >= 0 && (H5Aexists(g, "fid") > 0 || H5Lexists(g, "fid", H5P_DEFAULT) > 0);
        ab_h5_close(&g);
        if (!has_fid) {
            struct ab_fid_stats st;
            memset(&st, 0, sizeof st);
            rc = ab_fid_stats_load(path, &st, NULL);
            if (rc == AB_OK) rc = ab_fid_distance(&st, &x->ref, AB_FID_AUTO, &row[x->fid_col]);
            ab_fid_stats_free(&st);
            if (rc != AB_OK) {
                rc = ab_err_prefix("features against fid_reference"); /* names both */
                goto cleanup;
            }
        }
    }
cleanup:
    ab_h5_close(&f);
    return rc;
}

static ab_status validate_result(void *ctx, const char *path)
{
    struct external *x = ctx;
    ab_status rc = read_result(x, path, x->checked_row);
    snprintf(x->checked_path, sizeof x->checked_path, "%s", rc == AB_OK ? path : "");
    return rc;
}

static ab_status external_create(struct ab_evaluator *ev, const struct ab_eval_context *ctx,
                                 json_t *spec)
{
    ab_status rc = AB_OK;
    struct external *x;
    char where[200], **names = NULL, prog[PATH_MAX];
    const char *jobs_dir, *ref;
    int n_names = 0;
    double v;

    snprintf(where, sizeof where, "%s: external evaluator", ctx->origin);
    x = calloc(1, sizeof *x);
    AB_CHECK_ALLOC(x);
    ev->impl = x;
    x->fid_col = -1;
    AB_CALL(string_list(spec, where, "command", 1, MAX_ARGS, &x->spec.argv, &x->spec.argc));
    AB_CALL(ab_job_check_template(where, x->spec.argc, x->spec.argv));
    AB_CALL(check_program(where, x->spec.argv[0], ctx->base_dir, prog, sizeof prog));
    if (strcmp(prog, x->spec.argv[0])) {
        char *p = strdup(prog);
        AB_CHECK_ALLOC(p);
        free(x->spec.argv[0]);
        x->spec.argv[0] = p;
    }
    AB_CALL(string_list(spec, where, "metrics", 1, MAX_METRICS, &names, &n_names));
    AB_CHECK(n_names >= 1, AB_ERR_INPUT, "%s: 'metrics' must name at least one metric the "
             "job reports, e.g. [fid]", where);
    AB_CALL(ab_eval_set_metrics(ev, (const char *const *)names, n_names));
    x->n_metrics = ev->n_metrics;
    x->metrics = (const char *const *)ev->metrics;
    AB_CALL(parse_launch(spec, where, &x->spec.launch));
    AB_CALL(string_list(spec, where, "launch_args", 0, 64, &x->spec.launch_args,
                        &x->spec.n_launch_args));
    AB_CHECK(x->spec.launch != AB_JOB_LOCAL || x->spec.n_launch_args == 0, AB_ERR_INPUT,
             "%s: 'launch_args' are srun or sbatch options; launch is local", where);
    AB_CALL(ab_eval_spec_num(spec, where, "timeout", 0, 0, 1e9, &x->spec.timeout_s));
    AB_CALL(ab_eval_spec_num(spec, where, "retries", 0, 0, 100, &v));
    x->spec.retries = (int)v;
    AB_CALL(ab_eval_spec_num(spec, where, "backoff", 10, 0, 86400, &x->spec.backoff_s));
    AB_CALL(ab_eval_spec_num(spec, where, "poll", x->spec.launch == AB_JOB_SBATCH ? 30 : 1,
                             0.01, 3600, &x->spec.poll_s));
    AB_CALL(ab_eval_spec_num(spec, where, "seed", 0, 0, 9e15, &v));
    x->spec.seed = (long)v;
    x->spec.validate = validate_result;
    x->spec.stop = ab_stop_requested; /* SIGTERM: leave the job running, re-attach later */
    x->spec.validate_ctx = x;
    AB_CALL(ab_eval_spec_str(spec, where, "fid_reference", 0, &ref));
    if (ref) {
        for (int k = 0; k < ev->n_metrics; k++)
            if (!strcmp(ev->metrics[k], "fid")) x->fid_col = k;
        AB_CHECK(x->fid_col >= 0, AB_ERR_INPUT, "%s: 'fid_reference' is given but 'metrics' "
                 "has no fid", where);
        ab_eval_resolve_path(ctx, ref, x->ref_path, sizeof x->ref_path);
        if (ab_fid_stats_load(x->ref_path, &x->ref, NULL) != AB_OK) {
            rc = ab_err_prefix("%s: fid_reference", where);
            goto cleanup;
        }
    }
    AB_CALL(ab_eval_spec_str(spec, where, "jobs_dir", 0, &jobs_dir));
    if (jobs_dir)
        ab_eval_resolve_path(ctx, jobs_dir, x->jobs_dir, sizeof x->jobs_dir);
    else if (ctx->workdir)
        snprintf(x->jobs_dir, sizeof x->jobs_dir, "%s", ctx->workdir);
    if (!ev->batch) ev->batch = 1;
cleanup:
    free_strings(names, n_names);
    return rc;
}

static ab_status external_evaluate(struct ab_evaluator *ev, const struct ab_arch *archs, int n,
                                   double *metrics, int *status, char *err)
{
    struct external *x = ev->impl;
    int m = ev->n_metrics;
    if (!x->jobs_dir[0])
        return ab_err_set(AB_ERR_INPUT, "external evaluator: no job directory; run it from "
                          "'autobuild search' or 'campaign' (jobs go beside the store) or "
                          "give 'jobs_dir'");
    for (int i = 0; i < n; i++) {
        double *row = metrics + (size_t)i * m;
        char *e = err + (size_t)i * AB_EVAL_ERRLEN;
        char *json = ab_arch_to_json(ev->space, &archs[i]);
        struct ab_job_outcome out;
        ab_status rc;
        x->checked_path[0] = 0;
        if (!json) return ab_err_set(AB_ERR_NOMEM, "out of memory");
        rc = ab_job_run(&x->spec, x->jobs_dir, json, (unsigned long long)ab_arch_hash(
                                                         ev->space, &archs[i]), &out);
        free(json);
        AB_TRY(rc);
        e[0] = 0;
        if (out.interrupted) {
            for (int k = i; k < n; k++) status[k] = AB_EVAL_INTERRUPTED;
            for (int k = 0; k < m; k++) row[k] = NAN;
            break;
        }
        status[i] = AB_EVAL_OK;
        if (out.ok && !strcmp(x->checked_path, out.result)) {
            memcpy(row, x->checked_row, sizeof(double) * (size_t)m);
            x->checked_path[0] = 0;
            continue;
        }
        if (out.ok && read_result(x, out.result, row) == AB_OK) continue;
        if (out.ok) snprintf(out.reason, sizeof out.reason, "%s", ab_err_msg());
        ab_err_clear();
        status[i] = AB_EVAL_FAILED;
        snprintf(e, AB_EVAL_ERRLEN, "%.*s", AB_EVAL_ERRLEN - 1, out.reason);
        for (int k = 0; k < m; k++) row[k] = NAN;
    }
    return AB_OK;
}

const struct ab_eval_type ab_eval_external_type = {
    .name = "external",
    .keys = external_keys,
    .summary = "run the user's program per candidate (command:, metrics:, launch: "
               "local|srun|sbatch, timeout:, retries:, fid_reference:)",
    .create = external_create,
    .evaluate = external_evaluate,
    .destroy = external_destroy,
};
