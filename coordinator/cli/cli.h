/* SPDX-License-Identifier: MIT
 *
 * cli.h - the subcommands of the autobuild binary. Each command is
 *
 *     int ab_cmd_<group>_<name>(int argc, char **argv, struct ab_runtime *rt);
 *
 * receiving argv[0] = "<group> <name>" and its options; it returns an
 * ab_status (the error text is in ab_err_msg()) and prints its own --help.
 */
#ifndef AB_CLI_CLI_H
#define AB_CLI_CLI_H

#include "mpi/runtime.h"
#include "util/error.h"

typedef ab_status (*ab_cmd_fn)(int argc, char **argv, struct ab_runtime *rt);

struct ab_cmd {
    const char *group;   /* "space", "data", or NULL for top-level */
    const char *name;
    const char *summary;
    ab_cmd_fn fn;
    int parallel;        /* 1: all ranks run it; 0: rank 0 only */
};

/* The command table, terminated by a zeroed entry. */
extern const struct ab_cmd ab_commands[];

ab_status ab_cmd_space_info(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_space_subgraphs(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_data_import(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_data_export(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_data_info(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_data_sample(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_data_label(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_quickstart(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_train(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_predict(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_explain(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_plot(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_label(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_units_show(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_reduce(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_build(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_exhaustive(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_search(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_report(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_campaign(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_evaluate(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_testdouble_job(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_ofa_init(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_ofa_infer(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_ofa_latency(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_ofa_flops(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_ofa_eval(int argc, char **argv, struct ab_runtime *rt);
/* "fid stats" must precede "fid" in the table: the dispatcher takes the
 * first match. */
ab_status ab_cmd_fid_stats(int argc, char **argv, struct ab_runtime *rt);
ab_status ab_cmd_fid(int argc, char **argv, struct ab_runtime *rt);

/* Option helpers: parse a whole integer / a comma-separated integer list;
 * errors name the option and what is expected. */
ab_status ab_cli_int(const char *opt, const char *s, long lo, long hi, long *out);
ab_status ab_cli_int_list(const char *opt, const char *s, int max, int *out, int *n);

/* The common usage error for an unknown option or a missing argument. */
ab_status ab_cli_usage(const char *cmd, const char *what);

#endif
