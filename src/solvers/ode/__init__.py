"""ODE initial-value problems: batched explicit Runge-Kutta integration with events.

The public entry is ``_solve.py`` (:func:`solve_ode`, :class:`ODEResult`); the kernel ladder is
``_numba.py`` (fused per-member kernel), ``_cupy.py`` (fused RawKernel for sympy right-hand sides),
``_generic.py`` (array-API reference rung) and ``_sympy.py`` (:func:`ode_from_sympy`); shared
pieces live in ``_common.py`` (status codes, controller, events), ``_dense.py``
(``dense_output``) and ``_tableaus.py``; the calling convention of user callables in
``solvers/_callables.py``.
"""
from ._solve import solve_ode, ODEResult
from ._sympy import ode_from_sympy, SympyODE
from ._dense import DenseSolution

__all__ = ["solve_ode", "ODEResult", "ode_from_sympy", "SympyODE", "DenseSolution"]
