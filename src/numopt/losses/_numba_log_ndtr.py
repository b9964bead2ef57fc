"""``log Phi(x)`` (log of the standard normal CDF) in float64 as straight-line arithmetic, so
that a loop calling it vectorizes (NumPy rung of the EXACT loss).

With ``u = |x| / sqrt 2`` and ``erfc(u) = R(u) exp(-U)``:

* ``R`` is W. J. Cody's rational Chebyshev approximation (Math. Comp. 23, 1969) on three
  ranges: ``u <= 0.46875``: ``erfc(u) = 1 - u P(u^2)/Q(u^2)`` and ``U = 0``;
  ``0.46875 < u <= 4``: ``erfcx(u) = P(u)/Q(u)`` and ``U = u^2``;
  ``u > 4``: ``erfcx(u) = (1/sqrt(pi) - u^-2 P(u^-2)/Q(u^-2)) / u`` (rewritten below with
  polynomials in ``u^2``, so no reciprocal is needed; ``u^2`` is capped at 1e16, beyond which
  ``erfcx(u) = 1/(u sqrt pi)`` to double precision).  All three are evaluated and one is
  selected, then a single division.
* ``U = x^2 / 2`` is carried as an exact sum ``Uh + Ul`` (``Ul`` from an FMA), so that
  ``exp(-U)`` and ``-U`` keep full relative precision for large ``|x|``.
* ``x < 0``: ``log Phi = log(R/2) - U``, the logarithm from the exponent bits and
  ``log1p(m - 1)`` of the mantissa ``m`` in ``[1/sqrt 2, sqrt 2)``: no cancellation anywhere.
  ``x >= 0``: ``log Phi = log1p(-q)`` with ``q = R exp(-U) / 2`` in ``[0, 1/2]``.
  Both ``log1p`` go through the same ``2 atanh(t / (2 + t))`` series (``_fastmath.log1p01``).

Measured against mpmath over ``[-1e5, 37]`` (tests/numopt/test_losses_log_ndtr.py): at most a
few ulp (the test states the bound).  For ``x > 37.5`` the exact value is below the smallest
normal double (``-2.2e-308 < log Phi(x) < 0``) and is returned as 0 or a tiny number; ``+inf``
gives 0, ``-inf`` gives ``-inf``, NaN gives NaN.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._fastmath import exp64, f64_bits, fma64, i64_as_f64, log1p01_64

__all__ = ["log_ndtr64", "log_ndtr_into"]

_jit = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy",
                  inline="always")

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_RSQRTPI = 0.5641895835477562869     # 1 / sqrt(pi)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_MANT = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_W_CAP = 1e16                        # u^2 beyond which erfcx(u) = 1 / (u sqrt(pi))

# Cody (1969), erf on u <= 0.46875: erf(u) = u * A(u^2) / B(u^2), B monic
_A0, _A1, _A2, _A3, _A4 = (3.16112374387056560e00, 1.13864154151050156e02,
                           3.77485237685302021e02, 3.20937758913846947e03,
                           1.85777706184603153e-1)
_B0, _B1, _B2, _B3 = (2.36012909523441209e01, 2.44024637934444173e02,
                      1.28261652607737228e03, 2.84423683343917062e03)
# erfcx on 0.46875 < u <= 4: C(u) / D(u), D monic
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
# u > 4, in y = 1/u^2: erfcx(u) u = 1/sqrt(pi) - y P(y)/Q(y), Q monic of degree 5
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = _C
_D0, _D1, _D2, _D3, _D4, _D5, _D6, _D7 = _D
_P0, _P1, _P2, _P3, _P4, _P5 = _P
_Q0, _Q1, _Q2, _Q3, _Q4 = _Q


@_jit
def log_ndtr64(x):
    """log Phi(x) for a float64 ``x`` (branch-free: loops over it vectorize)."""
    u = abs(x) * _INV_SQRT2
    h = x * x
    ovf = h == np.inf
    uh = 0.5 * h
    ul = 0.0 if ovf else 0.5 * fma64(x, x, -h)      # U = x^2/2 = uh + ul exactly

    # range 1: erfc(u) = (B - u A) / B, with z = u^2
    z = uh
    na = (((_A4 * z + _A0) * z + _A1) * z + _A2) * z + _A3
    da = (((z + _B0) * z + _B1) * z + _B2) * z + _B3
    n1 = da - u * na
    # range 2: erfcx(u) = C(u) / D(u)
    nb = ((((((((_C8 * u + _C0) * u + _C1) * u + _C2) * u + _C3) * u + _C4) * u + _C5) * u
           + _C6) * u + _C7)
    db = (((((((u + _D0) * u + _D1) * u + _D2) * u + _D3) * u + _D4) * u + _D5) * u
          + _D6) * u + _D7
    # range 3: with w = u^2 and y = 1/w, y P(y)/Q(y) = P'(w) / (w Q'(w)), where P', Q' are P, Q
    # with reversed coefficients; erfcx(u) = (w Q' / sqrt(pi) - P') / (u w Q')
    w = min(uh, _W_CAP)
    pr = ((((_P4 * w + _P3) * w + _P2) * w + _P1) * w + _P0) * w + _P5
    qr = ((((_Q4 * w + _Q3) * w + _Q2) * w + _Q1) * w + _Q0) * w + 1.0
    wq = w * qr
    nc = wq * _RSQRTPI - pr
    dc = u * wq

    small = u <= 0.46875
    mid = u <= 4.0
    num = n1 if small else (nb if mid else nc)
    den = da if small else (db if mid else dc)
    r = num / den                       # erfc(u) (range 1) or erfcx(u)
    eh = 0.0 if small else uh           # erfc(u) = r exp(-(eh + el))
    el = 0.0 if small else ul

    # x >= 0: log1p(-q), q = r exp(-U) / 2
    q = 0.5 * r * exp64(-eh) * (1.0 - el)
    # x < 0: log(r / 2) - U = e ln2 + log1p(m - 1) - U
    y = 0.5 * r
    bits = f64_bits(y)
    m = i64_as_f64((bits & _MANT) | _ONE_BITS)
    big = m > _SQRT2
    m = m * (0.5 if big else 1.0)
    e = float((bits >> 52) - 1023) + (1.0 if big else 0.0)
    neg = x < 0.0
    t = (m - 1.0) if neg else -q
    off = ((e * _LN2_HI - eh) + (e * _LN2_LO - el)) if neg else 0.0
    res = off + log1p01_64(t)
    res = 0.0 if x == np.inf else res
    return -np.inf if x == -np.inf else res


@numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def log_ndtr_into(x, out):
    """``out[i] = log Phi(x[i])`` for 1-D float64 arrays (tests, benchmarks)."""
    for i in range(x.shape[0]):
        out[i] = log_ndtr64(x[i])
