"""Symbolic (sympy) tools for flows in probability space.

Fokker–Planck residuals (``fokker_planck_residual``), stationarity checks, the continuity
equation of ODEs, and the probability-flow ODE of an SDE derived symbolically and compiled for
the numeric solvers.
"""
from ._fokker_planck import (fokker_planck_residual, continuity_residual, is_stationary,
                             probability_flow_drift, probability_flow_ode, diffusion_matrix)

__all__ = ["fokker_planck_residual", "continuity_residual", "is_stationary",
           "probability_flow_drift", "probability_flow_ode", "diffusion_matrix"]
