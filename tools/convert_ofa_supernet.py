#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the converter from the Once-for-All supernets that
# mit-han-lab released (ofa_mbv3_d234_e346_k357_w1.0 / _w1.2 and
# ofa_proxyless_d234_e346_k357_w1.3: a torch.save'd {'state_dict': ...}, or
# a bare state dict) to our `autobuild-ofa-supernet` HDF5 file
# (hdf5-schemas/ofa-supernet.md), which the OFA worker reads to splice and
# run subnets.
#
# The expected parameters are derived here from the network definition (the
# widths by OFA's make_divisible, the block layout per family and width) and
# the state dict is checked key by key and shape by shape against them; both
# OFA's current parameter naming (`blocks.N.conv.*`) and the older one of the
# released files (`blocks.N.mobile_inverted_conv.*`) are accepted, and names
# are kept exactly as the input has them. Every floating-point entry is
# written as a float32 dataset under /params (bit-identical for float32
# input); the integer `num_batches_tracked` counters are dropped.
#
# Needs Debian's python3-torch, python3-h5py and python3-numpy; run it with
# /usr/bin/python3. It does not need the once-for-all code. Errors are one
# line on stderr with exit status 2 (bad input) or 1 (anything else); the
# output is written under a temporary name and renamed, so it never exists
# half-written.
import argparse
import math
import os
import re
import sys

PROG = "convert_ofa_supernet.py"
USAGE = f"{PROG} IN.pth OUT.h5 --net NET_ID [--eps E] [--trust-pickle]"
DESCRIPTION = """\
Converts a Once-for-All supernet checkpoint IN.pth (the file that OFA's
model_zoo.ofa_net(NET_ID) downloads: torch.save({'state_dict': ...}), zip or
legacy serialization; a bare state dict is accepted too) into an
autobuild-ofa-supernet file OUT.h5 (hdf5-schemas/ofa-supernet.md).

NET_ID is one of:
  ofa_mbv3_d234_e346_k357_w1.0       OFA-MobileNetV3, width 1.0 (space ofa_mbv3)
  ofa_mbv3_d234_e346_k357_w1.2       OFA-MobileNetV3, width 1.2 (space ofa_mbv3)
  ofa_proxyless_d234_e346_k357_w1.3  OFA-ProxylessNAS, width 1.3 (space ofa_pn)

Every parameter is checked by name and shape against the network NET_ID
describes; a file of another family or width is refused, naming the first
key that differs and the --net that fits the file.

Example:
  /usr/bin/python3 tools/convert_ofa_supernet.py \\
      ~/.torch/ofa_nets/ofa_mbv3_d234_e346_k357_w1.2 ofa_mbv3_w12.h5 \\
      --net ofa_mbv3_d234_e346_k357_w1.2

Exit status: 0 done, 2 bad input (missing file, not a state dict of this
network, unknown NET_ID), 1 other failures."""
EPILOG = """\
BatchNorm epsilon: OFA builds these supernets with bn_param (momentum 0.1,
eps 1e-5) for MobileNetV3 and (0.1, 1e-3) for ProxylessNAS; the file records
it as bn_eps. --eps overrides it (only for a supernet trained otherwise).

--trust-pickle: the file is read with torch.load(weights_only=True), which
refuses Python objects other than tensors and plain containers. A checkpoint
that also pickled such objects (an optimizer, numpy scalars) is refused;
with this flag it is unpickled fully, which can run code from the file: use
it only for files from a source you trust."""

# NET_ID -> (family, space, width multiplier)
NETS = {
    "ofa_mbv3_d234_e346_k357_w1.0": ("mbv3", "ofa_mbv3", 1.0),
    "ofa_mbv3_d234_e346_k357_w1.2": ("mbv3", "ofa_mbv3", 1.2),
    "ofa_proxyless_d234_e346_k357_w1.3": ("proxyless", "ofa_pn", 1.3),
}
KS_LIST = [3, 5, 7]
EXPAND_LIST = [3, 4, 6]
DEPTH_LIST = [2, 3, 4]
BN_EPS = {"mbv3": 1e-5, "proxyless": 1e-3}
BN_MOMENTUM = 0.1
SE_REDUCTION = 4
BN_BUFFERS = ("weight", "bias", "running_mean", "running_var")
LEGACY_RE = re.compile(r"^blocks\.(\d+)\.mobile_inverted_conv\.")
CURRENT_RE = re.compile(r"^blocks\.(\d+)\.conv\.")


class InputError(Exception):
    pass


class Failure(Exception):
    """Anything that is not the input's fault (exit status 1)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{message} (usage: {USAGE}; see --help)")


def make_divisible(v, divisor=8):
    """OFA's make_divisible (ofa/utils/pytorch_modules.py), min_val = divisor."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def bn(prefix, c, dynamic):
    """(key, shape, optional) of one BatchNorm2d; DynamicBatchNorm2d wraps
    it as `.bn.bn.`."""
    p = f"{prefix}.bn.bn" if dynamic else f"{prefix}.bn"
    rows = [(f"{p}.{b}", (c,), False) for b in BN_BUFFERS]
    rows.append((f"{p}.num_batches_tracked", (), True))
    return rows


def static_conv_layer(prefix, cin, cout, k, with_bn=True):
    """ofa.utils.layers.ConvLayer (no bias): conv.weight, then bn.*."""
    rows = [(f"{prefix}.conv.weight", (cout, cin, k, k), False)]
    return rows + (bn(prefix, cout, False) if with_bn else [])


def first_block(cin, cout):
    """The static MBConvLayer with expand ratio 1 (no inverted bottleneck)."""
    p = "blocks.0.conv"
    rows = [(f"{p}.depth_conv.conv.weight", (cin, 1, 3, 3), False)]
    rows += bn(f"{p}.depth_conv", cin, False)
    rows.append((f"{p}.point_linear.conv.weight", (cout, cin, 1, 1), False))
    return rows + bn(f"{p}.point_linear", cout, False)


def elastic_block(index, cin, cout, use_se):
    """DynamicMBConvLayer at its largest setting: expand 6, kernel 7, and
    the kernel transform matrices for 7 -> 5 -> 3."""
    p = f"blocks.{index}.conv"
    mid = make_divisible(round(cin * max(EXPAND_LIST)))
    k = max(KS_LIST)
    rows = [(f"{p}.inverted_bottleneck.conv.conv.weight", (mid, cin, 1, 1), False)]
    rows += bn(f"{p}.inverted_bottleneck", mid, True)
    rows += [(f"{p}.depth_conv.conv.5to3_matrix", (9, 9), False),
             (f"{p}.depth_conv.conv.7to5_matrix", (25, 25), False),
             (f"{p}.depth_conv.conv.conv.weight", (mid, 1, k, k), False)]
    rows += bn(f"{p}.depth_conv", mid, True)
    if use_se:
        se = make_divisible(mid // SE_REDUCTION)
        rows += [(f"{p}.depth_conv.se.fc.reduce.weight", (se, mid, 1, 1), False),
                 (f"{p}.depth_conv.se.fc.reduce.bias", (se,), False),
                 (f"{p}.depth_conv.se.fc.expand.weight", (mid, se, 1, 1), False),
                 (f"{p}.depth_conv.se.fc.expand.bias", (mid,), False)]
    rows.append((f"{p}.point_linear.conv.conv.weight", (cout, mid, 1, 1), False))
    return rows + bn(f"{p}.point_linear", cout, True)


def elastic_stages(cin, widths, n_blocks, se_flags):
    rows, index = [], 1
    for width, n, se in zip(widths, n_blocks, se_flags):
        for _ in range(n):
            rows += elastic_block(index, cin, width, se)
            cin, index = width, index + 1
    return rows, cin


def expected_mbv3(w, n_classes):
    """OFAMobileNetV3 (ofa/.../networks/ofa_mbv3.py), in state-dict order."""
    base = [16, 16, 24, 40, 80, 112, 160, 960, 1280]
    widths = [make_divisible(b * w) for b in base[:-2]]
    final_expand, last = make_divisible(base[-2] * w), make_divisible(base[-1] * w)
    rows = static_conv_layer("first_conv", 3, widths[0], 3)
    rows += first_block(widths[0], widths[1])
    se = [False, True, False, True, True]  # the 5 elastic stages
    blocks, cin = elastic_stages(widths[1], widths[2:], [max(DEPTH_LIST)] * 5, se)
    rows += blocks
    rows += static_conv_layer("final_expand_layer", cin, final_expand, 1)
    rows += static_conv_layer("feature_mix_layer", final_expand, last, 1, with_bn=False)
    return rows + [("classifier.linear.weight", (n_classes, last), False),
                   ("classifier.linear.bias", (n_classes,), False)]


def expected_proxyless(w, n_classes):
    """OFAProxylessNASNets (ofa/.../networks/ofa_proxyless.py), in state-dict
    order."""
    base = [32, 16, 24, 40, 80, 96, 192, 320, 1280]
    first, first_block_width = make_divisible(base[0] * w), make_divisible(base[1] * w)
    last = make_divisible(base[-1] * w)
    widths = [make_divisible(b * w) for b in base[2:-1]]
    rows = static_conv_layer("first_conv", 3, first, 3)
    rows += first_block(first, first_block_width)
    n_blocks = [max(DEPTH_LIST)] * 5 + [1]
    blocks, cin = elastic_stages(first_block_width, widths, n_blocks, [False] * 6)
    rows += blocks
    rows += static_conv_layer("feature_mix_layer", cin, last, 1)
    return rows + [("classifier.linear.weight", (n_classes, last), False),
                   ("classifier.linear.bias", (n_classes,), False)]


def expected(net_id, n_classes):
    family, _, w = NETS[net_id]
    if family == "mbv3":
        return expected_mbv3(w, n_classes)
    return expected_proxyless(w, n_classes)


def to_legacy(key):
    return CURRENT_RE.sub(r"blocks.\1.mobile_inverted_conv.", key)


def read_state_dict(path, torch, trust):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # torch raises many kinds for non-checkpoints
        msg = " ".join(str(e).split()) or type(e).__name__
        hint = ""
        if "WeightsUnpickler error:" in msg:  # torch's advice to unpickle anyway: drop it
            msg = msg.split("WeightsUnpickler error:", 1)[1].strip()
            if msg.startswith("Unsupported"):
                hint = "; if you trust the file, --trust-pickle reads it fully"
        if len(msg) < 16:  # e.g. a KeyError of pickle's opcode table
            msg = f"{type(e).__name__} {msg}"
        raise InputError(f"{path}: not a PyTorch checkpoint ({msg[:160]}){hint}")
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise InputError(f"{path}: not a state dict (expected {{'state_dict': {{name: tensor}}}} "
                         f"or a dict of tensors)")
    return obj


def detect_naming(sd, path):
    legacy = [k for k in sd if LEGACY_RE.match(k)]
    current = [k for k in sd if CURRENT_RE.match(k)]
    if legacy and current:
        raise InputError(f"{path}: mixes the legacy naming ('{legacy[0]}') with the current "
                         f"one ('{current[0]}'); expected one of them throughout")
    return "legacy" if legacy else "current"


def n_classes_of(sd):
    for key in ("classifier.linear.weight",):
        t = sd.get(key)
        if t is not None and t.dim() == 2 and t.shape[0] > 0:
            return int(t.shape[0])
    return 1000


def first_mismatch(sd, net_id, naming, n_classes):
    """None if sd is exactly the state dict of net_id (optional entries may
    be absent), else a phrase naming the first difference."""
    rows = expected(net_id, n_classes)
    names = set()
    for key, shape, optional in rows:
        if naming == "legacy":
            key = to_legacy(key)
        names.add(key)
        if key not in sd:
            if optional:
                continue
            return f"missing key '{key}' (expected shape {shape})"
        got = tuple(sd[key].shape)
        if got != shape:
            return f"'{key}' has shape {got}, expected {shape}"
    for key in sd:
        if key not in names:
            return f"unexpected key '{key}' (shape {tuple(sd[key].shape)})"
    return None


def check_state_dict(sd, path, net_id, torch):
    """Returns (naming, n_classes, [(key, float32 array)] in file order);
    InputError on a missing, unexpected, mis-shaped or non-finite entry."""
    naming = detect_naming(sd, path)
    n_classes = n_classes_of(sd)
    diff = first_mismatch(sd, net_id, naming, n_classes)
    if diff is not None:
        fits = [n for n in NETS if n != net_id and first_mismatch(sd, n, naming, n_classes) is None]
        if fits:
            advice = f"the file is a {fits[0]} supernet: use --net {fits[0]}"
        elif all(k.startswith("module.") for k in sd):
            advice = "its keys start with 'module.' (a DataParallel state dict): strip that prefix"
        else:
            advice = "not an OFA supernet of any supported NET_ID (see --help)"
        raise InputError(f"{path}: not the state dict of {net_id}: {diff}; {advice}")
    out = []
    for key, t in sd.items():
        if key.endswith(".num_batches_tracked"):
            if t.is_floating_point() or t.is_complex():
                raise InputError(f"{path}: '{key}' is {t.dtype}, expected an integer counter")
            continue
        if not t.is_floating_point():
            raise InputError(f"{path}: '{key}' is {t.dtype}, expected floating point")
        a = t.detach().cpu().contiguous().float().numpy()
        if not (abs(a) < float("inf")).all():
            raise InputError(f"{path}: '{key}' holds NaN or infinite values")
        out.append((key, a))
    return naming, n_classes, out


def write_supernet(out_path, attrs, params, np, h5py):
    tmp = f"{out_path}.tmp-{os.getpid()}"
    s = h5py.string_dtype()
    try:
        with h5py.File(tmp, "w") as f:
            for key, val in attrs:
                if isinstance(val, str):
                    f.attrs.create(key, val, dtype=s)
                elif isinstance(val, list):
                    f.attrs.create(key, np.array(val, dtype=np.int64))
                elif isinstance(val, int):
                    f.attrs.create(key, np.int64(val))
                else:
                    f.attrs.create(key, np.float64(val))
            g = f.create_group("params", track_order=True)
            for key, a in params:
                g.create_dataset(key, data=a, dtype=np.float32)
        os.replace(tmp, out_path)
    except OSError as e:
        raise Failure(f"{out_path}: cannot write ({e})")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv):
    ap = Parser(prog=PROG, usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth", metavar="IN.pth", help="OFA supernet checkpoint (torch.save)")
    ap.add_argument("out", metavar="OUT.h5", help="autobuild-ofa-supernet file to write")
    ap.add_argument("--net", required=True, metavar="NET_ID",
                    help="which supernet IN.pth holds: " + ", ".join(NETS))
    ap.add_argument("--eps", type=float, default=None, metavar="E",
                    help="BatchNorm epsilon to record (default: 1e-5 MBv3, 1e-3 ProxylessNAS)")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="unpickle IN.pth fully (runs code from the file; see below)")
    a = ap.parse_args(argv)
    if a.net not in NETS:
        raise InputError(f"--net: unknown NET_ID '{a.net}' (known: {', '.join(NETS)})")
    if a.eps is not None and not (a.eps > 0 and math.isfinite(a.eps)):
        raise InputError(f"--eps: must be a positive number, not {a.eps}")
    if not os.path.isfile(a.pth):
        raise InputError(f"{a.pth}: no such file")
    out_dir = os.path.dirname(os.path.abspath(a.out))
    if not os.path.isdir(out_dir):
        raise InputError(f"{a.out}: folder {out_dir} does not exist")
    try:
        import h5py
        import numpy as np
        import torch
    except ImportError as e:
        sys.stderr.write(f"{PROG}: needs python3-torch, python3-h5py and python3-numpy "
                         f"(run it with /usr/bin/python3): {e}\n")
        return 1
    sd = read_state_dict(a.pth, torch, a.trust_pickle)
    naming, n_classes, params = check_state_dict(sd, a.pth, a.net, torch)
    family, space, width = NETS[a.net]
    attrs = [("format", "autobuild-ofa-supernet"), ("format_version", 1),
             ("created_by", "tools/" + PROG), ("net_id", a.net), ("family", family),
             ("space", space), ("width_mult", float(width)), ("ks_list", KS_LIST),
             ("expand_ratio_list", EXPAND_LIST), ("depth_list", DEPTH_LIST),
             ("n_classes", n_classes),
             ("bn_eps", float(BN_EPS[family] if a.eps is None else a.eps)),
             ("bn_momentum", BN_MOMENTUM), ("naming", naming),
             ("source", os.path.basename(a.pth))]
    write_supernet(a.out, attrs, params, np, h5py)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(2)
    except Failure as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(1)
