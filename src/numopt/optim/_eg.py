"""Exponentiated gradient for nonnegative parameters, and EG step-size adaptation."""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

from probspace import array_namespace
from probspace._validation import check_nonnegative, check_positive, check_probability
from probspace.typing import Array

from ._base import (Optimizer, as_schedule, check_count, check_leaves, check_params,
                    check_state_type, resolve_lr, state_leaves, zeros_like_tree)
from ._tree import leaves_like, unflatten
from ._types import OptState, Params, ScalarOrSchedule, Updates

__all__ = ["eg", "eg_adaptive", "EgState", "EgAdaptiveState"]


class EgState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax


def eg(lr: ScalarOrSchedule | None = None, *,
       learning_rate: ScalarOrSchedule | None = None) -> Optimizer:
    """Unnormalised exponentiated gradient for nonnegative parameters:
    ``theta <- theta * exp(-lr_t g)``.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    The update is returned additively as ``theta * expm1(-lr_t g)``, which keeps small steps
    accurate (no ``exp(x) - 1`` cancellation) and keeps zero entries exactly zero (no
    ``0 * inf``).  Parameters stay nonnegative.  EG is mirror descent with the (unnormalised)
    entropy; for parameters on the probability simplex use ``numopt.eg_step``, which also
    normalises.

    Parameters
    ----------
    lr : float or callable
        Learning rate or schedule ``step -> lr``; also ``learning_rate=`` (not both).

    Raises
    ------
    ValueError
        From ``init`` when a parameter has a negative entry.
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "eg")
    sched = as_schedule(lr, lr_name)

    def init(params: Params) -> EgState:
        pl, _, _ = check_params(params)
        for p in pl:
            xp = array_namespace(p)
            if bool(xp.any(p < 0)):
                raise ValueError("params must be nonnegative for exponentiated gradient")
        return EgState(count=0)

    def update(grads: Updates, state: EgState, params: Params) -> tuple[Updates, EgState]:
        check_state_type(state, EgState, "eg")
        check_count(state.count)
        pl, gl, _, td = check_leaves(grads, params)
        a = sched(state.count)
        ups = []
        for p, g in zip(pl, gl):
            xp = array_namespace(p)
            u = p * xp.expm1(-a * g)
            ups.append(xp.where(p == 0, xp.zeros_like(u), u))
        return unflatten(td, ups), EgState(state.count + 1)

    return Optimizer(init, update)


class EgAdaptiveState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    base_state: OptState
    gains: Updates         # per-coordinate gains p (start at 1)
    scale: float           # global step-size scale s (starts at init_scale)
    prev_update: Updates   # the base optimizer's raw update u_{t-1}
    grad_avg: Updates      # EMA of gradients (normalised mode's global signal)


def _max_abs(a: Array) -> float:
    xp = array_namespace(a)
    return float(xp.max(xp.abs(a))) if a.size else 0.0


def _scaled(s_prev: float, exponent: float) -> float:
    """``s_prev * exp(exponent)``, refusing a step-size scale that leaves the float range
    (an OverflowError or a silent 0/inf scale otherwise)."""
    try:
        scale = s_prev * math.exp(exponent)
    except OverflowError:
        scale = math.inf
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"the step-size scale s * exp(scale_lr * ...) = {scale!r} left the "
                         "float range: lower scale_lr (or check the gradients)")
    return scale


def eg_adaptive(base: Optimizer, *, gain_lr: float = 0.01, scale_lr: float = 0.01,
                beta: float = 0.9, normalize: bool = True,
                init_scale: float = 1.0) -> Optimizer:
    """Step-size adaptation by exponentiated-gradient updates of per-coordinate gains and a
    global scale, wrapping any base optimizer (after Amid, Anil, Fifty & Warmuth 2022,
    arXiv 2202.00145, and the simplified form of J. Su, "Exponentiated gradient descent +
    meta-learning = adaptive learning rate", kexue.fm, 2022, https://kexue.fm/archives/8968).

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    What is implemented (the paper's exact constants and normalisations were not available, so
    this is our documented variant).  With ``u_t`` the base optimizer's update for gradient
    ``g_t``, the applied update is ``s_t * p_t * u_t`` where, before it is formed,

    * ``normalize=False`` (exact hypergradients, Su's form): since
      ``theta_t = theta_{t-1} + s_{t-1} p_{t-1} u_{t-1}``, ``dL(theta_t)/dp_{t-1} =
      s_{t-1} g_t u_{t-1}`` and ``dL/ds_{t-1} = <g_t, p_{t-1} u_{t-1}>``; EG steps on them give
      ``p_t = p_{t-1} exp(-gain_lr s_{t-1} g_t u_{t-1})`` and
      ``s_t = s_{t-1} exp(-scale_lr <g_t, p_{t-1} u_{t-1}>)``.  With ``base = sgd(eta)`` and
      ``scale_lr = 0`` this is exactly Su's rule ``nu_{t+1} = nu_t exp(gamma g_{t-1} g_t)``,
      ``theta <- theta - eta nu_{t+1} g_t`` with ``gamma = gain_lr * eta``.
    * ``normalize=True`` (default, scale-free): gains follow the sign agreement,
      ``p_t = p_{t-1} exp(gain_lr sign(-g_t u_{t-1}))``, and the global scale follows the
      alignment of the average gradient with the current one, as the paper describes,
      ``s_t = s_{t-1} exp(scale_lr cos(gbar_{t-1}, g_t))`` with ``gbar`` an EMA (``beta``) of
      the gradients (cosine over all leaves together; 0 at the first step).

    Consistent directions raise the step, oscillation lowers it.  Nothing is clipped: choose
    ``gain_lr``/``scale_lr`` small enough for your problem (each step changes a gain by at most
    a factor ``exp(gain_lr)`` in normalised mode).

    Parameters
    ----------
    base : Optimizer
        The wrapped optimizer (``sgd``, ``adam``, ...).
    gain_lr, scale_lr : float >= 0
        EG learning rates of the per-coordinate gains and of the global scale.
    beta : float in [0, 1)
        EMA coefficient of the average gradient (normalised mode).
    normalize : bool
        Choose between the two rules above.
    init_scale : float > 0
        Initial global scale ``s_0`` (gains start at 1).
    """
    if not (isinstance(base, tuple) and hasattr(base, "init") and hasattr(base, "update")):
        raise TypeError("base must be an Optimizer (with init and update)")
    gain_lr = check_nonnegative(gain_lr, "gain_lr")
    scale_lr = check_nonnegative(scale_lr, "scale_lr")
    beta = check_probability(beta, "beta", open_right=True)
    init_scale = check_positive(init_scale, "init_scale")
    normalize = bool(normalize)

    def init(params: Params) -> EgAdaptiveState:
        pl, _, td = check_params(params)
        ones = unflatten(td, [array_namespace(p).ones_like(p) for p in pl])
        return EgAdaptiveState(0, base.init(params), ones, init_scale, zeros_like_tree(params),
                               zeros_like_tree(params))

    def update(grads: Updates, state: EgAdaptiveState,
               params: Params) -> tuple[Updates, EgAdaptiveState]:
        check_state_type(state, EgAdaptiveState, "eg_adaptive")
        check_count(state.count)
        pl, gl, paths, td = check_leaves(grads, params)
        gains = state_leaves(state.gains, td, pl, paths, "state.gains")
        prev = state_leaves(state.prev_update, td, pl, paths, "state.prev_update")
        gbar = state_leaves(state.grad_avg, td, pl, paths, "state.grad_avg")
        s_prev = state.scale
        if isinstance(s_prev, bool) or not isinstance(s_prev, numbers.Real) or not (
                s_prev > 0 and math.isfinite(s_prev)):
            raise ValueError(f"state.scale must be a finite number > 0, got {s_prev!r}")
        new_gains = []
        if normalize:
            # the cosine is scale-free: divide by the largest entries first, so that huge
            # gradients do not overflow the sums (inf / inf = NaN)
            m_big = max((_max_abs(m) for m in gbar), default=0.0)
            g_big = max((_max_abs(g) for g in gl), default=0.0)
            dot = nm = ng = 0.0
            for g, m, p_, u in zip(gl, gbar, gains, prev):
                xp = array_namespace(g)
                new_gains.append(p_ * xp.exp(gain_lr * xp.sign(-(g * u))))
                if 0 < m_big < math.inf and 0 < g_big < math.inf:
                    ms, gs = m / m_big, g / g_big
                    dot += float(xp.sum(ms * gs))
                    nm += float(xp.sum(ms * ms))
                    ng += float(xp.sum(gs * gs))
            cos = dot / (math.sqrt(nm) * math.sqrt(ng)) if nm > 0 and ng > 0 else 0.0
            scale = _scaled(s_prev, scale_lr * cos)
        else:
            hyper = 0.0
            for g, p_, u in zip(gl, gains, prev):
                xp = array_namespace(g)
                new_gains.append(p_ * xp.exp(-gain_lr * s_prev * (g * u)))
                hyper += float(xp.sum(g * (p_ * u)))
            scale = _scaled(s_prev, -scale_lr * hyper)
        base_up, base_state = base.update(grads, state.base_state, params)
        bl = leaves_like(base_up, td, "base optimizer updates")
        ups = [scale * (p_ * u) for p_, u in zip(new_gains, bl)]
        new_avg = [beta * m + (1.0 - beta) * g for m, g in zip(gbar, gl)]
        return unflatten(td, ups), EgAdaptiveState(
            state.count + 1, base_state, unflatten(td, new_gains), scale, unflatten(td, bl),
            unflatten(td, new_avg))

    return Optimizer(init, update)
