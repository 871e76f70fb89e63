/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of label equations: any bytes
 * are parsed; an equation that parses is bound to a few metric names (the
 * bind may fail on unknown names), evaluated on one fixed row and on a few
 * rows, and destroyed. Nothing may crash, hang or leak, and every failure
 * must leave one line of error text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "equation/equation.h"
#include "util/error.h"

/* Fails loudly: libFuzzer reports the abort with the input. */
static void require(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"acc", "latency_gpu", "latency_cpu", "flops"};
    static const double rows[] = {0.75, 4.0, 20.0, 300.0, 0.0, -1.0, 0.0, 1e308};
    struct ab_equation *eq = NULL;
    char *text = malloc(size + 1);
    double y, out[2];
    ab_status rc;
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    rc = ab_equation_parse(text, &eq);
    if (rc != AB_OK) {
        require(eq == NULL && rc == AB_ERR_INPUT);
        require(strchr(ab_err_msg(), '\n') == NULL);
        goto done;
    }
    require(strcmp(ab_equation_text(eq), text) == 0);
    for (int i = 0; i < ab_equation_n_vars(eq); i++)
        require(ab_equation_var(eq, i) != NULL);
    rc = ab_equation_bind(eq, names, 4);
    if (rc != AB_OK) {
        require(rc == AB_ERR_INPUT && strchr(ab_err_msg(), '\n') == NULL);
        goto done;
    }
    require(ab_equation_eval(eq, rows, &y) == AB_OK);
    rc = ab_equation_eval_rows(eq, rows, 2, 4, 0, out);
    require(rc == AB_OK || (rc == AB_ERR_INPUT && strchr(ab_err_msg(), '\n') == NULL));

done:
    ab_equation_destroy(&eq);
    free(text);
    ab_err_clear();
    return 0;
}
