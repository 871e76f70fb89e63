/* SPDX-License-Identifier: MIT
 *
 * stamp.h - stage records ("stamps") of a campaign: which configuration
 * produced a stage's output files, and whether those files are still
 * exactly what the stage wrote. A rerun of `autobuild campaign` skips a
 * stage only when its stamp says complete.
 *
 * A stamp is a small JSON file DIR/stamps/NAME.json, written atomically
 * (temporary file + rename) after every output of the stage was renamed
 * into place, so a crash at any moment leaves either no stamp (the stage
 * is redone) or a stamp whose outputs are all complete:
 *
 *     {"stage": "train-acc",
 *      "identity": "{\"stage\":\"train\",...}",   canonical JSON of what
 *                                                 defines the stage
 *      "hash": "5f2c...",                         FNV-1a 64 of the identity
 *      "outputs": [{"file": "predictors/acc.h5", "bytes": 91234,
 *                   "fnv1a64": "a41b..."}],       relative to DIR
 *      "summary": {...},                          what the stage reported
 *      "finished": 1732240000.5}
 *
 * The identity of a stage holds its own options and the content hashes of
 * its input files (ab_stamp_file_hash), so a change anywhere upstream
 * changes it, and a stage redone with the same inputs and options (and a
 * deterministic result) keeps every later stamp valid.
 *
 *     enum ab_stamp_state s;
 *     json_t *summary = NULL;
 *     AB_CALL(ab_stamp_check("camp", "data", identity, &s, &summary));
 *     if (s != AB_STAMP_COMPLETE) {
 *         AB_CALL(ab_stamp_remove("camp", "data"));
 *         ... write camp/data.h5 atomically ...
 *         AB_CALL(ab_stamp_write("camp", "data", identity, outputs, 1, summary));
 *     }
 */
#ifndef AB_CAMPAIGN_STAMP_H
#define AB_CAMPAIGN_STAMP_H

#include <jansson.h>
#include <stdint.h>

#include "util/error.h"

enum ab_stamp_state {
    AB_STAMP_NONE,      /* no stamp: never done, or interrupted */
    AB_STAMP_CHANGED,   /* stamped with another identity (options or inputs changed) */
    AB_STAMP_DAMAGED,   /* an output is missing or differs from what was stamped */
    AB_STAMP_COMPLETE,  /* same identity, every output as written */
};

/* FNV-1a 64 of a NUL-terminated text. Can't fail. */
uint64_t ab_stamp_hash_text(const char *s);

/* The FNV-1a 64 of a file's bytes as 16 hex digits (hex has room for 17
 * bytes) and its size. Fails (AB_ERR_INPUT) when the file cannot be read,
 * naming it. */
ab_status ab_stamp_file_hash(const char *path, char *hex, long *bytes);

/* The path of stamp NAME of campaign folder dir. Fails (AB_ERR_INPUT) when
 * it does not fit in cap bytes. */
ab_status ab_stamp_path(const char *dir, const char *name, char *buf, size_t cap);

/* Compares stamp NAME with `identity` and the stamped outputs with the
 * files now in dir. *summary (optional) receives the stamp's summary object
 * (a new reference, NULL unless complete). A stamp that cannot be read or
 * parsed counts as AB_STAMP_NONE. Fails only when out of memory. */
ab_status ab_stamp_check(const char *dir, const char *name, const char *identity,
                         enum ab_stamp_state *state, json_t **summary);

/* Writes stamp NAME atomically: identity, the hashes of the n output files
 * (paths relative to dir) and summary (may be NULL; not stolen). Creates
 * DIR/stamps when needed. Fails (AB_ERR_INPUT) when an output is missing,
 * (AB_ERR_IO) when the stamp cannot be written; no stamp is then left. */
ab_status ab_stamp_write(const char *dir, const char *name, const char *identity,
                         const char *const *outputs, int n, json_t *summary);

/* Removes stamp NAME (absent is fine). Fails (AB_ERR_IO) when it exists and
 * cannot be removed. */
ab_status ab_stamp_remove(const char *dir, const char *name);

/* A short phrase for a state: "not done", "its configuration or inputs
 * changed", "an output is missing or changed", "complete". */
const char *ab_stamp_state_text(enum ab_stamp_state s);

#endif /* AB_CAMPAIGN_STAMP_H */
