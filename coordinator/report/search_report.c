/* SPDX-License-Identifier: MIT
 *
 * This file implements the report files of a search store (search_report.h):
 * the front and history CSVs and the two-panel gnuplot picture (the
 * evaluations and the front in the space of the first two objectives, and
 * the hypervolume per iteration). The objectives and their directions are
 * read from the store's identity JSON. The CSVs go to temporary files that
 * are renamed into place only after the picture was drawn; the picture is
 * drawn atomically by report/plot.c.
 */
#include "report/search_report.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/plot.h"
#include "store/store.h"
#include "data/dataset.h"
#include "util/fsutil.h"
#include "util/log.h"

#define PNG_WIDTH 1500
#define PNG_HEIGHT 620
/* iterations up to this many get their number printed beside their point */
#define MAX_ITER_LABELS 20

/* The objectives drawn on the left panel. */
struct objectives {
    int n_total;   /* objectives of the search (or metric columns: fallback) */
    int n;         /* drawn: min(n_total, 2) */
    int col[2];    /* metric column of each drawn objective */
    int dir[2];    /* 1 maximised, 0 minimised, -1 unknown */
};

/* What the store holds, indexed once. */
struct view {
    const struct ab_store *st;
    const struct ab_store_iter *last; /* highest iteration number, or NULL */
    long max_seq;
    long *by_seq;                     /* seq -> index into st->ev, or -1 */
    long failed;
};

static void view_free(struct view *v)
{
    free(v->by_seq);
    v->by_seq = NULL;
}

static ab_status view_init(const struct ab_store *st, struct view *v)
{
    memset(v, 0, sizeof *v);
    v->st = st;
    v->max_seq = -1;
    for (long i = 0; i < st->n; i++) {
        if (st->ev[i].seq > v->max_seq) v->max_seq = st->ev[i].seq;
        v->failed += st->ev[i].status != 0;
    }
    v->by_seq = malloc(sizeof *v->by_seq * (size_t)(v->max_seq + 2));
    if (!v->by_seq) return ab_err_set(AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
    for (long s = 0; s <= v->max_seq; s++) v->by_seq[s] = -1;
    for (long i = 0; i < st->n; i++)
        if (st->ev[i].seq >= 0) v->by_seq[st->ev[i].seq] = i;
    v->last = ab_store_last_iter(st);
    return AB_OK;
}

/* The evaluation of a seq, or NULL when it is not recorded. */
static const struct ab_store_eval *eval_of(const struct view *v, long seq)
{
    if (seq < 0 || seq > v->max_seq || v->by_seq[seq] < 0) return NULL;
    return &v->st->ev[v->by_seq[seq]];
}

static const char *store_name(const struct ab_store *st)
{
    return st->path ? st->path : "store";
}

static int metric_column(const struct ab_store *st, const char *name)
{
    for (int q = 0; q < st->n_metrics; q++)
        if (!strcmp(st->metrics[q], name)) return q;
    return -1;
}

/* The objectives from the identity's "objectives": [{"metric", "max"}];
 * without them, the first two metric columns with unknown directions. */
static ab_status find_objectives(const struct ab_store *st, struct objectives *o)
{
    json_t *id = st->identity ? json_loads(st->identity, 0, NULL) : NULL;
    json_t *objs = json_is_object(id) ? json_object_get(id, "objectives") : NULL;
    ab_status rc = AB_OK;
    memset(o, 0, sizeof *o);
    o->dir[0] = o->dir[1] = -1;
    if (!json_is_array(objs) || json_array_size(objs) == 0) {
        o->n_total = st->n_metrics;
        o->n = st->n_metrics < 2 ? st->n_metrics : 2;
        for (int k = 0; k < o->n; k++) o->col[k] = k;
        goto cleanup;
    }
    o->n_total = (int)json_array_size(objs);
    o->n = o->n_total < 2 ? o->n_total : 2;
    for (int k = 0; k < o->n; k++) {
        json_t *ob = json_array_get(objs, (size_t)k);
        const char *name = json_string_value(json_object_get(ob, "metric"));
        json_t *max = json_object_get(ob, "max");
        AB_CHECK(name, AB_ERR_INPUT, "%s: objective %d of the identity has no metric name "
                 "(not a store written by autobuild search?)", store_name(st), k + 1);
        o->col[k] = metric_column(st, name);
        AB_CHECK(o->col[k] >= 0, AB_ERR_INPUT, "%s: objective '%s' is not one of the store's "
                 "%d metric columns (is the store damaged?)", store_name(st), name,
                 st->n_metrics);
        o->dir[k] = json_is_boolean(max) ? json_is_true(max) : -1;
    }
cleanup:
    json_decref(id);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* CSV                                                                     */

static void put_csv_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_number(FILE *f, double x)
{
    if (isfinite(x)) fprintf(f, "%.17g", x);
}

static ab_status stream_status(FILE *f, const char *what)
{
    if (ferror(f)) return ab_err_set(AB_ERR_IO, "cannot write the %s: %s", what, strerror(errno));
    return AB_OK;
}

ab_status ab_search_report_front_csv(const struct ab_store *st, FILE *f)
{
    struct view v;
    AB_TRY(view_init(st, &v));
    fputs("seq", f);
    for (int q = 0; q < st->n_metrics; q++) {
        fputc(',', f);
        fputs(st->metrics[q], f);
    }
    fputs(",arch\n", f);
    for (long k = 0; v.last && k < v.last->n_front; k++) {
        const struct ab_store_eval *e = eval_of(&v, v.last->front[k]);
        if (!e) continue;
        fprintf(f, "%ld", e->seq);
        for (int q = 0; q < st->n_metrics; q++) {
            fputc(',', f);
            put_number(f, e->metrics[q]);
        }
        fputc(',', f);
        put_csv_quoted(f, e->arch);
        fputc('\n', f);
    }
    view_free(&v);
    return stream_status(f, "front CSV");
}

ab_status ab_search_report_history_csv(const struct ab_store *st, FILE *f)
{
    fputs("iteration,evaluations,unique,failed,front_size,hypervolume\n", f);
    for (long i = 0; i < st->n_iter; i++) {
        const struct ab_store_iter *it = &st->it[i];
        fprintf(f, "%d,%ld,%ld,%ld,%ld,", it->iteration, it->evaluations, it->unique, it->failed,
                it->n_front);
        put_number(f, it->hypervolume);
        fputc('\n', f);
    }
    return stream_status(f, "history CSV");
}

/* ---------------------------------------------------------------------- */
/* the picture                                                             */

static const char *dir_word(int dir)
{
    return dir == 1 ? " (max)" : dir == 0 ? " (min)" : "";
}

/* 1 when a is at least as good as b in both drawn objectives and better in
 * one (directions known). */
static int dominates(const struct objectives *o, const double *a, const double *b)
{
    int better = 0;
    for (int k = 0; k < 2; k++) {
        double d = o->dir[k] ? a[k] - b[k] : b[k] - a[k];
        if (d < 0) return 0;
        better |= d > 0;
    }
    return better;
}

static int by_x_then_y(const void *pa, const void *pb)
{
    const double *a = pa, *b = pb;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    return (a[1] > b[1]) - (a[1] < b[1]);
}

static void put_title(FILE *f, const char *cmd, const char *text, const char *tail)
{
    fputs(cmd, f);
    fputc(' ', f);
    ab_plot_gnuplot_string(f, text);
    fputs(tail, f);
    fputc('\n', f);
}

/* An empty panel with a note in the middle (gnuplot cannot autoscale
 * without points). */
static void empty_panel(FILE *f, const char *note)
{
    fputs("set xrange [0:1]\nset yrange [0:1]\nset format x \"\"\nset format y \"\"\n"
          "set label 1 ", f);
    ab_plot_gnuplot_string(f, note);
    fputs(" at graph 0.5, graph 0.5 center textcolor rgb \"#777777\"\n"
          "plot NaN notitle\n"
          "unset label 1\nset autoscale\nset format\n", f);
}

/* The front members' points (x, y) in the drawn objectives, finite only,
 * sorted by x: *n_pts of them in pts[2 * n]. */
static ab_status front_points(const struct view *v, const struct objectives *o, double **pts,
                              long *n_pts)
{
    long n = 0;
    *pts = NULL;
    *n_pts = 0;
    if (!v->last || o->n < 2) return AB_OK;
    *pts = malloc(sizeof **pts * 2 * (size_t)(v->last->n_front + 1));
    if (!*pts) return ab_err_set(AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
    for (long k = 0; k < v->last->n_front; k++) {
        const struct ab_store_eval *e = eval_of(v, v->last->front[k]);
        if (!e) continue;
        double x = e->metrics[o->col[0]], y = e->metrics[o->col[1]];
        if (!isfinite(x) || !isfinite(y)) continue;
        (*pts)[2 * n] = x;
        (*pts)[2 * n + 1] = y;
        n++;
    }
    qsort(*pts, (size_t)n, 2 * sizeof **pts, by_x_then_y);
    *n_pts = n;
    return AB_OK;
}

/* The staircase through the front's points that no other front point
 * dominates in the two drawn objectives (with more objectives the
 * projection can hide some). Sorted by x, a maximised x climbs each step
 * vertically first (gnuplot "fsteps"), a minimised x horizontally first
 * ("steps"): the corner is always the worse of both neighbours. */
static void write_staircase(FILE *f, const struct objectives *o, const double *pts, long n,
                            const char *block)
{
    fprintf(f, "$%s << EOD\n", block);
    for (long i = 0; i < n; i++) {
        int dominated = 0;
        for (long j = 0; j < n && !dominated; j++)
            dominated = j != i && dominates(o, &pts[2 * j], &pts[2 * i]);
        if (!dominated) fprintf(f, "%.17g %.17g\n", pts[2 * i], pts[2 * i + 1]);
    }
    fputs("EOD\n", f);
}

/* Left panel: the evaluations and the front in the first two objectives
 * (with one objective: the objective against the candidate number). */
static ab_status write_front_panel(const struct view *v, const struct objectives *o, FILE *f)
{
    const struct ab_store *st = v->st;
    double *pts = NULL;
    long n_pts = 0, n_ok = 0;
    char buf[160];
    ab_status rc = AB_OK;
    int one = o->n == 1;
    if (o->n == 0) {
        put_title(f, "set title", "no metrics recorded", " font \",13\"");
        empty_panel(f, "the store has no metric columns");
        return AB_OK;
    }
    AB_CALL(front_points(v, o, &pts, &n_pts));
    snprintf(buf, sizeof buf, "%s%s", one ? "candidate (seq)" : st->metrics[o->col[0]],
             one ? "" : dir_word(o->dir[0]));
    put_title(f, "set xlabel", buf, "");
    snprintf(buf, sizeof buf, "%s%s", st->metrics[o->col[one ? 0 : 1]],
             dir_word(o->dir[one ? 0 : 1]));
    put_title(f, "set ylabel", buf, "");
    if (o->n_total > 2)
        snprintf(buf, sizeof buf, "evaluations and front: first 2 of %d objectives shown", o->n_total);
    else if (!v->last)
        snprintf(buf, sizeof buf, "evaluations (no front recorded yet)");
    else
        snprintf(buf, sizeof buf, "evaluations and Pareto front");
    put_title(f, "set title", buf, " font \",13\"");
    fputs("$evals << EOD\n", f);
    for (long i = 0; i < st->n; i++) {
        const struct ab_store_eval *e = &st->ev[i];
        double x = one ? (double)e->seq : e->metrics[o->col[0]];
        double y = e->metrics[o->col[one ? 0 : 1]];
        if (e->status != 0 || !isfinite(x) || !isfinite(y)) continue;
        fprintf(f, "%.17g %.17g\n", x, y);
        n_ok++;
    }
    fputs("EOD\n", f);
    fprintf(f, "$front << EOD\n");
    for (long k = 0; k < n_pts; k++) fprintf(f, "%.17g %.17g\n", pts[2 * k], pts[2 * k + 1]);
    fputs("EOD\n", f);
    int stairs = n_pts > 1 && o->dir[0] >= 0 && o->dir[1] >= 0;
    if (stairs) write_staircase(f, o, pts, n_pts, "stairs");
    if (n_ok == 0) {
        empty_panel(f, "no successful evaluation recorded yet");
        goto cleanup;
    }
    fputs("set key below horizontal samplen 2 spacing 1.2\n", f);
    snprintf(buf, sizeof buf, "successful evaluations (%ld)", n_ok);
    fputs("plot $evals using 1:2 with points pt 7 ps 0.45 lc rgb \"#b4b4b4\" title ", f);
    ab_plot_gnuplot_string(f, buf);
    if (stairs)
        fprintf(f, ", \\\n     $stairs using 1:2 with %s lw 2.2 lc rgb \"#d62728\" notitle",
                o->dir[0] ? "fsteps" : "steps");
    if (n_pts > 0) {
        snprintf(buf, sizeof buf, "front after iteration %d (%ld)", v->last->iteration,
                 v->last->n_front);
        fputs(", \\\n     $front using 1:2 with points pt 7 ps 1.1 lc rgb \"#d62728\" title ", f);
        ab_plot_gnuplot_string(f, buf);
    }
    fputs("\nunset key\n", f);
cleanup:
    free(pts);
    return rc;
}

/* Right panel: hypervolume against evaluations, one point per iteration. */
static void write_hypervolume_panel(const struct view *v, FILE *f)
{
    const struct ab_store *st = v->st;
    long n = 0;
    put_title(f, "set title", "hypervolume per iteration", " font \",13\"");
    fputs("set xlabel \"evaluations\"\nset ylabel \"hypervolume\"\n$hv << EOD\n", f);
    for (long i = 0; i < st->n_iter; i++) {
        const struct ab_store_iter *it = &st->it[i];
        if (!isfinite(it->hypervolume)) continue;
        fprintf(f, "%ld %.17g \"%d\"\n", it->evaluations, it->hypervolume, it->iteration);
        n++;
    }
    fputs("EOD\n", f);
    if (n == 0) {
        empty_panel(f, "no iteration recorded yet");
        return;
    }
    fputs("set offsets graph 0.04, graph 0.04, graph 0.12, graph 0.08\n"
          "plot $hv using 1:2 with linespoints pt 7 ps 1.0 lw 2 lc rgb \"#1f77b4\" notitle", f);
    if (n <= MAX_ITER_LABELS)
        fputs(", \\\n     $hv using 1:2:3 with labels offset 0,1.1 font \",9\" "
              "textcolor rgb \"#555555\" notitle", f);
    fputs("\nset offsets 0, 0, 0, 0\n", f);
}

ab_status ab_search_report_write_gnuplot(const struct ab_store *st, FILE *f, int *width,
                                         int *height)
{
    ab_status rc = AB_OK;
    struct view v = {0};
    struct objectives o;
    char title[PATH_MAX + 256];
    const char *name = strrchr(store_name(st), '/');
    name = name ? name + 1 : store_name(st);
    AB_CALL(view_init(st, &v));
    AB_CALL(find_objectives(st, &o));
    int len = snprintf(title, sizeof title, "%s: %ld evaluations recorded (%ld failed), %s",
                       name, st->n, v.failed, st->status_complete ? "complete"
                                                                  : "not complete");
    if (v.last && len > 0 && (size_t)len < sizeof title)
        snprintf(title + len, sizeof title - (size_t)len,
                 "; front after iteration %d: %ld architectures", v.last->iteration,
                 v.last->n_front);
    fputs("set border 3 lc rgb \"#555555\"\nset tics nomirror\n"
          "set grid lc rgb \"#e4e4e4\" lw 1 dt 1\n", f);
    /* fixed margins: both plot areas get the same size, the key of the
     * left panel sits below it */
    put_title(f, "set multiplot layout 1,2 title", title,
              " font \",14\" margins 0.06, 0.985, 0.19, 0.88 spacing 0.075, 0");
    AB_CALL(write_front_panel(&v, &o, f));
    write_hypervolume_panel(&v, f);
    fputs("unset multiplot\n", f);
    AB_CHECK(!ferror(f), AB_ERR_IO, "cannot write the gnuplot script: %s", strerror(errno));
    if (width) *width = PNG_WIDTH;
    if (height) *height = PNG_HEIGHT;
cleanup:
    view_free(&v);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* files                                                                   */

/* One CSV output: written to tmp, renamed to path by commit. */
struct output {
    const char *path;
    char tmp[PATH_MAX];
    ab_status (*write)(const struct ab_store *, FILE *);
};

static ab_status write_temp(const struct ab_store *st, struct output *out)
{
    ab_status rc = AB_OK;
    FILE *f = NULL;
    out->tmp[0] = '\0';
    if (!out->path) return AB_OK;
    AB_CALL(ab_fs_temp_path(out->path, out->tmp, sizeof out->tmp));
    f = fopen(out->tmp, "w");
    if (!f) {
        int e = errno;
        out->tmp[0] = '\0';
        AB_FAIL(AB_ERR_IO, "%s: cannot create: %s", out->path, strerror(e));
    }
    if (out->write(st, f) != AB_OK) {
        rc = ab_err_prefix("%s", out->path);
        goto cleanup;
    }
    int closed = fclose(f);
    f = NULL;
    AB_CHECK(closed == 0, AB_ERR_IO, "%s: cannot write: %s", out->path, strerror(errno));
cleanup:
    if (f) fclose(f);
    return rc;
}

static ab_status draw_png(const struct ab_store *st, const char *png)
{
    ab_status rc = AB_OK;
    char *body = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    FILE *f = open_memstream(&body, &len);
    AB_CHECK(f != NULL, AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
    rc = ab_search_report_write_gnuplot(st, f, &w, &h);
    fclose(f);
    if (rc) goto cleanup;
    AB_CHECK_ALLOC(body);
    AB_CALL(ab_plot_gnuplot_png(body, w, h, png));
cleanup:
    free(body);
    return rc;
}

static int same_path(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

ab_status ab_search_report_write(const struct ab_store *st, const char *front_csv,
                                 const char *history_csv, const char *png)
{
    ab_status rc = AB_OK;
    struct output outs[2] = {{.path = front_csv, .write = ab_search_report_front_csv},
                             {.path = history_csv, .write = ab_search_report_history_csv}};
    for (int k = 0; k < 2; k++) outs[k].tmp[0] = '\0';
    const char *twice = same_path(front_csv, history_csv) || same_path(front_csv, png)
                            ? front_csv : same_path(history_csv, png) ? history_csv : NULL;
    AB_CHECK(!twice, AB_ERR_INPUT, "%s: named for two outputs; give each output its own file",
             twice);
    if (png) {
        /* objectives first: a damaged identity is a store error, not a CSV's */
        struct objectives o;
        AB_CALL(find_objectives(st, &o));
    }
    for (int k = 0; k < 2; k++) AB_CALL(write_temp(st, &outs[k]));
    if (png) AB_CALL(draw_png(st, png));
    for (int k = 0; k < 2; k++) {
        if (!outs[k].tmp[0]) continue;
        rc = ab_fs_commit(outs[k].tmp, outs[k].path);
        outs[k].tmp[0] = '\0'; /* ab_fs_commit removes it on failure */
        if (rc) goto cleanup;
    }
cleanup:
    for (int k = 0; k < 2; k++)
        if (outs[k].tmp[0]) unlink(outs[k].tmp);
    return rc;
}

ab_status ab_search_report_files(const char *store_path, const char *front_csv,
                                 const char *history_csv, const char *png)
{
    ab_status rc = AB_OK;
    struct ab_store *st = NULL;
    AB_CHECK(store_path && *store_path, AB_ERR_INPUT, "no store given: name a STORE.h5");
    AB_CALL(ab_store_read(store_path, &st));
    AB_CALL(ab_search_report_write(st, front_csv, history_csv, png));
cleanup:
    ab_store_close(&st);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* several searches side by side                                           */

static const char *const method_colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd",
                                            "#ff7f0e", "#8c564b"};

ab_status ab_search_report_compare_png(const char *const *stores, const char *const *labels,
                                       int n, const struct ab_dataset *data,
                                       const char *png)
{
    ab_status rc = AB_OK;
    struct ab_store *st[6] = {0};
    struct view v[6];
    struct objectives o;
    double *pts[6] = {0};
    long n_pts[6] = {0};
    char *script = NULL, buf[256];
    size_t len = 0;
    FILE *f = NULL;
    int dcol[2] = {-1, -1};
    long n_data = 0;
    memset(v, 0, sizeof v);
    AB_CHECK(n >= 1 && n <= 6, AB_ERR_INPUT, "1 to 6 searches to compare, not %d", n);
    for (int i = 0; i < n; i++) {
        AB_CALL(ab_store_read(stores[i], &st[i]));
        AB_CALL(view_init(st[i], &v[i]));
    }
    AB_CALL(find_objectives(st[0], &o));
    AB_CHECK(o.n == 2 && o.dir[0] >= 0 && o.dir[1] >= 0, AB_ERR_INPUT, "%s: comparing fronts "
             "needs two objectives with known directions", stores[0]);
    if (data) {
        for (int k = 0; k < 2; k++) {
            dcol[k] = -1;
            for (int q = 0; q < data->n_metrics; q++)
                if (!strcmp(data->metric_names[q], st[0]->metrics[o.col[k]])) dcol[k] = q;
        }
        if (dcol[0] >= 0 && dcol[1] >= 0)
            n_data = data->n;
        else
            ab_log(AB_LOG_WARN, "the labelled data has no '%s' column: drawing the fronts "
                   "without it", st[0]->metrics[o.col[dcol[0] < 0 ? 0 : 1]]);
    }
    for (int i = 0; i < n; i++) {
        struct objectives oi;
        AB_CALL(find_objectives(st[i], &oi));
        AB_CHECK(oi.n == 2 && !strcmp(st[i]->metrics[oi.col[0]], st[0]->metrics[o.col[0]]) &&
                 !strcmp(st[i]->metrics[oi.col[1]], st[0]->metrics[o.col[1]]), AB_ERR_INPUT,
                 "%s: its objectives are not those of %s", stores[i], stores[0]);
        AB_CALL(front_points(&v[i], &oi, &pts[i], &n_pts[i]));
    }
    f = open_memstream(&script, &len);
    AB_CHECK(f, AB_ERR_NOMEM, "out of memory");
    fputs("set border 3 lc rgb \"#555555\"\nset tics nomirror\n"
          "set grid lc rgb \"#e4e4e4\" lw 1 dt 1\n", f);
    put_title(f, "set multiplot layout 1,2 title", "Pareto fronts and hypervolume per search "
              "(same budget, seed, objectives and evaluators)",
              " font \",14\" margins 0.06, 0.985, 0.22, 0.88 spacing 0.075, 0");
    snprintf(buf, sizeof buf, "%s%s", st[0]->metrics[o.col[0]], dir_word(o.dir[0]));
    put_title(f, "set xlabel", buf, "");
    snprintf(buf, sizeof buf, "%s%s", st[0]->metrics[o.col[1]], dir_word(o.dir[1]));
    put_title(f, "set ylabel", buf, "");
    put_title(f, "set title", "final fronts", " font \",13\"");
    fputs("$data << EOD\n", f);
    for (long i = 0; i < n_data; i++) {
        double x = data->metrics[i * data->n_metrics + dcol[0]];
        double y = data->metrics[i * data->n_metrics + dcol[1]];
        if (isfinite(x) && isfinite(y)) fprintf(f, "%.17g %.17g\n", x, y);
    }
    fputs("EOD\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "$front%d << EOD\n", i);
        for (long k = 0; k < n_pts[i]; k++)
            fprintf(f, "%.17g %.17g\n", pts[i][2 * k], pts[i][2 * k + 1]);
        fputs("EOD\n", f);
        snprintf(buf, sizeof buf, "stairs%d", i);
        write_staircase(f, &o, pts[i], n_pts[i], buf);
    }
    fputs("set key below horizontal samplen 2 spacing 1.2\nplot ", f);
    if (n_data > 0) {
        snprintf(buf, sizeof buf, "labelled data (%ld)", n_data);
        fputs("$data using 1:2 with points pt 7 ps 0.4 lc rgb \"#c8c8c8\" title ", f);
        ab_plot_gnuplot_string(f, buf);
        fputs(", \\\n     ", f);
    }
    for (int i = 0; i < n; i++) {
        const char *col = method_colors[i];
        if (i) fputs(", \\\n     ", f);
        if (n_pts[i] > 1)
            fprintf(f, "$stairs%d using 1:2 with %s lw 2 lc rgb \"%s\" notitle, \\\n     ", i,
                    o.dir[0] ? "fsteps" : "steps", col);
        fprintf(f, "$front%d using 1:2 with points pt %d ps 1.0 lc rgb \"%s\" title ", i,
                5 + 2 * (i % 3), col);
        snprintf(buf, sizeof buf, "%s (%ld)", labels[i], n_pts[i]);
        ab_plot_gnuplot_string(f, buf);
    }
    fputs("\n", f);
    put_title(f, "set title", "hypervolume per iteration", " font \",13\"");
    fputs("set xlabel \"evaluations\"\nset ylabel \"hypervolume\"\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "$hv%d << EOD\n", i);
        for (long k = 0; k < st[i]->n_iter; k++)
            if (isfinite(st[i]->it[k].hypervolume))
                fprintf(f, "%ld %.17g\n", st[i]->it[k].evaluations, st[i]->it[k].hypervolume);
        fputs("EOD\n", f);
    }
    fputs("plot ", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s$hv%d using 1:2 with linespoints pt 7 ps 0.9 lw 2 lc rgb \"%s\" title ",
                i ? ", \\\n     " : "", i, method_colors[i]);
        ab_plot_gnuplot_string(f, labels[i]);
    }
    fputs("\nunset multiplot\n", f);
    {
        int bad = fclose(f) != 0;
        f = NULL;
        AB_CHECK(!bad, AB_ERR_NOMEM, "out of memory writing a gnuplot script");
    }
    AB_CALL(ab_plot_gnuplot_png(script, PNG_WIDTH, PNG_HEIGHT + 60, png));
cleanup:
    if (f) fclose(f);
    free(script);
    for (int i = 0; i < n; i++) {
        free(pts[i]);
        view_free(&v[i]);
        ab_store_close(&st[i]);
    }
    return rc;
}
