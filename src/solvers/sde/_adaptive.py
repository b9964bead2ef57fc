"""Adaptive SDE stepping on a Brownian tree: every path has its own step size.

Error estimate by step doubling: one step of size ``h`` against two steps of ``h/2``, all three
driven by the SAME ``BrownianPath`` (values and Levy areas at ``t``, ``t+h/2``, ``t+h``).  A
rejected step is retried with a smaller ``h`` that queries the same path again, so rejections
do not bias the law of the solution (the trouble with adaptive SDE solvers that redraw noise).
Works for every method; accepted values are the two-half-step results.
"""
from __future__ import annotations

import math

import numpy as np

from ._steps import STEPS

# strong order q of each method: the local error of one step is O(h^(q + 1/2))
ORDERS = {"euler_maruyama": 0.5, "milstein": 1.0, "heun": 1.0, "sra1": 1.5, "sri": 1.5}


def solve_adaptive(xp, F, G, DG, method, noise, calculus, y0a, batch, d, m, bm, t0, t1, t_eval,
                   rtol, atol, dt0, max_steps, gmat=False):
    step = STEPS[method]
    ctx = {"calculus": calculus, "dg": DG, "gmat": gmat}
    levy = method in ("sra1", "sri")
    q = ORDERS[method]
    if noise == "additive" and method == "euler_maruyama":
        q = 1.0
    expo = 1.0 / (q + 0.5)
    P = math.prod(batch)
    dtype = y0a.dtype
    Y = xp.reshape(y0a, (P, d))
    t = np.full(P, t0)
    h = np.full(P, dt0)
    targets = np.asarray(t_eval, dtype=np.float64)
    nt = targets.shape[0]
    si = np.zeros(P, dtype=np.int64)  # next target index of each path
    store = np.zeros((P, nt, d))
    if targets[0] == t0:
        store[:, 0, :] = np.asarray(Y, dtype=np.float64)
        si[:] = 1
    nacc = np.zeros(P, dtype=np.int64)
    nrej = np.zeros(P, dtype=np.int64)
    it = 0
    status = np.zeros(P, dtype=np.int64)
    while True:
        active = si < nt
        if not np.any(active):
            break
        if it >= max_steps:
            status[active] = -1  # max_steps (the shared status codes)
            break
        it += 1
        nxt = targets[np.minimum(si, nt - 1)]
        tn = np.where(active, np.minimum(t + h, nxt), t)
        hh = tn - t
        tm = t + 0.5 * hh
        # times per element (each path's m Brownian components share the path's times)
        times = np.repeat(np.stack([t, tm, tn], axis=1), m, axis=0)
        vals, integ = bm._descend(times, need_integral=levy)
        vals = xp.reshape(vals, (P, m, 3))
        W0, W1, W2 = vals[:, :, 0], vals[:, :, 1], vals[:, :, 2]
        if levy:
            integ = xp.reshape(integ, (P, m, 3))
            I0, I1, I2 = integ[:, :, 0], integ[:, :, 1], integ[:, :, 2]

            def area(Ia, Ib, Wa, Wb, hl):
                hl = xp.maximum(hl, 1e-300)
                return (Ib - Ia - hl * Wa) / hl - 0.5 * (Wb - Wa)
        hb = xp.asarray(np.where(active, hh, 1.0)[:, None])  # inactive paths: harmless dummy step
        hb2 = 0.5 * hb
        tb = xp.asarray(t[:, None])
        Hfull = area(I0, I2, W0, W2, hb) if levy else None
        Ha = area(I0, I1, W0, W1, hb2) if levy else None
        Hb = area(I1, I2, W1, W2, hb2) if levy else None
        dWf = W2 - W0
        if dtype != xp.float64:
            dWf = xp.astype(dWf, dtype)
        y_one = step(xp, noise, F, G, tb, hb, Y, dWf, Hfull, ctx)
        y_half = step(xp, noise, F, G, tb, hb2, Y, W1 - W0, Ha, ctx)
        y_two = step(xp, noise, F, G, tb + hb2, hb2, y_half, W2 - W1, Hb, ctx)
        scale = atol + rtol * xp.maximum(xp.abs(Y), xp.abs(y_two))
        err = np.asarray(xp.max(xp.abs(y_two - y_one) / scale, axis=-1), dtype=np.float64)
        finite = np.isfinite(err) & np.all(np.isfinite(np.asarray(y_two)), axis=-1)
        acc = active & finite & (err <= 1.0)
        accb = xp.asarray(acc[:, None])
        Y = xp.where(accb, y_two, Y)
        t = np.where(acc, tn, t)
        nacc += acc
        nrej += active & ~acc
        with np.errstate(divide="ignore"):
            fac = np.where(err > 0, 0.9 * err ** (-expo), 5.0)
        fac = np.clip(np.where(finite, fac, 0.2), 0.2, 5.0)
        h = np.where(active, np.maximum(hh * fac, 1e-14 * max(1.0, abs(t1))), h)
        hit = acc & (t == nxt)
        if np.any(hit):
            Yn = np.asarray(Y, dtype=np.float64)
            idx = np.nonzero(hit)[0]
            store[idx, si[idx], :] = Yn[idx]
            si[idx] += 1
    y = xp.asarray(np.reshape(store, batch + (nt, d)))
    if dtype != xp.float64:
        y = xp.astype(y, dtype)
    return y, nacc, nrej, status, t, Y
