"""Dispatch of the stiff methods (``rodas4``, ``kvaerno5``) of :func:`solvers.solve_ode` to a
rung: the compiled per-member kernel (``_implicit_numba``, also run by the interpreter for
small problems) or the generic array-API rung (``_implicit_generic``)."""
from __future__ import annotations

import math

import numpy as np

from probspace import get_backend, to_numpy

from .._callables import (BatchCaller, _row, compile_member, is_numba_function,
                          warn_python_fallback)

__all__ = ["run_implicit"]


def run_implicit(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, force, vectorized, xp,
                 rung, dense, kw):
    """Integrate with a stiff method; returns (out dict, backend label)."""
    if rung == "numba" and (sym is not None or not vectorized):
        out = _try_numba(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, force, dense,
                         kw)
        if out is not None:
            used = "generic" if out.pop("interpreted", False) else "numba"
            return out, used
    if sym is None and not vectorized and rung == "cupy":
        warn_python_fallback(f, "CuPy input: per-member callables are not compiled for the GPU",
                             name="f", stacklevel=4)
    return _run_generic(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, vectorized,
                        xp, dense, kw), "generic"


def _try_numba(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, force, dense, kw):
    from . import _solve as S
    from ._implicit_numba import integrate_implicit
    from ._numba import KernelCompileError
    y0n = np.asarray(to_numpy(y0), dtype=np.float64)
    d = y0n.shape[-1]
    t0_phys = sgn * t0
    probe = (t0_phys, np.ascontiguousarray(y0n.reshape(-1, d)[0].copy()),
             *cargs.numba_member(0))
    common = dict(t0=t0, t1=t1, y0=y0n, cargs=cargs, events=None, batch=batch,
                  reverse=False, reverse_events=sgn < 0, dense=dense, **kw)
    if sym is not None:
        common.update(f=sym.numba_function(inplace=True), fkind="sympy",
                      jac=sym.jacobian_numba_function(), jkind="sympy")
        dfdt = sym.dfdt_numba_function()
        common.update(dfdt=dfdt, tkind="sympy" if dfdt is not None else "none")
        if ev is not None:
            common["events"] = S._compile_events(ev, t0_phys, y0n, cargs, force, required=True)
        try:
            return integrate_implicit(method, **common)
        except KernelCompileError as exc:
            raise TypeError(f"the sympy kernel did not compile: {exc}") from exc

    n_members = math.prod(batch) if batch else 1
    want = (force is True or get_backend() == "numba" or is_numba_function(f)
            or n_members >= S.AUTO_NUMBA_MIN_MEMBERS)
    small = n_members * d <= S.INTERPRETED_MAX_SIZE and force is not True
    if not want and not small:
        return None
    ref = S._member_probe(f, probe[0], probe[1], probe[2:], (d,), "f")
    jref = None
    if jac is not None:
        jref = S._member_probe(jac, probe[0], probe[1], probe[2:], (d, d), "jac")
    if ev is not None:
        for i, g in enumerate(ev.funcs):
            S._member_probe(g, probe[0], probe[1], probe[2:], (), f"events[{i}]")
    common.update(reverse=sgn < 0, jkind="user" if jac is not None else "fd", tkind="fd",
                  fkind="user", dfdt=None)

    def interpreted():
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = integrate_implicit(method, **dict(common, f=f, jac=jac, events=ev, jit=False))
        out["interpreted"] = True
        return out

    if not want:
        return interpreted()
    fj, reason = compile_member(f, probe, name="f", reference=ref)
    if fj is None:
        S._fallback(f, reason, "f", force)
        return interpreted() if small else None
    jj = None
    if jac is not None:
        jj, reason = compile_member(jac, probe, name="jac", reference=jref)
        if jj is None:
            S._fallback(jac, reason, "jac", force)
            return interpreted() if small else None
    evj = None
    if ev is not None:
        evj = S._compile_events(ev, t0_phys, y0n, cargs, force)
        if evj is None:
            return interpreted() if small else None
    try:
        return integrate_implicit(method, **dict(common, f=fj, jac=jj, events=evj))
    except KernelCompileError as exc:
        S._fallback(f, f"the fused kernel did not compile: {exc}", "f", force)
        return interpreted() if small else None


def _run_generic(method, f, sym, jac, ev, t0, t1, sgn, y0, cargs, batch, vectorized, xp, dense,
                 kw):
    from . import _solve as S
    from ._implicit_generic import integrate_implicit_generic
    d = y0.shape[-1]
    jc = dfdt = None
    if sym is not None:
        fv, vec, fsign = sym.vectorized(xp), True, 1.0  # already reversed when sgn < 0
        jc = BatchCaller(sym.jacobian_vectorized(xp), cargs, vectorized=True, batch=batch,
                         out_shape=(d, d), xp=xp, dtype=y0.dtype, name="jac")
    else:
        fv, vec, fsign = f, vectorized, sgn
    yflat = xp.reshape(y0, (-1, d))
    if not vec:
        S._member_probe(fv, sgn * t0, _row(yflat, 0), cargs.member(0), (d,), "f")
    F = BatchCaller(fv, cargs, vectorized=vec, batch=batch, out_shape=(d,), xp=xp,
                    dtype=y0.dtype, name="f", t_sign=fsign, v_sign=fsign)
    if sym is None and jac is not None:
        if not vectorized:
            S._member_probe(jac, sgn * t0, _row(yflat, 0), cargs.member(0), (d, d), "jac")
        # d(-f(-tau, y))/dy = -J(-tau, y)
        jc = BatchCaller(jac, cargs, vectorized=vectorized, batch=batch, out_shape=(d, d),
                         xp=xp, dtype=y0.dtype, name="jac", t_sign=sgn, v_sign=sgn)
    evs = None
    if ev is not None:
        calls = []
        for i, g in enumerate(ev.funcs):
            if not vectorized:
                S._member_probe(g, sgn * t0, _row(yflat, 0), cargs.member(0), (),
                                f"events[{i}]")
            calls.append(BatchCaller(g, cargs, vectorized=vectorized, batch=batch, out_shape=(),
                                     xp=xp, dtype=y0.dtype, name=f"events[{i}]", t_sign=sgn))
        evs = ev.with_funcs(calls)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return integrate_implicit_generic(method, F, jc, dfdt, t0, t1, y0, events=evs, xp=xp,
                                          dense=dense, **kw)
