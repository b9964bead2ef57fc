"""Butcher tableaus of the explicit Runge-Kutta methods behind :func:`solvers.solve_ode`.

Every tableau is stored as exact fractions (so tests can check the order conditions
exactly with sympy) and as float64 NumPy arrays for the kernels.

Sources of the coefficients (facts, checked by the order-condition tests):
- Dormand & Prince, "A family of embedded Runge-Kutta formulae", J. Comput. Appl. Math. 6
  (1980): the 5(4) pair, first-same-as-last.
- Shampine, "Some practical Runge-Kutta formulas", Math. Comp. 46 (1986) / Hairer, Norsett &
  Wanner, Solving ODEs I, section II.6: the 4th-order continuous extension of DOPRI5 (the
  coefficients also used by DOPRI5's ``contd5`` and scipy's ``RK45``).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as F

import numpy as np

__all__ = ["Tableau", "TABLEAUS", "FIXED_METHODS", "ADAPTIVE_METHODS"]


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta tableau.

    ``a`` is strictly lower triangular (stages x stages), ``b`` the propagating weights,
    ``e`` the error weights (``b - b_hat``; ``None`` for fixed-step methods), ``dense`` the
    continuous-extension matrix ``P`` (stages x m): the weight of stage ``i`` at
    ``theta`` is ``sum_j P[i, j] theta**(j+1)``.  ``fsal``: the last stage is ``f`` at
    the new point, so it is the next step's first stage.
    """

    name: str
    order: int
    c: tuple
    a: tuple
    b: tuple
    e: tuple | None = None
    dense: tuple | None = None
    fsal: bool = False
    error_order: int = 0  # order of the embedded (lower) solution, for the step exponent

    @property
    def stages(self) -> int:
        return len(self.b)

    @property
    def adaptive(self) -> bool:
        return self.e is not None

    def arrays(self):
        """(c, a, b, e, P) as float64 arrays (e and P zero-filled when absent)."""
        s = self.stages
        c = np.array([float(v) for v in self.c])
        a = np.zeros((s, s))
        for i, row in enumerate(self.a):
            for j, v in enumerate(row):
                a[i, j] = float(v)
        b = np.array([float(v) for v in self.b])
        e = np.zeros(s) if self.e is None else np.array([float(v) for v in self.e])
        if self.dense is None:
            p = np.zeros((s, 1))
        else:
            p = np.array([[float(v) for v in row] for row in self.dense])
        return c, a, b, e, p


def _lower(rows, s):
    """Pad the ragged rows of ``a`` to a full strictly lower triangular square."""
    out = []
    for i in range(s):
        row = list(rows[i]) if i < len(rows) else []
        zero = row[0] * 0 if row else F(0)
        out.append(tuple(row + [zero] * (s - len(row))))
    return tuple(out)


EULER = Tableau("euler", 1, (F(0),), _lower([[]], 1), (F(1),))

HEUN = Tableau("heun", 2, (F(0), F(1)), _lower([[], [F(1)]], 2), (F(1, 2), F(1, 2)))

RK4 = Tableau("rk4", 4, (F(0), F(1, 2), F(1, 2), F(1)),
              _lower([[], [F(1, 2)], [F(0), F(1, 2)], [F(0), F(0), F(1)]], 4),
              (F(1, 6), F(1, 3), F(1, 3), F(1, 6)))

_DP_B = (F(35, 384), F(0), F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84), F(0))
_DP_BHAT = (F(5179, 57600), F(0), F(7571, 16695), F(393, 640), F(-92097, 339200),
            F(187, 2100), F(1, 40))

DOPRI5 = Tableau(
    "dopri5", 5,
    (F(0), F(1, 5), F(3, 10), F(4, 5), F(8, 9), F(1), F(1)),
    _lower([
        [],
        [F(1, 5)],
        [F(3, 40), F(9, 40)],
        [F(44, 45), F(-56, 15), F(32, 9)],
        [F(19372, 6561), F(-25360, 2187), F(64448, 6561), F(-212, 729)],
        [F(9017, 3168), F(-355, 33), F(46732, 5247), F(49, 176), F(-5103, 18656)],
        list(_DP_B[:6]),
    ], 7),
    _DP_B,
    tuple(b - bh for b, bh in zip(_DP_B, _DP_BHAT)),
    # Shampine's continuous extension: weight_i(theta) = sum_j P[i, j] theta**(j + 1).
    (
        (F(1), F(-8048581381, 2820520608), F(8663915743, 2820520608),
         F(-12715105075, 11282082432)),
        (F(0), F(0), F(0), F(0)),
        (F(0), F(131558114200, 32700410799), F(-68118460800, 10900136933),
         F(87487479700, 32700410799)),
        (F(0), F(-1754552775, 470086768), F(14199869525, 1410260304),
         F(-10690763975, 1880347072)),
        (F(0), F(127303824393, 49829197408), F(-318862633887, 49829197408),
         F(701980252875, 199316789632)),
        (F(0), F(-282668133, 205662961), F(2019193451, 616988883),
         F(-1453857185, 822651844)),
        (F(0), F(40617522, 29380423), F(-110615467, 29380423), F(69997945, 29380423)),
    ),
    fsal=True,
    error_order=4,
)


def _tsit5():
    """Tsitouras' 5(4) pair (Comput. Math. Appl. 62, 2011), FSAL, with its 4th-order
    continuous extension.  Coefficients are published as decimals (not fractions); the
    tests check the order conditions to rounding."""
    c = (0.0, 0.161, 0.327, 0.9, 0.9800255409045096857, 1.0, 1.0)
    b = (0.09646076681806522951816731, 0.01, 0.4798896504144995747752495,
         1.379008574103741893192275, -3.290069515436080679901048, 2.324710524099773982415356,
         0.0)
    bhat = (0.09468075576583945807478876, 0.009183565540343253096776364,
            0.4877705284247615707855643, 1.234297566930478985655110, -2.707712349983525454881110,
            1.866628418170587035753719, 1.0 / 66.0)
    a = [
        [],
        [0.161],
        [-0.008480655492356988544426874, 0.3354806554923569885444269],
        [2.897153057105493432130433, -6.359448489975074843148160, 4.362295432869581411017727],
        [5.325864828439256604428878, -11.74888356406282787774717, 7.495539342889836208304605,
         -0.09249506636175524925650208],
        [5.861455442946420028659251, -12.92096931784710929170612, 8.159367898576158643180401,
         -0.07158497328140099722453054, -0.02826905039406838290900306],
        list(b[:6]),
    ]
    # stage weights of the interpolant as polynomials in theta, from their factored forms
    P = np.polynomial.polynomial
    w = [
        P.polymul(P.polymul([0.0, -1.0530884977290216], [-1.3299890189751412, 1.0]),
                  [0.7139816917074209, -1.4364028541716351, 1.0]),
        P.polymul([0.0, 0.0, 0.1017], [1.2949852507374631, -2.1966568338249754, 1.0]),
        P.polymul([0.0, 0.0, 2.490627285651252793], [1.57803468208092486, -2.38535645472061657, 1.0]),
        P.polymul(P.polymul([0.0, 0.0, -16.54810288924490272], [-1.21712927295533244, 1.0]),
                  [-0.61620406037800089, 1.0]),
        P.polymul(P.polymul([0.0, 0.0, 47.37952196281928122], [-1.203071208372362603, 1.0]),
                  [-0.658047292653547382, 1.0]),
        P.polymul(P.polymul([0.0, 0.0, -34.87065786149660974], [-1.2, 1.0]),
                  [-0.666666666666666667, 1.0]),
        P.polymul(P.polymul([0.0, 0.0, 2.5], [-1.0, 1.0]), [-0.6, 1.0]),
    ]
    dense = tuple(tuple(float(v) for v in np.pad(wi, (0, 5 - len(wi)))[1:5]) for wi in w)
    return Tableau("tsit5", 5, c, _lower([[float(v) for v in row] for row in a], 7), b,
                   tuple(x - y for x, y in zip(b, bhat)), dense, fsal=True, error_order=4)


TSIT5 = _tsit5()

TABLEAUS = {t.name: t for t in (EULER, HEUN, RK4, DOPRI5, TSIT5)}
FIXED_METHODS = tuple(n for n, t in TABLEAUS.items() if not t.adaptive)
ADAPTIVE_METHODS = tuple(n for n, t in TABLEAUS.items() if t.adaptive)
