/* SPDX-License-Identifier: MIT
 *
 * job.h - external jobs: a user's program (a fine-tune + FID script, say)
 * run for one candidate architecture, for seconds or for days, with its
 * state kept on disk so that a restarted worker re-attaches instead of
 * starting it again.
 *
 *     struct ab_job_spec spec = {...};          // argv template, launch mode
 *     struct ab_job_outcome out;
 *     AB_CALL(ab_job_run(&spec, jobs_dir, arch_json, hash, &out));
 *     if (out.ok) read out.result ...; else record out.reason
 *
 * One directory per candidate, <jobs_dir>/<hash as 16 hex digits>/:
 *
 *   arch.json          the candidate's canonical JSON ({arch_file})
 *   state.json         the job's state, rewritten atomically at every step:
 *                      {"hash", "attempt", "state": "submitting" |
 *                      "running" | "retry" | "done" | "failed", "launch", "host", "pid", "pid_start",
 *                      "job_id", "started", "reason", "history": [...]}
 *   attempt<K>.out/.err  stdout and stderr of attempt K
 *   exit.json          {"attempt": K, "status": S} written by the job's
 *                      supervisor when the program ends (any launch mode)
 *   result.h5          what the program writes ({result})
 *
 * Launch modes:
 *   local   a supervisor process (its own session, so it outlives a killed
 *           worker) runs the program and records its exit status;
 *   srun    the same, the program run as a job step of the current Slurm
 *           allocation: srun --exclusive -N1 -n1 [srun_args] -- argv;
 *   sbatch  a Slurm batch job per attempt (sbatch --parsable), polled with
 *           squeue; for jobs longer than the allocation.
 *
 * Re-attaching (a candidate whose directory already has state "running"):
 * local/srun: if the supervisor (pid on this host, same start time from
 * /proc) still runs, wait for it; sbatch: if squeue still knows the job id,
 * poll it. Otherwise collect exit.json and the result if they are there, or
 * count the attempt as lost. State "done" returns the recorded result
 * without running anything; state "failed" returns the recorded failure.
 * So a candidate is never launched twice for the same attempt.
 *
 * The windows in between are closed too. local/srun: the supervisor is
 * forked first but runs the program only after state "running" (with its
 * pid) is on disk and the worker has written it a byte through a pipe; a
 * worker that dies before that closes the pipe, the supervisor exits
 * without running anything, and the next call launches the same attempt
 * (it sees no attempt<K>.out). sbatch: state "submitting" is saved before
 * sbatch runs; the next call asks squeue for a job named ab-<hash> (and
 * re-attaches to it), or takes exit.json if the job already ended, or
 * else submits the same attempt.
 *
 * Stopping: spec.stop (e.g. ab_stop_requested) is polled while waiting;
 * when it returns 1, ab_job_run returns at once with out.interrupted set
 * and the job left running under its supervisor or in Slurm, recorded as
 * "running": the next call re-attaches to it.
 *
 * Failures (non-zero exit, a signal, timeout, a missing or invalid result)
 * are retried up to `retries` times, waiting backoff x 2^(k-1) seconds
 * (at most 1 hour) between attempts; then the candidate fails with the
 * last reason. Errors of the machinery itself (cannot create the
 * directory, fork, run sbatch) are returned as a status.
 *
 * Not thread-safe: one job at a time per process (a worker evaluates one
 * candidate at a time).
 */
#ifndef AB_JOBS_JOB_H
#define AB_JOBS_JOB_H

#include "util/error.h"

#define AB_JOB_REASON 256

enum ab_job_launch { AB_JOB_LOCAL = 0, AB_JOB_SRUN, AB_JOB_SBATCH };

/* Checks a result file; returns AB_OK when it is valid, else an error whose
 * text becomes the attempt's failure reason. */
typedef ab_status (*ab_job_validate_fn)(void *ctx, const char *result_path);

struct ab_job_spec {
    int argc;
    char **argv;            /* template: {arch_json} {arch_file} {workdir}
                             * {result} {seed} {hash} {attempt}; {{ and }}
                             * are literal braces */
    enum ab_job_launch launch;
    int n_launch_args;
    char **launch_args;     /* extra srun / sbatch arguments */
    double timeout_s;       /* running time per attempt; <= 0: none */
    int retries;            /* further attempts after the first */
    double backoff_s;       /* first wait between attempts */
    double poll_s;          /* polling interval (sbatch; re-attached local) */
    long seed;
    ab_job_validate_fn validate;
    void *validate_ctx;
    int (*stop)(void);      /* polled while waiting; 1: return, job left running */
};

struct ab_job_outcome {
    int ok;                         /* a valid result is at `result` */
    int attempts;                   /* attempts made so far (all runs) */
    int reattached;                 /* this call re-attached to a job */
    int interrupted;                /* spec.stop fired: neither ok nor failed */
    char result[4096 + 64];         /* path of result.h5 */
    char reason[AB_JOB_REASON];     /* why it failed (ok == 0) */
};

/* Checks a template: every {name} is a known placeholder and braces are
 * balanced. AB_ERR_INPUT naming `where`, the argument and the placeholder
 * (and listing the known ones). */
ab_status ab_job_check_template(const char *where, int argc, char *const *argv);

/* Runs (or re-attaches to, or reads the recorded outcome of) the job of one
 * candidate: arch_json its canonical JSON, hash its 64-bit hash, in
 * <jobs_dir>/<hash>/. Blocks until the job is done or failed for good.
 * Returns AB_OK with *out filled in both cases; a non-OK status only when
 * the machinery fails (AB_ERR_IO, AB_ERR_NOMEM, AB_ERR_INPUT for a program
 * that cannot be started at all, e.g. not found). */
ab_status ab_job_run(const struct ab_job_spec *spec, const char *jobs_dir,
                     const char *arch_json, unsigned long long hash,
                     struct ab_job_outcome *out);

/* Expands the template for one attempt (exposed for tests): *out_argv is a
 * NULL-terminated malloc'd array of malloc'd strings (free with
 * ab_job_free_argv). */
ab_status ab_job_expand(const struct ab_job_spec *spec, const char *dir, const char *arch_json,
                        unsigned long long hash, int attempt, char ***out_argv);
void ab_job_free_argv(char **argv);

#endif /* AB_JOBS_JOB_H */
