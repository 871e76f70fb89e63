/* SPDX-License-Identifier: MIT
 *
 * stop.h - the process-wide stop request: SIGTERM, SIGUSR1 (Slurm's
 * preemption warning) or SIGINT set a flag that long-running loops poll,
 * so that they save what they have and return instead of dying mid-write.
 *
 *     ab_stop_install();
 *     while (work_left && !ab_stop_requested()) step();
 *
 * The handler only sets a sig_atomic_t; nothing else runs in signal
 * context.
 */
#ifndef AB_UTIL_STOP_H
#define AB_UTIL_STOP_H

/* Installs the handlers for SIGTERM, SIGUSR1 and SIGINT (idempotent). */
void ab_stop_install(void);

/* 1 once one of those signals arrived (or ab_stop_request was called). */
int ab_stop_requested(void);

/* Requests a stop from code (tests; a fatal condition elsewhere). */
void ab_stop_request(void);

#endif /* AB_UTIL_STOP_H */
