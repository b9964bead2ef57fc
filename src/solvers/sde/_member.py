"""Per-member drift, diffusion and diffusion derivative of :func:`solvers.solve_sde`, in the
forms the rungs need.

A per-member callable (the default convention, :mod:`solvers._callables`) is called once at
``t0`` on the first member, in Python, and its value's shape is checked.  Then, for NumPy
input, the fastest form that reproduces that value is chosen:

1. ``"traced"``: plain arithmetic, recorded by :mod:`._trace` as scalar code that the kernels
   compile inline (no allocation per call; Euler-Maruyama then runs lane-vectorized);
2. ``"jit"``: compiled with Numba (:func:`solvers._callables.compile_member`); the kernel
   checks the shape of every value it returns (status -5 on a mismatch, never a read past it);
3. ``"python"``: called per member in Python (after a one-time
   :class:`solvers.CompileFallbackWarning`).

A callable with one more positional parameter than ``args`` supplies, ``f(t, y, out, *args)``,
is an *out= writer*: it writes its value into ``out`` instead of returning it.
``"symbolic"`` members come from sympy input (:mod:`._sympy`).
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import numpy as np

from .._callables import (BatchCaller, CallArgs, compile_member, is_numba_function,
                          member_result_shape, warn_python_fallback)
from ._trace import Untraceable, trace_member

__all__ = ["MemberFn", "is_writer", "probe_member", "MemberBatch"]

_KERNEL_CACHE: dict = {}
_UNROLL_MAX = 16


def is_writer(fn: Callable[..., Any], nargs: int) -> bool:
    """True for ``f(t, y, out, *args)``: exactly ``3 + nargs`` required positional parameters
    and no ``*args`` (one more than a returning ``f(t, y, *args)`` takes)."""
    py = getattr(fn, "py_func", fn)
    try:
        sig = inspect.signature(py)
    except (TypeError, ValueError):
        return False
    required = 0
    for prm in sig.parameters.values():
        if prm.kind == prm.VAR_POSITIONAL:
            return False
        if prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD) and \
                prm.default is prm.empty:
            required += 1
    return required == 3 + nargs


def _shape_text(shape: tuple) -> str:
    return f"shape {tuple(shape)}"


def probe_member(fn, name, t0, y_member, margs, out_shape, writer):
    """One Python call at ``t0`` on the first member; its value (float64) of ``out_shape``.

    ``out_shape`` may hold ``None`` for a dimension read from the value (``m`` of general
    noise).  Raises ``ValueError`` naming the callable when the shape is wrong."""
    y = np.array(y_member, dtype=np.float64, copy=True)
    if writer:
        if any(s is None for s in out_shape):
            raise ValueError(f"{name}: an out= writer f(t, y, out, *args) needs m= (the number "
                             "of Brownian motions) for a (d, m) diffusion")
        out = np.full(out_shape, math.nan)
        with np.errstate(all="ignore"):
            fn(float(t0), y, out, *margs)
        return out
    with np.errstate(all="ignore"):
        r = fn(float(t0), y, *margs)
    shape = member_result_shape(r)
    ok = shape is not None and len(shape) == len(out_shape) and all(
        w is None or s == w for s, w in zip(shape, out_shape))
    if not ok:
        got = "a value that is not an array" if shape is None else f"shape {tuple(shape)}"
        want = " or ".join(_shape_text(tuple("m" if s is None else s for s in out_shape))
                           for _ in [0])
        raise ValueError(f"{name} returned {got} for one member at t0 (y of shape "
                         f"{tuple(y.shape)}); expected {want}. By default callables receive one "
                         "member (t a float, y of shape (d,)); pass vectorized=True for "
                         "functions of the whole batch")
    try:
        return np.array(r, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} returned a value that is not real numbers at t0") from None


class MemberFn:
    """One user callable, prepared (see the module docstring for ``kind``)."""

    def __init__(self, kind: str, name: str, out_shape: tuple, *, fn: Any = None,
                 jit: Any = None, lines: list[str] | None = None, outs: list[str] | None = None,
                 writer: bool = False) -> None:
        self.kind, self.name, self.out_shape = kind, name, tuple(out_shape)
        self.fn, self.jit, self.writer = fn, jit, writer
        self.lines, self.outs = lines, outs

    @property
    def compiled(self) -> bool:
        return self.kind != "python"

    @property
    def scalar_code(self) -> bool:
        return self.kind in ("traced", "symbolic")

    # ------------------------------------------------------------------ kernel functions
    def kernel_source(self, flags: tuple[bool, ...], inline: bool = True) -> tuple[str, dict]:
        """Source of ``w(t_, y, out, args, p, err)`` (``err[0]`` set to the size the callable
        returned when that is wrong) and its namespace."""
        ns: dict = {"np": np, "math": math}
        head = "def w(t_, y, out, args, p, err):\n"
        margs = "".join(f", args[{k}][p]" if fl else f", args[{k}]" for k, fl in
                        enumerate(flags))
        matrix = len(self.out_shape) == 2
        idx = [f"{i}, {j}" if matrix else f"{i}" for i in range(self.out_shape[0])
               for j in (range(self.out_shape[1]) if matrix else [0])]
        if self.scalar_code:
            d_in = self.n_in
            body = [f"    y_{i}_ = y[{i}]" for i in range(d_in)]
            body += [f"    k{j}_ = args[{len(flags)}][{self.const_off + j}]"
                     for j in range(len(self.consts))]
            body += [f"    a{k}_ = args[{k}][p]" if fl else f"    a{k}_ = args[{k}]"
                     for k, fl in enumerate(flags)]
            body += ["    " + ln for ln in (self.lines or [])]
            body += [f"    out[{ix}] = {o}" for ix, o in zip(idx, self.outs or [])]
            return head + "\n".join(body) + "\n", ns
        ns["fi"] = _inlined(self.jit) if inline else self.jit
        if self.writer:
            return head + f"    fi(t_, y, out{margs})\n", ns
        n = math.prod(self.out_shape)
        body = [f"    r = fi(t_, y{margs})"]
        if self.jit_tuple:
            body += [f"    out[{ix}] = r[{q}]" for q, ix in enumerate(idx)]
        elif matrix:
            body += [f"    if r.ndim != 2 or r.shape[0] != {self.out_shape[0]} or "
                     f"r.shape[1] != {self.out_shape[1]}:", "        err[0] = r.size",
                     "        return",
                     f"    for i in range({self.out_shape[0]}):",
                     f"        for j in range({self.out_shape[1]}):",
                     "            out[i, j] = r[i, j]"]
        else:
            body += ["    if len(r) != %d:" % n, "        err[0] = len(r)", "        return"]
            if n <= _UNROLL_MAX:
                body += [f"    out[{q}] = r[{q}]" for q in range(n)]
            else:
                body += [f"    for q in range({n}):", "        out[q] = r[q]"]
        return head + "\n".join(body) + "\n", ns

    def kernel_fn(self, flags: tuple[bool, ...], inline: bool = True) -> Any:
        src, ns = self.kernel_source(flags, inline)
        key = (src, inline, id(self.jit) if self.jit is not None else None)
        hit = _KERNEL_CACHE.get(key)
        if hit is not None:
            return hit[0]
        import numba as nb
        exec(compile(src, f"<solvers.sde {self.name}>", "exec"), ns)  # noqa: S102
        fn = nb.njit(nogil=True, error_model="numpy",
                     inline="always" if inline else "never")(ns["w"])
        _KERNEL_CACHE[key] = (fn, self.jit)  # (keeps the user's dispatcher alive)
        return fn

    jit_tuple = False
    n_in = 0
    consts: list = []
    const_off = 0  # where this member's constants start in the kernels' constant table


_INLINE: dict = {}


def _inlined(fn: Any) -> Any:
    """An ``inline="always"`` copy of a compiled user function (same Python function, same
    options): called from a kernel it is otherwise a real call that increfs/decrefs its array
    arguments every time (about 10x slower for a cheap drift)."""
    if getattr(fn, "targetoptions", {}).get("inline") == "always" or not hasattr(fn, "py_func"):
        return fn
    hit = _INLINE.get(fn)
    if hit is None:
        import numba as nb
        opts = {k: v for k, v in fn.targetoptions.items() if k not in ("inline", "nopython")}
        hit = _INLINE[fn] = nb.njit(**opts, inline="always")(fn.py_func)
    return hit


def _trace_verified(fn, name, d, out_shape, cargs, probe_args, ref):
    """A ``"traced"`` MemberFn when ``fn`` traces and the trace reproduces ``ref``."""
    kinds = []
    for a, fl in zip(cargs.raw, cargs.flags):
        v = a.value if fl else a
        if fl:
            arr = np.asarray(v) if not hasattr(v, "shape") else v
            if tuple(np.shape(arr)) != cargs.batch:
                return None  # arrays per member: the Numba path
            kinds.append("member")
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)):
            kinds.append("scalar")
        else:
            return None
    try:
        lines, outs, consts = trace_member(fn, d, out_shape, kinds)
    except Untraceable:
        return None
    src = ("def _m(t_, y, args, cst):\n"
           + "".join(f"    y_{i}_ = y[{i}]\n" for i in range(d))
           + "".join(f"    k{j}_ = cst[{j}]\n" for j in range(len(consts)))
           + "".join(f"    a{k}_ = args[{k}]\n" for k in range(len(kinds)))
           + "".join(f"    {ln}\n" for ln in lines)
           + f"    return ({', '.join(outs)},)\n")
    ns: dict = {"np": np, "math": math}
    try:
        exec(compile(src, "<solvers.sde trace check>", "exec"), ns)  # noqa: S102
        t, y = probe_args[0], probe_args[1]
        margs = tuple(np.float64(a) for a in probe_args[2:])
        with np.errstate(all="ignore"):
            got = np.array(ns["_m"](np.float64(t), np.asarray(y, dtype=np.float64), margs,
                                    np.array(consts, dtype=np.float64)), dtype=np.float64)
    except Exception:
        return None
    if not np.allclose(got, ref.reshape(-1), rtol=1e-12, atol=1e-300, equal_nan=True):
        return None
    mf = MemberFn("traced", name, out_shape, fn=fn, lines=lines, outs=outs)
    mf.n_in = d
    mf.consts = consts
    return mf


def prepare_member(fn: Callable[..., Any], name: str, out_shape: tuple, d: int,
                   cargs: CallArgs, t0: float, y_first: np.ndarray, *, compile_it: bool,
                   routine: str = "solve_sde") -> tuple[MemberFn, np.ndarray]:
    """Check ``fn`` at ``t0`` and prepare its fastest faithful form (``MemberFn``)."""
    writer = is_writer(fn, len(cargs.raw))
    ref = probe_member(fn, name, t0, y_first, cargs.member(0), out_shape, writer)
    out_shape = tuple(ref.shape)
    if not compile_it:
        return MemberFn("python", name, out_shape, fn=fn, writer=writer), ref
    y = np.ascontiguousarray(np.asarray(y_first, dtype=np.float64).copy())
    probe = (float(t0), y, *cargs.numba_member(0))
    if not writer and not is_numba_function(fn):
        mf = _trace_verified(fn, name, d, out_shape, cargs, probe, ref)
        if mf is not None:
            return mf, ref
    if writer:
        jit, reason = _compile_writer(fn, probe, out_shape, ref)
        if jit is not None:
            return MemberFn("jit", name, out_shape, fn=fn, jit=jit, writer=True), ref
    else:
        n = math.prod(out_shape)
        jit, reason = None, None
        if len(out_shape) == 1 and n <= _UNROLL_MAX:
            jit, reason = compile_member(fn, probe, name=name, reference=ref, returns_length=n)
            if jit is not None:
                mf = MemberFn("jit", name, out_shape, fn=fn, jit=jit)
                mf.jit_tuple = _returns_tuple(jit, probe)
                if mf.jit_tuple is not None:
                    return mf, ref
                jit = None
        if jit is None:
            jit, reason = compile_member(fn, probe, name=name, reference=ref)
            if jit is not None:
                mf = MemberFn("jit", name, out_shape, fn=fn, jit=jit)
                mf.jit_tuple = _returns_tuple(jit, probe)
                if mf.jit_tuple is not None:
                    return mf, ref
                reason = "it returns a value the kernel cannot read as an array"
    warn_python_fallback(fn, reason, name=name, routine=routine, stacklevel=5)
    return MemberFn("python", name, out_shape, fn=fn, writer=writer), ref


def _returns_tuple(jit, probe):
    """True when the compiled function returns a homogeneous tuple, False for an array, None
    for anything else (lists and heterogeneous tuples are not read by the kernels)."""
    import numba as nb
    try:
        sig = jit.signatures[-1] if jit.signatures else None
        if sig is None:
            jit(*probe)
            sig = jit.signatures[-1]
        ret = jit.overloads[sig].signature.return_type
    except Exception:
        return None
    if isinstance(ret, nb.types.Array):
        return False
    if isinstance(ret, nb.types.UniTuple) and isinstance(ret.dtype, (nb.types.Float,
                                                                     nb.types.Integer)):
        return True
    return None


def _compile_writer(fn, probe, out_shape, ref):
    import numba as nb
    try:
        jit = fn if is_numba_function(fn) else nb.njit(nogil=True)(fn)
        out = np.full(out_shape, math.nan)
        with np.errstate(all="ignore"):
            jit(probe[0], probe[1], out, *probe[2:])
    except Exception as exc:
        from .._callables import _first_line
        if is_numba_function(fn):
            raise TypeError(f"the @njit function {getattr(fn, '__name__', fn)} failed at t0: "
                            f"{_first_line(exc)}") from exc
        return None, _first_line(exc)
    if not np.allclose(out, ref, rtol=1e-12, atol=1e-300, equal_nan=True):
        return None, "its compiled version wrote different values than Python at t0"
    return jit, None


# --------------------------------------------------------------------------- batch adaptor
_MAP_CACHE: dict = {}


def _map_kernel(w):
    hit = _MAP_CACHE.get(w)
    if hit is None:
        import numba as nb

        @nb.njit(nogil=True, error_model="numpy")
        def mp(ts, Y, out, args, bad):
            err = np.full(1, -1, dtype=np.int64)
            for p in range(Y.shape[0]):
                if bad[p] >= 0:
                    continue
                w(ts[p], Y[p], out[p], args, p, err)
                if err[0] >= 0:
                    bad[p] = err[0]
                    err[0] = -1
        hit = _MAP_CACHE[w] = mp
    return hit


class MemberBatch:
    """``F(t, Y)`` on the whole batch for a per-member MemberFn: a compiled loop over the
    members (NumPy input, compiled kinds) or :class:`BatchCaller` (Python).  Members whose
    callable returned a wrong shape are recorded in ``failed`` / ``fail_msg`` and get NaN."""

    def __init__(self, mf: MemberFn, cargs: CallArgs, batch: tuple, xp: Any,
                 dtype: Any) -> None:
        self.mf, self.cargs, self.batch = mf, cargs, tuple(batch)
        self.P = math.prod(self.batch)
        self.xp, self.dtype = xp, dtype
        self.failed = np.zeros(self.P, dtype=bool)
        self.fail_msg: dict = {}
        if mf.compiled:
            flags, vals = cargs.numba()
            mf.const_off = 0
            self.args = vals + (np.array(mf.consts, dtype=np.float64),)
            self.kern = _map_kernel(mf.kernel_fn(flags, inline=False))
            self.bad = np.full(self.P, -1, dtype=np.int64)
        else:
            fn = mf.fn
            if mf.writer:
                shape = mf.out_shape

                def fn(t, y, *a, _w=mf.fn):
                    out = np.empty(shape)
                    _w(t, y, out, *a)
                    return out
            self.caller = BatchCaller(fn, cargs, vectorized=False, batch=self.batch,
                                      out_shape=mf.out_shape, xp=xp, dtype=dtype, name=mf.name)

    def __call__(self, t: Any, y: Any) -> Any:
        if not self.mf.compiled:
            r = self.caller(t, y)
            self.failed |= self.caller.failed
            self.fail_msg.update(self.caller.fail_msg)
            return r
        d = y.shape[-1]
        Y = np.ascontiguousarray(np.reshape(np.asarray(y, dtype=np.float64), (self.P, d)))
        ts = np.ascontiguousarray(np.broadcast_to(
            np.asarray(t, dtype=np.float64).reshape(-1), (self.P,)), dtype=np.float64)
        out = np.empty((self.P,) + self.mf.out_shape)
        with np.errstate(all="ignore"):
            self.kern(ts, Y, out, self.args, self.bad)
        newly = (self.bad >= 0) & ~self.failed
        for i in np.flatnonzero(newly):
            self.fail_msg[int(i)] = (f"{self.mf.name} returned an array of size "
                                     f"{int(self.bad[i])} at t={float(ts[i])!r}; expected shape "
                                     f"{self.mf.out_shape}")
        self.failed |= newly
        if self.failed.any():
            out[self.failed] = math.nan
        r = np.reshape(out, self.batch + self.mf.out_shape)
        return self.xp.asarray(r) if self.dtype == np.float64 else self.xp.asarray(
            r.astype(self.dtype))
