"""Pieces shared by every rung of :func:`solvers.solve_ode`: status codes, the step-size
controller constants, event specifications."""
from __future__ import annotations

import numpy as np

__all__ = ["STATUS_SUCCESS", "STATUS_EVENT", "STATUS_MAX_STEPS", "STATUS_NONFINITE",
           "STATUS_UNDERFLOW", "RUNNING", "MESSAGES", "Controller", "EventSpec"]

from .._status import (STATUS_SUCCESS, STATUS_EVENT, STATUS_MAX_STEPS, STATUS_NONFINITE,
                       STATUS_UNDERFLOW, MESSAGES)

RUNNING = 99  # internal only

# Hairer's DOPRI5 controller: PI control with beta = 0.04, safety 0.9, the step may shrink
# by at most 5x and grow by at most 10x per step (Solving ODEs I, section IV.2 / dopri5.f).
BETA = 0.04
SAFE = 0.9
FAC_MIN = 0.2   # h_new >= 0.2 h
FAC_MAX = 10.0  # h_new <= 10 h
NONFINITE_SHRINK = 0.25


class Controller:
    """PI step-size controller for an embedded pair whose lower order is ``q``."""

    def __init__(self, q):
        self.expo1 = 1.0 / (q + 1) - BETA * 0.75
        self.nonfinite_shrink = NONFINITE_SHRINK

    def accept_xp(self, h, err, facold, last_rejected, xp):
        fac11 = err ** self.expo1
        fac = fac11 / facold ** BETA
        fac = xp.clip(fac / SAFE, 1.0 / FAC_MAX, 1.0 / FAC_MIN)
        hnew = h / fac
        hnew = xp.where(last_rejected, xp.minimum(hnew, h), hnew)
        return hnew, xp.maximum(err, xp.full_like(err, 1e-4))

    def reject_xp(self, h, err, xp):
        fac11 = err ** self.expo1
        # (inactive lanes have err = 0; keep the divisor positive there)
        return h / xp.maximum(xp.minimum(xp.full_like(err, 1.0 / FAC_MIN), fac11 / SAFE),
                              xp.full_like(err, 1.0))


class EventSpec:
    """Normalised events: a tuple of functions with ``terminal`` and ``direction``."""

    def __init__(self, funcs, terminal, directions):
        self.funcs = tuple(funcs)
        self.terminal = tuple(bool(v) for v in terminal)
        self.directions = tuple(float(v) for v in directions)

    @classmethod
    def from_user(cls, events):
        funcs = [events] if callable(events) else list(events)
        if not funcs:
            return None
        for g in funcs:
            if not callable(g):
                raise TypeError(f"events must be a callable or a sequence of callables, got {g!r}")
        terminal = [getattr(g, "terminal", False) for g in funcs]
        directions = [getattr(g, "direction", 0.0) for g in funcs]
        for v in directions:
            if v not in (-1, 0, 1) and not (isinstance(v, float) and v in (-1.0, 0.0, 1.0)):
                raise ValueError(f"events: an event's direction must be -1, 0 or 1, got {v!r}")
        return cls(funcs, terminal, directions)


def messages_for(status):
    """A NumPy array of messages for an array of status codes."""
    status = np.asarray(status)
    out = np.empty(status.shape, dtype=object)
    for code, msg in MESSAGES.items():
        out[status == code] = msg
    return out.astype(str) if out.size else np.empty(status.shape, dtype=str)


class reversed_vectorized:
    """``-f(-tau, y, *args)``: the right-hand side in reversed time tau = -t."""

    def __init__(self, f):
        self.forward = f

    def __call__(self, tau, y, *args):
        return -self.forward(-tau, y, *args)


class _ReversedEvent:
    def __init__(self, g):
        self.forward = g
        self.terminal = getattr(g, "terminal", False)
        # direction refers to the order of integration, as in scipy: unchanged
        self.direction = getattr(g, "direction", 0.0)

    def __call__(self, tau, y, *args):
        return self.forward(-tau, y, *args)


def reversed_events(events):
    funcs = [events] if callable(events) else list(events)
    return [_ReversedEvent(g) for g in funcs]
