/* SPDX-License-Identifier: MIT
 *
 * This file implements the report pictures of plot.h: running an external
 * program and waiting for it, the importance colour ramp, the DOT writer for
 * coloured graphs (rendered by Graphviz's `dot`) and the gnuplot bar-chart
 * writer (rendered by gnuplot's pngcairo terminal). Scripts go to temporary
 * files that are always removed; pictures go to a temporary name beside the
 * destination and are renamed into place.
 */
#include "report/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/log.h"

/* ---------------------------------------------------------------------- */
/* running a program                                                       */

#define CAPTURE_MAX 4096

/* Child side: redirect, exec; on failure report errno through errfd. */
static void exec_child(const char *const argv[], int outfd, int errfd)
{
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        if (null > 2) close(null);
    }
    dup2(outfd, 1);
    dup2(outfd, 2);
    execvp(argv[0], (char *const *)argv);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Reads fd to its end, keeping the first cap-1 bytes NUL-terminated. */
static void drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char scratch[512];
    for (;;) {
        ssize_t got = read(fd, scratch, sizeof scratch);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        for (ssize_t i = 0; i < got && n + 1 < cap; i++) buf[n++] = scratch[i];
    }
    buf[n] = '\0';
}

/* The first non-empty line of text, trimmed, into line[cap]. */
static void first_line(const char *text, char *line, size_t cap)
{
    const char *p = text;
    line[0] = '\0';
    while (*p) {
        p += strspn(p, " \t\r\n");
        size_t len = strcspn(p, "\r\n");
        if (len) {
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
            snprintf(line, cap, "%.*s", (int)len, p);
            return;
        }
    }
}

ab_status ab_plot_run(const char *const argv[], const char *package)
{
    ab_status rc = AB_OK;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, status = 0, exec_errno = 0;
    char *captured = NULL, line[256];
    pid_t pid;
    AB_CHECK(pipe2(outp, O_CLOEXEC) == 0 && pipe2(errp, O_CLOEXEC) == 0, AB_ERR_IO,
             "cannot run '%s': pipe: %s", argv[0], strerror(errno));
    captured = malloc(CAPTURE_MAX);
    AB_CHECK_ALLOC(captured);
    fflush(NULL);
    pid = fork();
    AB_CHECK(pid >= 0, AB_ERR_IO, "cannot run '%s': fork: %s", argv[0], strerror(errno));
    if (pid == 0) exec_child(argv, outp[1], errp[1]);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    drain(outp[0], captured, CAPTURE_MAX);
    for (;;) {
        ssize_t got = read(errp[0], &exec_errno, sizeof exec_errno);
        if (got < 0 && errno == EINTR) continue;
        if (got != (ssize_t)sizeof exec_errno) exec_errno = 0;
        break;
    }
    while (waitpid(pid, &status, 0) < 0) {
        AB_CHECK(errno == EINTR, AB_ERR_IO, "cannot wait for '%s': %s", argv[0], strerror(errno));
    }
    if (exec_errno == ENOENT)
        AB_FAIL(AB_ERR_IO, "'%s' is not installed: install %s: apt-get install %s", argv[0],
                package, package);
    AB_CHECK(exec_errno == 0, AB_ERR_IO, "cannot run '%s': %s (reinstall %s: apt-get install %s)",
             argv[0], strerror(exec_errno), package, package);
    first_line(captured, line, sizeof line);
    if (WIFSIGNALED(status))
        AB_FAIL(AB_ERR_IO, "'%s' was killed by signal %d%s%s", argv[0], WTERMSIG(status),
                line[0] ? ": " : "", line);
    AB_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, AB_ERR_IO,
             "'%s' failed (exit status %d)%s%s", argv[0], WEXITSTATUS(status),
             line[0] ? ": " : "", line);
    if (captured[0]) AB_LOG_D("%s: %s", argv[0], line);
cleanup:
    for (int k = 0; k < 2; k++) {
        if (outp[k] >= 0) close(outp[k]);
        if (errp[k] >= 0) close(errp[k]);
    }
    free(captured);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* temporary files                                                         */

/* Creates $TMPDIR/autobuild-plot-XXXXXX<suffix> (TMPDIR defaults to /tmp)
 * and opens it for writing. */
static ab_status open_script(const char *suffix, char *path, size_t cap, FILE **out)
{
    const char *dir = getenv("TMPDIR");
    int n, fd;
    *out = NULL;
    if (!dir || !*dir) dir = "/tmp";
    n = snprintf(path, cap, "%s/autobuild-plot-XXXXXX%s", dir, suffix);
    if (n < 0 || (size_t)n >= cap) {
        path[0] = '\0';
        return ab_err_set(AB_ERR_IO, "TMPDIR '%s': the path is too long", dir);
    }
    fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        int e = errno;
        path[0] = '\0';
        return ab_err_set(AB_ERR_IO, "cannot create a temporary file in %s: %s (set TMPDIR to "
                          "a writable folder)", dir, strerror(e));
    }
    *out = fdopen(fd, "w");
    if (!*out) {
        int e = errno;
        close(fd);
        return ab_err_set(AB_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    return AB_OK;
}

/* Closes a script, reporting any write error. */
static ab_status close_script(FILE **f, const char *path)
{
    int bad = ferror(*f);
    bad |= fclose(*f) != 0;
    *f = NULL;
    if (bad) return ab_err_set(AB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return AB_OK;
}

/* The temporary name of a picture, created empty so that an unwritable
 * destination is reported here, naming the destination. */
static ab_status prepare_output(const char *path, char *tmp, size_t cap)
{
    int fd;
    tmp[0] = '\0';
    AB_TRY(ab_fs_temp_path(path, tmp, cap));
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        tmp[0] = '\0';
        return ab_err_set(AB_ERR_IO, "%s: cannot create the picture: %s", path, strerror(e));
    }
    close(fd);
    return AB_OK;
}

/* Checks that the program wrote a PNG, then renames it into place. */
static ab_status commit_png(const char *tmp, const char *path, const char *program)
{
    static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(tmp, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (got != sizeof head || memcmp(head, magic, sizeof magic))
        return ab_err_set(AB_ERR_IO, "%s: '%s' wrote no PNG picture", path, program);
    return ab_fs_commit(tmp, path);
}

/* ---------------------------------------------------------------------- */
/* colours                                                                 */

void ab_plot_ramp_color(double t, char hex[8])
{
    /* ColorBrewer RdYlGn, reversed: green, light green, yellow, orange, red */
    static const unsigned char stops[5][3] = {
        {0x1a, 0x98, 0x50}, {0x91, 0xcf, 0x60}, {0xfe, 0xe0, 0x8b}, {0xfc, 0x8d, 0x59},
        {0xd7, 0x30, 0x27}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double pos = t * 4;
    int k = pos >= 4 ? 3 : (int)pos;
    double f = pos - k;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(stops[k][c] + f * (stops[k + 1][c] - stops[k][c]));
    snprintf(hex, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

int ab_plot_color_is_light(const char *hex)
{
    unsigned r = 0, g = 0, b = 0;
    if (sscanf(hex, "#%2x%2x%2x", &r, &g, &b) != 3) return 1;
    return 0.299 * r + 0.587 * g + 0.114 * b >= 150;
}

/* ---------------------------------------------------------------------- */
/* DOT                                                                     */

/* Writes s escaped for an HTML-like label; '\n' becomes a line break. */
static void put_html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\n': fputs("<br/>", f); break;
        default: fputc(*s, f);
        }
    }
}

static void format_value(const char *fmt, double v, char *buf, size_t cap)
{
    if (!isfinite(v)) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, fmt ? fmt : "%.3g", v);
}

/* The title and the colour legend, as the graph's HTML label. */
static void write_legend(const struct ab_plot_graph *g, FILE *f, double lo, double hi)
{
    char buf[64], hex[8];
    fputs("  label=<<table border=\"0\" cellspacing=\"0\" cellpadding=\"3\">\n", f);
    if (g->title && *g->title) {
        fputs("    <tr><td><font point-size=\"17\"><b>", f);
        put_html(f, g->title);
        fputs("</b></font></td></tr>\n", f);
    }
    fputs("    <tr><td><table border=\"0\" cellspacing=\"0\" cellpadding=\"2\"><tr>\n", f);
    fputs("      <td><font point-size=\"12\">node colour: ", f);
    put_html(f, g->value_name ? g->value_name : "value");
    fputs("  </font></td>\n", f);
    format_value(g->value_format, lo, buf, sizeof buf);
    fputs("      <td align=\"right\"><font point-size=\"12\">", f);
    put_html(f, buf);
    fputs(" (low) </font></td>\n", f);
    for (int i = 0; i < 11; i++) {
        ab_plot_ramp_color(i / 10.0, hex);
        fprintf(f, "      <td bgcolor=\"%s\" width=\"22\" height=\"16\" fixedsize=\"true\"></td>\n",
                hex);
    }
    format_value(g->value_format, hi, buf, sizeof buf);
    fputs("      <td align=\"left\"><font point-size=\"12\"> ", f);
    put_html(f, buf);
    fputs(" (high)</font></td>\n", f);
    fputs("    </tr></table></td></tr>\n  </table>>;\n", f);
}

static void write_node(const struct ab_plot_graph *g, FILE *f, int i, double lo, double hi,
                       const char *indent)
{
    const struct ab_plot_node *n = &g->nodes[i];
    char hex[8], buf[64];
    if (isfinite(n->value)) ab_plot_ramp_color(hi > lo ? (n->value - lo) / (hi - lo) : 0.5, hex);
    else snprintf(hex, sizeof hex, "#dddddd");
    const char *ink = ab_plot_color_is_light(hex) ? "#111111" : "#ffffff";
    fprintf(f, "%sn%d [fillcolor=\"%s\", fontcolor=\"%s\", label=<<table border=\"0\" "
            "cellspacing=\"0\" cellpadding=\"1\"><tr><td><b>", indent, i, hex, ink);
    put_html(f, n->title);
    fputs("</b></td></tr>", f);
    if (n->detail && *n->detail) {
        fputs("<tr><td><font face=\"DejaVu Sans\" point-size=\"10\">", f);
        put_html(f, n->detail);
        fputs("</font></td></tr>", f);
    }
    format_value(g->value_format, n->value, buf, sizeof buf);
    fputs("<tr><td><font face=\"DejaVu Sans\" point-size=\"11\"><b>", f);
    put_html(f, buf);
    fputs("</b></font></td></tr></table>>];\n", f);
}

ab_status ab_plot_graph_write_dot(const struct ab_plot_graph *g, FILE *f)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < g->n_nodes; i++) {
        double v = g->nodes[i].value;
        if (!isfinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (lo > hi) lo = hi = NAN;
    fputs("digraph autobuild {\n"
          "  graph [rankdir=TB, nodesep=0.45, ranksep=0.35, pad=0.3, bgcolor=\"white\", splines=line,\n"
          "         fontname=\"DejaVu Sans\", labelloc=t, labeljust=c, dpi=96];\n"
          "  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=12,\n"
          "        margin=\"0.14,0.05\", penwidth=1.2, color=\"#444444\"];\n"
          "  edge [color=\"#444444\", penwidth=1.3, arrowsize=0.8];\n",
          f);
    write_legend(g, f, lo, hi);
    for (int c = 0; c < g->n_clusters; c++) {
        fprintf(f, "  subgraph cluster_%d {\n", c);
        fputs("    style=\"rounded,filled\"; fillcolor=\"#f3f3f3\"; color=\"#b0b0b0\";\n"
              "    fontname=\"DejaVu Sans\"; fontsize=14; margin=10;\n    label=<<b>", f);
        put_html(f, g->clusters[c]);
        fputs("</b>>;\n", f);
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].cluster == c) write_node(g, f, i, lo, hi, "    ");
        fputs("  }\n", f);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        int c = g->nodes[i].cluster;
        if (c < 0 || c >= g->n_clusters) write_node(g, f, i, lo, hi, "  ");
    }
    for (int e = 0; e < g->n_edges; e++) {
        int s = g->edge_src[e], d = g->edge_dst[e];
        if (s < 0 || s >= g->n_nodes || d < 0 || d >= g->n_nodes) continue;
        int across = g->n_clusters > 0 && g->nodes[s].cluster != g->nodes[d].cluster;
        if (across) fprintf(f, "  n%d:e -> n%d:w [constraint=false];\n", s, d);
        else fprintf(f, "  n%d -> n%d;\n", s, d);
    }
    fputs("}\n", f);
    if (ferror(f)) return ab_err_set(AB_ERR_IO, "cannot write the DOT text: %s", strerror(errno));
    return AB_OK;
}

ab_status ab_plot_graph_png(const struct ab_plot_graph *g, const char *path)
{
    ab_status rc = AB_OK;
    char script[PATH_MAX] = "", tmp[PATH_MAX] = "";
    FILE *f = NULL;
    AB_CALL(prepare_output(path, tmp, sizeof tmp));
    AB_CALL(open_script(".dot", script, sizeof script, &f));
    AB_CALL(ab_plot_graph_write_dot(g, f));
    AB_CALL(close_script(&f, script));
    {
        const char *argv[] = {"dot", "-Tpng", "-o", tmp, script, NULL};
        if (ab_plot_run(argv, "graphviz") != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
    }
    AB_CALL(commit_png(tmp, path, "dot"));
    tmp[0] = '\0';
cleanup:
    if (f) fclose(f);
    if (script[0]) unlink(script);
    if (tmp[0]) unlink(tmp);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* gnuplot                                                                 */

void ab_plot_gnuplot_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

ab_status ab_plot_gnuplot_png(const char *body, int width, int height, const char *path)
{
    ab_status rc = AB_OK;
    char script[PATH_MAX] = "", tmp[PATH_MAX] = "";
    FILE *f = NULL;
    AB_CALL(prepare_output(path, tmp, sizeof tmp));
    AB_CALL(open_script(".gp", script, sizeof script, &f));
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font \"DejaVu Sans,11\"\n",
            width > 0 ? width : 900, height > 0 ? height : 560);
    fputs("set encoding utf8\nset output ", f);
    ab_plot_gnuplot_string(f, tmp);
    fputs("\n", f);
    fputs(body, f);
    fputs("\nunset output\n", f);
    AB_CALL(close_script(&f, script));
    {
        const char *argv[] = {"gnuplot", script, NULL};
        if (ab_plot_run(argv, "gnuplot-nox") != AB_OK) {
            rc = ab_err_prefix("%s", path);
            goto cleanup;
        }
    }
    AB_CALL(commit_png(tmp, path, "gnuplot"));
    tmp[0] = '\0';
cleanup:
    if (f) fclose(f);
    if (script[0]) unlink(script);
    if (tmp[0]) unlink(tmp);
    return rc;
}

void ab_plot_bars_init(struct ab_plot_bars *c)
{
    memset(c, 0, sizeof *c);
    c->value_format = "%.3f";
    c->ymin = c->ymax = NAN;
    c->ref = NAN;
}

/* Colours of consecutive groups (Tableau 10). */
static const unsigned group_colors[] = {0x4e79a7, 0xf28e2b, 0x59a14f, 0xe15759, 0x76b7b2,
                                        0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
#define N_GROUP_COLORS (sizeof group_colors / sizeof group_colors[0])
#define GROUP_GAP 0.8

/* A colour at 70% brightness, for text on white. */
static unsigned darker(unsigned rgb)
{
    unsigned r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
    return (r * 7 / 10) << 16 | (g * 7 / 10) << 8 | (b * 7 / 10);
}

static int same_group(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

/* x position of every bar (groups separated by a gap) and group indices. */
static void bar_layout(const struct ab_plot_bars *c, double *x, int *group)
{
    int gi = 0;
    for (int i = 0; i < c->n_bars; i++) {
        if (i > 0 && !same_group(c->bars[i].group, c->bars[i - 1].group)) gi++;
        group[i] = gi;
        x[i] = i + gi * GROUP_GAP;
    }
}

/* The picture size in pixels and the width of one bar slot. */
static void bars_size(const struct ab_plot_bars *c, int *w, int *h, double *slot_px)
{
    int n_groups = 1;
    for (int i = 1; i < c->n_bars; i++)
        n_groups += !same_group(c->bars[i].group, c->bars[i - 1].group);
    double slots = c->n_bars + (n_groups - 1) * GROUP_GAP + 1.4;
    *w = c->width > 0 ? c->width : (int)(150 + 50 * slots);
    if (c->width <= 0 && *w < 900) *w = 900;
    if (c->width <= 0 && *w > 2400) *w = 2400;
    *h = c->height > 0 ? c->height : 600;
    if (slot_px) *slot_px = (*w - 150) / slots;
}

/* The y range: the data, zero and the reference line, with headroom for the
 * value labels and group headings. */
static void bar_yrange(const struct ab_plot_bars *c, double *ylo, double *yhi)
{
    double lo = 0, hi = 0;
    int any = 0;
    for (int i = 0; i < c->n_bars; i++) {
        double v = c->bars[i].value;
        if (!isfinite(v)) continue;
        any = 1;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (isfinite(c->ref)) {
        if (c->ref < lo) lo = c->ref;
        if (c->ref > hi) hi = c->ref;
        any = 1;
    }
    if (!any || hi - lo <= 0) hi = lo + 1;
    double span = hi - lo;
    *yhi = hi + 0.2 * span;
    *ylo = lo < 0 ? lo - 0.1 * span : 0;
    if (isfinite(c->ymin)) *ylo = c->ymin;
    if (isfinite(c->ymax)) *yhi = c->ymax;
}

/* Headings and separators of the groups. */
static void write_groups(const struct ab_plot_bars *c, FILE *f, const double *x, const int *group)
{
    for (int i = 0; i < c->n_bars;) {
        int j = i;
        while (j + 1 < c->n_bars && group[j + 1] == group[i]) j++;
        const char *name = c->bars[i].group;
        if (name && *name) {
            fputs("set label ", f);
            ab_plot_gnuplot_string(f, name);
            fprintf(f, " at %g, graph 0.965 center font \"DejaVu Sans Bold,12\" textcolor rgb "
                    "\"#%06x\"\n", (x[i] + x[j]) / 2, darker(group_colors[group[i] % N_GROUP_COLORS]));
        }
        if (j + 1 < c->n_bars)
            fprintf(f, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 3 lc rgb \"#b8b8b8\"\n",
                    (x[j] + x[j + 1]) / 2, (x[j] + x[j + 1]) / 2);
        i = j + 1;
    }
}

ab_status ab_plot_bars_write_gnuplot(const struct ab_plot_bars *c, FILE *f)
{
    ab_status rc = AB_OK;
    double *x = NULL, ylo, yhi;
    int *group = NULL;
    size_t maxlen = 0;
    int w, h;
    double slot_px;
    char buf[64];
    AB_CHECK(c->n_bars > 0, AB_ERR_INPUT, "a bar chart needs at least one bar");
    x = malloc(sizeof *x * (size_t)c->n_bars);
    group = malloc(sizeof *group * (size_t)c->n_bars);
    AB_CHECK_ALLOC(x);
    AB_CHECK_ALLOC(group);
    bar_layout(c, x, group);
    bar_yrange(c, &ylo, &yhi);
    if (c->title) {
        fputs("set title ", f);
        ab_plot_gnuplot_string(f, c->title);
        fputs(" font \",14\"\n", f);
    }
    if (c->ylabel) {
        fputs("set ylabel ", f);
        ab_plot_gnuplot_string(f, c->ylabel);
        fputs("\n", f);
    }
    fputs("set style fill solid 0.9 border rgb \"#333333\"\n"
          "set border 3 lc rgb \"#555555\"\nset tics nomirror\n"
          "set grid ytics lc rgb \"#e0e0e0\" lw 1 dt 1\nset mytics 2\n",
          f);
    fprintf(f, "set xrange [%g:%g]\nset yrange [%g:%g]\n", x[0] - 0.7,
            x[c->n_bars - 1] + 0.7, ylo, yhi);
    if (ylo < 0) fputs("set xzeroaxis lt 1 lc rgb \"#555555\"\n", f);
    for (int i = 0; i < c->n_bars; i++) {
        size_t len = strlen(c->bars[i].label ? c->bars[i].label : "");
        if (len > maxlen) maxlen = len;
    }
    fputs("set xtics (", f);
    for (int i = 0; i < c->n_bars; i++) {
        fputs(i ? ", " : "", f);
        ab_plot_gnuplot_string(f, c->bars[i].label ? c->bars[i].label : "");
        fprintf(f, " %g", x[i]);
    }
    /* DejaVu Sans 11 pt at 96 dpi: about 7.5 px a character */
    bars_size(c, &w, &h, &slot_px);
    fputs(7.5 * (double)maxlen > 0.95 * slot_px ? ") rotate by 30 right scale 0\n" : ") scale 0\n",
          f);
    write_groups(c, f, x, group);
    /* one row per bar: x, value (NaN: none), colour, value text, its y */
    fputs("$bars << EOD\n", f);
    for (int i = 0; i < c->n_bars; i++) {
        double v = c->bars[i].value;
        int ok = isfinite(v);
        if (c->value_format) format_value(c->value_format, v, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%s", ok ? "" : "n/a");
        fprintf(f, "%g %.9g %u \"%s\" %.9g\n", x[i], ok ? v : NAN,
                group_colors[group[i] % N_GROUP_COLORS], buf, ok ? v : 0.0);
    }
    fputs("EOD\n", f);
    if (isfinite(c->ref)) fputs("set key below samplen 5 font \",11\"\n", f);
    else fputs("unset key\n", f);
    fputs("plot $bars using 1:2:(0.72):3 with boxes lc rgb variable notitle, \\\n"
          "     $bars using 1:($5 >= 0 ? $5 : 1/0):4 with labels offset 0,0.75 font \",10\" "
          "notitle, \\\n"
          "     $bars using 1:($5 < 0 ? $5 : 1/0):4 with labels offset 0,-0.75 font \",10\" "
          "notitle",
          f);
    if (isfinite(c->ref)) {
        fprintf(f, ", \\\n     %.9g with lines dt (10,6) lw 2.5 lc rgb \"#c0392b\" title ", c->ref);
        ab_plot_gnuplot_string(f, c->ref_label ? c->ref_label : "reference");
    }
    fputs("\n", f);
    AB_CHECK(!ferror(f), AB_ERR_IO, "cannot write the gnuplot script: %s", strerror(errno));
cleanup:
    free(x);
    free(group);
    return rc;
}

ab_status ab_plot_bars_png(const struct ab_plot_bars *c, const char *path)
{
    ab_status rc = AB_OK;
    char *body = NULL;
    size_t len = 0;
    int w, h;
    FILE *f = open_memstream(&body, &len);
    AB_CHECK(f != NULL, AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
    rc = ab_plot_bars_write_gnuplot(c, f);
    fclose(f);
    if (rc) goto cleanup;
    AB_CHECK_ALLOC(body);
    bars_size(c, &w, &h, NULL);
    AB_CALL(ab_plot_gnuplot_png(body, w, h, path));
cleanup:
    free(body);
    return rc;
}
