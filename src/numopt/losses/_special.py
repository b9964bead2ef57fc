"""The standard normal CDF Phi, log Phi and density for every rung of the kernel ladder.

NumPy input uses ``scipy.special`` (``ndtr``/``log_ndtr``), CuPy input ``cupyx.scipy.special``,
and any other namespace the generic array-API implementation below, which is also the
reference the fast rungs are tested against.

Generic implementation (derived here, not copied): for ``v >= 0``

* ``v < 1.5``: ``erf(v) = 2/sqrt(pi) * exp(-v^2) * sum_n (2 v^2)^n v / (2n+1)!!`` (all terms
  positive, 30 terms reach double precision on ``[0, 1.5]``), ``erfc = 1 - erf``;
* ``v >= 1.5``: Laplace's continued fraction
  ``erfcx(v) = 1/sqrt(pi) / (v + (1/2)/(v + (2/2)/(v + (3/2)/(v + ...))))``, 100 levels evaluated
  bottom-up (relative error below 1e-15 on ``[1.5, inf)``), so ``log erfc(v) = log erfcx(v) - v^2``
  never underflows.

``log Phi(x) = log(erfc(-x/sqrt 2) / 2)`` for ``x < 0`` and ``log1p(-erfc(x/sqrt 2) / 2)`` for
``x >= 0``.  Everything is evaluated in float64 when the namespace has it.
"""
from __future__ import annotations

import math

from probspace import backend_for
from probspace.typing import Array, Namespace

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SERIES_TERMS = 30
_CF_TERMS = 100
_CUT = 1.5


def _rung(xp: Namespace) -> str:
    return backend_for(xp, available=("numba", "cupy", "generic"))


def _log_erfc_nonneg(v: Array, xp: Namespace) -> Array:
    """log erfc(v) for v >= 0 (array), generic array API."""
    vs = xp.minimum(v, xp.full_like(v, _CUT))
    term = vs
    acc = vs
    two_v2 = 2.0 * vs * vs
    for n in range(_SERIES_TERMS):
        term = term * two_v2 / (2 * n + 3)
        acc = acc + term
    erf_small = (2.0 / math.sqrt(math.pi)) * xp.exp(-vs * vs) * acc
    log_small = xp.log1p(-erf_small)
    vl = xp.maximum(v, xp.full_like(v, _CUT))
    f = vl
    for k in range(_CF_TERMS, 0, -1):
        f = vl + (0.5 * k) / f
    log_large = -xp.log(f) - 0.5 * math.log(math.pi) - vl * vl
    return xp.where(v < _CUT, log_small, log_large)


def _generic_log_ndtr(x: Array, xp: Namespace) -> Array:
    v = xp.abs(x) / _SQRT2
    le = _log_erfc_nonneg(v, xp)
    neg = le - math.log(2.0)
    pos = xp.log1p(-0.5 * xp.exp(le))
    return xp.where(x < 0, neg, pos)


def _generic_ndtr(x: Array, xp: Namespace) -> Array:
    v = xp.abs(x) / _SQRT2
    half_erfc = 0.5 * xp.exp(_log_erfc_nonneg(v, xp))
    return xp.where(x < 0, half_erfc, 1.0 - half_erfc)


def _to64(x: Array, xp: Namespace) -> Array:
    if hasattr(xp, "float64") and x.dtype != xp.float64:
        return xp.astype(x, xp.float64)
    return x


def log_ndtr(x: Array, xp: Namespace) -> Array:
    """log Phi(x), float64 where available."""
    x = _to64(x, xp)
    rung = _rung(xp)
    if rung == "numba":
        import scipy.special as sc
        return xp.asarray(sc.log_ndtr(x))
    if rung == "cupy":
        import cupyx.scipy.special as csc
        return csc.log_ndtr(x)
    return _generic_log_ndtr(x, xp)


def ndtr(x: Array, xp: Namespace) -> Array:
    """Phi(x), float64 where available."""
    x = _to64(x, xp)
    rung = _rung(xp)
    if rung == "numba":
        import scipy.special as sc
        return xp.asarray(sc.ndtr(x))
    if rung == "cupy":
        import cupyx.scipy.special as csc
        return csc.ndtr(x)
    return _generic_ndtr(x, xp)


def log_norm_pdf(x: Array, xp: Namespace) -> Array:
    """log phi(x) of the standard normal density."""
    return -0.5 * x * x - _LOG_SQRT_2PI
