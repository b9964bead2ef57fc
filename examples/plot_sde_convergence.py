"""
Strong-order convergence of the SDE methods, and an ensemble fan chart
======================================================================

Left: strong error E|Y_N - Y(T)| against dt for Euler-Maruyama, Milstein, SRIW1 on geometric
Brownian motion (Ito) and SRA1 / EM on the SciML additive-noise problem, every dt driven by the
SAME Brownian paths (one BrownianPath refined).  Right: quantile fan of an Ornstein-Uhlenbeck
ensemble (100k paths, fused Numba kernel from sympy expressions) against the exact quantiles.

Usage: ``python examples/plot_sde_convergence.py [outdir]`` (writes sde_convergence.png;
``PROBSPACE_EXAMPLES_QUICK=1`` uses 20 000 OU paths instead of 100 000).
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from scipy import stats  # noqa: E402

from solvers import BrownianPath, solve_sde  # noqa: E402


def strong_errors(F, G, exact, y0, method, noise, P=1000, T=1.0, levels=range(2, 9), seed=12):
    bm = BrownianPath((P, 1), 0.0, T, seed=seed)
    ref = exact(T, bm.value(T))
    dts, errs = [], []
    for lv in levels:
        dt = T / 2 ** lv
        r = solve_sde(F, G, (0.0, T), np.full((P, 1), y0), dt=dt, brownian=bm, method=method,
                      noise=noise, t_eval=[T])
        dts.append(dt)
        errs.append(np.mean(np.abs(r.y[:, -1] - ref)))
    return np.array(dts), np.array(errs)


def main(outdir=None):
    # sphinx-gallery runs this file from examples/ without __file__
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    outdir = Path(outdir) if outdir else here / "output"
    outdir.mkdir(parents=True, exist_ok=True)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.3))

    mu, sig = 1.01, 0.87
    gbm = (lambda t, y: mu * y, lambda t, y: sig * y,
           lambda t, w: 0.5 * np.exp((mu - sig ** 2 / 2) * t + sig * w), 0.5)
    a, b = 0.1, 0.05
    add = (lambda t, u: b / np.sqrt(1 + t) - u / (2 * (1 + t)),
           lambda t, u: a * b / math.sqrt(1 + t) + 0.0 * u,
           lambda t, w: 1 / math.sqrt(1 + t) + b * (t + a * w) / math.sqrt(1 + t), 1.0)
    for (F, G, ex, y0), method, noise, style in (
            (gbm, "euler_maruyama", "diagonal", "o-"), (gbm, "milstein", "diagonal", "s-"),
            (gbm, "sri", "diagonal", "^-"), (add, "euler_maruyama", "additive", "o--"),
            (add, "sra1", "additive", "^--")):
        dts, errs = strong_errors(F, G, ex, y0, method, noise)
        slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
        prob = "GBM" if F is gbm[0] else "additive"
        ax.loglog(dts, errs, style, label=f"{prob}: {method} (slope {slope:.2f})")
        print(f"{prob:>8} {method:>15}: strong order {slope:.2f}")
    ax.set_xlabel("dt")
    ax.set_ylabel("strong error  E|Y_N - Y(1)|")
    ax.set_title("same Brownian paths at every dt")
    ax.legend(fontsize=8)

    # OU fan chart: dX = th (m - X) dt + s dW from x0
    t_, x_ = sp.symbols("t x")
    th, m, s, x0 = 2.0, 1.0, 0.6, -1.0
    n = 20_000 if os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1" else 100_000
    r = solve_sde([th * (m - x_)], [s + 0 * x_], (0.0, 2.0), np.full((n, 1), x0), dt=0.01,
                  seed=4, noise="additive", method="sra1", symbols=(t_, [x_]))
    tt = np.asarray(r.t)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    emp = np.quantile(r.y[:, :, 0], qs, axis=0)
    mean = m + (x0 - m) * np.exp(-th * tt)
    sd = np.sqrt(s ** 2 / (2 * th) * (1 - np.exp(-2 * th * tt)))
    for lo, hi, alpha in ((0, 4, 0.2), (1, 3, 0.35)):
        bx.fill_between(tt, emp[lo], emp[hi], color="C0", alpha=alpha, lw=0)
    bx.plot(tt, emp[2], "C0", label="ensemble median / 50% / 90% bands")
    for q in qs:
        bx.plot(tt, mean + sd * stats.norm.ppf(q), "k:", lw=0.8)
    bx.plot([], [], "k:", label="exact OU quantiles")
    for i in range(5):
        bx.plot(tt, r.y[i, :, 0], lw=0.5, alpha=0.7)
    bx.set_xlabel("t")
    bx.set_ylabel("X(t)")
    bx.set_title(f"OU ensemble, {n} paths ({r.backend}, SRA1)")
    bx.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = outdir / "sde_convergence.png"
    fig.savefig(path, dpi=110)
    print("wrote", path)


if __name__ == "__main__":
    main(*sys.argv[1:])
