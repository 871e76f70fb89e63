/* SPDX-License-Identifier: MIT
 *
 * cu_main.h - the shared main() of the CUnit test programs. A test file
 * defines its tests, then:
 *
 *     static const struct cu_case cases[] = {
 *         {"parses numbers", test_numbers}, ..., {NULL, NULL}};
 *     CU_MAIN("equation", cases)
 *
 * The program exits non-zero when any assertion fails.
 */
#ifndef AB_TEST_CU_MAIN_H
#define AB_TEST_CU_MAIN_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

struct cu_case {
    const char *name;
    void (*fn)(void);
};

static inline int cu_run(const char *suite_name, const struct cu_case *cases)
{
    CU_pSuite suite;
    unsigned failed;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    suite = CU_add_suite(suite_name, NULL, NULL);
    if (!suite) return 1;
    for (const struct cu_case *c = cases; c->name; c++)
        if (!CU_add_test(suite, c->name, c->fn)) return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#define CU_MAIN(suite_name, cases)                                             \
    int main(void) { return cu_run(suite_name, cases); }

#endif
