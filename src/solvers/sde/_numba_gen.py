"""Euler-Maruyama kernels generated from scalar code, vectorized across paths.

For sympy input, and for per-member callables that trace to plain arithmetic (``_trace``), the
drift and diffusion are known as scalar code, so the per-step update
of a block of ``LANES`` paths can be written as one straight loop over lanes with the
expressions spelled inline; LLVM then vectorizes the update across paths (the generic fused
kernel calls a per-path function on array views, which it cannot).  Same arithmetic, in the
same order, as ``_steps.step_em``: ``y + f*h + g*(sqrt(h)*z)``.
"""
from __future__ import annotations

import math
import re

import numba as nb
import numpy as np

from probspace.random._numba import split_key

from ._rng_block import alloc_block, normal_pairs_block

LANES = 32
_CACHE: dict = {}

_TEMPLATE = '''
def run_range(lo, hi, Y0, key, sids, t0, dt, N, t_end, save_idx, out, m, k, args, status,
              t_final, y_final, cb):
    k0, k1 = split_key(key)
    d = Y0.shape[1]
    nsave = save_idx.shape[0]
    Y = np.empty((LANES, d))
    Yp = np.empty((LANES, d))
    S0 = np.empty(LANES, dtype=np.uint64)
    S1 = np.empty(LANES, dtype=np.uint64)
    Z0 = np.empty(LANES)
    Z1 = np.empty(LANES)
    ZK = np.empty((k, LANES))
    dead = np.zeros(LANES, dtype=np.bool_)
    W, NF, MB = alloc_block(LANES)
{HOIST}
    for b0 in range(lo, hi, LANES):
        nl = min(LANES, hi - b0)
        for l in range(LANES):
            s0, s1 = split_key(sids[b0 + min(l, nl - 1)])
            S0[l] = s0
            S1[l] = s1
            dead[l] = False
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
            # the state before the step stays in Yp (a failed path reports it)
            tmp = Yp
            Yp = Y
            Y = tmp
            # the lane loop also ORs "y*0 is NaN" (true iff y left the reals) into acc: an
            # integer reduction fused into the update (it costs nothing measurable)
            acc = 0
            for l in range(LANES):
{LOADS}
{EXPRS}
{UPDATES}
{CHECKS}
            if acc != 0:
                for l in range(nl):
                    if dead[l]:
                        continue
                    fin = True
                    for i in range(d):
                        if not np.isfinite(Y[l, i]):
                            fin = False
                    if not fin:
                        p = b0 + l
                        status[p] = -2
                        t_final[p] = t
                        for i in range(d):
                            y_final[p, i] = Yp[l, i]
                        dead[l] = True
            while si < nsave and save_idx[si] == n + 1:
                for l in range(nl):
                    if dead[l]:
                        out[b0 + l, si, :] = np.nan
                    else:
                        out[b0 + l, si, :] = Y[l]
                si += 1
        for l in range(nl):
            if not dead[l]:
                p = b0 + l
                status[p] = 0
                t_final[p] = t_end
                for i in range(d):
                    y_final[p, i] = Y[l, i]
    return 0
'''


def build_em_kernel(d, f_code, g_code, noise, flags):
    """``run_range`` for Euler-Maruyama with the drift and diagonal/scalar diffusion given as
    scalar code: ``f_code`` and ``g_code`` are ``(lines, outputs, constants, offset)`` in the
    locals ``t_``, ``y_{i}_``, ``a{k}_`` (``args[k]``; per member when ``flags[k]``) and
    ``k{j}_`` (``args[len(flags)][offset + j]``, the constants table), see
    ``_member.MemberFn``."""
    ind = " " * 16
    loads = [f"{ind}y_{i}_ = Yp[l, {i}]" for i in range(d)]
    hoist = [f"    a{k}_ = args[{k}]" for k, fl in enumerate(flags) if not fl]
    loads += [f"{ind}a{k}_ = args[{k}][b0 + min(l, nl - 1)]" for k, fl in enumerate(flags) if fl]
    exprs = []
    for tag, (lines, outs, consts, off) in (("f", f_code), ("g", g_code)):
        hoist += [f"    {tag}k{j}_ = args[{len(flags)}][{off + j}]" for j in range(len(consts))]
        exprs += [ind + ln for ln in _rename(lines, tag)]
        exprs += [f"{ind}{tag}_{i} = {_rename_expr(o, tag)}" for i, o in enumerate(outs)]
    ups = []
    for i in range(d):
        c = 0 if noise == "scalar" else i
        ups.append(f"{ind}Y[l, {i}] = y_{i}_ + f_{i} * h + g_{i} * (sq * ZK[{c}, l])")
    checks = []
    for i in range(d):
        checks += [f"{ind}cv_ = Y[l, {i}] * 0.0", f"{ind}acc |= np.int64(cv_ != cv_)"]
    src = (_TEMPLATE.replace("{LOADS}", "\n".join(loads)).replace("{EXPRS}", "\n".join(exprs))
           .replace("{CHECKS}", "\n".join(checks))
           .replace("{UPDATES}", "\n".join(ups)).replace("{HOIST}", "\n".join(hoist)))
    fn = _CACHE.get(src)
    if fn is None:
        ns = {"np": np, "math": math, "split_key": split_key, "alloc_block": alloc_block,
              "normal_pairs_block": normal_pairs_block, "LANES": LANES}
        exec(compile(src, "<solvers.sde generated EM kernel>", "exec"), ns)  # noqa: S102
        fn = _CACHE[src] = nb.njit(nogil=True, error_model="numpy")(ns["run_range"])
    return fn


_LOCAL = re.compile(r"\b([vk])(\d+)_")


def _rename_expr(e, tag):
    return _LOCAL.sub(lambda mt: f"{tag}{mt.group(1)}{mt.group(2)}_", e)


def _rename(lines, tag):
    """The drift's and the diffusion's locals get distinct names."""
    return [_rename_expr(ln, tag) for ln in lines]
