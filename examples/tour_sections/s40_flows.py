"""Tour: gradient flows and Wasserstein gradient flows (particles, densities, JKO, symbolic)."""
from __future__ import annotations

import importlib.util
import math
import pathlib

import numpy as np

TITLE = ("Flows in probability space: Langevin/MALA/SVGD particles, Chang–Cooper Fokker–Planck, "
         "JKO, Wasserstein distances, IGR, symbolic Fokker–Planck")


def _three_views(outdir):
    path = pathlib.Path(__file__).resolve().parents[1] / "plot_flows_langevin_three_views.py"
    spec = importlib.util.spec_from_file_location("plot_flows_langevin_three_views", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.compute(n_particles=10_000)
    mod.report(res)
    print("plot:", mod.plot(res, outdir))


def run(outdir: pathlib.Path) -> None:
    import scipy.linalg as sl
    import scipy.stats as st
    import sympy as sp

    from solvers import (gradient_descent, gradient_flow, jko_1d, langevin, svgd,
                         wasserstein_1d, wasserstein_gaussian)
    from solvers.symbolic import fokker_planck_residual, probability_flow_drift

    print("1. One target, three views (particles / Fokker–Planck / JKO):")
    _three_views(outdir)

    print("\n2. ULA is biased, MALA is exact (target N(0, 1), step h = 0.2, 20 000 chains):")
    s, h = 1.0, 0.2
    ula = langevin(lambda x: -x, np.zeros((20_000, 1)), step=h, n_steps=80, seed=1)
    mala = langevin(lambda x: -x, np.zeros((20_000, 1)), step=h, n_steps=80, method="mala",
                    log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1), seed=2)
    print(f"   ULA var {np.var(ula.x):.4f} (theory s/(1-h/2s) = {s / (1 - h / (2 * s)):.4f}); "
          f"MALA var {np.var(mala.x):.4f} (acceptance {mala.acceptance_rate:.3f}); "
          f"4 s.e. = {4 * math.sqrt(2 / 20_000):.3f}")
    sv = svgd(lambda x: -(x - 2.0) / 0.25, np.random.default_rng(0).normal(size=(100, 1)) - 3,
              step=0.05, n_steps=1500)
    print(f"   SVGD, 100 particles to N(2, 0.5^2): mean {np.mean(sv.x):.4f}, sd {np.std(sv.x):.4f}")

    print("\n3. Porous medium u_t = (u^2)_xx by exact JKO steps vs the Barenblatt solution:")
    C = (3 / (4 * math.sqrt(12))) ** (2 / 3)
    lv = (np.arange(400) + 0.5) / 400
    q = lambda t: math.sqrt(12 * C) * t ** (1 / 3) * 2 * np.sin(np.arcsin(2 * lv - 1) / 3)  # noqa
    for tau in (0.04, 0.02, 0.01):
        r = jko_1d(q(1.0), tau=tau, n_steps=int(round(1 / tau)), energy="porous", m=2)
        print(f"   tau={tau:<5} max quantile error at t=2: {np.max(np.abs(r.x[-1] - q(2.0))):.2e}")

    print("\n4. Wasserstein distances:")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=1000), rng.normal(1, 2, size=800)
    print(f"   W1 ours {float(wasserstein_1d(a, b, p=1)):.6f}  scipy "
          f"{st.wasserstein_distance(a, b):.6f}")
    A, B = rng.normal(size=(2, 3, 3))
    w = float(wasserstein_gaussian(np.zeros(3), A @ A.T, np.ones(3), B @ B.T))
    print(f"   Bures W2 between two 3-D Gaussians: {w:.6f}")

    print("\n5. Gradient descent tracks the IGR modified flow to higher order (L = x'Ax/2):")
    Am = np.array([[3.0, 0.5], [0.5, 1.0]])
    x0 = np.array([1.0, -2.0])
    for eta in (0.08, 0.04, 0.02):
        gd = gradient_descent(lambda x: x @ Am, x0, lr=eta, n_steps=1).x
        plain = sl.expm(-Am * eta) @ x0
        mod = gradient_flow(lambda x: x @ Am, x0, (0, eta), igr_lr=eta, rtol=1e-12,
                            atol=1e-14).y[-1]
        print(f"   eta={eta:<5} |GD - flow| {np.linalg.norm(gd - plain):.2e}   "
              f"|GD - modified flow| {np.linalg.norm(gd - mod):.2e}")

    print("\n6. Symbolic: OU density solves its Fokker–Planck equation; probability-flow drift:")
    x, t = sp.symbols("x t", real=True)
    mu = sp.Rational(1, 2) + sp.Rational(3, 2) * sp.exp(-t)
    var = sp.Rational(1, 10) * sp.exp(-2 * t) + (1 - sp.exp(-2 * t)) / 2
    p = sp.exp(-(x - mu) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)
    print("   residual (true law):", fokker_planck_residual(sp.Rational(1, 2) - x, 1, p, x, t))
    print("   probability-flow velocity:",
          sp.simplify(probability_flow_drift(sp.Rational(1, 2) - x, 1, p, x)))
