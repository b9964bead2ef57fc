"""Scalar tracing of per-member drift and diffusion functions, for the lane-vectorized kernels.

A per-member callable such as ``lambda t, y: mu * y`` returns a fresh array at every call; in
a compiled kernel that is one heap allocation per path and step, which costs more than the
whole Euler-Maruyama step.  When the callable is plain arithmetic on its arguments it can be
*traced*: called once with ``t`` and the components of ``y`` (and the scalar ``args``) replaced
by :class:`Var` placeholders that record every operation.  The record is a straight list of
scalar assignments (single static assignment form, one line per operation, in the order the
call performed them), which the kernels compile inline, one path per SIMD lane, with no
allocation at all.  The arithmetic is the same, operation by operation, as the Python call on
floats, so the numbers agree with the callable's own to rounding (the probe check below makes
sure).

Anything that is not plain arithmetic makes the trace fail, and the caller compiles the
function with Numba instead: a comparison, ``bool()``, ``float()``, ``int()`` or indexing by a
traced value (so branches on the state are never frozen into one side), ``math`` functions
(they call ``float()``), writes into float arrays, NumPy functions without an object-dtype
implementation.  Nothing is guessed: a trace is used only when it exists and it reproduces the
Python value at the first point to 1e-12 relative.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Untraceable", "Var", "Trace", "trace_member"]

MAX_LINES = 4000  # longer traces (large dense matrices) compile slowly: Numba path instead


class Untraceable(Exception):
    """The callable does something other than plain arithmetic on its arguments."""


class Trace:
    """The record of one traced call: ``lines`` of ``name = expression``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0
        self.consts: list[float] = []

    def const(self, c: Any) -> str:
        """A number the callable used: a parameter ``k{j}_`` read from a table at run time, so
        that a new value (``mu`` in ``lambda t, y: mu * y``) reuses the compiled kernel."""
        lit = _const(c)
        if "math." in lit:
            return lit
        self.consts.append(float(c))
        return f"k{len(self.consts) - 1}_"

    def new(self, expr: str) -> "Var":
        if len(self.lines) >= MAX_LINES:
            raise Untraceable(f"more than {MAX_LINES} operations")
        name = f"v{self.count}_"
        self.count += 1
        self.lines.append(f"{name} = {expr}")
        return Var(self, name)


def _const(c: Any) -> str:
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (numbers.Real, np.floating,
                                                              np.integer)):
        raise Untraceable(f"an operand of type {type(c).__name__}")
    v = float(c)
    if math.isnan(v):
        return "math.nan"
    if math.isinf(v):
        return "math.inf" if v > 0 else "(-math.inf)"
    return repr(v) if v >= 0 else f"({v!r})"


def _operand(tr: Trace, x: Any, literal: bool = False) -> str:
    if isinstance(x, Var):
        if x.tr is not tr:  # pragma: no cover - one trace at a time
            raise Untraceable("values of two traces mixed")
        return x.name
    return _const(x) if literal else tr.const(x)


def _refuse(what: str) -> Callable[..., Any]:
    def method(self: "Var", *a: Any, **k: Any) -> Any:
        raise Untraceable(what)
    return method


_UNARY = ("exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan",
          "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh")


class Var:
    """A traced scalar: arithmetic records a line, anything else raises :class:`Untraceable`."""

    __slots__ = ("tr", "name")
    __array_priority__ = 1000

    def __init__(self, tr: Trace, name: str) -> None:
        self.tr = tr
        self.name = name

    def _bin(self, other: Any, op: str, reverse: bool = False) -> "Var":
        a, b = _operand(self.tr, self), _operand(self.tr, other)
        if reverse:
            a, b = b, a
        return self.tr.new(f"{a} {op} {b}")

    def __add__(self, o: Any) -> "Var":
        return self._bin(o, "+")

    def __radd__(self, o: Any) -> "Var":
        return self._bin(o, "+", True)

    def __sub__(self, o: Any) -> "Var":
        return self._bin(o, "-")

    def __rsub__(self, o: Any) -> "Var":
        return self._bin(o, "-", True)

    def __mul__(self, o: Any) -> "Var":
        return self._bin(o, "*")

    def __rmul__(self, o: Any) -> "Var":
        return self._bin(o, "*", True)

    def __truediv__(self, o: Any) -> "Var":
        return self._bin(o, "/")

    def __rtruediv__(self, o: Any) -> "Var":
        return self._bin(o, "/", True)

    def __pow__(self, o: Any, mod: Any = None) -> "Var":
        if mod is not None:
            raise Untraceable("pow with a modulus")
        # a literal exponent: LLVM turns x ** 2.0 into x * x (the same number)
        return self.tr.new(f"{self.name} ** {_operand(self.tr, o, literal=True)}")

    def __rpow__(self, o: Any) -> "Var":
        return self._bin(o, "**", True)

    def __neg__(self) -> "Var":
        return self.tr.new(f"-{self.name}")

    def __pos__(self) -> "Var":
        return self

    def __abs__(self) -> "Var":
        return self.tr.new(f"abs({self.name})")

    # NumPy calls these methods for object arrays (np.exp(y) -> y[i].exp())
    def arctan2(self, o: Any) -> "Var":
        return self.tr.new(f"np.arctan2({self.name}, {_operand(self.tr, o)})")

    def hypot(self, o: Any) -> "Var":
        return self.tr.new(f"np.hypot({self.name}, {_operand(self.tr, o)})")

    def conjugate(self) -> "Var":
        return self

    # everything that would freeze a branch or leave arithmetic
    __bool__ = _refuse("its truth value is used (a branch on the state)")
    __float__ = _refuse("it is converted to float (e.g. by a math function)")
    __int__ = _refuse("it is converted to int")
    __index__ = _refuse("it is used as an index")
    __complex__ = _refuse("it is converted to complex")
    __eq__ = _refuse("it is compared")
    __ne__ = _refuse("it is compared")
    __lt__ = _refuse("it is compared")
    __le__ = _refuse("it is compared")
    __gt__ = _refuse("it is compared")
    __ge__ = _refuse("it is compared")
    __floordiv__ = _refuse("floor division")
    __rfloordiv__ = _refuse("floor division")
    __mod__ = _refuse("modulo")
    __rmod__ = _refuse("modulo")
    __round__ = _refuse("rounding")
    __hash__ = object.__hash__


def _unary(fname: str) -> Callable[[Var], Var]:
    def method(self: Var) -> Var:
        return self.tr.new(f"np.{fname}({self.name})")
    method.__name__ = fname
    return method


for _f in _UNARY:
    setattr(Var, _f, _unary(_f))


def trace_member(fn: Callable[..., Any], d: int, out_shape: tuple[int, ...],
                 arg_kinds: Sequence[str]) -> tuple[list[str], list[str], list[float]]:
    """Trace ``fn(t, y, *args)`` for one member.

    Parameters
    ----------
    fn : callable
    d : int
        State dimension.
    out_shape : tuple
        The shape one call must return (``(d,)`` or ``(d, m)``).
    arg_kinds : sequence of {"scalar", "member"}
        One per ``args`` entry: each is traced as a scalar parameter named ``a{k}_``.

    Returns
    -------
    (lines, outputs, constants)
        ``lines`` assign the locals ``v*_`` from ``t_``, ``y_{i}_``, ``a{k}_`` and the
        constants ``k{j}_`` (values in ``constants``); ``outputs`` lists, in C order over
        ``out_shape``, the expression of each output component (a local or a constant).

    Raises
    ------
    Untraceable
        When the callable is not plain arithmetic, or returns another shape.
    """
    tr = Trace()
    t = Var(tr, "t_")
    y = np.empty(d, dtype=object)
    for i in range(d):
        y[i] = Var(tr, f"y_{i}_")
    a = tuple(Var(tr, f"a{k}_") for k in range(len(arg_kinds)))
    try:
        with np.errstate(all="ignore"):
            r = fn(t, y, *a)
        arr = np.asarray(r, dtype=object) if not isinstance(r, Var) else np.asarray(r, dtype=object)
    except Untraceable:
        raise
    except RecursionError:
        raise Untraceable("recursion") from None
    except Exception as exc:  # a NumPy function without an object loop, math.*, ...
        raise Untraceable(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if arr.shape != tuple(out_shape):
        raise Untraceable(f"it returned shape {arr.shape} for traced input")
    outs = []
    for v in arr.reshape(-1):
        outs.append(_operand(tr, v))
    return tr.lines, outs, tr.consts
