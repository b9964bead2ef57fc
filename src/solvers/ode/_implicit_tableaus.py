"""Coefficients of the stiff (implicit) methods behind :func:`solvers.solve_ode`.

Sources (facts, checked by the order and stability tests in ``tests/solvers/ode``):

- ``rodas4``: Hairer & Wanner, *Solving Ordinary Differential Equations II* (2nd ed.,
  Springer 1996), section VI.4, Table 4.3 ("RODAS"), in the transformed variables of their
  code ``rodas.f`` (subroutine ``ROCOE``, ``METH = 1``): stages
  ``(I/(h gamma) - J) u_i = f(t + c_i h, y + sum_j a_ij u_j) + sum_j (c_ij / h) u_j
  + h d_i f_t``, stiffly accurate (``y_new`` is the last stage's argument plus ``u_6``) with
  the error estimate ``u_6``, L-stable, order 4(3), and the 3rd-order continuous extension
  ``y(s) = (1 - s) y_0 + s (y_1 + (1 - s) (q_2 + s q_3))`` with ``q_k = sum_j D_kj u_j``.
- ``kvaerno5``: A. Kvaerno, "Singly diagonally implicit Runge-Kutta methods with an explicit
  first stage", BIT 44 (2004) 489-502: the 7-stage ESDIRK 5(4) pair, ``gamma = 0.26``,
  stiffly accurate (``b`` is the last row of ``a``), the embedded 4th-order solution is the
  6th stage (``c_6 = c_7 = 1``), L-stable.  The stage predictors ``alpha`` are those
  published with diffrax's ``Kvaerno5`` (any predictor gives the same converged stages).
  Dense output: the cubic Hermite interpolant on ``(y_0, f_0, y_1, f_1)`` (3rd order, as in
  diffrax).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RODAS4", "KVAERNO5", "IMPLICIT_METHODS", "ImplicitMethod"]


@dataclass(frozen=True)
class ImplicitMethod:
    """Coefficients of one stiff method (NumPy float64 arrays).

    ``kind``: ``"rosenbrock"`` (linearly implicit, Jacobian at every step) or ``"esdirk"``
    (simplified Newton on each stage, Jacobian reused).  ``error_order``: order of the
    embedded solution (the step-size exponent is ``1 / (error_order + 1)``).
    """

    name: str
    kind: str
    order: int
    error_order: int
    gamma: float
    c: np.ndarray
    a: np.ndarray          # strictly lower triangular stage coefficients
    cc: np.ndarray         # rosenbrock: the c_ij of the transformed stages; esdirk: unused
    d: np.ndarray          # rosenbrock: the d_i multiplying h f_t; esdirk: unused
    dense: np.ndarray      # rosenbrock: D (2 x 5); esdirk: unused
    alpha: np.ndarray      # esdirk: stage predictors; rosenbrock: unused

    @property
    def stages(self) -> int:
        return int(self.c.size)

    @property
    def adaptive(self) -> bool:
        return True


def _rodas4() -> ImplicitMethod:
    s = 6
    a = np.zeros((s, s))
    a[1, 0] = 1.544
    a[2, :2] = (0.9466785280815826, 0.2557011698983284)
    a[3, :3] = (3.314825187068521, 2.896124015972201, 0.9986419139977817)
    a[4, :4] = (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950)
    a[5, :5] = (*a[4, :4], 1.0)  # stiffly accurate: stage 6 starts from stage 5's solution
    cc = np.zeros((s, s))
    cc[1, 0] = -5.6688
    cc[2, :2] = (-2.430093356833875, -0.2063599157091915)
    cc[3, :3] = (-0.1073529058151375, -9.594562251023355, -20.47028614809616)
    cc[4, :4] = (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160)
    cc[5, :5] = (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
                 -6.058818238834054)
    c = np.array([0.0, 0.386, 0.21, 0.63, 1.0, 1.0])
    d = np.array([0.25, -0.1043, 0.1035, -0.03620000000000023, 0.0, 0.0])
    dense = np.array([
        [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
         1.025137723295662],
        [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
         -6.594389125716872],
    ])
    return ImplicitMethod("rodas4", "rosenbrock", 4, 3, 0.25, c, a, cc, d, dense,
                          np.zeros((s, s)))


def _kvaerno5() -> ImplicitMethod:
    s = 7
    g = 0.26
    a = np.zeros((s, s))
    a[1, 0] = g
    a[2, :2] = (0.13, 0.84033320996790809)
    a[3, :3] = (0.22371961478320505, 0.47675532319799699, -0.06470895363112615)
    a[4, :4] = (0.16648564323248321, 0.10450018841591720, 0.03631482272098715,
                -0.13090704451073998)
    a[5, :5] = (0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141,
                0.61943039072480676)
    a[6, :6] = (0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046,
                0.62993304899016403, 0.06962479448202728)
    # (c_i = sum_j a_ij + gamma for the implicit stages)
    c = np.array([0.0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756,
                  1.0, 1.0])
    alpha = np.zeros((s, s))
    alpha[1, 0] = 1.0
    alpha[2, :2] = (-1.366025403784441, 2.3660254037844357)
    alpha[3, :3] = (-0.19650552613122207, 0.8113579546496623, 0.38514757148155954)
    alpha[4, :3] = (0.10375304369958693, 0.937994698066431, -0.04174774176601781)
    alpha[5, :3] = (-0.17281112873898072, 0.6235784481025847, 0.5492326806363959)
    alpha[6, :6] = (*a[5, :5], g)
    z = np.zeros((s, s))
    return ImplicitMethod("kvaerno5", "esdirk", 5, 4, g, c, a, z, np.zeros(s),
                          np.zeros((2, 5)), alpha)


RODAS4 = _rodas4()
KVAERNO5 = _kvaerno5()
for _m in (RODAS4, KVAERNO5):
    for _arr in (_m.c, _m.a, _m.cc, _m.d, _m.dense, _m.alpha):
        _arr.setflags(write=False)
IMPLICIT_METHODS = {m.name: m for m in (RODAS4, KVAERNO5)}
