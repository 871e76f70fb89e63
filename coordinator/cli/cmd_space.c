/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild space info` and `autobuild space
 * subgraphs`.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "space/space.h"

static const char info_help[] =
    "usage: autobuild space info SPACE [--json]\n"
    "\n"
    "Prints a search space: its stages with their layer bounds and choices, its\n"
    "search units (the modules AutoBuild scores; OFA-PN merges stages 5 and 6),\n"
    "the exact number of subgraphs per unit, the exact number of architectures,\n"
    "the input resolutions and the node features a predictor sees.\n"
    "\n"
    "SPACE is a built-in name (ofa_mbv3, ofa_pn) or a YAML file, e.g.\n"
    "\n"
    "  space:\n"
    "    name: macro8\n"
    "    stages:\n"
    "      - {min_layers: 2, max_layers: 2, choices: [id, ir_3x3_t3, ir_5x5_t6]}\n"
    "      - {min_layers: 3, max_layers: 3, choices: [id, ir_3x3_t3, ir_5x5_t6]}\n"
    "\n"
    "Optional keys: resolutions ([160, 224] or {min, max, step}),\n"
    "sample_resolutions, units ([[1], [2, 3]]), attributes ({kernel: numeric}); a\n"
    "choice may be {name: ir_3x3_t3, kernel: 3, op: ir} to give node features.\n"
    "\n"
    "  --json   one JSON object instead of the table\n";

static void stage_formula(const struct ab_stage *st, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = st->min_layers; d <= st->max_layers && len + 16 < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d^%d", d > st->min_layers ? " + " : "",
                                st->n_choices, d);
}

static void print_unit_count(const struct ab_space *sp, int u, FILE *out)
{
    uint64_t n = ab_space_unit_count(sp, u);
    if (n == UINT64_MAX) fputs("more than 2^64", out);
    else fprintf(out, "%llu", (unsigned long long)n);
}

static void print_table(const struct ab_space *sp, const char *size)
{
    char f[256];
    printf("space %s (%s)\n", sp->name, sp->source);
    if (sp->reduced) printf("  reduced space from %s\n", sp->reduced_source);
    if (sp->n_resolutions > 0) {
        printf("  resolutions: %d", sp->resolutions[0]);
        if (sp->n_resolutions > 1)
            printf(" to %d (%d values)", sp->resolutions[sp->n_resolutions - 1], sp->n_resolutions);
        printf("; sampling draws from");
        for (int i = 0; i < sp->n_sample_resolutions; i++)
            printf("%s %d", i ? "," : "", sp->sample_resolutions[i]);
        printf("\n");
    } else {
        printf("  resolutions: none (architectures carry no input resolution)\n");
    }
    printf("  stages: %d\n", sp->n_stages);
    for (int s = 0; s < sp->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        printf("    stage %d: %d-%d layers, %d choices:", s + 1, st->min_layers, st->max_layers,
               st->n_choices);
        for (int c = 0; c < st->n_choices; c++) printf(" %s", st->choices[c].name);
        printf("\n");
    }
    printf("  units (modules that are scored and mutated): %d\n", sp->n_units);
    for (int u = 0; u < sp->n_units; u++) {
        const struct ab_unit *un = &sp->units[u];
        printf("    unit %d = stage%s %d", u + 1, un->n_stages > 1 ? "s" : "", un->first + 1);
        if (un->n_stages > 1) printf("-%d", un->first + un->n_stages);
        printf(": ");
        print_unit_count(sp, u, stdout);
        if (sp->reduced) {
            printf(" subgraphs (of %llu)\n", (unsigned long long)ab_space_unit_count_full(sp, u));
            continue;
        }
        if (ab_space_n_configs(sp) > 0) { /* coupled units: counts, no formula */
            printf(" subgraphs\n");
            continue;
        }
        printf(" subgraphs (");
        for (int k = 0; k < un->n_stages; k++) {
            stage_formula(&sp->stages[un->first + k], f, sizeof f);
            printf(un->n_stages > 1 ? "%s(%s)" : "%s%s", k ? " x " : "", f);
        }
        printf(")\n");
    }
    if (ab_space_n_configs(sp) > 0) {
        char rules[4096];
        ab_space_describe_constraints(sp, rules, sizeof rules);
        printf("  coupled units: %d configurations\n", ab_space_n_configs(sp));
        for (char *line = rules, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl) {
                printf("    %s\n", line);
                break;
            }
            printf("    %.*s\n", (int)(nl - line), line);
        }
        printf("  architectures: %s (10^%.2f)\n", size, ab_space_size_log10(sp));
        goto features;
    }
    printf("  architectures%s: ", sp->n_resolutions > 0 ? " per resolution" : "");
    /* the product of unit counts, repeated factors as powers: 7371^5 */
    for (int u = 0; u < sp->n_units;) {
        int r = 1;
        while (u + r < sp->n_units && ab_space_unit_count(sp, u + r) == ab_space_unit_count(sp, u))
            r++;
        printf("%s", u ? " x " : "");
        print_unit_count(sp, u, stdout);
        if (r > 1) printf("^%d", r);
        u += r;
    }
    printf(" = %s (10^%.2f)\n", size, ab_space_size_log10(sp));
    int n_res = sp->reduced ? sp->n_sample_resolutions : sp->n_resolutions;
    if (n_res > 1)
        printf("  architectures x resolutions: 10^%.2f\n",
               ab_space_size_log10(sp) + log10((double)n_res));
features:
    printf("  node features:");
    for (int i = 0; i < sp->n_features; i++) {
        if (sp->features[i].cardinality) printf(" %s(%d)", sp->features[i].name,
                                                sp->features[i].cardinality);
        else printf(" %s(numeric)", sp->features[i].name);
    }
    printf("\n");
}

static void print_json(const struct ab_space *sp, const char *size)
{
    printf("{\"space\":\"%s\",\"source\":\"%s\",\"stages\":[", sp->name,
           strcmp(sp->source, "built-in") ? "yaml" : "built-in");
    for (int s = 0; s < sp->n_stages; s++) {
        const struct ab_stage *st = &sp->stages[s];
        printf("%s{\"min_layers\":%d,\"max_layers\":%d,\"choices\":[", s ? "," : "",
               st->min_layers, st->max_layers);
        for (int c = 0; c < st->n_choices; c++) printf("%s\"%s\"", c ? "," : "", st->choices[c].name);
        printf("]}");
    }
    printf("],\"units\":[");
    for (int u = 0; u < sp->n_units; u++) {
        printf("%s{\"stages\":[", u ? "," : "");
        for (int k = 0; k < sp->units[u].n_stages; k++)
            printf("%s%d", k ? "," : "", sp->units[u].first + k + 1);
        printf("],\"subgraphs\":");
        print_unit_count(sp, u, stdout);
        printf("}");
    }
    printf("],\"resolutions\":[");
    for (int i = 0; i < sp->n_resolutions; i++) printf("%s%d", i ? "," : "", sp->resolutions[i]);
    printf("],\"architectures\":\"%s\",\"architectures_log10\":%.6f}\n", size,
           ab_space_size_log10(sp));
}

ab_status ab_cmd_space_info(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    char *size = NULL;
    int json = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'j') json = 1;
        else if (o == 'h') {
            fputs(info_help, stdout);
            goto cleanup;
        } else {
            rc = ab_cli_usage(argv[0], "unknown option");
            goto cleanup;
        }
    }
    if (optind != argc - 1) {
        rc = ab_cli_usage(argv[0], "expected exactly one SPACE (a built-in name or a YAML file)");
        goto cleanup;
    }
    AB_CALL(ab_space_open(argv[optind], &sp));
    size = ab_space_size_string(sp);
    AB_CHECK_ALLOC(size);
    if (json) print_json(sp, size);
    else print_table(sp, size);
cleanup:
    free(size);
    ab_space_destroy(&sp);
    return rc;
}

static const char subgraphs_help[] =
    "usage: autobuild space subgraphs SPACE --unit U [--start I] [--limit N]\n"
    "\n"
    "Enumerates the subgraphs of search unit U (1-based; see 'space info') as\n"
    "JSON lines {\"unit\":U,\"index\":I,\"stages\":[[blocks of the unit's first\n"
    "stage], ...]}, ordered by total layer count, then per-stage layer counts,\n"
    "then choices. These are the modules module scoring ranks.\n"
    "\n"
    "  --unit U    the unit, 1-based (required)\n"
    "  --start I   first index (default 0)\n"
    "  --limit N   at most N subgraphs (default: all)\n";

ab_status ab_cmd_space_subgraphs(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"unit", required_argument, NULL, 'u'},
                                         {"start", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    long unit = 0, start = 0, limit = -1;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': AB_CALL(ab_cli_int("--unit", optarg, 1, AB_MAX_STAGES, &unit)); break;
        case 's': AB_CALL(ab_cli_int("--start", optarg, 0, 0x7fffffffffffffffL, &start)); break;
        case 'l': AB_CALL(ab_cli_int("--limit", optarg, 0, 0x7fffffffffffffffL, &limit)); break;
        case 'h': fputs(subgraphs_help, stdout); goto cleanup;
        default: rc = ab_cli_usage(argv[0], "unknown option"); goto cleanup;
        }
    }
    if (optind != argc - 1 || unit == 0) {
        rc = ab_cli_usage(argv[0], "expected SPACE and --unit U");
        goto cleanup;
    }
    AB_CALL(ab_space_open(argv[optind], &sp));
    AB_CHECK(unit <= sp->n_units, AB_ERR_INPUT, "--unit %ld: space '%s' has units 1 to %d",
             unit, sp->name, sp->n_units);
    uint64_t count = ab_space_unit_count(sp, (int)unit - 1);
    AB_CHECK(count != UINT64_MAX, AB_ERR_INPUT, "unit %ld has more than 2^64 subgraphs", unit);
    for (uint64_t k = (uint64_t)start; k < count && (limit < 0 || (long)(k - (uint64_t)start) < limit);
         k++) {
        struct ab_subgraph g;
        /* in a reduced space: the k-th allowed subgraph */
        uint64_t i = sp->reduced ? sp->allowed[unit - 1].index[k] : k;
        AB_CALL(ab_space_unit_subgraph(sp, (int)unit - 1, i, &g));
        printf("{\"unit\":%ld,\"index\":%llu,\"stages\":[", unit, (unsigned long long)i);
        for (int k = 0; k < g.n_stages; k++) {
            const struct ab_stage *st = &sp->stages[sp->units[g.unit].first + k];
            printf("%s[", k ? "," : "");
            for (int l = 0; l < g.depth[k]; l++)
                printf("%s\"%s\"", l ? "," : "", st->choices[g.choice[k][l]].name);
            printf("]");
        }
        printf("]}\n");
    }
cleanup:
    ab_space_destroy(&sp);
    return rc;
}
