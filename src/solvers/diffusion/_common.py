"""Helpers shared by the diffusion modules: time-step coefficients and input checks."""
from __future__ import annotations

import numbers

import numpy as np

from probspace import array_namespace, as_float_array, to_numpy

from ._schedule import NoiseSchedule


def check_schedule(schedule):
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    return schedule


def step_coeffs(schedule, n, xp, dtype, m, *, name="n", allow_zero=False):
    """``(sqrt(alpha_bar[n]), beta_bar[n])`` as Python floats (scalar ``n``) or ``(m, 1)`` arrays.

    ``n`` is a Python/NumPy integer, or an integer array of shape ``(m,)`` giving each row
    its own step (the batched form the oracles and :func:`estimate_gamma` accept).
    """
    lo = 0 if allow_zero else 1
    if isinstance(n, numbers.Integral) and not isinstance(n, bool):
        n = int(n)
        if not lo <= n <= schedule.N:
            raise ValueError(f"{name} must lie in [{lo}, N={schedule.N}], got {n}")
        return float(np.sqrt(schedule.alpha_bar[n])), float(schedule.beta_bar[n])
    nn = np.asarray(to_numpy(n))
    if nn.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer or an integer array, got dtype {nn.dtype}")
    if nn.shape != (m,):
        raise ValueError(f"{name} as an array must have shape ({m},) (one step per row), got {nn.shape}")
    if np.any(nn < lo) or np.any(nn > schedule.N):
        raise ValueError(f"{name} must lie in [{lo}, N={schedule.N}]")
    a = xp.asarray(np.sqrt(schedule.alpha_bar[nn])[:, None], dtype=dtype)
    b2 = xp.asarray(schedule.beta_bar[nn][:, None], dtype=dtype)
    return a, b2


def as_batch(x, name, *, dim=None):
    """``(xp, x)`` with ``x`` a float array of shape ``(m, d)`` (``d`` checked when given)."""
    xp = array_namespace(x, names=(name,))
    x = as_float_array(x, name, xp)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (m, d), got {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns, got shape {x.shape}")
    return xp, x


def logsumexp0(xp, v):
    """Log-sum-exp over axis 0 (stable), keeping the other axes."""
    mx = xp.max(v, axis=0, keepdims=True)
    return xp.log(xp.sum(xp.exp(v - mx), axis=0)) + mx[0, ...]


def softmax0(xp, v):
    mx = xp.max(v, axis=0, keepdims=True)
    e = xp.exp(v - mx)
    return e / xp.sum(e, axis=0, keepdims=True)


class StepNoise:
    """Standard normal noise indexed by time step: step ``k`` uses counter blocks
    ``[o + k B, o + (k + 1) B)`` of the stream (``o`` its offset, ``B = ceil(size / 2)``).

    The numbers of a step therefore do not depend on which other steps are drawn, or how
    many are drawn per call (one Philox fill for a run of consecutive steps).  ``finish()``
    advances a user-supplied stream past every block the routine may use.
    """

    def __init__(self, stream, shape, n_steps, xp, dtype):
        self.stream = stream
        self.shape = tuple(shape)
        self.size = 1
        for v in self.shape:
            self.size *= int(v)
        self.blocks = (self.size + 1) // 2
        self.base = stream.offset
        self.n_steps = n_steps
        self.xp, self.dtype = xp, dtype

    def steps(self, first, count):
        """Noise arrays of steps ``first .. first + count - 1`` (one fill call)."""
        start = self.base + first * self.blocks
        z = self.stream.at(start).normal((count, 2 * self.blocks), xp=self.xp, dtype=self.dtype)
        return [self.xp.reshape(z[j, : self.size], self.shape) for j in range(count)]

    def step(self, k):
        return self.steps(k, 1)[0]

    def finish(self):
        self.stream.advance(self.blocks * (self.n_steps + 1))
