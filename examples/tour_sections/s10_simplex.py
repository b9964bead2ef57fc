"""Tour: numopt's simplex toolkit."""
import numpy as np

TITLE = "numopt - optimization over the probability simplex"


def run(outdir):
    import probspace
    from numopt import (entropic_argmin, eg_step, minimize_simplex, optimality_gap, project_simplex,
                        sparsemax)

    v = np.array([0.5, 2.5, 3.2])
    print("project_simplex([0.5, 2.5, 3.2])            =", project_simplex(v))
    print("project_simplex([0, 0, -inf], radius=3)     =",
          project_simplex(np.array([0.0, 0.0, -np.inf]), radius=3.0))
    batch = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    print("rows of a batch (axis=-1):\n", project_simplex(batch))
    with probspace.use_backend("generic"):
        print("same through the generic array-API rung:\n", project_simplex(batch))
    x = np.array([1.2, 0.9, -0.3, 0.8])
    print("sparsemax(x) =", sparsemax(x), " (sparse: softmax would be dense)")
    c = np.array([0.3, -0.2, 1.0, 0.0])
    print("entropic_argmin(c, tau=0.5) = softmax(-c/tau) =", np.round(entropic_argmin(c, 0.5), 5))
    p = np.ones(4) / 4
    for _ in range(200):
        p = eg_step(p, c + 0.5 * (np.log(p) + 1), 0.5)
    print("EG iterates on <c,p> + tau*sum(p log p) converge to it:", np.round(p, 5))
    print("one EG step with a gradient of 1e300 stays finite:",
          eg_step(np.ones(3) / 3, np.array([1e300, 0.0, -1e300]), 1.0))

    # A random convex quadratic over the simplex, three methods, certified by the gap.
    rng = np.random.default_rng(0)
    n = 40
    a = rng.normal(size=(n, n))
    q = a @ a.T / n + 0.05 * np.eye(n)
    lin = rng.normal(size=n) * 2
    fun = lambda p: 0.5 * p @ q @ p + lin @ p
    grad = lambda p: q @ p + lin
    print(f"\nminimize 0.5 p'Qp + c'p over the simplex, n={n} (tol = 1e-9 on the optimality gap):")
    print("  (gap = sum(p * grad) - min(grad), a certified upper bound on f(p) - min f; "
          "support = coordinates above 1e-12;\n   nit = iterations, nfev = function evaluations)")
    results = {}
    for method in ("eg", "pgd", "frank_wolfe"):
        res = minimize_simplex(fun, grad, np.ones(n) / n, method=method, maxiter=20_000)
        results[method] = res
        print(f"  {method:12s} f = {res.fun:.12f}  gap = {res.gap:.1e}  nit = {res.nit:5d}  "
              f"nfev = {res.nfev:5d}  support (p > 1e-12) = {int((res.x > 1e-12).sum())}  {res.message}")
    print("  gap at the PGD solution recomputed:", optimality_gap(results["pgd"].x, grad(results["pgd"].x)))

    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, res in results.items():
        ax.semilogy(np.maximum(res.history["gap"], 1e-16), label=method)
    ax.set_xlabel("iteration")
    ax.set_ylabel("Frank-Wolfe gap (bound on f - f*)")
    ax.set_title("minimize_simplex on a convex quadratic")
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "simplex_convergence.png", dpi=110)
    plt.close(fig)
    print("wrote", outdir / "simplex_convergence.png")
