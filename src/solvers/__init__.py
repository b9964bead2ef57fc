"""solvers package of probspace."""
from ._brownian import BrownianPath
from ._sde import solve_sde, SDEResult
