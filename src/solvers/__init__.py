"""solvers: ODE/SDE integrators and ensembles, gradient and Wasserstein flows, diffusion variances.

- ODEs: :func:`solve_ode` (per-member adaptive steps, events, fused Numba / sympy kernels).
- SDEs: :func:`solve_sde`, :class:`BrownianPath`, :func:`ensemble` (Dask), Ito/Stratonovich helpers.
- Flows: :func:`gradient_flow`, :func:`langevin`, :func:`svgd`, :func:`fokker_planck_1d`,
  :func:`wasserstein_1d`, :func:`jko_1d`, :func:`entropic_jko`, ``solvers.symbolic``.
- ``solvers.diffusion``: Analytic-DPM / SN / NPR reverse variances, trajectories, sampling, NELBO.
"""
from ._ode import solve_ode, ODEResult
from ._ode_sympy import ode_from_sympy, SympyODE
from ._wasserstein import wasserstein_1d, wasserstein_gaussian
from ._fokker_planck import fokker_planck_1d
from ._fokker_planck_2d import fokker_planck_2d
from ._fokker_planck_nonlinear import porous_medium_1d
from ._langevin import langevin
from ._svgd import svgd, kde_probability_flow
from ._jko import jko_1d, quantiles_from_density, density_from_quantiles
from ._entropic_jko import entropic_jko, EntropicBlurWarning
from ._flows import (gradient_flow, igr_modified_gradient, gradient_descent, heavy_ball,
                     heavy_ball_start, heavy_ball_to_ode, ode_to_heavy_ball, rescale_momentum,
                     damped_flow)
from . import symbolic
from . import diffusion
from ._brownian import BrownianPath
from ._sde import solve_sde, SDEResult
from ._sde_convert import ito_to_stratonovich_drift, stratonovich_to_ito_drift
from ._ensemble import ensemble
from probspace import __version__  # noqa: F401  (one version for the distribution)

__all__ = ["solve_ode", "ODEResult", "ode_from_sympy", "SympyODE",
           "solve_sde", "SDEResult", "BrownianPath", "ensemble",
           "ito_to_stratonovich_drift", "stratonovich_to_ito_drift",
           "gradient_flow", "igr_modified_gradient", "gradient_descent", "heavy_ball",
           "heavy_ball_start", "heavy_ball_to_ode", "ode_to_heavy_ball", "rescale_momentum",
           "damped_flow", "langevin", "svgd", "kde_probability_flow",
           "fokker_planck_1d", "fokker_planck_2d", "porous_medium_1d",
           "jko_1d", "quantiles_from_density", "density_from_quantiles", "entropic_jko",
           "EntropicBlurWarning", "wasserstein_1d", "wasserstein_gaussian",
           "symbolic", "diffusion"]
