"""Euler-Maruyama kernels generated from sympy expressions, vectorized across paths.

For sympy input the drift and diffusion are known as scalar expressions, so the per-step update
of a block of ``LANES`` paths can be written as one straight loop over lanes with the
expressions spelled inline; LLVM then vectorizes the update across paths (the generic fused
kernel calls a per-path function on array views, which it cannot).  Same arithmetic, in the
same order, as ``_steps.step_em``: ``y + f*h + g*(sqrt(h)*z)``.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
import sympy as sp

from probspace.random._numba import split_key

from ._rng_block import alloc_block, normal_pairs_block

LANES = 32
_CACHE: dict = {}

_TEMPLATE = '''
def run_range(lo, hi, Y0, key, sids, t0, dt, N, t_end, save_idx, out, m, k, args):
    k0, k1 = split_key(key)
    d = Y0.shape[1]
    nsave = save_idx.shape[0]
    Y = np.empty((LANES, d))
    S0 = np.empty(LANES, dtype=np.uint64)
    S1 = np.empty(LANES, dtype=np.uint64)
    Z0 = np.empty(LANES)
    Z1 = np.empty(LANES)
    ZK = np.empty((k, LANES))
    W, NF, MB = alloc_block(LANES)
    for b0 in range(lo, hi, LANES):
        nl = min(LANES, hi - b0)
        for l in range(LANES):
            s0, s1 = split_key(sids[b0 + min(l, nl - 1)])
            S0[l] = s0
            S1[l] = s1
        for l in range(LANES):
            for i in range(d):
                Y[l, i] = Y0[b0 + min(l, nl - 1), i]
        si = 0
        while si < nsave and save_idx[si] == 0:
            for l in range(nl):
                out[b0 + l, si, :] = Y[l]
            si += 1
        q = np.uint64(0xFFFFFFFFFFFFFFFF)
        for n in range(N):
            t = t0 + n * dt
            tn = t0 + (n + 1) * dt if n + 1 < N else t_end
            h = tn - t
            sq = np.sqrt(h)
            t_ = t
            base = np.uint64(n) * np.uint64(k)
            for j in range(k):
                ij = base + np.uint64(j)
                qi = ij >> np.uint64(1)
                if qi != q:
                    normal_pairs_block(k0, k1, S0, S1, qi, Z0, Z1, W, NF, MB)
                    q = qi
                if (ij & np.uint64(1)) == np.uint64(0):
                    for l in range(LANES):
                        ZK[j, l] = Z0[l]
                else:
                    for l in range(LANES):
                        ZK[j, l] = Z1[l]
            for l in range(LANES):
{LOADS}
{EXPRS}
{UPDATES}
            while si < nsave and save_idx[si] == n + 1:
                for l in range(nl):
                    out[b0 + l, si, :] = Y[l]
                si += 1
'''


def build_em_kernel(ssde, noise):
    """``run_range`` for Euler-Maruyama on this symbolic SDE (diagonal/scalar/additive-diagonal)."""
    from sympy.printing.pycode import PythonCodePrinter
    pr = PythonCodePrinter({"fully_qualified_modules": True})
    ts, ysub, rep = ssde._subs()
    ind = " " * 16
    loads = "\n".join(f"{ind}y_{i}_ = Y[l, {i}]" for i in range(ssde.d))
    exprs = []
    for i in range(ssde.d):
        exprs.append(f"{ind}f_{i} = float({pr.doprint(sp.sympify(ssde.f[i, 0]).xreplace(rep))})")
        exprs.append(f"{ind}g_{i} = float({pr.doprint(sp.sympify(ssde.g[i, 0]).xreplace(rep))})")
    ups = []
    for i in range(ssde.d):
        c = 0 if noise == "scalar" else i
        ups.append(f"{ind}Y[l, {i}] = y_{i}_ + f_{i} * h + g_{i} * (sq * ZK[{c}, l])")
    src = _TEMPLATE.replace("{LOADS}", loads).replace("{EXPRS}", "\n".join(exprs)).replace(
        "{UPDATES}", "\n".join(ups))
    fn = _CACHE.get(src)
    if fn is None:
        ns = {"np": np, "math": math, "split_key": split_key, "alloc_block": alloc_block,
              "normal_pairs_block": normal_pairs_block, "LANES": LANES}
        exec(compile(src, "<solvers.sde generated EM kernel>", "exec"), ns)
        fn = _CACHE[src] = nb.njit(nogil=True, error_model="numpy")(ns["run_range"])
    return fn
