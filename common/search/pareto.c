/* SPDX-License-Identifier: MIT
 *
 * This file implements Pareto dominance, the non-dominated filter and the
 * exact hypervolume (pareto.h).
 *
 * Sorting is a heapsort of index arrays with a comparator that receives a
 * context (no global state, no allocation). The 3-D hypervolume sweep keeps
 * its 2-D staircase in a "rank set": a bit tree of 64-way words over the
 * ranks of the points in (x, y) order, with insert, erase, predecessor and
 * successor in O(log_64 n). The m >= 4 recursion works on one row buffer per
 * dimension, allocated once per call.
 */
#include "search/pareto.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define NONE SIZE_MAX

/* ---- sorting index arrays ------------------------------------------------ */

/* Rows of a row-major array compared lexicographically on columns
 * [first, first + count). */
struct rows {
    const double *p;
    size_t stride;
    int first, count;
};

typedef int (*cmp_fn)(size_t a, size_t b, const void *ctx);

static int cmp_rows(size_t a, size_t b, const void *ctx)
{
    const struct rows *r = ctx;
    const double *x = r->p + a * r->stride + r->first;
    const double *y = r->p + b * r->stride + r->first;
    for (int k = 0; k < r->count; k++) {
        if (x[k] < y[k]) return -1;
        if (x[k] > y[k]) return 1;
    }
    return 0;
}

static int cmp_value(size_t a, size_t b, const void *ctx)
{
    (void)ctx;
    return (a > b) - (a < b);
}

static void sift_down(size_t *v, size_t root, size_t n, cmp_fn cmp, const void *ctx)
{
    for (;;) {
        size_t child = 2 * root + 1, t;
        if (child >= n) return;
        if (child + 1 < n && cmp(v[child], v[child + 1], ctx) < 0) child++;
        if (cmp(v[root], v[child], ctx) >= 0) return;
        t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* Sorts v[0..n) ascending by cmp; not stable. */
static void sort_idx(size_t *v, size_t n, cmp_fn cmp, const void *ctx)
{
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift_down(v, i, n, cmp, ctx);
    for (size_t end = n - 1; end > 0; end--) {
        size_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(v, 0, end, cmp, ctx);
    }
}

static void sort_rows(size_t *v, size_t n, const double *p, size_t stride, int first,
                      int count)
{
    struct rows r = {p, stride, first, count};
    sort_idx(v, n, cmp_rows, &r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- dominance ----------------------------------------------------------- */

static int has_nan(const double *a, int m)
{
    for (int k = 0; k < m; k++)
        if (isnan(a[k])) return 1;
    return 0;
}

/* Dominance of NaN-free points. */
static int dominates(const double *a, const double *b, int m)
{
    int better = 0;
    for (int k = 0; k < m; k++) {
        if (a[k] > b[k]) return 0;
        better |= a[k] < b[k];
    }
    return better;
}

static int same_point(const double *a, const double *b, int m)
{
    for (int k = 0; k < m; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

int ab_pareto_dominates(const double *a, const double *b, int m)
{
    if (m < 1 || has_nan(a, m)) return 0;
    if (has_nan(b, m)) return 1;
    return dominates(a, b, m);
}

/* ---- the non-dominated filter -------------------------------------------- *
 * Each sweep takes idx[0..c) sorted lexicographically (NaN-free points), so
 * that every dominator of a point comes before it and copies are adjacent,
 * and leaves the survivors in idx[0..f), in that order, returning f. With
 * keep_copies 0 only the first copy of a point survives. The survivors are
 * written at f <= i while idx[i] is read, so no entry is lost. */

/* m == 2: a point survives iff it has the smallest y of its x and that y is
 * below every y of a smaller x. */
static size_t sweep_2d(const double *pts, size_t c, size_t *idx, int keep_copies)
{
    size_t f = 0, i = 0;
    int have_left = 0;
    double best_left = 0; /* smallest y of the points with a smaller x */
    while (i < c) {
        const double *g = pts + 2 * idx[i];
        int alive = !have_left || g[1] < best_left;
        size_t j = i;
        for (; j < c && pts[2 * idx[j]] == g[0]; j++) {
            size_t p = idx[j];
            if (alive && pts[2 * p + 1] == g[1] && (keep_copies || j == i)) idx[f++] = p;
        }
        if (!have_left || g[1] < best_left) best_left = g[1];
        have_left = 1;
        i = j;
    }
    return f;
}

/* Any m: a point survives iff no survivor before it dominates it. */
static size_t sweep_generic(const double *pts, size_t c, int m, size_t *idx,
                            int keep_copies)
{
    size_t f = 0, prev = NONE;
    int prev_alive = 0;
    for (size_t i = 0; i < c; i++) {
        size_t p = idx[i];
        const double *x = pts + p * (size_t)m;
        int alive = 1;
        if (prev != NONE && same_point(x, pts + prev * (size_t)m, m)) {
            alive = prev_alive && keep_copies;
        } else {
            for (size_t u = 0; u < f && alive; u++)
                alive = !dominates(pts + idx[u] * (size_t)m, x, m);
            prev_alive = alive;
        }
        prev = p;
        if (alive) idx[f++] = p;
    }
    return f;
}

/* Prefix minimum over ranks 0..r of a Fenwick tree; NaN marks "empty". */
static double fenwick_min(const double *t, size_t r)
{
    double best = NAN;
    for (size_t i = r + 1; i > 0; i &= i - 1)
        if (!isnan(t[i - 1]) && (isnan(best) || t[i - 1] < best)) best = t[i - 1];
    return best;
}

static void fenwick_put(double *t, size_t c, size_t r, double z)
{
    for (size_t i = r + 1; i <= c; i += i & (~i + 1))
        if (isnan(t[i - 1]) || z < t[i - 1]) t[i - 1] = z;
}

/* m == 3, with scratch of 2c doubles: after the lexicographic sort every
 * earlier point has x <= px, so p is dominated iff an earlier survivor has
 * y <= py and z <= pz: a prefix minimum of z over the ranks of y. */
static size_t sweep_3d(const double *pts, size_t c, size_t *idx, int keep_copies,
                       double *scratch)
{
    double *ys = scratch, *tree = scratch + c;
    size_t ny = 0, f = 0, prev = NONE;
    int prev_alive = 0;
    for (size_t i = 0; i < c; i++) ys[i] = pts[3 * idx[i] + 1];
    qsort(ys, c, sizeof *ys, cmp_double);
    for (size_t i = 0; i < c; i++)
        if (ny == 0 || ys[i] != ys[ny - 1]) ys[ny++] = ys[i];
    for (size_t i = 0; i < c; i++) tree[i] = NAN;
    for (size_t i = 0; i < c; i++) {
        size_t p = idx[i];
        const double *x = pts + 3 * p;
        int alive;
        size_t lo = 0, hi = ny; /* the rank of x[1]: ys[lo] == x[1] */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (ys[mid] <= x[1]) lo = mid;
            else hi = mid;
        }
        if (prev != NONE && same_point(x, pts + 3 * prev, 3)) {
            alive = prev_alive && keep_copies;
        } else {
            double z = fenwick_min(tree, lo);
            alive = isnan(z) || z > x[2];
            prev_alive = alive;
            if (alive) fenwick_put(tree, ny, lo, x[2]);
        }
        prev = p;
        if (alive) idx[f++] = p;
    }
    return f;
}

/* Sorts idx[0..c) (NaN-free points of pts, c x m rows addressed by index)
 * and leaves the non-dominated ones in idx[0..f) in ascending order.
 * scratch: 2c doubles or NULL (then m == 3 takes the generic sweep). */
static size_t front_of(const double *pts, size_t c, int m, size_t *idx, int keep_copies,
                       double *scratch)
{
    size_t f;
    sort_rows(idx, c, pts, (size_t)m, 0, m);
    if (m == 2) f = sweep_2d(pts, c, idx, keep_copies);
    else if (m == 3 && scratch) f = sweep_3d(pts, c, idx, keep_copies, scratch);
    else f = sweep_generic(pts, c, m, idx, keep_copies);
    sort_idx(idx, f, cmp_value, NULL);
    return f;
}

size_t ab_pareto_front(const double *pts, size_t n, int m, size_t *idx)
{
    size_t c = 0, f;
    double *scratch = NULL;
    if (m < 1) return 0;
    for (size_t i = 0; i < n; i++)
        if (!has_nan(pts + i * (size_t)m, m)) idx[c++] = i;
    if (m == 3 && c <= SIZE_MAX / (2 * sizeof(double)))
        scratch = malloc(2 * c * sizeof(double) + 1);
    f = front_of(pts, c, m, idx, 1, scratch);
    free(scratch);
    return f;
}

/* ---- the rank set: an ordered set of ranks 0..n-1 ------------------------ *
 * Level 0 has one bit per rank; bit b of level l + 1 is set iff word b of
 * level l is not zero. */

#define RS_LEVELS 12 /* 64^11 > SIZE_MAX */

struct rankset {
    uint64_t *lv[RS_LEVELS];
    int nlv;
};

static size_t rankset_words(size_t n)
{
    size_t total = 0, cnt = n ? n : 1;
    do {
        cnt = (cnt + 63) / 64;
        total += cnt;
    } while (cnt > 1);
    return total;
}

static void rankset_init(struct rankset *s, uint64_t *words, size_t n)
{
    size_t cnt = n ? n : 1;
    s->nlv = 0;
    do {
        cnt = (cnt + 63) / 64;
        memset(words, 0, cnt * sizeof *words);
        s->lv[s->nlv++] = words;
        words += cnt;
    } while (cnt > 1);
}

static void rankset_insert(struct rankset *s, size_t r)
{
    for (int l = 0; l < s->nlv; l++, r >>= 6) s->lv[l][r >> 6] |= 1ULL << (r & 63);
}

static void rankset_erase(struct rankset *s, size_t r)
{
    for (int l = 0; l < s->nlv; l++, r >>= 6) {
        s->lv[l][r >> 6] &= ~(1ULL << (r & 63));
        if (s->lv[l][r >> 6]) return;
    }
}

/* The largest member below r, or NONE. */
static size_t rankset_pred(const struct rankset *s, size_t r)
{
    for (int l = 0; l < s->nlv; l++, r >>= 6) {
        uint64_t w = s->lv[l][r >> 6] & ((1ULL << (r & 63)) - 1);
        if (!w) continue;
        r = (r & ~(size_t)63) | (size_t)(63 - __builtin_clzll(w));
        while (l-- > 0) r = (r << 6) | (size_t)(63 - __builtin_clzll(s->lv[l][r]));
        return r;
    }
    return NONE;
}

/* The smallest member above r, or NONE. */
static size_t rankset_succ(const struct rankset *s, size_t r)
{
    for (int l = 0; l < s->nlv; l++, r >>= 6) {
        uint64_t w = (r & 63) == 63 ? 0 : s->lv[l][r >> 6] & (~0ULL << ((r & 63) + 1));
        if (!w) continue;
        r = (r & ~(size_t)63) | (size_t)__builtin_ctzll(w);
        while (l-- > 0) r = (r << 6) | (size_t)__builtin_ctzll(s->lv[l][r]);
        return r;
    }
    return NONE;
}

/* ---- hypervolume --------------------------------------------------------- */

/* One call's memory. rows[d] (d = 1..m) holds up to cap points of d
 * coordinates: rows[m] the counted input, the others the limit sets of the
 * slicing recursion; order[d] is the slicing order of level d. s1..s3, dbl
 * and words are the scratch of the step that runs (a leaf or a filter);
 * none of it lives across a recursive call. */
struct hv_ws {
    int m, leaf;
    size_t cap;
    double **rows;
    size_t **order;
    size_t *s1, *s2, *s3;
    double *dbl;
    uint64_t *words;
};

/* malloc(count * size), NULL when that overflows; never malloc(0). */
static void *alloc_n(size_t count, size_t size)
{
    size_t bytes;
    if (size && count > SIZE_MAX / size) return NULL;
    bytes = count * size;
    return malloc(bytes > 0 ? bytes : 1);
}

static ab_status hv_nomem(size_t n, int m)
{
    return ab_err_set(AB_ERR_NOMEM, "hypervolume of %zu points with %d objectives: "
                      "out of memory", n, m);
}

/* The input buffer rows[m] for n points. */
static ab_status ws_init(struct hv_ws *w, size_t n, int m, int leaf)
{
    w->m = m;
    w->leaf = leaf;
    w->rows = calloc((size_t)m + 1, sizeof *w->rows);
    w->order = calloc((size_t)m + 1, sizeof *w->order);
    if (!w->rows || !w->order) return hv_nomem(n, m);
    w->rows[m] = alloc_n(n, (size_t)m * sizeof(double));
    if (!w->rows[m]) return hv_nomem(n, m);
    return AB_OK;
}

/* Everything else, for at most cap counted points. */
static ab_status ws_grow(struct hv_ws *w, size_t cap)
{
    int ok;
    w->cap = cap;
    for (int d = w->leaf; d < w->m; d++) w->rows[d] = alloc_n(cap, (size_t)d * sizeof(double));
    for (int d = w->leaf + 1; d <= w->m; d++) w->order[d] = alloc_n(cap, sizeof(size_t));
    w->s1 = alloc_n(cap, sizeof(size_t));
    w->s2 = alloc_n(cap, sizeof(size_t));
    w->s3 = alloc_n(cap, sizeof(size_t));
    w->dbl = alloc_n(cap, 2 * sizeof(double));
    w->words = alloc_n(rankset_words(cap), sizeof(uint64_t));
    ok = w->s1 && w->s2 && w->s3 && w->dbl && w->words;
    for (int d = w->leaf; d < w->m; d++) ok &= w->rows[d] != NULL;
    for (int d = w->leaf + 1; d <= w->m; d++) ok &= w->order[d] != NULL;
    return ok ? AB_OK : hv_nomem(cap, w->m);
}

static void ws_free(struct hv_ws *w)
{
    for (int d = 0; w->rows && d <= w->m; d++) free(w->rows[d]);
    for (int d = 0; w->order && d <= w->m; d++) free(w->order[d]);
    free(w->rows);
    free(w->order);
    free(w->s1);
    free(w->s2);
    free(w->s3);
    free(w->dbl);
    free(w->words);
}

/* Drops the dominated points and all but one copy of each point from
 * p (k x d, in place, order kept); returns how many are left. */
static size_t keep_front(struct hv_ws *w, double *p, size_t k, int d)
{
    size_t *idx = w->s1, f;
    for (size_t i = 0; i < k; i++) idx[i] = i;
    f = front_of(p, k, d, idx, 0, w->dbl);
    for (size_t j = 0; j < f; j++)
        if (idx[j] != j) memcpy(p + j * (size_t)d, p + idx[j] * (size_t)d, (size_t)d * sizeof *p);
    return f;
}

static double hv_1d(const double *p, size_t k, const double *ref)
{
    double best = p[0];
    for (size_t i = 1; i < k; i++)
        if (p[i] < best) best = p[i];
    return ref[0] - best;
}

/* In x order each point adds the strip between its y and the lowest y
 * so far, from its x to ref. */
static double hv_2d(struct hv_ws *w, const double *p, size_t k, const double *ref)
{
    size_t *o = w->s1;
    double area = 0, low = ref[1];
    for (size_t i = 0; i < k; i++) o[i] = i;
    sort_rows(o, k, p, 2, 0, 2);
    for (size_t t = 0; t < k; t++) {
        const double *x = p + 2 * o[t];
        if (x[1] < low) {
            area += (ref[0] - x[0]) * (low - x[1]);
            low = x[1];
        }
    }
    return area;
}

/* Adds the point of (x, y) rank r to the staircase (ranks whose y falls as
 * x grows) and returns the area it adds: the strips between its y and the
 * staircase above it, from its x to the first step below it or to ref. */
static double stair_insert(struct rankset *set, const double *p, const size_t *byxy,
                           size_t r, const double *ref)
{
    const double *x = p + 3 * byxy[r];
    size_t q = rankset_pred(set, r), s;
    double left = x[0], above = ref[1], added = 0;
    if (q != NONE) {
        const double *y = p + 3 * byxy[q];
        if (y[1] <= x[1]) return 0; /* weakly dominated in (x, y) */
        above = y[1];
    }
    while ((s = rankset_succ(set, r)) != NONE) {
        const double *y = p + 3 * byxy[s];
        if (y[1] < x[1]) break;
        added += (y[0] - left) * (above - x[1]);
        left = y[0];
        above = y[1];
        rankset_erase(set, s);
    }
    added += ((s != NONE ? p[3 * byxy[s]] : ref[0]) - left) * (above - x[1]);
    rankset_insert(set, r);
    return added;
}

/* Sweep along z: between consecutive z values the cross-section is the
 * area dominated by the (x, y) staircase of the points below. */
static double hv_3d(struct hv_ws *w, const double *p, size_t k, const double *ref)
{
    size_t *byz = w->s1, *byxy = w->s2, *rank = w->s3;
    struct rankset set;
    double vol = 0, area = 0;
    for (size_t i = 0; i < k; i++) byz[i] = byxy[i] = i;
    sort_rows(byz, k, p, 3, 2, 1);
    sort_rows(byxy, k, p, 3, 0, 2);
    for (size_t r = 0; r < k; r++) rank[byxy[r]] = r;
    rankset_init(&set, w->words, k);
    for (size_t t = 0; t < k; t++) {
        if (t > 0) vol += area * (p[3 * byz[t] + 2] - p[3 * byz[t - 1] + 2]);
        area += stair_insert(&set, p, byxy, rank[byz[t]], ref);
    }
    return vol + area * (ref[2] - p[3 * byz[k - 1] + 2]);
}

static double hv_level(struct hv_ws *w, const double *p, size_t k, int d, const double *ref);

/* The (d-1)-D volume that point o[t] of level d (p, d columns) adds to the
 * points before it (columns 1..d-1): its own box less the volume of the
 * limit set, the points before it clipped to its box. */
static double exclusive(struct hv_ws *w, const double *p, const size_t *o, size_t t, int d,
                        const double *ref)
{
    const double *x = p + (size_t)d * o[t];
    double *lim = w->rows[d - 1], box = 1;
    size_t k = t;
    for (int c = 1; c < d; c++) box *= ref[c] - x[c];
    for (size_t u = 0; u < t; u++) {
        const double *y = p + (size_t)d * o[u];
        double *l = lim + (size_t)(d - 1) * u;
        int inside = 1; /* y covers x's whole box */
        for (int c = 1; c < d; c++) {
            l[c - 1] = y[c] > x[c] ? y[c] : x[c];
            inside &= l[c - 1] == x[c];
        }
        if (inside) return 0;
    }
    if (d - 1 > w->leaf) k = keep_front(w, lim, k, d - 1);
    return box - hv_level(w, lim, k, d - 1, ref + 1);
}

/* The volume of p (k x d, each point strictly below ref): a leaf, or the
 * sum over the points in order of their first coordinate of the slab from
 * it to ref[0] times what they add to the points before them. */
static double hv_level(struct hv_ws *w, const double *p, size_t k, int d, const double *ref)
{
    size_t *o;
    double vol = 0;
    if (k == 0) return 0;
    if (d == 1) return hv_1d(p, k, ref);
    if (d == 2) return hv_2d(w, p, k, ref);
    if (d == 3 && w->leaf == 3) return hv_3d(w, p, k, ref);
    o = w->order[d];
    for (size_t i = 0; i < k; i++) o[i] = i;
    sort_rows(o, k, p, (size_t)d, 0, 1);
    for (size_t t = 0; t < k; t++)
        vol += (ref[0] - p[(size_t)d * o[t]]) * exclusive(w, p, o, t, d, ref);
    return vol;
}

/* Copies the points that beat ref in every coordinate into out; returns
 * their count; *infinite when one of them has a -inf coordinate. */
static size_t counted_points(const double *pts, size_t n, int m, const double *ref,
                             double *out, int *infinite)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *x = pts + i * (size_t)m;
        int in = 1;
        for (int c = 0; c < m && in; c++) in = x[c] < ref[c];
        if (!in) continue;
        for (int c = 0; c < m; c++) *infinite |= x[c] == -INFINITY;
        memcpy(out + k * (size_t)m, x, (size_t)m * sizeof *x);
        k++;
    }
    for (int c = 0; c < m && k > 0; c++) *infinite |= ref[c] == INFINITY;
    return k;
}

/* The volume with the recursion stopping at the 2-D sweep (leaf 2) or at
 * the 3-D sweep (leaf 3). */
static double hypervolume(const double *pts, size_t n, int m, const double *ref, int leaf)
{
    struct hv_ws w = {0};
    double vol = -1.0;
    size_t k;
    int infinite = 0;
    if (m < 1) {
        ab_err_set(AB_ERR_INPUT, "hypervolume: %d objectives; expected at least 1", m);
        return -1.0;
    }
    if (n == 0) return 0.0;
    if (ws_init(&w, n, m, leaf) != AB_OK) goto cleanup;
    k = counted_points(pts, n, m, ref, w.rows[m], &infinite);
    if (k == 0 || infinite) {
        vol = k == 0 ? 0.0 : INFINITY;
        goto cleanup;
    }
    if (ws_grow(&w, k) != AB_OK) goto cleanup;
    if (m > leaf) k = keep_front(&w, w.rows[m], k, m);
    vol = hv_level(&w, w.rows[m], k, m, ref);
cleanup:
    ws_free(&w);
    return vol;
}

double ab_pareto_hypervolume(const double *pts, size_t n, int m, const double *ref)
{
    return hypervolume(pts, n, m, ref, 3);
}

double ab_pareto_hypervolume_sliced(const double *pts, size_t n, int m, const double *ref)
{
    return hypervolume(pts, n, m, ref, 2);
}
