"""numopt: optimization over probability simplices, optimizers, losses, estimators, scaling laws.

- Simplex toolkit: :func:`project_simplex`, :func:`sparsemax`, :func:`entropic_argmin`,
  :func:`eg_step`, :func:`optimality_gap`, :func:`minimize_simplex`.
- ``numopt.optim``: optax-style optimizers (``sgd``, ``momentum``, ``nesterov``, ``adam``,
  ``lion``, ``tiger``, ``eg``, ``eg_adaptive``, ``apply_updates``).
- ``numopt.losses``: losses with analytic gradients.
- ``numopt.estimators``: zeroth-order and policy-gradient estimators.
- ``numopt.scaling``: batch-size / learning-rate laws.
"""
from .simplex import (project_simplex, project_simplex_jvp, sparsemax, entropic_argmin, eg_step,
                      optimality_gap, minimize_simplex, SimplexResult)
from . import optim, estimators, scaling, losses  # noqa: E402,F401
from probspace import __version__  # noqa: E402,F401  (one version for the distribution)

__all__ = ["project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap", "minimize_simplex", "SimplexResult", "optim", "estimators", "scaling",
           "losses"]
