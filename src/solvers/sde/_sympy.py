"""SDEs given as sympy expressions: batch functions for any namespace, per-path Numba functions
for the fused CPU kernel, and CUDA device code for the fused CuPy kernel."""
from __future__ import annotations

import math

import sympy as sp

from probspace import sym as psym




def is_symbolic(obj):
    if isinstance(obj, (sp.Basic, sp.MatrixBase)):
        return True
    if isinstance(obj, (list, tuple)) and obj and all(
            isinstance(o, (sp.Basic, int, float)) or is_symbolic(o) for o in obj):
        return any(isinstance(o, sp.Basic) or is_symbolic(o) for o in obj)
    return False


def _as_matrix(expr, name):
    if isinstance(expr, sp.MatrixBase):
        return sp.Matrix(expr)
    if isinstance(expr, (list, tuple)):
        if expr and isinstance(expr[0], (list, tuple)):
            return sp.Matrix([[sp.sympify(e) for e in row] for row in expr])
        return sp.Matrix([sp.sympify(e) for e in expr])
    try:
        return sp.Matrix([sp.sympify(expr)])
    except (sp.SympifyError, TypeError):
        raise TypeError(f"{name} must be a sympy expression, a list of them or a Matrix") from None


class SymbolicSDE:
    """Drift ``f`` (d entries) and diffusion ``g`` ((d,) or (d, m)) in symbols ``t, y_1..y_d``."""

    def __init__(self, drift, diffusion, symbols, noise):
        if symbols is None:
            raise ValueError("symbols=(t, [y1, ..., yd]) is required when drift/diffusion are sympy expressions")
        try:
            t, ys = symbols
        except (TypeError, ValueError):
            raise ValueError("symbols must be a pair (t, [y1, ..., yd])") from None
        ys = [ys] if isinstance(ys, sp.Symbol) else list(ys)
        for s_ in [t] + ys:
            if not isinstance(s_, sp.Symbol):
                raise ValueError(f"symbols must be sympy Symbols (t, [y1, ..., yd]), got {s_!r}")
        if len(set([t] + ys)) != len(ys) + 1:
            raise ValueError(f"symbols repeat a symbol: {symbols!r}")
        self.t, self.ys = t, ys
        self.d = len(ys)
        self.f = _as_matrix(drift, "drift")
        if self.f.shape != (self.d, 1):
            raise ValueError(f"drift must have {self.d} entries (one per state variable), got shape {self.f.shape}")
        g = _as_matrix(diffusion, "diffusion")
        if noise == "general":
            if g.shape[0] != self.d:
                raise ValueError(f"diffusion for general noise must be a ({self.d}, m) matrix, got {g.shape}")
            self.gmat = True
            self.m = g.shape[1]
        else:
            if g.shape != (self.d, 1):
                raise ValueError(f"diffusion must have {self.d} entries for {noise} noise, got shape {g.shape}")
            self.gmat = False
            self.m = 1 if noise == "scalar" else self.d
        self.g = g
        self.noise = noise
        _check_free(self.f, "drift", t, ys)
        _check_free(self.g, "diffusion", t, ys)
        # diagonal derivative d g_i / d y_i (exact Milstein, Ito <-> Stratonovich correction)
        self.dg = sp.Matrix([sp.diff(g[i, 0], ys[i]) for i in range(self.d)]) if not self.gmat else None
        # L_i = sum_k g_k d g_i / d y_k: the Ito-Stratonovich correction is L/2 (scalar noise sums
        # over k; diagonal noise drives component i by W_i only, so L_i = g_i d g_i / d y_i)
        if self.gmat:
            self.L = None
        elif noise == "scalar":
            self.L = sp.Matrix([sum(g[k, 0] * sp.diff(g[i, 0], ys[k]) for k in range(self.d))
                                for i in range(self.d)])
        else:
            self.L = sp.Matrix([g[i, 0] * self.dg[i, 0] for i in range(self.d)])
        self._batch = {}
        self._perpath = None

    # --------------------------------------------------------------- batch (array API)
    def batch(self, xp, which):
        key = (id(xp), which)
        fn = self._batch.get(key)
        if fn is not None:
            return fn
        mat = {"f": self.f, "g": self.g, "dg": self.dg}[which]
        ts, ysub, rep = self._subs()  # generated names only: user names never reach the code
        comps = [[psym.lambdify([ts] + ysub, sp.sympify(mat[i, j]).xreplace(rep), xp)
                  for j in range(mat.shape[1])] for i in range(mat.shape[0])]
        matrix = which == "g" and self.gmat

        def fn(t, y):
            cols = [y[..., i] for i in range(self.d)]
            rows = []
            for row in comps:
                vals = []
                for c in row:
                    v = c(t, *cols)
                    v = xp.asarray(v, dtype=y.dtype) if not hasattr(v, "shape") else v
                    vals.append(xp.broadcast_to(xp.astype(v, y.dtype), y.shape[:-1]))
                rows.append(xp.stack(vals, axis=-1) if matrix else vals[0])
            return xp.stack(rows, axis=-2 if matrix else -1)

        self._batch[key] = fn
        return fn

    # --------------------------------------------------------------- scalar code (Numba)
    def member_code(self, which):
        """``(lines, outputs)``: the entries of ``f``, ``g`` or ``dg`` as scalar Python
        expressions in the generated names ``t_`` and ``y_{i}_`` (C order over a matrix), for
        the fused kernels (see ``_member.MemberFn``)."""
        from sympy.printing.pycode import PythonCodePrinter
        mat = {"f": self.f, "g": self.g, "dg": self.dg}[which]
        pr = PythonCodePrinter({"fully_qualified_modules": True})
        _, _, rep = self._subs()
        outs = [f"float({pr.doprint(sp.sympify(mat[i, j]).xreplace(rep))})"
                for i in range(mat.shape[0]) for j in range(mat.shape[1])]
        return [], outs

    def _subs(self):
        ts = sp.Symbol("t_")
        ysub = [sp.Symbol(f"y_{i}_") for i in range(self.d)]
        return ts, ysub, dict(zip([self.t] + self.ys, [ts] + ysub))

    # --------------------------------------------------------------- CUDA device code
    def cuda_source(self):
        """``__device__`` functions ``sde_f``, ``sde_g`` (and ``sde_dg``) for the fused kernel."""
        ts, ysub, rep = self._subs()
        parts = []
        for name, mat in (("f", self.f), ("g", self.g), ("dg", self.dg)):
            if mat is None:
                continue
            body = [f"    double y_{i}_ = y[{i}];" for i in range(self.d)]
            ncols = mat.shape[1]
            for i in range(mat.shape[0]):
                for j in range(ncols):
                    code = sp.ccode(sp.sympify(mat[i, j]).xreplace(rep), standard="c99")
                    idx = i * ncols + j if (name == "g" and self.gmat) else i
                    body.append(f"    out[{idx}] = {code};")
            parts.append(f"__device__ __forceinline__ void sde_{name}(double t_, const double* y, double* out) {{\n"
                         + "\n".join(body) + "\n}\n")
        return "".join(parts)


def _check_free(mat, name, t, ys):
    """Every free symbol must be one of ``symbols``; undefined functions are refused too."""
    from sympy.core.function import AppliedUndef
    known = {t, *ys}
    extra = sorted((str(s_) for s_ in mat.free_symbols if s_ not in known))
    if extra:
        raise ValueError(f"{name} has free symbol(s) {', '.join(extra)} that are not in symbols="
                         f"(t, [y1, ..., yd]) = ({t}, {list(ys)}); substitute numbers for "
                         "parameters (expr.subs(...)) before solving")
    undef = sorted(str(a_) for a_ in mat.atoms(AppliedUndef))
    if undef:
        raise ValueError(f"{name} calls undefined function(s) {', '.join(undef)}")


def symbolic_correction(ssde, sign):
    """Drift ``f + sign * 1/2 g g'`` (diagonal/scalar noise) as a sympy Matrix."""
    if ssde.L is None:
        raise ValueError("the Ito/Stratonovich drift conversion is implemented for diagonal, "
                         "scalar and additive noise, not general noise")
    return ssde.f + sp.Rational(sign, 2) * ssde.L
