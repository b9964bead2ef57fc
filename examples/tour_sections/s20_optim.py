"""Tour: numopt.optim, numopt.estimators and numopt.scaling."""
from __future__ import annotations

import importlib.util
import pathlib
import time

import numpy as np

TITLE = "numopt: optimizers (AdamW, Lion, Tiger, EG adaptive), gradient estimators, batch-size laws"


def _logistic_problem():
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X, y.astype(float)


def _loss_grad(params, X, y, l2=1e-3):
    z = X @ params["w"] + params["b"]
    # stable log(1 + e^z) - y z
    loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * params["w"] @ params["w"]
    s = 1 / (1 + np.exp(-z)) - y
    return loss, {"w": X.T @ s / len(y) + l2 * params["w"], "b": np.array([s.mean()])}


def optimizers_demo(outdir):
    import matplotlib.pyplot as plt
    from numopt import optim
    X, y = _logistic_problem()
    T = 300
    # optax-style schedules and composition: counts start at 0, the first update uses count 0
    cosine = lambda lr0: optim.cosine_decay_schedule(lr0, decay_steps=T)  # noqa: E731
    warm_cos = optim.warmup_cosine_decay_schedule(init_value=0.0, peak_value=0.05,
                                                  warmup_steps=20, decay_steps=T,
                                                  end_value=1e-3)
    no_decay_on_bias = lambda p: {"w": True, "b": False}  # noqa: E731
    opts = {
        "sgd lr=0.5": optim.sgd(0.5),
        "momentum lr=0.05 b=0.9": optim.momentum(0.05, 0.9),
        "AdamW lr=0.05 (cosine)": optim.adamw(cosine(0.05), weight_decay=1e-2),
        "clip+AdamW (warmup-cosine)": optim.chain(
            optim.clip_by_global_norm(1.0),
            optim.adamw(learning_rate=warm_cos, weight_decay=1e-2, mask=no_decay_on_bias)),
        "Lion lr=0.005 (cosine)": optim.lion(cosine(0.005), weight_decay=0.1),
        "Tiger lr=0.005 (cosine)": optim.tiger(cosine(0.005), beta=0.945, weight_decay=0.1),
        "EG-adaptive(sgd lr=0.05)": optim.eg_adaptive(optim.sgd(0.05), gain_lr=0.01,
                                                      scale_lr=0.01),
        # larger EG rates grow the step to the edge of stability, then back off (loss spikes)
        "EG-adaptive, rates 0.05": optim.eg_adaptive(optim.sgd(0.05), gain_lr=0.05,
                                                     scale_lr=0.05),
        "sgd lr=0.05 (too small)": optim.sgd(0.05),
    }
    print("Logistic regression on sklearn's breast-cancer data (569 x 30, standardized), "
          f"full batch, {T} steps:")
    print("  (final loss = mean logistic loss + L2 term after the last step; train acc = fraction of "
          "the 569 rows classified correctly)")
    print(f"  {'optimizer':28s} {'final loss':>10s} {'train acc':>9s}")
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, opt in opts.items():
        params = {"w": np.zeros(X.shape[1]), "b": np.zeros(1)}
        state = opt.init(params)
        hist = []
        for _ in range(T):
            loss, g = _loss_grad(params, X, y)
            hist.append(loss)
            up, state = opt.update(g, state, params)
            params = optim.apply_updates(params, up)
        acc = np.mean(((X @ params["w"] + params["b"]) > 0) == (y > 0.5))
        extra = ""
        if "EG" in name:
            rise = max(np.diff(hist))
            extra = (f"  (step multipliers grew to: global {state.scale:.1f}, median per-coordinate "
                     f"{np.median(state.gains['w']):.1f}; "
                     + (f"largest one-step loss increase {rise:.3g})" if rise > 0
                        else "the loss decreased at every step)"))
        print(f"  {name:28s} {hist[-1]:10.5f} {acc:9.4f}{extra}")
        ax.semilogy(hist, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (logistic + L2)")
    ax.set_title("logistic regression on breast-cancer data, full batch")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(outdir / "optim_logistic.png", dpi=110)
    plt.close(fig)

    steps = np.arange(0, T + 1, 50)
    print("  warmup_cosine_decay_schedule(0, 0.05, 20, 300, 1e-3) at steps "
          f"{steps.tolist()}: {np.round(warm_cos(steps), 5).tolist()}")

    # first step from a zero state: Lion = Tiger = AdamW(eps=0) = -lr (sign g + wd theta)
    print("\nThe first update from a zero state is -lr (sign(g) + wd theta) for all three "
          "(lr = 0.1, wd = 0.5):")
    th = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, 0.1, -4.0])
    for name, opt in [("lion", optim.lion(0.1, weight_decay=0.5)),
                      ("tiger", optim.tiger(0.1, weight_decay=0.5)),
                      ("adamw eps=0", optim.adam(0.1, eps=0.0, weight_decay=0.5))]:
        up, _ = opt.update(g, opt.init(th), th)
        print(f"  first step {name:12s} {up}   (-lr(sign g + wd theta) = "
              f"{-0.1 * (np.sign(g) + 0.5 * th)})")

    # the momentum that keeps the ODE friction when the learning rate changes
    lam, h = optim.momentum_to_friction(0.01, 0.9)
    print(f"\nHeavy ball lr=0.01, beta=0.9 discretises x'' + {lam:.3f} x' = -grad f with step "
          f"{h:.4f}.  Keeping that friction:")
    for r in (0.25, 4.0):
        print(f"  lr x {r:4}: beta -> {optim.rescale_momentum(0.9, r):.4f} (rule 1-(1-b)sqrt(r)),"
              f" {optim.rescale_momentum(0.9, r, lr=0.01):.4f} (exact leapfrog)")


def scaling_demo():
    from numopt import scaling
    H = np.diag([1.0, 2.0, 5.0])
    g = H @ np.array([1.0, -1.0, 0.5])
    C = np.diag([4.0, 1.0, 9.0])
    lm, bn = scaling.lr_max(g, H), scaling.b_noise(g, H, C)
    print(f"\nNoisy quadratic H=diag(1,2,5), theta=(1,-1,.5), Sigma=diag(4,1,9): "
          f"eta_max={float(lm):.5f}, B_noise={float(bn):.4f}, B_simple={14 / 11.25:.4f}")
    print("  (eta_max = best SGD step without gradient noise, g'g / g'Hg; B_noise = tr(H Sigma) / g'Hg, "
          "the batch size\n   at which the optimal step is half of eta_max; B_simple = tr(Sigma) / g'g, "
          "its Hessian-free proxy)")
    print("  Optimal learning rate per batch size B: the SGD law eta_max / (1 + B_noise / B), a brute-force "
          "minimization\n  of the exact expected one-step loss, and the sign-SGD (Adam-like) model, "
          "exact (erf) and mean-field:")
    Bs = np.array([1.0, 4.0, 16.0, 64.0, 256.0])
    grid = np.arange(0, 0.4, 1e-4)
    print(f"  {'B':>5s} {'SGD eta* law':>12s} {'SGD brute force':>15s} {'sign-SGD (erf)':>14s} "
          f"{'sign-SGD mean-field':>19s}")
    for B, law, se, mf in zip(Bs, scaling.optimal_lr(Bs, lm, bn), scaling.sign_sgd_lr(Bs, g, H, C),
                              scaling.sign_sgd_lr(Bs, g, H, C, model="mean_field")):
        # expected loss of one SGD step, exact: -eta g.g + eta^2/2 (g'Hg + tr(H Sigma)/B)
        el = -grid * (g @ g) + 0.5 * grid ** 2 * (g @ H @ g + np.trace(H @ C) / B)
        print(f"  {B:5.0f} {float(law):12.4f} {grid[np.argmin(el)]:15.4f} {float(se):14.4f} "
              f"{float(mf):19.4f}")
    Hc = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.8], [0.8, 0.8, 1.0]])
    gc = np.array([0.2, 0.1, 0.3])
    Cc = np.diag([1.0, 2.0, 1.5])
    pk = scaling.sign_sgd_peak(gc, Hc, Cc)
    print(f"  correlated Hessian: sign-SGD surge, beta_noise={pk.beta_noise:.3f}, "
          f"B_peak={pk.b_peak:.1f}, lr_peak={pk.lr_peak:.4f} > lr(B->inf)={pk.lr_inf:.4f}")
    print("  (surge: the optimal sign-SGD learning rate rises with B up to B_peak, then falls back "
          "towards its large-batch limit)")


def run(outdir: pathlib.Path) -> None:
    t0 = time.perf_counter()
    optimizers_demo(outdir)
    scaling_demo()
    spec = importlib.util.spec_from_file_location(
        "plot_optim_estimators",
        pathlib.Path(__file__).resolve().parent.parent / "plot_optim_estimators.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    print("\nPolicy gradient vs zeroth order on the reward of the argmax class, r[argmax theta] "
          "(J. Su, 'Policy gradient and\nzeroth-order optimization: different paths to the same "
          "destination', kexue.fm, 2020, https://kexue.fm/archives/7737):")
    mod.main(outdir, ns=(100, 400, 1600, 6400), seeds=6)
    print(f"(section time {time.perf_counter() - t0:.1f} s)")
