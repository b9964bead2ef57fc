"""Fused Numba SDE kernels: one compiled loop per trajectory, paths spread over cores by
the shared non-spinning pool (``probspace._pool``) running the GIL-free kernel on path ranges.

The user's per-member callables, prepared as kernel functions ``w(t, y, out, args, p) -> int``
(``_member.MemberFn``: traced scalar code, or a compiled function whose every value's shape is
checked), are inlined into the loop, and the normals are drawn inside it at the (path, step)
address documented in ``_noise``.  A path whose state becomes NaN or infinite stops with status
-2, one whose callable returns a wrong shape with status -5, both at their last good state.  A block of ``LANES`` paths
advances together so that one step's normals come from the lane-vectorized generator
``_rng_block.normal_pairs_block`` -- bit-identical to
``probspace.random._numba.normal_pair`` -- so the numbers equal those of the vectorized rung and
of ``Stream.child(p)``, and a path's result does not depend on how paths are split between
threads, chunks or workers.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random._numba import split_key

from ._rng_block import alloc_block, normal_pairs_block
from ._tableaus import SRA1, SRIW1

LANES = 32

_CACHE: dict = {}

_A0 = np.array(SRIW1["A0"], dtype=np.float64)
_A1 = np.array(SRIW1["A1"], dtype=np.float64)
_B0 = np.array(SRIW1["B0"], dtype=np.float64)
_B1 = np.array(SRIW1["B1"], dtype=np.float64)
_C0 = np.array(SRIW1["c0"], dtype=np.float64)
_C1 = np.array(SRIW1["c1"], dtype=np.float64)
_AL = np.array(SRIW1["alpha"], dtype=np.float64)
_BE1 = np.array(SRIW1["beta1"], dtype=np.float64)
_BE2 = np.array(SRIW1["beta2"], dtype=np.float64)
_BE3 = np.array(SRIW1["beta3"], dtype=np.float64)
_BE4 = np.array(SRIW1["beta4"], dtype=np.float64)
_RA = SRA1

_jit = nb.njit(nogil=True, inline="always", error_model="numpy")


def _noise_ops(noise, gmat):
    """(gd, comp, alloc_g): diffusion times a noise vector (component i), the noise
    component that drives state component i, and the diffusion work array."""
    if gmat:
        @_jit
        def gd(g, v, i):
            s = 0.0
            for j in range(g.shape[1]):
                s += g[i, j] * v[j]
            return s

        @_jit
        def alloc_g(S, d, m):
            return np.empty((S, d, m))
    elif noise == "scalar":
        @_jit
        def gd(g, v, i):
            return g[i] * v[0]

        @_jit
        def alloc_g(S, d, m):
            return np.empty((S, d))
    else:
        @_jit
        def gd(g, v, i):
            return g[i] * v[i]

        @_jit
        def alloc_g(S, d, m):
            return np.empty((S, d))
    if noise == "scalar":
        @_jit
        def comp(i):
            return 0
    else:
        @_jit
        def comp(i):
            return i
    return gd, comp, alloc_g


def _make_step(method, noise, calculus, gmat, fw, gw, dgw):
    """One step of ``method`` calling the kernel functions ``w(t, y, out, args, p, err)``
    (which set ``err[0]`` to the size a callable wrongly returned; a returned code instead
    made the @njit-writer kernel 3x slower)."""
    gd, comp, alloc_g = _noise_ops(noise, gmat)
    ito = calculus == "ito"

    if method == "euler_maruyama":
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            fw(t, y, F0, args, p, err)
            gw(t, y, G0, args, p, err)
            for j in range(v1.shape[0]):
                v1[j] = sq * z[j]
            for i in range(y.shape[0]):
                y[i] = y[i] + F0[i] * h + gd(G0, v1, i)

    elif method == "heun":
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            for j in range(v1.shape[0]):
                v1[j] = sq * z[j]
            fw(t, y, F0, args, p, err)
            gw(t, y, G0, args, p, err)
            for i in range(y.shape[0]):
                ya[i] = y[i] + F0[i] * h + gd(G0, v1, i)
            fw(t + h, ya, F1, args, p, err)
            gw(t + h, ya, G1, args, p, err)
            for i in range(y.shape[0]):
                y[i] = y[i] + (0.5 * h) * (F0[i] + F1[i]) + 0.5 * (gd(G0, v1, i) + gd(G1, v1, i))

    elif method == "milstein" and dgw is not None:
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            for j in range(v1.shape[0]):
                v1[j] = sq * z[j]
            fw(t, y, F0, args, p, err)
            gw(t, y, G0, args, p, err)
            dgw(t, y, G1, args, p, err)
            for i in range(y.shape[0]):
                w = v1[comp(i)]
                corr = w * w - h if ito else w * w
                y[i] = y[i] + F0[i] * h + gd(G0, v1, i) + 0.5 * (G0[i] * G1[i]) * corr

    elif method == "milstein" and ito:
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            for j in range(v1.shape[0]):
                v1[j] = sq * z[j]
            fw(t, y, F0, args, p, err)
            gw(t, y, G0, args, p, err)
            for i in range(y.shape[0]):
                ya[i] = y[i] + F0[i] * h + G0[i] * sq
            gw(t, ya, G1, args, p, err)
            for i in range(y.shape[0]):
                w = v1[comp(i)]
                y[i] = (y[i] + F0[i] * h + gd(G0, v1, i)
                        + 0.5 * ((G1[i] - G0[i]) / sq) * (w * w - h))

    elif method == "milstein":
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            for j in range(v1.shape[0]):
                v1[j] = sq * z[j]
            fw(t, y, F0, args, p, err)
            gw(t, y, G0, args, p, err)
            # central difference (see _steps._milstein_l)
            for i in range(y.shape[0]):
                ya[i] = y[i] + G0[i] * sq
                yb[i] = y[i] - G0[i] * sq
            gw(t, ya, G1, args, p, err)
            gw(t, yb, G3, args, p, err)
            for i in range(y.shape[0]):
                w = v1[comp(i)]
                y[i] = (y[i] + F0[i] * h + gd(G0, v1, i)
                        + 0.5 * ((G1[i] - G3[i]) / (2.0 * sq)) * (w * w))

    elif method == "sra1":
        c10, c11 = _RA["c1"]
        a21 = _RA["A0"][1][0]
        b21 = _RA["B0"][1][0]
        c02 = _RA["c0"][1]
        al1, al2 = _RA["alpha"]
        b11, b12 = _RA["beta1"]
        b21_, b22 = _RA["beta2"]

        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            sh = np.sqrt(h / 12.0)
            m = v1.shape[0]
            for j in range(m):
                v1[j] = sq * z[j]
                v2[j] = 0.5 * v1[j] + sh * z[m + j]  # I_(1,0)/h
                v3[j] = b11 * v1[j] + b21_ * v2[j]
                v4[j] = b12 * v1[j] + b22 * v2[j]
            fw(t, y, F0, args, p, err)
            gw(t + c10 * h, y, G0, args, p, err)
            gw(t + c11 * h, y, G1, args, p, err)
            for i in range(y.shape[0]):
                ya[i] = y[i] + (a21 * h) * F0[i] + b21 * gd(G0, v2, i)
            fw(t + c02 * h, ya, F1, args, p, err)
            for i in range(y.shape[0]):
                y[i] = (y[i] + h * (al1 * F0[i] + al2 * F1[i]) + gd(G0, v3, i)
                        + gd(G1, v4, i))

    elif method == "sri" and gmat:
        # additive noise as a (d, m) matrix: g depends on t only, so the H1 support values
        # (which feed g alone) do not matter, and every noise column j adds its own terms
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            sh = np.sqrt(h / 12.0)
            m = v1.shape[0]
            for j in range(m):
                w = sq * z[j]
                v1[j] = w
                v2[j] = (w * w - h) / (2.0 * sq)                 # chi1
                v3[j] = 0.5 * w + sh * z[m + j]                  # chi2
                v4[j] = (w * w * w - 3.0 * h * w) / (6.0 * h)    # chi3
            d = y.shape[0]
            for s in range(4):
                for i in range(d):
                    x0 = y[i]
                    x1 = y[i]
                    for j in range(s):
                        x0 += _A0[s, j] * h * F[j, i] + _B0[s, j] * gd(G[j], v3, i)
                        x1 += _A1[s, j] * h * F[j, i]
                    ya[i] = x0
                    yb[i] = x1
                fw(t + _C0[s] * h, ya, F[s], args, p, err)
                gw(t + _C1[s] * h, yb, G[s], args, p, err)
            for i in range(d):
                acc = y[i]
                for s in range(4):
                    acc += _AL[s] * h * F[s, i]
                    for c in range(m):
                        acc += (_BE1[s] * v1[c] + _BE2[s] * v2[c] + _BE3[s] * v3[c]
                                + _BE4[s] * v4[c]) * G[s, i, c]
                y[i] = acc

    elif method == "sri":
        @_jit
        def step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4, args, p, err):
            sq = np.sqrt(h)
            sh = np.sqrt(h / 12.0)
            m = v1.shape[0]
            for j in range(m):
                w = sq * z[j]
                v1[j] = w
                v2[j] = (w * w - h) / (2.0 * sq)                 # chi1
                v3[j] = 0.5 * w + sh * z[m + j]                  # chi2
                v4[j] = (w * w * w - 3.0 * h * w) / (6.0 * h)    # chi3
            d = y.shape[0]
            for s in range(4):
                for i in range(d):
                    x0 = y[i]
                    x1 = y[i]
                    c = comp(i)
                    for j in range(s):
                        x0 += _A0[s, j] * h * F[j, i] + _B0[s, j] * v3[c] * G[j, i]
                        x1 += _A1[s, j] * h * F[j, i] + _B1[s, j] * sq * G[j, i]
                    ya[i] = x0
                    yb[i] = x1
                fw(t + _C0[s] * h, ya, F[s], args, p, err)
                gw(t + _C1[s] * h, yb, G[s], args, p, err)
            for i in range(d):
                c = comp(i)
                acc = y[i]
                for s in range(4):
                    acc += _AL[s] * h * F[s, i]
                    acc += (_BE1[s] * v1[c] + _BE2[s] * v2[c] + _BE3[s] * v3[c]
                            + _BE4[s] * v4[c]) * G[s, i]
                y[i] = acc
    else:  # pragma: no cover - validated by the caller
        raise ValueError(method)
    return step, alloc_g


def build_kernel(method, noise, calculus, gmat, fw, gw, dgw=None):
    """The fused ``run_range`` kernel for this method / noise and these kernel functions
    (``w(t, y, out, args, p, err)``, see ``_member.MemberFn.kernel_fn``), cached."""
    key = (method, noise, calculus, gmat, fw, gw, dgw)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    step, alloc_g = _make_step(method, noise, calculus, gmat, fw, gw, dgw)

    @nb.njit(nogil=True, error_model="numpy")
    def run_range(lo, hi, Y0, key, sids, t0, dt, N, t_end, save_idx, out, m, k, args, status,
                  t_final, y_final, cb):
        k0, k1 = split_key(key)
        d = Y0.shape[1]
        nsave = save_idx.shape[0]
        # work arrays once per range of paths: fresh pages are expensive here
        F = np.empty((4, d))
        G = alloc_g(4, d, m)
        ya = np.empty(d)
        yb = np.empty(d)
        v1 = np.empty(m)
        v2 = np.empty(m)
        v3 = np.empty(m)
        v4 = np.empty(m)
        z = np.empty(k)
        # a block of LANES paths advances together so that the normals of one step are
        # generated for all lanes at once by the vectorizable block generator
        Y = np.empty((LANES, d))
        S0 = np.empty(LANES, dtype=np.uint64)
        S1 = np.empty(LANES, dtype=np.uint64)
        Z0 = np.empty(LANES)
        Z1 = np.empty(LANES)
        ZK = np.empty((k, LANES))
        dead = np.zeros(LANES, dtype=np.bool_)
        err = np.full(1, -1, dtype=np.int64)
        W, NF, MB = alloc_block(LANES)
        # row views made once (a view per call would cost reference-count traffic per step)
        F0, F1, F2, F3 = F[0], F[1], F[2], F[3]
        G0, G1, G2, G3 = G[0], G[1], G[2], G[3]
        y = np.empty(d)
        for b0 in range(lo, hi, LANES):
            nl = min(LANES, hi - b0)
            for l in range(LANES):
                s0, s1 = split_key(sids[b0 + min(l, nl - 1)])
                S0[l] = s0
                S1[l] = s1
                dead[l] = False
            for l in range(nl):
                for i in range(d):
                    Y[l, i] = Y0[b0 + l, i]
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
                for l in range(nl):
                    if dead[l]:
                        continue
                    for j in range(k):
                        z[j] = ZK[j, l]
                    for i in range(d):
                        y[i] = Y[l, i]
                    step(t, h, y, z, F, G, F0, F1, F2, F3, G0, G1, G2, G3, ya, yb, v1, v2, v3, v4,
                         args, b0 + l, err)
                    bad = err[0]
                    err[0] = -1
                    fin = True
                    for i in range(d):
                        if not np.isfinite(y[i]):
                            fin = False
                    if bad >= 0 or not fin:
                        # the path stops at its last good state, at the start of this step
                        p = b0 + l
                        status[p] = -5 if bad >= 0 else -2
                        cb[p] = bad
                        t_final[p] = t
                        for i in range(d):
                            y_final[p, i] = Y[l, i]
                        dead[l] = True
                        continue
                    for i in range(d):
                        Y[l, i] = y[i]
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

    _CACHE[key] = run_range
    return run_range


def run_paths(run_range, Y0, key, sids, t0, dt, N, t_end, save_idx, out, m, k, args, status,
              t_final, y_final, cb, cost_per_step=1.0):
    """Run ``run_range`` over all paths: serially or in path ranges on the shared pool
    (``probspace._pool``: non-spinning threads, used only where they pay and cores are free;
    the kernels release the GIL).  Every path's numbers are independent of the split."""
    from probspace._pool import run
    P = Y0.shape[0]
    rest = (Y0, key, sids, t0, dt, N, t_end, save_idx, out, m, k, args, status, t_final,
            y_final, cb)
    run(lambda lo, hi: run_range(lo, hi, *rest), P, float(N) * cost_per_step,
        "solvers.sde.fused", align=LANES)
