/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild search` (the Pareto EA over MPI workers
 * or in-process) and `autobuild report` (the front and per-iteration
 * history of any store, finished or live).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "report/search_report.h"
#include "search/dispatch.h"
#include "search/search.h"
#include "store/store.h"
#include "util/fsutil.h"
#include "util/log.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

static const char search_help[] =
    "usage: autobuild search --config S.yaml [--resume] [--json] [--quiet]\n"
    "\n"
    "Runs the multi-objective evolutionary search (BlockProfile's Pareto EA,\n"
    "METHOD.md section 6): an initial random pool, then iterations that mutate\n"
    "the Pareto front into new, never-evaluated children (topped up with unseen\n"
    "random architectures when mutation runs dry, so the budget\n"
    "init + iterations x per_iteration is spent exactly). Plain, the evaluators\n"
    "run in this process; under mpirun/srun rank 0 coordinates and every other\n"
    "rank evaluates. Every evaluation is recorded in the store (an HDF5 snapshot\n"
    "plus a journal, hdf5-schemas/store.md) as it arrives; the same architecture\n"
    "is never evaluated twice.\n"
    "\n"
    "  --resume   continue the search recorded in the store (after kill -9,\n"
    "             preemption or a crash): the run is replayed, recorded\n"
    "             evaluations come from the store, the rest are evaluated; the\n"
    "             final front equals an uninterrupted run's\n"
    "  --json     last stdout line: {\"evaluations\", \"unique_archs\",\n"
    "             \"hypervolume\", \"front_size\", \"seconds\", ...}\n"
    "  --quiet    do not print the front\n"
    "\n"
    "SIGTERM or SIGUSR1 (Slurm preemption) saves everything and exits with\n"
    "status 75; run again with --resume.\n"
    "\n"
    "Configuration (YAML):\n"
    "  search:\n"
    "    space: ofa_mbv3          # built-in name, YAML space, or reduced-space file\n"
    "    variant: stage_full      # stage_full | layer_full | layer_insight | autobuild_nas\n"
    "    init: 50                 # initial random pool\n"
    "    iterations: 4\n"
    "    per_iteration: 50\n"
    "    stage_mutate_prob: 0.5\n"
    "    seed: 1\n"
    "    resolution: 224          # fixed input resolution (default 224 for OFA)\n"
    "    mode: sync               # sync: iterations of per_iteration children, the\n"
    "                             # same front for any number of workers; async:\n"
    "                             # steady state, each finished evaluation updates\n"
    "                             # the front and the idle worker gets a new child\n"
    "                             # at once (for evaluation times that vary widely;\n"
    "                             # iteration k is recorded after init + k x\n"
    "                             # per_iteration results; --resume continues it)\n"
    "    objectives:\n"
    "      - {metric: acc, goal: max, ref: 0.70}     # ref: hypervolume reference\n"
    "      - {metric: latency_npu, goal: min, ref: 60.0}\n"
    "    insight: {preset: npu}   # layer_insight rules: preset (gpu|cpu|npu|note10)\n"
    "                             # and/or blocks, min_layers, max_layers,\n"
    "                             # stage_mutate_probs (per stage)\n"
    "    snapshot_interval: 5     # seconds between HDF5 snapshots (at least)\n"
    "    cache: [old.h5]          # stores of earlier evaluations by the same\n"
    "                             # evaluators (another search, a campaign's\n"
    "                             # labelling): their results are reused, not\n"
    "                             # evaluated again (counted in \"cached\")\n"
    "  evaluators:                # every candidate goes through all; metrics merge\n"
    "    - {type: table, file: labelled.h5}\n"
    "    - {type: predictor, file: l1_npu.h5, metric: latency_npu}\n"
    "    - {type: synthetic, sleep_ms: 100}       # for tests and trials\n"
    "                             # (sleep_spread: 8 varies it 64x per architecture)\n"
    "    - {type: ofa, supernet: ofa_mbv3_w12.h5, data: val.h5, calib: train.h5}\n"
    "                             # OFA subnets in autobuild's engine: top1, top5\n"
    "                             # (with data:), latency_ms, flops, params;\n"
    "                             # calib_images: 2000, calib_batch: 200, threads,\n"
    "                             # latency: false, latency_runs: 50; one at a time\n"
    "                             # per node unless exclusive: N (or false)\n"
    "    - {type: external, command: [./job.sh, \"{arch_file}\", \"{result}\"],\n"
    "       metrics: [fid], fid_reference: ref.h5}\n"
    "                             # the user's program per candidate; launch:\n"
    "                             # local|srun|sbatch, timeout, retries, backoff;\n"
    "                             # jobs in STORE.jobs/, re-attached after a restart\n"
    "  store: run.h5              # relative paths: from the configuration's folder\n";

static void release_workers(const struct ab_runtime *rt)
{
    long zero = 0;
    if (rt->mpi && rt->size > 1) MPI_Bcast(&zero, 1, MPI_LONG, 0, rt->comm);
}

ab_status ab_cmd_search(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"resume", no_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    const char *config = NULL;
    int resume = 0, json = 0, quiet = 0, o, loaded = 0;
    struct ab_search_config *cfg = NULL;
    struct ab_search_summary sum = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'r': resume = 1; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': if (rt->rank == 0) fputs(search_help, stdout); return AB_OK;
        default: return ab_cli_usage(argv[0], "unknown option or missing value");
        }
    }
    if (!config || optind != argc)
        return ab_cli_usage(argv[0], "--config S.yaml is required");
    if (rt->rank != 0) return ab_dispatch_serve(rt);
    rc = ab_search_config_load(config, &cfg);
    if (rc) goto cleanup;
    loaded = 1;
    AB_CALL(ab_search_run(rt, cfg, resume, quiet || json, &sum));
    if (json) {
        printf("{\"evaluations\":%ld,\"unique_archs\":%ld,\"failed\":%ld,\"cached\":%ld,"
               "\"hypervolume\":%.17g,\"front_size\":%ld,\"iterations\":%ld,\"seconds\":%.3f,"
               "\"interrupted\":%s,\"store\":",
               sum.evaluations, sum.unique, sum.failed, sum.cached, sum.hypervolume,
               sum.front_size, sum.iterations, sum.seconds, sum.interrupted ? "true" : "false");
        json_t *s = json_string(cfg->store);
        char *t = json_dumps(s, JSON_ENCODE_ANY);
        printf("%s}\n", t ? t : "null");
        free(t);
        json_decref(s);
    }
    fflush(stdout);
    if (sum.interrupted) {
        ab_search_config_destroy(&cfg);
        ab_runtime_finalize(rt, 75);
        exit(75);
    }
cleanup:
    if (!loaded) release_workers(rt);
    ab_search_config_destroy(&cfg);
    return rc;
}

/* ---- report ------------------------------------------------------------------ */

static const char report_help[] =
    "usage: autobuild report STORE.h5 [--json] [--csv F.csv] [--front-csv F.csv]\n"
    "                        [--history-csv F.csv] [--plot F.png]\n"
    "       autobuild report --compare F.png [--label NAME]... [--data D.h5]\n"
    "                        STORE.h5...\n"
    "\n"
    "Prints the Pareto front and the per-iteration history (evaluations, front\n"
    "size, hypervolume) of a search store, finished or still running (it reads\n"
    "the snapshot and the journal's complete records; it never writes them).\n"
    "The front is the one recorded after the last iteration; a store stopped\n"
    "during its initial pool has no front yet.\n"
    "\n"
    "  --json           one JSON object: evaluations, unique_archs, failed,\n"
    "                   iterations, hypervolume, front_size, complete, front\n"
    "                   (seq, metrics, arch), history\n"
    "  --csv F          also write every evaluation as CSV (seq, iteration,\n"
    "                   status, metrics, rank, host, seconds, error, arch)\n"
    "  --front-csv F    also write the front as CSV (seq, metrics, arch): one\n"
    "                   row per member, front_size rows\n"
    "  --history-csv F  also write one CSV row per recorded iteration\n"
    "                   (iteration, evaluations, unique, failed, front_size,\n"
    "                   hypervolume)\n"
    "  --plot F.png     also draw a picture with gnuplot (apt-get install\n"
    "                   gnuplot-nox): left, every successful evaluation (grey)\n"
    "                   in the space of the first two objectives, axes marked\n"
    "                   (max) or (min), with the front as a red staircase;\n"
    "                   right, the hypervolume after each iteration against\n"
    "                   the evaluations spent. With more objectives the first\n"
    "                   two are drawn and the title says so.\n"
    "\n"
    "Every file is written under a temporary name and renamed into place; the\n"
    "files are written before anything is printed, and when one of them fails\n"
    "none of --front-csv, --history-csv, --plot is created.\n"
    "\n"
    "Comparing searches (the paper's Fig. 5 bottom):\n"
    "  --compare F.png  draw 1 to 6 stores of the same two objectives in one\n"
    "                   picture: left, each store's final front (points and\n"
    "                   staircase); right, each hypervolume against the\n"
    "                   evaluations spent; and print one line per store\n"
    "                   (evaluations, front size, final hypervolume)\n"
    "  --label NAME     the key's name of the next store, in order (default\n"
    "                   the store's file name); give none or one per store\n"
    "  --data D.h5      also draw a dataset's architectures (grey) under the\n"
    "                   fronts, when it has both objectives' metrics\n"
    "\n"
    "Examples: the picture of a run while it is still going:\n"
    "  autobuild report run.h5 --plot run.png --front-csv front.csv\n"
    "two searches over the labelled data:\n"
    "  autobuild report --compare fronts.png --data data.h5 \\\n"
    "      --label AutoBuild-NAS --label Stage-Full nas.h5 stage.h5\n";

/* report --compare: one picture of several stores, a line per store. */
static ab_status report_compare(const char *png, char **stores, int n, const char **labels,
                                int n_labels, const char *data_path)
{
    ab_status rc = AB_OK;
    struct ab_dataset *d = NULL;
    struct ab_store *st = NULL;
    const char *names[6];
    if (n < 1 || n > 6) return ab_cli_usage("report", "--compare draws 1 to 6 stores");
    if (n_labels && n_labels != n)
        return ab_cli_usage("report", "give one --label per store, or none");
    for (int i = 0; i < n; i++) {
        const char *slash = strrchr(stores[i], '/');
        names[i] = n_labels ? labels[i] : slash ? slash + 1 : stores[i];
    }
    if (data_path) AB_CALL(ab_dataset_read(data_path, &d));
    AB_CALL(ab_search_report_compare_png((const char *const *)stores, names, n, d, png));
    printf("%-24s %11s  %5s  %s\n", "search", "evaluations", "front", "hypervolume");
    for (int i = 0; i < n; i++) {
        AB_CALL(ab_store_read(stores[i], &st));
        const struct ab_store_iter *last = ab_store_last_iter(st);
        printf("%-24s %11ld  %5ld  %.6g\n", names[i], last ? last->evaluations : st->n,
               last ? last->n_front : 0L, last ? last->hypervolume : NAN);
        ab_store_close(&st);
    }
    AB_LOG_I("wrote %s", png);
cleanup:
    ab_store_close(&st);
    ab_dataset_destroy(&d);
    return rc;
}

ab_status ab_cmd_report(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"csv", required_argument, NULL, 'c'},
                                         {"front-csv", required_argument, NULL, 'f'},
                                         {"history-csv", required_argument, NULL, 'y'},
                                         {"plot", required_argument, NULL, 'p'},
                                         {"compare", required_argument, NULL, 'C'},
                                         {"label", required_argument, NULL, 'l'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    int json = 0, o, n_labels = 0;
    const char *csv = NULL, *front_csv = NULL, *history_csv = NULL, *png = NULL;
    const char *compare = NULL, *data = NULL, *labels[6];
    char csv_tmp[PATH_MAX] = "";
    struct ab_store *st = NULL;
    const struct ab_store_iter *last = NULL;
    long *by_seq_idx = NULL, max_seq = -1, failed = 0;
    FILE *f = NULL;
    (void)rt;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = 1; break;
        case 'c': csv = optarg; break;
        case 'f': front_csv = optarg; break;
        case 'y': history_csv = optarg; break;
        case 'p': png = optarg; break;
        case 'C': compare = optarg; break;
        case 'd': data = optarg; break;
        case 'l':
            if (n_labels == 6) return ab_cli_usage(argv[0], "at most 6 --label");
            labels[n_labels++] = optarg;
            break;
        case 'h': fputs(report_help, stdout); return AB_OK;
        default: UNKNOWN_OPTION();
        }
    }
    if (compare) {
        if (json || csv || front_csv || history_csv || png)
            return ab_cli_usage(argv[0], "--compare takes only --label and --data");
        return report_compare(compare, argv + optind, argc - optind, labels, n_labels, data);
    }
    if (n_labels || data) return ab_cli_usage(argv[0], "--label and --data go with --compare");
    if (optind + 1 != argc) return ab_cli_usage(argv[0], "give one STORE.h5");
    AB_CALL(ab_store_read(argv[optind], &st));
    AB_CALL(ab_search_report_write(st, front_csv, history_csv, png));
    for (long i = 0; i < st->n; i++) {
        if (st->ev[i].seq > max_seq) max_seq = st->ev[i].seq;
        failed += st->ev[i].status != 0;
    }
    by_seq_idx = malloc(sizeof *by_seq_idx * (size_t)(max_seq + 2));
    AB_CHECK_ALLOC(by_seq_idx);
    for (long i = 0; i <= max_seq; i++) by_seq_idx[i] = -1;
    for (long i = 0; i < st->n; i++) by_seq_idx[st->ev[i].seq] = i;
    last = ab_store_last_iter(st);
    if (json) {
        json_t *j = json_object(), *fr = json_array(), *hist = json_array();
        json_object_set_new(j, "evaluations", json_integer(last ? last->evaluations : st->n));
        json_object_set_new(j, "unique_archs", json_integer(st->n));
        json_object_set_new(j, "failed", json_integer(failed));
        json_object_set_new(j, "iterations", json_integer(last ? last->iteration : -1));
        json_object_set_new(j, "hypervolume", json_real(last ? last->hypervolume : 0.0));
        json_object_set_new(j, "front_size", json_integer(last ? last->n_front : 0));
        json_object_set_new(j, "complete", json_boolean(st->status_complete));
        for (long k = 0; last && k < last->n_front; k++) {
            long s = last->front[k], i = s <= max_seq ? by_seq_idx[s] : -1;
            json_t *m = json_object();
            if (i < 0) continue;
            for (int q = 0; q < st->n_metrics; q++)
                json_object_set_new(m, st->metrics[q], isfinite(st->ev[i].metrics[q])
                                                           ? json_real(st->ev[i].metrics[q])
                                                           : json_null());
            json_array_append_new(fr, json_pack("{s:I,s:o,s:s}", "seq", (json_int_t)s,
                                                "metrics", m, "arch", st->ev[i].arch));
        }
        for (long i = 0; i < st->n_iter; i++)
            json_array_append_new(hist, json_pack("{s:i,s:I,s:f,s:I}", "iteration",
                                                  st->it[i].iteration, "evaluations",
                                                  (json_int_t)st->it[i].evaluations,
                                                  "hypervolume", st->it[i].hypervolume,
                                                  "front_size", (json_int_t)st->it[i].n_front));
        json_object_set_new(j, "front", fr);
        json_object_set_new(j, "history", hist);
        char *t = json_dumps(j, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else {
        printf("%s: %ld evaluations recorded (%ld failed), %s\n", argv[optind], st->n, failed,
               st->status_complete ? "complete" : "not complete (running or interrupted)");
        printf("iteration  evaluations  front  hypervolume\n");
        for (long i = 0; i < st->n_iter; i++)
            printf("%9d  %11ld  %5ld  %.6g\n", st->it[i].iteration, st->it[i].evaluations,
                   st->it[i].n_front, st->it[i].hypervolume);
        if (last) {
            printf("\nfront after iteration %d (%ld architectures):\nseq", last->iteration,
                   last->n_front);
            for (int q = 0; q < st->n_metrics; q++) printf("\t%s", st->metrics[q]);
            printf("\tarch\n");
            for (long k = 0; k < last->n_front; k++) {
                long s = last->front[k], i = s <= max_seq ? by_seq_idx[s] : -1;
                if (i < 0) continue;
                printf("%ld", s);
                for (int q = 0; q < st->n_metrics; q++) printf("\t%.6g", st->ev[i].metrics[q]);
                printf("\t%s\n", st->ev[i].arch);
            }
        }
    }
    if (csv) {
        AB_CALL(ab_fs_temp_path(csv, csv_tmp, sizeof csv_tmp));
        f = fopen(csv_tmp, "w");
        if (!f) csv_tmp[0] = '\0';
        AB_CHECK(f, AB_ERR_IO, "%s: cannot create: %s", csv, strerror(errno));
        fprintf(f, "seq,iteration,status");
        for (int q = 0; q < st->n_metrics; q++) fprintf(f, ",%s", st->metrics[q]);
        fprintf(f, ",rank,host,seconds,error,arch\n");
        for (long i = 0; i < st->n; i++) {
            const struct ab_store_eval *e = &st->ev[i];
            fprintf(f, "%ld,%d,%d", e->seq, e->iteration, e->status);
            for (int q = 0; q < st->n_metrics; q++) fprintf(f, ",%.17g", e->metrics[q]);
            fprintf(f, ",%d,%s,%.6f,\"", e->rank, e->host, e->t_end - e->t_start);
            for (const char *p = e->error; *p; p++) fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
            fprintf(f, "\",\"");
            for (const char *p = e->arch; *p; p++) fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
            fprintf(f, "\"\n");
        }
        int closed = fclose(f);
        f = NULL;
        AB_CHECK(closed == 0, AB_ERR_IO, "%s: cannot write: %s", csv, strerror(errno));
        rc = ab_fs_commit(csv_tmp, csv);
        csv_tmp[0] = '\0'; /* removed by ab_fs_commit on failure */
        if (rc) goto cleanup;
    }
cleanup:
    if (f) fclose(f);
    if (csv_tmp[0]) unlink(csv_tmp);
    free(by_seq_idx);
    ab_store_close(&st);
    return rc;
}
