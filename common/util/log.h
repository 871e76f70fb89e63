/* SPDX-License-Identifier: MIT
 *
 * log.h - log lines on stderr, prefixed with the MPI rank and the level:
 *
 *     [r0 INFO ] imported 3000 architectures into D.h5
 *
 * The level comes from ab_log_set_level() (the CLI's -v/-q) or the
 * AUTOBUILD_LOG environment variable (error, warn, info, debug).
 */
#ifndef AB_UTIL_LOG_H
#define AB_UTIL_LOG_H

#include <stdarg.h>

enum ab_log_level { AB_LOG_ERROR = 0, AB_LOG_WARN, AB_LOG_INFO, AB_LOG_DEBUG };

void ab_log_set_rank(int rank);
void ab_log_set_level(enum ab_log_level level);
enum ab_log_level ab_log_level(void);

/* Reads AUTOBUILD_LOG; an unknown value leaves the level unchanged. */
void ab_log_init_from_env(void);

void ab_log(enum ab_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A progress line "<prefix><message>" on stderr at level info, without the
 * rank and level prefix (the campaign's and the labelling's lines). */
void ab_log_progress(const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ab_log_vprogress(const char *prefix, const char *fmt, va_list ap);

#define AB_LOG_E(...) ab_log(AB_LOG_ERROR, __VA_ARGS__)
#define AB_LOG_W(...) ab_log(AB_LOG_WARN, __VA_ARGS__)
#define AB_LOG_I(...) ab_log(AB_LOG_INFO, __VA_ARGS__)
#define AB_LOG_D(...) ab_log(AB_LOG_DEBUG, __VA_ARGS__)

#endif /* AB_UTIL_LOG_H */
