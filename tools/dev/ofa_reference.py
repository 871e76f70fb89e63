#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the development reference for the Once-for-All worker
# (worker/ofa/): it builds the OFA supernets with the real once-for-all code
# (mit-han-lab/once-for-all, not part of this repository; --ofa-src, default
# /tmp/ofa_src), splices subnets with OFA's own get_active_subnet(), and
# writes what the C implementation must reproduce. Neither the build nor the
# tests need it; run it with /usr/bin/python3 (Debian's python3-torch,
# python3-h5py, python3-numpy; `check-imageset` also python3-torchvision).
#
# NET_ID: ofa_mbv3_d234_e346_k357_w1.0, ofa_mbv3_d234_e346_k357_w1.2 (space
# ofa_mbv3) or ofa_proxyless_d234_e346_k357_w1.3 (space ofa_pn). Architecture
# files hold canonical JSON, one per line, e.g.
#   {"space":"ofa_mbv3","resolution":208,"stages":[["mbconv3_e4_k7",...],...]}
# (ofa_mbv3: 5 stages of mbconv3_eE_kK; ofa_pn: 6 stages of mbconv2_eE_kK, the
# last with 1 block), mapped to set_active_subnet(ks, e, d) as in
# tools/dev/ofa_cost_reference.py.
#
#   make-supernet --net NET_ID --seed S --out X.pth [--legacy]
#       the supernet exactly as ofa/model_zoo.py's ofa_net(NET_ID,
#       pretrained=False) builds it, with EVERY parameter and buffer drawn at
#       random (seeded): conv/linear weights N(0, sqrt(2/fan_in)), biases
#       N(0, 0.1), BN weight U(0.5, 1.5), bias N(0, 0.1), running_mean
#       N(0, 0.1), running_var U(0.5, 2), kernel transform matrices
#       AtoB_matrix = (A/B) (identity + N(0, 0.05)). Saved as
#       {'state_dict': ...}; --legacy renames blocks.N.conv. to
#       blocks.N.mobile_inverted_conv. (the released files' naming) and uses
#       the legacy (non-zip) torch serialization.
#       So that every subnet's logits depend on its input (the BN statistics
#       do not normalise), the gains are balanced across choices: the matrix
#       factor A/B keeps a 5x5 / 3x3 kernel's output variance that of the 7x7
#       (a sub-kernel has B^2 of A^2 taps), and the elastic point_linear
#       convs take fan_in at expand ratio 4 (of 6). With plain identity
#       matrices a k3/e3 subnet's logits vary across inputs by 1e-4 of their
#       size; with these by 4-30 %.
#       Unless --bn-images 0, the BN statistics are then those of the largest
#       subnet on 16 N(0, 1) images (OFA's set_running_statistics on the
#       supernet): with random statistics the largest subnets' activations grow
#       to ~1e3 and PyTorch's own float32 logits differ from float64 by 5%.
#   make-input --n N --resolution R --seed S --out X.h5
#       dataset `input` float32 (N, 3, R, R) ~ N(0, 1)
#   logits --pth X.pth --net NET_ID --arch A.jsonl --input X.h5 --out Y.h5
#       per architecture i (line order): the spliced subnet
#       (get_active_subnet(preserve_weight=True)), eval mode, applied to the
#       input batch -> dataset `logits_<i>` float32 (N, classes) with the
#       architecture JSON as its attribute `arch`
#   calib --pth X.pth --net NET_ID --arch A.json --input X.h5 --batch B --out S.h5
#       splices one subnet and runs OFA's set_running_statistics() with the
#       input in consecutive batches of B (no shuffling); writes every
#       BatchNorm2d's `<module>.running_mean` / `.running_var` (float32), the
#       module names in subnet.named_modules() order as dataset `bn_order`,
#       and the eval-mode `logits` after calibration
#   flops --net NET_ID --arch A.jsonl
#       JSON lines {"arch", "net", "macs", "params"}: exact integer MACs
#       (OFA's flops-counter formula) and count_parameters() of the subnet
#   torch-latency --net NET_ID --arch A.jsonl --threads T [--warmup 10]
#                 [--runs 50] [--resolution R]
#       JSON lines {"arch", "net", "threads", "resolution", "median_ms",
#       "runs"}: median milliseconds of `runs` timed batch-1 forwards of each
#       subnet (its default initialisation, eval mode, torch.no_grad()) after
#       `warmup` untimed ones; the resolution is the architecture's unless
#       --resolution overrides it
#   check-imageset --dir DIR --h5 X.h5
#       checks an autobuild-imageset written by tools/convert_imagenet_folder.py
#       from DIR against torchvision's ImageFolder with OFA's validation
#       transform (Resize(ceil(R / 0.875)), CenterCrop(R)): same labels, and
#       the same uint8 pixels (before ToTensor) for every image and resolution
#
# `logits` and `calib` also take an autobuild-imageset file as --input: its
# /r<R>/images (R = the architecture's resolution) normalised as the worker
# does, x = (u8 / 255 - mean) / std.
#
# Examples:
#   P=/usr/bin/python3; D=tools/dev/ofa_reference.py
#   $P $D make-supernet --net ofa_mbv3_d234_e346_k357_w1.2 --seed 1 --out /tmp/ofa_dev/mbv3_w12.pth
#   $P $D make-input --n 4 --resolution 160 --seed 1 --out /tmp/ofa_dev/in160.h5
#   $P $D logits --pth /tmp/ofa_dev/mbv3_w12.pth --net ofa_mbv3_d234_e346_k357_w1.2 \
#       --arch archs160.jsonl --input /tmp/ofa_dev/in160.h5 --out /tmp/ofa_dev/logits.h5
#   $P $D torch-latency --net ofa_mbv3_d234_e346_k357_w1.2 --arch archs.jsonl --threads 1
import argparse
import json
import math
import os
import re
import statistics
import sys
import time

NETS = {
    # NET_ID: (space, width multiplier)
    "ofa_mbv3_d234_e346_k357_w1.0": ("ofa_mbv3", 1.0),
    "ofa_mbv3_d234_e346_k357_w1.2": ("ofa_mbv3", 1.2),
    "ofa_proxyless_d234_e346_k357_w1.3": ("ofa_pn", 1.3),
}


def die(msg, status=2):
    sys.stderr.write(f"ofa_reference.py: {msg}\n")
    sys.exit(status)


def cost_reference():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ofa_cost_reference

    return ofa_cost_reference


def build_supernet(net_id):
    space, width = NETS[net_id]
    return cost_reference().build_supernet(space, width)


def randomise(net, seed):
    """Draws every floating-point parameter and buffer of net (see the
    header); fails if one was left untouched."""
    import torch
    import torch.nn as nn

    g = torch.Generator().manual_seed(seed)
    done = set()

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    with torch.no_grad():
        for mname, m in net.named_modules():
            pre = mname + "." if mname else ""
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                if mname.endswith(".point_linear.conv.conv"):  # elastic: balanced at e = 4
                    fan_in = fan_in * 4 / 6
                normal(m.weight, math.sqrt(2.0 / fan_in))
                done.add(pre + "weight")
                if m.bias is not None:
                    normal(m.bias, 0.1)
                    done.add(pre + "bias")
            elif isinstance(m, nn.Linear):
                normal(m.weight, math.sqrt(2.0 / m.in_features))
                done.add(pre + "weight")
                if m.bias is not None:
                    normal(m.bias, 0.1)
                    done.add(pre + "bias")
            elif isinstance(m, nn.BatchNorm2d):
                uniform(m.weight, 0.5, 1.5)
                normal(m.bias, 0.1)
                normal(m.running_mean, 0.1)
                uniform(m.running_var, 0.5, 2.0)
                done.update(pre + n for n in ("weight", "bias", "running_mean", "running_var"))
            for pname, p in m.named_parameters(recurse=False):
                match = re.fullmatch(r"(\d+)to(\d+)_matrix", pname)
                if match:  # 7to5_matrix, 5to3_matrix: variance-preserving
                    gain = int(match.group(1)) / int(match.group(2))
                    eye = torch.eye(p.shape[0])
                    p.copy_(gain * (eye + torch.randn(p.shape, generator=g) * 0.05))
                    done.add(pre + pname)
    for key, t in net.state_dict().items():
        if t.is_floating_point() and key not in done:
            die(f"randomise: {key} was not drawn (unknown module kind)", 1)


def load_supernet(pth, net_id):
    import torch

    net = build_supernet(net_id)
    obj = torch.load(pth, map_location="cpu")
    sd = obj["state_dict"] if "state_dict" in obj else obj
    net.load_state_dict(sd)  # OFA's own: accepts the legacy naming
    return net


def read_archs(path, net_id, single=False):
    space = NETS[net_id][0]
    archs = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                arch = json.loads(line)
            except ValueError as e:
                die(f"{path}:{n}: not JSON ({e})")
            if arch.get("space") != space:
                die(f"{path}:{n}: space {arch.get('space')!r}, but {net_id} is {space}")
            archs.append(arch)
    if not archs:
        die(f"{path}: no architectures")
    if single and len(archs) != 1:
        die(f"{path}: expected one architecture, found {len(archs)}")
    return archs


def splice(net, net_id, arch, preserve_weight=True):
    ks, es, ds = cost_reference().arch_to_subnet_args(NETS[net_id][0], arch)
    net.set_active_subnet(ks=ks, e=es, d=ds)
    subnet = net.get_active_subnet(preserve_weight=preserve_weight)
    subnet.eval()
    return subnet


def read_input(path, resolution):
    """The (N, 3, R, R) float32 batch: dataset `input`, or an
    autobuild-imageset's /r<R>/images normalised."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        if "input" in f:
            x = f["input"][...].astype(np.float32)
            if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
                die(f"{path}: input has shape {x.shape}, expected (N, 3, R, R)")
            if x.shape[2] != resolution:
                die(f"{path}: input resolution {x.shape[2]} differs from the "
                    f"architecture's {resolution}")
            return x
        if f.attrs.get("format") == "autobuild-imageset":
            key = f"r{resolution}/images"
            if key not in f:
                die(f"{path}: no /{key} for the architecture's resolution {resolution}")
            u8 = f[key][...]
            mean = np.asarray(f.attrs["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
            std = np.asarray(f.attrs["std"], dtype=np.float32).reshape(1, 3, 1, 1)
            x = u8.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
            return ((x - mean) / std).astype(np.float32)
    die(f"{path}: no dataset 'input' and not an autobuild-imageset")


def write_h5(path, fill):
    import h5py

    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def bn_calibrate_largest(net, n_images, seed):
    """Replaces the random BN statistics by those of the largest subnet on
    N(0, 1) images at 224 (OFA's set_running_statistics on the supernet, 4
    images per batch), so that activations stay O(1) in every subnet and
    float32 rounding is not amplified through 20 blocks."""
    import torch
    from ofa.imagenet_classification.elastic_nn.utils import set_running_statistics

    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n_images, 3, 224, 224, generator=g)
    net.set_max_net()
    net.eval()
    set_running_statistics(net, [(x[i:i + 4], None) for i in range(0, n_images, 4)])


def cmd_make_supernet(a):
    import torch

    net = build_supernet(a.net)
    randomise(net, a.seed)
    if a.bn_images > 0:
        bn_calibrate_largest(net, a.bn_images, a.seed)
    sd = net.state_dict()
    if a.legacy:
        sd = {re.sub(r"^blocks\.(\d+)\.conv\.", r"blocks.\1.mobile_inverted_conv.", k): v
              for k, v in sd.items()}
    tmp = f"{a.out}.tmp-{os.getpid()}"
    try:
        torch.save({"state_dict": sd}, tmp, _use_new_zipfile_serialization=not a.legacy)
        os.replace(tmp, a.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_make_input(a):
    import numpy as np

    rng = np.random.default_rng(a.seed)
    x = rng.standard_normal((a.n, 3, a.resolution, a.resolution), dtype=np.float32)

    def fill(f):
        f.create_dataset("input", data=x)
        f.attrs["seed"] = np.int64(a.seed)

    write_h5(a.out, fill)


def cmd_logits(a):
    import h5py
    import torch

    net = load_supernet(a.pth, a.net)
    archs = read_archs(a.arch, a.net)
    outs = []
    for arch in archs:
        x = torch.from_numpy(read_input(a.input, arch["resolution"]))
        subnet = splice(net, a.net, arch)
        with torch.no_grad():
            outs.append(subnet(x).numpy())

    def fill(f):
        s = h5py.string_dtype()
        f.attrs.create("net_id", a.net, dtype=s)
        for i, (arch, y) in enumerate(zip(archs, outs)):
            d = f.create_dataset(f"logits_{i}", data=y)
            d.attrs.create("arch", json.dumps(arch, separators=(",", ":")), dtype=s)

    write_h5(a.out, fill)


def cmd_calib(a):
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    from ofa.imagenet_classification.elastic_nn.utils import set_running_statistics

    net = load_supernet(a.pth, a.net)
    arch = read_archs(a.arch, a.net, single=True)[0]
    x = torch.from_numpy(read_input(a.input, arch["resolution"]))
    subnet = splice(net, a.net, arch)
    loader = [(x[i:i + a.batch], torch.zeros(len(x[i:i + a.batch]), dtype=torch.long))
              for i in range(0, len(x), a.batch)]
    set_running_statistics(subnet, loader)
    subnet.eval()
    with torch.no_grad():
        logits = subnet(x).numpy()
    bns = [(n, m) for n, m in subnet.named_modules() if isinstance(m, nn.BatchNorm2d)]

    def fill(f):
        s = h5py.string_dtype()
        f.attrs.create("net_id", a.net, dtype=s)
        f.attrs.create("arch", json.dumps(arch, separators=(",", ":")), dtype=s)
        f.attrs["batch"] = np.int64(a.batch)
        f.create_dataset("bn_order", data=[n for n, _ in bns], dtype=s)
        for n, m in bns:
            f.create_dataset(n + ".running_mean", data=m.running_mean.numpy())
            f.create_dataset(n + ".running_var", data=m.running_var.numpy())
        f.create_dataset("logits", data=logits)

    write_h5(a.out, fill)


def cmd_flops(a):
    from ofa.utils import count_parameters

    net = build_supernet(a.net)
    for arch in read_archs(a.arch, a.net):
        subnet = splice(net, a.net, arch, preserve_weight=False)
        row = {"arch": arch, "net": a.net,
               "macs": cost_reference().exact_macs(subnet, arch["resolution"]),
               "params": int(count_parameters(subnet))}
        print(json.dumps(row, separators=(",", ":")), flush=True)


def cmd_torch_latency(a):
    import torch

    torch.set_num_threads(a.threads)
    net = build_supernet(a.net)
    for arch in read_archs(a.arch, a.net):
        r = a.resolution or arch["resolution"]
        subnet = splice(net, a.net, arch, preserve_weight=False)
        x = torch.randn(1, 3, r, r)
        times = []
        with torch.no_grad():
            for i in range(a.warmup + a.runs):
                t0 = time.perf_counter()
                subnet(x)
                if i >= a.warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        row = {"arch": arch, "net": a.net, "threads": a.threads, "resolution": r,
               "median_ms": statistics.median(times), "runs": a.runs}
        print(json.dumps(row, separators=(",", ":")), flush=True)


def cmd_check_imageset(a):
    import h5py
    import numpy as np
    from torchvision import datasets, transforms

    with h5py.File(a.h5, "r") as f:
        labels = f["labels"][...]
        files = [s.decode() if isinstance(s, bytes) else s for s in f["files"][...]]
        resolutions = [int(r) for r in f.attrs["resolutions"]]
        ds = datasets.ImageFolder(a.dir)
        index = {os.path.relpath(p, a.dir): (p, y) for p, y in ds.samples}
        if str(f.attrs["selection"]).startswith("all") and files != list(index):
            die(f"{a.h5}: holds {len(files)} files, not ImageFolder's {len(index)} in its order", 1)
        for i, rel in enumerate(files):
            path, y = index[rel]
            if y != labels[i]:
                die(f"{rel}: label {labels[i]}, ImageFolder says {y}", 1)
            img = ds.loader(path)
            for r in resolutions:
                t = transforms.Compose([transforms.Resize(int(math.ceil(r / 0.875))),
                                        transforms.CenterCrop(r)])
                want = np.asarray(t(img))
                got = f[f"r{r}/images"][i]
                if want.shape != got.shape or not np.array_equal(want, got):
                    diff = int(np.abs(want.astype(int) - got.astype(int)).max()) \
                        if want.shape == got.shape else -1
                    die(f"{rel} at {r}: pixels differ from torchvision (max |diff| {diff})", 1)
    print(f"{a.h5}: {len(files)} images x {len(resolutions)} resolutions identical to "
          f"torchvision ImageFolder + Resize + CenterCrop")


def main():
    ap = argparse.ArgumentParser(
        description="Reference outputs of OFA subnets from the once-for-all code "
                    "(see the header of this file)")
    ap.add_argument("--ofa-src", default="/tmp/ofa_src",
                    help="unpacked mit-han-lab/once-for-all snapshot")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def net_arg(p):
        p.add_argument("--net", required=True, choices=list(NETS))

    p = sub.add_parser("make-supernet", help="random supernet checkpoint")
    net_arg(p)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--legacy", action="store_true",
                   help="mobile_inverted_conv naming, legacy torch serialization")
    p.add_argument("--bn-images", type=int, default=16,
                   help="calibrate the BN statistics on this many N(0,1) images with "
                        "the largest subnet (0: keep the random statistics)")
    p = sub.add_parser("make-input", help="random input batch")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--resolution", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("logits", help="logits of spliced subnets")
    p.add_argument("--pth", required=True)
    net_arg(p)
    p.add_argument("--arch", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("calib", help="BN statistics recalibration of one subnet")
    p.add_argument("--pth", required=True)
    net_arg(p)
    p.add_argument("--arch", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("flops", help="exact MACs and parameters")
    net_arg(p)
    p.add_argument("--arch", required=True)
    p = sub.add_parser("torch-latency", help="PyTorch CPU latency")
    net_arg(p)
    p.add_argument("--arch", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--resolution", type=int, default=None,
                   help="input resolution (default: the architecture's)")
    p = sub.add_parser("check-imageset", help="compare an imageset with torchvision")
    p.add_argument("--dir", required=True)
    p.add_argument("--h5", required=True)
    a = ap.parse_args()
    for key in ("n", "batch", "threads", "runs"):
        if getattr(a, key, 1) < 1:
            die(f"--{key} must be at least 1")
    sys.path.insert(0, a.ofa_src)
    {"make-supernet": cmd_make_supernet, "make-input": cmd_make_input, "logits": cmd_logits,
     "calib": cmd_calib, "flops": cmd_flops, "torch-latency": cmd_torch_latency,
     "check-imageset": cmd_check_imageset}[a.cmd](a)


if __name__ == "__main__":
    main()
