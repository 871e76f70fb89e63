/* SPDX-License-Identifier: MIT
 *
 * fsutil.h - crash-consistent file output: write to a temporary name beside
 * the destination, flush it to disk, then rename it into place. A failure or
 * a crash at any moment leaves either the old file or the new one, never a
 * half-written one.
 *
 *     char tmp[PATH_MAX];
 *     ab_fs_temp_path(path, tmp, sizeof tmp);  // "<dir>/.<name>.tmp-<pid>"
 *     ... write tmp ...
 *     rc = ab_fs_commit(tmp, path);            // fsync + rename + fsync dir
 *     if (rc) unlink(tmp);
 */
#ifndef AB_UTIL_FSUTIL_H
#define AB_UTIL_FSUTIL_H

#include <stddef.h>

#include "util/error.h"

/* The temporary name for path. Fails (AB_ERR_INPUT) when it does not fit. */
ab_status ab_fs_temp_path(const char *path, char *buf, size_t cap);

/* Flushes tmp to disk and renames it to path, then flushes the directory.
 * On failure tmp is removed and path is untouched. */
ab_status ab_fs_commit(const char *tmp, const char *path);

/* Reads a whole file into a NUL-terminated malloc'd buffer (at most max
 * bytes; more is an AB_ERR_INPUT error naming the file). */
ab_status ab_fs_read_all(const char *path, size_t max, char **out, size_t *len);

/* 1 when the path exists. */
int ab_fs_exists(const char *path);

/* A path named in a configuration file, as a new string (NULL when out of
 * memory): absolute as it is, else relative to base_dir, the file's folder
 * ("" or "." for the current one). */
char *ab_fs_resolve(const char *base_dir, const char *p);

#endif
