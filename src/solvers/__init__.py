"""solvers: ODE/SDE integrators and ensembles, gradient and Wasserstein flows, diffusion variances.

- ODEs (``solvers.ode``): :func:`solve_ode` (per-member adaptive steps, events, fused Numba /
  sympy kernels).
- SDEs (``solvers.sde``): :func:`solve_sde`, :class:`BrownianPath`, :func:`ensemble` (Dask),
  Ito/Stratonovich helpers.
- Flows (``solvers.flows``): :func:`gradient_flow`, :func:`langevin`, :func:`svgd`,
  :func:`fokker_planck_1d`, :func:`wasserstein_1d`, :func:`jko_1d`, :func:`entropic_jko`;
  ``solvers.symbolic`` for the sympy side.
- ``solvers.diffusion``: Analytic-DPM / SN / NPR reverse variances, trajectories, sampling, NELBO.

Callables that solvers integrate (right-hand sides, events, Jacobians, drifts and diffusions,
``gradient_flow``'s gradient) follow one convention: by default they receive one member (``t`` a
float, ``y`` of shape ``(d,)``), as in ``scipy.integrate.solve_ivp``; with ``vectorized=True``
the whole batch.  Per-member parameters are marked with :func:`per_member`.

Every public name is re-exported here; import it from ``solvers``.
"""
from ._callables import per_member, PerMember, CompileFallbackWarning
from .ode import solve_ode, ODEResult, ode_from_sympy, SympyODE, DenseSolution
from .flows import (wasserstein_1d, wasserstein_gaussian, fokker_planck_1d, fokker_planck_2d,
                    porous_medium_1d, langevin, svgd, kde_probability_flow, jko_1d,
                    quantiles_from_density, density_from_quantiles, entropic_jko, EntropicBlurWarning,
                    gradient_flow, igr_modified_gradient, gradient_descent, heavy_ball,
                    heavy_ball_start, heavy_ball_to_ode, ode_to_heavy_ball, rescale_momentum,
                    damped_flow)
from . import symbolic
from . import diffusion
from .sde import (BrownianPath, solve_sde, SDEResult, ito_to_stratonovich_drift,
                  stratonovich_to_ito_drift, ensemble)
from probspace import __version__  # noqa: F401  (one version for the distribution)

__all__ = ["solve_ode", "ODEResult", "ode_from_sympy", "SympyODE", "DenseSolution",
           "per_member", "PerMember", "CompileFallbackWarning",
           "solve_sde", "SDEResult", "BrownianPath", "ensemble",
           "ito_to_stratonovich_drift", "stratonovich_to_ito_drift",
           "gradient_flow", "igr_modified_gradient", "gradient_descent", "heavy_ball",
           "heavy_ball_start", "heavy_ball_to_ode", "ode_to_heavy_ball", "rescale_momentum",
           "damped_flow", "langevin", "svgd", "kde_probability_flow",
           "fokker_planck_1d", "fokker_planck_2d", "porous_medium_1d",
           "jko_1d", "quantiles_from_density", "density_from_quantiles", "entropic_jko",
           "EntropicBlurWarning", "wasserstein_1d", "wasserstein_gaussian",
           "symbolic", "diffusion"]
