/* SPDX-License-Identifier: MIT
 *
 * store.h - the result store of a search: every evaluation (architecture,
 * metrics, evaluator, rank, host, start/end time, status, error text) and
 * the search's state after every iteration (front, hypervolume, counts).
 * Schema: hdf5-schemas/store.md.
 *
 * Two files make a store:
 *   STORE.h5          an HDF5 snapshot, rewritten as a whole into a temporary
 *                     file and renamed over the old one, so it is always a
 *                     complete, openable file (h5dump/h5py read it while the
 *                     run is live);
 *   STORE.h5.journal  an append-only log of CRC-checked text records, one per
 *                     evaluation or iteration, written by the coordinator in
 *                     batches. It holds everything since the last snapshot.
 * Only the coordinator (rank 0) writes; workers send results over MPI, so no
 * file lock is shared between ranks. kill -9 at any moment leaves the
 * snapshot intact and at most a torn last journal line, which opening the
 * store for resume detects (CRC) and cuts off.
 *
 *     struct ab_store *st;
 *     ab_store_open("run.h5", identity, metrics, n_metrics, resume, &st);
 *     if (ab_store_find(st, hash) < 0) { ...evaluate...; ab_store_add(st, &rec); }
 *     ab_store_add_iteration(st, &it);
 *     ab_store_sync(st);        // journal batch to the OS (and fsync)
 *     ab_store_snapshot(st);    // rewrite STORE.h5
 *     ab_store_close(&st);
 */
#ifndef AB_STORE_STORE_H
#define AB_STORE_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/u64map.h"

#define AB_STORE_FORMAT "autobuild-store"
#define AB_STORE_VERSION 1

struct ab_store_eval {
    long seq;            /* candidate number in the search (0-based) */
    int iteration;       /* 0 = initial pool */
    uint64_t hash;       /* ab_arch_hash of the canonical architecture */
    char *arch;          /* canonical JSON */
    int status;          /* 0 ok, 1 failed */
    int rank;            /* the worker rank (0 in single-process mode) */
    char *host;
    char *evaluator;     /* e.g. "table" or "predictor+predictor" */
    double t_start, t_end;  /* seconds since the epoch */
    double *metrics;     /* n_metrics; NaN when failed */
    char *error;         /* "" when ok */
};

struct ab_store_iter {
    int iteration;
    long evaluations;    /* candidates spent so far (budget used) */
    long unique;         /* distinct architectures in the store */
    long failed;
    double hypervolume;
    double time;         /* seconds since the epoch */
    long n_front;
    long *front;         /* seq of the front's members */
};

struct ab_store {
    char *path, *journal_path;
    char *identity;      /* JSON: what the search is (config fingerprint) */
    int n_metrics;
    char **metrics;
    long n, cap;
    struct ab_store_eval *ev;
    long n_iter, cap_iter;
    struct ab_store_iter *it;
    struct ab_u64map by_hash;  /* hash -> index into ev */
    int status_complete;       /* 1 once the search finished */
    /* writing */
    int writable;
    FILE *journal;
    long journal_pending;      /* records written since the last sync */
    double last_sync;
    long snap_n, snap_iter;    /* what the last snapshot held */
    double snap_seconds;       /* how long the last snapshot took */
    double last_snap;
    int dropped_tail;          /* bytes of a torn journal tail cut at open */
};

/* Opens a store for writing. resume = 0: fails if STORE.h5 or its journal
 * exists (nothing is overwritten; use --resume or another path). resume =
 * 1: fails unless the store exists and its identity equals `identity`
 * (same search); loads every recorded evaluation and iteration, cuts a torn
 * journal tail. metrics name the columns (must equal the stored ones). */
ab_status ab_store_open(const char *path, const char *identity, const char *const *metrics,
                        int n_metrics, int resume, struct ab_store **out);

/* Opens a store read-only (snapshot plus the journal's complete records);
 * never modifies either file. Used by `autobuild report`, live or not. */
ab_status ab_store_read(const char *path, struct ab_store **out);

/* The record of the highest iteration number in st (the current front and
 * hypervolume), or NULL when no iteration is recorded yet. */
const struct ab_store_iter *ab_store_last_iter(const struct ab_store *st);

/* Parses journal text held in memory into a read-only store (for tests and
 * fuzzing); *valid_len (optional) receives the length of the valid prefix,
 * i.e. where a torn or corrupt record begins. */
ab_status ab_store_parse_journal(const char *text, size_t len, const char *origin,
                                 struct ab_store **out, size_t *valid_len);

/* Index of the evaluation of an architecture, -1 when not recorded. */
long ab_store_find(const struct ab_store *st, uint64_t hash);

/* Records an evaluation (copied) and appends it to the journal buffer. */
ab_status ab_store_add(struct ab_store *st, const struct ab_store_eval *e);

/* Records an iteration's state (copied); an iteration already recorded is
 * ignored (a resumed run recomputes the same state). */
ab_status ab_store_add_iteration(struct ab_store *st, const struct ab_store_iter *it);

/* Hands buffered journal records to the OS; with durable = 1 also fsyncs. */
ab_status ab_store_sync(struct ab_store *st, int durable);

/* Rewrites STORE.h5 from memory (temporary file + rename). */
ab_status ab_store_snapshot(struct ab_store *st);

/* Snapshot when it is due: the journal grew and at least `interval`
 * seconds passed, stretched so snapshots cost under ~5% of the run. */
ab_status ab_store_maybe_snapshot(struct ab_store *st, double interval);

/* Marks the search complete (stored in the snapshot). */
void ab_store_set_complete(struct ab_store *st, int complete);

/* Syncs, snapshots (if writable) and frees. Safe on NULL. Returns the
 * status of the final writes. */
ab_status ab_store_close(struct ab_store **st);

/* The CRC-32 (IEEE) of a journal record's JSON text. */
uint32_t ab_store_crc32(const char *s, size_t n);

/* Wall-clock seconds since the epoch. */
double ab_store_now(void);

#endif /* AB_STORE_STORE_H */
