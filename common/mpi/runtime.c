/* SPDX-License-Identifier: MIT
 *
 * This file implements launcher detection and MPI start-up and shut-down.
 */
#include "mpi/runtime.h"

#include <stdlib.h>

#include "util/log.h"

int ab_runtime_launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                 "PMI_SIZE", "MPI_LOCALNRANKS", NULL};
    for (const char **v = vars; *v; v++)
        if (getenv(*v)) return 1;
    /* srun without --mpi still sets SLURM_PROCID; a plain sbatch script does
     * not set SLURM_STEP_ID for the batch step's own commands. */
    return getenv("SLURM_PROCID") && getenv("SLURM_STEP_ID") && getenv("SLURM_NTASKS") &&
           atoi(getenv("SLURM_NTASKS")) > 1;
}

ab_status ab_mpi_error(int mpi_rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(mpi_rc, msg, &len);
    return ab_err_set(AB_ERR_MPI, "MPI call %s failed: %s", what, msg);
}

ab_status ab_runtime_init(int *argc, char ***argv, int force_mpi, struct ab_runtime *rt)
{
    ab_status rc = AB_OK;
    rt->mpi = 0;
    rt->rank = 0;
    rt->size = 1;
    rt->comm = MPI_COMM_NULL;
    if (!force_mpi && !ab_runtime_launched()) goto cleanup;
    int provided = 0;
    AB_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    rt->mpi = 1;
    rt->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    AB_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rt->rank));
    AB_MPI(MPI_Comm_size(MPI_COMM_WORLD, &rt->size));
    ab_log_set_rank(rt->rank);
cleanup:
    return rc;
}

void ab_runtime_finalize(struct ab_runtime *rt, int exit_code)
{
    if (!rt->mpi) return;
    int mine = exit_code, worst = 0;
    /* Agree on the outcome; if the reduction itself fails, abort. */
    if (MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
    MPI_Finalize();
    rt->mpi = 0;
}
