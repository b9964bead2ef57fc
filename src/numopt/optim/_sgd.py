"""Plain SGD, heavy-ball momentum and Nesterov momentum."""
from __future__ import annotations

from typing import NamedTuple

from probspace._validation import check_probability

from ._base import (Optimizer, as_schedule, check_count, check_leaves, check_params,
                    check_state_type, grads_only, resolve_lr, state_leaves, zeros_like_tree)
from ._tree import unflatten
from ._types import Params, ScalarOrSchedule, Updates

__all__ = ["sgd", "momentum", "nesterov", "SgdState", "MomentumState"]


class SgdState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax


class MomentumState(NamedTuple):
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in optax
    trace: Updates


def sgd(lr: ScalarOrSchedule | None = None, *,
        learning_rate: ScalarOrSchedule | None = None) -> Optimizer:
    """Stochastic gradient descent: ``update = -lr_t * g``.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    Parameters
    ----------
    lr : float or callable
        Learning rate, or a schedule ``step -> lr`` (``step`` counts updates from 0).  Also
        accepted as ``learning_rate=`` (optax's name), not both.

    Returns
    -------
    Optimizer
    """
    lr, lr_name = resolve_lr(lr, learning_rate, "sgd")
    sched = as_schedule(lr, lr_name)

    def init(params: Params) -> SgdState:
        check_params(params)
        return SgdState(count=0)

    def update(grads: Updates, state: SgdState,
               params: Params | None = None) -> tuple[Updates, SgdState]:
        check_state_type(state, SgdState, "sgd")
        check_count(state.count)
        if params is not None:
            _, gl, _, td = check_leaves(grads, params)
        else:
            gl, _, td = grads_only(grads)
        a = sched(state.count)
        return unflatten(td, [-a * g for g in gl]), SgdState(count=state.count + 1)

    return Optimizer(init, update)


def _momentum(lr: ScalarOrSchedule | None, learning_rate: ScalarOrSchedule | None, beta: float,
              nesterov: bool) -> Optimizer:
    fn = "nesterov" if nesterov else "momentum"
    lr, lr_name = resolve_lr(lr, learning_rate, fn)
    sched = as_schedule(lr, lr_name)
    beta = check_probability(beta, "beta", open_right=True)

    def init(params: Params) -> MomentumState:
        return MomentumState(count=0, trace=zeros_like_tree(params))

    def update(grads: Updates, state: MomentumState,
               params: Params | None = None) -> tuple[Updates, MomentumState]:
        check_state_type(state, MomentumState, fn)
        check_count(state.count)
        if params is not None:
            pl, gl, paths, td = check_leaves(grads, params)
        else:
            gl, paths, td = grads_only(grads)
            pl = gl
        tl = state_leaves(state.trace, td, pl, paths, "state.trace")
        a = sched(state.count)
        ups, trs = [], []
        for g, m in zip(gl, tl):
            m = beta * m + g          # m_t = beta m_{t-1} + g_t
            trs.append(m)
            ups.append(-a * (g + beta * m) if nesterov else -a * m)
        return unflatten(td, ups), MomentumState(count=state.count + 1, trace=unflatten(td, trs))

    return Optimizer(init, update)


def momentum(lr: ScalarOrSchedule | None = None, beta: float = 0.9, *,
             learning_rate: ScalarOrSchedule | None = None) -> Optimizer:
    """Heavy-ball momentum: ``m_t = beta m_{t-1} + g_t``, ``update = -lr_t m_t``.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.

    Equivalent to ``theta_{t+1} = theta_t - lr g_t + beta (theta_t - theta_{t-1})``, a leapfrog
    discretisation of ``theta'' + lambda theta' = -grad f`` (see :func:`momentum_to_friction`).

    Parameters
    ----------
    lr : float or callable
        Learning rate or schedule ``step -> lr``; also ``learning_rate=`` (not both).
    beta : float in [0, 1)
        Momentum coefficient.

    ``update`` checks the state's trace against ``params`` (or ``grads`` when no params are
    given): structure, shapes and dtypes, ``ValueError`` naming the leaf.
    """
    return _momentum(lr, learning_rate, beta, False)


def nesterov(lr: ScalarOrSchedule | None = None, beta: float = 0.9, *,
             learning_rate: ScalarOrSchedule | None = None) -> Optimizer:
    """Nesterov momentum (PyTorch/optax form): ``m_t = beta m_{t-1} + g_t``,
    ``update = -lr_t (g_t + beta m_t)``.

    Hyper-parameters must be finite (NaN or inf raise ``ValueError``); NaN or inf in the gradients
    propagate into the updates, as in optax.
    """
    return _momentum(lr, learning_rate, beta, True)
