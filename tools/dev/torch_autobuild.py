#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements a plain-PyTorch reference of the whole AutoBuild
# predictor (METHOD.md sections 1-3): node features of OFA architectures, the
# FE-MLP, GATv2Conv / GraphConv message passing (PyTorch Geometric semantics
# written with index_add_ / scatter_reduce, no PyG needed), BatchNorm over
# nodes, hop graph embeddings, the regression head, and the training loss
# MSE + lambda * mean_l (1 - soft Spearman(y, ||h_G^(l)||_1)) with the L2 soft
# rank of Blondel et al. 2020. Module and parameter names equal the authors'
# PyTorch state-dict keys, so their .pt files and our autobuild-predictor
# checkpoints (hdf5-schemas/predictor.md) load into the same module.
#
# It serves two purposes: a cross-check of the C forward pass, and the speed
# and accuracy baseline for training. Neither the build nor the C tests need
# it; tests/cli/test_pretrained.sh runs it. Debian's python3-torch, -h5py and
# -numpy are all it needs (run it with /usr/bin/python3).
#
#   predict   --predictor P.h5 --archs A.jsonl [--batch 1024]
#             one JSON line per architecture, in input order:
#             {"prediction": float, "hop_norms": [||h_G^(0)||_1, ... ||h_G^(L)||_1]}
#   train     --data D.h5 --target EQ [--epochs 200 --batch 128 --seed 1
#             --threads 2 --out P.h5 ...]
#             trains the paper's default model (GATv2, hidden 32, 4 layers,
#             ReLU, mean pooling, residual, lambda 1) with our recipe and
#             prints seconds per epoch, total seconds, test SRCC/MAE/MAPE and
#             the test SRCC of every hop norm (last line: the same as JSON)
#   check-pt  --pt IN.pt --config C.pkl --predictor P.h5 --archs A.jsonl
#             loads an authors' state dict directly (same key names) and the
#             converted checkpoint, and compares both forward passes with each
#             other (must be identical) and with an independent float64
#             per-graph implementation of the authors' GraphPredictor
#             forward_denorm (relative difference <= --tol)
#   compare   --archs A.jsonl --ref OURS.jsonl --got OTHER.jsonl [--tol 1e-4]
#             checks another implementation's predict output (lines with at
#             least "arch" and "prediction", optionally "hop_norms"): same
#             order and architectures, max relative difference <= tol, where a
#             value's difference is divided by max(|ours|, 1e-3 * mean |ours|)
#             (the mean over all architectures, per hop for hop norms)
#   synth-pt  --space S --gnn GATv2Conv|GraphConv --out X.pt --config C.pkl
#             writes a randomly initialised predictor as an authors'-style
#             state dict + config (init_ff and num_batches_tracked included),
#             to exercise the converter and the C forward on other settings
#
# Errors are one line on stderr, exit status 2 for bad input.
import argparse
import json
import math
import os
import pickle
import sys
import time

import warnings

import numpy as np

# Idle OpenMP threads sleep instead of spinning: with spinning, torch on a
# machine where other processes also run takes 10-40x longer per epoch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import h5py
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"torch_autobuild.py: needs python3-torch, python3-h5py and python3-numpy "
                     f"(run it with /usr/bin/python3): {e}\n")
    sys.exit(1)


warnings.filterwarnings("ignore", message="scatter_reduce")


class InputError(Exception):
    """Bad input: printed as one line, exit status 2."""


# ---- search spaces and node features ------------------------------------------

# name: block family prefix, family flag (node feature 2), (min, max) layers per
# stage, search units (stages scored together), Hmax of /stage_moments.
OFA_SPACES = {
    "ofa_mbv3": {"prefix": "mbconv3", "flag": 1.0, "stages": [(2, 4)] * 5,
                 "units": [[0], [1], [2], [3], [4]]},
    "ofa_pn": {"prefix": "mbconv2", "flag": 0.0, "stages": [(2, 4)] * 5 + [(1, 1)],
               "units": [[0], [1], [2], [3], [4, 5]]},
}
# FE-MLP features in node-feature column order: (authors' name, kind,
# cardinality, embedding size). The numeric one (resolution) is the last column.
OFA_FEATURES = [("stage", "cat", 6, 3), ("block", "cat", 4, 2), ("mbconv", "cat", 2, 2),
                ("exp", "cat", 3, 2), ("kernel", "cat", 3, 3), ("res", "num", 1, 1)]
EXPAND_INDEX = {3: 0, 4: 1, 6: 2}
KERNEL_INDEX = {3: 0, 5: 1, 7: 2}
RESOLUTIONS = range(128, 225, 4)


def unit_max_nodes(space):
    sp = OFA_SPACES[space]
    return max(sum(sp["stages"][s][1] for s in u) for u in sp["units"])


def parse_arch(text, space, where):
    """Parses one architecture (canonical JSON or the authors' [res, [[...]]]
    form) of an OFA space. Returns (resolution, [[(e, k), ...] per stage])."""
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise InputError(f"{where}: not JSON ({e})")
    if isinstance(obj, dict):
        if obj.get("space") != space:
            raise InputError(f"{where}: architecture of space '{obj.get('space')}', "
                             f"the predictor is for '{space}'")
        res, stages = obj.get("resolution"), obj.get("stages")
    elif isinstance(obj, list) and len(obj) == 2:
        res, stages = obj
    else:
        raise InputError(f"{where}: expected {{\"space\":...,\"resolution\":...,\"stages\":...}} "
                         f"or [resolution, [[blocks], ...]]")
    sp = OFA_SPACES[space]
    if not isinstance(res, int) or res not in RESOLUTIONS:
        raise InputError(f"{where}: resolution {res!r} not in 128..224 step 4")
    if not isinstance(stages, list) or len(stages) != len(sp["stages"]):
        raise InputError(f"{where}: expected {len(sp['stages'])} stages for '{space}'")
    out = []
    for s, (blocks, (lo, hi)) in enumerate(zip(stages, sp["stages"])):
        if not isinstance(blocks, list) or not lo <= len(blocks) <= hi:
            raise InputError(f"{where}: stage {s + 1} must have {lo} to {hi} layers")
        layers = []
        for b in blocks:
            parts = b.split("_") if isinstance(b, str) else []
            ok = (len(parts) == 3 and parts[0] == sp["prefix"] and parts[1][:1] == "e"
                  and parts[2][:1] == "k" and parts[1][1:].isdigit() and parts[2][1:].isdigit()
                  and int(parts[1][1:]) in EXPAND_INDEX and int(parts[2][1:]) in KERNEL_INDEX)
            if not ok:
                raise InputError(f"{where}: unknown block {b!r} for '{space}' "
                                 f"(expected {sp['prefix']}_e{{3,4,6}}_k{{3,5,7}})")
            layers.append((int(parts[1][1:]), int(parts[2][1:])))
        out.append(layers)
    return res, out


def node_features(space, res, stages):
    """Rows [stage, layer, family, expansion index, kernel index,
    (res - 192) / 32] in network order (float32, as seqgraph.h)."""
    flag = OFA_SPACES[space]["flag"]
    r = float(np.float32((res - 192) / 32.0))
    return [[float(s), float(l), flag, float(EXPAND_INDEX[e]), float(KERNEL_INDEX[k]), r]
            for s, layers in enumerate(stages) for l, (e, k) in enumerate(layers)]


class GraphSet:
    """All architectures' nodes in one float32 tensor; batches gather from it.
    Graph g's nodes are off[g] .. off[g+1]-1; edges i -> i+1 inside a graph."""

    def __init__(self, space, archs):
        rows, counts = [], []
        for res, stages in archs:
            f = node_features(space, res, stages)
            rows.extend(f)
            counts.append(len(f))
        self.x = torch.tensor(rows, dtype=torch.float32)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.off = np.concatenate([[0], np.cumsum(self.counts)])
        self.archs = archs

    def __len__(self):
        return len(self.counts)

    def batch(self, gids):
        """(x [N x F], src [E], dst [E], graph index [N], n_graphs)."""
        gids = np.asarray(gids, dtype=np.int64)
        lens = self.counts[gids]
        n = int(lens.sum())
        first = np.repeat(np.cumsum(lens) - lens, lens)
        node = np.repeat(self.off[gids], lens) + (np.arange(n) - first)
        gidx = np.repeat(np.arange(len(gids)), lens)
        same = np.nonzero(gidx[:-1] == gidx[1:])[0]
        return (self.x[torch.from_numpy(node)], torch.from_numpy(same),
                torch.from_numpy(same + 1), torch.from_numpy(gidx), len(gids))


# ---- the model -------------------------------------------------------------------

class FEMLP(nn.Module):
    """One small module per node-feature column mapping it to one scalar:
    categorical: Embedding(card, dim) -> Linear(dim, 1); numeric: Linear(1, 3)
    -> Linear(3, 1). Concatenated in column order, then abs()."""

    def __init__(self, features):
        super().__init__()
        self.features = features
        for name, kind, card, dim in features:
            if kind == "cat":
                setattr(self, f"{name}_embed", nn.Embedding(card, dim))
                setattr(self, f"{name}_mlp", nn.Linear(dim, 1))
            else:
                setattr(self, f"{name}_mlp", nn.Sequential(nn.Linear(1, 3), nn.Linear(3, 1)))

    def forward(self, x):
        cols = []
        for i, (name, kind, _, _) in enumerate(self.features):
            mlp = getattr(self, f"{name}_mlp")
            if kind == "cat":
                cols.append(mlp(getattr(self, f"{name}_embed")(x[:, i].long())))
            else:
                cols.append(mlp(x[:, i:i + 1]))
        return torch.cat(cols, dim=-1).abs()


def glorot_(t):
    a = math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
    with torch.no_grad():
        t.uniform_(-a, a)


class GATv2Conv(nn.Module):
    """PyG GATv2Conv, heads 1, concat, negative slope 0.2, add_self_loops,
    share_weights False, bias: e_ji = att . leaky_0.2(xl[j] + xr[i]) for
    j -> i, alpha = softmax over i's incoming edges (self loop included),
    y[i] = sum_j alpha_ji xl[j] + bias."""

    def __init__(self, cin, cout):
        super().__init__()
        self.lin_l = nn.Linear(cin, cout)
        self.lin_r = nn.Linear(cin, cout)
        self.att = nn.Parameter(torch.empty(1, 1, cout))
        self.bias = nn.Parameter(torch.zeros(cout))
        for lin in (self.lin_l, self.lin_r):  # PyG's initialisation
            glorot_(lin.weight)
            nn.init.zeros_(lin.bias)
        glorot_(self.att)

    def forward(self, x, src, dst, n):
        loops = torch.arange(n)
        s, d = torch.cat([src, loops]), torch.cat([dst, loops])
        xl, xr = self.lin_l(x), self.lin_r(x)
        xj = xl[s]
        e = (F.leaky_relu(xj + xr[d], 0.2) * self.att.view(1, -1)).sum(-1)
        emax = torch.full((n,), -math.inf, dtype=e.dtype).scatter_reduce(
            0, d, e.detach(), "amax", include_self=False)
        ex = (e - emax[d]).exp()
        den = torch.zeros(n, dtype=e.dtype).index_add_(0, d, ex)
        alpha = ex / (den[d] + 1e-16)
        out = torch.zeros(n, xl.shape[1], dtype=x.dtype).index_add_(0, d, alpha.unsqueeze(-1) * xj)
        return out + self.bias


class GraphConv(nn.Module):
    """PyG GraphConv, aggr add: y[i] = lin_rel(sum_{j -> i} x[j]) + lin_root(x[i])
    (lin_root without bias; no self loops)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.lin_rel = nn.Linear(cin, cout)
        self.lin_root = nn.Linear(cin, cout, bias=False)

    def forward(self, x, src, dst, n):
        agg = torch.zeros(n, x.shape[1], dtype=x.dtype).index_add_(0, dst, x[src])
        return self.lin_rel(agg) + self.lin_root(x)


class BN(nn.Module):
    """PyG's norm.BatchNorm: a BatchNorm1d over nodes kept as `.module`."""

    def __init__(self, c):
        super().__init__()
        self.module = nn.BatchNorm1d(c)

    def forward(self, x):
        return self.module(x)


def make_activation(name, slope):
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(slope)
    raise InputError(f"unsupported activation '{name}' (relu or leaky_relu)")


class Encoder(nn.Module):
    def __init__(self, cin, hidden, layers, gnn_type, activ, residual):
        super().__init__()
        conv = {"GATv2Conv": GATv2Conv, "GraphConv": GraphConv}.get(gnn_type)
        if conv is None:
            raise InputError(f"unsupported gnn_type '{gnn_type}' (GATv2Conv or GraphConv)")
        self.gnn_layers = nn.ModuleList([conv(cin if i == 0 else hidden, hidden)
                                         for i in range(layers)])
        self.bns = nn.ModuleList([BN(hidden) for _ in range(layers)])
        self.activ = activ
        self.residual = residual

    def forward(self, h0, src, dst, n):
        """[h^(0), ..., h^(L)]: layer -> BatchNorm -> activation -> (+ input if l > 0)."""
        hs = [h0]
        for li, (conv, bn) in enumerate(zip(self.gnn_layers, self.bns)):
            h = self.activ(bn(conv(hs[-1], src, dst, n)))
            if self.residual and li > 0:
                h = h + hs[-1]
            hs.append(h)
        return hs


class Predictor(nn.Module):
    """FE-MLP -> encoder -> hop graph embeddings -> post_proj -> reg activation
    -> regressor. forward() returns (head output [G], [h_G^(0..L)])."""

    def __init__(self, cfg, features=OFA_FEATURES):
        super().__init__()
        self.cfg = dict(cfg)
        self.embed_layer = FEMLP(features)
        self.encoder = Encoder(len(features), cfg["hidden"], cfg["layers"], cfg["gnn_type"],
                               make_activation(cfg["gnn_activ"], cfg["gnn_activ_slope"]),
                               bool(cfg["residual"]))
        h = cfg["hidden"]
        self.post_proj = nn.Sequential(nn.Linear(h, h), nn.Linear(h, h), nn.ReLU(),
                                       nn.Linear(h, h), nn.Linear(h, h))
        self.reg_activ = make_activation(cfg["reg_activ"], cfg["reg_activ_slope"])
        self.regressor = nn.Linear(h, 1)
        if cfg["aggr"] not in ("mean", "sum"):
            raise InputError(f"unsupported aggr '{cfg['aggr']}' (mean or sum)")
        self.label_mean, self.label_std = 0.0, 1.0

    def pool(self, h, gidx, g):
        out = torch.zeros(g, h.shape[1], dtype=h.dtype).index_add_(0, gidx, h)
        if self.cfg["aggr"] == "mean":
            cnt = torch.zeros(g, dtype=h.dtype).index_add_(0, gidx, torch.ones_like(gidx, dtype=h.dtype))
            out = out / cnt.clamp(min=1).unsqueeze(-1)
        return out

    def forward(self, x, src, dst, gidx, g):
        hs = self.encoder(self.embed_layer(x), src, dst, x.shape[0])
        hg = [self.pool(h, gidx, g) for h in hs]
        out = self.regressor(self.reg_activ(self.post_proj(hg[-1])))
        return out.squeeze(1), hg


DEFAULT_CFG = {"gnn_type": "GATv2Conv", "hidden": 32, "layers": 4, "gnn_activ": "relu",
               "gnn_activ_slope": 0.0, "reg_activ": "relu", "reg_activ_slope": 0.0,
               "aggr": "mean", "residual": 1, "norm_ord": 1, "lambda": 1.0,
               "softrank_strength": 1.0}


# ---- checkpoints (hdf5-schemas/predictor.md) -------------------------------------

def _attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def load_checkpoint(path):
    """Returns (model in eval mode, meta dict) from an autobuild-predictor file."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not an HDF5 file ({e})")
    with f:
        a = f.attrs
        if _attr_str(a.get("format", "")) != "autobuild-predictor":
            raise InputError(f"{path}: not an autobuild-predictor file (format attribute "
                             f"{_attr_str(a.get('format', ''))!r})")
        if int(a.get("format_version", 0)) != 1:
            raise InputError(f"{path}: format_version {a.get('format_version')} not supported (1)")
        space = _attr_str(a["space"])
        if space not in OFA_SPACES:
            raise InputError(f"{path}: space '{space}' is not supported here (ofa_mbv3, ofa_pn)")
        c = f["config"].attrs
        cfg = {}
        for k in ("gnn_type", "gnn_activ", "reg_activ", "aggr"):
            cfg[k] = _attr_str(c[k])
        for k in ("hidden", "layers", "residual", "norm_ord"):
            cfg[k] = int(c[k])
        for k in ("gnn_activ_slope", "reg_activ_slope", "lambda", "softrank_strength"):
            cfg[k] = float(c[k])
        model = Predictor(cfg)
        w = {k: torch.from_numpy(np.asarray(v[()], dtype=np.float32)) for k, v in f["weights"].items()}
        meta = {"space": space, "target": _attr_str(a["target"]),
                "label_mean": float(a["label_mean"]), "label_std": float(a["label_std"])}
    load_weights(model, w, path)
    model.label_mean, model.label_std = meta["label_mean"], meta["label_std"]
    model.eval()
    return model, meta


def load_weights(model, w, where):
    """Strictly loads float tensors named by state-dict key (num_batches_tracked
    buffers are optional); shape or key mismatches are InputErrors."""
    sd = model.state_dict()
    want = {k for k in sd if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(want - set(w)), sorted(set(w) - set(sd))
    if missing:
        raise InputError(f"{where}: missing weight '{missing[0]}' ({len(missing)} missing)")
    if extra:
        raise InputError(f"{where}: unexpected weight '{extra[0]}' ({len(extra)} unexpected)")
    for k in want:
        if tuple(w[k].shape) != tuple(sd[k].shape):
            raise InputError(f"{where}: weight '{k}' has shape {tuple(w[k].shape)}, "
                             f"expected {tuple(sd[k].shape)}")
    full = {k: (w[k].to(sd[k].dtype) if k in w else sd[k]) for k in sd}
    model.load_state_dict(full, strict=True)


def write_checkpoint(path, model, meta, hop_moments, stage_moments, test):
    """Writes an autobuild-predictor file (temporary name, then rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    s = h5py.string_dtype()
    try:
        with h5py.File(tmp, "w") as f:
            for k, v in (("format", "autobuild-predictor"), ("created_by", "torch_autobuild.py"),
                         ("space", meta["space"]),
                         ("space_definition", json.dumps({"builtin": meta["space"]}, separators=(",", ":"))),
                         ("target", meta["target"])):
                f.attrs.create(k, v, dtype=s)
            f.attrs.create("format_version", np.int64(1))
            f.attrs.create("label_mean", np.float64(meta["label_mean"]))
            f.attrs.create("label_std", np.float64(meta["label_std"]))
            c = f.create_group("config")
            for k, v in model.cfg.items():
                if isinstance(v, str):
                    c.attrs.create(k, v, dtype=s)
                elif k in ("hidden", "layers", "residual", "norm_ord"):
                    c.attrs.create(k, np.int64(v))
                else:
                    c.attrs.create(k, np.float64(v))
            g = f.create_group("weights")
            for k, v in model.state_dict().items():
                if not k.endswith("num_batches_tracked"):
                    g.create_dataset(k, data=v.detach().cpu().numpy().astype(np.float32))
            f.create_dataset("hop_moments", data=np.asarray(hop_moments, dtype=np.float64))
            f.create_dataset("stage_moments", data=np.asarray(stage_moments, dtype=np.float64))
            t = f.create_group("test")
            t.create_dataset("hop_srcc", data=np.asarray(test.pop("hop_srcc"), dtype=np.float64))
            for k, v in test.items():
                t.attrs.create(k, np.int64(v) if isinstance(v, int) else np.float64(v))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- the authors' files ------------------------------------------------------------

AUTHOR_EXTRAS = ("mlp_moments", "hop_moments", "test_metrics", "embed_layer.moment_tsr")


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise InputError(f"config holds a Python object ({module}.{name}), expected a plain dict")


def load_author_config(path):
    try:
        with open(path, "rb") as fh:
            cfg = _PlainUnpickler(fh).load()
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise InputError(f"{path}: cannot read the config pickle ({e})")
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: config is not a dict")
    return cfg


def author_cfg_to_ours(acfg):
    """The authors' make_predictor() arguments -> our /config fields."""
    def act(name):
        return {"ReLU": ("relu", 0.0), "LeakyReLU": ("leaky_relu", 0.01)}.get(name)
    ga, ra = act(acfg.get("gnn_activ", "ReLU")), act(acfg.get("reg_activ", "ReLU"))
    if ga is None or ra is None:
        raise InputError(f"unsupported activation {acfg.get('gnn_activ')}/{acfg.get('reg_activ')}")
    fam = str(acfg.get("families", ""))
    space = "ofa_mbv3" if fam.startswith("ofa_mbv3") else "ofa_pn" if fam.startswith("ofa_pn") else None
    if space is None:
        raise InputError(f"unknown family '{fam}'")
    return space, {"gnn_type": acfg.get("gnn_type", "GraphConv"), "hidden": int(acfg.get("gnn_dim", 128)),
                   "layers": int(acfg.get("num_layers", 4)), "gnn_activ": ga[0], "gnn_activ_slope": ga[1],
                   "reg_activ": ra[0], "reg_activ_slope": ra[1], "aggr": acfg.get("aggr_method", "mean"),
                   "residual": int(bool(acfg.get("residual", False))), "norm_ord": int(acfg.get("norm", 1)),
                   "lambda": float(acfg.get("corr_lambda", 1.0)), "softrank_strength": 1.0}


def load_author_pt(pt, config):
    """Authors' state dict -> (model in eval mode, state dict as loaded)."""
    space, cfg = author_cfg_to_ours(load_author_config(config))
    try:
        sd = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds
        raise InputError(f"{pt}: not a PyTorch state dict ({str(e).splitlines()[0]})")
    if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
        raise InputError(f"{pt}: not a state dict (a dict of tensors)")
    for k in AUTHOR_EXTRAS:
        if k not in sd:
            raise InputError(f"{pt}: missing key '{k}'")
    model = Predictor(cfg)
    w = {k: v for k, v in sd.items()
         if k not in AUTHOR_EXTRAS and not k.startswith("encoder.init_ff.")}
    # Through load_state_dict itself (same key names as the authors' module).
    load_weights(model, {k: v for k, v in w.items() if not k.endswith("num_batches_tracked")}, pt)
    model.load_state_dict({**model.state_dict(), **w}, strict=True)
    mm = sd["mlp_moments"]
    model.label_mean, model.label_std = float(mm[0]), float(mm[1])
    model.eval()
    return space, model, sd


# ---- inference ------------------------------------------------------------------

def read_archs(path, space):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    archs = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                archs.append(parse_arch(line, space, f"{path}:{i}"))
    if not archs:
        raise InputError(f"{path}: no architectures")
    return archs


@torch.no_grad()
def run_model(model, gs, batch=1024):
    """Eval-mode forward over a GraphSet: (predictions float64 [n], hop L1 norms
    float32 [n x L+1]); prediction = output * label_std + label_mean."""
    preds, norms = [], []
    for i in range(0, len(gs), batch):
        out, hg = model(*gs.batch(np.arange(i, min(i + batch, len(gs)))))
        preds.append(out.double().numpy() * model.label_std + model.label_mean)
        norms.append(torch.stack([h.abs().sum(-1) for h in hg], dim=1).numpy())
    return np.concatenate(preds), np.concatenate(norms)


def cmd_predict(a):
    torch.set_num_threads(a.threads)
    model, meta = load_checkpoint(a.predictor)
    gs = GraphSet(meta["space"], read_archs(a.archs, meta["space"]))
    preds, norms = run_model(model, gs, a.batch)
    out = sys.stdout
    for p, hn in zip(preds, norms):
        out.write(json.dumps({"prediction": float(p), "hop_norms": [float(v) for v in hn]}) + "\n")
    return 0


# ---- an independent float64 reference of the authors' forward_denorm -------------

def authors_forward_denorm64(sd, acfg, space, archs):
    """GraphPredictor.forward_denorm, one graph at a time in float64 numpy,
    written from the authors' module structure (MobileNetNodeEmbedding ->
    TGeoPreEmbeddedGraphEncoder.forward_embed_list with PyG layer semantics ->
    global add/mean pool -> post_proj -> activ -> regressor, times mlp_moments[1]
    plus mlp_moments[0]). Returns (predictions, hop norms)."""
    p = {k: v.double().numpy() for k, v in sd.items() if v.is_floating_point()}
    _, cfg = author_cfg_to_ours(acfg)

    def lin(x, name, bias=True):
        y = x @ p[name + ".weight"].T
        return y + p[name + ".bias"] if bias else y

    def activ(x, which):
        slope = cfg[which + "_slope"]
        return np.where(x > 0, x, slope * x)

    preds, norms = [], []
    for res, stages in archs:
        x = np.asarray(node_features(space, res, stages), dtype=np.float64)
        n = len(x)
        cols = []
        for i, (name, kind, _, _) in enumerate(OFA_FEATURES):
            if kind == "cat":
                cols.append(lin(p[f"embed_layer.{name}_embed.weight"][x[:, i].astype(int)],
                                f"embed_layer.{name}_mlp"))
            else:
                cols.append(lin(lin(x[:, i:i + 1], f"embed_layer.{name}_mlp.0"), f"embed_layer.{name}_mlp.1"))
        embed = [np.abs(np.concatenate(cols, axis=1))]
        edges = [(i, i + 1) for i in range(n - 1)]  # edge_index rows: source, target
        for li in range(cfg["layers"]):
            h, pre = embed[-1], f"encoder.gnn_layers.{li}"
            if cfg["gnn_type"] == "GraphConv":
                agg = np.zeros_like(h)
                for j, i in edges:
                    agg[i] += h[j]
                y = lin(agg, pre + ".lin_rel") + lin(h, pre + ".lin_root", bias=False)
            else:
                xl, xr = lin(h, pre + ".lin_l"), lin(h, pre + ".lin_r")
                att = p[pre + ".att"].reshape(-1)
                y = np.zeros_like(xl)
                for i in range(n):
                    srcs = [j for j, t in edges if t == i and j != i] + [i]
                    e = np.array([att @ (lambda v: np.where(v > 0, v, 0.2 * v))(xl[j] + xr[i])
                                  for j in srcs])
                    al = np.exp(e - e.max())
                    al /= al.sum()
                    y[i] = sum(a_ * xl[j] for a_, j in zip(al, srcs))
                y = y + p[pre + ".bias"]
            bn = f"encoder.bns.{li}.module"
            y = ((y - p[bn + ".running_mean"]) / np.sqrt(p[bn + ".running_var"] + 1e-5)
                 * p[bn + ".weight"] + p[bn + ".bias"])
            y = activ(y, "gnn_activ")
            if cfg["residual"] and li > 0:
                y = y + embed[-1]
            embed.append(y)
        pooled = [e.sum(0) if cfg["aggr"] == "sum" else e.mean(0) for e in embed]
        g = lin(lin(pooled[-1], "post_proj.0"), "post_proj.1")
        g = lin(lin(np.maximum(g, 0), "post_proj.3"), "post_proj.4")
        out = lin(activ(g, "reg_activ"), "regressor")[0]
        preds.append(out * p["mlp_moments"][1] + p["mlp_moments"][0])
        norms.append([np.abs(v).sum() for v in pooled])
    return np.asarray(preds), np.asarray(norms)


def rel_diff(a, ref):
    """max |a - ref| / max(|ref|, 1e-3 * mean |ref|), per column if 2-D."""
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.abs(ref).mean(axis=0)
    den = np.maximum(np.abs(ref), 1e-3 * scale)
    den = np.where(den > 0, den, 1.0)
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - ref) / den))


def cmd_check_pt(a):
    torch.set_num_threads(a.threads)
    space, model_pt, sd = load_author_pt(a.pt, a.config)
    model_h5, meta = load_checkpoint(a.predictor)
    if meta["space"] != space:
        raise InputError(f"{a.predictor}: space '{meta['space']}', the .pt config says '{space}'")
    archs = read_archs(a.archs, space)
    gs = GraphSet(space, archs)
    p1, n1 = run_model(model_pt, gs)
    p2, n2 = run_model(model_h5, gs)
    r1, rn = authors_forward_denorm64(sd, load_author_config(a.config), space, archs)
    res = {"n": len(archs), "pt_vs_h5_max_abs": float(np.max(np.abs(p1 - p2))),
           "pt_vs_h5_hop_max_abs": float(np.max(np.abs(n1 - n2))),
           "ref64_max_rel": rel_diff(p1, r1), "ref64_hop_max_rel": rel_diff(n1, rn),
           "pred_min": float(p1.min()), "pred_mean": float(p1.mean()), "pred_max": float(p1.max())}
    ok = (res["pt_vs_h5_max_abs"] <= 1e-6 and res["pt_vs_h5_hop_max_abs"] <= 1e-6
          and res["ref64_max_rel"] <= a.tol and res["ref64_hop_max_rel"] <= a.tol)
    res["ok"] = ok
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as fh:
            for p, hn in zip(p2, n2):
                fh.write(json.dumps({"prediction": float(p), "hop_norms": [float(v) for v in hn]}) + "\n")
    return 0 if ok else 1


def cmd_compare(a):
    """Compares another implementation's predict output (JSON lines with at
    least "arch" and "prediction", optionally "hop_norms") with ours."""
    def lines(path):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
        with open(path, encoding="utf-8") as fh:
            return [ln for ln in fh if ln.strip()]
    archs, ref, got = lines(a.archs), lines(a.ref), lines(a.got)
    if not (len(archs) == len(ref) == len(got)):
        print(json.dumps({"ok": False, "why": f"line counts: archs {len(archs)}, reference "
                                             f"{len(ref)}, compared {len(got)}"}))
        return 1
    rp, rn, gp, gn = [], [], [], []
    for i, (al, rl, gl) in enumerate(zip(archs, ref, got), 1):
        try:
            g = json.loads(gl)
        except ValueError as e:
            print(json.dumps({"ok": False, "why": f"{a.got}:{i}: not JSON ({e})"}))
            return 1
        r = json.loads(rl)
        arch = g.get("arch")
        if isinstance(arch, str):
            arch = json.loads(arch)
        if arch != json.loads(al):
            print(json.dumps({"ok": False, "why": f"{a.got}:{i}: arch differs from input line {i}"}))
            return 1
        if not isinstance(g.get("prediction"), (int, float)):
            print(json.dumps({"ok": False, "why": f"{a.got}:{i}: no numeric prediction"}))
            return 1
        rp.append(r["prediction"])
        gp.append(g["prediction"])
        if "hop_norms" in g:
            rn.append(r["hop_norms"])
            gn.append(g["hop_norms"])
    res = {"n": len(rp), "max_rel_pred": rel_diff(gp, rp)}
    if gn:
        if len(gn) != len(rn) or any(len(x) != len(y) for x, y in zip(gn, rn)):
            print(json.dumps({"ok": False, "why": "hop_norms missing on some lines or of wrong length"}))
            return 1
        res["max_rel_hop"] = rel_diff(gn, rn)
    res["ok"] = bool(np.isfinite(gp).all()) and max(res["max_rel_pred"], res.get("max_rel_hop", 0)) <= a.tol
    print(json.dumps(res))
    return 0 if res["ok"] else 1


def cmd_synth_pt(a):
    """A randomly initialised predictor saved as the authors would save it."""
    torch.manual_seed(a.seed)
    act = {"relu": "ReLU", "leaky_relu": "LeakyReLU"}[a.activ]
    acfg = {"gnn_type": a.gnn, "families": a.space, "target": "acc", "format": "custom", "seed": a.seed,
            "gnn_dim": a.hidden, "num_layers": a.layers, "aggr_method": a.aggr, "gnn_activ": act,
            "reg_activ": act, "residual": not a.no_residual, "corr_lambda": 1.0, "norm": 1,
            "batch_size": 128}
    space, cfg = author_cfg_to_ours(acfg)
    model = Predictor(cfg)
    with torch.no_grad():
        for bn in model.encoder.bns:
            m = bn.module
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.2)
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.3, 2.0)
            m.num_batches_tracked.fill_(1000)
        for conv in model.encoder.gnn_layers:
            if hasattr(conv, "bias") and isinstance(conv.bias, nn.Parameter):
                conv.bias.normal_(0, 0.1)
            if hasattr(conv, "lin_l"):
                conv.lin_l.bias.normal_(0, 0.1)
                conv.lin_r.bias.normal_(0, 0.1)
        # A default-initialised head barely varies across architectures;
        # amplify it so a comparison of predictions is a sensitive test.
        for lin in [model.post_proj[k] for k in (0, 1, 3, 4)] + [model.regressor]:
            lin.weight.mul_(2.0)
    sd = dict(model.state_dict())
    hmax = unit_max_nodes(space)
    sd["embed_layer.moment_tsr"] = torch.rand(5, hmax, 2)
    sd["encoder.init_ff.weight"] = torch.randn(6, 12)
    sd["encoder.init_ff.bias"] = torch.randn(6)
    sd["hop_moments"] = torch.rand(2, cfg["layers"] + 1)
    sd["mlp_moments"] = torch.tensor([0.75, 0.05])
    sd["test_metrics"] = torch.tensor([0.01, 0.02, 0.9])
    torch.save(sd, a.out)
    with open(a.config, "wb") as fh:
        pickle.dump(acfg, fh, protocol=4)
    return 0


# ---- label equations (the grammar of common/equation/equation.h) ------------------

class Equation:
    """Parses a label equation into a tree; eval(cols) works on numpy columns.
    Nothing is executed: a tiny recursive-descent parser."""

    FUNCS = {"log": (1, np.log), "log10": (1, np.log10), "log2": (1, np.log2), "exp": (1, np.exp),
             "sqrt": (1, np.sqrt), "abs": (1, np.abs), "fabs": (1, np.abs),
             "pow": (2, np.power), "power": (2, np.power), "minimum": (2, None), "maximum": (2, None),
             "min": (-2, None), "max": (-2, None)}

    def __init__(self, text):
        self.text = text
        self.toks = self._lex(text)
        self.i = 0
        self.tree = self._sum()
        if self._peek()[0] != "end":
            self._fail("unexpected " + repr(self._peek()[1]))

    def _fail(self, msg):
        pos = self._peek()[2] + 1
        raise InputError(f"label equation {self.text!r}: {msg} at column {pos}")

    def _lex(self, s):
        toks, i = [], 0
        while i < len(s):
            c = s[i]
            if c.isspace():
                i += 1
            elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
                j = i
                while j < len(s) and (s[j].isdigit() or s[j] == "."):
                    j += 1
                if j < len(s) and s[j] in "eE":
                    k = j + 1
                    if k < len(s) and s[k] in "+-":
                        k += 1
                    if k < len(s) and s[k].isdigit():
                        j = k
                        while j < len(s) and s[j].isdigit():
                            j += 1
                try:
                    toks.append(("num", float(s[i:j]), i))
                except ValueError:
                    raise InputError(f"label equation {s!r}: bad number at column {i + 1}")
                i = j
            elif c.isalpha() or c == "_":
                j = i
                while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                    j += 1
                name = s[i:j]
                if name in ("np", "numpy", "math") and j < len(s) and s[j] == ".":
                    k = j + 1
                    while k < len(s) and (s[k].isalnum() or s[k] == "_"):
                        k += 1
                    name, j = s[j + 1:k], k
                    if name not in self.FUNCS:
                        raise InputError(f"label equation {s!r}: unknown function at column {i + 1}")
                    toks.append(("func", name, i))
                else:
                    toks.append(("name", name, i))
                i = j
            elif s.startswith("**", i):
                toks.append(("op", "**", i))
                i += 2
            elif c in "+-*/^(),":
                toks.append(("op", "**" if c == "^" else c, i))
                i += 1
            else:
                raise InputError(f"label equation {s!r}: unexpected {c!r} at column {i + 1}")
        toks.append(("end", "end of equation", len(s)))
        return toks

    def _peek(self):
        return self.toks[self.i]

    def _take(self, val):
        if self._peek()[:2] == ("op", val):
            self.i += 1
            return True
        return False

    def _sum(self):
        node = self._product()
        while self._peek()[0] == "op" and self._peek()[1] in "+-":
            op = self.toks[self.i][1]
            self.i += 1
            node = (op, node, self._product())
        return node

    def _product(self):
        node = self._unary()
        while self._peek()[0] == "op" and self._peek()[1] in ("*", "/"):
            op = self.toks[self.i][1]
            self.i += 1
            node = (op, node, self._unary())
        return node

    def _unary(self):
        if self._take("-"):
            return ("neg", self._unary())
        if self._take("+"):
            return self._unary()
        return self._power()

    def _power(self):
        node = self._primary()
        if self._take("**"):
            node = ("**", node, self._unary())
        return node

    def _primary(self):
        kind, val, _ = self._peek()
        if kind == "num":
            self.i += 1
            return ("num", val)
        if kind in ("name", "func") and (kind == "func" or self.toks[self.i + 1][:2] == ("op", "(")):
            if val not in self.FUNCS:
                self._fail(f"unknown function {val!r}")
            self.i += 1
            if not self._take("("):
                self._fail("expected '('")
            args = [self._sum()]
            while self._take(","):
                args.append(self._sum())
            if not self._take(")"):
                self._fail("expected ')'")
            arity = self.FUNCS[val][0]
            if (arity > 0 and len(args) != arity) or (arity < 0 and len(args) < -arity):
                self._fail(f"wrong number of arguments to {val}")
            return ("call", val, args)
        if kind == "name":
            self.i += 1
            return ("var", val)
        if self._take("("):
            node = self._sum()
            if not self._take(")"):
                self._fail("expected ')'")
            return node
        self._fail(f"expected a number, metric name, '(' or function, got {val!r}")

    def names(self, node=None):
        node = self.tree if node is None else node
        if node[0] == "var":
            return {node[1]}
        if node[0] == "num":
            return set()
        if node[0] == "call":
            return set().union(*(self.names(x) for x in node[2]))
        return set().union(*(self.names(x) for x in node[1:]))

    def eval(self, cols, node=None):
        node = self.tree if node is None else node
        op = node[0]
        with np.errstate(all="ignore"):
            if op == "num":
                return np.float64(node[1])
            if op == "var":
                return cols[node[1]]
            if op == "neg":
                return -self.eval(cols, node[1])
            if op == "call":
                args = [self.eval(cols, x) for x in node[2]]
                name = node[1]
                if name in ("min", "minimum", "max", "maximum"):
                    f = np.minimum if name.startswith("min") else np.maximum
                    r = args[0]
                    for x in args[1:]:
                        r = f(r, x)  # np.minimum/maximum propagate NaN
                    return r
                return self.FUNCS[name][1](*args)
            a, b = self.eval(cols, node[1]), self.eval(cols, node[2])
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                    "**": np.power}[op](a, b)


# ---- the loss ----------------------------------------------------------------------

def pav_decreasing(y):
    """Isotonic regression min ||v - y||^2 s.t. v_1 >= v_2 >= ... (pool adjacent
    violators). Returns (v, block id of each position)."""
    sums, cnts, starts = [], [], []
    for i, v in enumerate(y):
        sums.append(v)
        cnts.append(1)
        starts.append(i)
        while len(sums) > 1 and sums[-2] / cnts[-2] <= sums[-1] / cnts[-1]:
            s, c = sums.pop(), cnts.pop()
            starts.pop()
            sums[-1] += s
            cnts[-1] += c
    cnts = np.asarray(cnts)
    block = np.repeat(np.arange(len(cnts)), cnts)
    return (np.asarray(sums) / cnts)[block], block


class SoftRank(torch.autograd.Function):
    """Ascending L2 soft rank: projection of theta / strength onto the
    permutahedron of (n, ..., 1): sort descending, PAV on s - w, primal = s - dual.
    Jacobian: (I - block averaging) / strength in sorted order."""

    @staticmethod
    def forward(ctx, theta, strength):
        th = theta.detach().cpu().double().numpy() / strength
        n = th.shape[0]
        perm = np.argsort(-th, kind="stable")
        s = th[perm]
        dual, block = pav_decreasing(s - np.arange(n, 0, -1, dtype=np.float64))
        rank = np.empty(n)
        rank[perm] = s - dual
        ctx.perm, ctx.block, ctx.strength = perm, block, strength
        return torch.from_numpy(rank).to(theta.dtype)

    @staticmethod
    def backward(ctx, g):
        perm, block = ctx.perm, ctx.block
        gs = g.detach().double().numpy()[perm]
        mean = np.bincount(block, weights=gs) / np.bincount(block)
        out = np.empty_like(gs)
        out[perm] = (gs - mean[block]) / ctx.strength
        return torch.from_numpy(out).to(g.dtype), None


def soft_spearman(y, x, strength):
    """Pearson(y, soft_rank(x) / n); 0 (no gradient) if either side is constant."""
    n = x.shape[0]
    r = SoftRank.apply(x, strength) / n
    rc, yc = r - r.mean(), y - y.mean()
    den = rc.norm() * yc.norm()
    if n < 2 or float(den) <= 0.0:
        return x.sum() * 0.0
    return (rc * yc).sum() / den


def autobuild_loss(pred, y, hg, lam, strength, ord_=1):
    loss = F.mse_loss(pred, y)
    if lam > 0:
        corr = 0.0
        for h in hg:
            corr = corr + (1.0 - soft_spearman(y, torch.linalg.norm(h, ord=ord_, dim=-1), strength))
        loss = loss + lam * corr / len(hg)
    return loss


# ---- training ----------------------------------------------------------------------

class Xoshiro:
    """xoshiro256** seeded by splitmix64: the same stream as common/util/rng.c."""
    M = (1 << 64) - 1

    def __init__(self, seed):
        x, self.s = seed & self.M, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & self.M
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & Xoshiro.M

    def next(self):
        s, M = self.s, self.M
        result = (self._rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def below(self, n):
        limit = self.M - (self.M % n)
        while True:
            x = self.next()
            if x < limit:
                return x % n

    def shuffle(self, a):
        """Fisher-Yates from the end: for i = n-1 .. 1 swap a[i], a[below(i+1)]."""
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def rankdata(v):
    """Average ranks (ties share their mean rank), as scipy.stats.rankdata."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def srcc(a, b):
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def read_archdata(path, target):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    with h5py.File(path, "r") as f:
        if _attr_str(f.attrs.get("format", "")) != "autobuild-archdata":
            raise InputError(f"{path}: not an autobuild-archdata file")
        space = _attr_str(f.attrs["space"])
        if space not in OFA_SPACES:
            raise InputError(f"{path}: space '{space}' is not supported here (ofa_mbv3, ofa_pn)")
        arch_text = [_attr_str(s) for s in f["arch"][()]]
        metrics = f["metrics"][()]
        names = [_attr_str(s) for s in f["metrics"].attrs["names"]]
    eq = Equation(target)
    for n in sorted(eq.names()):
        if n not in names:
            raise InputError(f"label equation {target!r}: no metric '{n}' in {path} "
                             f"(metrics: {', '.join(names)})")
    y = np.broadcast_to(np.asarray(eq.eval({n: metrics[:, i] for i, n in enumerate(names)}),
                                   dtype=np.float64), (len(arch_text),)).copy()
    bad = np.nonzero(~np.isfinite(y))[0]
    if len(bad):
        raise InputError(f"{path}: label equation {target!r} is not finite for row {bad[0] + 1}")
    archs = [parse_arch(t, space, f"{path}: /arch[{i}]") for i, t in enumerate(arch_text)]
    return space, archs, y


def stage_moments(space, archs, y):
    """(U, Hmax, 2): per unit and node count n (index n-1) mean and population
    std of the labels; (0, 1) where no architecture has that count."""
    units, hmax = OFA_SPACES[space]["units"], unit_max_nodes(space)
    out = np.zeros((len(units), hmax, 2))
    out[..., 1] = 1.0
    for u, stages in enumerate(units):
        cnt = np.asarray([sum(len(st[s]) for s in stages) for _, st in archs])
        for n in range(1, hmax + 1):
            sel = y[cnt == n]
            if len(sel):
                out[u, n - 1] = (sel.mean(), sel.std())
    return out


@torch.no_grad()
def node_hop_moments(model, gs, batch=1024):
    """(2, L+1): mean and unbiased std of node-embedding L1 norms per hop (eval)."""
    norms = []
    for i in range(0, len(gs), batch):
        x, src, dst, gidx, g = gs.batch(np.arange(i, min(i + batch, len(gs))))
        hs = model.encoder(model.embed_layer(x), src, dst, x.shape[0])
        norms.append(torch.stack([h.abs().sum(-1) for h in hs], dim=1).double().numpy())
    v = np.concatenate(norms)
    return np.stack([v.mean(0), v.std(0, ddof=1)])


def cmd_train(a):
    torch.set_num_threads(a.threads)
    space, archs, y = read_archdata(a.data, a.target)
    n = len(archs)
    if n < 10:
        raise InputError(f"{a.data}: {n} architectures, need at least 10")
    rng = Xoshiro(a.seed)
    order = rng.shuffle(list(range(n)))
    n_train = int(n * 0.9)
    tr, te = np.asarray(order[:n_train]), np.asarray(order[n_train:])
    mu, sig = float(y[tr].mean()), float(y[tr].std())
    if not sig > 0:
        raise InputError(f"{a.data}: the training labels are constant")
    cfg = dict(DEFAULT_CFG, gnn_type=a.gnn, hidden=a.hidden, layers=a.layers, aggr=a.aggr,
               residual=int(not a.no_residual), **{"lambda": a.lam})
    cfg["gnn_activ"] = cfg["reg_activ"] = a.activ
    cfg["gnn_activ_slope"] = cfg["reg_activ_slope"] = 0.01 if a.activ == "leaky_relu" else 0.0
    torch.manual_seed(a.seed)
    model = Predictor(cfg)
    model.label_mean, model.label_std = mu, sig
    gs_tr = GraphSet(space, [archs[i] for i in tr])
    gs_te = GraphSet(space, [archs[i] for i in te])
    ys = torch.tensor((y[tr] - mu) / sig, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd)
    print(f"space {space}, target {a.target!r}, n_train {len(tr)}, n_test {len(te)}, "
          f"{cfg['gnn_type']} hidden {cfg['hidden']} x {cfg['layers']}, epochs {a.epochs}, "
          f"batch {a.batch}, threads {a.threads}", flush=True)
    t0 = time.perf_counter()
    epoch_s = []
    for ep in range(1, a.epochs + 1):
        te0 = time.perf_counter()
        model.train()
        idx = np.asarray(rng.shuffle(list(range(len(tr)))))
        tot = 0.0
        for b in range(0, len(idx), a.batch):
            bi = idx[b:b + a.batch]
            pred, hg = model(*gs_tr.batch(bi))
            loss = autobuild_loss(pred, ys[torch.from_numpy(bi)], hg, cfg["lambda"],
                                  cfg["softrank_strength"], cfg["norm_ord"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            tot += float(loss) * len(bi)
        epoch_s.append(time.perf_counter() - te0)
        if a.log_every and (ep % a.log_every == 0 or ep == 1):
            print(f"epoch {ep}: loss {tot / len(idx):.6f}, {epoch_s[-1]:.4f} s", file=sys.stderr,
                  flush=True)
    total = time.perf_counter() - t0
    model.eval()
    pred, norms = run_model(model, gs_te)
    yt = y[te]
    res = {"space": space, "target": a.target, "n_train": int(len(tr)), "n_test": int(len(te)),
           "epochs": a.epochs, "batch": a.batch, "threads": a.threads,
           "seconds_per_epoch": float(np.mean(epoch_s)), "seconds": total,
           "test_srcc": srcc(yt, pred), "mae": float(np.mean(np.abs(pred - yt))),
           "mape": float(np.mean(np.abs(pred - yt) / np.maximum(np.abs(yt), np.finfo(float).eps))),
           "hop_srcc": [srcc(yt, norms[:, l]) for l in range(norms.shape[1])]}
    print(f"seconds per epoch: {res['seconds_per_epoch']:.4f}")
    print(f"total seconds: {total:.2f}")
    print(f"test SRCC: {res['test_srcc']:.4f}  MAE: {res['mae']:.6g}  MAPE: {res['mape']:.6g}")
    print("hop SRCC: " + " ".join(f"{l}:{v:.4f}" for l, v in enumerate(res["hop_srcc"])))
    print(json.dumps(res))
    if a.out:
        test = {"hop_srcc": res["hop_srcc"], "test_srcc": res["test_srcc"], "mae": res["mae"],
                "mape": res["mape"], "n_train": int(len(tr)), "n_test": int(len(te)),
                "epochs": int(a.epochs), "seed": int(a.seed), "seconds": float(total),
                "batch": int(a.batch), "lr": float(a.lr), "weight_decay": float(a.wd)}
        write_checkpoint(a.out, model, {"space": space, "target": a.target, "label_mean": mu,
                                        "label_std": sig},
                         node_hop_moments(model, gs_tr),
                         stage_moments(space, [archs[i] for i in tr], y[tr]), test)
    return 0


# ---- command line ---------------------------------------------------------------

DESCRIPTION = """\
Plain-PyTorch reference of the AutoBuild predictor (FE-MLP + GATv2Conv or
GraphConv, hop embeddings, soft-Spearman hop loss), module and parameter
names as the authors' state dicts. Run it with /usr/bin/python3.

  predict   --predictor P.h5 --archs A.jsonl
            {"prediction": ..., "hop_norms": [...]} per architecture
  train     --data D.h5 --target EQ [--epochs 200 --batch 128 --seed 1
            --threads 2 --out P.h5]   the paper's default model, our recipe
  check-pt  --pt IN.pt --config C.pkl --predictor P.h5 --archs A.jsonl
            authors' .pt vs converted .h5 vs a float64 reference
  compare   --archs A.jsonl --ref OURS.jsonl --got OTHER.jsonl
            another implementation's predict output vs ours
  synth-pt  --space S --gnn G --out X.pt --config C.pkl
            a random predictor saved as the authors save theirs

Each subcommand has --help. Errors: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{self.prog}: {message} (see --help)")


def main(argv):
    ap = Parser(prog="torch_autobuild.py", description=DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    p = sub.add_parser("predict", help="predictions and hop norms of a checkpoint")
    p.add_argument("--predictor", required=True, help="autobuild-predictor .h5")
    p.add_argument("--archs", required=True, help="architectures, JSON lines")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("train", help="train the paper's default model")
    p.add_argument("--data", required=True, help="autobuild-archdata .h5")
    p.add_argument("--target", required=True, help="label equation, e.g. 'acc' or 'acc*100/latency_gpu'")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--wd", type=float, default=1e-5)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--gnn", default="GATv2Conv", choices=["GATv2Conv", "GraphConv"])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--activ", default="relu", choices=["relu", "leaky_relu"])
    p.add_argument("--aggr", default="mean", choices=["mean", "sum"])
    p.add_argument("--no-residual", action="store_true")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--log-every", type=int, default=10, help="epoch log lines on stderr (0: none)")
    p.add_argument("--out", help="write the trained predictor as an autobuild-predictor .h5")
    p = sub.add_parser("check-pt", help="authors' .pt vs converted .h5 vs float64 reference")
    p.add_argument("--pt", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--predictor", required=True)
    p.add_argument("--archs", required=True)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="also write the .h5 path's predict output (JSON lines) here")
    p = sub.add_parser("compare", help="compare another predict output with ours")
    p.add_argument("--archs", required=True, help="the architectures both were run on")
    p.add_argument("--ref", required=True, help="our predict output (JSON lines)")
    p.add_argument("--got", required=True, help="the other output: arch, prediction[, hop_norms]")
    p.add_argument("--tol", type=float, default=1e-4)
    p = sub.add_parser("synth-pt", help="a random predictor as an authors' state dict + config")
    p.add_argument("--space", required=True, choices=sorted(OFA_SPACES))
    p.add_argument("--gnn", default="GATv2Conv", choices=["GATv2Conv", "GraphConv"])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--activ", default="relu", choices=["relu", "leaky_relu"])
    p.add_argument("--aggr", default="mean", choices=["mean", "sum"])
    p.add_argument("--no-residual", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help=".pt to write")
    p.add_argument("--config", required=True, help=".pkl to write")
    a = ap.parse_args(argv)
    return {"predict": cmd_predict, "train": cmd_train, "check-pt": cmd_check_pt,
            "compare": cmd_compare, "synth-pt": cmd_synth_pt}[a.cmd](a)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        sys.stderr.write(f"torch_autobuild.py: {e}\n")
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(1)
