"""Flows in probability space: Fokker–Planck grids, particle throughput, wasserstein_1d.

* ``fokker_planck_1d`` (Chang–Cooper, backward Euler, tridiagonal LU computed once and reused)
  against (a) a naive sparse solver that calls ``scipy.sparse.linalg.spsolve`` on the same
  matrix every step and (b) a dense ``numpy.linalg.solve`` per step where that fits in memory.
  The OU problem ``dX = -X dt + sqrt(2) dW`` on [-8, 8], 20 steps of dt = 0.01.
* ``langevin`` (ULA) and ``svgd`` against hand-written vectorized NumPy loops doing the same
  arithmetic (NumPy's ``default_rng`` for the noise).
* ``wasserstein_1d`` against POT's ``ot.wasserstein_1d`` (which returns ``W_p^p``), p = 2.

Usage: python benchmarks/bench_flows.py
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fmt_time, measure, table, write_section  # noqa: E402

STEPS, DT = 20, 0.01


def fp_problem(n):
    x = np.linspace(-8, 8, n)
    p0 = np.exp(-(x - 2) ** 2 / 0.5)
    return x, p0 / (p0.sum() * (x[1] - x[0]))


def fp_matrix(x):
    """The same Chang–Cooper matrix (vol - dt K) our solver factors, as scipy.sparse CSC."""
    import scipy.sparse as sps
    from solvers.flows._fokker_planck import _operator_1d
    from solvers.flows._fokker_planck_common import grid_cells
    x, dx, vol = grid_cells(x, "grid")
    lower, diag, upper, _ = _operator_1d(lambda z: -z, math.sqrt(2.0), x, dx, "chang_cooper",
                                         None)
    K = sps.diags([lower, diag, upper], [-1, 0, 1], format="csc")
    return (sps.diags(vol, format="csc") - DT * K).tocsc(), vol


def bench_fp(rows, notes):
    import scipy.sparse.linalg as spla
    from solvers import fokker_planck_1d
    for n in (1_000, 10_000, 100_000, 1_000_000):
        x, p0 = fp_problem(n)
        t_eval = [STEPS * DT]
        ours = lambda: fokker_planck_1d(lambda z: -z, math.sqrt(2.0), x, p0, t_eval, dt=DT)  # noqa
        rep = 5 if n <= 100_000 else 3
        t_ours = measure(ours, repeat=rep)
        A, vol = fp_matrix(x)

        def naive():
            p = p0.copy()
            for _ in range(STEPS):
                p = spla.spsolve(A, vol * p)
            return p

        p_ref = naive()
        err = float(np.max(np.abs(np.asarray(ours().p[0]) - p_ref)))
        t_naive = measure(naive, repeat=rep)
        rows.append((f"FP 1-D, {n:.0e} cells, {STEPS} steps", fmt_time(t_ours),
                     "scipy spsolve per step", fmt_time(t_naive), f"{t_naive / t_ours:.1f}"))
        if n <= 2_000:
            Ad = A.toarray()

            def dense():
                p = p0.copy()
                for _ in range(STEPS):
                    p = np.linalg.solve(Ad, vol * p)
                return p

            t_dense = measure(dense, repeat=3)
            rows.append((f"FP 1-D, {n:.0e} cells, {STEPS} steps", fmt_time(t_ours),
                         "dense numpy.linalg.solve per step", fmt_time(t_dense),
                         f"{t_dense / t_ours:.1f}"))
        notes.append(f"n={n:.0e}: max |ours - spsolve| = {err:.1e}")
    notes.append("dense solves skipped above 2e3 cells (O(n^3) per step, O(n^2) memory: 1e4 "
                 "cells is 800 MB).")


def bench_particles(rows, notes):
    from solvers import langevin, svgd
    n, steps, h = 100_000, 50, 0.05
    x0 = np.zeros((n, 1))
    grad = lambda x: -x  # noqa: E731
    langevin(grad, x0, step=h, n_steps=2, seed=0)   # warm the Numba RNG

    def numpy_ula():
        rng = np.random.default_rng(0)
        x = x0.copy()
        for _ in range(steps):
            x = x + h * grad(x) + math.sqrt(2 * h) * rng.standard_normal(x.shape)
        return x

    t_ours = measure(lambda: langevin(grad, x0, step=h, n_steps=steps, seed=0), repeat=5)
    t_np = measure(numpy_ula, repeat=5)
    rows.append((f"ULA {n:.0e} particles x {steps} steps", fmt_time(t_ours),
                 "NumPy loop (default_rng)", fmt_time(t_np), f"{t_np / t_ours:.2f}"))
    notes.append(f"ULA: ours {n * steps / t_ours / 1e6:.1f} M particle-steps/s, NumPy loop "
                 f"{n * steps / t_np / 1e6:.1f} M/s; the noise comes from the counter-based "
                 "Philox stream (reproducible across backends), NumPy's from its ziggurat.")

    m, d, ssteps = 500, 2, 20
    xs = np.random.default_rng(1).normal(size=(m, d))

    def numpy_svgd():
        x = xs.copy()
        for _ in range(ssteps):
            diff = x[:, None, :] - x[None, :, :]
            d2 = np.sum(diff ** 2, axis=-1)
            hh = np.median(d2) / math.log(m + 1)
            K = np.exp(-d2 / hh)
            phi = (K @ grad(x) + 2 / hh * (x * K.sum(1)[:, None] - K @ x)) / m
            x = x + 0.1 * phi
        return x

    ref = numpy_svgd()
    got = svgd(grad, xs, step=0.1, n_steps=ssteps).x
    notes.append(f"SVGD agrees with the NumPy loop to {np.max(np.abs(got - ref)):.1e}.")
    t_ours = measure(lambda: svgd(grad, xs, step=0.1, n_steps=ssteps), repeat=5)
    t_np = measure(numpy_svgd, repeat=5)
    rows.append((f"SVGD {m} particles, d={d}, {ssteps} steps", fmt_time(t_ours),
                 "NumPy loop", fmt_time(t_np), f"{t_np / t_ours:.2f}"))


def bench_wasserstein(rows, notes):
    import ot
    from solvers import wasserstein_1d
    rng = np.random.default_rng(0)
    for shape in ((1_000,), (100_000,), (1_000_000,), (100, 10_000)):
        x = rng.normal(size=shape)
        y = rng.normal(1.0, 2.0, size=shape)
        ours = lambda: wasserstein_1d(x, y, p=2)  # noqa: E731
        if len(shape) == 1:
            peer = lambda: ot.wasserstein_1d(x, y, p=2) ** 0.5  # noqa: E731
        else:
            peer = lambda: ot.wasserstein_1d(x.T, y.T, p=2) ** 0.5  # noqa: E731  (POT: samples on axis 0)
        err = float(np.max(np.abs(np.asarray(ours()) - np.asarray(peer()))))
        rep = 5 if np.prod(shape) <= 1e5 else 3
        t_ours, t_peer = measure(ours, repeat=rep), measure(peer, repeat=rep)
        rows.append((f"wasserstein_1d p=2, shape {shape}", fmt_time(t_ours), "POT ot.wasserstein_1d",
                     fmt_time(t_peer), f"{t_peer / t_ours:.2f}"))
        notes.append(f"W2 shape {shape}: max |ours - POT^(1/2)| = {err:.1e}")


def main():
    rows, notes = [], []
    bench_fp(rows, notes)
    bench_particles(rows, notes)
    bench_wasserstein(rows, notes)
    body = table(("case", "ours", "peer", "peer time", "ratio (peer/ours)"), rows)
    body += "\n\n" + "\n".join(f"- {s}" for s in notes)
    write_section("flows", "Flows: Fokker–Planck grids, particles, wasserstein_1d", body)


if __name__ == "__main__":
    main()
