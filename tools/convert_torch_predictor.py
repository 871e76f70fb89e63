#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the converter from the AutoBuild authors' PyTorch
# predictors (a state dict `*_predictor.pt` plus its `*_config.pkl`, as
# written by their train_predictor.py; e.g. the pretrained latency and
# accuracy predictors in ../shared/data/autobuild-l1/) to our
# `autobuild-predictor` HDF5 checkpoint (hdf5-schemas/predictor.md), which
# `autobuild predict`, `explain`, module scoring and the predictor evaluator
# read.
#
# Every parameter and BatchNorm buffer is written under /weights with its
# state-dict key (float32); the unused `encoder.init_ff.*` layer and the
# `num_batches_tracked` counters are dropped. mlp_moments become
# label_mean/label_std, hop_moments /hop_moments, embed_layer.moment_tsr
# /stage_moments, test_metrics the /test attributes (mae, mape, test_srcc;
# epochs = -1; the per-hop test SRCC is unknown and written as NaN).
#
# Needs Debian's python3-torch, python3-h5py and python3-numpy; run it with
# /usr/bin/python3. Errors are one line on stderr with exit status 2 (bad
# input) or 1 (anything else); the output is written under a temporary name
# and renamed, so it never exists half-written.
import argparse
import os
import pickle
import sys

PROG = "convert_torch_predictor.py"
USAGE = f"{PROG} IN.pt CONFIG.pkl OUT.h5"
DESCRIPTION = """\
Converts an AutoBuild authors' PyTorch predictor (state dict IN.pt and the
config pickle CONFIG.pkl that train_predictor.py saved next to it) into an
autobuild-predictor checkpoint OUT.h5 (hdf5-schemas/predictor.md).

Supported: the authors' custom OFA encoding (families ofa_mbv3... -> space
ofa_mbv3, ofa_pn... -> space ofa_pn), GraphConv or GATv2Conv layers, ReLU or
LeakyReLU (slope 0.01) activations, mean or sum pooling. The state dict is
checked key by key and shape by shape against the model the config describes.

Example:
  /usr/bin/python3 tools/convert_torch_predictor.py \\
      ../shared/data/autobuild-l1/minMAE_ofa_mbv3_latency_gpu_custom_latency_gpu_GraphConv_sum_directed_srcc1_predictor.pt \\
      ../shared/data/autobuild-l1/minMAE_ofa_mbv3_latency_gpu_custom_latency_gpu_GraphConv_sum_directed_srcc1_config.pkl \\
      mbv3_gpu.h5
  autobuild predict --predictor mbv3_gpu.h5 --archs archs.jsonl

Exit status: 0 done, 2 bad input (missing file, not a state dict of this
model, unknown family or setting), 1 other failures."""

# Families (config "families" prefixes) -> space, and per space the number of
# search units and the most nodes a unit can have (shape of moment_tsr).
FAMILIES = [("ofa_mbv3", "ofa_mbv3", 5, 4), ("ofa_pn", "ofa_pn", 5, 5)]
# FE-MLP of the authors' MobileNetNodeEmbedding: (name, cardinality, size);
# the numeric resolution goes through res_mlp (Linear(1,3), Linear(3,1)).
CATEGORICAL = [("stage", 6, 3), ("block", 4, 2), ("mbconv", 2, 2), ("exp", 3, 2), ("kernel", 3, 3)]
N_FEATURES = 6
ACTIVATIONS = {"ReLU": ("relu", 0.0), "LeakyReLU": ("leaky_relu", 0.01)}


class InputError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{message} (usage: {USAGE}; see --help)")


class PlainUnpickler(pickle.Unpickler):
    """The config is vars(argparse.Namespace): plain values only; refuse
    anything that would import and run code."""

    def find_class(self, module, name):
        raise InputError(f"holds a Python object ({module}.{name}); expected a plain dict "
                         f"of settings")


def read_config(path):
    try:
        with open(path, "rb") as fh:
            cfg = PlainUnpickler(fh).load()
    except InputError as e:
        raise InputError(f"{path}: {e}")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise InputError(f"{path}: not a config pickle ({e})")
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: not a config pickle (a {type(cfg).__name__}, expected a dict)")
    return cfg


def model_from_config(cfg, path):
    """Our /config fields, the space, and the moment_tsr shape from the
    authors' settings (defaults as their make_predictor())."""
    fam = cfg.get("families")
    if not isinstance(fam, str):
        raise InputError(f"{path}: no 'families' setting")
    match = [f for f in FAMILIES if fam.startswith(f[0])]
    if not match:
        raise InputError(f"{path}: unknown family '{fam}' (known: ofa_mbv3..., ofa_pn...)")
    _, space, units, hmax = match[0]
    fmt = cfg.get("format", "custom")
    if fmt != "custom":
        raise InputError(f"{path}: format '{fmt}' is not supported (only the custom OFA encoding)")
    if not isinstance(cfg.get("target"), str) or not cfg["target"]:
        raise InputError(f"{path}: no 'target' setting")
    gnn_type = cfg.get("gnn_type", "GraphConv")
    if gnn_type not in ("GraphConv", "GATv2Conv"):
        raise InputError(f"{path}: gnn_type '{gnn_type}' is not supported (GraphConv, GATv2Conv)")
    acts = []
    for key in ("gnn_activ", "reg_activ"):
        name = cfg.get(key, "ReLU")
        if name not in ACTIVATIONS:
            raise InputError(f"{path}: {key} '{name}' is not supported (ReLU, LeakyReLU)")
        acts.append(ACTIVATIONS[name])
    aggr = cfg.get("aggr_method", "mean")
    if aggr not in ("mean", "sum"):
        raise InputError(f"{path}: aggr_method '{aggr}' is not supported (mean, sum)")
    ints = {}
    for key, default in (("gnn_dim", 128), ("num_layers", 4), ("norm", 1)):
        v = cfg.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{path}: {key} must be a positive integer, not {v!r}")
        ints[key] = v
    lam = cfg.get("corr_lambda", 1.0)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)):
        raise InputError(f"{path}: corr_lambda must be a number, not {lam!r}")
    ours = {"gnn_type": gnn_type, "hidden": ints["gnn_dim"], "layers": ints["num_layers"],
            "gnn_activ": acts[0][0], "gnn_activ_slope": acts[0][1],
            "reg_activ": acts[1][0], "reg_activ_slope": acts[1][1], "aggr": aggr,
            "residual": int(bool(cfg.get("residual", False))), "norm_ord": ints["norm"],
            "lambda": float(lam), "softrank_strength": 1.0}
    return space, ours, (units, hmax, 2)


def expected_shapes(c, moments_shape):
    """State-dict key -> shape of the authors' GraphPredictor with config c."""
    h, layers = c["hidden"], c["layers"]
    w = {}
    for name, card, dim in CATEGORICAL:
        w[f"embed_layer.{name}_embed.weight"] = (card, dim)
        w[f"embed_layer.{name}_mlp.weight"] = (1, dim)
        w[f"embed_layer.{name}_mlp.bias"] = (1,)
    w.update({"embed_layer.res_mlp.0.weight": (3, 1), "embed_layer.res_mlp.0.bias": (3,),
              "embed_layer.res_mlp.1.weight": (1, 3), "embed_layer.res_mlp.1.bias": (1,)})
    for i in range(layers):
        cin, p = N_FEATURES if i == 0 else h, f"encoder.gnn_layers.{i}"
        if c["gnn_type"] == "GraphConv":
            w.update({f"{p}.lin_rel.weight": (h, cin), f"{p}.lin_rel.bias": (h,),
                      f"{p}.lin_root.weight": (h, cin)})
        else:
            w.update({f"{p}.lin_l.weight": (h, cin), f"{p}.lin_l.bias": (h,),
                      f"{p}.lin_r.weight": (h, cin), f"{p}.lin_r.bias": (h,),
                      f"{p}.att": (1, 1, h), f"{p}.bias": (h,)})
    for i in range(layers):
        for b in ("weight", "bias", "running_mean", "running_var"):
            w[f"encoder.bns.{i}.module.{b}"] = (h,)
    for k in (0, 1, 3, 4):
        w[f"post_proj.{k}.weight"] = (h, h)
        w[f"post_proj.{k}.bias"] = (h,)
    w.update({"regressor.weight": (1, h), "regressor.bias": (1,)})
    extras = {"mlp_moments": (2,), "hop_moments": (2, layers + 1), "test_metrics": (3,),
              "embed_layer.moment_tsr": moments_shape}
    optional = {"encoder.init_ff.weight": (N_FEATURES, 2 * N_FEATURES),
                "encoder.init_ff.bias": (N_FEATURES,)}
    for i in range(layers):
        optional[f"encoder.bns.{i}.module.num_batches_tracked"] = ()
    return w, extras, optional


def read_state_dict(path, torch):
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for non-checkpoints
        msg = " ".join(str(e).split()) or type(e).__name__
        if "WeightsUnpickler error:" in msg:  # torch's advice to unpickle anyway: drop it
            msg = msg.split("WeightsUnpickler error:", 1)[1].strip()
        raise InputError(f"{path}: not a PyTorch state dict file ({msg[:160]})")
    if not isinstance(sd, dict) or not sd or not all(torch.is_tensor(v) for v in sd.values()):
        raise InputError(f"{path}: not a state dict (expected a dict of tensors)")
    return sd


def check_state_dict(sd, path, c, moments_shape, torch):
    """Returns {key: float64 numpy array} for weights and extras; InputError on
    a missing, unexpected, mis-shaped or non-finite entry."""
    w, extras, optional = expected_shapes(c, moments_shape)
    model = (f"{c['gnn_type']}, hidden {c['hidden']}, {c['layers']} layers, as the config says")
    for key, shape in {**w, **extras}.items():
        if key not in sd:
            raise InputError(f"{path}: missing key '{key}': not a state dict of this model ({model})")
    for key in sd:
        if key not in w and key not in extras and key not in optional:
            raise InputError(f"{path}: unexpected key '{key}': not a state dict of this model ({model})")
    out = {}
    for key, shape in {**w, **extras, **optional}.items():
        if key not in sd:
            continue
        t = sd[key]
        if tuple(t.shape) != shape:
            raise InputError(f"{path}: '{key}' has shape {tuple(t.shape)}, expected {shape} ({model})")
        if key in optional:
            continue
        if not t.is_floating_point():
            raise InputError(f"{path}: '{key}' is {t.dtype}, expected floating point")
        a = t.detach().cpu().double().numpy()
        if not (abs(a) < float("inf")).all():
            raise InputError(f"{path}: '{key}' holds NaN or infinite values")
        out[key] = a
    return w, out


def write_checkpoint(out_path, space, cfg, c, names, arrays, np, h5py):
    tmp = f"{out_path}.tmp-{os.getpid()}"
    s = h5py.string_dtype()
    mm, tm = arrays["mlp_moments"], arrays["test_metrics"]
    if not mm[1] > 0:
        raise InputError(f"mlp_moments std is {mm[1]}, must be positive")
    try:
        with h5py.File(tmp, "w") as f:
            for key, val in (("format", "autobuild-predictor"), ("created_by", PROG),
                             ("space", space), ("space_definition", '{"builtin":"%s"}' % space),
                             ("target", cfg["target"])):
                f.attrs.create(key, val, dtype=s)
            f.attrs.create("format_version", np.int64(1))
            f.attrs.create("label_mean", np.float64(mm[0]))
            f.attrs.create("label_std", np.float64(mm[1]))
            g = f.create_group("config")
            for key, val in c.items():
                if isinstance(val, str):
                    g.attrs.create(key, val, dtype=s)
                elif isinstance(val, int):
                    g.attrs.create(key, np.int64(val))
                else:
                    g.attrs.create(key, np.float64(val))
            g = f.create_group("weights")
            for key in names:
                g.create_dataset(key, data=arrays[key].astype(np.float32))
            f.create_dataset("hop_moments", data=arrays["hop_moments"].astype(np.float64))
            f.create_dataset("stage_moments", data=arrays["embed_layer.moment_tsr"].astype(np.float64))
            t = f.create_group("test")
            t.create_dataset("hop_srcc", data=np.full(c["layers"] + 1, np.nan))
            # The authors store MAE, MAPE and SRCC; seed and batch come from the
            # config; the rest is unknown (-1 / NaN).
            t.attrs.create("mae", np.float64(tm[0]))
            t.attrs.create("mape", np.float64(tm[1]))
            t.attrs.create("test_srcc", np.float64(tm[2]))
            for key in ("epochs", "n_train", "n_test"):
                t.attrs.create(key, np.int64(-1))
            for key, cfg_key in (("seed", "seed"), ("batch", "batch_size")):
                v = cfg.get(cfg_key)
                ok = isinstance(v, int) and not isinstance(v, bool)
                t.attrs.create(key, np.int64(v if ok else -1))
            for key in ("seconds", "lr", "weight_decay"):
                t.attrs.create(key, np.float64(np.nan))
        os.replace(tmp, out_path)
    except OSError as e:
        raise InputError(f"{out_path}: cannot write ({e})")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv):
    ap = Parser(prog=PROG, usage=USAGE, description=DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pt", metavar="IN.pt", help="the authors' predictor state dict (torch.save)")
    ap.add_argument("config", metavar="CONFIG.pkl", help="the authors' config pickle for IN.pt")
    ap.add_argument("out", metavar="OUT.h5", help="autobuild-predictor checkpoint to write")
    a = ap.parse_args(argv)
    for path in (a.pt, a.config):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
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
    cfg = read_config(a.config)
    space, c, moments_shape = model_from_config(cfg, a.config)
    sd = read_state_dict(a.pt, torch)
    weights, arrays = check_state_dict(sd, a.pt, c, moments_shape, torch)
    names = [k for k in sd if k in weights]  # state-dict order
    write_checkpoint(a.out, space, cfg, c, names, arrays, np, h5py)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(2)
