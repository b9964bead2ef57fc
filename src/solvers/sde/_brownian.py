"""``BrownianPath``: a Brownian motion (with space-time Levy area) that is a pure function of
its seed, built as a dyadic Brownian tree on the counter-based Philox stream.

Construction (element ``e`` of the batch uses child stream ``S.child(e)``; node ``u`` of the
heap-numbered tree -- root 1 = ``[t0, t1]``, children ``2u, 2u+1`` -- is split with the normal
pair at counter ``u`` of that child; counter 0 gives the root's increment and area):

* root (counter 0): ``W = sqrt(T) z0``, ``H = sqrt(T/12) z1`` (``H`` is the space-time Levy area
  ``H_{s,t} = (1/h) int_s^t (W_u - W_s) du - (W_t - W_s)/2``, ``N(0, h/12)``, independent of
  the increment);
* a node of length ``h`` with increment ``W`` and area ``H`` splits exactly (conditional law
  of the two halves given ``(W, H)``; all four half quantities are Gaussian):
  ``D = 3H + sqrt(h)/2 z0``, ``A = 2H - D/2``, ``B = sqrt(h/12) z1``,
  ``W_L = (W + D)/2``, ``W_R = (W - D)/2``, ``H_L = (A + B)/2``, ``H_R = (A - B)/2``.
  (Derivation: ``W = W_L + W_R`` and ``H = (H_L + H_R)/2 + (W_L - W_R)/4``; condition the
  independent ``D = W_L - W_R ~ N(0, h)`` and ``A = H_L + H_R ~ N(0, h/12)`` on ``H``.)

Every query reads the same tree, so the path does not depend on the order, number or
resolution of queries.  Below the leaves (depth ``depth``) the path is the conditional mean
``W_a + s W + 6 s (1 - s) H`` given the leaf's increment and area (exact at the leaf ends,
and its Levy area over the leaf is exactly ``H``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from probspace import array_namespace, to_numpy
from probspace.random import as_stream

from ._noise import pairs_at

__all__ = ["BrownianPath"]


def _shape_tuple(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 1 for s in shape):
        raise ValueError(f"shape must have positive entries, got {shape}")
    return shape


class BrownianPath:
    """A seeded Brownian motion on ``[t0, t1]``, query-order independent, any batch shape.

    Parameters
    ----------
    shape : int or tuple of int
        Batch shape of the (independent) Brownian motions, e.g. ``(n_paths, m)``.
    t0, t1 : float
        Time interval, ``t0 < t1``.
    seed : int, None or probspace.random.Stream
        Element ``e`` (C order over ``shape``) uses the child stream ``seed.child(e)``.
    xp : array namespace, optional
        Namespace of returned arrays (NumPy by default).
    depth : int, optional
        Depth of the dyadic tree (default 20: leaves of length ``(t1-t0) 2**-20``).  Times on
        the dyadic grid of this depth are exact Brownian values; in between, the path is the
        conditional mean given the leaf (a continuous, deterministic interpolation).
    dtype : float dtype, optional
        float64 (default) or float32 of ``xp`` for returned values (computed in float64).

    Notes
    -----
    Increments over ``[s, t]`` are ``value(t) - value(s)``, so they add up across any
    resolution.  ``increment(s, t, levy_area=True)`` also returns the space-time Levy area
    ``H_{s,t}`` of this same path.  Cost: one Philox block per tree level per query.

    Examples
    --------
    >>> from solvers import BrownianPath
    >>> bm = BrownianPath((1000,), 0.0, 1.0, seed=1)
    >>> w_half = bm.value(0.5)             # shape (1000,)
    >>> dw = bm.increment(0.25, 0.5)
    >>> dw, h = bm.increment(0.25, 0.5, levy_area=True)
    """

    def __init__(self, shape, t0, t1, /, *, seed, xp=None, depth=20, dtype=None):
        self.shape = _shape_tuple(shape)
        for name, v in (("t0", t0), ("t1", t1)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite real number, got {v!r}")
        if not t1 > t0:
            raise ValueError(f"BrownianPath needs t1 > t0, got t0={t0}, t1={t1}")
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or not 1 <= depth <= 52:
            raise ValueError(f"depth must be an integer in [1, 52], got {depth!r}")
        if xp is None:
            import array_api_compat.numpy as xp
        elif not hasattr(xp, "isdtype"):
            xp = array_namespace(xp.empty(0))
        self.xp = xp
        self.dtype = xp.float64 if dtype is None else dtype
        if self.dtype not in (xp.float64, xp.float32):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.t0 = float(t0)
        self.t1 = float(t1)
        self.depth = int(depth)
        self.stream = as_stream(seed)
        self.size = math.prod(self.shape)
        self._sids_np = np.asarray(self.stream.child_ids(0, self.size), dtype=np.uint64)
        self._sids = xp.asarray(self._sids_np[:, None])

    # ------------------------------------------------------------------ internals
    def _pairs(self, counters):
        return pairs_at(self.xp, self.stream.seed, self._sids, counters)

    def _check_times(self, t, name):
        if not isinstance(t, (list, tuple)) and not np.isscalar(t):
            t = to_numpy(t)  # times may come as any array-API array
        t_np = np.asarray(t, dtype=np.float64)
        if t_np.ndim > 1:
            raise ValueError(f"{name} must be a scalar or a 1-D sequence of times, got shape {t_np.shape}")
        if not np.all(np.isfinite(t_np)):
            raise ValueError(f"{name} must be finite")
        if np.any(t_np < self.t0) or np.any(t_np > self.t1):
            raise ValueError(f"{name} must lie in [t0, t1] = [{self.t0}, {self.t1}], got {t_np}")
        return t_np

    def _descend(self, t_np, need_integral=False):
        """W(t) (and int_{t0}^t W) for NumPy times ``t_np`` of shape (n,) (shared by every
        element) or (E, n) (one time per element): arrays (E, n) in float64."""
        xp = self.xp
        T = self.t1 - self.t0
        tt = t_np[None, :] if t_np.ndim == 1 else t_np
        E, n = self.size, tt.shape[1]
        z0, z1 = self._pairs(xp.zeros((1, 1), dtype=xp.uint64))
        W = xp.broadcast_to(math.sqrt(T) * z0, (E, n))
        H = xp.broadcast_to(math.sqrt(T / 12.0) * z1, (E, n))
        Wa = xp.zeros((E, n), dtype=xp.float64)
        Ia = xp.zeros((E, n), dtype=xp.float64)
        k = np.zeros(tt.shape, dtype=np.uint64)  # node offset within its level
        a_np = np.full(tt.shape, self.t0)
        for level in range(self.depth):
            if np.all(a_np == tt):  # every query sits on the left end of its node: done
                break
            h = T / 2.0 ** level
            u = xp.asarray((np.uint64(1) << np.uint64(level)) + k)
            z0, z1 = self._pairs(u)
            D = 3.0 * H + (0.5 * math.sqrt(h)) * z0
            A = 2.0 * H - 0.5 * D
            B = math.sqrt(h / 12.0) * z1
            WL, WR = 0.5 * (W + D), 0.5 * (W - D)
            HL, HR = 0.5 * (A + B), 0.5 * (A - B)
            c_np = self.t0 + T * ((2.0 * k.astype(np.float64) + 1.0) / 2.0 ** (level + 1))
            right_np = tt >= c_np
            right = xp.asarray(right_np)
            if need_integral:
                Ia = xp.where(right, Ia + (0.5 * h) * (Wa + HL + 0.5 * WL), Ia)
            Wa = xp.where(right, Wa + WL, Wa)
            W = xp.where(right, WR, WL)
            H = xp.where(right, HR, HL)
            k = 2 * k + right_np.astype(np.uint64)
            a_np = self.t0 + T * (k.astype(np.float64) / 2.0 ** (level + 1))
        else:
            level = self.depth
        h = T / 2.0 ** level
        s = xp.asarray((tt - a_np) / h)
        val = Wa + s * W + (6.0 * s * (1.0 - s)) * H
        if not need_integral:
            return val, None
        integ = Ia + h * (s * Wa + (0.5 * s * s) * W + (3.0 * s * s - 2.0 * s * s * s) * H)
        return val, integ

    def _out(self, arr, n, scalar):
        xp = self.xp
        shape = self.shape if scalar else self.shape + (n,)
        out = xp.reshape(arr, shape)
        return out if self.dtype == xp.float64 else xp.astype(out, self.dtype)

    # ------------------------------------------------------------------ public API
    def value(self, t):
        """W(t) - W(t0): shape ``shape`` for a scalar ``t``, ``(*shape, n)`` for ``n`` times."""
        t_np = self._check_times(t, "t")
        scalar = t_np.ndim == 0
        t1d = np.atleast_1d(t_np)
        val, _ = self._descend(t1d)
        return self._out(val, t1d.shape[0], scalar)

    def increment(self, s, t, levy_area=False):
        """W(t) - W(s) (and the space-time Levy area ``H_{s,t}`` with ``levy_area=True``).

        ``s`` and ``t`` are scalars or 1-D sequences of equal length (one interval each);
        ``s < t`` is required when ``levy_area=True``.
        """
        s_np = self._check_times(s, "s")
        t_np = self._check_times(t, "t")
        if s_np.shape != t_np.shape:
            raise ValueError(f"s and t must have the same shape, got {s_np.shape} and {t_np.shape}")
        if np.any(t_np < s_np):
            raise ValueError("increment needs s <= t")
        scalar = s_np.ndim == 0
        s1, t1 = np.atleast_1d(s_np), np.atleast_1d(t_np)
        n = s1.shape[0]
        both = np.concatenate([s1, t1])
        val, integ = self._descend(both, need_integral=levy_area)
        xp = self.xp
        dw = val[:, n:] - val[:, :n]
        if not levy_area:
            return self._out(dw, n, scalar)
        if np.any(t1 <= s1):
            raise ValueError("the Levy area needs s < t")
        h = xp.asarray((t1 - s1)[None, :])
        # H = (1/h) int_s^t (W_u - W_s) du - dW/2, from the running integral of the same path
        area = (integ[:, n:] - integ[:, :n] - h * val[:, :n]) / h - 0.5 * dw
        return self._out(dw, n, scalar), self._out(area, n, scalar)

    def levy_area(self, s, t):
        """The space-time Levy area ``H_{s,t}`` (``N(0, (t-s)/12)``, independent of the increment)."""
        return self.increment(s, t, levy_area=True)[1]

    def grid_increments(self, level):
        """Increments and Levy areas on the uniform grid of ``2**level`` steps, arrays
        ``(*shape, 2**level)`` each, generated level by level (one Philox block per node).

        These are the tree's own node values, equal (to rounding) to ``increment`` queries
        on the same grid.
        """
        if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 0 <= level <= self.depth:
            raise ValueError(f"level must be an integer in [0, depth={self.depth}], got {level!r}")
        W, H = self._levels(int(level))
        n = W.shape[1]
        return self._out(W, n, False), self._out(H, n, False)

    def _levels(self, level):
        xp = self.xp
        T = self.t1 - self.t0
        z0, z1 = self._pairs(xp.zeros((1, 1), dtype=xp.uint64))
        W = math.sqrt(T) * z0
        H = math.sqrt(T / 12.0) * z1
        for lv in range(level):
            h = T / 2.0 ** lv
            nn = 1 << lv
            u = xp.arange(nn, dtype=xp.uint64)[None, :] + nn
            z0, z1 = self._pairs(u)
            D = 3.0 * H + (0.5 * math.sqrt(h)) * z0
            A = 2.0 * H - 0.5 * D
            B = math.sqrt(h / 12.0) * z1
            E = W.shape[0]
            W = xp.reshape(xp.stack([0.5 * (W + D), 0.5 * (W - D)], axis=2), (E, 2 * nn))
            H = xp.reshape(xp.stack([0.5 * (A + B), 0.5 * (A - B)], axis=2), (E, 2 * nn))
        return W, H

    def __repr__(self):
        return (f"BrownianPath(shape={self.shape}, t0={self.t0}, t1={self.t1}, "
                f"seed={self.stream.seed}, depth={self.depth})")
