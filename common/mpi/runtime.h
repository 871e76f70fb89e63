/* SPDX-License-Identifier: MIT
 *
 * runtime.h - how the process was started. autobuild runs plain (one
 * process, no MPI launcher) or under mpirun/srun. MPI is initialised when a
 * launcher started the process (Open MPI, PMIx, PMI or Slurm variables are
 * set) or when a command asks for it; otherwise the process is a singleton
 * and never touches MPI, so plain commands start instantly.
 *
 * Serial commands (space info, data import ...) run on rank 0 only; the other
 * ranks return at once and wait in ab_runtime_finalize().
 */
#ifndef AB_MPI_RUNTIME_H
#define AB_MPI_RUNTIME_H

#include <mpi.h>

#include "util/error.h"

struct ab_runtime {
    int mpi;      /* 1 when MPI was initialised */
    int rank;     /* 0 without MPI */
    int size;     /* 1 without MPI */
    MPI_Comm comm;/* MPI_COMM_WORLD, or MPI_COMM_NULL without MPI */
};

/* 1 when an MPI launcher started this process. */
int ab_runtime_launched(void);

/* Initialises the runtime; force_mpi initialises MPI even without a
 * launcher (singleton MPI). Collective over MPI_COMM_WORLD when MPI is used.
 * Sets the log rank. */
ab_status ab_runtime_init(int *argc, char ***argv, int force_mpi, struct ab_runtime *rt);

/* Finalises MPI if it was initialised. Collective. A non-zero status on any
 * rank aborts the job so no rank waits forever. */
void ab_runtime_finalize(struct ab_runtime *rt, int exit_code);

/* Checking wrapper for MPI calls: records the MPI error string. */
ab_status ab_mpi_error(int mpi_rc, const char *what);
#define AB_MPI(call)                                                           \
    do {                                                                       \
        int mpi_rc_ = (call);                                                  \
        if (mpi_rc_ != MPI_SUCCESS) {                                          \
            rc = ab_mpi_error(mpi_rc_, #call);                                 \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

#endif
