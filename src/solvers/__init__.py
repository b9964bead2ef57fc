"""solvers package of probspace."""
from ._brownian import BrownianPath
from ._sde import solve_sde, SDEResult
from ._sde_convert import ito_to_stratonovich_drift, stratonovich_to_ito_drift
from ._ensemble import ensemble
