"""Tour: numopt.losses -- the EXACT toy problem, loss oracles, a quick tabular study."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import scipy.optimize as so

TITLE = "numopt.losses: accuracy-shaped losses (EXACT, smoothed accuracy, ZLPR, EMO)"

HERE = pathlib.Path(__file__).resolve().parent


def _argmin(f):
    return so.minimize_scalar(f, bounds=(-1.5, 1.5), method="bounded",
                              options={"xatol": 1e-10}).x


def run(outdir: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    from numopt.losses import (emo, exact, hinge, sigmoid_cross_entropy, smoothed_accuracy,
                               zlpr, zlpr_soft)

    # 1. The toy problem of J. Su, "How to train your accuracy?", kexue.fm, 2022,
    #    https://kexue.fm/archives/9098: x = -.25, 0, .25, labels -, -, +; predict sign(x - b).
    X, t01, tpm = np.array([-0.25, 0.0, 0.25]), np.array([0, 0, 1]), np.array([-1, -1, 1])
    rows = [("cross-entropy", _argmin(lambda b: float(sigmoid_cross_entropy(X - b, t01,
                                                                             reduction="sum"))))]
    for k in (2, 5, 10):
        rows.append((f"cross-entropy, logits {k}(x-b)",
                     _argmin(lambda b, k=k: float(sigmoid_cross_entropy(k * (X - b), t01,
                                                                        reduction="sum")))))
    bs = np.linspace(0.5, 1.2, 701)
    hv = np.array([float(hinge(X - b, tpm, reduction="sum")) for b in bs])
    flat = bs[hv <= hv.min() + 1e-12]
    rows.append(("EXACT, sigma=0.05", _argmin(lambda b: float(exact(X - b, t01, sigma=0.05,
                                                                    reduction="sum")))))
    rows.append(("smoothed accuracy, T=0.02",
                 _argmin(lambda b: float(smoothed_accuracy(X - b, t01, temperature=0.02,
                                                           reduction="sum")))))
    print("Toy problem (J. Su, 'How to train your accuracy?', kexue.fm, 2022, "
          "https://kexue.fm/archives/9098):\n"
          "three points x = -0.25, 0, 0.25 with labels -, -, +, classified by sign(x - b).  The threshold b "
          "that minimizes each\nloss (100% accuracy iff 0 < b < 0.25):")
    print(f"  {'loss':32s} {'argmin b':>10s}  100% accurate?")
    for name, b in rows:
        print(f"  {name:32s} {b:10.4f}  {'yes' if 0 < b < 0.25 else 'no'}")
    print(f"  {'hinge':32s} flat on [{flat.min():.3f}, {flat.max():.3f}] (minimum {hv.min():.2f})"
          "  no")
    print("  (independently computed reference values: CE 0.70009; k = 2, 5, 10 -> .3604, .1726, "
          ".1312; hinge flat on [0.75, 1])")

    # 2. Oracle values.
    print("\nLoss values against closed forms (in parentheses).  EXACT's P is the probability that the "
          "argmax of the logits plus\nGaussian noise of scale sigma is the true class; Delta is the "
          "logit margin of the true class:")
    p_bin = 1 - float(exact(np.array([1.0]), np.array([1]), sigma=0.5))
    p3, err = exact(np.array([[1.0, 0.0, -1.0]]), np.array([0]), return_error=True)
    print(f"  EXACT binary P(correct), Delta=1, sigma=.5: {p_bin:.5f} (0.92135)")
    print(f"  EXACT 3 classes mu=[1,0,-1], y=0: P = {1 - float(p3):.5f} (0.72875), "
          f"integration error estimate {float(err):.1e}")
    for C in (2, 3, 5):
        v = 1 - float(exact(np.zeros((1, C)), np.array([0]), n_points=64))
        print(f"  EXACT equal logits, C={C}: P = {v:.6f} (1/C = {1 / C:.6f})")
    s, y = np.array([2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 1, 0])
    print(f"  ZLPR s={s.tolist()}, y={y.tolist()}: {float(zlpr(s, y)):.6f} (0.903969)")
    tt = np.array([0.1, 0.5, 0.9, 0.3])
    res = so.minimize(lambda x: float(zlpr_soft(x, tt)), np.zeros(4),
                      jac=lambda x: zlpr_soft(x, tt, return_grad=True)[1], method="BFGS",
                      options={"gtol": 1e-10})
    print(f"  soft ZLPR optimum for t={tt.tolist()}: s = {np.round(res.x, 4).tolist()} "
          f"(logit(t)/2 = {np.round(np.log(tt / (1 - tt)) / 2, 4).tolist()})")
    z = np.array([[1.0, 2.0, 0.5]])
    p = np.exp(z) / np.exp(z).sum()
    print(f"  EMO with 0/1 cost: {float(emo(z, np.array([1]))):.6f} = 1 - p_target "
          f"= {1 - p[0, 1]:.6f}")

    # 3. Plot the toy losses against b.
    bs = np.linspace(-0.5, 1.5, 401)
    curves = {
        "cross-entropy": [float(sigmoid_cross_entropy(X - b, t01, reduction="sum")) for b in bs],
        "hinge": [float(hinge(X - b, tpm, reduction="sum")) for b in bs],
        "EXACT (sigma=0.1) x3": [3 * float(exact(X - b, t01, sigma=0.1)) for b in bs],
        "smoothed acc. (T=0.05) x3": [3 * float(smoothed_accuracy(X - b, t01, temperature=0.05))
                                      for b in bs],
    }
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, v in curves.items():
        ax.plot(bs, v, label=k)
    ax.axvspan(0, 0.25, color="g", alpha=0.15, label="100% accuracy")
    ax.set_xlabel("threshold b")
    ax.set_ylabel("summed loss")
    ax.set_ylim(0, 4)
    ax.legend()
    ax.set_title("toy problem of J. Su, kexue.fm/archives/9098")
    fig.tight_layout()
    fig.savefig(outdir / "losses_toy_problem.png", dpi=110)
    plt.close(fig)
    print(f"\n  plot: {outdir / 'losses_toy_problem.png'}")

    # 4. A quick version of the real-data study (examples/exact_tabular_study.py).
    spec = importlib.util.spec_from_file_location("exact_tabular_study",
                                                  HERE.parent / "exact_tabular_study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    seeds = range(2)
    results, shapes = study.run_study(("breast_cancer", "wine", "iris"), seeds, verbose=False)
    print("\nQuick tabular study (3 datasets x 2 seeds; full run: "
          "python examples/exact_tabular_study.py)")
    print(study.format_table(results, shapes, seeds))
