/* SPDX-License-Identifier: MIT
 *
 * error.h - the one error convention of autobuild.
 *
 * Every function that can fail returns an ab_status; results travel through
 * output pointers. When a function fails it records one human-readable line
 * (file, field or line, what was expected, what to do) in a thread-local
 * error slot with ab_err_set(); callers either pass the status up unchanged
 * or add context in front with ab_err_prefix(). The CLI prints the slot once
 * and exits with ab_status_exit_code().
 *
 * Typical use, with one cleanup label per function:
 *
 *     ab_status rc = AB_OK;
 *     FILE *f = fopen(path, "r");
 *     AB_CHECK(f != NULL, AB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
 *     AB_CALL(parse(f, &out));
 *   cleanup:
 *     if (f) fclose(f);
 *     return rc;
 */
#ifndef AB_UTIL_ERROR_H
#define AB_UTIL_ERROR_H

#include <stddef.h>

typedef enum ab_status {
    AB_OK = 0,
    AB_ERR_INPUT,    /* bad user input: files, options, architectures (exit 2) */
    AB_ERR_IO,       /* the operating system refused: open, write, rename */
    AB_ERR_NOMEM,    /* an allocation failed */
    AB_ERR_MPI,      /* an MPI call failed */
    AB_ERR_INTERNAL, /* a bug: an invariant did not hold */
} ab_status;

/* Records the error text for the current thread and returns status.
 * The text is formatted like printf; it is truncated at 1023 bytes. */
ab_status ab_err_set(ab_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Puts "<text>: " in front of the recorded error text. Returns the status of
 * the recorded error (AB_ERR_INTERNAL when none was recorded). */
ab_status ab_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The recorded text ("" when none) and status (AB_OK when none). */
const char *ab_err_msg(void);
ab_status ab_err_status(void);

/* Forgets the recorded error. */
void ab_err_clear(void);

/* Exit code for a status: 0 ok, 2 bad input, 1 anything else. */
int ab_status_exit_code(ab_status status);

/* Short name of a status, e.g. "input error". Never NULL. */
const char *ab_status_name(ab_status status);

/* Call-and-propagate: needs a local `ab_status rc` and a `cleanup:` label. */
#define AB_CALL(expr)                                                          \
    do {                                                                       \
        if ((rc = (expr)) != AB_OK) goto cleanup;                              \
    } while (0)

/* Check a condition, record an error and jump to cleanup when it fails. */
#define AB_CHECK(cond, status, ...)                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            rc = ab_err_set((status), __VA_ARGS__);                            \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* Record an error unconditionally and jump to cleanup. */
#define AB_FAIL(status, ...)                                                   \
    do {                                                                       \
        rc = ab_err_set((status), __VA_ARGS__);                                \
        goto cleanup;                                                          \
    } while (0)

/* Check an allocation result. */
#define AB_CHECK_ALLOC(ptr)                                                    \
    AB_CHECK((ptr) != NULL, AB_ERR_NOMEM, "out of memory at %s:%d", __FILE__,  \
             __LINE__)

/* Internal invariant: a failure is a bug in autobuild, not in the input. */
#define AB_ASSERT(cond)                                                        \
    AB_CHECK(cond, AB_ERR_INTERNAL, "internal error: %s failed at %s:%d; "    \
             "please report this", #cond, __FILE__, __LINE__)

/* Propagate without cleanup (for functions that own nothing). */
#define AB_TRY(expr)                                                           \
    do {                                                                       \
        ab_status rc_try_ = (expr);                                            \
        if (rc_try_ != AB_OK) return rc_try_;                                  \
    } while (0)

#endif /* AB_UTIL_ERROR_H */
