/* SPDX-License-Identifier: MIT
 *
 * stop.c - the process-wide stop request (see stop.h).
 */
#include "util/stop.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void ab_stop_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int ab_stop_requested(void)
{
    return stop_flag != 0;
}

void ab_stop_request(void)
{
    stop_flag = 1;
}
