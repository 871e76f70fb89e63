/* SPDX-License-Identifier: MIT
 *
 * This file implements main(): the git-style dispatcher of the autobuild
 * binary. `autobuild <group> <command> [options]` (or `autobuild <command>`
 * for top-level commands) runs plain or under mpirun/srun; serial commands
 * run on rank 0 only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "h5/h5util.h"
#include "mpi/runtime.h"
#include "util/log.h"

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: autobuild [-v|-q] <command> [<args>]\n"
            "\n"
            "autobuild searches neural architectures with AutoBuild (CVPR 2024): a GNN\n"
            "predictor learns which architecture modules matter, their scores shrink the\n"
            "search space, and a multi-objective evolutionary search runs inside it.\n"
            "It runs plain or under mpirun/srun (rank 0 coordinates).\n"
            "\n"
            "commands:\n");
    for (const struct ab_cmd *c = ab_commands; c->name; c++) {
        char full[64];
        snprintf(full, sizeof full, "%s%s%s", c->group ? c->group : "", c->group ? " " : "",
                 c->name);
        fprintf(out, "  %-18s %s\n", full, c->summary);
    }
    fprintf(out,
            "\n"
            "options:\n"
            "  -v, --verbose      debug log lines      -q, --quiet   errors only\n"
            "  --version          print the version    -h, --help    this text\n"
            "\n"
            "'autobuild <command> --help' explains each command. Log lines go to stderr\n"
            "as '[r<rank> LEVEL] ...'; AUTOBUILD_LOG=debug|info|warn|error sets the level.\n"
            "Exit status: 0 success, 2 bad input (the message names the file, field and\n"
            "fix), 1 any other failure.\n");
}

/* OpenMP threads that spin while they wait for each other take the CPU from
 * the thread they wait for on shared and virtual machines (measured: 10x
 * slower training with 2 threads). libgomp reads its wait policy before
 * main(), so a threaded run re-executes itself once with passive waiting,
 * unless the user chose a policy. */
static void prefer_passive_waiting(int argc, char **argv)
{
    int threaded = 0;
    if (getenv("OMP_WAIT_POLICY")) return;
    /* The OFA engine's parallel regions are microseconds apart: sleeping
     * threads would add their wake-up time to every layer's latency. */
    for (int i = 1; i < argc && argv[i][0] == '-'; i++)
        if (i + 1 < argc && !strcmp(argv[i + 1], "ofa")) return;
    if (argc > 1 && !strcmp(argv[1], "ofa")) return;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc && atoi(argv[i + 1]) > 1) threaded = 1;
        if (!strncmp(argv[i], "--threads=", 10) && atoi(argv[i] + 10) > 1) threaded = 1;
    }
    if (!threaded) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv); /* returns only on failure: go on as we are */
}

static const struct ab_cmd *find_command(int argc, char **argv, int *consumed)
{
    for (const struct ab_cmd *c = ab_commands; c->name; c++) {
        if (!c->group && argc >= 1 && !strcmp(argv[0], c->name)) {
            *consumed = 1;
            return c;
        }
        if (c->group && argc >= 2 && !strcmp(argv[0], c->group) && !strcmp(argv[1], c->name)) {
            *consumed = 2;
            return c;
        }
    }
    return NULL;
}

static int is_group(const char *s)
{
    for (const struct ab_cmd *c = ab_commands; c->name; c++)
        if (c->group && !strcmp(c->group, s)) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct ab_runtime rt;
    const struct ab_cmd *cmd;
    int consumed = 0, first = 1, code;
    char name[64];
    ab_status rc;

    prefer_passive_waiting(argc, argv);
    ab_log_init_from_env();
    while (first < argc && argv[first][0] == '-') {
        const char *o = argv[first];
        if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) ab_log_set_level(AB_LOG_DEBUG);
        else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) ab_log_set_level(AB_LOG_ERROR);
        else if (!strcmp(o, "--version")) {
            printf("autobuild %s\n", AB_VERSION);
            return 0;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            print_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "autobuild: error: unknown option '%s' (see 'autobuild --help')\n", o);
            return 2;
        }
        first++;
    }
    if (first >= argc) {
        print_usage(stderr);
        return 2;
    }
    cmd = find_command(argc - first, argv + first, &consumed);
    if (!cmd) {
        if (is_group(argv[first]))
            fprintf(stderr, "autobuild: error: '%s' needs a command: %s%s%s (see 'autobuild "
                    "--help')\n", argv[first], argv[first], first + 1 < argc ? " " : "",
                    first + 1 < argc ? argv[first + 1] : "...");
        else
            fprintf(stderr, "autobuild: error: unknown command '%s' (see 'autobuild --help')\n",
                    argv[first]);
        return 2;
    }
    snprintf(name, sizeof name, "%s%s%s", cmd->group ? cmd->group : "", cmd->group ? " " : "",
             cmd->name);
    ab_h5_init();
    rc = ab_runtime_init(&argc, &argv, 0, &rt);
    if (rc) {
        fprintf(stderr, "autobuild: error: %s\n", ab_err_msg());
        return ab_status_exit_code(rc);
    }
    /* argv may have been rewritten by MPI_Init; find the command again. */
    first = 1;
    while (first < argc && argv[first][0] == '-') first++;
    find_command(argc - first, argv + first, &consumed);
    {
        int sub_argc = argc - first - consumed + 1;
        char **sub_argv = argv + first + consumed - 1;
        sub_argv[0] = name;
        if (cmd->parallel || rt.rank == 0) rc = cmd->fn(sub_argc, sub_argv, &rt);
        else rc = AB_OK;
    }
    code = ab_status_exit_code(rc);
    if (rc) fprintf(stderr, "autobuild: error: %s\n", ab_err_msg());
    fflush(stdout);
    ab_runtime_finalize(&rt, code);
    return code;
}
