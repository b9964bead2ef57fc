"""Learning-rate schedules with optax's names and semantics.

A schedule maps a step count (0 for the first update) to a value.  It accepts a Python/NumPy
integer (returning a float) or a NumPy array of counts (returning an array), so it can be
plotted directly.  The formulas are optax's; where optax silently repairs an argument that its
own documentation calls invalid (a negative ``transition_begin``, an ``exponential_decay``
with ``transition_steps <= 0`` or ``decay_rate <= 0``), these raise ``ValueError`` instead.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probspace.typing import ArrayLike

from ._types import Schedule

__all__ = ["constant_schedule", "polynomial_schedule", "linear_schedule",
           "piecewise_constant_schedule", "exponential_decay", "cosine_decay_schedule",
           "warmup_cosine_decay_schedule", "warmup_exponential_decay_schedule",
           "join_schedules"]


def _value(x: float, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite real number, got {x!r}")
    return x


def _steps(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    return int(x)


def _begin(x: Any) -> int:
    x = _steps(x, "transition_begin")
    if x < 0:
        raise ValueError(f"transition_begin must be >= 0, got {x}")
    return x


def _out(v: ArrayLike) -> float | NDArray[np.float64]:
    """A float for a scalar count, the array for an array of counts."""
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v


def _count(count: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(count, dtype=np.float64)


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.
    """
    _value(value, "value")
    return lambda count: value


def polynomial_schedule(init_value: float, end_value: float, power: float, transition_steps: int,
                        transition_begin: int = 0) -> Schedule:
    r"""From ``init_value`` to ``end_value`` along ``(1 - (t - B)/T)^power``.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.

    :math:`I` for :math:`t < B`; :math:`(I - E)(1 - (t - B)/T)^P + E` for
    :math:`B \le t < B + T`; :math:`E` after.  With ``transition_steps <= 0`` the schedule
    is the constant ``init_value`` (optax's documented behaviour).
    """
    init_value = _value(init_value, "init_value")
    end_value = _value(end_value, "end_value")
    power = _value(power, "power")
    if power < 0:   # (1 - t/T)^power would reach 0^power = inf at the end of the transition
        raise ValueError(f"power must be >= 0, got {power!r}")
    transition_steps = _steps(transition_steps, "transition_steps")
    transition_begin = _begin(transition_begin)
    if transition_steps <= 0:
        return lambda count: init_value

    def schedule(count: ArrayLike) -> Any:
        c = np.clip(_count(count) - transition_begin, 0, transition_steps)
        frac = 1 - c / transition_steps
        return _out((init_value - end_value) * frac ** power + end_value)
    return schedule


def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """Linear from ``init_value`` (until ``transition_begin``) to ``end_value`` (from
    ``transition_begin + transition_steps`` on): ``polynomial_schedule`` with power 1.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.
    """
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: Mapping[int, float] | None = None
                                ) -> Schedule:
    """``init_value`` times the product of the scales of every boundary ``b <= count``.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.

    Parameters
    ----------
    boundaries_and_scales : dict {step: scale}, optional
        Scales must be >= 0.
    """
    init_value = _value(init_value, "init_value")
    items = []
    if boundaries_and_scales is not None and not isinstance(boundaries_and_scales, Mapping):
        raise TypeError("boundaries_and_scales must be a dict {step: scale} or None, got "
                        f"{type(boundaries_and_scales).__name__}")
    if boundaries_and_scales is not None:
        for b, s in boundaries_and_scales.items():
            _steps(b, "boundaries_and_scales key")
            if _value(s, "boundaries_and_scales value") < 0:
                raise ValueError("piecewise_constant_schedule expects non-negative scales, "
                                 f"got {s!r} at step {b}")
            items.append((int(b), float(s)))
    items.sort()

    def schedule(count: ArrayLike) -> Any:
        c = _count(count)
        v = np.full(c.shape, float(init_value))
        for b, s in items:
            v = np.where(c >= b, v * s, v)
        return _out(v)
    return schedule


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """``init_value * decay_rate ** ((count - transition_begin) / transition_steps)`` from
    ``transition_begin`` on (``init_value`` before).

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.

    Parameters
    ----------
    init_value : float
    transition_steps : int > 0
    decay_rate : float > 0
        ``< 1`` decays, ``> 1`` grows.
    transition_begin : int >= 0
    staircase : bool
        Integer division: the value changes every ``transition_steps`` steps.
    end_value : float, optional
        A lower bound when ``decay_rate < 1``, an upper bound otherwise.
    """
    init_value = _value(init_value, "init_value")
    transition_steps = _steps(transition_steps, "transition_steps")
    if transition_steps <= 0:
        raise ValueError(f"transition_steps must be positive, got {transition_steps}")
    decay_rate = _value(decay_rate, "decay_rate")
    if decay_rate <= 0:
        raise ValueError(f"decay_rate must be positive, got {decay_rate!r}")
    transition_begin = _begin(transition_begin)
    if end_value is not None:
        end_value = _value(end_value, "end_value")
        bound = np.maximum if decay_rate < 1.0 else np.minimum

    def schedule(count: ArrayLike) -> Any:
        d = _count(count) - transition_begin
        p = d / transition_steps
        if staircase:
            p = np.floor(p)
        with np.errstate(over="ignore"):   # a growing schedule may pass inf before its bound
            v = np.where(d <= 0, init_value, init_value * np.power(decay_rate, p))
        if end_value is not None:
            v = bound(v, end_value)
        return _out(v)
    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Schedule:
    r"""Cosine decay (Loshchilov & Hutter, SGDR):
    :math:`I\,[(1 - \alpha)(\tfrac12(1 + \cos(\pi \min(t, T)/T)))^p + \alpha]`.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.

    Parameters
    ----------
    init_value : float
    decay_steps : int > 0
    alpha : float
        Final value as a fraction of ``init_value``.
    exponent : float
    """
    init_value = _value(init_value, "init_value")
    decay_steps = _steps(decay_steps, "decay_steps")
    if decay_steps <= 0:
        raise ValueError(f"cosine_decay_schedule needs positive decay_steps, got {decay_steps}")
    alpha = _value(alpha, "alpha")
    exponent = _value(exponent, "exponent")
    if exponent < 0:   # the cosine factor reaches 0 at decay_steps: 0^exponent = inf
        raise ValueError(f"exponent must be >= 0, got {exponent!r}")

    def schedule(count: ArrayLike) -> Any:
        c = np.minimum(_count(count), decay_steps)
        cos = 0.5 * (1 + np.cos(np.pi * c / decay_steps))
        return _out(init_value * ((1 - alpha) * cos ** exponent + alpha))
    return schedule


def join_schedules(schedules: Iterable[Callable[[int], float]],
                   boundaries: Iterable[int]) -> Schedule:
    """Run ``schedules[i]`` from ``boundaries[i-1]`` on, with the count restarted at each
    boundary (``schedules[i](count - boundaries[i-1])``).

    The joined schedules' values are returned as they are (this adds no NaN or inf).

    Parameters
    ----------
    schedules : sequence of callables
    boundaries : sequence of int, one fewer than ``schedules``, non-decreasing
    """
    for arg, name in ((schedules, "schedules"), (boundaries, "boundaries")):
        if isinstance(arg, (str, bytes)) or not isinstance(arg, Iterable):
            raise TypeError(f"{name} must be a sequence, got {type(arg).__name__}")
    schedules = list(schedules)
    boundaries = [_steps(b, "boundaries") for b in boundaries]
    if not schedules or len(boundaries) != len(schedules) - 1:
        raise ValueError(f"join_schedules needs len(boundaries) == len(schedules) - 1, got "
                         f"{len(boundaries)} boundaries for {len(schedules)} schedules")
    if any(not callable(s) for s in schedules):
        raise TypeError("schedules must be callables")
    if any(b1 > b2 for b1, b2 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"boundaries must be non-decreasing, got {boundaries}")

    def schedule(count: ArrayLike) -> Any:
        c = _count(count)
        if c.ndim == 0:
            i = sum(1 for b in boundaries if b <= c)
            return _out(schedules[i](count - boundaries[i - 1] if i else count))
        out = _count(schedules[0](count))
        for b, s in zip(boundaries, schedules[1:]):
            out = np.where(c < b, out, _count(s(count - b)))
        return out
    return schedule


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                 decay_steps: int, end_value: float = 0.0,
                                 exponent: float = 1.0) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    cosine decay to ``end_value`` at step ``decay_steps`` (which counts the warmup:
    ``decay_steps > warmup_steps``).  With ``peak_value == 0`` the decay part is 0.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.
    """
    peak_value = _value(peak_value, "peak_value")
    end_value = _value(end_value, "end_value")
    warmup_steps = _steps(warmup_steps, "warmup_steps")
    decay_steps = _steps(decay_steps, "decay_steps")
    if decay_steps <= warmup_steps:
        raise ValueError(f"decay_steps ({decay_steps}) must exceed warmup_steps "
                         f"({warmup_steps}): it counts the warmup")
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    if not math.isfinite(alpha):
        raise ValueError(f"end_value / peak_value = {end_value!r} / {peak_value!r} overflows")
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps),
         cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)],
        [warmup_steps])


def warmup_exponential_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                      transition_steps: int, decay_rate: float,
                                      transition_begin: int = 0, staircase: bool = False,
                                      end_value: float | None = None) -> Schedule:
    """Linear warmup to ``peak_value`` over ``warmup_steps``, then
    ``exponential_decay(peak_value, ...)`` counted from the end of the warmup.

    Every argument must be finite (NaN or inf raise ``ValueError``), so the values are.
    """
    peak_value = _value(peak_value, "peak_value")   # before it is passed on as end_value
    warmup_steps = _steps(warmup_steps, "warmup_steps")
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps),
         exponential_decay(peak_value, transition_steps, decay_rate, transition_begin,
                           staircase, end_value)],
        [warmup_steps])
