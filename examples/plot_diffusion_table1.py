"""
Analytic-DPM's Table 1 in miniature: the likelihood bound under several reverse variances
=========================================================================================

The negative evidence lower bound (NELBO, nats per dimension; lower is better) of toy data under
diffusion models whose reverse steps use different variances.

Data: a 2-D and a 10-D Gaussian mixture (full covariances), where the exact noise predictor is
known.  Predictors: the exact one, and a deliberately imperfect one (exact plus a smooth
perturbation) to show where the per-point SN/NPR variances help.  For K in {10, 25, 50, 100,
200, 1000} steps of an N = 1000 linear schedule we evaluate the variational bound with
beta-tilde, beta and the analytic variance on the even trajectory (ET) and on optimal trajectories
(OT: for the analytic variance the paper's DP on the Gamma estimate alone; for beta-tilde and beta
the DP over their all-pairs bound terms, as in the paper's baselines), and the per-point
SN-DPM / NPR-DPM variances (exact second moments) on ET.  The differential entropy of the data is the floor.

The plot shows the signed gap ``NELBO - exact NLL`` of the same evaluation rows on a symmetric-log
axis: a bound can sit below the exact NLL only by Monte Carlo error, and such negative gaps are
drawn as they are (below the zero line) instead of being clipped.

Writes ``examples/output/diffusion_table1.md`` and ``diffusion_table1.png``.  Usage::

    python examples/plot_diffusion_table1.py            # full run (a few minutes on 2 cores)
    python examples/plot_diffusion_table1.py --quick    # reduced run (also PROBSPACE_EXAMPLES_QUICK=1)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from solvers.diffusion import (GaussianMixture, NoiseSchedule, NPRVariance, SNVariance, analytic_variance,
                               baseline_cost_matrix, baseline_variances, estimate_gamma, even_trajectory, nelbo,
                               optimal_trajectory, vb_trajectory)

# sphinx-gallery runs this file from examples/ without __file__
OUT = (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()) / "output"
METHODS = ["ET beta-tilde", "ET beta", "ET Analytic", "OT beta-tilde", "OT beta", "OT Analytic",
           "ET Analytic-MSE", "OT Analytic-MSE", "ET SN (exact h)", "ET NPR (exact g)"]


def make_mixture(d, k, seed):
    """A mixture with well separated means and random full covariances (variances 0.01 .. 0.3)."""
    rng = np.random.default_rng(seed)
    if d == 2:
        ang = 2 * np.pi * np.arange(k) / k
        means = 1.5 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        means = rng.standard_normal((k, d))
    covs = []
    for _ in range(k):
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        covs.append(Q @ np.diag(rng.uniform(0.01, 0.3, d)) @ Q.T)
    w = rng.dirichlet(np.full(k, 5.0))
    return GaussianMixture(w, means, np.array(covs))


def perturbed(eps, d, kappa, seed):
    """eps_hat = eps* + kappa tanh(x W + c): a smooth, state-dependent error (like an imperfect network)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, d)) / np.sqrt(d)
    c = rng.standard_normal(d)

    def eps_hat(x, n):
        return eps(x, n) + kappa * np.tanh(x @ W + c)
    return eps_hat


def entropy_per_dim(gm, sch, m=20000, seed=0):
    x = gm.sample(m, seed)
    lp = gm.log_prob(x, 0, sch)
    return float(-lp.mean() / gm.dim), float(lp.std() / np.sqrt(m) / gm.dim)


def run_case(gm, sch, eps_fn, Ks, *, m_gamma, m_eval, seed, exact_eps):
    """NELBO per method and K for one predictor; returns (table dict, ms_eps, info)."""
    d = gm.dim
    t0 = time.perf_counter()
    x_g = gm.sample(m_gamma, seed)
    est = estimate_gamma(eps_fn, x_g, sch, seed=seed + 1, steps_per_call=10, with_mse=True)
    ms, mse = est.ms_eps, est.mse
    t_gamma = time.perf_counter() - t0
    x0 = gm.sample(m_eval, seed + 2)
    nll = -np.asarray(gm.log_prob(x0, 0, sch)) / d          # exact -log p(x0) per dim, same rows
    gap_se = []
    h = SNVariance(gm.eps_second_moment(sch), sch)
    g = NPRVariance(gm.npr_second_moment(sch, eps_fn), sch)
    table = {mth: [] for mth in METHODS}
    se = {mth: [] for mth in METHODS}
    ot_info = []
    F_vb = {kind: baseline_cost_matrix(sch, mse, kind) for kind in ("beta_tilde", "beta")}
    for K in Ks:
        et = even_trajectory(sch, K)
        ot, info = optimal_trajectory(sch, ms, K, return_info=True)
        ot_info.append(info)
        on_et = {
            "ET beta-tilde": baseline_variances(sch, et, "beta_tilde"),
            "ET beta": baseline_variances(sch, et, "beta"),
            "ET Analytic": analytic_variance(sch, ms, et),
            "ET Analytic-MSE": analytic_variance(sch, mse, et, moment="mse"),
            "ET SN (exact h)": h,
            "ET NPR (exact g)": g,
        }
        # one pass per trajectory; the same seed everywhere: common random numbers make the
        # differences between methods precise
        res = nelbo(eps_fn, x0, sch, et, on_et, seed=seed + 3)
        res["OT Analytic"] = nelbo(eps_fn, x0, sch, ot, analytic_variance(sch, ms, ot), seed=seed + 3)
        ot_m = optimal_trajectory(sch, mse, K, moment="mse")
        res["OT Analytic-MSE"] = nelbo(eps_fn, x0, sch, ot_m, analytic_variance(sch, mse, ot_m, moment="mse"),
                                       seed=seed + 3)
        for kind, label in (("beta_tilde", "OT beta-tilde"), ("beta", "OT beta")):
            # the baselines' OT: least-cost path over their all-pairs NELBO terms (Watson et al.)
            tr_vb = vb_trajectory(F_vb[kind], K)
            res[label] = nelbo(eps_fn, x0, sch, tr_vb, baseline_variances(sch, tr_vb, kind), seed=seed + 3)
        gap = np.asarray(res["ET Analytic"].per_sample) - nll
        gap_se.append(float(gap.std(ddof=1) / np.sqrt(gap.size)))
        for mth in METHODS:
            table[mth].append(res[mth].nelbo)
            se[mth].append(res[mth].stderr)
    se["gap"] = gap_se
    return table, se, ms, {"t_gamma": t_gamma, "ot": ot_info, "entropy": float(nll.mean()),
                           "entropy_se": float(nll.std(ddof=1) / np.sqrt(nll.size))}


def fmt(v):
    return f"{v:.3f}" if abs(v) < 1e3 else f"{v:.3g}"


def main(quick=False, outdir=OUT):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sch = NoiseSchedule.linear(1000)
    Ks = [10, 50, 200] if quick else [10, 25, 50, 100, 200, 1000]
    datasets = [("2-D mixture (8 comps)", make_mixture(2, 8, 0))]
    if not quick:
        datasets.append(("10-D mixture (5 comps)", make_mixture(10, 5, 1)))
    m_gamma = {2: 4000 if quick else 12000, 10: 5000}
    m_eval = {2: 1000 if quick else 2000, 10: 2000}
    lines = ["# Analytic-DPM Table 1 in miniature (NELBO, nats per dimension; lower is better)", "",
             f"Linear schedule, N = {sch.N}.  Gamma from M samples per step (the paper's estimator), "
             "the bound from an independent evaluation set with the same noise for every method. "
             "Decoder variance: tilde_beta_(1|2) for beta-tilde and beta (official likelihood code), the "
             "method's own variance otherwise.", ""]
    results = {}
    t_all = time.perf_counter()
    for name, gm in datasets:
        d = gm.dim
        exact = gm.noise_predictor(sch)
        preds = [("exact eps", exact, True), ("perturbed eps (exact + 0.1 tanh(xW + c))", perturbed(exact, d, 0.1, 7), False)]
        for pname, fn, is_exact in preds:
            t0 = time.perf_counter()
            tab, se, ms, info = run_case(gm, sch, fn, Ks, m_gamma=m_gamma[d], m_eval=m_eval[d], seed=11, exact_eps=is_exact)
            ent, ent_se = info["entropy"], info["entropy_se"]
            results[(name, pname)] = (tab, se, ent)
            unrel = info["ot"][0]["unreliable_from"]
            lines += [f"## {name}, {pname}", "",
                      f"Exact NLL of the evaluation rows (the floor of any bound): {ent:.3f} ± {ent_se:.3f} nats/dim.  Gamma: M = {m_gamma[d]}, "
                      f"max ms_eps = {np.max(ms[1:]):.4f}; the OT guard "
                      + (f"treats steps from {unrel} as unreliable (ms_eps > 1 from Monte Carlo error)."
                         if unrel else "was not needed.")
                      + f"  Evaluation: {m_eval[d]} samples; typical standard error "
                      f"{np.median(se['ET Analytic']):.3f} (differences between methods are much more precise: "
                      "common random numbers).", "",
                      "| method | " + " | ".join(f"K={K}" for K in Ks) + " |",
                      "|---|" + "---|" * len(Ks)]
            for mth in METHODS:
                lines.append(f"| {mth} | " + " | ".join(fmt(v) for v in tab[mth]) + " |")
            lines.append("")
            print(f"[{name} / {pname}: {time.perf_counter() - t0:.1f} s]", flush=True)
    lines += claims(results, Ks)
    lines += ["", "## Notes", "",
              "- Gamma here comes from M = 5000-12000 rows of d = 2 or 10 dimensions; the paper uses M d of about "
              "1e8 (CIFAR10).  With our M the estimate crosses 1 in the last third of the steps in three of the four "
              "cases (the true 1 - ms_eps is ~1e-3 or less there), so the reference's guard hands that tail to "
              "evenly spaced steps and the optimal trajectory only optimizes the head.  That, and J's assumption of an optimal mean "
              "(biased for the perturbed predictor), is why OT helps clearly only at small K here.",
              "- SN-DPM's target h - eps_hat^2 assumes eps_hat is the exact conditional mean; with the perturbed "
              "predictor it is biased (and clipped at 0), which costs most at K = 10.  NPR-DPM with the exact "
              "g = E[(eps - eps_hat)^2 | x_t] is the best diagonal Gaussian for the given mean, so NPR <= SN holds in "
              "expectation here; the Extended-Analytic-DPM paper's empirical preference for SN comes from learning h "
              "and g, which this experiment does not model.",
              "- Analytic-MSE (the averaged NPR of J. Su, 'Talk on generative diffusion models (8): optimal "
              "diffusion variance estimation (part 2)', kexue.fm, 2022, https://kexue.fm/archives/9246) equals Analytic in expectation for the exact predictor "
              "and improves on it for the perturbed one.  Its moment E(eps - eps_hat)^2 is tiny with a tiny spread "
              "where eps is well predicted (large t), so its estimate stays reliable exactly where Gamma's does not; "
              "the DP on 1 - mse (optimal_trajectory(..., moment='mse')) is then exactly the bound's DP for that "
              "variance and needs no guard.",
              "- The baselines' OT (DP over their all-pairs bound terms) may start at tau_1 > 1 with the decoder "
              "variance beta_bar[tau_1]; on continuous data that decoder is close to optimal, which helps OT beta "
              "at small K.",
              "- Continuous data, Gaussian decoder: beta-tilde's decoder variance tilde_beta_(1|2) is about half "
              "of Var[x0 | x1] here, which is part of its gap even at K = 1000.",
              "- At K = N = 1000 every trajectory is the full one, so OT rows equal ET rows there (an OT-vs-ET "
              "comparison cannot hold strictly at K = 1000)."]
    lines.append(f"\nTotal run time: {time.perf_counter() - t_all:.0f} s.")
    text = "\n".join(lines) + "\n"
    name = "diffusion_table1" + ("_quick" if quick else "")
    (outdir / f"{name}.md").write_text(text)
    plot(results, Ks, outdir / f"{name}.png")
    print(text)
    return results


def claims(results, Ks):
    """Check the papers' qualitative claims on these numbers and say which hold."""
    out = ["## Which of the papers' qualitative claims hold here", "",
           "Differences between ET rows share all random numbers (one pass), so even small gaps are "
           "real; OT rows use other time steps, so OT-vs-ET gaps below about two standard errors "
           "of the bound are within Monte Carlo noise.  The baselines' OT is built from the same Monte Carlo "
           "pass (E(eps - eps_hat)^2 per step) as Gamma.", ""]

    def ks(pred):
        return [K for i, K in enumerate(Ks) if pred(i)]

    def say(lst):
        if len(lst) == len(Ks):
            return "**yes, at every K**"
        if not lst:
            return "**no, at no K**"
        return f"**at K = {', '.join(map(str, lst))} only**"

    for (name, pname), (tab, se, ent) in results.items():
        a, b, bt = tab["ET Analytic"], tab["ET beta"], tab["ET beta-tilde"]
        ot = tab["OT Analytic"]
        sn, npr = tab["ET SN (exact h)"], tab["ET NPR (exact g)"]
        tol = 2 * float(np.median(se["OT Analytic"]))
        out.append(f"- **{name}, {pname}**:")
        out.append(f"  - Analytic (ET) beats beta and beta-tilde: {say(ks(lambda i: a[i] < min(b[i], bt[i])))} "
                   f"(K={Ks[0]}: {a[0]:.3f} vs {b[0]:.3f} / {fmt(bt[0])}; K={Ks[-1]}: {a[-1]:.3f} vs "
                   f"{b[-1]:.3f} / {fmt(bt[-1])}).")
        worse = ks(lambda i: ot[i] > a[i] + tol)
        out.append(f"  - OT improves on ET: {say(ks(lambda i: ot[i] < a[i]))} (K={Ks[0]}: {ot[0]:.4f} vs {a[0]:.4f})"
                   + (f"; OT is worse by more than 2 s.e. ({tol:.3f}) at K = {', '.join(map(str, worse))}" if worse else "")
                   + ".")
        out.append(f"  - The gap to the floor shrinks with K: **{'yes' if (a[0] - ent) > (a[-1] - ent) else 'no'}** "
                   f"(ET Analytic minus the exact NLL of the same rows: {a[0] - ent:.3f} ± {se['gap'][0]:.3f} at K={Ks[0]}, "
                   f"{a[-1] - ent:.3f} ± {se['gap'][-1]:.3f} at K={Ks[-1]}"
                   + ("; a bound can come out below the NLL only by Monte Carlo error, here within "
                      f"{abs(a[-1] - ent) / se['gap'][-1]:.1f} standard errors" if a[-1] < ent else "")
                   + ").")
        out.append(f"  - SN-DPM (per-point, exact h) beats Analytic: {say(ks(lambda i: sn[i] < a[i]))}; "
                   f"NPR-DPM (exact g) beats Analytic: {say(ks(lambda i: npr[i] < a[i]))}; "
                   f"NPR <= SN: {say(ks(lambda i: npr[i] <= sn[i] + 1e-12))}.")
        otb = tab["OT beta"]
        out.append(f"  - OT helps beta too (paper: yes): {say(ks(lambda i: otb[i] < b[i]))}; OT Analytic beats OT beta: "
                   f"{say(ks(lambda i: ot[i] < otb[i]))} (K={Ks[0]}: {ot[0]:.3f} vs {otb[0]:.3f}).")
        otm = tab["OT Analytic-MSE"]
        out.append(f"  - OT Analytic-MSE (DP on 1 - E(eps - eps_hat)^2, no guard needed) beats OT beta: "
                   f"{say(ks(lambda i: otm[i] < otb[i]))} (K={Ks[0]}: {otm[0]:.3f} vs {otb[0]:.3f}).")
        target = min(b[-1], bt[-1])
        k_ot = next((K for K, v in zip(Ks, ot) if v <= target), None)
        if k_ot is not None:
            out.append(f"  - OT Analytic reaches the best K={Ks[-1]} baseline ({target:.3f}) with K = {k_ot} "
                       f"(a {Ks[-1] / k_ot:.0f}x speed-up; the paper reports 20-40x on images).")
        else:
            out.append(f"  - OT Analytic does not reach the best K={Ks[-1]} baseline ({target:.3f}) at a smaller K here.")
    return out


def plot(results, Ks, path):
    import matplotlib
    import matplotlib.pyplot as plt
    n = len(results)
    ncol = min(n, 2)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.4 * ncol, 4.6 * nrow), squeeze=False)
    markers = "os^vD<>phX"
    for ax, ((name, pname), (tab, se, ent)) in zip(axes.ravel(), results.items()):
        lowest = min(min(np.array(tab[m]) - ent) for m in METHODS)
        for i, mth in enumerate(METHODS):
            gap = np.array(tab[mth]) - ent   # signed: MC error can put a bound below the NLL
            ax.plot(Ks, gap, marker=markers[i % len(markers)], ms=4, lw=1.2,
                    ls="-" if mth.startswith("ET") else "--", label=mth)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_ylim(bottom=min(-0.05, 2.0 * lowest))
        ax.set_xlabel("K (number of reverse steps)")
        ax.set_ylabel("NELBO - exact NLL (nats/dim)\n(symmetric log scale)")
        ax.set_title(f"{name}, {pname.split(' (')[0]}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1 if nrow == 1 else 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    return fig


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:] or os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1")
