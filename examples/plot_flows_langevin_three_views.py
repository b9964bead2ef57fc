"""
One Langevin target, three views: particles, a Fokker–Planck density, and JKO steps
===================================================================================

Target ``π ∝ exp(-V)`` with the tilted double well ``V(x) = x^4/4 - x^2 + x/4``; the
Langevin diffusion ``dX = -V'(X) dt + sqrt(2) dW`` starts from ``N(2, 0.05)``.

* particles: ``solvers.langevin`` (ULA, small step), 20 000 of them;
* density: ``solvers.fokker_planck_1d`` (Chang–Cooper finite volumes, BDF2);
* Wasserstein gradient flow: ``solvers.jko_1d`` on ``F = ∫ V ρ + ∫ ρ log ρ`` (exact JKO steps
  through quantile functions, 400 particles of mass 1/400).

The three laws agree at every time (W1 distances printed) and all converge to π; the free
energy (relative entropy to π) decreases monotonically.

Run: ``python examples/plot_flows_langevin_three_views.py [outdir]`` (writes
``flows_langevin_three_views.png``; ``PROBSPACE_EXAMPLES_QUICK=1`` uses 5 000 particles).
"""
from __future__ import annotations

import math
import os
import pathlib
import sys

import numpy as np

TIMES = (0.0, 0.3, 1.0, 4.0)
QUICK = os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1"


def V(x):
    return x ** 4 / 4 - x ** 2 + x / 4


def dV(x):
    return x ** 3 - 2 * x + 0.25


def d2V(x):
    return 3 * x ** 2 - 2


def compute(n_particles=20_000, h=2e-3, tau=0.01, n_quantiles=400, seed=0):
    from probspace.random import Stream
    from solvers import fokker_planck_1d, jko_1d, langevin, quantiles_from_density, wasserstein_1d

    m0, s0 = 2.0, 0.05
    grid = np.linspace(-4, 4, 801)
    p0 = np.exp(-(grid - m0) ** 2 / (2 * s0)) / math.sqrt(2 * math.pi * s0)
    gibbs = np.exp(-V(grid))
    gibbs /= np.sum(gibbs) * (grid[1] - grid[0])

    # particles: run ULA from one time to the next, continuing the same stream
    stream = Stream(seed)
    x = m0 + math.sqrt(s0) * stream.normal((n_particles, 1))
    clouds, t_prev = [x[:, 0].copy()], 0.0
    for t in TIMES[1:]:
        steps = int(round((t - t_prev) / h))
        x = langevin(lambda z: -dV(z), x, step=h, n_steps=steps, seed=stream).x
        clouds.append(x[:, 0].copy())
        t_prev = t

    t_fp = np.linspace(0.0, TIMES[-1], 81)
    fp = fokker_planck_1d(lambda z: -dV(z), math.sqrt(2.0), grid, p0, t_fp,
                          time_scheme="bdf2", dt=2e-3)
    at = [int(np.argmin(np.abs(t_fp - t))) for t in TIMES]
    log_z = math.log(np.sum(np.exp(-V(grid))) * (grid[1] - grid[0]))

    x0 = quantiles_from_density(grid, p0, n_quantiles)
    jko = jko_1d(x0, tau=tau, n_steps=int(round(TIMES[-1] / tau)), potential=V,
                 grad_potential=dV, hess_potential=d2V)
    jko_at = [np.asarray(jko.x[int(round(t / tau))]) for t in TIMES]

    w = fp.p[at] * fp.cell_volumes
    dist = []
    for k, t in enumerate(TIMES):
        dist.append((t,
                     float(wasserstein_1d(clouds[k], grid, p=1, y_weights=w[k])),
                     float(wasserstein_1d(jko_at[k], grid, p=1, y_weights=w[k])),
                     float(wasserstein_1d(clouds[k], grid, p=1, y_weights=gibbs))))
    return dict(grid=grid, gibbs=gibbs, clouds=clouds, fp=fp, at=at, jko=jko, jko_at=jko_at,
                dist=dist, tau=tau, log_z=log_z)


def plot(res, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from solvers import density_from_quantiles

    grid = res["grid"]
    fig, grid_axes = plt.subplots(2, 3, figsize=(13, 7.5))
    axes = list(grid_axes.ravel())
    for k, (ax, t) in enumerate(zip(axes, TIMES)):
        ax.hist(res["clouds"][k], bins=120, range=(-3, 3.5), density=True, color="0.8",
                label="ULA particles")
        ax.plot(grid, np.asarray(res["fp"].p[res["at"][k]]), "C0", lw=2, label="Fokker–Planck (Chang–Cooper)")
        c, d = density_from_quantiles(res["jko_at"][k])
        ax.plot(c, d, "C3--", lw=1.5, label="JKO (quantiles)")
        ax.plot(grid, res["gibbs"], "k:", lw=1, label="target π")
        ax.set_xlim(-3, 3.5)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.set_title(f"law at t = {t:g}")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[5].axis("off")
    axes[5].legend(handles, labels, loc="center", fontsize=10, title="every law panel shows")
    ax = axes[4]
    ax.semilogy(np.asarray(res["fp"].t), np.asarray(res["fp"].free_energy), "C0-", lw=2,
                label="Fokker–Planck: KL(p_t‖π)")
    # F[ρ] = ∫Vρ + ∫ρ log ρ has minimum -log Z, so F + log Z is KL(ρ‖π) (up to discretization)
    fe = np.asarray(res["jko"].free_energy) + res["log_z"]
    ax.semilogy(np.asarray(res["jko"].t), fe, "C3--", label="JKO: F[ρ] + log Z")
    ax.set_xlabel("t")
    ax.set_ylabel("relative entropy to π (nats)")
    ax.set_title("free energy decreases")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = pathlib.Path(outdir) / "flows_langevin_three_views.png"
    fig.savefig(out, dpi=110)
    return out


def report(res):
    print("   t   W1(particles, FP)   W1(JKO, FP)   W1(particles, target)")
    for t, a, b, c in res["dist"]:
        print(f"{t:5.2f}   {a:17.4f}   {b:11.4f}   {c:21.4f}")
    fe = np.asarray(res["fp"].free_energy)[res["at"]]
    print("FP relative entropy to π at", TIMES, ":", np.array2string(fe, precision=4))
    mass = np.asarray(res["fp"].mass)
    print(f"FP mass drift over {len(mass)} outputs: {np.max(np.abs(mass - mass[0])):.1e}")
    print("JKO free energy non-increasing:",
          bool(np.all(np.diff(np.asarray(res["jko"].free_energy)) <= 1e-12)))


def main(argv):
    # sphinx-gallery runs this file from examples/ without __file__
    here = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
    outdir = pathlib.Path(argv[0]) if argv else here / "output"
    outdir.mkdir(parents=True, exist_ok=True)
    res = compute(n_particles=5_000 if QUICK else 20_000)
    report(res)
    print("plot:", plot(res, outdir))


if __name__ == "__main__":
    main(sys.argv[1:])
