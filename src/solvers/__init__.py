"""solvers package of probspace."""
from ._ode import solve_ode, ODEResult
from ._ode_sympy import ode_from_sympy, SympyODE
