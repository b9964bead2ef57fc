"""
EG vs PGD vs Frank-Wolfe on three simplex problems, with gap certificates
=========================================================================

Exponentiated gradient (EG), projected gradient descent (PGD) and Frank-Wolfe with away steps
minimize three convex functions over the probability simplex of dimension 60.  The y axis is the
optimality gap ``sum_i p_i g_i - min_i g_i`` (``numopt.optimality_gap``), an upper bound on
``f(p) - min f`` for convex ``f``, so each curve certifies how far its iterate is from optimal.

Writes ``examples/output/simplex_methods.png``.
"""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from numopt import minimize_simplex


def problems(rng, n=60):
    a = rng.normal(size=(n, n))
    q = a @ a.T / n + 0.05 * np.eye(n)
    c = rng.normal(size=n) * 2
    yield "convex quadratic", (lambda p: 0.5 * p @ q @ p + c @ p), (lambda p: q @ p + c)
    x = rng.normal(size=n)
    yield "distance to a point (sparsemax)", (lambda p: np.sum((p - x) ** 2)), (lambda p: 2 * (p - x))
    counts = rng.integers(0, 50, size=n) + 1.0
    m = rng.dirichlet(np.ones(n), size=n)  # mixture weights: maximum-likelihood mixing proportions
    yield "mixture log-likelihood", (lambda p: -counts @ np.log(m @ p)), (lambda p: -(m.T @ (counts / (m @ p))))


def main():
    # sphinx-gallery runs this file from examples/ without __file__
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    out = here / "output"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    maxiter = 1000 if os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1" else 3000
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (name, f, g) in zip(axes, problems(rng)):
        for method in ("eg", "pgd", "frank_wolfe"):
            res = minimize_simplex(f, g, np.ones(60) / 60, method=method, maxiter=maxiter, tol=1e-10)
            ax.semilogy(np.maximum(res.history["gap"], 1e-16), label=f"{method} ({res.nit} it)")
            print(f"{name:32s} {method:12s} f={res.fun:.10g} gap={res.gap:.1e} nit={res.nit} {res.message}")
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("optimality gap (bound on f - min f)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "simplex_methods.png", dpi=110)
    print("wrote", out / "simplex_methods.png")


if __name__ == "__main__":
    main()
