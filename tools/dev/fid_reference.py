#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the independent reference for worker/fid/fid.c: the
# Frechet Inception Distance exactly as pytorch-fid computes it
# (pytorch_fid/fid_score.py: calculate_activation_statistics and
# calculate_frechet_distance): mu = np.mean(act, axis=0), sigma =
# np.cov(act, rowvar=False), covmean = scipy.linalg.sqrtm(sigma1 @ sigma2,
# disp=False), on a non-finite result the retry with eps = 1e-6 added to both
# diagonals, the real part when the imaginary one is negligible (else an
# error, as pytorch-fid), and
#     |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr(covmean).
# It also writes the deterministic synthetic feature files that
# tests/cli/test_fid_reference.sh and bench/fid.sh feed to both sides.
#
# Neither the build nor CI needs this script. Usage (Debian's python3-numpy,
# python3-scipy, python3-h5py):
#
#   /usr/bin/python3 tools/dev/fid_reference.py fid A.h5 B.h5
#       prints {"fid": ..., "seconds": ...}: the whole route, reading
#       included; A and B are features files (dataset 'features', N x D) or
#       statistics files (datasets 'mu', 'sigma'), as `autobuild fid` reads
#   /usr/bin/python3 tools/dev/fid_reference.py make --out A.h5 --n 2000 --d 256 \
#       [--rank 64] [--structure 1] [--seed 1] [--perturb 0.0]
#       writes float32 features X = m + Z W + E diag(s): a low-rank-plus-
#       diagonal covariance W^T W + diag(s^2). --structure seeds m, W and s,
#       --seed the samples Z, E; --perturb P moves m, W and s by P times
#       another random draw, so two files with the same --structure and a
#       small --perturb have a small, non-trivial FID.
import argparse
import json
import sys
import time

import h5py
import numpy as np
from scipy import linalg


def statistics(path):
    """mu, sigma of a features or statistics file (as autobuild reads it)."""
    with h5py.File(path, "r") as f:
        if "mu" in f and "sigma" in f:
            return np.asarray(f["mu"][()], np.float64), np.asarray(f["sigma"][()], np.float64)
        # pytorch-fid collects activations in np.empty((N, dims)): float64
        act = np.asarray(f["features"][()], dtype=np.float64)
    mu = np.mean(act, axis=0)
    sigma = np.cov(act, rowvar=False)
    return mu, sigma


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance, unchanged in substance."""
    mu1 = np.atleast_1d(mu1)
    mu2 = np.atleast_1d(mu2)
    sigma1 = np.atleast_2d(sigma1)
    sigma2 = np.atleast_2d(sigma2)
    assert mu1.shape == mu2.shape, "mean vectors have different lengths"
    assert sigma1.shape == sigma2.shape, "covariances have different dimensions"
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        print("fid calculation produces singular product; adding %s to diagonal of cov "
              "estimates" % eps, file=sys.stderr)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise ValueError("Imaginary component {}".format(m))
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean


def cmd_fid(args):
    t0 = time.perf_counter()
    mu1, s1 = statistics(args.a)
    mu2, s2 = statistics(args.b)
    fid = calculate_frechet_distance(mu1, s1, mu2, s2)
    dt = time.perf_counter() - t0
    print(json.dumps({"fid": float(fid), "seconds": dt}))


def cmd_make(args):
    st = np.random.default_rng(args.structure)
    m = st.normal(0.0, 1.0, args.d)
    w = st.normal(0.0, 1.0 / np.sqrt(args.rank), (args.rank, args.d))
    s = st.uniform(0.2, 1.0, args.d)
    if args.perturb:
        pt = np.random.default_rng(args.structure + 1000003)
        m = m + args.perturb * pt.normal(0.0, 1.0, args.d)
        w = w + args.perturb * pt.normal(0.0, 1.0 / np.sqrt(args.rank), (args.rank, args.d))
        s = s * (1.0 + args.perturb * pt.uniform(-1.0, 1.0, args.d))
    rng = np.random.default_rng(args.seed)
    x = m + rng.standard_normal((args.n, args.rank)) @ w
    x += rng.standard_normal((args.n, args.d)) * s
    with h5py.File(args.out, "w") as f:
        f.create_dataset("features", data=x.astype(np.float32))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fid", help="FID of two features / statistics files, scipy route")
    f.add_argument("a")
    f.add_argument("b")
    mk = sub.add_parser("make", help="write synthetic features")
    mk.add_argument("--out", required=True)
    mk.add_argument("--n", type=int, default=2000)
    mk.add_argument("--d", type=int, default=256)
    mk.add_argument("--rank", type=int, default=64)
    mk.add_argument("--structure", type=int, default=1)
    mk.add_argument("--seed", type=int, default=1)
    mk.add_argument("--perturb", type=float, default=0.0)
    args = p.parse_args()
    if args.cmd == "fid":
        cmd_fid(args)
    else:
        cmd_make(args)


if __name__ == "__main__":
    main()
