/* SPDX-License-Identifier: MIT
 *
 * This file implements the `autobuild ofa ...` commands: random-weight
 * supernets (init), inference of a spliced subnet (infer), its batch-1
 * latency (latency), exact MACs and parameters (flops) and ImageNet-style
 * top-1 / top-5 with optional BatchNorm re-calibration (eval).
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "h5/h5util.h"
#include "ofa/ofa_cost.h"
#include "ofa/ofa_eval.h"
#include "ofa/ofa_io.h"
#include "ofa/ofa_subnet.h"
#include "ofa/ofa_supernet.h"
#include "space/space.h"
#include "util/fsutil.h"
#include "util/log.h"

#define UNKNOWN_OPTION()                                                       \
    do {                                                                       \
        rc = ab_cli_usage(argv[0], "unknown option or missing value");         \
        goto cleanup;                                                          \
    } while (0)

#define MAX_ARCH_TEXT (1 << 20)

/* An architecture given as a file holding one canonical JSON object, or as
 * the JSON text itself. The space comes from its "space" field. */
struct arch_arg {
    struct ab_space *sp;
    struct ab_arch a;
    char *json;         /* canonical form */
};

static void arch_arg_free(struct arch_arg *x)
{
    ab_space_destroy(&x->sp);
    free(x->json);
    x->json = NULL;
}

static ab_status arch_arg_load(const char *spec, struct arch_arg *out)
{
    ab_status rc = AB_OK;
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    json_error_t jerr;
    const char *origin = spec, *space;

    memset(out, 0, sizeof *out);
    if (spec[0] == '{') {
        text = strdup(spec);
        AB_CHECK_ALLOC(text);
        origin = "--arch";
    } else {
        AB_CALL(ab_fs_read_all(spec, MAX_ARCH_TEXT, &text, &len));
    }
    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    AB_CHECK(root && json_is_object(root), AB_ERR_INPUT,
             "%s: line %d: expected one architecture as a JSON object (%s)", origin,
             jerr.line, root ? "not an object" : jerr.text);
    space = json_string_value(json_object_get(root, "space"));
    AB_CHECK(space, AB_ERR_INPUT, "%s: the architecture has no \"space\" string; expected "
             "e.g. {\"space\":\"ofa_mbv3\",\"resolution\":224,\"stages\":[...]}", origin);
    AB_CHECK(!strcmp(space, "ofa_mbv3") || !strcmp(space, "ofa_pn"), AB_ERR_INPUT,
             "%s: space '%s' is not an OFA space; ofa commands take ofa_mbv3 or ofa_pn "
             "architectures", origin, space);
    AB_CALL(ab_space_open(space, &out->sp));
    if (ab_arch_parse_json(out->sp, text, &out->a) != AB_OK) {
        rc = ab_err_prefix("%s", origin);
        goto cleanup;
    }
    out->json = ab_arch_to_json(out->sp, &out->a);
    AB_CHECK_ALLOC(out->json);
cleanup:
    if (root) json_decref(root);
    free(text);
    if (rc != AB_OK) arch_arg_free(out);
    return rc;
}

/* Fails with AB_ERR_INPUT unless the folder of path exists and is
 * writable, so that a long run does not end in a failed write. */
static ab_status check_writable(const char *opt, const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (access(dir, W_OK) != 0)
        return ab_err_set(AB_ERR_INPUT, "%s %s: the folder %s does not exist or is not "
                          "writable", opt, path, dir);
    return AB_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static ab_status parse_threads(const char *s, int *out)
{
    long v;
    AB_TRY(ab_cli_int("--threads", s, 1, 256, &v));
    *out = (int)v;
    return AB_OK;
}

/* The net a space's architectures are evaluated on by default: the
 * AutoBuild authors' supernets. */
static const char *default_net(const struct ab_space *sp)
{
    return sp->kind == AB_SPACE_OFA_PN ? "ofa_proxyless_d234_e346_k357_w1.3"
                                       : "ofa_mbv3_d234_e346_k357_w1.2";
}

/* ---------------------------------------------------------------------- */

static const char init_help[] =
    "usage: autobuild ofa init --net NET_ID --out S.h5 [--seed N] [--classes C]\n"
    "\n"
    "Writes a Once-for-All supernet with random weights in the autobuild-ofa-supernet\n"
    "format (hdf5-schemas/ofa-supernet.md). Latency does not depend on the weights,\n"
    "so such a file serves 'ofa latency' and tests; for accuracy convert OFA's\n"
    "released weights with tools/convert_ofa_supernet.py.\n"
    "\n"
    "  --net NET_ID   ofa_mbv3_d234_e346_k357_w1.0, ofa_mbv3_d234_e346_k357_w1.2 or\n"
    "                 ofa_proxyless_d234_e346_k357_w1.3\n"
    "  --out FILE     the supernet file to write\n"
    "  --seed N       random seed (default 1)\n"
    "  --classes C    classifier outputs (default 1000)\n";

ab_status ab_cmd_ofa_init(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"net", required_argument, NULL, 'n'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"classes", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    const char *net = NULL, *out = NULL;
    long seed = 1, classes = 1000;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'n': net = optarg; break;
        case 'o': out = optarg; break;
        case 's': AB_CALL(ab_cli_int("--seed", optarg, 0, 1L << 62, &seed)); break;
        case 'c': AB_CALL(ab_cli_int("--classes", optarg, 1, AB_OFA_MAX_CLASSES, &classes)); break;
        case 'h': fputs(init_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!net || !out || optind != argc) {
        rc = ab_cli_usage(argv[0], "--net and --out are required");
        goto cleanup;
    }
    AB_CALL(check_writable("--out", out));
    AB_CALL(ab_ofa_supernet_random(net, (int)classes, (uint64_t)seed, &sn));
    AB_CALL(ab_ofa_supernet_save(sn, out));
    AB_LOG_I("wrote %s: %s with random weights (seed %ld, %d tensors)", out, net, seed,
             sn->n_params);
cleanup:
    ab_ofa_supernet_destroy(&sn);
    return rc;
}

/* ---------------------------------------------------------------------- */

static const char infer_help[] =
    "usage: autobuild ofa infer --supernet S.h5 --arch A.json --input X.h5 --output Y.h5\n"
    "                           [--threads T] [--batch B]\n"
    "                           [--calib C.h5 [--calib-images N] [--calib-batch B]]\n"
    "\n"
    "Splices the architecture out of the supernet (as OFA's get_active_subnet does),\n"
    "runs the images of X.h5 through it and writes their logits.\n"
    "\n"
    "  --supernet S.h5   an autobuild-ofa-supernet file (tools/convert_ofa_supernet.py\n"
    "                    or 'ofa init')\n"
    "  --arch A.json     one architecture in canonical JSON (a file, or the JSON text)\n"
    "  --input X.h5      dataset 'input': float32 N x 3 x R x R, already normalised,\n"
    "                    R = the architecture's resolution\n"
    "  --output Y.h5     autobuild-ofa-logits file: dataset 'logits' (N x classes);\n"
    "                    after calibration also group /bn with the new statistics\n"
    "  --threads T       threads (default 1)\n"
    "  --batch B         images per pass (default 16)\n"
    "  --calib C.h5      re-calibrate BatchNorm first, as OFA's set_running_statistics:\n"
    "                    C.h5 is an input file like X.h5 or an autobuild-imageset\n"
    "  --calib-images N  calibration images (default: all of C.h5, at most 2000)\n"
    "  --calib-batch B   calibration batch size (default 200, OFA's); the statistics\n"
    "                    depend on it, as in OFA\n"
    "\n"
    "Without --calib the supernet's stored BatchNorm statistics are used, as OFA's\n"
    "spliced subnet does.\n";

/* Re-calibrates BatchNorm on an image set (streamed) or an input file. */
static ab_status calibrate_from(struct ab_ofa_subnet *net, const char *path, long want,
                                int batch)
{
    ab_status rc = AB_OK;
    struct ab_imageset *set = NULL;
    float *x = NULL;
    int n = 0, r = 0;
    double t0 = now_ms();
    if (H5Fis_hdf5(path) > 0 && ab_imageset_open(path, &set) == AB_OK) {
        AB_CALL(ab_ofa_calibrate_imageset(net, set, want, batch));
    } else {
        ab_err_clear();
        AB_CALL(ab_ofa_input_read(path, ab_ofa_subnet_plan(net)->resolution, &x, &n, &r));
        AB_CHECK(want <= n, AB_ERR_INPUT, "--calib-images %ld: %s has %d images", want, path,
                 n);
        if (want > 0) n = (int)want;
        AB_CALL(ab_ofa_calibrate(net, x, n, batch));
    }
    AB_LOG_I("re-calibrated %d BatchNorms on %s in %.2f s", ab_ofa_subnet_n_bn(net), path,
             (now_ms() - t0) / 1e3);
cleanup:
    free(x);
    ab_imageset_close(&set);
    return rc;
}

ab_status ab_cmd_ofa_infer(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"supernet", required_argument, NULL, 's'},
                                         {"arch", required_argument, NULL, 'a'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"calib", required_argument, NULL, 'c'},
                                         {"calib-images", required_argument, NULL, 'N'},
                                         {"calib-batch", required_argument, NULL, 'B'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    struct ab_ofa_subnet *net = NULL;
    struct arch_arg arch = {0};
    const char *snp = NULL, *archp = NULL, *inp = NULL, *outp = NULL, *calibp = NULL;
    float *x = NULL, *logits = NULL;
    long batch = 16, calib_images = 0, calib_batch = 200;
    int threads = 1, n = 0, r = 0, o;
    double t0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': snp = optarg; break;
        case 'a': archp = optarg; break;
        case 'i': inp = optarg; break;
        case 'o': outp = optarg; break;
        case 'c': calibp = optarg; break;
        case 't': AB_CALL(parse_threads(optarg, &threads)); break;
        case 'b': AB_CALL(ab_cli_int("--batch", optarg, 1, 4096, &batch)); break;
        case 'N': AB_CALL(ab_cli_int("--calib-images", optarg, 1, 10000000, &calib_images)); break;
        case 'B': AB_CALL(ab_cli_int("--calib-batch", optarg, 1, 4096, &calib_batch)); break;
        case 'h': fputs(infer_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!snp || !archp || !inp || !outp || optind != argc) {
        rc = ab_cli_usage(argv[0], "--supernet, --arch, --input and --output are required");
        goto cleanup;
    }
    AB_CALL(check_writable("--output", outp));
    AB_CALL(arch_arg_load(archp, &arch));
    AB_CALL(ab_ofa_supernet_load(snp, &sn));
    AB_CALL(ab_ofa_input_read(inp, arch.a.resolution, &x, &n, &r));
    AB_CALL(ab_ofa_subnet_create(sn, arch.sp, &arch.a, &net));
    AB_CALL(ab_ofa_subnet_set_threads(net, threads));
    if (calibp) AB_CALL(calibrate_from(net, calibp, calib_images, (int)calib_batch));
    AB_CALL(ab_ofa_subnet_reserve(net, (int)(batch < n ? batch : n)));
    logits = malloc((size_t)n * (size_t)sn->n_classes * sizeof *logits);
    AB_CHECK_ALLOC(logits);
    t0 = now_ms();
    AB_CALL(ab_ofa_subnet_forward(net, x, n, logits));
    AB_LOG_I("%d images at %d x %d in %.1f ms (%d threads)", n, r, r, now_ms() - t0, threads);
    AB_CALL(ab_ofa_logits_write(outp, logits, n, sn->n_classes, arch.json, snp, net,
                                calibp != NULL));
cleanup:
    free(logits);
    free(x);
    ab_ofa_subnet_destroy(&net);
    ab_ofa_supernet_destroy(&sn);
    arch_arg_free(&arch);
    return rc;
}

/* ---------------------------------------------------------------------- */

static const char latency_help[] =
    "usage: autobuild ofa latency --arch A.json [--supernet S.h5 | --net NET_ID]\n"
    "                             [--resolution R] [--batch 1] [--threads T]\n"
    "                             [--warmup 10] [--runs 50] [--json]\n"
    "\n"
    "Measures the forward latency of the spliced subnet on this machine's CPU with\n"
    "autobuild's inference engine: --warmup untimed passes, then the median of --runs\n"
    "timed passes. Latency does not depend on the weights, so without --supernet a\n"
    "random-weight supernet of --net is used (default: the AutoBuild authors' nets,\n"
    "ofa_mbv3_d234_e346_k357_w1.2 and ofa_proxyless_d234_e346_k357_w1.3).\n"
    "\n"
    "  --resolution R   input side (default: the architecture's resolution)\n"
    "  --batch B        images per pass (default 1)\n"
    "  --threads T      threads (default 1)\n"
    "  --json           print {\"median_ms\":...,\"min_ms\":...,\"max_ms\":...,...}\n";

ab_status ab_cmd_ofa_latency(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
                                         {"supernet", required_argument, NULL, 's'},
                                         {"net", required_argument, NULL, 'n'},
                                         {"resolution", required_argument, NULL, 'r'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"warmup", required_argument, NULL, 'w'},
                                         {"runs", required_argument, NULL, 'R'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    struct ab_ofa_subnet *net = NULL;
    struct arch_arg arch = {0};
    const char *archp = NULL, *snp = NULL, *netid = NULL;
    long res = 0, batch = 1, warmup = 10, runs = 50;
    int threads = 1, json = 0, o;
    struct ab_ofa_latency lat;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': archp = optarg; break;
        case 's': snp = optarg; break;
        case 'n': netid = optarg; break;
        case 'r': AB_CALL(ab_cli_int("--resolution", optarg, 32, AB_OFA_MAX_RESOLUTION, &res)); break;
        case 'b': AB_CALL(ab_cli_int("--batch", optarg, 1, 4096, &batch)); break;
        case 't': AB_CALL(parse_threads(optarg, &threads)); break;
        case 'w': AB_CALL(ab_cli_int("--warmup", optarg, 0, 100000, &warmup)); break;
        case 'R': AB_CALL(ab_cli_int("--runs", optarg, 1, 100000, &runs)); break;
        case 'j': json = 1; break;
        case 'h': fputs(latency_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!archp || optind != argc) {
        rc = ab_cli_usage(argv[0], "--arch is required");
        goto cleanup;
    }
    AB_CHECK(!(snp && netid), AB_ERR_INPUT, "give --supernet or --net, not both");
    AB_CALL(arch_arg_load(archp, &arch));
    if (res) arch.a.resolution = (int)res;
    if (snp)
        AB_CALL(ab_ofa_supernet_load(snp, &sn));
    else
        AB_CALL(ab_ofa_supernet_random(netid ? netid : default_net(arch.sp), 1000, 1, &sn));
    AB_CALL(ab_ofa_subnet_create(sn, arch.sp, &arch.a, &net));
    AB_CALL(ab_ofa_subnet_set_threads(net, threads));
    AB_CALL(ab_ofa_measure_latency(net, (int)batch, (int)warmup, (int)runs, &lat));
    if (json)
        printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"runs\":%ld,"
               "\"warmup\":%ld,\"threads\":%d,\"batch\":%ld,\"resolution\":%d,"
               "\"net\":\"%s\",\"arch\":%s}\n",
               lat.median_ms, lat.min_ms, lat.max_ms, runs, warmup, threads, batch,
               arch.a.resolution, sn->net->net_id, arch.json);
    else
        printf("median %.3f ms (min %.3f, max %.3f) over %ld runs, batch %ld, %d x %d, "
               "%d thread%s\n", lat.median_ms, lat.min_ms, lat.max_ms, runs, batch,
               arch.a.resolution, arch.a.resolution, threads, threads == 1 ? "" : "s");
cleanup:
    ab_ofa_subnet_destroy(&net);
    ab_ofa_supernet_destroy(&sn);
    arch_arg_free(&arch);
    return rc;
}

/* ---------------------------------------------------------------------- */

static const char flops_help[] =
    "usage: autobuild ofa flops --arch A.json [--net NET_ID] [--classes C] [--json]\n"
    "\n"
    "Prints the multiply-accumulates of one 1 x 3 x R x R forward pass of the spliced\n"
    "subnet and its parameter count, exact integers counted as OFA's count_net_flops\n"
    "and count_parameters count them (OFA itself sums MACs in float32 and can be off\n"
    "by a few dozen). --net picks the supernet width (default: the authors' nets,\n"
    "w1.2 for ofa_mbv3, w1.3 for ofa_pn). --json prints {\"flops\":N,\"params\":N}.\n";

ab_status ab_cmd_ofa_flops(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
                                         {"net", required_argument, NULL, 'n'},
                                         {"classes", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct arch_arg arch = {0};
    const struct ab_ofa_netdef *nd;
    const char *archp = NULL, *netid = NULL;
    long classes = 1000;
    int json = 0, o;
    struct ab_ofa_cost cost;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': archp = optarg; break;
        case 'n': netid = optarg; break;
        case 'c': AB_CALL(ab_cli_int("--classes", optarg, 1, AB_OFA_MAX_CLASSES, &classes)); break;
        case 'j': json = 1; break;
        case 'h': fputs(flops_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!archp || optind != argc) {
        rc = ab_cli_usage(argv[0], "--arch is required");
        goto cleanup;
    }
    AB_CALL(arch_arg_load(archp, &arch));
    nd = ab_ofa_netdef_find(netid ? netid : default_net(arch.sp));
    AB_CHECK(nd, AB_ERR_INPUT, "--net %s: expected one of %s", netid, ab_ofa_netdef_list());
    AB_CHECK(!strcmp(nd->space, arch.sp->name), AB_ERR_INPUT,
             "--net %s is a supernet of space %s; the architecture is from %s", nd->net_id,
             nd->space, arch.sp->name);
    AB_CALL(ab_ofa_cost(arch.sp, &arch.a, nd->width_mult, (int)classes, &cost));
    if (json)
        printf("{\"flops\":%llu,\"params\":%llu,\"net\":\"%s\",\"resolution\":%d}\n",
               (unsigned long long)cost.macs, (unsigned long long)cost.params, nd->net_id,
               arch.a.resolution);
    else
        printf("%llu MACs (%.2f M), %llu parameters (%.3f M), %s at %d x %d\n",
               (unsigned long long)cost.macs, cost.macs / 1e6,
               (unsigned long long)cost.params, cost.params / 1e6, nd->net_id,
               arch.a.resolution, arch.a.resolution);
cleanup:
    arch_arg_free(&arch);
    return rc;
}

/* ---------------------------------------------------------------------- */

static const char eval_help[] =
    "usage: autobuild ofa eval --supernet S.h5 --arch A.json --data VAL.h5\n"
    "                          [--calib TRAIN.h5 [--calib-images 2000] [--calib-batch 200]]\n"
    "                          [--limit N] [--batch B] [--threads T] [--json]\n"
    "\n"
    "Top-1 and top-5 accuracy of the spliced subnet on an image set\n"
    "(hdf5-schemas/imageset.md; make one with tools/convert_imagenet_folder.py at the\n"
    "architecture's resolution). With --calib, BatchNorm statistics are first\n"
    "re-computed on calibration images as OFA's set_running_statistics does (OFA\n"
    "uses 2000 training images in batches of 200).\n"
    "\n"
    "  --limit N     evaluate the first N images only\n"
    "  --batch B     images per pass (default 32)\n"
    "  --threads T   threads (default 1)\n"
    "  --json        print {\"top1\":...,\"top5\":...,\"images\":N,...}\n";

ab_status ab_cmd_ofa_eval(int argc, char **argv, struct ab_runtime *rt)
{
    static const struct option opts[] = {{"supernet", required_argument, NULL, 's'},
                                         {"arch", required_argument, NULL, 'a'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"calib", required_argument, NULL, 'c'},
                                         {"calib-images", required_argument, NULL, 'N'},
                                         {"calib-batch", required_argument, NULL, 'B'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    ab_status rc = AB_OK;
    struct ab_ofa_supernet *sn = NULL;
    struct ab_ofa_subnet *net = NULL;
    struct ab_imageset *set = NULL;
    struct arch_arg arch = {0};
    const char *snp = NULL, *archp = NULL, *datap = NULL, *calibp = NULL;
    long calib_images = 0, calib_batch = 200, limit = 0, batch = 32;
    int threads = 1, json = 0, o;
    struct ab_ofa_accuracy acc;
    double t0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': snp = optarg; break;
        case 'a': archp = optarg; break;
        case 'd': datap = optarg; break;
        case 'c': calibp = optarg; break;
        case 'N': AB_CALL(ab_cli_int("--calib-images", optarg, 1, 10000000, &calib_images)); break;
        case 'B': AB_CALL(ab_cli_int("--calib-batch", optarg, 1, 4096, &calib_batch)); break;
        case 'l': AB_CALL(ab_cli_int("--limit", optarg, 1, 100000000, &limit)); break;
        case 'b': AB_CALL(ab_cli_int("--batch", optarg, 1, 4096, &batch)); break;
        case 't': AB_CALL(parse_threads(optarg, &threads)); break;
        case 'j': json = 1; break;
        case 'h': fputs(eval_help, stdout); goto cleanup;
        default: UNKNOWN_OPTION();
        }
    }
    if (!snp || !archp || !datap || optind != argc) {
        rc = ab_cli_usage(argv[0], "--supernet, --arch and --data are required");
        goto cleanup;
    }
    AB_CALL(arch_arg_load(archp, &arch));
    AB_CALL(ab_ofa_supernet_load(snp, &sn));
    AB_CALL(ab_imageset_open(datap, &set));
    AB_CHECK(set->n_classes <= sn->n_classes, AB_ERR_INPUT,
             "%s has %d classes but the supernet's classifier has %d", datap, set->n_classes,
             sn->n_classes);
    AB_CALL(ab_ofa_subnet_create(sn, arch.sp, &arch.a, &net));
    AB_CALL(ab_ofa_subnet_set_threads(net, threads));
    t0 = now_ms();
    if (calibp) AB_CALL(calibrate_from(net, calibp, calib_images, (int)calib_batch));
    AB_CALL(ab_ofa_accuracy(net, set, limit, (int)batch, &acc));
    if (json)
        printf("{\"top1\":%.6f,\"top5\":%.6f,\"images\":%ld,\"calibrated\":%s,"
               "\"seconds\":%.3f,\"arch\":%s}\n",
               acc.top1, acc.top5, acc.images, calibp ? "true" : "false",
               (now_ms() - t0) / 1e3, arch.json);
    else
        printf("top-1 %.2f%%  top-5 %.2f%%  on %ld images%s (%.1f s)\n", 100.0 * acc.top1,
               100.0 * acc.top5, acc.images, calibp ? ", BatchNorm re-calibrated" : "",
               (now_ms() - t0) / 1e3);
cleanup:
    ab_imageset_close(&set);
    ab_ofa_subnet_destroy(&net);
    ab_ofa_supernet_destroy(&sn);
    arch_arg_free(&arch);
    return rc;
}
