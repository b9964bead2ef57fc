"""The one calling convention for the callables that :mod:`solvers` integrates.

Used by :func:`solvers.solve_ode` (right-hand side, events, Jacobians), :func:`solvers.gradient_flow`
and :func:`solvers.solve_sde` (drift and diffusion).  The rule, stated once (docs/API.md):

* By default a callable receives **one member**: ``t`` a Python float and ``y`` a 1-D array of
  shape ``(d,)`` (NumPy for NumPy input), exactly as in ``scipy.integrate.solve_ivp``.  It
  returns one member's value: an array (or a list/tuple of numbers) of the shape the routine
  states, e.g. ``(d,)`` for a right-hand side, a number for an event function.
* With ``vectorized=True`` it receives the **whole batch**: ``y`` of shape ``(*batch, d)`` and
  ``t`` of shape ``batch`` (each member's own time; a 0-d array when the problem is unbatched),
  in the namespace of the input, and returns ``(*batch, ...)``.
* ``args`` entries are passed unchanged to every call (scipy's semantics).  An entry wrapped as
  :func:`per_member` is sliced: member ``i`` receives ``array[i]`` (the leading dimensions must
  equal the batch shape); with ``vectorized=True`` the whole array is passed.

Nothing is inferred from shapes.  Per-member Python callables are compiled with Numba (into the
routine's fused kernel) when that pays; a callable Numba cannot compile runs per member in
Python after a one-time :class:`CompileFallbackWarning` that says how to go faster.

This module holds the pieces every routine shares: argument preparation (:class:`CallArgs`), a
batch adaptor for the generic rung (:class:`BatchCaller`), Numba compilation with a probe
(:func:`compile_member`) and the warning.
"""
from __future__ import annotations

import math
import types
import warnings
import weakref

import numpy as np

__all__ = ["PerMember", "per_member", "CallArgs", "BatchCaller", "CompileFallbackWarning",
           "check_args", "compile_member", "is_numba_function", "warn_python_fallback",
           "member_result_shape"]


# --------------------------------------------------------------------------- per-member args
class PerMember:
    """An ``args`` entry that holds one value per member (see :func:`per_member`)."""

    __slots__ = ("value",)

    def __init__(self, value):
        if isinstance(value, PerMember):
            value = value.value
        self.value = value

    def __repr__(self):
        shape = getattr(self.value, "shape", None)
        return f"per_member(<{type(self.value).__name__}{'' if shape is None else f' shape={tuple(shape)}'}>)"


def per_member(value, /):
    """Mark an ``args`` entry as per-member: member ``i`` receives ``value[i]``.

    Parameters
    ----------
    value : array-like, shape (*batch, ...)
        One entry per member of the batch: its leading dimensions must equal the batch shape
        (the leading dimensions of ``y0``), else the solver raises ``ValueError`` naming
        ``args[k]``.  For an unbatched problem (``y0`` of shape ``(d,)``) the single member
        receives ``value`` itself.

    Returns
    -------
    PerMember
        Pass it inside ``args``.  Callables written per member (the default) receive the
        member's slice ``value[i]`` (a number when ``value`` has the batch shape exactly);
        with ``vectorized=True`` they receive the whole ``value``.

    Notes
    -----
    Plain ``args`` entries are passed unchanged to every call, whatever their shape, exactly
    as in ``scipy.integrate.solve_ivp``: a per-member parameter must be marked, it is never
    guessed from its shape.

    Examples
    --------
    >>> import numpy as np, solvers
    >>> rho = np.array([10.0, 28.0])
    >>> def f(t, y, rho):                       # one member: y of shape (3,), rho a float
    ...     return np.array([10 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1],
    ...                      y[0] * y[1] - 8 / 3 * y[2]])
    >>> res = solvers.solve_ode(f, (0.0, 1.0), np.ones((2, 3)), args=(solvers.per_member(rho),))
    >>> res.y.shape
    (2, 2, 3)
    """
    return PerMember(value)


def check_args(args, name="args"):
    """``args`` as a tuple; a list is accepted, anything else raises ``TypeError``."""
    if isinstance(args, tuple):
        return args
    if isinstance(args, list):
        return tuple(args)
    raise TypeError(f"{name} must be a tuple of extra arguments (e.g. {name}=({args!r},)), got "
                    f"{type(args).__name__}")


def _shape_of(v):
    shape = getattr(v, "shape", None)
    if shape is None:
        return np.shape(np.asarray(v))
    return tuple(shape)


class CallArgs:
    """``args`` checked against the batch: plain entries pass unchanged, :func:`per_member`
    entries are sliced per member.

    Parameters
    ----------
    args : tuple or list
    batch : tuple of int
        The batch shape (``()`` for an unbatched problem).
    name : str
        How errors name the argument (``"args"``).
    """

    def __init__(self, args, batch, *, name="args"):
        args = check_args(args, name)
        self.raw = args
        self.batch = tuple(batch)
        self.n_members = math.prod(self.batch) if self.batch else 1
        self.flags = tuple(isinstance(a, PerMember) for a in args)
        nb = len(self.batch)
        flat = []
        for k, a in enumerate(args):
            if not isinstance(a, PerMember):
                flat.append(a)
                continue
            v = a.value
            shape = _shape_of(v)
            if len(shape) < nb or tuple(shape[:nb]) != self.batch:
                raise ValueError(f"{name}[{k}] is per_member(...) with shape {tuple(shape)}; its "
                                 f"leading dimensions must equal the batch shape {self.batch} "
                                 "(the leading dimensions of y0)")
            if not hasattr(v, "shape"):
                v = np.asarray(v)
            flat.append(_reshape(v, (self.n_members,) + tuple(shape[nb:])))
        self._flat = tuple(flat)

    @property
    def any_per_member(self) -> bool:
        return any(self.flags)

    def vectorized(self):
        """The arguments of a vectorized call: per-member arrays whole, the rest unchanged."""
        return tuple(a.value if fl else a for a, fl in zip(self.raw, self.flags))

    def member(self, i):
        """The arguments of member ``i`` (flat index over the batch)."""
        return tuple(_row(a, i) if fl else a for a, fl in zip(self._flat, self.flags))

    def numba(self):
        """(flags, values) for a compiled kernel: per-member entries as contiguous NumPy arrays
        of shape ``(n_members, ...)`` (indexed per member inside the kernel), the others
        unchanged (0-d arrays become scalars)."""
        vals = []
        for a, fl in zip(self._flat, self.flags):
            if fl:
                arr = _host(a)
                if arr.dtype == object:
                    raise TypeError("a per_member args entry must be a numeric array")
                vals.append(np.ascontiguousarray(arr))
            elif isinstance(a, np.ndarray) and a.ndim == 0:
                vals.append(a[()])
            else:
                vals.append(a)
        return self.flags, tuple(vals)

    def numba_member(self, i):
        """Member ``i``'s arguments exactly as the compiled kernel passes them."""
        flags, vals = self.numba()
        return tuple(v[i] if fl else v for v, fl in zip(vals, flags))


def _row(a, i):
    """``a[i]``: a NumPy scalar or view for NumPy, ``a[i, ...]`` for other namespaces."""
    if isinstance(a, np.ndarray):
        return a[i]
    return a[i, ...]


def _reshape(v, shape):
    if isinstance(v, np.ndarray):
        return v.reshape(shape)
    try:
        import array_api_compat
        xp = array_api_compat.array_namespace(v)
        return xp.reshape(v, shape)
    except Exception:
        return np.asarray(v).reshape(shape)


def _host(a):
    from probspace import to_numpy
    return np.asarray(to_numpy(a))


# --------------------------------------------------------------------------- generic-rung adaptor
def member_result_shape(r):
    """Shape of a value returned by a per-member callable (arrays, lists, tuples, numbers)."""
    shape = getattr(r, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(r)
    except Exception:  # ragged lists and friends
        return None


class BatchCaller:
    """Calls a user callable on the whole batch, whichever convention it follows.

    ``vectorized``: one call ``f(t, y, *args)`` with ``t`` of shape ``batch``; a result of the
    wrong shape raises ``ValueError`` (it cannot be blamed on one member).  Otherwise one call
    per active member, ``f(float(t_i), y_i, *member_args)``; a member whose result has the
    wrong shape (or cannot be converted) is recorded in :attr:`failed` with a message and gets
    NaN, so the integrator stops it with the callback status (-5).

    ``t_sign``: the callable is called at ``t_sign * t`` (backward integration runs in reversed
    time); ``v_sign`` multiplies its value.
    """

    def __init__(self, f, cargs, *, vectorized, batch, out_shape, xp, dtype, name="f",
                 t_sign=1.0, v_sign=1.0):
        self.f, self.cargs, self.vectorized = f, cargs, bool(vectorized)
        self.batch, self.out_shape = tuple(batch), tuple(out_shape)
        self.xp, self.dtype, self.name = xp, dtype, name
        self.t_sign, self.v_sign = float(t_sign), float(v_sign)
        self.n_members = math.prod(self.batch) if self.batch else 1
        self.failed = np.zeros(self.n_members, dtype=bool)
        self.fail_msg = {}
        self.active = None  # optional host bool mask (n_members,): members to evaluate
        self.args = cargs.vectorized() if vectorized else None

    def __call__(self, t, y):
        if self.vectorized:
            return self._call_vectorized(t, y)
        return self._call_members(t, y)

    def _call_vectorized(self, t, y):
        xp = self.xp
        tt = t if self.t_sign == 1.0 else -t
        out = self.f(tt, y, *self.args)
        if not hasattr(out, "shape"):
            out = xp.asarray(out, dtype=self.dtype)
        want = self.batch + self.out_shape
        if tuple(out.shape) != want:
            raise ValueError(f"{self.name} (vectorized=True) returned shape {tuple(out.shape)}; "
                             f"expected {want} (the batch shape {self.batch} followed by one "
                             f"member's shape {self.out_shape})")
        if out.dtype != self.dtype:
            out = xp.astype(out, self.dtype)
        return out if self.v_sign == 1.0 else -out

    def _call_members(self, t, y):
        from probspace import to_numpy
        xp = self.xp
        B = self.n_members
        lead = y.shape[:len(self.batch)]
        yf = xp.reshape(y, (B,) + tuple(y.shape[len(lead):]))
        th = np.asarray(to_numpy(t), dtype=np.float64).reshape(-1)
        if th.size == 1 and B != 1:
            th = np.full(B, th[0])
        nan_row = None
        rows = []
        act = self.active
        for i in range(B):
            if self.failed[i] or (act is not None and not act[i]):
                if nan_row is None:
                    nan_row = xp.full(self.out_shape, math.nan, dtype=self.dtype,
                                      device=_device(y))
                rows.append(nan_row if self.failed[i] else xp.zeros_like(nan_row))
                continue
                # (inactive members are never read by the integrator)
            ti = self.t_sign * float(th[i])
            r = self.f(ti, _row(yf, i), *self.cargs.member(i))
            try:
                shape = member_result_shape(r)
                if shape != self.out_shape:
                    raise ValueError
                r = xp.asarray(r, dtype=self.dtype, device=_device(y))
            except Exception:
                self.failed[i] = True
                self.fail_msg[i] = (f"{self.name} returned {_describe(r)} at t={ti!r}; expected "
                                    f"{_shape_text(self.out_shape)}")
                if nan_row is None:
                    nan_row = xp.full(self.out_shape, math.nan, dtype=self.dtype,
                                      device=_device(y))
                rows.append(nan_row)
                continue
            rows.append(r if self.v_sign == 1.0 else -r)
        out = xp.stack(rows, axis=0) if rows else xp.empty((0,) + self.out_shape, dtype=self.dtype)
        return xp.reshape(out, self.batch + self.out_shape)


def _device(x):
    try:
        import array_api_compat
        return array_api_compat.device(x)
    except Exception:  # pragma: no cover
        return None


def _shape_text(shape):
    return "a number (shape ())" if shape == () else f"shape {tuple(shape)}"


def _describe(r):
    shape = member_result_shape(r)
    if shape is None:
        return f"a {type(r).__name__} that is not an array"
    return f"{type(r).__name__} of shape {tuple(shape)}"


# --------------------------------------------------------------------------- Numba compilation
class CompileFallbackWarning(UserWarning):
    """A per-member callable could not be compiled with Numba and runs in Python (slowly)."""


_FAILED = object()
_JIT = weakref.WeakKeyDictionary()  # user function -> dispatcher or _FAILED
_WARNED: set = set()
# modules whose functions Numba knows natively (or not at all): never re-jitted
_NATIVE_PREFIXES = ("numpy", "scipy", "numba", "math", "cmath", "builtins", "llvmlite", "sympy",
                    "array_api", "cupy", "jax", "torch", "probspace")


def is_numba_function(f) -> bool:
    """True for a ``numba.njit`` dispatcher."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover
        return False
    return isinstance(f, CPUDispatcher)


class _NotCompilable(Exception):
    pass


def _user_function(v) -> bool:
    if not isinstance(v, types.FunctionType):
        return False
    mod = getattr(v, "__module__", None) or ""
    return not mod.startswith(_NATIVE_PREFIXES)


def _code_names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _deep_jit(f, depth=0, memo=None):
    """``numba.njit`` of ``f`` in which the plain Python functions ``f`` calls (globals and
    closure variables) are jitted too, so a helper-calling right-hand side compiles whole."""
    import numba
    if is_numba_function(f):
        return f
    if not isinstance(f, types.FunctionType):
        raise _NotCompilable(f"{type(f).__name__} objects are not plain Python functions")
    memo = {} if memo is None else memo
    if f in memo:
        if memo[f] is None:
            raise _NotCompilable("recursive functions are not compiled")
        return memo[f]
    memo[f] = None
    repl = {}
    if depth < 8:
        for n in _code_names(f.__code__):
            v = f.__globals__.get(n)
            if _user_function(v):
                repl[n] = _deep_jit(v, depth + 1, memo)
    cells = f.__closure__
    new_cells = None
    if cells:
        vals, changed = [], False
        for c in cells:
            try:
                v = c.cell_contents
            except ValueError:  # an empty cell
                vals.append(c)
                continue
            if _user_function(v):
                vals.append(types.CellType(_deep_jit(v, depth + 1, memo)))
                changed = True
            else:
                vals.append(c)
        if changed:
            new_cells = tuple(vals)
    g = f
    if repl or new_cells is not None:
        glob = dict(f.__globals__)
        glob.update(repl)
        g = types.FunctionType(f.__code__, glob, f.__name__, f.__defaults__,
                               new_cells if new_cells is not None else f.__closure__)
        g.__kwdefaults__ = f.__kwdefaults__
        g.__qualname__ = f.__qualname__
    disp = numba.njit(cache=False)(g)
    memo[f] = disp
    return disp


def _is_numba_error(exc) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NumbaError)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    for line in text:
        line = line.strip()
        if line and not line.startswith(("Failed in nopython", "During:", "File ")):
            return line[:300]
    return type(exc).__name__


def compile_member(f, probe_args, *, name="f", reference=None):
    """Numba-compile the per-member callable ``f`` and check it at one point.

    Parameters
    ----------
    f : callable
        A per-member callable (plain Python function, lambda or ``@njit`` function).
    probe_args : tuple
        The arguments of one member's call, exactly as the compiled kernel passes them
        (``(t, y, *member_args)`` with ``y`` a C-contiguous float64 array).
    reference : object, optional
        The value the Python ``f`` returned at ``probe_args``; a compiled result that differs
        (beyond rounding) means Numba's semantics differ from Python's for this ``f``: it is
        not used then.

    Returns
    -------
    (dispatcher, None) or (None, reason)
        ``reason`` says why ``f`` cannot run compiled (for :func:`warn_python_fallback`).
    """
    fj = f if is_numba_function(f) else _cached(f)
    if fj is _FAILED:
        return None, "it did not compile earlier in this process"
    if fj is None:
        try:
            fj = _deep_jit(f)
        except _NotCompilable as exc:
            _remember(f, _FAILED)
            return None, str(exc)
        except Exception as exc:  # pragma: no cover - njit() itself is lazy
            _remember(f, _FAILED)
            return None, _first_line(exc)
    try:
        got = fj(*probe_args)
    except Exception as exc:
        if not is_numba_function(f):
            _remember(f, _FAILED)
        if _is_numba_error(exc) or reference is not None:
            return None, _first_line(exc)
        raise
    if reference is not None and not _same(got, reference):
        if not is_numba_function(f):
            _remember(f, _FAILED)
        return None, ("its compiled version returned a different value than Python at the first "
                      "point (Numba's semantics differ for this code)")
    if not is_numba_function(f):
        _remember(f, fj)
    return fj, None


def _same(a, b):
    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
    except Exception:
        return False
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True))


def _cached(f):
    try:
        return _JIT.get(f)
    except TypeError:  # not weak-referenceable
        return None


def _remember(f, v):
    try:
        _JIT[f] = v
    except TypeError:
        pass


def warn_python_fallback(f, reason, *, name="f", routine="solve_ode", stacklevel=3):
    """Warn once per callable that ``f`` runs per member in Python, and how to go faster."""
    key = getattr(f, "__code__", None) or type(f)
    if key in _WARNED:
        return
    _WARNED.add(key)
    label = getattr(f, "__qualname__", None) or type(f).__name__
    warnings.warn(
        f"{routine}: {name}={label} could not be compiled with Numba ({reason}); it runs per "
        "member in Python, which is slow for large batches. To go faster: keep it to NumPy and "
        "math operations that Numba supports, decorate it with @numba.njit, pass "
        "vectorized=True with a function of the whole batch, or describe it with sympy "
        "(solvers.ode_from_sympy).", CompileFallbackWarning, stacklevel=stacklevel)
