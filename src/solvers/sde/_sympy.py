"""SDEs given as sympy expressions: batch functions for any namespace, per-path Numba functions
for the fused CPU kernel, and CUDA device code for the fused CuPy kernel."""
from __future__ import annotations

import math

import sympy as sp

from probspace import sym as psym


_PERPATH_CACHE: dict = {}


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
        comps = [[psym.lambdify([self.t] + self.ys, mat[i, j], xp) for j in range(mat.shape[1])]
                 for i in range(mat.shape[0])]
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

    # --------------------------------------------------------------- per path (Numba)
    def perpath(self, inline=False):
        """Per-path ``@njit`` functions ``(pf, pg, pdg)`` with signature ``(t, y, out)``
        (``inline=True``: compiled with ``inline="always"`` for the fused kernels)."""
        if self._perpath is None or self._perpath[0] != inline:
            import numba as nb
            fns = []
            for name, mat in (("f", self.f), ("g", self.g), ("dg", self.dg)):
                if mat is None:
                    fns.append(None)
                    continue
                src = self._python_source(name, mat, matrix=(name == "g" and self.gmat))
                fn = _PERPATH_CACHE.get((src, inline))
                if fn is None:  # same expressions -> same function -> the fused kernel is reused
                    ns = {"math": math}
                    exec(compile(src, f"<solvers.sde sympy {name}>", "exec"), ns)
                    opts = {"inline": "always"} if inline else {}
                    fn = _PERPATH_CACHE[(src, inline)] = nb.njit(nogil=True, **opts)(ns["_" + name])
                fns.append(fn)
            self._perpath = (inline, tuple(fns))
        return self._perpath[1]

    def _subs(self):
        ts = sp.Symbol("t_")
        ysub = [sp.Symbol(f"y_{i}_") for i in range(self.d)]
        return ts, ysub, dict(zip([self.t] + self.ys, [ts] + ysub))

    def _python_source(self, name, mat, matrix):
        from sympy.printing.pycode import PythonCodePrinter
        pr = PythonCodePrinter({"fully_qualified_modules": True})
        ts, ysub, rep = self._subs()
        lines = [f"def _{name}(t_, y, out):"]
        lines += [f"    y_{i}_ = y[{i}]" for i in range(self.d)]
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                code = pr.doprint(sp.sympify(mat[i, j]).xreplace(rep))
                idx = f"{i}, {j}" if matrix else f"{i}"
                lines.append(f"    out[{idx}] = float({code})")
        return "\n".join(lines) + "\n"

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


def symbolic_correction(ssde, sign):
    """Drift ``f + sign * 1/2 g g'`` (diagonal/scalar noise) as a sympy Matrix."""
    if ssde.L is None:
        raise ValueError("the Ito/Stratonovich drift conversion is implemented for diagonal, "
                         "scalar and additive noise, not general noise")
    return ssde.f + sp.Rational(sign, 2) * ssde.L
