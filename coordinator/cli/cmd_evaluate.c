/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild evaluate`: every architecture of a
 * JSON-lines file evaluated through an evaluator chain (in-process, or by
 * the worker ranks under MPI) into a crash-safe result store, resumed
 * automatically, optionally written out as a dataset of the successful
 * evaluations. The labelling itself is search/label.h's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "campaign/stamp.h"
#include "cli/cli.h"
#include "eval/evaluator.h"
#include "search/dispatch.h"
#include "search/label.h"
#include "space/space.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/yamldoc.h"

#define MAX_FAILED_SHOWN 20

static const char evaluate_help[] =
    "usage: autobuild evaluate --config E.yaml [--json]\n"
    "\n"
    "Evaluates every architecture of a JSON-lines file (from 'data sample',\n"
    "'build', 'exhaustive', or your own) through the evaluators, in the order of\n"
    "the file, and records each result in a crash-safe store as it arrives (an\n"
    "HDF5 snapshot plus a journal, hdf5-schemas/store.md). Plain, the evaluators\n"
    "run in this process; under mpirun/srun rank 0 coordinates and every other\n"
    "rank evaluates:\n"
    "\n"
    "  mpirun -np 3 autobuild evaluate --config E.yaml     # 2 evaluating ranks\n"
    "\n"
    "Configuration (YAML; relative paths start at the file's folder):\n"
    "  space: sd_unet             # built-in name, YAML space or reduced-space file\n"
    "  archs: archs.jsonl         # one architecture (canonical JSON) per line;\n"
    "                             # one listed twice is evaluated once\n"
    "  evaluators:                # as in 'autobuild search --help'; e.g.\n"
    "    - type: external         # the user's fine-tune + FID job per architecture\n"
    "      command: [./finetune_fid.sh, \"{arch_file}\", \"{result}\"]\n"
    "      metrics: [fid]\n"
    "      fid_reference: ref.h5  # autobuild fid stats ref_feats.h5 --out ref.h5\n"
    "      launch: sbatch         # local | srun | sbatch\n"
    "      timeout: 172800\n"
    "      retries: 2\n"
    "  store: run.h5              # every evaluation; external jobs in run.h5.jobs/\n"
    "  dataset: data.h5           # optional: the successful evaluations as a\n"
    "                             # dataset for 'autobuild train' (archdata)\n"
    "\n"
    "Running the same command again is always safe: it evaluates only the\n"
    "architectures the store does not hold yet (after kill -9, preemption or a\n"
    "node failure), and external jobs still queued or running are re-attached,\n"
    "never launched twice. The store remembers what it was made for: the space,\n"
    "the evaluators as written and the content of the archs file. A store made\n"
    "for anything else is refused (exit 2), never overwritten, since its results\n"
    "cost compute: give another 'store' (a new archs file needs a new store).\n"
    "How external jobs run may change between runs of one store: launch,\n"
    "launch_args, timeout, retries, backoff and poll are not part of it. A\n"
    "failed evaluation (a job that failed every attempt, a result without the\n"
    "metric) is recorded with its reason and the run goes on; a rerun does not\n"
    "retry it.\n"
    "\n"
    "  --json     last stdout line: {\"architectures\": N, \"evaluated\": E (by this\n"
    "             run), \"failed\": F (of the file's architectures), \"recorded\": R\n"
    "             (of the file's architectures in the store), \"store\": ...,\n"
    "             \"dataset\": ... or null, \"seconds\": ..., \"interrupted\": bool}\n"
    "\n"
    "SIGTERM or SIGUSR1 (Slurm preemption) saves everything and exits with status\n"
    "75 (external jobs keep running; the rerun re-attaches to them). Exit status:\n"
    "0 done, 2 bad input (one line naming the file, line and key), 75\n"
    "interrupted, 1 other failures.\n";

struct evaluate_config {
    char *origin;             /* the configuration file */
    char *base_dir;           /* its folder */
    struct ab_space *space;
    char *archs_path;
    char *store;
    char *dataset;            /* NULL: none */
    json_t *specs;            /* the evaluators as written */
    int evaluators_line;
    char *identity;
};

static void config_free(struct evaluate_config *c)
{
    free(c->origin);
    free(c->base_dir);
    ab_space_destroy(&c->space);
    free(c->archs_path);
    free(c->store);
    free(c->dataset);
    json_decref(c->specs);
    free(c->identity);
    memset(c, 0, sizeof *c);
}

/* A path named in the configuration: absolute as it is, else relative to
 * the configuration's folder. */
static char *resolve(const struct evaluate_config *c, const char *p)
{
    return ab_fs_resolve(c->base_dir, p);
}

/* Creates every evaluator once, so that a bad spec is reported with its
 * line before anything is written. */
static ab_status check_evaluators(struct ab_yamldoc *d, yaml_node_t *ev,
                                  const struct evaluate_config *c, const char *workdir)
{
    struct ab_eval_context ctx = {c->space, c->origin, c->base_dir, workdir};
    char where[PATH_MAX + 64];
    AB_TRY(ab_yamldoc_expect_seq(d, ev, "evaluators"));
    if (ab_yamldoc_seq_len(ev) < 1 || ab_yamldoc_seq_len(ev) > AB_EVAL_MAX)
        return ab_err_set(AB_ERR_INPUT, "%s: line %d: evaluators: 1 to %d evaluators, e.g. "
                          "'- {type: external, command: [...], metrics: [fid]}'", d->origin,
                          ab_yamldoc_line(ev), AB_EVAL_MAX);
    for (int i = 0; i < ab_yamldoc_seq_len(ev); i++) {
        struct ab_evaluator *one = NULL;
        snprintf(where, sizeof where, "%s: line %d: evaluators[%d]", d->origin,
                 ab_yamldoc_line(ab_yamldoc_seq_item(d, ev, i)), i + 1);
        ctx.origin = where; /* evaluators that name only the origin get the line too */
        if (ab_evaluator_create(&ctx, json_array_get(c->specs, (size_t)i), where, &one)) {
            /* some evaluators name only their file: say where the spec is */
            if (strncmp(ab_err_msg(), d->origin, strlen(d->origin))) ab_err_prefix("%s", where);
            return ab_err_status();
        }
        ab_evaluator_destroy(&one);
    }
    return AB_OK;
}

/* The store's identity: the space, the evaluators as written and the
 * archs file's content. How external jobs are run (launch mode, limits,
 * polling) does not change what they measure, so those keys may change
 * between runs of one store (a longer timeout for jobs that run for days
 * must not throw their results away). */
static ab_status make_identity(struct evaluate_config *c)
{
    static const char *const how[] = {"launch", "launch_args", "timeout", "retries", "backoff",
                                      "poll", NULL};
    char hex[17], bytes_s[64];
    long bytes;
    json_t *id = json_object(), *specs = json_deep_copy(c->specs);
    if (!id || !specs) {
        json_decref(id);
        json_decref(specs);
        return ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(specs); i++) {
        json_t *spec = json_array_get(specs, i);
        const char *type = json_string_value(json_object_get(spec, "type"));
        for (int k = 0; type && !strcmp(type, "external") && how[k]; k++)
            json_object_del(spec, how[k]);
    }
    if (ab_stamp_file_hash(c->archs_path, hex, &bytes) != AB_OK) {
        json_decref(id);
        json_decref(specs);
        return ab_err_prefix("%s: archs", c->origin);
    }
    snprintf(bytes_s, sizeof bytes_s, "%s/%ld", hex, bytes);
    json_object_set_new(id, "command", json_string("evaluate"));
    json_object_set_new(id, "space", json_string(c->space->definition));
    json_object_set_new(id, "evaluators", specs);
    json_object_set_new(id, "archs", json_string(bytes_s));
    c->identity = json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(id);
    return c->identity ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
}

static ab_status load_config(const char *path, struct evaluate_config *c)
{
    static const char *const keys[] = {"space", "archs", "evaluators", "store", "dataset", NULL};
    ab_status rc = AB_OK;
    struct ab_yamldoc *d = NULL;
    char *text = NULL, *dir = NULL, *evj = NULL, *sp_path = NULL, workdir[PATH_MAX + 8];
    size_t len;
    yaml_node_t *root, *ev;
    const char *space, *archs, *store, *dataset;
    json_error_t jerr;
    memset(c, 0, sizeof *c);
    AB_CALL(ab_fs_read_all(path, 1 << 22, &text, &len));
    AB_CALL(ab_yamldoc_load(text, len, path, &d));
    c->origin = strdup(path);
    dir = strdup(path);
    AB_CHECK(c->origin && dir, AB_ERR_NOMEM, "out of memory");
    c->base_dir = strdup(dirname(dir));
    AB_CHECK_ALLOC(c->base_dir);
    root = ab_yamldoc_root(d);
    AB_CALL(ab_yamldoc_check_keys(d, root, "the configuration", keys));
    AB_CALL(ab_yamldoc_str_required(d, root, "the configuration", "space", &space));
    sp_path = resolve(c, space);
    AB_CHECK_ALLOC(sp_path);
    if (ab_space_open(ab_fs_exists(sp_path) ? sp_path : space, &c->space) != AB_OK) {
        rc = ab_err_prefix("%s: line %d: space", path,
                           ab_yamldoc_line(ab_yamldoc_get(d, root, "space")));
        goto cleanup;
    }
    AB_CALL(ab_yamldoc_str_required(d, root, "the configuration", "archs", &archs));
    c->archs_path = resolve(c, archs);
    AB_CALL(ab_yamldoc_str_required(d, root, "the configuration", "store", &store));
    c->store = resolve(c, store);
    AB_CALL(ab_yamldoc_str(d, root, "the configuration", "dataset", NULL, &dataset));
    if (dataset) c->dataset = resolve(c, dataset);
    AB_CHECK(c->archs_path && c->store && (!dataset || c->dataset), AB_ERR_NOMEM,
             "out of memory");
    AB_CHECK(!c->dataset || strcmp(c->dataset, c->store), AB_ERR_INPUT,
             "%s: 'dataset' and 'store' name the same file %s; give two", path, c->store);
    AB_CHECK(ab_fs_exists(c->archs_path), AB_ERR_INPUT, "%s: line %d: archs: %s does not "
             "exist; give a JSON-lines file of architectures (e.g. from 'autobuild data "
             "sample'), relative to the configuration's folder", path,
             ab_yamldoc_line(ab_yamldoc_get(d, root, "archs")), c->archs_path);
    ev = ab_yamldoc_get(d, root, "evaluators");
    AB_CHECK(ev, AB_ERR_INPUT, "%s: missing 'evaluators' (a list, e.g. '- {type: external, "
             "command: [...], metrics: [fid]}')", path);
    c->evaluators_line = ab_yamldoc_line(ev);
    AB_CALL(ab_yamldoc_expect_seq(d, ev, "evaluators"));
    evj = ab_yamldoc_to_json(d, ev);
    AB_CHECK_ALLOC(evj);
    c->specs = json_loads(evj, 0, &jerr);
    AB_CHECK(c->specs, AB_ERR_INTERNAL, "%s: evaluators: %s", path, jerr.text);
    snprintf(workdir, sizeof workdir, "%s.jobs", c->store);
    AB_CALL(check_evaluators(d, ev, c, workdir));
    AB_CALL(make_identity(c));
cleanup:
    free(text);
    free(dir);
    free(evj);
    free(sp_path);
    ab_yamldoc_destroy(&d);
    if (rc) config_free(c);
    return rc;
}

/* Takes STORE.lock (an advisory lock the kernel drops when the process
 * ends, even by kill -9), so two runs never write one store. */
static ab_status lock_store(const char *store, int *fd)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", store);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0) return ab_err_set(AB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return ab_err_set(AB_ERR_INPUT, "%s: another 'autobuild evaluate' is using this "
                              "store; wait for it to end (or stop it) and run again", store);
        return ab_err_set(AB_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
    }
    return AB_OK;
}

static void print_summary(const struct evaluate_config *c, const struct ab_label *lab,
                          long recorded, long failed, double seconds, int interrupted, int json)
{
    if (json) {
        json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:s,s:o,s:f,s:b}", "architectures",
                              (json_int_t)lab->n, "evaluated", (json_int_t)lab->fresh,
                              "failed", (json_int_t)failed, "recorded", (json_int_t)recorded,
                              "store", c->store, "dataset",
                              c->dataset && !interrupted ? json_string(c->dataset)
                                                         : json_null(),
                              "seconds", seconds, "interrupted", interrupted);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
        return;
    }
    printf("evaluate %s: %ld architectures, %ld recorded (%ld failed), %ld evaluated by this "
           "run in %.1f s -> %s%s\n", c->origin, lab->n, recorded, failed, lab->fresh, seconds,
           c->store, interrupted ? "; interrupted: run it again to continue" : "");
    if (failed) {
        long shown = 0;
        printf("failed:\n");
        for (long i = 0; i < lab->n && shown < MAX_FAILED_SHOWN; i++) {
            long at = ab_store_find(lab->st, ab_arch_hash(c->space, &lab->archs[i]));
            const struct ab_store_eval *e = at >= 0 ? &lab->st->ev[at] : NULL;
            int ok = e && e->status == AB_EVAL_OK;
            for (int k = 0; ok && k < lab->st->n_metrics; k++) ok = isfinite(e->metrics[k]);
            if (!e || ok) continue;
            printf("  line %ld (%016llx): %s\n", i + 1, (unsigned long long)e->hash,
                   e->error[0] ? e->error : "a metric is not finite");
            shown++;
        }
        if (failed > shown) printf("  ... and %ld more ('autobuild report %s --csv F')\n",
                                   failed - shown, c->store);
    }
}

struct report {
    const struct evaluate_config *c;
    int json, printed;
    double t0;
};

/* The summary of an interrupted run, printed before the dispatch may end
 * the MPI job (work still on the workers). */
static void report_interrupted(void *vctx, struct ab_label *lab)
{
    struct report *r = vctx;
    long recorded, failed;
    ab_label_count(lab, &recorded, &failed);
    print_summary(r->c, lab, recorded, failed, ab_store_now() - r->t0, 1, r->json);
    fflush(stdout);
    r->printed = 1;
}

/* Rank 0's part: everything after the configuration loaded. *released: the
 * workers were handed to (and released by) a dispatch. */
static ab_status evaluate(const struct ab_runtime *rt, const struct evaluate_config *c, int json,
                          int *released, int *interrupted)
{
    ab_status rc = AB_OK;
    char workdir[PATH_MAX + 8];
    struct ab_eval_context ctx = {c->space, c->origin, c->base_dir, workdir};
    struct ab_eval_chain *chain = NULL;
    struct ab_label *lab = NULL;
    struct ab_label_opts lo = {0};
    struct ab_arch *archs = NULL;
    char *specs = NULL;
    long n = 0, pending = 0, recorded = 0, failed = 0, dropped = 0;
    int lock = -1;
    struct report rep = {c, json, 0, ab_store_now()};
    snprintf(workdir, sizeof workdir, "%s.jobs", c->store);
    if (ab_arch_read_jsonl(c->space, c->archs_path, &archs, &n) != AB_OK) {
        rc = ab_err_prefix("%s: archs", c->origin);
        goto cleanup;
    }
    AB_CHECK(n > 0, AB_ERR_INPUT, "%s: archs: %s holds no architecture", c->origin,
             c->archs_path);
    AB_CALL(ab_eval_chain_create(&ctx, c->specs, &chain));
    specs = json_dumps(c->specs, JSON_COMPACT);
    AB_CHECK_ALLOC(specs);
    /* a store of another configuration is refused before anything (the
     * lock file included) is created; ab_label_open checks again, locked */
    {
        int resume;
        long recorded_before;
        AB_CALL(ab_label_store_resumable(c->store, c->identity, AB_LABEL_REFUSE, NULL, &resume,
                                         &recorded_before));
    }
    AB_CALL(lock_store(c->store, &lock));
    lo.space = c->space;
    lo.chain = chain;
    lo.store = c->store;
    lo.identity = c->identity;
    lo.on_other = AB_LABEL_REFUSE;
    lo.specs_json = specs;
    lo.base_dir = c->base_dir;
    lo.workdir = workdir;
    lo.progress = "[evaluate] ";
    lo.origin = c->origin;
    lo.evaluators_key = "evaluators";
    lo.on_interrupt = report_interrupted;
    lo.on_interrupt_ctx = &rep;
    AB_CALL(ab_label_open(&lo, &lab));
    AB_CALL(ab_label_plan(lab, archs, n, &pending));
    if (pending > 0) {
        *released = 1; /* the dispatch takes the workers and lets them go */
        AB_CALL(ab_label_run(rt, lab, interrupted));
    }
    if (ab_dispatch_stop_requested()) *interrupted = 1;
    ab_label_count(lab, &recorded, &failed);
    if (!*interrupted) {
        ab_store_set_complete(lab->st, 1);
        if (c->dataset) AB_CALL(ab_label_write_dataset(lab, c->dataset, &dropped));
        AB_LOG_I("%ld architectures: %ld recorded (%ld failed), %ld evaluated by this run%s%s",
                 n, recorded, failed, lab->fresh, c->dataset ? "; dataset " : "",
                 c->dataset ? c->dataset : "");
    } else {
        AB_LOG_W("interrupted: %ld of %ld architectures recorded in %s; run the same command "
                 "again to continue", recorded, n, c->store);
    }
    if (!rep.printed)
        print_summary(c, lab, recorded, failed, ab_store_now() - rep.t0, *interrupted, json);
cleanup:
    if (lab) {
        ab_status r2 = ab_label_close(&lab);
        if (rc == AB_OK) rc = r2;
    }
    if (lock >= 0) close(lock);
    ab_eval_chain_destroy(&chain);
    free(archs);
    free(specs);
    return rc;
}

static void release_workers(const struct ab_runtime *rt)
{
    long zero = 0;
    if (rt->mpi && rt->size > 1) MPI_Bcast(&zero, 1, MPI_LONG, 0, rt->comm);
}

ab_status ab_cmd_evaluate(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    const char *config = NULL;
    int json = 0, o, released = 0, interrupted = 0;
    struct evaluate_config c = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'j': json = 1; break;
        case 'h': if (rt->rank == 0) fputs(evaluate_help, stdout); return AB_OK;
        default: return ab_cli_usage(argv[0], "unknown option or missing value");
        }
    }
    if (!config || optind != argc)
        return ab_cli_usage(argv[0], "--config E.yaml is required");
    if (rt->rank != 0) return ab_dispatch_serve(rt);
    ab_dispatch_install_signals();
    rc = load_config(config, &c);
    if (rc == AB_OK) rc = evaluate(rt, &c, json, &released, &interrupted);
    if (!released) release_workers(rt);
    fflush(stdout);
    config_free(&c);
    if (rc == AB_OK && interrupted) {
        ab_runtime_finalize(rt, 75);
        exit(75);
    }
    return rc;
}
