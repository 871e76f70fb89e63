/* SPDX-License-Identifier: MIT
 *
 * This file implements the unit tests of label equations (equation.h):
 * values of every operator and function, precedence and associativity, the
 * authors' example equations, binding, row evaluation and the refusal of
 * NaN/inf rows, and every parse error with its column.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cu_main.h"
#include "equation/equation.h"
#include "util/error.h"

/* The columns every value test binds against. */
static const char *const names[] = {"acc", "latency_gpu", "latency_cpu", "flops"};
static const double row[] = {0.75, 4.0, 20.0, 300.0};
#define N_NAMES 4

/* Parses, binds to `names` and evaluates on `row`; NAN when any step fails
 * (and the failure is asserted). */
static double value_of(const char *text)
{
    struct ab_equation *eq = NULL;
    double y = NAN;
    ab_status rc = ab_equation_parse(text, &eq);
    if (rc != AB_OK) fprintf(stderr, "\n  parse(\"%s\"): %s\n", text, ab_err_msg());
    CU_ASSERT_EQUAL_FATAL(rc, AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, names, N_NAMES), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, row, &y), AB_OK);
    ab_equation_destroy(&eq);
    CU_ASSERT_PTR_NULL(eq);
    return y;
}

/* Asserts that text evaluates to want within tol (tol 0: exactly). */
#define CHECK_VALUE(text, want, tol) check_value(text, want, tol, __LINE__)
static void check_value(const char *text, double want, double tol, int line)
{
    double got = value_of(text);
    int ok = tol == 0 ? got == want : fabs(got - want) <= tol;
    if (!ok)
        fprintf(stderr, "\n  line %d: \"%s\" gave %.17g, want %.17g\n", line, text, got,
                want);
    CU_ASSERT_TRUE(ok);
}

/* Asserts that parsing text fails with AB_ERR_INPUT, leaves *out NULL, and
 * gives one line that quotes the equation and contains `col` (e.g.
 * "column 6") and `part`. */
#define CHECK_PARSE_ERROR(text, col, part) check_parse_error(text, col, part, __LINE__)
static void check_parse_error(const char *text, const char *col, const char *part, int line)
{
    struct ab_equation *eq = (struct ab_equation *)&eq; /* not NULL */
    ab_status rc = ab_equation_parse(text, &eq);
    const char *msg = ab_err_msg();
    int ok = rc == AB_ERR_INPUT && eq == NULL &&
             strncmp(msg, "label equation \"", 16) == 0 && strstr(msg, col) &&
             strstr(msg, part) && !strchr(msg, '\n');
    if (!ok)
        fprintf(stderr, "\n  line %d: \"%s\": rc %d, message: %s\n  want \"%s\" and \"%s\"\n",
                line, text, (int)rc, msg, col, part);
    CU_ASSERT_TRUE(ok);
    if (rc == AB_OK) ab_equation_destroy(&eq);
}

/* Asserts that the recorded message is exactly want. */
#define CHECK_MSG(want) check_msg(want, __LINE__)
static void check_msg(const char *want, int line)
{
    if (strcmp(ab_err_msg(), want) != 0)
        fprintf(stderr, "\n  line %d: message\n    %s\n  want\n    %s\n", line, ab_err_msg(),
                want);
    CU_ASSERT_STRING_EQUAL(ab_err_msg(), want);
}

static void test_numbers(void)
{
    CHECK_VALUE("42", 42.0, 0);
    CHECK_VALUE("007", 7.0, 0);
    CHECK_VALUE("1.5", 1.5, 0);
    CHECK_VALUE(".5", 0.5, 0);
    CHECK_VALUE("1.", 1.0, 0);
    CHECK_VALUE("1e-3", 0.001, 0);
    CHECK_VALUE("2.5E+2", 250.0, 0);
    CHECK_VALUE("1e3", 1000.0, 0);
    CHECK_VALUE(".25e1", 2.5, 0);
    CHECK_VALUE("1e-400", 0.0, 0); /* underflow to zero is accepted */
}

static void test_operators(void)
{
    CHECK_VALUE("1+2", 3.0, 0);
    CHECK_VALUE("5-7", -2.0, 0);
    CHECK_VALUE("3*4", 12.0, 0);
    CHECK_VALUE("7/2", 3.5, 0);
    CHECK_VALUE("2^10", 1024.0, 0);
    CHECK_VALUE("2**10", 1024.0, 0);
    CHECK_VALUE("4^0.5", 2.0, 0);
    CHECK_VALUE("-3", -3.0, 0);
    CHECK_VALUE("+3", 3.0, 0);
    CHECK_VALUE("--3", 3.0, 0);
    CHECK_VALUE("-+-3", 3.0, 0);
    CHECK_VALUE("-(2+3)", -5.0, 0);
    CHECK_VALUE("1+-2", -1.0, 0);
}

static void test_precedence(void)
{
    CHECK_VALUE("2+3*4", 14.0, 0);
    CHECK_VALUE("(2+3)*4", 20.0, 0);
    CHECK_VALUE("10-2*3", 4.0, 0);
    CHECK_VALUE("2*3+4*5", 26.0, 0);
    CHECK_VALUE("2*3^2", 18.0, 0);
    CHECK_VALUE("2^3^2", 512.0, 0);
    CHECK_VALUE("2**3**2", 512.0, 0);
    CHECK_VALUE("(2^3)^2", 64.0, 0);
    CHECK_VALUE("-2**2", -4.0, 0);
    CHECK_VALUE("-2^2", -4.0, 0);
    CHECK_VALUE("(-2)**2", 4.0, 0);
    CHECK_VALUE("2**-1", 0.5, 0);
    CHECK_VALUE("2**-2**2", 0.0625, 0);   /* 2**(-(2**2)), as in Python */
    CHECK_VALUE("2^-3^2", 0.001953125, 0); /* 2^-9 */
    CHECK_VALUE("2**-1*4", 2.0, 0);        /* (2**-1)*4 */
    CHECK_VALUE("2*-3", -6.0, 0);
    CHECK_VALUE("-2*3", -6.0, 0);
    CHECK_VALUE("1-2-3", -4.0, 0);
    CHECK_VALUE("8/2/2", 2.0, 0);
    CHECK_VALUE("2-3+4", 3.0, 0);
    CHECK_VALUE("12/3*2", 8.0, 0);
    CHECK_VALUE("3*-2**2", -12.0, 0);
}

static void test_functions(void)
{
    CHECK_VALUE("log(1)", 0.0, 0);
    CHECK_VALUE("log(exp(2))", 2.0, 1e-15);
    CHECK_VALUE("exp(0)", 1.0, 0);
    CHECK_VALUE("exp(1)", 2.718281828459045, 1e-15);
    CHECK_VALUE("log10(1000)", 3.0, 0);
    CHECK_VALUE("log2(8)", 3.0, 0);
    CHECK_VALUE("sqrt(16)", 4.0, 0);
    CHECK_VALUE("abs(-2.5)", 2.5, 0);
    CHECK_VALUE("abs(2.5)", 2.5, 0);
    CHECK_VALUE("fabs(-2)", 2.0, 0);
    CHECK_VALUE("pow(2, 10)", 1024.0, 0);
    CHECK_VALUE("power(3, 2)", 9.0, 0);
    CHECK_VALUE("min(3, 1, 2)", 1.0, 0);
    CHECK_VALUE("max(3, 1, 2)", 3.0, 0);
    CHECK_VALUE("min(2, 5)", 2.0, 0);
    CHECK_VALUE("max(-2, -5)", -2.0, 0);
    CHECK_VALUE("minimum(4, 5)", 4.0, 0);
    CHECK_VALUE("maximum(4, 5)", 5.0, 0);
    CHECK_VALUE("max(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4)", 10.0, 0);
    CHECK_VALUE("min(max(1, 2), 3) + pow(2, 1 + 1)", 6.0, 0);
    CHECK_VALUE("-log10(100)", -2.0, 0);
    CHECK_VALUE("log2(8)^2", 9.0, 0);
}

static void test_prefixes(void)
{
    CHECK_VALUE("np.log10(100)", 2.0, 0);
    CHECK_VALUE("np.power(2, 3)", 8.0, 0);
    CHECK_VALUE("numpy.sqrt(9)", 3.0, 0);
    CHECK_VALUE("math.sqrt(9)", 3.0, 0);
    CHECK_VALUE("math.pow(2, 3)", 8.0, 0);
    CHECK_VALUE("math.log(1)", 0.0, 0);
    CHECK_VALUE("np.log2(4)", 2.0, 0);
    CHECK_VALUE("np.exp(0)", 1.0, 0);
    CHECK_VALUE("np.abs(-1)", 1.0, 0);
    CHECK_VALUE("math.fabs(-1)", 1.0, 0);
    CHECK_VALUE("np.minimum(1, 2)", 1.0, 0);
    CHECK_VALUE("np.maximum(1, 2)", 2.0, 0);
    CHECK_VALUE("np.max(1, 2, 3)", 3.0, 0);
}

static void test_whitespace(void)
{
    CHECK_VALUE("  ( acc * 100 ) /\tlatency_gpu \n", 18.75, 0);
    CHECK_VALUE("np.power ( 2 , 3 )", 8.0, 0);
    CHECK_VALUE("2 ** 3", 8.0, 0);
    CHECK_VALUE("log (1)", 0.0, 0);
    CHECK_VALUE("\r\n- 2\f^\v2", -4.0, 0);
}

static void test_metrics(void)
{
    CHECK_VALUE("acc", 0.75, 0);
    CHECK_VALUE("latency_gpu", 4.0, 0);
    CHECK_VALUE("flops / latency_cpu", 15.0, 0);
    CHECK_VALUE("-acc**2", -0.5625, 0);
}

/* The two equations from the method description, against values computed
 * by hand. */
static void test_author_examples(void)
{
    const char *cols[] = {"acc", "latency_gpu"};
    const double r1[] = {0.75, 4.0}, r2[] = {0.5, 9.0};
    struct ab_equation *eq = NULL;
    double y = 0;

    /* (0.75*100)/4 = 18.75 */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("(acc*100)/latency_gpu", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r1, &y), AB_OK);
    CU_ASSERT_EQUAL(y, 18.75);
    ab_equation_destroy(&eq);

    /* 100^0.5 / (log10(9+1)+1) = 10/2 = 5;
     * 100^0.75 / (log10(4+1)+1) = 31.6227766017 / 1.69897000434 = 18.6129104816 */
    CU_ASSERT_EQUAL_FATAL(
        ab_equation_parse("np.power(100, acc)/(np.log10(latency_gpu+1)+1)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r2, &y), AB_OK);
    CU_ASSERT_EQUAL(y, 5.0);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r1, &y), AB_OK);
    CU_ASSERT_DOUBLE_EQUAL(y, 18.6129104816, 1e-9);
    ab_equation_destroy(&eq);
}

static void test_vars_and_text(void)
{
    struct ab_equation *eq = NULL;
    const char *text = "acc*acc + latency_gpu - acc / log(flops)";
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse(text, &eq), AB_OK);
    CU_ASSERT_STRING_EQUAL(ab_equation_text(eq), text);
    CU_ASSERT_PTR_NOT_EQUAL(ab_equation_text(eq), text); /* a copy */
    CU_ASSERT_EQUAL(ab_equation_n_vars(eq), 3);
    CU_ASSERT_STRING_EQUAL(ab_equation_var(eq, 0), "acc");
    CU_ASSERT_STRING_EQUAL(ab_equation_var(eq, 1), "latency_gpu");
    CU_ASSERT_STRING_EQUAL(ab_equation_var(eq, 2), "flops");
    CU_ASSERT_PTR_NULL(ab_equation_var(eq, 3));
    CU_ASSERT_PTR_NULL(ab_equation_var(eq, -1));
    ab_equation_destroy(&eq);

    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("1 + 2", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_n_vars(eq), 0);
    ab_equation_destroy(&eq);

    /* NULL-safety */
    CU_ASSERT_EQUAL(ab_equation_n_vars(NULL), 0);
    CU_ASSERT_PTR_NULL(ab_equation_var(NULL, 0));
    CU_ASSERT_PTR_NULL(ab_equation_text(NULL));
    ab_equation_destroy(&eq);
    ab_equation_destroy(NULL);
    CU_ASSERT_EQUAL(ab_equation_parse(NULL, &eq), AB_ERR_INTERNAL);
    CU_ASSERT_PTR_NULL(eq);
    CU_ASSERT_EQUAL(ab_equation_parse("acc", NULL), AB_ERR_INTERNAL);
}

/* A function name not followed by '(' is a metric name like any other. */
static void test_function_names_as_metrics(void)
{
    const char *cols[] = {"log", "min"};
    const double r[] = {3.0, 4.0};
    struct ab_equation *eq = NULL;
    double y = 0;
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("log(log) + min", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_n_vars(eq), 2);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r, &y), AB_OK);
    CU_ASSERT_DOUBLE_EQUAL(y, log(3.0) + 4.0, 1e-15);
    ab_equation_destroy(&eq);
}

static void test_bind(void)
{
    const char *swapped[] = {"flops", "latency_gpu", "acc"};
    const double r[] = {1.0, 4.0, 0.75};
    const char *two[] = {"acc", "latency_gpu"};
    struct ab_equation *eq = NULL;
    double y = 0;

    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("(acc*100)/latency_gpu", &eq), AB_OK);
    /* evaluating before bind is a caller bug */
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r, &y), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, swapped, 3), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r, &y), AB_OK);
    CU_ASSERT_EQUAL(y, 18.75);
    /* rebinding to other columns */
    CU_ASSERT_EQUAL(ab_equation_bind(eq, names, N_NAMES), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, row, &y), AB_OK);
    CU_ASSERT_EQUAL(y, 18.75);
    ab_equation_destroy(&eq);

    /* unknown metric: the message from the brief, exactly */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("foo+1", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, two, 2), AB_ERR_INPUT);
    CHECK_MSG("label equation \"foo+1\": unknown metric 'foo' at column 1; known "
              "metrics: acc, latency_gpu");
    /* a failed bind leaves the equation unbound */
    CU_ASSERT_EQUAL(ab_equation_eval(eq, r, &y), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, NULL, 0), AB_ERR_INPUT);
    CHECK_MSG("label equation \"foo+1\": unknown metric 'foo' at column 1; known "
              "metrics: (none)");
    ab_equation_destroy(&eq);

    /* column of the first use, and a close match */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("acc + 2*latency_gpux", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, two, 2), AB_ERR_INPUT);
    CHECK_MSG("label equation \"acc + 2*latency_gpux\": unknown metric 'latency_gpux' at "
              "column 9 (did you mean 'latency_gpu'?); known metrics: acc, latency_gpu");
    ab_equation_destroy(&eq);

    /* an equation without metrics binds to nothing */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("2^3", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, NULL, 0), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, NULL, &y), AB_OK);
    CU_ASSERT_EQUAL(y, 8.0);
    ab_equation_destroy(&eq);
}

/* Many known names: the list is cut, the message stays one bounded line. */
static void test_bind_many_names(void)
{
    enum { N = 200 };
    char buf[N][24];
    const char *many[N];
    struct ab_equation *eq = NULL;
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "metric_number_%d", i);
        many[i] = buf[i];
    }
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("acc", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, many, N), AB_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "unknown metric 'acc' at column 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "metric_number_0, metric_number_1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "more)"));
    CU_ASSERT_PTR_NULL(strchr(ab_err_msg(), '\n'));
    CU_ASSERT(strlen(ab_err_msg()) < 1023);
    ab_equation_destroy(&eq);
}

static void test_eval_nonfinite_single(void)
{
    const char *cols[] = {"acc"};
    const double zero[] = {0.0}, nan_row[] = {NAN};
    struct ab_equation *eq = NULL;
    double y = 0;
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("log(acc)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 1), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, zero, &y), AB_OK);
    CU_ASSERT_TRUE(isinf(y) && y < 0);
    ab_equation_destroy(&eq);

    /* min and max propagate NaN whatever its position */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("min(acc, 1) + max(1, acc)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 1), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, nan_row, &y), AB_OK);
    CU_ASSERT_TRUE(isnan(y));
    ab_equation_destroy(&eq);
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("min(1, acc)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 1), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval(eq, nan_row, &y), AB_OK);
    CU_ASSERT_TRUE(isnan(y));
    ab_equation_destroy(&eq);
}

static void test_eval_rows(void)
{
    const char *cols[] = {"latency_gpu", "acc"};
    const double rows[] = {4.0, 0.75, 2.0, 0.5, 8.0, 1.0};
    double out[3] = {0};
    struct ab_equation *eq = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("(acc*100)/latency_gpu", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, rows, 3, 2, 0, out), AB_OK);
    CU_ASSERT_EQUAL(out[0], 18.75);
    CU_ASSERT_EQUAL(out[1], 25.0);
    CU_ASSERT_EQUAL(out[2], 12.5);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, NULL, 0, 2, 0, NULL), AB_OK);
    /* caller bugs */
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, rows, 2, 3, 0, out), AB_ERR_INTERNAL);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, rows, -1, 2, 0, out), AB_ERR_INTERNAL);
    ab_equation_destroy(&eq);
}

static void test_eval_rows_refuses_nonfinite(void)
{
    const char *cols[] = {"acc", "latency_gpu"};
    const double rows[] = {1.0, 2.0, 0.5, 3.0, 0.0, 4.0};
    const double neg[] = {0.25, 1.0, -1.0, 2.0};
    const double div0[] = {0.75, 0.0};
    double out[3] = {-1, -1, -1};
    struct ab_equation *eq = NULL;

    /* -inf: the example from the brief; row_base 14 + index 2 + 1 = row 17 */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("log(acc)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, rows, 3, 2, 14, out), AB_ERR_INPUT);
    CHECK_MSG("label equation \"log(acc)\": row 17 gives -inf (acc=0); fix the data or the "
              "equation");
    CU_ASSERT_EQUAL(out[0], 0.0); /* rows before the refused one are written */
    CU_ASSERT_EQUAL(out[1], log(0.5));
    ab_equation_destroy(&eq);

    /* NaN, row_base 0: the second row is row 2 */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("sqrt(acc)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, neg, 2, 2, 0, out), AB_ERR_INPUT);
    CHECK_MSG("label equation \"sqrt(acc)\": row 2 gives NaN (acc=-1); fix the data or the "
              "equation");
    ab_equation_destroy(&eq);

    /* +inf, two metrics shown in order of first use */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("latency_gpu + acc/latency_gpu", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, div0, 1, 2, 99, out), AB_ERR_INPUT);
    CHECK_MSG("label equation \"latency_gpu + acc/latency_gpu\": row 100 gives inf "
              "(latency_gpu=0, acc=0.75); fix the data or the equation");
    ab_equation_destroy(&eq);

    /* values are printed so that they read back exactly */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("acc/0", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    {
        const double r[] = {0.1 + 0.2, 1.0};
        CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, r, 1, 2, 0, out), AB_ERR_INPUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "(acc=0.30000000000000004)"));
    }
    ab_equation_destroy(&eq);

    /* an equation without metrics */
    CU_ASSERT_EQUAL_FATAL(ab_equation_parse("0/0", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, div0, 1, 2, 0, out), AB_ERR_INPUT);
    CHECK_MSG("label equation \"0/0\": row 1 gives NaN; fix the data or the equation");
    ab_equation_destroy(&eq);
}

static void test_error_messages_exact(void)
{
    struct ab_equation *eq = NULL;
    CU_ASSERT_EQUAL(ab_equation_parse("acc**", &eq), AB_ERR_INPUT);
    CHECK_MSG("label equation \"acc**\": expected a number, metric name, '(' or function "
              "after '**' at column 6 (end of equation)");
    CU_ASSERT_EQUAL(ab_equation_parse("acc * )", &eq), AB_ERR_INPUT);
    CHECK_MSG("label equation \"acc * )\": expected a number, metric name, '(' or function "
              "after '*' but found ')' at column 7");
    CU_ASSERT_EQUAL(ab_equation_parse("acc latency_gpu", &eq), AB_ERR_INPUT);
    CHECK_MSG("label equation \"acc latency_gpu\": expected an operator or the end of the "
              "equation after 'acc' but found 'latency_gpu' at column 5");
    CU_ASSERT_EQUAL(ab_equation_parse("pow(2)", &eq), AB_ERR_INPUT);
    CHECK_MSG("label equation \"pow(2)\": function 'pow' at column 1 takes 2 arguments, "
              "got 1");
    CU_ASSERT_EQUAL(ab_equation_parse("(acc", &eq), AB_ERR_INPUT);
    CHECK_MSG("label equation \"(acc\": '(' at column 1 is never closed: add ')' before the "
              "end of the equation at column 5");
    CU_ASSERT_PTR_NULL(eq);
}

static void test_syntax_errors(void)
{
    CHECK_PARSE_ERROR("", "column 1", "empty equation");
    CHECK_PARSE_ERROR("  \t ", "column 1", "empty equation");
    CHECK_PARSE_ERROR("acc**", "column 6", "after '**' at column 6 (end of equation)");
    CHECK_PARSE_ERROR("acc^", "column 5", "after '^'");
    CHECK_PARSE_ERROR("acc + ", "column 7", "after '+' at column 7 (end of equation)");
    CHECK_PARSE_ERROR("-", "column 2", "after '-'");
    CHECK_PARSE_ERROR("1 +* 2", "column 4", "after '+' but found '*'");
    CHECK_PARSE_ERROR("2* *3", "column 4", "after '*' but found '*'");
    CHECK_PARSE_ERROR("()", "column 2", "after '(' but found ')'");
    CHECK_PARSE_ERROR(")", "column 1", "expected a number, metric name, '(' or function but "
                                       "found ')'");
    CHECK_PARSE_ERROR(", 1", "column 1", "but found ','");
    CHECK_PARSE_ERROR("*2", "column 1", "but found '*'");
    CHECK_PARSE_ERROR("acc 2", "column 5",
                      "expected an operator or the end of the equation after 'acc' but "
                      "found '2'");
    CHECK_PARSE_ERROR("2acc", "column 2", "found 'acc'");
    CHECK_PARSE_ERROR("(acc 2)", "column 6", "expected an operator or ')' after 'acc'");
    CHECK_PARSE_ERROR("max(acc 2)", "column 9", "expected an operator, ',' or ')'");
    CHECK_PARSE_ERROR("acc (1)", "column 1", "unknown function 'acc'");
    CHECK_PARSE_ERROR("1.2.3", "column 4", "found '.3'");
    CHECK_PARSE_ERROR("acc $", "column 5", "unexpected character '$'");
    CHECK_PARSE_ERROR("acc.top1", "column 4", "unexpected character '.'");
    CHECK_PARSE_ERROR("acc = 1", "column 5", "unexpected character '='");
    CHECK_PARSE_ERROR("1 % 2", "column 3", "unexpected character '%'");
    CHECK_PARSE_ERROR("acc\x01", "column 4", "unexpected character '\\x01'");
    CHECK_PARSE_ERROR("acc +\n+", "column 8", "\"acc +\\n+\"");
    CHECK_PARSE_ERROR("acc\"", "column 4", "\"acc\\\"\"");
    CHECK_PARSE_ERROR("1e", "column 1", "malformed number '1e'");
    CHECK_PARSE_ERROR("2*1e+x", "column 3", "malformed number '1e+'");
    CHECK_PARSE_ERROR("1e999", "column 1", "number '1e999' at column 1 is too large");
}

static void test_paren_errors(void)
{
    CHECK_PARSE_ERROR("(acc", "column 1", "'(' at column 1 is never closed");
    CHECK_PARSE_ERROR("((acc)", "column 1", "'(' at column 1 is never closed");
    CHECK_PARSE_ERROR("1+(2*(3)", "column 3", "'(' at column 3 is never closed");
    CHECK_PARSE_ERROR("log(acc", "column 1", "'log(' at column 1 is never closed");
    CHECK_PARSE_ERROR("acc)", "column 4", "unmatched ')' at column 4");
    CHECK_PARSE_ERROR("(acc))", "column 6", "unmatched ')' at column 6");
    CHECK_PARSE_ERROR("(1, 2)", "column 3", "',' at column 3 is not inside the argument list");
    CHECK_PARSE_ERROR("1, 2", "column 2", "',' at column 2 is not inside");
    CHECK_PARSE_ERROR("max(1, (2, 3))", "column 10", "',' at column 10");
}

static void test_function_errors(void)
{
    CHECK_PARSE_ERROR("np.foo(acc)", "column 1", "unknown function 'np.foo'");
    CHECK_PARSE_ERROR("1 + np.foo(acc)", "column 5", "unknown function 'np.foo' at column 5; "
                                                     "known functions: log, log10");
    CHECK_PARSE_ERROR("acc + bar(2)", "column 7", "unknown function 'bar'");
    CHECK_PARSE_ERROR("acc(2)", "column 1", "unknown function 'acc' at column 1");
    CHECK_PARSE_ERROR("acc(2)", "column 1", "to multiply, write acc*(...)");
    CHECK_PARSE_ERROR("math.foo", "column 1", "unknown function 'math.foo'");
    CHECK_PARSE_ERROR("np.log", "column 1", "function 'np.log' at column 1 needs its arguments "
                                            "in parentheses");
    CHECK_PARSE_ERROR("pow(2)", "column 1", "function 'pow' at column 1 takes 2 arguments, "
                                            "got 1");
    CHECK_PARSE_ERROR("np.power(1,2,3)", "column 1", "function 'np.power' at column 1 takes 2 "
                                                     "arguments, got 3");
    CHECK_PARSE_ERROR("1 + log(1, 2)", "column 5", "function 'log' at column 5 takes 1 "
                                                   "argument, got 2");
    CHECK_PARSE_ERROR("log()", "column 1", "function 'log' at column 1 takes 1 argument, "
                                           "got 0");
    CHECK_PARSE_ERROR("min(1)", "column 1", "function 'min' at column 1 takes at least 2 "
                                            "arguments, got 1");
    CHECK_PARSE_ERROR("max()", "column 1", "takes at least 2 arguments, got 0");
    CHECK_PARSE_ERROR("maximum(1,2,3)", "column 1", "function 'maximum' at column 1 takes 2 "
                                                    "arguments, got 3");
    CHECK_PARSE_ERROR("min(1,)", "column 7", "after ',' but found ')'");
    CHECK_PARSE_ERROR("min(,1)", "column 5", "after 'min(' but found ','");
}

static char *repeat(const char *head, const char *unit, int n, const char *tail)
{
    size_t lh = strlen(head), lu = strlen(unit), lt = strlen(tail);
    char *s = malloc(lh + lu * (size_t)n + lt + 1);
    char *p = s;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memcpy(p, head, lh);
    p += lh;
    for (int i = 0; i < n; i++, p += lu) memcpy(p, unit, lu);
    memcpy(p, tail, lt + 1);
    return s;
}

static void test_limits(void)
{
    char *s;
    char col[32];

    /* 4096 characters are accepted, 4097 refused at column 4097 */
    s = repeat("", "1+", 2047, "1 "); /* 4096 characters */
    CU_ASSERT_EQUAL(strlen(s), 4096);
    CHECK_VALUE(s, 2048.0, 0);
    free(s);
    s = repeat("", "1+", 2047, "1  ");
    CHECK_PARSE_ERROR(s, "column 4097", "4097 characters long; at most 4096 are allowed");
    CU_ASSERT(strlen(ab_err_msg()) < 1023);
    free(s);

    /* nesting: 256 levels accepted, the 257th '(' refused */
    {
        char *open = repeat("", "(", 256, "acc");
        char *all = repeat(open, ")", 256, "");
        CHECK_VALUE(all, 0.75, 0);
        free(open);
        free(all);
        open = repeat("", "(", 257, "acc");
        all = repeat(open, ")", 257, "");
        CHECK_PARSE_ERROR(all, "column 257", "nested deeper than 256");
        free(open);
        free(all);
        open = repeat("", "log(", 300, "1");
        all = repeat(open, ")", 300, "");
        snprintf(col, sizeof col, "column %d", 256 * 4 + 1);
        CHECK_PARSE_ERROR(all, col, "nested deeper than 256");
        free(open);
        free(all);
    }

    /* the deepest evaluation stack a 4096-byte equation can need */
    s = repeat("", "1^", 2047, "1");
    CHECK_VALUE(s, 1.0, 0);
    free(s);
    /* long unary chains are no recursion either */
    s = repeat("", "-", 4095, "1");
    CHECK_VALUE(s, -1.0, 0);
    free(s);
    s = repeat("", "-", 4093, "acc");
    CHECK_VALUE(s, -0.75, 0);
    free(s);
    /* a long name is quoted shortened */
    s = repeat("", "x", 4000, "(1)");
    CHECK_PARSE_ERROR(s, "column 1", "unknown function 'xxxxxxxx");
    CU_ASSERT(strlen(ab_err_msg()) < 1023);
    free(s);
    /* an error far into a long equation quotes the text around it */
    s = repeat("", "acc+", 500, "$");
    CHECK_PARSE_ERROR(s, "column 2001", "unexpected character '$'");
    CU_ASSERT_EQUAL(strncmp(ab_err_msg(), "label equation \"...acc+", 19), 0);
    CU_ASSERT(strlen(ab_err_msg()) < 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(ab_err_msg(), "acc+$\":"));
    free(s);
}

/* 10^6 rows of the second example give the right values (speed is measured
 * by bench/, not here). */
static void test_eval_rows_speed(void)
{
    enum { N = 1000000 };
    const char *cols[] = {"acc", "latency_gpu"};
    double *rows = malloc(2 * N * sizeof *rows), *out = malloc(N * sizeof *out);
    struct ab_equation *eq = NULL;
    struct timespec t0, t1;
    double secs;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    for (long i = 0; i < N; i++) {
        rows[2 * i] = (i % 2) ? 0.5 : 0.75;
        rows[2 * i + 1] = (i % 2) ? 9.0 : 4.0;
    }
    CU_ASSERT_EQUAL_FATAL(
        ab_equation_parse("np.power(100, acc)/(np.log10(latency_gpu+1)+1)", &eq), AB_OK);
    CU_ASSERT_EQUAL(ab_equation_bind(eq, cols, 2), AB_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(ab_equation_eval_rows(eq, rows, N, 2, 0, out), AB_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, " [10^6 rows in %.3f s] ", secs);
    CU_ASSERT_EQUAL(out[1], 5.0);
    CU_ASSERT_EQUAL(out[N - 1], 5.0);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 18.6129104816, 1e-9);
    CU_ASSERT_EQUAL(out[N - 2], out[0]);
    ab_equation_destroy(&eq);
    free(rows);
    free(out);
}

static const struct cu_case cases[] = {
    {"numbers", test_numbers},
    {"operators", test_operators},
    {"precedence and associativity", test_precedence},
    {"functions", test_functions},
    {"np./numpy./math. prefixes", test_prefixes},
    {"whitespace", test_whitespace},
    {"metrics", test_metrics},
    {"the authors' example equations", test_author_examples},
    {"variables and text", test_vars_and_text},
    {"function names as metric names", test_function_names_as_metrics},
    {"bind", test_bind},
    {"bind with many known names", test_bind_many_names},
    {"eval returns NaN/inf", test_eval_nonfinite_single},
    {"eval_rows", test_eval_rows},
    {"eval_rows refuses NaN/inf rows", test_eval_rows_refuses_nonfinite},
    {"exact error messages", test_error_messages_exact},
    {"syntax errors", test_syntax_errors},
    {"parenthesis errors", test_paren_errors},
    {"function errors", test_function_errors},
    {"length and nesting limits", test_limits},
    {"eval_rows speed", test_eval_rows_speed},
    {NULL, NULL},
};
CU_MAIN("equation", cases)
