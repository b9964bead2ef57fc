"""Gradient flows and Wasserstein gradient flows.

``_gradient.py``: gradient flows as ODEs and their bridge to optimizers (gradient descent, heavy
ball, implicit gradient regularization).  Particles: ``_langevin.py`` (ULA/MALA), ``_svgd.py`` with
``_svgd_numba.py`` (SVGD, KDE probability flow).  Densities on grids: ``_fokker_planck.py``,
``_fokker_planck_2d.py``, ``_fokker_planck_nonlinear.py`` (finite volumes, shared pieces in
``_fokker_planck_common.py``), ``_jko.py`` (exact 1-D JKO), ``_entropic_jko.py``.  Distances:
``_wasserstein.py`` with ``_wasserstein_numba.py``.
"""
from ._wasserstein import wasserstein_1d, wasserstein_gaussian
from ._fokker_planck import fokker_planck_1d
from ._fokker_planck_2d import fokker_planck_2d
from ._fokker_planck_nonlinear import porous_medium_1d
from ._langevin import langevin
from ._svgd import svgd, kde_probability_flow
from ._jko import jko_1d, quantiles_from_density, density_from_quantiles
from ._entropic_jko import entropic_jko, EntropicBlurWarning
from ._gradient import (gradient_flow, igr_modified_gradient, gradient_descent, heavy_ball,
                        heavy_ball_start, heavy_ball_to_ode, ode_to_heavy_ball, rescale_momentum,
                        damped_flow)

__all__ = ["wasserstein_1d", "wasserstein_gaussian", "fokker_planck_1d", "fokker_planck_2d",
           "porous_medium_1d", "langevin", "svgd", "kde_probability_flow", "jko_1d",
           "quantiles_from_density", "density_from_quantiles", "entropic_jko", "EntropicBlurWarning",
           "gradient_flow", "igr_modified_gradient", "gradient_descent", "heavy_ball",
           "heavy_ball_start", "heavy_ball_to_ode", "ode_to_heavy_ball", "rescale_momentum",
           "damped_flow"]
