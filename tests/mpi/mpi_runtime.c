/* SPDX-License-Identifier: MIT
 *
 * This file is an MPI integration test, run by ctest under mpirun with 1, 2
 * and 4 ranks. It checks that the runtime sees the launcher, that seeded
 * sampling gives every rank the same architectures, and that datasets
 * written by every rank in parallel (one file per rank, atomically) are read
 * back whole by rank 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "h5/h5util.h"
#include "mpi/runtime.h"
#include "util/rng.h"

#define N_ARCHS 1000

static int failures;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "[rank %d] %s:%d: %s failed (%s)\n", rt.rank, __FILE__,   \
                    __LINE__, #cond, ab_err_msg());                                   \
            failures++;                                                               \
        }                                                                             \
    } while (0)

int main(int argc, char **argv)
{
    struct ab_runtime rt;
    struct ab_space *sp = NULL;
    struct ab_arch *archs = malloc(sizeof *archs * N_ARCHS);
    uint64_t hash_xor = 0, hash_sum = 0, got[2], mx[2];
    char dir[256], path[512];
    ab_h5_init();
    if (ab_runtime_init(&argc, &argv, 1, &rt) != AB_OK) {
        fprintf(stderr, "runtime: %s\n", ab_err_msg());
        return 1;
    }
    int world = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    EXPECT(rt.mpi == 1);
    EXPECT(rt.size == world);
    EXPECT(ab_runtime_launched() == 1 || world == 1);
    EXPECT(ab_space_create_builtin("ofa_mbv3", &sp) == AB_OK);

    /* every rank draws the same stream */
    struct ab_rng rng;
    ab_rng_seed(&rng, 5);
    for (int i = 0; i < N_ARCHS; i++) {
        ab_arch_sample(sp, &rng, NULL, 0, &archs[i]);
        uint64_t h = ab_arch_hash(sp, &archs[i]);
        hash_xor ^= h;
        hash_sum += h * (uint64_t)(i + 1);
    }
    got[0] = hash_xor;
    got[1] = hash_sum;
    MPI_Allreduce(got, mx, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    EXPECT(mx[0] == hash_xor && mx[1] == hash_sum);

    /* a shared folder named by rank 0 */
    if (rt.rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/ab_mpi_test_XXXXXX");
        if (!mkdtemp(dir)) dir[0] = '\0';
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    EXPECT(dir[0] != '\0');

    /* each rank writes the architectures i with i % size == rank */
    struct ab_dataset d = {0};
    long mine = 0;
    d.space = sp;
    d.n_metrics = 1;
    char *names[1] = {"index"};
    d.metric_names = names;
    d.archs = malloc(sizeof *d.archs * N_ARCHS);
    d.hashes = malloc(sizeof *d.hashes * N_ARCHS);
    d.metrics = malloc(sizeof *d.metrics * N_ARCHS);
    for (int i = rt.rank; i < N_ARCHS; i += rt.size) {
        d.archs[mine] = archs[i];
        d.hashes[mine] = ab_arch_hash(sp, &archs[i]);
        d.metrics[mine] = i;
        mine++;
    }
    d.n = mine;
    snprintf(path, sizeof path, "%s/part-%d.h5", dir, rt.rank);
    EXPECT(ab_dataset_write(&d, path) == AB_OK);
    MPI_Barrier(MPI_COMM_WORLD);

    if (rt.rank == 0) {
        long total = 0;
        int *seen = calloc(N_ARCHS, sizeof(int));
        for (int r = 0; r < rt.size; r++) {
            struct ab_dataset *e = NULL;
            snprintf(path, sizeof path, "%s/part-%d.h5", dir, r);
            EXPECT(ab_dataset_read(path, &e) == AB_OK);
            if (!e) continue;
            for (long k = 0; k < e->n; k++) {
                int i = (int)e->metrics[k];
                EXPECT(i % rt.size == r);
                EXPECT(ab_arch_equal(&e->archs[k], &archs[i]));
                seen[i]++;
            }
            total += e->n;
            ab_dataset_destroy(&e);
            unlink(path);
        }
        EXPECT(total == N_ARCHS);
        for (int i = 0; i < N_ARCHS; i++) EXPECT(seen[i] == 1);
        free(seen);
        rmdir(dir);
    }
    d.space = NULL;
    d.metric_names = NULL;
    d.n_metrics = 0;
    free(d.archs);
    free(d.hashes);
    free(d.metrics);
    free(archs);
    ab_space_destroy(&sp);

    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rt.rank == 0) printf("mpi_runtime (%d ranks): %s\n", rt.size, all ? "FAILED" : "ok");
    ab_runtime_finalize(&rt, all ? 1 : 0);
    return all ? 1 : 0;
}
