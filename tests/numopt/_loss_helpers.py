"""Shared helpers for the loss tests: sympy gradients and finite differences."""
from __future__ import annotations

import numpy as np
import sympy as sp

from probspace.testing import finite_difference_grad


def sympy_value_grad(expr, syms, values):
    """Value and gradient of sympy ``expr`` at ``values`` (high-precision evalf)."""
    subs = {s: sp.Float(float(v), 30) for s, v in zip(syms, values)}
    val = float(expr.evalf(30, subs=subs))
    grad = np.array([float(sp.diff(expr, s).evalf(30, subs=subs)) for s in syms])
    return val, grad


def fd_grad(loss, z, *args, **kw):
    """Central differences of the scalar ``loss(z, *args, **kw)`` (float64)."""
    return finite_difference_grad(lambda zz: float(loss(zz, *args, **kw)), np.array(z, float))
