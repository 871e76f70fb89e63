#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements a development cross-check for common/nn/softrank.c:
# an independent numpy/torch implementation of the L2 soft rank of Blondel et
# al. 2020 ("Fast differentiable sorting and ranking"), structured like the
# reference fast_soft_sort / torchsort code (isotonic_l2 by pool-adjacent-
# violators, projection onto the permutahedron, soft_rank, a custom autograd
# backward), and of the AutoBuild soft Spearman term
# t_corrcoef(y, soft_rank(x) / n) with its gradient from torch autograd.
#
# The PAV here is deliberately a different formulation from the C stack-based
# one: it keeps a list of blocks and pools the first adjacent violating pair
# until none is left (quadratic, but simple). The script also checks its own
# backward against central differences of its own forward in float64.
#
# Neither the build nor the tests need this script; tests/unit/test_softrank.c
# holds the numbers it printed. Usage (Debian's python3-numpy and
# python3-torch; torchsort itself is not needed):
#
#   /usr/bin/python3 tools/dev/softrank_reference.py            # readable
#   /usr/bin/python3 tools/dev/softrank_reference.py --c-table  # test rows
import argparse

import numpy as np
import torch


def isotonic_l2(y):
    """argmin over non-increasing v of ||v - y||^2. Returns v and the sizes of
    the pooled blocks (equal means pool, as in fast_soft_sort)."""
    blocks = [[float(t), 1] for t in y]  # [sum, count]
    changed = True
    while changed:
        changed = False
        for k in range(len(blocks) - 1):
            a, b = blocks[k], blocks[k + 1]
            if a[0] / a[1] <= b[0] / b[1]:
                blocks[k] = [a[0] + b[0], a[1] + b[1]]
                del blocks[k + 1]
                changed = True
                break
    v = np.concatenate([np.full(c, s / c) for s, c in blocks])
    return v, [c for _, c in blocks]


def projection(z):
    """Euclidean projection of z onto the permutahedron of (n, ..., 1).
    Returns the projection, the descending stable permutation and the PAV
    block sizes (in sorted order)."""
    n = len(z)
    w = np.arange(n, 0, -1, dtype=np.float64)
    perm = np.argsort(-z, kind="stable")
    s = z[perm]
    v, sizes = isotonic_l2(s - w)
    out = np.empty(n)
    out[perm] = s - v
    return out, perm, sizes


def soft_rank_np(x, strength):
    return projection(np.asarray(x, dtype=np.float64) / strength)


def soft_rank_vjp(perm, sizes, strength, g):
    """d loss / d x given d loss / d rank g: (I - block mean) in sorted
    order, divided by the strength."""
    gs = np.asarray(g, dtype=np.float64)[perm]
    out_s = np.empty_like(gs)
    start = 0
    for c in sizes:
        out_s[start:start + c] = gs[start:start + c] - gs[start:start + c].mean()
        start += c
    out = np.empty_like(gs)
    out[perm] = out_s / strength
    return out


class SoftRank(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, strength):
        r, perm, sizes = soft_rank_np(x.detach().numpy(), strength)
        ctx.perm, ctx.sizes, ctx.strength = perm, sizes, strength
        return torch.from_numpy(r)

    @staticmethod
    def backward(ctx, grad):
        return torch.from_numpy(soft_rank_vjp(ctx.perm, ctx.sizes, ctx.strength,
                                              grad.numpy())), None


def t_corrcoef(a, b):
    ac = a - a.mean()
    bc = b - b.mean()
    return (ac * bc).sum() / (ac.pow(2).sum().sqrt() * bc.pow(2).sum().sqrt())


def soft_spearman(x, y, strength):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64)
    n = len(x)
    rho = t_corrcoef(yt, SoftRank.apply(xt, strength) / n)
    rho.backward()
    return float(rho), xt.grad.numpy()


def check_vjp(x, strength, g, vjp, h=1e-6):
    """Central differences of <g, soft_rank(x)> in float64."""
    x = np.asarray(x, dtype=np.float64)
    fd = np.empty_like(x)
    for i in range(len(x)):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd[i] = (g @ soft_rank_np(xp, strength)[0] - g @ soft_rank_np(xm, strength)[0]) / (2 * h)
    err = np.max(np.abs(fd - vjp))
    assert err < 1e-6, f"finite differences disagree by {err}"


def f32(v):
    return np.asarray(v, dtype=np.float32).astype(np.float64)


def cases():
    rng = np.random.default_rng(2024)
    x6 = [0.5, -1.25, 2.0, 0.75, 0.75, -0.3]
    y6 = [0.1, -2.0, 1.5, 0.7, 0.2, 0.0]
    x12 = f32(np.round(rng.normal(size=12), 4))
    y12 = f32(np.round(x12 + 0.8 * rng.normal(size=12), 4))
    x8 = [0.1, 0.2, 0.15, 0.05, 0.3, 0.12, 0.25, 0.0]
    y8 = [1.0, 2.0, 1.5, 0.5, 3.0, 1.2, 2.5, 0.0]
    x10 = [1.0, 3.0, 1.0, 2.5, 2.75, -1.0, 3.0, 0.0, 1.5, 1.0]
    y10 = [2.0, 2.0, 1.0, -1.0, 4.0, 0.0, 3.0, 1.0, 1.0, 2.0]
    out = [
        ("x=(3,1,2), a kink: s - w = (0,0,0)", [3.0, 1.0, 2.0], [1.0, 2.0, 3.0], 1.0),
        ("x=(3,1,2), strength 0.4", [3.0, 1.0, 2.0], [1.0, 2.0, 3.0], 0.4),
        ("n=6 tie, strength 1", x6, y6, 1.0),
        ("n=6 tie, strength 0.3", x6, y6, 0.3),
        ("n=6 tie, strength 3", x6, y6, 3.0),
        ("n=12 random, strength 1", list(x12), list(y12), 1.0),
        ("n=12 random, strength 0.3", list(x12), list(y12), 0.3),
        ("n=8 one block, strength 1", x8, y8, 1.0),
        ("n=10 ties, strength 0.5", x10, y10, 0.5),
    ]
    res = []
    for name, x, y, strength in out:
        x, y = f32(x), f32(y)
        g = np.round(rng.normal(size=len(x)), 3)
        r, perm, sizes = soft_rank_np(x, strength)
        vjp = soft_rank_vjp(perm, sizes, strength, g)
        if "kink" not in name:  # not differentiable there: pooled Jacobian
            check_vjp(x, strength, g, vjp)
        rho, drho = soft_spearman(x, y, strength)
        res.append(dict(name=name, x=x, y=y, strength=strength, g=g, rank=r,
                        sizes=sizes, vjp=vjp, rho=rho, drho=drho))
    return res


def fmt(v, spec):
    return ", ".join(format(float(t), spec) for t in v)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--c-table", action="store_true", help="print C initialisers")
    args = ap.parse_args()
    for c in cases():
        if args.c_table:
            print(f"    {{/* {c['name']}; PAV block sizes {c['sizes']} */")
            print(f"     {len(c['x'])}, {c['strength']!r},")
            print(f"     {{{fmt(c['x'], '.9g')}}},")
            print(f"     {{{fmt(c['y'], '.9g')}}},")
            print(f"     {{{fmt(c['g'], '.17g')}}},")
            print(f"     {{{fmt(c['rank'], '.10e')}}},")
            print(f"     {{{fmt(c['vjp'], '.10e')}}},")
            print(f"     {c['rho']:.10e},")
            print(f"     {{{fmt(c['drho'], '.10e')}}}}},")
        else:
            print(c["name"], "strength", c["strength"], "blocks", c["sizes"])
            for key in ("x", "y", "g", "rank", "vjp", "drho"):
                print(f"  {key:5s}", fmt(c[key], ".10g"))
            print(f"  rho   {c['rho']:.10g}")


if __name__ == "__main__":
    main()
