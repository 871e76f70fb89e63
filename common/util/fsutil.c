/* SPDX-License-Identifier: MIT
 *
 * This file implements crash-consistent file output and whole-file reads.
 */
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ab_status ab_fs_temp_path(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int n;
    if (slash)
        n = snprintf(buf, cap, "%.*s/.%s.tmp-%ld", (int)(slash - path), path, slash + 1,
                     (long)getpid());
    else
        n = snprintf(buf, cap, ".%s.tmp-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= cap)
        return ab_err_set(AB_ERR_INPUT, "%s: the path is too long", path);
    return AB_OK;
}

static ab_status fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ab_err_set(AB_ERR_IO, "%s: cannot open to flush: %s", path, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return ab_err_set(AB_ERR_IO, "%s: cannot flush to disk: %s", path, strerror(e));
    }
    close(fd);
    return AB_OK;
}

ab_status ab_fs_commit(const char *tmp, const char *path)
{
    ab_status rc = AB_OK;
    char dir[PATH_MAX];
    AB_CALL(fsync_path(tmp));
    AB_CHECK(rename(tmp, path) == 0, AB_ERR_IO, "%s: cannot rename %s into place: %s", path,
             tmp, strerror(errno));
    snprintf(dir, sizeof dir, "%s", path);
    /* Directory flush is best effort: some file systems refuse it. It
     * records no error, so a commit during a caller's cleanup keeps the
     * error being reported. */
    {
        int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
cleanup:
    if (rc) unlink(tmp);
    return rc;
}

ab_status ab_fs_read_all(const char *path, size_t max, char **out, size_t *len)
{
    ab_status rc = AB_OK;
    FILE *f = NULL;
    char *buf = NULL;
    size_t cap = 1 << 16, n = 0;
    *out = NULL;
    f = fopen(path, "rb");
    AB_CHECK(f != NULL, AB_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    buf = malloc(cap + 1);
    AB_CHECK_ALLOC(buf);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            AB_CHECK(cap < max, AB_ERR_INPUT, "%s: the file is larger than %zu bytes", path, max);
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            AB_CHECK_ALLOC(nb);
            buf = nb;
        }
    }
    AB_CHECK(!ferror(f), AB_ERR_IO, "%s: read error", path);
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    buf = NULL;
cleanup:
    if (f) fclose(f);
    free(buf);
    return rc;
}

int ab_fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *ab_fs_resolve(const char *base_dir, const char *p)
{
    char *out;
    if (p[0] == '/' || !base_dir || !base_dir[0] || !strcmp(base_dir, ".")) return strdup(p);
    if (asprintf(&out, "%s/%s", base_dir, p) < 0) return NULL;
    return out;
}
