"""Optimization over the probability simplex: projection, closed-form steps, ``minimize_simplex``.

The kernel ladder: ``_project.py`` (public entry, validation, dispatch), ``_generic.py`` (the
array-API reference), ``_numba.py`` (Condat on NumPy input), ``_cupy.py`` (CuPy); the solver
``_minimize.py``.  Everything public is re-exported from ``numopt``.
"""
from ._project import (project_simplex, project_simplex_jvp, sparsemax, entropic_argmin, eg_step,
                       optimality_gap)
from ._minimize import minimize_simplex, SimplexResult

__all__ = ["project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap", "minimize_simplex", "SimplexResult"]
