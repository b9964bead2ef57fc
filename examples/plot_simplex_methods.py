"""EG vs PGD vs Frank-Wolfe (with away steps) on three simplex problems, with gap certificates.

Writes examples/output/simplex_methods.png.
"""
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
    out = Path(__file__).resolve().parent / "output"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (name, f, g) in zip(axes, problems(rng)):
        for method in ("eg", "pgd", "frank_wolfe"):
            res = minimize_simplex(f, g, np.ones(60) / 60, method=method, maxiter=3000, tol=1e-10)
            ax.semilogy(np.maximum(res.history["gap"], 1e-16), label=f"{method} ({res.nit} it)")
            print(f"{name:32s} {method:12s} f={res.fun:.10g} gap={res.gap:.1e} nit={res.nit} {res.message}")
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("optimality gap")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "simplex_methods.png", dpi=110)
    print("wrote", out / "simplex_methods.png")


if __name__ == "__main__":
    main()
