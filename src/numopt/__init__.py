"""numopt: optimization over probability simplices, optimizers, losses, estimators, scaling laws.

Simplex toolkit: :func:`project_simplex`, :func:`sparsemax`, :func:`entropic_argmin`,
:func:`eg_step`, :func:`optimality_gap`, :func:`minimize_simplex`.
"""
from ._simplex import (project_simplex, project_simplex_jvp, sparsemax, entropic_argmin, eg_step,
                       optimality_gap)
from ._minimize_simplex import minimize_simplex, SimplexResult

__all__ = ["project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap", "minimize_simplex", "SimplexResult"]
