/* SPDX-License-Identifier: MIT
 *
 * This file implements external jobs (job.h): argv templates, the per-job
 * directory and its state file, the three launch modes (a supervisor
 * process for local and srun jobs, sbatch), waiting with timeouts, retries
 * with backoff, and re-attaching to jobs a previous worker started.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MAX_STATE_BYTES (1 << 20)
/* a file path inside a job directory (the directory itself is < PATH_MAX) */
#define FILE_PATH (PATH_MAX + 64)
#define MAX_BACKOFF_S 3600.0
#define KILL_GRACE_S 5.0
#define SQUEUE_MISSES 3 /* failed squeue calls before a job counts as gone */
#define HEARTBEAT_S 5.0 /* supervisor heartbeat interval */
#define HEARTBEAT_STALE_S 60.0 /* no heartbeat for this long: the supervisor is gone */

static const char *const placeholders[] = {"arch_json", "arch_file", "workdir", "result",
                                           "seed", "hash", "attempt", NULL};

/* --- templates -------------------------------------------------------- */

static int known_placeholder(const char *name, size_t len)
{
    for (int i = 0; placeholders[i]; i++)
        if (strlen(placeholders[i]) == len && !strncmp(placeholders[i], name, len)) return 1;
    return 0;
}

ab_status ab_job_check_template(const char *where, int argc, char *const *argv)
{
    if (argc < 1)
        return ab_err_set(AB_ERR_INPUT, "%s: 'command' is empty; give the program and its "
                          "arguments as a list, e.g. [./finetune.sh, \"{arch_file}\", "
                          "\"{result}\"]", where);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        for (size_t k = 0; s[k]; k++) {
            if (s[k] == '{' && s[k + 1] == '{') {
                k++;
                continue;
            }
            if (s[k] == '}' && s[k + 1] == '}') {
                k++;
                continue;
            }
            if (s[k] == '}')
                return ab_err_set(AB_ERR_INPUT, "%s: command[%d] '%s' has an unmatched '}' "
                                  "(write '}}' for a literal brace)", where, i, s);
            if (s[k] == '{') {
                const char *end = strchr(s + k + 1, '}');
                if (!end)
                    return ab_err_set(AB_ERR_INPUT, "%s: command[%d] '%s' has an unmatched "
                                      "'{' (write '{{' for a literal brace)", where, i, s);
                if (!known_placeholder(s + k + 1, (size_t)(end - s - k - 1)))
                    return ab_err_set(AB_ERR_INPUT, "%s: command[%d] names the unknown "
                                      "placeholder '{%.*s}'; known: {arch_json} {arch_file} "
                                      "{workdir} {result} {seed} {hash} {attempt}", where, i,
                                      (int)(end - s - k - 1), s + k + 1);
                k = (size_t)(end - s);
            }
        }
    }
    return AB_OK;
}

struct strbuf {
    char *s;
    size_t len, cap;
};

static int sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *t = realloc(b->s, cap);
        if (!t) return -1;
        b->s = t;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

static const char *value_of(const char *name, size_t len, const char *const vals[])
{
    for (int i = 0; placeholders[i]; i++)
        if (strlen(placeholders[i]) == len && !strncmp(placeholders[i], name, len))
            return vals[i];
    return "";
}

void ab_job_free_argv(char **argv)
{
    if (!argv) return;
    for (int i = 0; argv[i]; i++) free(argv[i]);
    free(argv);
}

ab_status ab_job_expand(const struct ab_job_spec *spec, const char *dir, const char *arch_json,
                        unsigned long long hash, int attempt, char ***out_argv)
{
    char arch_file[FILE_PATH], result[FILE_PATH], seed[32], hex[32], att[16];
    const char *vals[8];
    char **argv = calloc((size_t)spec->argc + 1, sizeof *argv);
    *out_argv = NULL;
    if (!argv) return ab_err_set(AB_ERR_NOMEM, "out of memory expanding a job command");
    snprintf(arch_file, sizeof arch_file, "%s/arch.json", dir);
    snprintf(result, sizeof result, "%s/result.h5", dir);
    snprintf(seed, sizeof seed, "%ld", spec->seed);
    snprintf(hex, sizeof hex, "%016llx", hash);
    snprintf(att, sizeof att, "%d", attempt);
    vals[0] = arch_json;
    vals[1] = arch_file;
    vals[2] = dir;
    vals[3] = result;
    vals[4] = seed;
    vals[5] = hex;
    vals[6] = att;
    vals[7] = NULL;
    for (int i = 0; i < spec->argc; i++) {
        struct strbuf b = {NULL, 0, 0};
        const char *s = spec->argv[i];
        int bad = sb_add(&b, "", 0);
        for (size_t k = 0; s[k] && !bad; k++) {
            if ((s[k] == '{' && s[k + 1] == '{') || (s[k] == '}' && s[k + 1] == '}')) {
                bad = sb_add(&b, s + k, 1);
                k++;
            } else if (s[k] == '{' && strchr(s + k, '}')) {
                const char *end = strchr(s + k, '}');
                const char *v = value_of(s + k + 1, (size_t)(end - s - k - 1), vals);
                bad = sb_add(&b, v, strlen(v));
                k = (size_t)(end - s);
            } else {
                bad = sb_add(&b, s + k, 1);
            }
        }
        if (bad) {
            free(b.s);
            ab_job_free_argv(argv);
            return ab_err_set(AB_ERR_NOMEM, "out of memory expanding a job command");
        }
        argv[i] = b.s;
    }
    *out_argv = argv;
    return AB_OK;
}

/* --- files ------------------------------------------------------------ */

/* Test hook: AUTOBUILD_TEST_CRASH=NAME makes the process die (as if
 * killed with SIGKILL) at the crash point NAME, to test the windows that
 * re-attaching must cover. Unset in normal use. */
static void crash_point(const char *name)
{
    const char *e = getenv("AUTOBUILD_TEST_CRASH");
    if (e && !strcmp(e, name)) {
        fflush(NULL);
        _exit(137);
    }
}

static int stop_now(const struct ab_job_spec *spec)
{
    return spec->stop && spec->stop();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts;
    if (s <= 0) return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static ab_status make_dirs(const char *path)
{
    char buf[FILE_PATH];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return ab_err_set(AB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) < 0 && errno != EEXIST)
        return ab_err_set(AB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    return AB_OK;
}

/* Writes text to path atomically (temporary file, fsync, rename). */
static ab_status write_atomic(const char *path, const char *text)
{
    char tmp[FILE_PATH];
    FILE *f;
    AB_TRY(ab_fs_temp_path(path, tmp, sizeof tmp));
    f = fopen(tmp, "w");
    if (!f) return ab_err_set(AB_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (fputs(text, f) < 0 || fclose(f) != 0) {
        unlink(tmp);
        return ab_err_set(AB_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return ab_fs_commit(tmp, path);
}

static ab_status save_state(const char *dir, json_t *state)
{
    char path[FILE_PATH];
    char *text = json_dumps(state, JSON_INDENT(1) | JSON_SORT_KEYS);
    ab_status rc;
    if (!text) return ab_err_set(AB_ERR_NOMEM, "out of memory writing a job state");
    snprintf(path, sizeof path, "%s/state.json", dir);
    rc = write_atomic(path, text);
    free(text);
    return rc;
}

/* The recorded state, or a new one when there is none. A state file that
 * cannot be parsed is an input error: it was not written by us. */
static ab_status load_state(const char *dir, unsigned long long hash, json_t **out)
{
    char path[FILE_PATH], hex[32];
    json_error_t jerr;
    json_t *st;
    snprintf(path, sizeof path, "%s/state.json", dir);
    *out = NULL;
    if (!ab_fs_exists(path)) {
        snprintf(hex, sizeof hex, "%016llx", hash);
        *out = json_pack("{s:s, s:i, s:s, s:[]}", "hash", hex, "attempt", 0, "state", "new",
                         "history");
        return *out ? AB_OK : ab_err_set(AB_ERR_NOMEM, "out of memory");
    }
    st = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!st || !json_is_object(st) || !json_is_string(json_object_get(st, "state")) ||
        !json_is_integer(json_object_get(st, "attempt"))) {
        if (st) json_decref(st);
        return ab_err_set(AB_ERR_INPUT, "%s: not a job state written by autobuild (line %d: "
                          "%s); move the directory away to run the job again", path, jerr.line,
                          jerr.text);
    }
    if (!json_is_array(json_object_get(st, "history")))
        json_object_set_new(st, "history", json_array());
    *out = st;
    return AB_OK;
}

static const char *state_str(json_t *st, const char *key)
{
    const char *s = json_string_value(json_object_get(st, key));
    return s ? s : "";
}

static long state_int(json_t *st, const char *key)
{
    return (long)json_integer_value(json_object_get(st, key));
}

/* Start time of a process in clock ticks after boot (/proc/<pid>/stat
 * field 22), or 0 when it does not exist or has ended (a zombie).
 * Identifies a pid across reuse. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    char *p;
    unsigned long long start = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f) return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || !p[1] || !p[2]) return 0;
    if (p[2] == 'Z' || p[2] == 'X') return 0; /* ended, not yet reaped: gone */
    /* after ')': " S ..." - the k-th space after ')' precedes field k + 2,
     * so field 22 (starttime) follows the 20th */
    for (int field = 3; field <= 22 && p; field++) p = strchr(p + 1, ' ');
    if (p) start = strtoull(p + 1, NULL, 10);
    return start;
}

/* exit.json of the attempt: 1 and *status when present for that attempt. */
static int read_exit(const char *dir, int attempt, int *status)
{
    char path[FILE_PATH];
    json_error_t jerr;
    json_t *x;
    int ok = 0;
    snprintf(path, sizeof path, "%s/exit.json", dir);
    x = json_load_file(path, 0, &jerr);
    if (x && json_integer_value(json_object_get(x, "attempt")) == attempt &&
        json_is_integer(json_object_get(x, "status"))) {
        *status = (int)json_integer_value(json_object_get(x, "status"));
        ok = 1;
    }
    if (x) json_decref(x);
    return ok;
}

/* The last line of a log file (for failure reasons), at most cap - 1 bytes. */
static void last_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    buf[0] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n) snprintf(buf, cap, "%s", line);
    }
    fclose(f);
}

/* --- launching ---------------------------------------------------------- */

/* The environment a job (or sbatch) is started with: this process's, less
 * the variables by which an MPI launcher tells a process that it is one of
 * its ranks (OMPI_*, PMIX_*, PMI_*, ...). A job started by a worker rank is
 * not a rank of the campaign's MPI job: with them, an MPI program (autobuild
 * itself, or a script whose launcher detection reads OMPI_COMM_WORLD_*) would
 * join a world it does not belong to and fail in MPI_Init. Built before
 * fork (the child must not allocate); a NULL-terminated array of pointers
 * into environ, freed with free(). NULL when out of memory (then the
 * environment is inherited as it is). */
static char **job_environ(void)
{
    extern char **environ;
    static const char *const drop[] = {"OMPI_", "PMIX_", "PMI_", "OPAL_", "ORTE_", "PRTE_",
                                       "HYDRA_", "HYDI_", "MPI_LOCALNRANKS=",
                                       "MPI_LOCALRANKID=", NULL};
    size_t n = 0, k = 0;
    char **env;
    while (environ[n]) n++;
    env = malloc((n + 1) * sizeof *env);
    if (!env) return NULL;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (int d = 0; drop[d] && keep; d++)
            if (!strncmp(environ[i], drop[d], strlen(drop[d]))) keep = 0;
        /* the user's permission to run Open MPI as root is not the launcher's */
        if (!strncmp(environ[i], "OMPI_ALLOW_RUN_AS_ROOT", 22)) keep = 1;
        if (keep) env[k++] = environ[i];
    }
    env[k] = NULL;
    return env;
}

static void exec_job(char **argv, char **env)
{
    if (env)
        execvpe(argv[0], argv, env);
    else
        execvp(argv[0], argv);
}

static void close_fds_from(int lo)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = lo; fd < max; fd++) close(fd);
}

/* In the supervisor: records the program's end as exit.json (status, or
 * 128 + signal). Only async-signal-safe-ish plain calls: it is a forked
 * copy of an MPI process and must not touch MPI. */
static void write_exit_file(const char *dir, int attempt, int status)
{
    char path[FILE_PATH], tmp[FILE_PATH], text[96];
    int fd, n;
    snprintf(path, sizeof path, "%s/exit.json", dir);
    snprintf(tmp, sizeof tmp, "%s/.exit.json.tmp", dir);
    n = snprintf(text, sizeof text, "{\"attempt\": %d, \"status\": %d}\n", attempt, status);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return;
    if (write(fd, text, (size_t)n) == n) {
        fsync(fd);
        close(fd);
        rename(tmp, path);
    } else {
        close(fd);
    }
}

/* In the supervisor: waits for the program, touching `heartbeat` every
 * HEARTBEAT_S seconds (so that a worker on another node can tell it is
 * alive) and ending the program's group when a `cancel` file appears (a
 * timeout noticed from another node). */
static void supervise(const char *dir, pid_t g, int *st)
{
    char hb[FILE_PATH], cancel[FILE_PATH];
    double last = 0;
    snprintf(hb, sizeof hb, "%s/heartbeat", dir);
    snprintf(cancel, sizeof cancel, "%s/cancel", dir);
    for (;;) {
        pid_t r = waitpid(g, st, WNOHANG);
        if (r == g || (r < 0 && errno != EINTR)) return;
        if (now_s() - last >= HEARTBEAT_S) {
            int fd = open(hb, O_WRONLY | O_CREAT, 0666);
            if (fd >= 0) {
                futimens(fd, NULL);
                close(fd);
            }
            last = now_s();
        }
        if (access(cancel, F_OK) == 0) {
            kill(g, SIGTERM);
            sleep_s(KILL_GRACE_S);
            kill(g, SIGKILL);
        }
        sleep_s(0.2);
    }
}

/* Forks the supervisor: its own session (so that it outlives a killed
 * worker and can be killed as a group), which runs argv in dir with stdout
 * and stderr to the attempt's log files, waits, and writes exit.json. */
static ab_status start_supervisor(const char *dir, int attempt, char **argv, pid_t *out,
                                  int *go_fd)
{
    char outp[FILE_PATH], errp[FILE_PATH], **env;
    pid_t pid;
    int go[2];
    snprintf(outp, sizeof outp, "%s/attempt%d.out", dir, attempt);
    snprintf(errp, sizeof errp, "%s/attempt%d.err", dir, attempt);
    if (pipe2(go, O_CLOEXEC) < 0)
        return ab_err_set(AB_ERR_IO, "cannot create a pipe for a job supervisor: %s",
                          strerror(errno));
    env = job_environ();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        free(env);
        close(go[0]);
        close(go[1]);
        return ab_err_set(AB_ERR_IO, "cannot fork a job supervisor: %s", strerror(errno));
    }
    if (pid == 0) {
        sigset_t none;
        pid_t g;
        int st = 0;
        char c = 0;
        ssize_t r;
        setsid();
        /* keep nothing of the worker's: its locks (a store's flock would
         * outlive the worker), MPI's sockets, its terminal or mpirun's pipes */
        if (go[0] != 3) {
            dup2(go[0], 3);
            go[0] = 3;
        }
        close_fds_from(4);
        {
            int nul = open("/dev/null", O_RDWR);
            if (nul >= 0) {
                dup2(nul, 0);
                dup2(nul, 1);
                dup2(nul, 2);
                if (nul > 3) close(nul);
            }
        }
        /* run the program only once the worker has recorded this attempt
         * as running (it then writes one byte); a worker that died before
         * that closes the pipe, and the attempt never starts */
        while ((r = read(go[0], &c, 1)) < 0 && errno == EINTR) {
        }
        if (r != 1 || c != 'g') _exit(0);
        close(go[0]);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_IGN); /* the worker's terminal going away is not an end */
        g = fork();
        if (g == 0) {
            int in = open("/dev/null", O_RDONLY);
            int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
            int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
            signal(SIGHUP, SIG_DFL);
            if (in < 0 || o < 0 || e < 0 || chdir(dir) < 0) _exit(126);
            dup2(in, 0);
            dup2(o, 1);
            dup2(e, 2);
            close_fds_from(3);
            exec_job(argv, env);
            dprintf(2, "autobuild: cannot run '%s': %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        if (g < 0) {
            write_exit_file(dir, attempt, 126);
            _exit(0);
        }
        supervise(dir, g, &st);
        write_exit_file(dir, attempt,
                        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
        _exit(0);
    }
    free(env);
    close(go[0]);
    *out = pid;
    *go_fd = go[1];
    return AB_OK;
}

/* Runs a short command (sbatch, squeue, scancel) and captures the first
 * line of its stdout. *status: exit status, or -1 when it could not run. */
static void run_capture(char **argv, char *line, size_t cap, int *status)
{
    int fds[2];
    pid_t pid;
    int st = 0;
    char **env;
    line[0] = 0;
    *status = -1;
    if (pipe(fds) < 0) return;
    env = job_environ();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        free(env);
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(devnull, 2);
        close_fds_from(3);
        exec_job(argv, env);
        _exit(127);
    }
    free(env);
    close(fds[1]);
    {
        FILE *f = fdopen(fds[0], "r");
        char buf[512];
        if (f) {
            if (fgets(buf, sizeof buf, f)) {
                size_t n = strlen(buf);
                while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
                snprintf(line, cap, "%s", buf);
            }
            while (fgets(buf, sizeof buf, f)) {
            }
            fclose(f);
        } else {
            close(fds[0]);
        }
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Appends s to a shell script as one single-quoted word. */
static void shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

static ab_status submit_sbatch(const struct ab_job_spec *spec, const char *dir, int attempt,
                               unsigned long long hash, char **argv, char *job_id,
                               size_t cap)
{
    char script[FILE_PATH], outp[FILE_PATH], errp[FILE_PATH], name[32], tlimit[32], line[256];
    char *sargv[64 + 16];
    int n = 0, status;
    FILE *f;
    snprintf(script, sizeof script, "%s/attempt%d.sh", dir, attempt);
    snprintf(outp, sizeof outp, "%s/attempt%d.out", dir, attempt);
    snprintf(errp, sizeof errp, "%s/attempt%d.err", dir, attempt);
    f = fopen(script, "w");
    if (!f) return ab_err_set(AB_ERR_IO, "%s: cannot write: %s", script, strerror(errno));
    fprintf(f, "#!/bin/sh\n# autobuild external job %016llx, attempt %d (generated; every "
               "argument is quoted, nothing is interpreted)\ncd ", hash, attempt);
    shell_quote(f, dir);
    fputs(" || exit 126\n", f);
    for (int i = 0; argv[i]; i++) {
        if (i) fputc(' ', f);
        shell_quote(f, argv[i]);
    }
    fprintf(f, "\ns=$?\nprintf '{\"attempt\": %d, \"status\": %%d}\\n' \"$s\" > .exit.json.tmp "
               "&& mv -f .exit.json.tmp exit.json\nexit \"$s\"\n", attempt);
    if (fclose(f) != 0) return ab_err_set(AB_ERR_IO, "%s: write failed", script);
    snprintf(name, sizeof name, "ab-%016llx", hash);
    sargv[n++] = "sbatch";
    sargv[n++] = "--parsable";
    sargv[n++] = "--job-name";
    sargv[n++] = name;
    sargv[n++] = "--chdir";
    sargv[n++] = (char *)dir;
    sargv[n++] = "--output";
    sargv[n++] = outp;
    sargv[n++] = "--error";
    sargv[n++] = errp;
    if (spec->timeout_s > 0) {
        snprintf(tlimit, sizeof tlimit, "--time=%ld", (long)ceil(spec->timeout_s / 60.0));
        sargv[n++] = tlimit;
    }
    for (int i = 0; i < spec->n_launch_args && n < 64 + 14; i++)
        sargv[n++] = spec->launch_args[i];
    sargv[n++] = script;
    sargv[n] = NULL;
    run_capture(sargv, line, sizeof line, &status);
    if (status != 0 || !line[0])
        return ab_err_set(AB_ERR_IO, "sbatch failed (status %d) for %s; is Slurm reachable "
                          "from this node?", status, script);
    snprintf(job_id, cap, "%.*s", (int)strcspn(line, ";"), line);
    return AB_OK;
}

/* 1 while Slurm still lists the job (pending, running, completing). */
static int slurm_job_active(const char *job_id, int *misses)
{
    char *argv[] = {"squeue", "-h", "-j", (char *)job_id, "-o", "%T", NULL};
    char line[128];
    int status;
    run_capture(argv, line, sizeof line, &status);
    if (status == 0 && line[0]) {
        *misses = 0;
        return 1;
    }
    if (status == 0) return 0; /* no longer listed */
    /* squeue failed: an unknown (purged) job id, or slurmctld unreachable */
    return ++*misses < SQUEUE_MISSES;
}

/* The id of a queued or running batch job named ab-<hash> (a submission
 * whose id the worker did not live to record): 1 and job_id, else 0. */
static int slurm_find_job(unsigned long long hash, char *job_id, size_t cap)
{
    char name[32], line[128];
    char *argv[] = {"squeue", "-h", "--name", name, "-o", "%i", NULL};
    int status;
    snprintf(name, sizeof name, "ab-%016llx", hash);
    run_capture(argv, line, sizeof line, &status);
    if (status != 0 || !line[0]) return 0;
    snprintf(job_id, cap, "%.63s", line);
    return 1;
}

static void slurm_cancel(const char *job_id)
{
    char *argv[] = {"scancel", (char *)job_id, NULL};
    char line[64];
    int status;
    run_capture(argv, line, sizeof line, &status);
}

/* --- one attempt --------------------------------------------------------- */

static void kill_group(pid_t pid, int ours)
{
    double until;
    kill(-pid, SIGTERM);
    until = now_s() + KILL_GRACE_S;
    while (now_s() < until) {
        if (ours ? waitpid(pid, NULL, WNOHANG) == pid : kill(pid, 0) < 0) return;
        sleep_s(0.05);
    }
    kill(-pid, SIGKILL);
    if (ours) waitpid(pid, NULL, 0);
}

/* Waits for the supervisor of a local / srun attempt. ours: it is this
 * process's child (else re-attached: poll /proc). *status: the program's
 * exit status; returns 0 when it ended, 1 on timeout, 2 when the
 * supervisor vanished without recording one. */
static int wait_supervisor(const struct ab_job_spec *spec, const char *dir, int attempt,
                           pid_t pid, unsigned long long start, int ours, double started,
                           int *status)
{
    double poll = 0.02;
    for (;;) {
        int alive;
        if (ours) {
            int st;
            pid_t r = waitpid(pid, &st, WNOHANG);
            alive = r == 0;
        } else {
            alive = kill(pid, 0) == 0 && proc_start(pid) == start;
        }
        if (!alive) return read_exit(dir, attempt, status) ? 0 : 2;
        if (spec->timeout_s > 0 && now_s() - started > spec->timeout_s) {
            kill_group(pid, ours);
            return 1;
        }
        if (stop_now(spec)) return 3;
        sleep_s(poll);
        poll = fmin(poll * 1.5, spec->poll_s > 0 ? spec->poll_s : 1.0);
    }
}

/* Sleeps s seconds, or less when a stop is requested. */
static void sleep_until_stop(const struct ab_job_spec *spec, double s)
{
    double until = now_s() + s;
    while (!stop_now(spec) && now_s() < until) sleep_s(fmin(0.1, until - now_s()));
}

/* Age in seconds of a file's modification time; a large value when absent. */
static double file_age(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0) return 1e30;
    return now_s() - ((double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9);
}

/* Waits for a local / srun attempt whose supervisor runs on another node
 * (shared file system): alive while its heartbeat is fresh; a timeout asks
 * it to cancel through the `cancel` file. */
static int wait_remote(const struct ab_job_spec *spec, const char *dir, int attempt,
                       double started, int *status)
{
    char hb[FILE_PATH], cancel[FILE_PATH];
    snprintf(hb, sizeof hb, "%s/heartbeat", dir);
    snprintf(cancel, sizeof cancel, "%s/cancel", dir);
    for (;;) {
        if (read_exit(dir, attempt, status)) return 0;
        if (file_age(hb) > HEARTBEAT_STALE_S) return 2;
        if (stop_now(spec)) return 3;
        if (spec->timeout_s > 0 && now_s() - started > spec->timeout_s) {
            int fd = open(cancel, O_WRONLY | O_CREAT, 0666);
            if (fd >= 0) close(fd);
            while (file_age(hb) <= HEARTBEAT_STALE_S && !read_exit(dir, attempt, status))
                sleep_s(1.0);
            return 1;
        }
        sleep_until_stop(spec, spec->poll_s > 0 ? fmin(spec->poll_s, HEARTBEAT_S) : HEARTBEAT_S);
    }
}

static int wait_sbatch(const struct ab_job_spec *spec, const char *dir, int attempt,
                       const char *job_id, double started, int *status)
{
    int misses = 0;
    double poll = 0.2;
    if (!job_id[0]) return read_exit(dir, attempt, status) ? 0 : 2;
    while (slurm_job_active(job_id, &misses)) {
        if (read_exit(dir, attempt, status)) return 0;
        if (stop_now(spec)) return 3;
        if (spec->timeout_s > 0 && now_s() - started > spec->timeout_s + 120.0) {
            slurm_cancel(job_id);
            return 1;
        }
        sleep_until_stop(spec, poll);
        poll = fmin(poll * 1.5, spec->poll_s > 0 ? spec->poll_s : 30.0);
    }
    return read_exit(dir, attempt, status) ? 0 : 2;
}

/* Why an attempt that ended with `how` (wait_* result) and status failed;
 * empty when it succeeded (status 0 and a valid result). */
static void judge(const struct ab_job_spec *spec, const char *dir, int attempt, int how,
                  int status, char *reason, size_t cap)
{
    char result[FILE_PATH], errp[FILE_PATH], tail[160];
    snprintf(result, sizeof result, "%s/result.h5", dir);
    snprintf(errp, sizeof errp, "%s/attempt%d.err", dir, attempt);
    reason[0] = 0;
    last_line(errp, tail, sizeof tail);
    if (how == 1) {
        snprintf(reason, cap, "attempt %d: timed out after %g s", attempt, spec->timeout_s);
    } else if (how == 2) {
        snprintf(reason, cap, "attempt %d: the job ended without recording an exit status "
                 "(killed with its node or allocation, or cancelled)%s%s", attempt,
                 tail[0] ? "; stderr: " : "", tail);
    } else if (status != 0) {
        if (status > 128)
            snprintf(reason, cap, "attempt %d: killed by signal %d%s%s", attempt, status - 128,
                     tail[0] ? "; stderr: " : "", tail);
        else
            snprintf(reason, cap, "attempt %d: exit status %d%s%s", attempt, status,
                     tail[0] ? "; stderr: " : "", tail);
    } else if (!ab_fs_exists(result)) {
        snprintf(reason, cap, "attempt %d: exit status 0 but no result file result.h5 in the "
                 "job directory", attempt);
    } else if (spec->validate && spec->validate(spec->validate_ctx, result) != AB_OK) {
        snprintf(reason, cap, "attempt %d: %s", attempt, ab_err_msg());
        ab_err_clear();
    }
}

static ab_status launch(const struct ab_job_spec *spec, const char *dir, const char *arch_json,
                        unsigned long long hash, int attempt, json_t *st)
{
    ab_status rc = AB_OK;
    char **argv = NULL, **full = NULL, path[FILE_PATH], host[256] = "";
    int go_fd = -1;
    static const char *const stale[] = {"exit.json", "result.h5", "cancel", "heartbeat", NULL};
    for (int i = 0; stale[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stale[i]);
        unlink(path);
    }
    AB_CALL(ab_job_expand(spec, dir, arch_json, hash, attempt, &argv));
    gethostname(host, sizeof host - 1);
    json_object_set_new(st, "attempt", json_integer(attempt));
    json_object_set_new(st, "started", json_real(now_s()));
    json_object_set_new(st, "host", json_string(host));
    if (spec->launch == AB_JOB_SBATCH) {
        char job_id[64];
        json_object_set_new(st, "launch", json_string("sbatch"));
        /* record the intent first: a crash between sbatch and the state
         * write would otherwise lose the job id */
        json_object_set_new(st, "state", json_string("submitting"));
        AB_CALL(save_state(dir, st));
        AB_CALL(submit_sbatch(spec, dir, attempt, hash, argv, job_id, sizeof job_id));
        crash_point("job:after-submit");
        json_object_set_new(st, "job_id", json_string(job_id));
        AB_LOG_I("job %016llx attempt %d: Slurm batch job %s", hash, attempt, job_id);
    } else {
        pid_t pid = 0;
        char **run = argv;
        if (spec->launch == AB_JOB_SRUN) {
            int n = 0, k = 0;
            while (argv[n]) n++;
            full = calloc((size_t)(n + spec->n_launch_args + 6), sizeof *full);
            AB_CHECK_ALLOC(full);
            full[k++] = "srun";
            full[k++] = "--exclusive";
            full[k++] = "-N1";
            full[k++] = "-n1";
            for (int i = 0; i < spec->n_launch_args; i++) full[k++] = spec->launch_args[i];
            full[k++] = "--";
            for (int i = 0; i < n; i++) full[k++] = argv[i];
            run = full;
        }
        json_object_set_new(st, "launch", json_string(spec->launch == AB_JOB_SRUN ? "srun"
                                                                                  : "local"));
        AB_CALL(start_supervisor(dir, attempt, run, &pid, &go_fd));
        crash_point("job:after-fork");
        json_object_set_new(st, "pid", json_integer(pid));
        {
            char start[32];
            snprintf(start, sizeof start, "%llu", proc_start(pid));
            json_object_set_new(st, "pid_start", json_string(start));
        }
    }
    json_object_set_new(st, "state", json_string("running"));
    AB_CALL(save_state(dir, st));
    if (go_fd >= 0) {
        crash_point("job:before-go");
        AB_CHECK(write(go_fd, "g", 1) == 1, AB_ERR_IO, "cannot start a job supervisor: %s",
                 strerror(errno));
    }
cleanup:
    if (go_fd >= 0) close(go_fd);
    free(full);
    ab_job_free_argv(argv);
    return rc;
}

/* Waits for the attempt recorded as running in st; returns the failure
 * reason ("" on success). ours: started by this call. */
static int await_attempt(const struct ab_job_spec *spec, const char *dir, json_t *st, int ours,
                         char *reason, size_t cap)
{
    int attempt = (int)state_int(st, "attempt"), status = -1, how;
    double started = json_number_value(json_object_get(st, "started"));
    const char *launch_s = state_str(st, "launch");
    if (!strcmp(launch_s, "sbatch")) {
        how = wait_sbatch(spec, dir, attempt, state_str(st, "job_id"), started, &status);
    } else {
        char host[256] = "";
        pid_t pid = (pid_t)state_int(st, "pid");
        unsigned long long start = strtoull(state_str(st, "pid_start"), NULL, 10);
        gethostname(host, sizeof host - 1);
        if (!ours && strcmp(host, state_str(st, "host"))) {
            /* started on another node: watch its supervisor's heartbeat */
            how = wait_remote(spec, dir, attempt, started, &status);
        } else {
            how = wait_supervisor(spec, dir, attempt, pid, start, ours, started, &status);
        }
    }
    reason[0] = 0;
    if (how == 3) return 3; /* stop requested: the job goes on; the next run re-attaches */
    if (how == 2 && strcmp(launch_s, "sbatch")) {
        /* the supervisor exited without running the program: the worker
         * died before telling it to start (the program's log would exist) */
        char outp[FILE_PATH];
        snprintf(outp, sizeof outp, "%s/attempt%d.out", dir, attempt);
        if (!ab_fs_exists(outp)) return 4;
    }
    judge(spec, dir, attempt, how, status, reason, cap);
    return how;
}

static void record(json_t *st, const char *reason)
{
    json_t *h = json_object_get(st, "history");
    json_array_append_new(h, json_pack("{s:i, s:s, s:f}", "attempt",
                                       (int)state_int(st, "attempt"), "outcome",
                                       reason[0] ? reason : "ok", "ended", now_s()));
}

ab_status ab_job_run(const struct ab_job_spec *spec, const char *jobs_dir,
                     const char *arch_json, unsigned long long hash,
                     struct ab_job_outcome *out)
{
    ab_status rc = AB_OK;
    char dir[PATH_MAX], path[FILE_PATH], reason[AB_JOB_REASON];
    json_t *st = NULL;
    const char *state;
    int running;

    memset(out, 0, sizeof *out);
    AB_CHECK(strlen(jobs_dir) < PATH_MAX - 32, AB_ERR_INPUT, "%s: the job directory's path is "
             "too long", jobs_dir);
    if (jobs_dir[0] == '/') {
        snprintf(dir, sizeof dir, "%s/%016llx", jobs_dir, hash);
    } else {
        /* jobs run in their directory: every path they get is absolute */
        char cwd[PATH_MAX];
        AB_CHECK(getcwd(cwd, sizeof cwd), AB_ERR_IO, "cannot read the working directory: %s",
                 strerror(errno));
        AB_CHECK(strlen(cwd) + strlen(jobs_dir) < PATH_MAX - 32, AB_ERR_INPUT,
                 "%s: the job directory's path is too long", jobs_dir);
        int n = snprintf(dir, sizeof dir, "%.2000s/%.2000s/%016llx", cwd, jobs_dir, hash);
        AB_ASSERT(n > 0 && n < (int)sizeof dir);
    }
    snprintf(out->result, sizeof out->result, "%s/result.h5", dir);
    AB_CALL(make_dirs(dir));
    snprintf(path, sizeof path, "%s/arch.json", dir);
    if (!ab_fs_exists(path)) {
        char *text = malloc(strlen(arch_json) + 2);
        AB_CHECK_ALLOC(text);
        sprintf(text, "%s\n", arch_json);
        rc = write_atomic(path, text);
        free(text);
        AB_CALL(rc);
    }
    AB_CALL(load_state(dir, hash, &st));
    state = state_str(st, "state");
    out->attempts = (int)state_int(st, "attempt");
    if (!strcmp(state, "done")) {
        out->ok = 1;
        goto cleanup;
    }
    if (!strcmp(state, "failed")) {
        snprintf(out->reason, sizeof out->reason, "%s", state_str(st, "reason"));
        goto cleanup;
    }
    running = !strcmp(state, "running");
    if (!strcmp(state, "submitting")) {
        /* the worker stopped around sbatch: the job may be queued or
         * running (Slurm knows it by name), may have ended already (its
         * exit.json is there), or was never submitted (submit it now, as
         * the same attempt) */
        char job_id[64] = "";
        int attempt = (int)state_int(st, "attempt"), status;
        if (slurm_find_job(hash, job_id, sizeof job_id) || read_exit(dir, attempt, &status)) {
            json_object_set_new(st, "job_id", json_string(job_id));
            json_object_set_new(st, "state", json_string("running"));
            AB_LOG_I("job %016llx attempt %d: found %s%s after an interrupted submission",
                     hash, attempt, job_id[0] ? "Slurm batch job " : "its exit status",
                     job_id);
            running = 1;
        } else {
            json_object_set_new(st, "attempt", json_integer(attempt - 1));
            json_object_set_new(st, "state", json_string("retry"));
        }
        AB_CALL(save_state(dir, st));
    }
    if (running) {
        out->reattached = 1;
        AB_LOG_I("job %016llx: re-attaching to attempt %ld (%s)", hash, state_int(st, "attempt"),
                 state_str(st, "launch"));
    }
    for (;;) {
        int attempt, how;
        if (!running) {
            attempt = (int)state_int(st, "attempt") + 1;
            if (attempt > 1 && json_array_size(json_object_get(st, "history")) > 0) {
                double wait = fmin(spec->backoff_s * pow(2.0, attempt - 2), MAX_BACKOFF_S);
                AB_LOG_W("job %016llx: retrying in %.0f s (attempt %d of %d)", hash, wait,
                         attempt, spec->retries + 1);
                sleep_until_stop(spec, wait);
            }
            if (stop_now(spec)) {
                out->interrupted = 1;
                break;
            }
            AB_CALL(launch(spec, dir, arch_json, hash, attempt, st));
        }
        how = await_attempt(spec, dir, st, !running, reason, sizeof reason);
        running = 0;
        if (how == 3) {
            AB_LOG_I("job %016llx: stop requested; attempt %ld goes on and is re-attached by "
                     "the next run", hash, state_int(st, "attempt"));
            out->interrupted = 1;
            break;
        }
        if (how == 4) {
            /* never started: launch the same attempt again */
            json_object_set_new(st, "attempt", json_integer(state_int(st, "attempt") - 1));
            json_object_set_new(st, "state", json_string("retry"));
            AB_CALL(save_state(dir, st));
            continue;
        }
        out->attempts = (int)state_int(st, "attempt");
        record(st, reason);
        if (!reason[0]) {
            json_object_del(st, "reason");
            json_object_set_new(st, "state", json_string("done"));
            AB_CALL(save_state(dir, st));
            out->ok = 1;
            break;
        }
        AB_LOG_W("job %016llx: %s", hash, reason);
        json_object_set_new(st, "reason", json_string(reason));
        if (out->attempts > spec->retries) {
            json_object_set_new(st, "state", json_string("failed"));
            AB_CALL(save_state(dir, st));
            snprintf(out->reason, sizeof out->reason, "%s", reason);
            break;
        }
        json_object_set_new(st, "state", json_string("retry"));
        AB_CALL(save_state(dir, st));
    }
cleanup:
    if (st) json_decref(st);
    return rc;
}
