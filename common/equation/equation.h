/* SPDX-License-Identifier: MIT
 *
 * equation.h - label equations: formulas over metric names that turn the
 * measured metrics of an architecture into one training target.
 *
 * This file declares the parser and evaluator of label equations such as
 *
 *     acc
 *     (acc*100)/latency_gpu
 *     np.power(100, acc)/(np.log10(latency_gpu+1)+1)
 *
 * Grammar (whitespace may appear between any two tokens):
 *
 *     expr    := sum
 *     sum     := product (('+' | '-') product)*          left-associative
 *     product := unary (('*' | '/') unary)*              left-associative
 *     unary   := ('-' | '+') unary | power
 *     power   := primary (('**' | '^') unary)?           right-associative
 *     primary := number | metric | call | '(' expr ')'
 *     call    := [prefix] function '(' expr (',' expr)* ')'
 *     prefix  := 'np.' | 'numpy.' | 'math.'
 *     number  := 12 | 1.5 | .5 | 1. | 1e-3 | 2.5E+4
 *     metric  := [A-Za-z_][A-Za-z0-9_]*
 *
 * As in Python, -2**2 == -4, 2**-1 == 0.5 and 2^3^2 == 512. Functions:
 * log (natural), log10, log2, exp, sqrt, abs, pow (2 arguments), min and max
 * (2 or more arguments); aliases: power = pow, fabs = abs, minimum = min and
 * maximum = max (2 arguments each). min and max propagate NaN.
 *
 * The text is compiled into a small postfix program; evaluation is a loop
 * over that program and never allocates. Nothing in the text is executed.
 *
 * Example:
 *
 *     struct ab_equation *eq = NULL;
 *     const char *cols[] = {"acc", "latency_gpu"};
 *     double row[] = {0.75, 4.0}, y;
 *     AB_CALL(ab_equation_parse("(acc*100)/latency_gpu", &eq));
 *     AB_CALL(ab_equation_bind(eq, cols, 2));
 *     AB_CALL(ab_equation_eval(eq, row, &y));          // y == 18.75
 *   cleanup:
 *     ab_equation_destroy(&eq);
 *
 * Errors are AB_ERR_INPUT with one line of text naming the equation, the
 * 1-based column of the problem and what was expected, e.g.
 *
 *     label equation "acc**": expected a number, metric name, '(' or
 *     function after '**' at column 6 (end of equation)
 *
 * A parsed equation is immutable except through ab_equation_bind(); once
 * bound, ab_equation_eval() and ab_equation_eval_rows() may be called from
 * several threads at once.
 */
#ifndef AB_EQUATION_EQUATION_H
#define AB_EQUATION_EQUATION_H

#include "util/error.h"

/* Longest equation accepted, in bytes. */
#define AB_EQUATION_MAX_LEN 4096
/* Deepest nesting of parentheses and function calls accepted. */
#define AB_EQUATION_MAX_NESTING 256

struct ab_equation;

/* Parses; on failure *out is NULL.
 *
 * text: the equation, NUL-terminated; it is copied.
 * out: receives the new equation, to be freed with ab_equation_destroy().
 * Returns AB_OK; AB_ERR_INPUT when the text is not a valid equation (empty,
 * syntax error, unknown function, wrong argument count, unbalanced
 * parentheses, longer than AB_EQUATION_MAX_LEN, nested deeper than
 * AB_EQUATION_MAX_NESTING, a number too large for a double); AB_ERR_NOMEM;
 * AB_ERR_INTERNAL when text or out is NULL. Metric names are not checked
 * here: see ab_equation_bind(). */
ab_status ab_equation_parse(const char *text, struct ab_equation **out);

/* Resolves metric names against the available columns (names[i] is column
 * i). Unknown name -> AB_ERR_INPUT with column and the known list.
 *
 * May be called again to bind to other columns. When a name appears twice
 * in names, the first one is used. names may be NULL when n_names is 0.
 * Returns AB_OK; AB_ERR_INPUT naming the first metric of the equation that
 * is not among names, with its column, a close match when there is one and
 * the known names; AB_ERR_INTERNAL when eq is NULL, n_names < 0 or names is
 * NULL with n_names > 0. On failure the equation is left unbound. */
ab_status ab_equation_bind(struct ab_equation *eq, const char *const *names, int n_names);

/* Evaluates a bound equation on one row of metric values (indexed like the
 * names given to bind). Returns AB_OK and the value, which may be NaN/inf
 * (the caller decides).
 *
 * Never allocates. Returns AB_ERR_INTERNAL (and leaves *out unchanged) when
 * eq, out or values is NULL (values may be NULL when the equation uses no
 * metric) or when eq has not been bound. */
ab_status ab_equation_eval(const struct ab_equation *eq, const double *values, double *out);

/* Evaluates rows (n_rows x n_cols, row-major; n_cols == n_names given to
 * bind) into out[n_rows]. A row whose result is NaN or +-inf is refused:
 * AB_ERR_INPUT naming the 1-based row number (row_base is added to the
 * 0-based index so callers can say "row 17 of D.h5"), the equation, and the
 * metric values of that row, e.g.
 *
 *     label equation "log(acc)": row 17 gives -inf (acc=0); fix the data or
 *     the equation
 *
 * The row at 0-based index i of this call is reported as row
 * row_base + i + 1. Never allocates. On AB_ERR_INPUT, out[0..i-1] hold the
 * results of the rows before the refused one and the rest of out is
 * unspecified. Returns AB_ERR_INTERNAL when eq is not bound, n_cols differs
 * from the n_names given to bind, n_rows < 0, or a needed pointer is NULL
 * (rows and out may be NULL when n_rows is 0). */
ab_status ab_equation_eval_rows(const struct ab_equation *eq, const double *rows,
                                long n_rows, int n_cols, long row_base, double *out);

/* Number and names of the distinct metric names the equation uses (valid
 * after parse).
 *
 * Names are in order of first use. ab_equation_n_vars() returns 0 for a NULL
 * equation; ab_equation_var() returns NULL when i is out of range. The
 * strings belong to the equation. */
int ab_equation_n_vars(const struct ab_equation *eq);
const char *ab_equation_var(const struct ab_equation *eq, int i);

/* The original text. NULL for a NULL equation; the string belongs to eq. */
const char *ab_equation_text(const struct ab_equation *eq);

/* NULL-safe; sets *eq to NULL. Accepts eq == NULL and *eq == NULL. */
void ab_equation_destroy(struct ab_equation **eq);

#endif /* AB_EQUATION_EQUATION_H */
