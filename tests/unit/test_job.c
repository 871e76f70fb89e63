/* SPDX-License-Identifier: MIT
 *
 * Tests of external jobs (worker/jobs/job.c): templates, and jobs that
 * succeed, fail and are retried, fail for good, hang past their timeout,
 * write garbage, are killed by a signal, cannot be started, and a worker
 * killed while its job runs (the next call re-attaches; the job runs once),
 * workers killed in the windows around launching, and stop requests.
 * Jobs are small /bin/sh programs; the validator accepts a result file
 * whose text is "ok".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu_main.h"
#include "jobs/job.h"
#include "util/fsutil.h"

static char root[256];
static int n_dirs;

static const char *fresh_dir(void)
{
    static char d[300];
    snprintf(d, sizeof d, "%s/jobs%d", root, n_dirs++);
    return d;
}

static ab_status validate_ok(void *ctx, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    ab_status rc;
    (void)ctx;
    rc = ab_fs_read_all(path, 1024, &text, &len);
    if (rc == AB_OK && strncmp(text, "ok", 2))
        rc = ab_err_set(AB_ERR_INPUT, "%s: garbage result '%.20s'", path, text);
    free(text);
    return rc;
}

/* A job spec running `sh -c SCRIPT sh {result} {attempt} {workdir}`. */
static struct ab_job_spec sh_spec(const char *script)
{
    static char *argv[8];
    struct ab_job_spec s;
    memset(&s, 0, sizeof s);
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = (char *)script;
    argv[3] = "sh";
    argv[4] = "{result}";
    argv[5] = "{attempt}";
    argv[6] = "{workdir}";
    argv[7] = NULL;
    s.argc = 7;
    s.argv = argv;
    s.launch = AB_JOB_LOCAL;
    s.poll_s = 0.05;
    s.validate = validate_ok;
    return s;
}

/* Lines in <jobs>/<hash>/runs: each job appends one when it starts. */
static int runs(const char *jobs, unsigned long long hash)
{
    char path[512], line[64];
    int n = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/%016llx/runs", jobs, hash);
    f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) n++;
    fclose(f);
    return n;
}

static void test_templates(void)
{
    char *ok[] = {"prog", "{arch_file}", "x={result}", "{{literal}}", "{seed}{hash}{attempt}"};
    char *bad1[] = {"prog", "{archfile}"};
    char *bad2[] = {"prog", "{result"};
    char *bad3[] = {"prog", "result}"};
    char **argv = NULL;
    struct ab_job_spec s;
    CU_ASSERT_EQUAL(ab_job_check_template("cfg", 5, ok), AB_OK);
    CU_ASSERT_EQUAL(ab_job_check_template("cfg", 2, bad1), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "unknown placeholder '{archfile}'") != NULL);
    CU_ASSERT(strstr(ab_err_msg(), "{arch_file}") != NULL);
    CU_ASSERT_EQUAL(ab_job_check_template("cfg", 2, bad2), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "unmatched '{'") != NULL);
    CU_ASSERT_EQUAL(ab_job_check_template("cfg", 2, bad3), AB_ERR_INPUT);
    CU_ASSERT_EQUAL(ab_job_check_template("cfg", 0, ok), AB_ERR_INPUT);
    memset(&s, 0, sizeof s);
    s.argc = 5;
    s.argv = ok;
    s.seed = 7;
    CU_ASSERT_EQUAL_FATAL(ab_job_expand(&s, "/j/d", "{\"a\":1}", 0xabcULL, 2, &argv), AB_OK);
    CU_ASSERT_STRING_EQUAL(argv[1], "/j/d/arch.json");
    CU_ASSERT_STRING_EQUAL(argv[2], "x=/j/d/result.h5");
    CU_ASSERT_STRING_EQUAL(argv[3], "{literal}");
    CU_ASSERT_STRING_EQUAL(argv[4], "70000000000000abc2");
    CU_ASSERT_PTR_NULL(argv[5]);
    ab_job_free_argv(argv);
}

static void test_success_and_record(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; echo hello; echo ok > \"$1\"");
    struct ab_job_outcome out;
    char path[512];
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{\"x\":1}", 1, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT_EQUAL(out.attempts, 1);
    CU_ASSERT(!out.reattached);
    snprintf(path, sizeof path, "%s/0000000000000001/attempt1.out", jobs);
    CU_ASSERT(ab_fs_exists(path));
    snprintf(path, sizeof path, "%s/0000000000000001/arch.json", jobs);
    CU_ASSERT(ab_fs_exists(path));
    /* done: a second call reads the record and runs nothing */
    CU_ASSERT_EQUAL(ab_job_run(&s, jobs, "{\"x\":1}", 1, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT_EQUAL(runs(jobs, 1), 1);
}

static void test_retry_then_success(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; "
                                   "if [ \"$2\" = 1 ]; then echo first fails >&2; exit 3; fi; "
                                   "echo ok > \"$1\"");
    struct ab_job_outcome out;
    s.retries = 2;
    s.backoff_s = 0.05;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 2, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT_EQUAL(out.attempts, 2);
    CU_ASSERT_EQUAL(runs(jobs, 2), 2);
}

static void test_permanent_failure(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; echo broken input >&2; exit 5");
    struct ab_job_outcome out;
    s.retries = 1;
    s.backoff_s = 0.01;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 3, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT_EQUAL(out.attempts, 2);
    CU_ASSERT(strstr(out.reason, "exit status 5") != NULL);
    CU_ASSERT(strstr(out.reason, "broken input") != NULL);
    /* recorded as failed: not run again */
    CU_ASSERT_EQUAL(ab_job_run(&s, jobs, "{}", 3, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "exit status 5") != NULL);
    CU_ASSERT_EQUAL(runs(jobs, 3), 2);
}

static void test_timeout(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("sleep 30; echo ok > \"$1\"");
    struct ab_job_outcome out;
    time_t t0 = time(NULL);
    s.timeout_s = 0.5;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 4, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "timed out") != NULL);
    CU_ASSERT(time(NULL) - t0 < 15);
}

static void test_garbage_and_signals(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec g, k, none, nf;
    struct ab_job_outcome out;
    char *missing[] = {"/nonexistent/program", NULL};
    /* sh_spec returns a spec over one static argv: build each just before use */
    g = sh_spec("echo garbage > \"$1\"");
    CU_ASSERT_EQUAL(ab_job_run(&g, jobs, "{}", 5, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "garbage result") != NULL);
    k = sh_spec("kill -9 $$");
    CU_ASSERT_EQUAL(ab_job_run(&k, jobs, "{}", 6, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "killed by signal 9") != NULL);
    none = sh_spec("exit 0");
    CU_ASSERT_EQUAL(ab_job_run(&none, jobs, "{}", 7, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "no result file") != NULL);
    nf = sh_spec("");
    nf.argc = 1;
    nf.argv = missing;
    CU_ASSERT_EQUAL(ab_job_run(&nf, jobs, "{}", 8, &out), AB_OK);
    CU_ASSERT(!out.ok);
    CU_ASSERT(strstr(out.reason, "exit status 127") != NULL);
    CU_ASSERT(strstr(out.reason, "cannot run '/nonexistent/program'") != NULL);
}

/* A worker killed while its job runs: the job (in its own session) goes on;
 * the next worker re-attaches to it and collects its result. */
static void test_reattach_after_worker_killed(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; sleep 1; echo ok > \"$1\"");
    struct ab_job_outcome out;
    char state[512];
    pid_t worker;
    s.retries = 3;
    snprintf(state, sizeof state, "%s/0000000000000009/state.json", jobs);
    fflush(NULL);
    worker = fork();
    if (worker == 0) {
        ab_job_run(&s, jobs, "{}", 9, &out);
        _exit(0);
    }
    for (int i = 0; i < 200 && !ab_fs_exists(state); i++) usleep(10000);
    usleep(200000);
    kill(worker, SIGKILL);
    waitpid(worker, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 9, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT(out.reattached);
    CU_ASSERT_EQUAL(out.attempts, 1);
    CU_ASSERT_EQUAL(runs(jobs, 9), 1);
}

/* A supervisor that died with its job (the node went away): the attempt is
 * lost and retried. */
static void test_lost_attempt_is_retried(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; "
                                   "if [ \"$2\" = 1 ]; then kill -9 $PPID; sleep 5; fi; "
                                   "echo ok > \"$1\"");
    struct ab_job_outcome out;
    s.retries = 1;
    s.backoff_s = 0.01;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 10, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT_EQUAL(out.attempts, 2);
}

/* Runs ab_job_run in a child that dies at the crash point `where`
 * (AUTOBUILD_TEST_CRASH); returns the child's exit status. */
static int run_and_crash(const struct ab_job_spec *s, const char *jobs, unsigned long long hash,
                         const char *where)
{
    struct ab_job_outcome out;
    int st = 0;
    pid_t worker;
    fflush(NULL);
    worker = fork();
    if (worker == 0) {
        setenv("AUTOBUILD_TEST_CRASH", where, 1);
        ab_job_run(s, jobs, "{}", hash, &out);
        _exit(0);
    }
    waitpid(worker, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A worker that dies after forking the supervisor but before recording the
 * attempt: the supervisor never starts the program; the next call runs
 * attempt 1, once. */
static void test_crash_after_fork(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; echo ok > \"$1\"");
    struct ab_job_outcome out;
    CU_ASSERT_EQUAL(run_and_crash(&s, jobs, 12, "job:after-fork"), 137);
    usleep(300000); /* a supervisor that would wrongly run the program has time to */
    CU_ASSERT_EQUAL(runs(jobs, 12), 0);
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 12, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT_EQUAL(out.attempts, 1);
    CU_ASSERT_EQUAL(runs(jobs, 12), 1);
}

/* A worker that dies after recording "running" but before telling the
 * supervisor to start: the next call sees that attempt 1 never started and
 * launches it (not counted as a failure), once. */
static void test_crash_before_go(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; echo ok > \"$1\"");
    struct ab_job_outcome out;
    char state[512], *text = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(run_and_crash(&s, jobs, 13, "job:before-go"), 137);
    snprintf(state, sizeof state, "%s/000000000000000d/state.json", jobs);
    CU_ASSERT_EQUAL_FATAL(ab_fs_read_all(state, 1 << 16, &text, &len), AB_OK);
    CU_ASSERT(strstr(text, "\"running\"") != NULL);
    free(text);
    usleep(300000);
    CU_ASSERT_EQUAL(runs(jobs, 13), 0);
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 13, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT(out.reattached);
    CU_ASSERT_EQUAL(out.attempts, 1);
    CU_ASSERT_EQUAL(runs(jobs, 13), 1);
}

static double stop_at;

static int stop_after_deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 >= stop_at;
}

/* A stop request while a job runs: ab_job_run returns at once, the job goes
 * on, and the next call re-attaches and collects it (run once). */
static void test_stop_leaves_job_running(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo run >> \"$3/runs\"; sleep 1.5; echo ok > \"$1\"");
    struct ab_job_outcome out;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stop_at = (double)t0.tv_sec + t0.tv_nsec / 1e9 + 0.3;
    s.stop = stop_after_deadline;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 14, &out), AB_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT(out.interrupted);
    CU_ASSERT(!out.ok);
    CU_ASSERT((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.2);
    /* a stopped process does not launch anything new either */
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 15, &out), AB_OK);
    CU_ASSERT(out.interrupted);
    CU_ASSERT_EQUAL(runs(jobs, 15), 0);
    s.stop = NULL;
    CU_ASSERT_EQUAL_FATAL(ab_job_run(&s, jobs, "{}", 14, &out), AB_OK);
    CU_ASSERT(out.ok);
    CU_ASSERT(out.reattached);
    CU_ASSERT_EQUAL(out.attempts, 1);
    CU_ASSERT_EQUAL(runs(jobs, 14), 1);
}

static void test_bad_state_file(void)
{
    const char *jobs = fresh_dir();
    struct ab_job_spec s = sh_spec("echo ok > \"$1\"");
    struct ab_job_outcome out;
    char path[512];
    FILE *f;
    CU_ASSERT_EQUAL(ab_job_run(&s, jobs, "{}", 11, &out), AB_OK);
    snprintf(path, sizeof path, "%s/000000000000000b/state.json", jobs);
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    CU_ASSERT_EQUAL(ab_job_run(&s, jobs, "{}", 11, &out), AB_ERR_INPUT);
    CU_ASSERT(strstr(ab_err_msg(), "state.json: not a job state") != NULL);
}

static const struct cu_case cases[] = {
    {"templates: placeholders, braces, expansion", test_templates},
    {"a job that succeeds is recorded and not run again", test_success_and_record},
    {"a failed attempt is retried with backoff", test_retry_then_success},
    {"a job that always fails is recorded as failed", test_permanent_failure},
    {"a hanging job is killed at its timeout", test_timeout},
    {"garbage results, signals, missing results, missing programs", test_garbage_and_signals},
    {"a killed worker's job is re-attached, not run twice", test_reattach_after_worker_killed},
    {"an attempt whose supervisor died is retried", test_lost_attempt_is_retried},
    {"a worker dead after forking the supervisor: the job runs once", test_crash_after_fork},
    {"a worker dead before starting the program: the job runs once", test_crash_before_go},
    {"a stop request returns at once; the job is re-attached later", test_stop_leaves_job_running},
    {"a damaged state file is an input error", test_bad_state_file},
    {NULL, NULL}};

static int run_all(void)
{
    snprintf(root, sizeof root, "/tmp/ab_test_job_XXXXXX");
    if (!mkdtemp(root)) return 1;
    return cu_run("job", cases);
}

int main(void)
{
    int rc = run_all();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return rc;
}
