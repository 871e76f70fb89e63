/* SPDX-License-Identifier: MIT
 *
 * This file implements the thread-local error slot described in error.h.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AB_ERR_LEN 1024

static _Thread_local char err_text[AB_ERR_LEN];
static _Thread_local ab_status err_status = AB_OK;

/* Errors are one line: control characters that came in with quoted input
 * (a multi-line YAML value, a CSV field) become spaces. */
static void flatten(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) *s = ' ';
}

ab_status ab_err_set(ab_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_text, sizeof err_text, fmt, ap);
    va_end(ap);
    flatten(err_text);
    err_status = status;
    return status;
}

ab_status ab_err_prefix(const char *fmt, ...)
{
    char head[AB_ERR_LEN];
    char old[AB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err_text, sizeof old);
    /* head + ": " + old, truncated to the slot */
    size_t hl = strnlen(head, sizeof head), ol = strnlen(old, sizeof old), n = 0;
    if (hl > AB_ERR_LEN - 3) hl = AB_ERR_LEN - 3;
    memcpy(err_text, head, hl);
    n = hl;
    memcpy(err_text + n, ": ", 2);
    n += 2;
    if (ol > AB_ERR_LEN - 1 - n) ol = AB_ERR_LEN - 1 - n;
    memcpy(err_text + n, old, ol);
    err_text[n + ol] = '\0';
    flatten(err_text);
    if (err_status == AB_OK) err_status = AB_ERR_INTERNAL;
    return err_status;
}

const char *ab_err_msg(void) { return err_text; }

ab_status ab_err_status(void) { return err_status; }

void ab_err_clear(void)
{
    err_text[0] = '\0';
    err_status = AB_OK;
}

int ab_status_exit_code(ab_status status)
{
    switch (status) {
    case AB_OK: return 0;
    case AB_ERR_INPUT: return 2;
    default: return 1;
    }
}

const char *ab_status_name(ab_status status)
{
    switch (status) {
    case AB_OK: return "ok";
    case AB_ERR_INPUT: return "input error";
    case AB_ERR_IO: return "I/O error";
    case AB_ERR_NOMEM: return "out of memory";
    case AB_ERR_MPI: return "MPI error";
    case AB_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}
