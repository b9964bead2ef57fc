"""Tour: optimal reverse variances for diffusion models (Analytic-DPM, SN/NPR) on exact toy data."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

TITLE = "solvers.diffusion: Analytic-DPM variances, optimal trajectories, NELBO (Table 1 in miniature)"


def run(outdir: pathlib.Path) -> None:
    from solvers.diffusion import (GaussianMixture, NoiseSchedule, analytic_variance, estimate_gamma,
                                   even_trajectory, optimal_trajectory, sample, trajectory_cost)

    # 1. Exact Gamma vs the law of total variance on a 1-component "mixture" (Gaussian data)
    sch = NoiseSchedule.linear(1000)
    s2 = 0.25
    gauss = GaussianMixture([1.0], [[0.0, 0.0]], [s2 * np.eye(2)])
    ms = estimate_gamma(gauss.noise_predictor(sch), gauss.sample(4000, 0), sch, seed=1, steps=[10, 100, 500],
                        return_stderr=True)
    print("ms_eps[n] = E |eps_hat(x_n, n)|^2 / d, the mean squared output of the noise predictor at step n "
          "(Monte Carlo, 4000 rows,\n+- one standard error), against its closed form for Gaussian data "
          "beta_bar / (alpha_bar s2 + beta_bar):")
    for n in (10, 100, 500):
        exact = sch.beta_bar[n] / (sch.alpha_bar[n] * s2 + sch.beta_bar[n])
        print(f"ms_eps[{n}] = {ms.ms_eps[n]:.4f} +- {ms.stderr[n]:.4f}   exact {exact:.4f}")
    # 2. Isotropic Gaussian data: the optimal Gaussian reverse step is exact, so sampling with the
    #    analytic variances reproduces the data law at any K (here 10 steps)
    ms_iso = np.concatenate([[0.0], sch.beta_bar[1:] / (sch.alpha_bar[1:] * s2 + sch.beta_bar[1:])])
    et = even_trajectory(sch, 10)
    x = sample(gauss.noise_predictor(sch), sch, et, analytic_variance(sch, ms_iso, et),
               np.random.default_rng(0).standard_normal((20000, 2)), seed=2, denoise_last=False)
    se = s2 * np.sqrt(2.0 / (x.size - 1))
    print(f"sample variance after 10 reverse steps with the analytic variances: {x.var():.4f} "
          f"(data {s2}; standard error {se:.4f})")
    # 3. Anisotropic Gaussian data (variances 0.01 and 1): exact Gamma in closed form, optimal trajectory
    lam = np.array([0.01, 1.0])
    ms_an = np.concatenate([[0.0], [sch.beta_bar[n] * np.mean(1 / (sch.alpha_bar[n] * lam + sch.beta_bar[n]))
                                    for n in range(1, sch.N + 1)]])
    ot = optimal_trajectory(sch, ms_an, 10)
    print("optimal trajectory (OT, K=10 time steps out of N=1000) for Gaussian data with variances (0.01, 1):",
          ot.tolist())
    print(f"  half J-sum (nats/dim, the part of the bound that depends on the trajectory; lower is better): "
          f"OT {0.5 * trajectory_cost(sch, ms_an, ot):.4f}, evenly spaced (ET) "
          f"{0.5 * trajectory_cost(sch, ms_an, et):.4f}")
    # 4. Table 1 in miniature (reduced: 2-D mixture, K = 10, 50, 200)
    path = pathlib.Path(__file__).resolve().parents[1] / "plot_diffusion_table1.py"
    spec = importlib.util.spec_from_file_location("plot_diffusion_table1", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(quick=True, outdir=outdir)
