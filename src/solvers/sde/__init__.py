"""SDEs: fixed-step and adaptive integration of ensembles, Brownian paths, Ito/Stratonovich drifts.

The public entry is ``_solve.py`` (:func:`solve_sde`, :class:`SDEResult`); the kernel ladder is
``_numba.py`` (fused per-path kernel) with ``_numba_gen.py`` (vectorized Euler-Maruyama from sympy),
``_cupy.py`` (fused CUDA kernel), ``_steps.py`` (one step of each method, the generic array-API
rung) and ``_sympy.py`` (sympy input).  ``_brownian.py`` (:class:`BrownianPath`), ``_noise.py`` and
``_rng_block.py`` address the noise; ``_adaptive.py`` steps on a Brownian tree; ``_convert.py``
converts drifts; ``_ensemble.py`` (:func:`ensemble`) splits ensembles over chunks or Dask.
"""
from ._brownian import BrownianPath
from ._solve import solve_sde, SDEResult
from ._convert import ito_to_stratonovich_drift, stratonovich_to_ito_drift
from ._ensemble import ensemble

__all__ = ["BrownianPath", "solve_sde", "SDEResult", "ito_to_stratonovich_drift",
           "stratonovich_to_ito_drift", "ensemble"]
