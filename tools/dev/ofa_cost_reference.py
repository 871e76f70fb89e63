#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements a development cross-check for worker/ofa/ofa_cost.c:
# it builds the Once-for-All supernets with the real once-for-all code
# (mit-han-lab/once-for-all, not part of this repository), activates a set of
# subnets, and prints for each the multiply-accumulates and parameters that
# OFA's own counters report for get_active_subnet():
#
#   {"arch": {...canonical form...}, "width": 1.2, "macs": N,
#    "macs_ofa": N, "params": N}
#
#   macs      exact integer count with OFA's per-layer formula (the forward
#             hooks of ofa/utils/flops_counter.py: Conv2d and Linear only),
#             summed in Python integers;
#   macs_ofa  ofa.utils.count_net_flops() itself, which accumulates in
#             float32 tensors and so may be off by a few units in the last
#             place of a float32 (tens of MACs);
#   params    ofa.utils.count_parameters() (exact).
#
# Neither the build nor the tests need this script; the C unit test
# tests/unit/test_ofa_cost.c holds the numbers it printed. Usage (Debian's
# python3-torch and python3-torchvision, OFA unpacked from a snapshot):
#
#   mkdir -p /tmp/ofa_src && git -C <mirror of mit-han-lab/once-for-all> \
#       archive HEAD | tar -x -C /tmp/ofa_src
#   /usr/bin/python3 tools/dev/ofa_cost_reference.py --ofa-src /tmp/ofa_src
#   /usr/bin/python3 tools/dev/ofa_cost_reference.py --c-table  # test rows
import argparse
import json
import random
import sys

SPACES = {
    # name: (family prefix, stages, max layers per stage, authors' width)
    "ofa_mbv3": ("mbconv3", 5, [4, 4, 4, 4, 4], 1.2),
    "ofa_pn": ("mbconv2", 6, [4, 4, 4, 4, 4, 1], 1.3),
}
MIN_LAYERS = 2
EXPANDS = [3, 4, 6]
KERNELS = [3, 5, 7]
RESOLUTIONS = list(range(128, 225, 4))


def build_supernet(space, width):
    from ofa.imagenet_classification.elastic_nn.networks import (
        OFAMobileNetV3,
        OFAProxylessNASNets,
    )

    # As ofa/model_zoo.py builds ofa_mbv3_d234_e346_k357_w{1.0,1.2} and
    # ofa_proxyless_d234_e346_k357_w1.3.
    cls = OFAMobileNetV3 if space == "ofa_mbv3" else OFAProxylessNASNets
    return cls(
        n_classes=1000,
        dropout_rate=0,
        width_mult=width,
        ks_list=[3, 5, 7],
        expand_ratio_list=[3, 4, 6],
        depth_list=[2, 3, 4],
    )


def exact_macs(net, resolution):
    """OFA's flops_counter formula per leaf Conv2d / Linear, in integers."""
    import torch
    import torch.nn as nn

    total = [0]

    def conv_hook(m, _inp, out):
        k = m.weight.size(2) * m.weight.size(3)
        total[0] += m.in_channels * out.nelement() * k // m.groups

    def linear_hook(m, _inp, _out):
        total[0] += m.in_features * m.out_features

    handles = []
    for m in net.modules():
        if len(list(m.children())) > 0:
            continue
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 3, resolution, resolution))
    for h in handles:
        h.remove()
    return total[0]


def arch_to_subnet_args(space, arch):
    """ks / e per block slot (inactive slots filled), d per stage."""
    ks, es, ds = [], [], []
    for s, stage in enumerate(arch["stages"]):
        ds.append(len(stage))
        for block in stage:
            _, e, k = block.split("_")
            es.append(int(e[1:]))
            ks.append(int(k[1:]))
        for _ in range(SPACES[space][2][s] - len(stage)):
            es.append(3)
            ks.append(3)
    return ks, es, ds


def make_arch(space, resolution, stages_ek):
    prefix = SPACES[space][0]
    return {
        "space": space,
        "resolution": resolution,
        "stages": [
            ["%s_e%d_k%d" % (prefix, e, k) for (e, k) in stage] for stage in stages_ek
        ],
    }


def fixed_archs(space):
    n_stages = SPACES[space][1]
    maxd = SPACES[space][2]

    def uniform(e, k, d, r):
        return make_arch(
            space, r, [[(e, k)] * min(d, maxd[s]) for s in range(n_stages)]
        )

    return [
        uniform(6, 7, 4, 224),  # largest
        uniform(3, 3, 2, 128),  # smallest
        uniform(6, 7, 4, 128),
        uniform(3, 3, 2, 224),
        uniform(4, 5, 3, 192),
        uniform(3, 7, 4, 132),
        uniform(6, 3, 2, 212),
    ]


def random_arch(space, rng):
    n_stages = SPACES[space][1]
    maxd = SPACES[space][2]
    stages = []
    for s in range(n_stages):
        d = rng.randint(min(MIN_LAYERS, maxd[s]), maxd[s])
        stages.append([(rng.choice(EXPANDS), rng.choice(KERNELS)) for _ in range(d)])
    return make_arch(space, rng.choice(RESOLUTIONS), stages)


def measure(space, width, arch, supernet):
    from ofa.utils import count_net_flops, count_parameters

    ks, es, ds = arch_to_subnet_args(space, arch)
    supernet.set_active_subnet(ks=ks, e=es, d=ds)
    subnet = supernet.get_active_subnet(preserve_weight=False)
    r = arch["resolution"]
    return {
        "arch": arch,
        "width": width,
        "macs": exact_macs(subnet, r),
        "macs_ofa": int(count_net_flops(subnet, (1, 3, r, r))),
        "params": int(count_parameters(subnet)),
    }


def c_row(row):
    """One initialiser of struct ref_case in tests/unit/test_ofa_cost.c."""
    stages = []
    for stage in row["arch"]["stages"]:
        ek = []
        for block in stage:
            _, e, k = block.split("_")
            ek.append("{%s, %s}" % (e[1:], k[1:]))
        stages.append("{%s}" % ", ".join(ek))
    kind = "AB_SPACE_OFA_MBV3" if row["arch"]["space"] == "ofa_mbv3" else "AB_SPACE_OFA_PN"
    return "    {%s, %.1f, %d, UINT64_C(%d), UINT64_C(%d),\n     {%s},\n     {%s}}," % (
        kind,
        row["width"],
        row["arch"]["resolution"],
        row["macs"],
        row["params"],
        ", ".join("%d" % len(s) for s in row["arch"]["stages"]),
        ",\n      ".join(stages),
    )


def main():
    ap = argparse.ArgumentParser(
        description="MACs and parameters of OFA subnets, from the once-for-all code")
    ap.add_argument("--ofa-src", default="/tmp/ofa_src",
                    help="unpacked mit-han-lab/once-for-all snapshot")
    ap.add_argument("--space", choices=["ofa_mbv3", "ofa_pn", "all"], default="all")
    ap.add_argument("--width", type=float, default=None,
                    help="width multiplier (default: the authors' 1.2 / 1.3)")
    ap.add_argument("--n-random", type=int, default=13)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--c-table", action="store_true",
                    help="print C initialisers instead of JSON lines")
    args = ap.parse_args()
    sys.path.insert(0, args.ofa_src)

    spaces = ["ofa_mbv3", "ofa_pn"] if args.space == "all" else [args.space]
    for space in spaces:
        width = SPACES[space][3] if args.width is None else args.width
        supernet = build_supernet(space, width)
        rng = random.Random("%s/%d" % (space, args.seed))
        archs = fixed_archs(space) + [random_arch(space, rng) for _ in range(args.n_random)]
        for arch in archs:
            row = measure(space, width, arch, supernet)
            if args.c_table:
                print(c_row(row))
            else:
                print(json.dumps(row, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
