"""Fused CuPy elementwise kernels for adam, lion and tiger (the GPU rung; imported lazily).

One kernel launch per leaf computes the update and the new moments.  Arithmetic is in double
precision whatever the storage dtype, like the Numba rung.  For ``inplace=True`` the moment
buffers are passed as both input and output: every element is read before it is written by the
same thread, so aliasing is safe.
"""
from __future__ import annotations

import functools
from typing import Any

from probspace.typing import Array


@functools.lru_cache(maxsize=None)
def _kernels() -> tuple[Any, Any, Any]:
    import cupy as cp
    sign = "((double)(c > 0) - (double)(c < 0))"
    adam = cp.ElementwiseKernel(
        "T p, T g, T m, T v, float64 b1, float64 b2, float64 c1, float64 c2, float64 lr, "
        "float64 eps, float64 wd",
        "T u, T m_out, T v_out",
        """
        const double gi = (double)g;
        const double mi = b1 * (double)m + (1.0 - b1) * gi;
        const double vi = b2 * (double)v + (1.0 - b2) * gi * gi;
        const double pi_ = (double)p;
        m_out = (T)mi;
        v_out = (T)vi;
        const double d = sqrt(vi / c2) + eps;   // 0 only with eps = 0: the limit sign(m)
        const double dir = d > 0.0 ? (mi / c1) / d : (mi == 0.0 ? 0.0 : copysign(1.0, mi));
        u = (T)(-lr * (dir + (wd != 0.0 ? wd * pi_ : 0.0)));
        """,
        "numopt_adam_step")
    lion = cp.ElementwiseKernel(
        "T p, T g, T m, float64 b1, float64 b2, float64 lr, float64 wd",
        "T u, T m_out",
        f"""
        const double gi = (double)g;
        const double mi = (double)m;
        const double pi_ = (double)p;
        const double c = b1 * mi + (1.0 - b1) * gi;
        u = (T)(-lr * ({sign} + (wd != 0.0 ? wd * pi_ : 0.0)));
        m_out = (T)(b2 * mi + (1.0 - b2) * gi);
        """,
        "numopt_lion_step")
    tiger = cp.ElementwiseKernel(
        "T p, T g, T m, float64 keep, float64 gain, float64 lr, float64 wd",
        "T u, T m_out",
        f"""
        const double c = keep * (double)m + gain * (double)g;
        const double pi_ = (double)p;
        m_out = (T)c;
        u = (T)(-lr * ({sign} + (wd != 0.0 ? wd * pi_ : 0.0)));
        """,
        "numopt_tiger_step")
    return adam, lion, tiger


def usable(*arrays: Array) -> bool:
    import cupy as cp
    dt, shape = arrays[0].dtype, arrays[0].shape
    return all(isinstance(a, cp.ndarray) and a.dtype == dt and a.shape == shape
               and dt in (cp.float32, cp.float64) for a in arrays)


def adam_step(p: Array, g: Array, m: Array, v: Array, u: Array, m_out: Array, v_out: Array,
              b1: float, b2: float, c1: float, c2: float, lr: float, eps: float,
              wd: float) -> None:
    _kernels()[0](p, g, m, v, float(b1), float(b2), float(c1), float(c2), float(lr), float(eps),
                  float(wd), u, m_out, v_out)


def lion_step(p: Array, g: Array, m: Array, u: Array, m_out: Array, b1: float, b2: float,
              lr: float, wd: float) -> None:
    _kernels()[1](p, g, m, float(b1), float(b2), float(lr), float(wd), u, m_out)


def tiger_step(p: Array, g: Array, m: Array, u: Array, m_out: Array, keep: float, gain: float,
               lr: float, wd: float) -> None:
    _kernels()[2](p, g, m, float(keep), float(gain), float(lr), float(wd), u, m_out)
