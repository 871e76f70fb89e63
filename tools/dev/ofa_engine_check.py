#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the development cross-check of autobuild's OFA worker
# against the once-for-all code itself (not part of this repository;
# --ofa-src, default /tmp/ofa_src): for random-weight supernets of both
# families it splices subnets with OFA's get_active_subnet() and compares,
# subnet by subnet,
#
#   logits   `autobuild ofa infer` vs OFA's float32 forward (criterion: max
#            |diff| <= 1e-3 x max(1, std of OFA's logits)); also both against
#            OFA's subnet run in float64, to show whose rounding is whose;
#   flops    `autobuild ofa flops --json` vs exact integer MACs of OFA's
#            counter formula and ofa.utils.count_net_flops (float32), and
#            parameters vs count_parameters (must be equal);
#   calib    `autobuild ofa infer --calib` BN statistics vs
#            set_running_statistics on the same images and batch size
#            (criterion: max |diff| <= 1e-4), and the logits after it.
#
# Usage (after tools/dev/ofa_reference.py make-supernet and
# tools/convert_ofa_supernet.py made PTH and H5 for each net):
#
#   /usr/bin/python3 tools/dev/ofa_engine_check.py --autobuild build/autobuild \
#       --net ofa_mbv3_d234_e346_k357_w1.2 --pth c_mbv3_w12.pth --h5 c_mbv3_w12.h5
#
# Prints one line per check and a summary; exits 1 when a criterion fails.
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def arch_set(space, n_random, seed):
    sys.path.insert(0, HERE)
    import ofa_cost_reference as C
    archs = C.fixed_archs(space)
    rng = random.Random(seed)
    archs += [C.random_arch(space, rng) for _ in range(n_random)]
    return archs


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s" % (" ".join(cmd), r.stderr))
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--autobuild", default="build/autobuild")
    ap.add_argument("--ofa-src", default="/tmp/ofa_src")
    ap.add_argument("--net", required=True)
    ap.add_argument("--pth", required=True)
    ap.add_argument("--h5", required=True)
    ap.add_argument("--n-random", type=int, default=8)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--calib-images", type=int, default=12)
    ap.add_argument("--calib-batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    sys.path.insert(0, a.ofa_src)
    sys.path.insert(0, HERE)
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import ofa_reference as R
    from ofa.imagenet_classification.elastic_nn.utils import set_running_statistics
    from ofa.utils import count_net_flops, count_parameters
    import ofa_cost_reference as C

    space = R.NETS[a.net][0]
    net = R.load_supernet(a.pth, a.net)
    archs = arch_set(space, a.n_random, a.seed)
    tmp = tempfile.mkdtemp(prefix="ofa_check_")
    g = torch.Generator().manual_seed(a.seed)
    fails = 0
    worst = 0.0
    for i, arch in enumerate(archs):
        r = arch["resolution"]
        x = torch.randn(a.images, 3, r, r, generator=g)
        xin = os.path.join(tmp, "x.h5")
        with h5py.File(xin, "w") as f:
            f.create_dataset("input", data=x.numpy())
        aj = json.dumps(arch, separators=(",", ":"))
        out = os.path.join(tmp, "y.h5")
        run([a.autobuild, "-q", "ofa", "infer", "--supernet", a.h5, "--arch", aj,
             "--input", xin, "--output", out])
        ours = h5py.File(out, "r")["logits"][()]
        sub = R.splice(net, a.net, arch)
        with torch.no_grad():
            ref = sub(x).numpy()
            ref64 = sub.double()(x.double()).numpy()
        sd = float(ref.std())
        d = float(np.abs(ours - ref).max())
        ratio = d / max(1.0, sd)
        worst = max(worst, ratio)
        ok = ratio <= 1e-3
        fails += not ok
        depth = [len(s) for s in arch["stages"]]
        print("logits %2d r%3d d%s: max|ours-ofa| %.3g (std %.3g, ratio %.1e) %s; vs float64: "
              "ours %.2g, ofa %.2g" % (i, r, "".join(map(str, depth)), d, sd, ratio,
                                       "ok" if ok else "FAIL",
                                       float(np.abs(ours - ref64).max()),
                                       float(np.abs(ref - ref64).max())))
        # flops and params
        fl = json.loads(run([a.autobuild, "ofa", "flops", "--arch", aj, "--net", a.net,
                             "--json"]))
        sub32 = R.splice(net, a.net, arch, preserve_weight=False)
        exact = C.exact_macs(sub32, r)
        ofa_f = int(count_net_flops(sub32, (1, 3, r, r)))
        params = int(count_parameters(sub32))
        okf = fl["flops"] == exact and fl["params"] == params
        fails += not okf
        print("flops  %2d: ours %d, exact %d, OFA float32 %d (%+d); params ours %d, OFA %d %s"
              % (i, fl["flops"], exact, ofa_f, ofa_f - fl["flops"], fl["params"], params,
                 "ok" if okf else "FAIL"))
    # calibration on two subnets: the largest and a random one
    for i in (0, len(archs) - 1):
        arch = archs[i]
        r = arch["resolution"]
        x = torch.randn(a.calib_images, 3, r, r, generator=g)
        xin = os.path.join(tmp, "c.h5")
        with h5py.File(xin, "w") as f:
            f.create_dataset("input", data=x.numpy())
        aj = json.dumps(arch, separators=(",", ":"))
        out = os.path.join(tmp, "yc.h5")
        run([a.autobuild, "-q", "ofa", "infer", "--supernet", a.h5, "--arch", aj, "--input",
             xin, "--output", out, "--calib", xin, "--calib-batch", str(a.calib_batch)])
        sub = R.splice(net, a.net, arch)
        loader = [(x[j:j + a.calib_batch], None) for j in range(0, len(x), a.calib_batch)]
        set_running_statistics(sub, loader)
        sub.eval()
        with torch.no_grad():
            ref = sub(x).numpy()
        f = h5py.File(out, "r")
        dm = 0.0
        names = [n for n, m in sub.named_modules() if isinstance(m, nn.BatchNorm2d)]
        order = [s.decode() if isinstance(s, bytes) else s for s in f["bn/order"][()]]
        if order != names:
            print("calib %d: BN order differs: %s vs %s" % (i, order[:3], names[:3]))
            fails += 1
        mods = dict(sub.named_modules())
        for n in names:
            m = mods[n]
            dm = max(dm, float(np.abs(f["bn/" + n + ".running_mean"][()] -
                                      m.running_mean.numpy()).max()),
                     float(np.abs(f["bn/" + n + ".running_var"][()] -
                                  m.running_var.numpy()).max()))
        dl = float(np.abs(f["logits"][()] - ref).max())
        ok = dm <= 1e-4 and dl <= 1e-3 * max(1.0, float(ref.std()))
        fails += not ok
        print("calib  %2d: %d BNs, max |stat diff| %.2e; logits after: max|diff| %.3g (std "
              "%.3g) %s" % (i, len(names), dm, dl, float(ref.std()), "ok" if ok else "FAIL"))
    print("%s: %d subnets, worst logit ratio %.1e, %d failures" % (a.net, len(archs), worst,
                                                                     fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
