"""Pieces shared by every rung of :func:`solvers.solve_ode`: status codes, the step-size
controller constants, event specifications."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = ["STATUS_SUCCESS", "STATUS_EVENT", "STATUS_MAX_STEPS", "STATUS_NONFINITE",
           "STATUS_UNDERFLOW", "STATUS_STIFF", "STATUS_CALLBACK", "RUNNING", "MESSAGES", "Controller",
           "EventSpec", "check_memory"]

from .._status import (STATUS_SUCCESS, STATUS_EVENT, STATUS_MAX_STEPS, STATUS_NONFINITE,
                       STATUS_UNDERFLOW, STATUS_STIFF, STATUS_CALLBACK, MESSAGES)

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
    """Normalised events: functions with ``terminal`` counts and ``direction`` signs.

    ``terminal[i]`` is the occurrence at which event ``i`` stops the member (0: never), from
    the function's ``terminal`` attribute: ``False``/``None``/``0`` never, ``True`` the first
    occurrence, a positive integer ``k`` the ``k``-th (as in scipy).  ``directions[i]`` is the
    sign of the ``direction`` attribute (any real number; 0 or absent: both directions).
    """

    def __init__(self, funcs, terminal, directions):
        self.funcs = tuple(funcs)
        self.terminal = tuple(int(v) for v in terminal)
        self.directions = tuple(float(v) for v in directions)

    @classmethod
    def from_user(cls, events):
        funcs = [events] if callable(events) else list(events)
        if not funcs:
            return None
        terminal, directions = [], []
        for i, g in enumerate(funcs):
            if not callable(g):
                raise TypeError(f"events must be a callable or a sequence of callables, got {g!r}")
            terminal.append(_terminal_count(getattr(g, "terminal", None), i))
            directions.append(_direction(getattr(g, "direction", 0.0), i))
        return cls(funcs, terminal, directions)

    def with_funcs(self, funcs):
        return EventSpec(funcs, self.terminal, self.directions)


def _terminal_count(v, i):
    rule = (f"events[{i}]: the `terminal` attribute of an event must be a boolean or a positive "
            f"integer (stop at that occurrence), got {v!r}")
    if v is None:
        return 0
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, numbers.Integral):
        if v < 0:
            raise ValueError(rule)
        return int(v)
    if isinstance(v, numbers.Real) and float(v).is_integer() and v >= 0:
        return int(v)
    raise ValueError(rule)


def _direction(v, i):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(float(v)):
        raise ValueError(f"events[{i}]: the `direction` attribute of an event must be a real "
                         f"number (its sign selects the crossing direction; 0: both), got {v!r}")
    return float(np.sign(float(v)))


def available_memory() -> int:
    """Bytes of memory this process can still use (MemAvailable; total RAM as a fallback)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 62


def check_memory(nbytes, what, hint):
    """Refuse (``ValueError``) work whose output cannot fit in memory, before allocating it."""
    avail = available_memory()
    if nbytes > avail:
        raise ValueError(f"{what} would need {nbytes / 2**30:.3g} GiB of memory, more than the "
                         f"{avail / 2**30:.3g} GiB available; {hint}")


def messages_for(status):
    """A NumPy array of messages for an array of status codes."""
    status = np.asarray(status)
    out = np.empty(status.shape, dtype=object)
    for code, msg in MESSAGES.items():
        out[status == code] = msg
    return out.astype(str) if out.size else np.empty(status.shape, dtype=str)
