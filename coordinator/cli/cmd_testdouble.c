/* SPDX-License-Identifier: MIT
 *
 * This file implements `autobuild test-double job`: a TEST DOUBLE of a
 * user's fine-tune + FID job, for CI and trials of external-job campaigns.
 * It trains nothing. It sleeps, then writes a result file the `external`
 * evaluator accepts: Inception-like pool features computed
 * deterministically from the architecture, so that FID against the
 * reference statistics varies with the architecture (and a predictor has
 * something to learn), or the FID itself. Flags make it fail on chosen
 * attempts, hang, or write garbage, to exercise retries and timeouts.
 *
 * The features: rows x_i = (1 - q) * 3 * u + s (.) z_i with z_i ~ N(0, I),
 * a fixed direction u (|u| ~ 1), fixed scales s_j = 1 + 0.5 sin(j), and
 * the architecture's quality q in [0, 1]: the mean over its search units
 * of a hash of the unit's subgraph (module effects that add up). The
 * reference (--reference) is q = 1. So FID ~ 9 (1 - q)^2 plus sampling
 * noise.
 */
#include <getopt.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "h5/h5util.h"
#include "space/space.h"
#include "util/fsutil.h"
#include "util/rng.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

static const char job_help[] =
    "usage: autobuild test-double job --arch A.json --result R.h5 [--sleep-ms N]\n"
    "                                 [--rows N] [--dims D] [--seed S] [--fid-only]\n"
    "                                 [--attempt K --fail-attempts F] [--exit-code C]\n"
    "                                 [--garbage] [--no-result] [--hang]\n"
    "       autobuild test-double job --reference --result REF.h5 [--rows N] [--dims D]\n"
    "\n"
    "A TEST DOUBLE of a fine-tune + FID job (it trains nothing), for CI and for\n"
    "trying external-job campaigns: sleeps --sleep-ms, then writes R.h5 with\n"
    "dataset 'features' (--rows x --dims float32, Inception-like, computed from the\n"
    "architecture so that FID against the reference varies with it), or with\n"
    "--fid-only a root attribute 'fid' (the expected FID, 9 (1 - q)^2 with q the\n"
    "architecture's hashed module quality). --reference writes the reference\n"
    "features (q = 1); turn them into statistics with 'autobuild fid stats'.\n"
    "\n"
    "Failure modes for tests: --fail-attempts F with --attempt K ({attempt}) exits\n"
    "with --exit-code (default 3) while K <= F; --garbage writes a non-HDF5 result;\n"
    "--no-result writes nothing and exits 0; --hang sleeps until killed.\n"
    "\n"
    "In an evaluator: {type: external, metrics: [fid], fid_reference: ref.h5,\n"
    "  command: [autobuild, test-double, job, --arch, \"{arch_file}\", --result,\n"
    "            \"{result}\", --attempt, \"{attempt}\", --sleep-ms, 100]}\n";

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Mean over the space's units of a hash of the unit's subgraph, in [0, 1]. */
static double quality(const struct ab_space *sp, const struct ab_arch *a)
{
    double q = 0;
    for (int u = 0; u < sp->n_units; u++) {
        struct ab_subgraph g;
        char buf[4096];
        ab_arch_get_unit(sp, a, u, &g);
        ab_subgraph_format_json(sp, &g, buf, sizeof buf);
        q += (double)(fnv1a(buf) >> 11) / 9007199254740992.0;
    }
    return sp->n_units ? q / sp->n_units : 0.5;
}

static ab_status load_arch(const char *path, struct ab_space **sp, struct ab_arch *a,
                           uint64_t *hash)
{
    ab_status rc = AB_OK;
    char *text = NULL;
    size_t len;
    json_t *root = NULL;
    json_error_t jerr;
    const char *space;
    *sp = NULL;
    AB_CALL(ab_fs_read_all(path, 1 << 20, &text, &len));
    root = json_loads(text, 0, &jerr);
    space = root ? json_string_value(json_object_get(root, "space")) : NULL;
    AB_CHECK(space, AB_ERR_INPUT, "%s: expected an architecture with a \"space\" field", path);
    AB_CALL(ab_space_open(space, sp));
    if (ab_arch_parse_json(*sp, text, a) != AB_OK) {
        rc = ab_err_prefix("%s", path);
        goto cleanup;
    }
    *hash = ab_arch_hash(*sp, a);
cleanup:
    if (root) json_decref(root);
    free(text);
    if (rc != AB_OK) ab_space_destroy(sp);
    return rc;
}

static ab_status write_features(const char *path, double q, long rows, int dims, uint64_t seed,
                                int fid_only)
{
    ab_status rc = AB_OK;
    hid_t f = H5I_INVALID_HID, sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
    float *x = NULL;
    char tmp[4096];
    int made = 0;
    AB_CALL(ab_fs_temp_path(path, tmp, sizeof tmp));
    AB_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "%s: create", tmp);
    made = 1;
    AB_CALL(ab_h5_write_str_attr(f, "created_by", "autobuild test-double job (NOT a real "
                                 "fine-tune: synthetic features for tests)"));
    AB_CALL(ab_h5_write_f64_attr(f, "quality", q));
    if (fid_only) {
        AB_CALL(ab_h5_write_f64_attr(f, "fid", 9.0 * (1 - q) * (1 - q)));
    } else {
        struct ab_rng rng;
        hsize_t dims2[2] = {(hsize_t)rows, (hsize_t)dims};
        double shift = (1 - q) * 3.0, norm = sqrt(dims / 2.0);
        x = malloc((size_t)rows * (size_t)dims * sizeof *x);
        AB_CHECK_ALLOC(x);
        ab_rng_seed(&rng, seed);
        for (long i = 0; i < rows; i++)
            for (int j = 0; j < dims; j++)
                x[i * dims + j] = (float)(shift * cos(0.37 * j) / norm +
                                          (1 + 0.5 * sin((double)j)) * ab_rng_normal(&rng));
        AB_H5(sp = H5Screate_simple(2, dims2, NULL), "features");
        AB_H5(d = H5Dcreate2(f, "features", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT), "features");
        AB_H5(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x), "features");
    }
    ab_h5_close(&d);
    ab_h5_close(&sp);
    AB_H5(H5Fclose(f), "%s: close", tmp);
    f = H5I_INVALID_HID;
    AB_CALL(ab_fs_commit(tmp, path));
    made = 0;
cleanup:
    free(x);
    ab_h5_close(&d);
    ab_h5_close(&sp);
    ab_h5_close(&f);
    if (made) remove(tmp);
    return rc;
}

ab_status ab_cmd_testdouble_job(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
                                         {"result", required_argument, NULL, 'r'},
                                         {"sleep-ms", required_argument, NULL, 's'},
                                         {"rows", required_argument, NULL, 'n'},
                                         {"dims", required_argument, NULL, 'd'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"fid-only", no_argument, NULL, 'F'},
                                         {"attempt", required_argument, NULL, 'k'},
                                         {"fail-attempts", required_argument, NULL, 'f'},
                                         {"exit-code", required_argument, NULL, 'e'},
                                         {"garbage", no_argument, NULL, 'g'},
                                         {"no-result", no_argument, NULL, 'N'},
                                         {"hang", no_argument, NULL, 'H'},
                                         {"reference", no_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_space *sp = NULL;
    struct ab_arch a;
    const char *archp = NULL, *result = NULL;
    long sleep_ms = 0, rows = 512, dims = 2048, seed = 0, attempt = 1, fail = 0, code = 3;
    int fid_only = 0, garbage = 0, no_result = 0, hang = 0, reference = 0, o;
    uint64_t hash = 0;
    double q = 1.0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': archp = optarg; break;
        case 'r': result = optarg; break;
        case 's': AB_CALL(ab_cli_int("--sleep-ms", optarg, 0, 1L << 40, &sleep_ms)); break;
        case 'n': AB_CALL(ab_cli_int("--rows", optarg, 2, 10000000, &rows)); break;
        case 'd': AB_CALL(ab_cli_int("--dims", optarg, 1, 32768, &dims)); break;
        case 'S': AB_CALL(ab_cli_int("--seed", optarg, 0, 1L << 62, &seed)); break;
        case 'F': fid_only = 1; break;
        case 'k': AB_CALL(ab_cli_int("--attempt", optarg, 1, 1000000, &attempt)); break;
        case 'f': AB_CALL(ab_cli_int("--fail-attempts", optarg, 0, 1000000, &fail)); break;
        case 'e': AB_CALL(ab_cli_int("--exit-code", optarg, 1, 255, &code)); break;
        case 'g': garbage = 1; break;
        case 'N': no_result = 1; break;
        case 'H': hang = 1; break;
        case 'R': reference = 1; break;
        case 'h': fputs(job_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!result || (!archp && !reference) || optind != argc) {
        rc = ab_cli_usage(argv[0], "--result and --arch (or --reference) are required");
        goto cleanup;
    }
    if (archp) {
        AB_CALL(load_arch(archp, &sp, &a, &hash));
        q = quality(sp, &a);
    }
    if (sleep_ms) usleep((useconds_t)(sleep_ms * 1000 > 4000000000L ? 4000000000L : sleep_ms * 1000));
    while (hang) sleep(60);
    if (attempt <= fail) {
        fprintf(stderr, "test double: failing attempt %ld of the first %ld on purpose\n",
                attempt, fail);
        exit((int)code);
    }
    if (no_result) goto cleanup;
    if (garbage) {
        FILE *f = fopen(result, "w");
        AB_CHECK(f, AB_ERR_IO, "%s: cannot write", result);
        fputs("this is not an HDF5 file\n", f);
        fclose(f);
        goto cleanup;
    }
    AB_CALL(write_features(result, q, rows, (int)dims, hash ^ (uint64_t)seed ^ (reference ? 0x5eed : 0),
                           fid_only));
cleanup:
    ab_space_destroy(&sp);
    return rc;
}
