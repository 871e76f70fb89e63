/* SPDX-License-Identifier: MIT
 *
 * This file implements rank- and level-prefixed logging on stderr.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int log_rank = 0;
static enum ab_log_level log_level = AB_LOG_INFO;

void ab_log_set_rank(int rank) { log_rank = rank; }
void ab_log_set_level(enum ab_log_level level) { log_level = level; }
enum ab_log_level ab_log_level(void) { return log_level; }

void ab_log_init_from_env(void)
{
    const char *v = getenv("AUTOBUILD_LOG");
    if (!v) return;
    if (!strcasecmp(v, "error")) log_level = AB_LOG_ERROR;
    else if (!strcasecmp(v, "warn")) log_level = AB_LOG_WARN;
    else if (!strcasecmp(v, "info")) log_level = AB_LOG_INFO;
    else if (!strcasecmp(v, "debug")) log_level = AB_LOG_DEBUG;
}

void ab_log(enum ab_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    char line[2048];
    va_list ap;
    int n;
    if (level > log_level) return;
    n = snprintf(line, sizeof line, "[r%d %s] ", log_rank, names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* Results on stdout come first; one write per line so ranks sharing a
     * terminal do not interleave. */
    fflush(stdout);
    strcat(line, "\n");
    fputs(line, stderr);
    fflush(stderr);
}
