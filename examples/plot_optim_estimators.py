"""
Policy gradient and zeroth-order gradients agree on an argmax-reward objective
==============================================================================

Objective: the reward of the arg-max class, R(theta) = r[argmax(theta)], which has zero gradient
almost everywhere.  Two ways to get a useful direction:

* zeroth order (Gaussian smoothing, radius eps): estimates the gradient of
  E_u r[argmax(theta + eps u)] = sum_y r_y q_y(theta), i.e. exactly the policy gradient of the
  "Gaussian-argmax" policy q (the partition argument of J. Su, "Policy gradient and zeroth-order
  optimization: different paths to the same destination", kexue.fm, 2020,
  https://kexue.fm/archives/7737, here without approximation);
* policy gradient of the softmax policy softmax(theta / tau): sum_y r_y grad softmax_y.

With tau matched to eps (Gumbel and Gaussian perturbations with equal variance of logit
differences, tau = eps sqrt(6) / pi) the two exact gradients point the same way, and each
estimator converges to its exact gradient at the n^{-1/2} rate its variance predicts.

Run: ``python examples/plot_optim_estimators.py`` (writes ``examples/output/optim_estimators.png``;
``PROBSPACE_EXAMPLES_QUICK=1`` stops at n = 6400 with 6 seeds per n).
"""
from __future__ import annotations

import math
import os
import pathlib

import numpy as np
from scipy import integrate, stats

from numopt import estimators

THETA = np.array([0.3, 0.1, 0.0, -0.2, 0.25])
REWARD = np.array([1.0, 3.0, 0.0, 2.0, -1.0])
EPS = 0.6
TAU = EPS * math.sqrt(6) / math.pi


def probit_probs(theta, eps=EPS):
    """q_y = P(argmax(theta + eps u) = y), u ~ N(0, I), by 1-D quadrature."""
    out = []
    for y in range(len(theta)):
        others = [j for j in range(len(theta)) if j != y]

        def f(z, y=y, others=others):
            return stats.norm.pdf(z) * np.prod(stats.norm.cdf((theta[y] - theta[others]) / eps + z))
        out.append(integrate.quad(f, -12, 12, epsabs=1e-13, epsrel=1e-12)[0])
    return np.array(out)


def probit_gradient(h=1e-5):
    """Exact gradient of sum_y r_y q_y(theta) (central differences of the quadrature)."""
    e = np.eye(len(THETA))
    return np.array([(REWARD @ probit_probs(THETA + h * v) - REWARD @ probit_probs(THETA - h * v))
                     / (2 * h) for v in e])


def softmax_gradient():
    p = np.exp(THETA / TAU - np.max(THETA / TAU))
    p /= p.sum()
    return p * (REWARD - p @ REWARD) / TAU


def zo(n, seed):
    f = lambda Z: REWARD[np.argmax(Z, axis=-1)]   # noqa: E731  (vectorized over rows)
    return estimators.zeroth_order_grad(f, THETA, eps=EPS, n_samples=n, seed=seed,
                                        vectorized=True)


def pg(n, seed, baseline="mean"):
    res = estimators.policy_gradient(THETA / TAU, None, lambda y: REWARD[y], n_samples=n,
                                     seed=seed, baseline=baseline)
    res["grad"] = res.grad / TAU          # chain rule: d/dtheta = (1/tau) d/dlogits
    res["stderr"] = res.stderr / TAU
    return res


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main(outdir: pathlib.Path, ns=(100, 400, 1600, 6400, 25600), seeds=12):
    import matplotlib.pyplot as plt
    g_probit = probit_gradient()
    g_soft = softmax_gradient()
    print("exact gradient of E r[argmax(theta + eps u)], u ~ N(0, I) (the Gaussian-argmax or 'probit' "
          f"policy; what zeroth order estimates):\n  {np.round(g_probit, 4)}")
    print(f"exact gradient of E r[y], y ~ softmax(theta / tau), tau={TAU:.3f} (what the policy gradient "
          f"estimates):\n  {np.round(g_soft, 4)}")
    print(f"cosine(probit, softmax) = {cosine(g_probit, g_soft):.4f}")
    rows = []
    errs = {"zeroth order": [], "policy gradient (mean baseline)": [],
            "policy gradient (optimal baseline)": []}
    for n in ns:
        z = [zo(n, s) for s in range(seeds)]
        pm = [pg(n, s, "mean") for s in range(seeds)]
        po = [pg(n, s, "optimal") for s in range(seeds)]
        rmse = lambda rs, g: math.sqrt(np.mean([np.sum((r.grad - g) ** 2) for r in rs]))  # noqa
        pred = lambda rs: math.sqrt(np.mean([np.sum(r.stderr ** 2) for r in rs]))  # noqa
        errs["zeroth order"].append((rmse(z, g_probit), pred(z)))
        errs["policy gradient (mean baseline)"].append((rmse(pm, g_soft), pred(pm)))
        errs["policy gradient (optimal baseline)"].append((rmse(po, g_soft), pred(po)))
        rows.append((n, cosine(z[0].grad, g_soft), cosine(pm[0].grad, g_probit)))
    print("\nrmse: root-mean-square error of an estimate against its exact gradient, over "
          f"{seeds} seeds; (pred): the same error predicted\nfrom the estimators' own standard "
          "errors; cos(A est, B truth): cosine between one estimate of A and the exact gradient of "
          "B\n(ZO = zeroth order, PG = policy gradient with the mean or the variance-optimal baseline).")
    print("\n     n   rmse ZO (pred)      rmse PG-mean (pred)  rmse PG-opt (pred)   "
          "cos(ZO est, PG truth)  cos(PG est, ZO truth)")
    for i, n in enumerate(ns):
        cells = "  ".join(f"{e[i][0]:.4f} ({e[i][1]:.4f})" for e in errs.values())
        print(f"{n:6d}   {cells}      {rows[i][1]:.4f}                {rows[i][2]:.4f}")
    for name, e in errs.items():
        slope = np.polyfit(np.log(ns), np.log([x[0] for x in e]), 1)[0]
        print(f"{name}: fitted error slope {slope:.3f} (theory -0.5)")

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name, e in errs.items():
        ax[0].loglog(ns, [x[0] for x in e], "o-", label=f"{name}: RMSE")
        ax[0].loglog(ns, [x[1] for x in e], "k:", lw=1)
    ax[0].set_xlabel("samples n")
    ax[0].set_ylabel("RMS error vs exact gradient")
    ax[0].set_title("each estimator -> its exact gradient, n^-1/2 (dotted: predicted)")
    ax[0].legend(fontsize=7)
    k = np.arange(len(THETA))
    big = ns[-1]
    ax[1].bar(k - 0.3, g_probit, 0.2, label="exact, Gaussian-argmax policy")
    ax[1].bar(k - 0.1, zo(big, 99).grad, 0.2, label=f"zeroth order, n={big}")
    ax[1].bar(k + 0.1, g_soft, 0.2, label="exact, softmax policy")
    ax[1].bar(k + 0.3, pg(big, 99).grad, 0.2, label=f"policy gradient, n={big}")
    ax[1].set_xlabel("class y (coordinate of theta)")
    ax[1].set_ylabel("gradient component")
    ax[1].set_title(f"gradient of the argmax reward (cos = {cosine(g_probit, g_soft):.4f})")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    outdir.mkdir(parents=True, exist_ok=True)
    fig.savefig(outdir / "optim_estimators.png", dpi=110)
    return errs


if __name__ == "__main__":
    import matplotlib
    matplotlib.use("Agg")
    # sphinx-gallery runs this file from examples/ without __file__
    here = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
    if os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1":
        main(here / "output", ns=(100, 400, 1600, 6400), seeds=6)
    else:
        main(here / "output")
