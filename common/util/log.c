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

/* One line "<head><message>\n" on stderr: results on stdout come first, and
 * one write per line so that ranks sharing a terminal do not interleave. */
static void emit(const char *head, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "%s", head);
    if (n < 0 || n >= (int)sizeof line - 2) n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    fflush(stdout);
    strcat(line, "\n");
    fputs(line, stderr);
    fflush(stderr);
}

void ab_log(enum ab_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    char head[32];
    va_list ap;
    if (level > log_level) return;
    snprintf(head, sizeof head, "[r%d %s] ", log_rank, names[level]);
    va_start(ap, fmt);
    emit(head, fmt, ap);
    va_end(ap);
}

void ab_log_vprogress(const char *prefix, const char *fmt, va_list ap)
{
    if (log_level < AB_LOG_INFO) return;
    emit(prefix ? prefix : "", fmt, ap);
}

void ab_log_progress(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ab_log_vprogress(prefix, fmt, ap);
    va_end(ap);
}
