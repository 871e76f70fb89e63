/* SPDX-License-Identifier: MIT
 *
 * plot.h - pictures for reports, drawn by the programs people already have:
 * Graphviz's `dot` for graphs and gnuplot for charts. autobuild links
 * neither; it writes DOT text or a gnuplot script to a temporary file, runs
 * the program on it (fork + execvp, never a shell) and removes the file.
 * Every PNG is written under a temporary name beside its destination and
 * renamed into place, so a failure never leaves a half-drawn picture.
 *
 *     struct ab_plot_bar bars[] = {{"kernel", "k3", 0.62}, {"kernel", "k5", 0.26}};
 *     struct ab_plot_bars c;
 *     ab_plot_bars_init(&c);
 *     c.title = "FE-MLP importance";
 *     c.bars = bars;
 *     c.n_bars = 2;
 *     if (ab_plot_bars_png(&c, "imp.png")) fprintf(stderr, "%s\n", ab_err_msg());
 *
 * When `dot` or `gnuplot` is missing the error says which Debian package to
 * install (graphviz, gnuplot-nox). Text given to these functions is plain
 * UTF-8: it is escaped for DOT's HTML labels and gnuplot's strings here.
 */
#ifndef AB_REPORT_PLOT_H
#define AB_REPORT_PLOT_H

#include <stdio.h>

#include "util/error.h"

/* Runs a program found in PATH with argv (argv[0] is its name; the list is
 * NULL-terminated) and waits for it. Its standard input is /dev/null; its
 * output and errors are captured and only shown (first line) when it fails.
 * `package` is the Debian package that provides it, named in the error when
 * the program is missing. Errors (AB_ERR_IO): the program is missing or
 * cannot run, it exits with a non-zero status or is killed by a signal. */
ab_status ab_plot_run(const char *const argv[], const char *package);

/* The colour of t in [0, 1] (clamped) on the importance ramp green (low) ->
 * yellow -> orange -> red (high), as "#rrggbb" into hex[8]. */
void ab_plot_ramp_color(double t, char hex[8]);

/* 1 when black text is more readable than white on the colour "#rrggbb". */
int ab_plot_color_is_light(const char *hex);

/* ---- graphs (Graphviz) --------------------------------------------------- */

struct ab_plot_node {
    const char *title;     /* first line, bold (e.g. the block name) */
    const char *detail;    /* second line, smaller; NULL for none */
    double value;          /* fills the node on the ramp (min-max over the
                            * graph's nodes) and is printed as a third line */
    int cluster;           /* index into clusters; -1 for none */
};

struct ab_plot_graph {
    const char *title;            /* above the graph; '\n' starts a new line */
    const char *value_name;       /* legend caption, e.g. "L1 norm of h_v" */
    const char *value_format;     /* printf format of a node's value ("%.3g") */
    const struct ab_plot_node *nodes;
    int n_nodes;
    const int *edge_src, *edge_dst; /* node indices */
    int n_edges;
    const char *const *clusters;  /* cluster labels */
    int n_clusters;
};

/* Writes the graph as DOT text. With clusters, each cluster is drawn as a
 * column (its internal edges run top to bottom) and the columns stand left
 * to right in cluster order, joined by their edges; the title and a colour
 * legend (the ramp with the value range) sit on top. Fails (AB_ERR_IO) when
 * the stream cannot be written. */
ab_status ab_plot_graph_write_dot(const struct ab_plot_graph *g, FILE *f);

/* Draws the graph into a PNG at path (atomically) with `dot`. */
ab_status ab_plot_graph_png(const struct ab_plot_graph *g, const char *path);

/* ---- charts (gnuplot) ---------------------------------------------------- */

/* Runs a gnuplot script that draws one picture into a PNG at path
 * (atomically): the terminal (pngcairo, width x height pixels, DejaVu Sans,
 * no enhanced-text markup) and the output file are set before `body`. */
ab_status ab_plot_gnuplot_png(const char *body, int width, int height, const char *path);

/* Writes s as a double-quoted gnuplot string (backslash escapes; '\n' stays
 * a line break). */
void ab_plot_gnuplot_string(FILE *f, const char *s);

struct ab_plot_bar {
    const char *group;     /* consecutive bars of one group share a colour and
                            * a heading; NULL or "" for none */
    const char *label;     /* tick label under the bar */
    double value;          /* NaN: no bar, "n/a" printed instead */
};

struct ab_plot_bars {
    const char *title;            /* '\n' starts a new line */
    const char *ylabel;
    const struct ab_plot_bar *bars;
    int n_bars;
    const char *value_format;     /* printf format of the value printed above
                                   * each bar; NULL for none */
    double ymin, ymax;            /* NaN: from the data */
    double ref;                   /* a dashed reference line; NaN for none */
    const char *ref_label;        /* its entry in the key below the chart */
    int width, height;            /* pixels; 0: from the number of bars */
};

/* Defaults: no title, values "%.3f", automatic y range, no reference line. */
void ab_plot_bars_init(struct ab_plot_bars *c);

/* Writes the gnuplot script of the bar chart (everything after the terminal
 * and output lines). Fails (AB_ERR_IO) when the stream cannot be written,
 * (AB_ERR_INPUT) when there are no bars. */
ab_status ab_plot_bars_write_gnuplot(const struct ab_plot_bars *c, FILE *f);

/* Draws the bar chart into a PNG at path (atomically) with gnuplot. */
ab_status ab_plot_bars_png(const struct ab_plot_bars *c, const char *path);

#endif /* AB_REPORT_PLOT_H */
