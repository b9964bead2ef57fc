"""Right-hand sides given as sympy expressions: one description, three rungs.

:func:`ode_from_sympy` turns expressions into a :class:`SympyODE` that :func:`solve_ode`
accepts in place of ``f``.  From the same expressions it generates

- a vectorized function for the generic rung (``probspace.sym.lambdify`` in the input's
  namespace),
- a scalar per-member Numba function (fused into the compiled ensemble kernel),
- CUDA C statements for the fused CuPy RawKernel (one thread per trajectory).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = ["ode_from_sympy", "SympyODE"]


def ode_from_sympy(exprs, state_symbols, t_symbol=None, params=()):
    """Describe ``y' = f(t, y, *params)`` by sympy expressions.

    Parameters
    ----------
    exprs : sequence of sympy expressions (or a sympy Matrix)
        ``exprs[i]`` is the derivative of ``state_symbols[i]``.
    state_symbols : sequence of sympy Symbols
        The state components, in the order of ``y``'s last axis.
    t_symbol : sympy Symbol, optional
        The time variable (when the right-hand side depends on time).
    params : sequence of sympy Symbols
        Parameters, passed to :func:`solve_ode` through ``args`` in this order: each a
        number (the same for every member), or :func:`solvers.per_member` of an array of the
        batch shape (one value per member).

    Returns
    -------
    SympyODE
        Pass it as ``f`` to :func:`solve_ode`.

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> from solvers import ode_from_sympy, solve_ode
    >>> x, v, w = sp.symbols("x v w")
    >>> rhs = ode_from_sympy([v, -w**2 * x], [x, v], params=[w])
    >>> res = solve_ode(rhs, (0, np.pi), np.array([[1.0, 0.0]]), args=(1.0,), t_eval=[np.pi])
    >>> round(float(res.y[0, -1, 0]), 6)
    -1.0
    """
    if isinstance(exprs, sp.MatrixBase):
        exprs = list(exprs)
    exprs = [sp.sympify(e) for e in exprs]
    states = list(state_symbols)
    if len(exprs) != len(states):
        raise ValueError(f"exprs has {len(exprs)} entries but state_symbols has {len(states)}")
    if not states:
        raise ValueError("state_symbols must not be empty")
    for s in states + list(params) + ([t_symbol] if t_symbol is not None else []):
        if not isinstance(s, sp.Symbol):
            raise TypeError(f"state_symbols, t_symbol and params must be sympy Symbols, got {s!r}")
    known = set(states) | set(params) | ({t_symbol} if t_symbol is not None else set())
    free = set().union(*(e.free_symbols for e in exprs)) - known
    if free:
        raise ValueError(f"exprs contain symbols that are neither states, t_symbol nor params: "
                         f"{sorted(map(str, free))}")
    return SympyODE(exprs, states, t_symbol, list(params))


class SympyODE:
    """A right-hand side given by sympy expressions (see :func:`ode_from_sympy`)."""

    def __init__(self, exprs, states, t_symbol, params):
        self.exprs, self.states, self.t_symbol, self.params = exprs, states, t_symbol, params
        self.d = len(states)
        self._numba = None
        self._vec = {}
        # sanitized names used in generated source: t, y0..y{d-1}, p0..
        self._t = sp.Symbol("t_")
        self._ys = [sp.Symbol(f"y{i}_") for i in range(self.d)]
        self._ps = [sp.Symbol(f"p{i}_") for i in range(len(params))]
        sub = dict(zip(states, self._ys))
        sub.update(zip(params, self._ps))
        if t_symbol is not None:
            sub[t_symbol] = self._t
        self._clean = [e.xreplace(sub) for e in exprs]

    def __repr__(self):
        return f"SympyODE({self.exprs}, states={self.states}, t={self.t_symbol}, params={self.params})"

    def __call__(self, t, y, *args):
        """Evaluate on NumPy input (vectorized over a batch)."""
        import array_api_compat.numpy as cnp
        return self.vectorized(cnp)(t, y, *args)

    def time_reversed(self):
        """The system in reversed time tau = -t: dy/dtau = -f(-tau, y)."""
        if getattr(self, "_reversed", None) is None:
            if self.t_symbol is not None:
                exprs = [-e.xreplace({self.t_symbol: -self.t_symbol}) for e in self.exprs]
            else:
                exprs = [-e for e in self.exprs]
            self._reversed = SympyODE(exprs, self.states, self.t_symbol, self.params)
        return self._reversed

    # ------------------------------------------------------------------ generic rung
    def vectorized(self, xp):
        """``f(t, y, *params)`` acting on a batch ``y`` of shape ``(*batch, d)`` in namespace xp."""
        key = getattr(xp, "__name__", str(id(xp)))
        if key not in self._vec:
            from probspace.sym import lambdify
            fns = [lambdify([self._t, *self._ys, *self._ps], e, xp) for e in self._clean]

            def f(t, y, *args):
                if len(args) != len(self._ps):
                    raise TypeError(f"the sympy right-hand side takes {len(self._ps)} parameter(s) "
                                    f"(args), got {len(args)}")
                comps = [y[..., i] for i in range(self.d)]
                shape = tuple(y.shape[:-1])
                cols = []
                for fn in fns:
                    v = fn(t, *comps, *args)
                    v = xp.asarray(v, dtype=y.dtype) if not hasattr(v, "shape") else v
                    if tuple(v.shape) != shape:
                        v = xp.broadcast_to(xp.astype(v, y.dtype), shape)
                    cols.append(xp.astype(v, y.dtype) if v.dtype != y.dtype else v)
                return xp.stack(cols, axis=-1)

            self._vec[key] = f
        return self._vec[key]

    # ------------------------------------------------------------------ Numba rung
    def python_source(self, name="rhs", inplace=False):
        """Source of a per-member function ``name(t, y, p0, ...)`` returning an array (d,), or
        with ``inplace`` ``name(t, y, out, p0, ...)`` writing into ``out``."""
        from sympy.printing.pycode import pycode
        pnames = [str(p) for p in self._ps]
        head = ["t_", "y"] + (["out"] if inplace else []) + pnames
        lines = [f"def {name}({', '.join(head)}):"]
        for i in range(self.d):
            lines.append(f"    y{i}_ = y[{i}]")
        if not inplace:
            lines.append(f"    out = np.empty({self.d})")
        for i, e in enumerate(self._clean):
            code = pycode(sp.Float(1.0) * e if e.is_number else e, fully_qualified_modules=True)
            lines.append(f"    out[{i}] = {code}")
        lines.append("    return out" if not inplace else "    return None")
        return "\n".join(lines)

    # ------------------------------------------------------------------ derivatives
    def jacobian_exprs(self):
        """The exact Jacobian ``df/dy`` (sympy, in the sanitized symbols), shape (d, d)."""
        if getattr(self, "_jac_exprs", None) is None:
            self._jac_exprs = sp.Matrix(self._clean).jacobian(self._ys)
        return self._jac_exprs

    def dfdt_exprs(self):
        """The exact ``df/dt`` (sympy), or None when ``f`` does not depend on time."""
        if getattr(self, "_dfdt_exprs", None) is None:
            if self.t_symbol is None:
                return None
            exprs = [sp.diff(e, self._t) for e in self._clean]
            if all(e == 0 for e in exprs):
                return None
            self._dfdt_exprs = exprs
        return self._dfdt_exprs

    def _assign_source(self, name, targets):
        """Source of ``name(t_, y, out, p0, ...)`` executing ``out[idx] = expr`` for
        (idx, expr) in targets (every entry of out is written)."""
        from sympy.printing.pycode import pycode
        pnames = [str(p) for p in self._ps]
        lines = [f"def {name}({', '.join(['t_', 'y', 'out'] + pnames)}):"]
        for i in range(self.d):
            lines.append(f"    y{i}_ = y[{i}]")
        for idx, e in targets:
            code = pycode(sp.Float(1.0) * e if e.is_number else e, fully_qualified_modules=True)
            lines.append(f"    out[{idx}] = {code}")
        lines.append("    return None")
        return "\n".join(lines)

    def _compiled(self, key, src, name):
        if self._numba is None:
            self._numba = {}
        if key not in self._numba:
            import math
            import numba
            ns = {"np": np, "math": math, "numpy": np}
            exec(compile(src, f"<ode_from_sympy {key}>", "exec"), ns)
            self._numba[key] = numba.njit(cache=False)(ns[name])
        return self._numba[key]

    def jacobian_numba_function(self):
        """``jac(t, y, J, *params)`` writing the exact Jacobian into ``J`` (Numba-compiled)."""
        Jm = self.jacobian_exprs()
        targets = [(f"{i}, {j}", Jm[i, j]) for i in range(self.d) for j in range(self.d)]
        return self._compiled("jac", self._assign_source("jac", targets), "jac")

    def dfdt_numba_function(self):
        """``dfdt(t, y, out, *params)`` writing ``df/dt`` (Numba-compiled), or None."""
        ex = self.dfdt_exprs()
        if ex is None:
            return None
        return self._compiled("dfdt", self._assign_source("dfdt", list(enumerate(ex))),
                              "dfdt")

    def jacobian_vectorized(self, xp):
        """``jac(t, y, *params)`` on a batch: shape ``(*batch, d, d)`` in namespace xp."""
        key = ("jac", getattr(xp, "__name__", str(id(xp))))
        if key not in self._vec:
            from probspace.sym import lambdify
            Jm = self.jacobian_exprs()
            fns = [[lambdify([self._t, *self._ys, *self._ps], Jm[i, j], xp)
                    for j in range(self.d)] for i in range(self.d)]

            def jac(t, y, *args):
                comps = [y[..., i] for i in range(self.d)]
                shape = tuple(y.shape[:-1])
                rows = []
                for i in range(self.d):
                    cols = []
                    for j in range(self.d):
                        v = fns[i][j](t, *comps, *args)
                        v = xp.asarray(v, dtype=y.dtype) if not hasattr(v, "shape") else v
                        if v.dtype != y.dtype:
                            v = xp.astype(v, y.dtype)
                        if tuple(v.shape) != shape:
                            v = xp.broadcast_to(v, shape)
                        cols.append(v)
                    rows.append(xp.stack(cols, axis=-1))
                return xp.stack(rows, axis=-2)

            self._vec[key] = jac
        return self._vec[key]

    def numba_function(self, inplace=False):
        """The per-member right-hand side as a Numba-compiled function (see python_source)."""
        key = "inplace" if inplace else "return"
        if self._numba is None:
            self._numba = {}
        if key not in self._numba:
            import math
            import numba
            ns = {"np": np, "math": math, "numpy": np}
            exec(compile(self.python_source(inplace=inplace), "<ode_from_sympy>", "exec"), ns)
            self._numba[key] = numba.njit(cache=False)(ns["rhs"])
        return self._numba[key]

    # ------------------------------------------------------------------ CuPy rung
    def cuda_statements(self, out="k", y="y", t="t", params="p"):
        """CUDA C statements ``out[i] = ...;`` (double precision) reading ``y[j]``, ``t``
        and parameters ``p0``..  (declared by the kernel)."""
        from sympy.printing.c import ccode
        sub = {s: sp.Symbol(f"{y}[{i}]") for i, s in enumerate(self._ys)}
        sub[self._t] = sp.Symbol(t)
        sub.update({p: sp.Symbol(f"{params}{i}") for i, p in enumerate(self._ps)})
        stmts = []
        for i, e in enumerate(self._clean):
            code = ccode(e.xreplace(sub), standard="C99")
            # symbols named like y[0] are printed verbatim; make literals double
            stmts.append(f"{out}[{i}] = {code};")
        return "\n".join(stmts)
