"""Heavy-ball momentum as a discretised damped ODE: learning rate, momentum and friction.

J. Su, "Optimization algorithms from a dynamical perspective (I): from SGD to momentum
acceleration", kexue.fm, 2018, https://kexue.fm/archives/5655: heavy ball
``theta_{n+1} = theta_n - lr grad f(theta_n) + beta (theta_n - theta_{n-1})`` is the leapfrog
(central-difference) discretisation with time step ``h`` of ``theta'' + lam theta' = -grad f``:
``beta = (1 - lam h/2) / (1 + lam h/2)``, ``lr = h^2 / (1 + lam h/2)``, so ``beta ~ 1 - lam sqrt(lr)``.
Keeping the friction ``lam`` when the learning rate changes by a factor ``r`` therefore needs
``beta -> 1 - (1 - beta) sqrt(r)``.
"""
from __future__ import annotations

import math

from probspace._validation import check_nonnegative, check_positive, check_probability

__all__ = ["momentum_to_friction", "friction_to_momentum", "rescale_momentum"]


def momentum_to_friction(lr: float, beta: float) -> tuple[float, float]:
    """The ODE ``theta'' + lam theta' = -grad f`` that heavy ball ``(lr, beta)`` discretises.

    NaN or inf arguments raise ``ValueError``.

    Parameters
    ----------
    lr : float > 0
        Learning rate of :func:`numopt.optim.momentum`.
    beta : float in [0, 1)
        Momentum coefficient.

    Returns
    -------
    friction : float
        ``lam = 2 (1 - beta) / ((1 + beta) h)``.
    time_step : float
        ``h = sqrt(2 lr / (1 + beta))``: one optimizer step advances ODE time by ``h``.
    """
    lr = check_positive(lr, "lr")
    beta = check_probability(beta, "beta", open_right=True)
    h = math.sqrt(2.0 * lr / (1.0 + beta))
    return 2.0 * (1.0 - beta) / ((1.0 + beta) * h), h


def friction_to_momentum(friction: float, time_step: float) -> tuple[float, float]:
    """Inverse of :func:`momentum_to_friction`: ``(lr, beta)`` for friction ``lam`` and step ``h``.

    NaN or inf arguments raise ``ValueError``.

    ``beta = (1 - lam h/2) / (1 + lam h/2)``, ``lr = h^2 / (1 + lam h/2)``; needs
    ``lam h <= 2`` (otherwise ``beta`` would be negative).
    """
    lam = check_nonnegative(friction, "friction")   # a real number (not a string), finite
    h = check_positive(time_step, "time_step")
    if lam * h > 2.0:
        raise ValueError(f"friction * time_step must be <= 2 for beta >= 0, got {lam * h!r}")
    q = lam * h / 2.0
    return h * h / (1.0 + q), (1.0 - q) / (1.0 + q)


def rescale_momentum(beta: float, lr_ratio: float, *, lr: float | None = None) -> float:
    """Momentum that keeps the continuous-time friction when the learning rate is multiplied
    by ``lr_ratio``.

    NaN or inf arguments raise ``ValueError``.

    Parameters
    ----------
    beta : float in [0, 1)
        Current momentum.
    lr_ratio : float > 0
        New learning rate / old learning rate, ``r``.
    lr : float > 0, optional
        The old learning rate.  Without it the small-step rule ``1 - (1 - beta) sqrt(r)`` is
        returned; with it the exact leapfrog map (same ``lam`` from :func:`momentum_to_friction`,
        new ``h`` solving ``r lr = h^2 / (1 + lam h / 2)``).

    Returns
    -------
    float
        The new momentum coefficient.
    """
    beta = check_probability(beta, "beta", open_right=True)
    r = check_positive(lr_ratio, "lr_ratio")
    if lr is None:
        new = 1.0 - (1.0 - beta) * math.sqrt(r)
        if new < 0:
            raise ValueError(f"lr_ratio={r!r} is too large for beta={beta!r}: the rule "
                             "1 - (1 - beta) sqrt(r) would give a negative momentum")
        return new
    lam, _ = momentum_to_friction(lr, beta)
    a = r * check_positive(lr, "lr")
    # h^2 - (a lam / 2) h - a = 0
    h = (a * lam / 2.0 + math.sqrt((a * lam / 2.0) ** 2 + 4.0 * a)) / 2.0
    if lam * h > 2.0:
        raise ValueError(f"lr_ratio={r!r} is too large: the friction cannot be kept with beta >= 0")
    return friction_to_momentum(lam, h)[1]
