/* SPDX-License-Identifier: MIT
 *
 * This file implements the libFuzzer target of external-job command
 * templates (worker/jobs/job.c): the input, split at newlines, is an argv
 * template. A template the checker refuses must leave one line of error
 * text; one it accepts must expand, and the expansion must contain no
 * placeholder text: every '{' or '}' left in an expanded argument came from
 * a literal '{{' / '}}' or from a substituted value (the values used here
 * hold no braces except the architecture JSON, which is checked apart).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job.h"
#include "util/error.h"

#define MAX_ARGS 64

static void require(int cond)
{
    if (!cond) abort();
}

/* Braces an argument keeps after expansion: each "{{" or "}}" gives one. */
static size_t literal_braces(const char *s)
{
    size_t n = 0;
    for (size_t k = 0; s[k]; k++)
        if ((s[k] == '{' && s[k + 1] == '{') || (s[k] == '}' && s[k + 1] == '}')) {
            n++;
            k++;
        }
    return n;
}

static size_t count_braces(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '{' || *s == '}';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *argv[MAX_ARGS + 1], **out = NULL;
    int argc = 0;
    struct ab_job_spec spec;
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *p = text; argc < MAX_ARGS;) {
        char *nl = strchr(p, '\n');
        argv[argc++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    argv[argc] = NULL;
    if (ab_job_check_template("fuzz", argc, argv) != AB_OK) {
        require(strchr(ab_err_msg(), '\n') == NULL && ab_err_msg()[0]);
        goto done;
    }
    memset(&spec, 0, sizeof spec);
    spec.argc = argc;
    spec.argv = argv;
    spec.seed = 42;
    /* "X" stands for the architecture JSON: no braces in any value */
    require(ab_job_expand(&spec, "/jobs/0123", "X", 0x0123456789abcdefULL, 3, &out) == AB_OK);
    for (int i = 0; i < argc; i++) {
        require(out[i] != NULL);
        require(count_braces(out[i]) == literal_braces(argv[i]));
    }
    require(out[argc] == NULL);
    ab_job_free_argv(out);
done:
    ab_err_clear();
    free(text);
    return 0;
}
