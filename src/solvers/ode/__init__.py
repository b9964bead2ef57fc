"""ODE initial-value problems: batched explicit Runge-Kutta integration with events.

The public entry is ``_solve.py`` (:func:`solve_ode`, :class:`ODEResult`); the kernel ladder is
``_numba.py`` (fused per-member kernel), ``_cupy.py`` (fused RawKernel for sympy right-hand sides),
``_generic.py`` (array-API reference rung) and ``_sympy.py`` (:func:`ode_from_sympy`); shared
pieces live in ``_common.py`` (status codes, controller, events) and ``_tableaus.py``.
"""
from ._solve import solve_ode, ODEResult
from ._sympy import ode_from_sympy, SympyODE

__all__ = ["solve_ode", "ODEResult", "ode_from_sympy", "SympyODE"]
