"""SDEs: fixed-step and adaptive integration of ensembles, Brownian paths, Ito/Stratonovich drifts.

The public entry is ``_solve.py`` (:func:`solve_sde`, :class:`SDEResult`); the user's callables
follow the one calling convention of :mod:`solvers._callables` and are prepared by
``_member.py`` (traced to scalar code by ``_trace.py``, compiled with Numba, or called per
member in Python).  The kernel ladder is ``_numba.py`` (fused per-path kernel) with
``_numba_gen.py`` (lane-vectorized Euler-Maruyama from scalar code: sympy or traced callables),
``_cupy.py`` (fused CUDA kernel for sympy input), ``_steps.py`` (one step of each method, the
generic array-API rung) and ``_sympy.py`` (sympy input).  ``_brownian.py``
(:class:`BrownianPath`), ``_noise.py`` and ``_rng_block.py`` address the noise; ``_adaptive.py``
steps on a Brownian tree; ``_convert.py`` converts drifts; ``_ensemble.py`` (:func:`ensemble`)
splits ensembles over chunks or Dask.
"""
from ._brownian import BrownianPath
from ._solve import solve_sde, SDEResult
from ._convert import ito_to_stratonovich_drift, stratonovich_to_ito_drift
from ._ensemble import ensemble

__all__ = ["BrownianPath", "solve_sde", "SDEResult", "ito_to_stratonovich_drift",
           "stratonovich_to_ito_drift", "ensemble"]
