"""Optimal reverse variances for diffusion models (Analytic-DPM, SN/NPR-DPM), trajectories, samplers, bounds.

Paper notation (Bao et al. 2022): ``alpha_bar[n]`` and ``beta_bar[n] = 1 - alpha_bar[n]`` are the
*variances* of ``q(x_n | x_0) = N(sqrt(alpha_bar[n]) x_0, beta_bar[n] I)``, ``n = 0..N``.  A
trajectory is ``0 = tau_0 < tau_1 < ... < tau_K = N``; variance entry ``k - 1`` belongs to
``p(x_{tau_{k-1}} | x_{tau_k})``.  Exact oracles (Gaussian mixtures, point sets) give the true
noise predictor so that every estimator can be checked against truth.
"""
from ._schedule import NoiseSchedule, even_trajectory
from ._oracles import GaussianMixture, PointSet
from ._gamma import estimate_gamma, estimate_eps_mse, GammaEstimate
from ._variance import (step_coefficients, analytic_variance, baseline_variances, sn_variance,
                        npr_variance, SNVariance, NPRVariance, paper_sampling_clip, AnalyticVariance)
from ._trajectory import (optimal_trajectory, trajectory_cost, step_cost_matrix, baseline_cost_matrix,
                          vb_trajectory)
from ._sampling import sample, nelbo, NelboResult

__all__ = ["NoiseSchedule", "even_trajectory", "GaussianMixture", "PointSet", "estimate_gamma",
           "estimate_eps_mse", "GammaEstimate", "step_coefficients", "analytic_variance",
           "baseline_variances", "sn_variance", "npr_variance", "SNVariance", "NPRVariance",
           "paper_sampling_clip", "AnalyticVariance", "optimal_trajectory", "trajectory_cost",
           "step_cost_matrix", "baseline_cost_matrix", "vb_trajectory", "sample", "nelbo", "NelboResult"]
