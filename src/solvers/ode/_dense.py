"""Dense output of :func:`solvers.solve_ode` (``dense_output=True``): the solution as a callable.

Each accepted step ``[t_k, t_k + h_k]`` of each member stores its continuous extension as a
polynomial in ``theta = (t - t_k) / h_k``: ``y(t) = y_k + sum_j theta**(j+1) Q_kj``.  The
interpolants are those the solver used for ``t_eval`` and event location (4th order for
dopri5 and tsit5).
"""
from __future__ import annotations

import numpy as np

__all__ = ["DenseSolution"]


def _eval_members(ts, hs, ys, qs, nseg, lo, hi, y_end, tq, out):
    """out[b, n, :] = member b's interpolant at tq[n]; NaN outside [lo[b], hi[b]]; exactly
    y_end[b] at hi[b] (the solver's own end state, when it is finite)."""
    B = ts.shape[0]
    m = qs.shape[2]
    d = ys.shape[2]
    for b in range(B):
        ns = nseg[b]
        for n in range(tq.shape[0]):
            t = tq[n]
            if not (lo[b] <= t <= hi[b]) or ns == 0:
                for q in range(d):
                    out[b, n, q] = np.nan
                continue
            if t == hi[b] and np.isfinite(y_end[b, 0]):
                for q in range(d):
                    out[b, n, q] = y_end[b, q]
                continue
            # the last segment that starts at or before t (binary search)
            a = 0
            z = ns - 1
            while a < z:
                mid = (a + z + 1) // 2
                if ts[b, mid] <= t:
                    a = mid
                else:
                    z = mid - 1
            h = hs[b, a]
            theta = (t - ts[b, a]) / h if h != 0.0 else 0.0
            for q in range(d):
                acc = 0.0
                for j in range(m - 1, -1, -1):
                    acc = (acc + qs[b, a, j, q]) * theta
                out[b, n, q] = ys[b, a, q] + acc


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        import numba
        _KERNEL = numba.njit(cache=True, nogil=True)(_eval_members)
    return _KERNEL


class DenseSolution:
    """The continuous solution of :func:`solve_ode` (``dense_output=True``): ``sol(t)``.

    Calling ``sol(t)`` evaluates every member's interpolant: ``t`` a number gives shape
    ``(*batch, d)``, ``t`` a 1-D array of ``n`` times gives ``(*batch, n, d)`` (the layout of
    ``ODEResult.y``; scipy's ``OdeSolution`` returns the transpose ``(d, n)``).  Indexing
    ``sol[i]`` (any index into the batch) gives the solution of those members, e.g.
    ``sol[3](t)`` of shape ``(d,)`` or ``(n, d)``.

    Each member's solution is defined on the interval it actually covered, from ``t0`` to its
    ``t_final`` (the event time for a terminal event, the last accepted time for a failure):
    outside it ``sol`` returns NaN (no extrapolation).  ``ts`` (unbatched solutions only) are
    the step boundaries, like scipy's ``OdeSolution.ts``.

    Attributes
    ----------
    t_min, t_max : array, shape batch
        The ends of each member's interval (``t_min <= t_max``).
    n_segments : int array, shape batch
        Accepted steps (interpolants) of each member.
    """

    def __init__(self, t_start, h, y, q, n, t0, t_final, *, sign, batch, xp, like, dtype,
                 y_end=None):
        self._t, self._h, self._y, self._q = t_start, h, y, q
        self._n = np.asarray(n, dtype=np.int64).reshape(-1)
        self._sign = float(sign)
        self.batch = tuple(batch)
        self._xp, self._like, self._dtype = xp, like, dtype
        tf = np.asarray(t_final, dtype=np.float64).reshape(-1)
        # in integration time tau = sign * t, every member covers [sign * t0, sign * t_final]
        tau0 = np.full(tf.shape, self._sign * float(t0))
        tau1 = self._sign * tf
        tau1 = np.where(np.isnan(tau1), tau0, tau1)
        self._lo, self._hi = tau0, np.maximum(tau0, tau1)
        d = y.shape[-1]
        # the state at the end of each member's interval (NaN: use the interpolant)
        self._y_end = (np.full((tf.size, max(d, 1)), np.nan) if y_end is None else
                       np.ascontiguousarray(np.asarray(y_end, dtype=np.float64).reshape(tf.size, d)))

    # ------------------------------------------------------------------ evaluation
    def __call__(self, t):
        from probspace import to_numpy
        tq = np.asarray(to_numpy(t), dtype=np.float64)
        if tq.ndim > 1:
            raise ValueError(f"t must be a number or a 1-D array, got shape {tq.shape}")
        scalar = tq.ndim == 0
        tq1 = np.atleast_1d(tq) * self._sign
        B = self._n.size
        d = self._y.shape[-1]
        out = np.empty((B, tq1.size, d))
        if B and tq1.size and d:
            _kernel()(self._t, self._h, self._y, self._q, self._n, self._lo, self._hi,
                      self._y_end, np.ascontiguousarray(tq1), out)
        elif d == 0 or tq1.size == 0:
            pass
        out = out.reshape(self.batch + (tq1.size, d))
        if scalar:
            out = out[..., 0, :]
        return self._asx(out)

    def _asx(self, a):
        from ._solve import _asx
        return _asx(a, self._xp, self._like, self._dtype)

    def __getitem__(self, index):
        ids = np.arange(self._n.size).reshape(self.batch)[index]
        ids = np.asarray(ids)
        flat = ids.reshape(-1)
        sub = DenseSolution.__new__(DenseSolution)
        sub._t, sub._h, sub._y, sub._q = (self._t[flat], self._h[flat], self._y[flat],
                                          self._q[flat])
        sub._n = self._n[flat]
        sub._sign = self._sign
        sub.batch = tuple(ids.shape)
        sub._xp, sub._like, sub._dtype = self._xp, self._like, self._dtype
        sub._lo, sub._hi = self._lo[flat], self._hi[flat]
        sub._y_end = self._y_end[flat]
        return sub

    def __len__(self):
        if not self.batch:
            raise TypeError("an unbatched solution has no len(); call it with t")
        return self.batch[0]

    # ------------------------------------------------------------------ descriptors
    @property
    def t_min(self):
        return self._bounds(np.minimum)

    @property
    def t_max(self):
        return self._bounds(np.maximum)

    def _bounds(self, pick):
        v = pick(self._sign * self._lo, self._sign * self._hi).reshape(self.batch)
        return v[()] if not self.batch else v

    @property
    def n_segments(self):
        v = self._n.reshape(self.batch)
        return v[()] if not self.batch else v

    @property
    def ts(self):
        """Step boundaries ``[t0, t_1, ..., t_final]`` (physical time) of an unbatched solution."""
        if self.batch:
            raise ValueError("ts is defined for one member: use sol[i].ts")
        n = int(self._n[0])
        inner = self._t[0, 1:n] if n else np.zeros(0)
        pts = np.concatenate([[self._lo[0]], inner, [self._hi[0]]]) if n else np.array([self._lo[0]])
        return self._sign * pts

    def __repr__(self):
        return (f"DenseSolution(batch={self.batch}, d={self._y.shape[-1]}, "
                f"segments={int(self._n.sum()) if self._n.size else 0})")


def constant_solution(y0, t0, t_end, *, batch, xp, like, dtype, m=1):
    """The solution of a zero-length interval (``t_end = t0``) or of ``d = 0``: ``y0`` on
    ``[t0, t_end]``."""
    B = int(np.prod(batch)) if batch else 1
    d = int(np.shape(y0)[-1])
    y = np.asarray(y0, dtype=np.float64).reshape((B, 1, d))
    sign = 1.0 if t_end >= t0 else -1.0
    return DenseSolution(np.full((B, 1), sign * float(t0)), np.zeros((B, 1)), y,
                         np.zeros((B, 1, m, d)), np.ones(B, dtype=np.int64), t0,
                         np.full(B, float(t_end)), sign=sign, batch=batch, xp=xp, like=like,
                         dtype=dtype)

