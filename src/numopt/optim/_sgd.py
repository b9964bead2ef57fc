"""Plain SGD, heavy-ball momentum and Nesterov momentum."""
from __future__ import annotations

from typing import Any, NamedTuple

from probspace._validation import check_probability

from ._base import Optimizer, as_schedule, check_leaves, check_params, zeros_like_tree
from ._tree import flatten, unflatten

__all__ = ["sgd", "momentum", "nesterov", "SgdState", "MomentumState"]


class SgdState(NamedTuple):
    count: int


class MomentumState(NamedTuple):
    count: int
    trace: Any


def sgd(lr):
    """Stochastic gradient descent: ``update = -lr_t * g``.

    Parameters
    ----------
    lr : float or callable
        Learning rate, or a schedule ``step -> lr`` (``step`` counts updates from 0).

    Returns
    -------
    Optimizer
    """
    sched = as_schedule(lr)

    def init(params):
        check_params(params)
        return SgdState(count=0)

    def update(grads, state, params=None):
        gl, _, td = flatten(grads, "grads")
        if params is not None:
            check_leaves(grads, params)
        a = sched(state.count)
        return unflatten(td, [-a * g for g in gl]), SgdState(count=state.count + 1)

    return Optimizer(init, update)


def _momentum(lr, beta, nesterov):
    sched = as_schedule(lr)
    beta = check_probability(beta, "beta", open_right=True)

    def init(params):
        return MomentumState(count=0, trace=zeros_like_tree(params))

    def update(grads, state, params=None):
        gl, _, td = flatten(grads, "grads")
        if params is not None:
            check_leaves(grads, params)
        tl, _, tdt = flatten(state.trace, "state.trace")
        a = sched(state.count)
        ups, trs = [], []
        for g, m in zip(gl, tl):
            m = beta * m + g          # m_t = beta m_{t-1} + g_t
            trs.append(m)
            ups.append(-a * (g + beta * m) if nesterov else -a * m)
        return unflatten(td, ups), MomentumState(count=state.count + 1, trace=unflatten(td, trs))

    return Optimizer(init, update)


def momentum(lr, beta=0.9):
    """Heavy-ball momentum: ``m_t = beta m_{t-1} + g_t``, ``update = -lr_t m_t``.

    Equivalent to ``theta_{t+1} = theta_t - lr g_t + beta (theta_t - theta_{t-1})``, a leapfrog
    discretisation of ``theta'' + lambda theta' = -grad f`` (see :func:`momentum_to_friction`).

    Parameters
    ----------
    lr : float or callable
        Learning rate or schedule ``step -> lr``.
    beta : float in [0, 1)
        Momentum coefficient.
    """
    return _momentum(lr, beta, False)


def nesterov(lr, beta=0.9):
    """Nesterov momentum (PyTorch/optax form): ``m_t = beta m_{t-1} + g_t``,
    ``update = -lr_t (g_t + beta m_t)``.
    """
    return _momentum(lr, beta, True)
