"""Score-function (REINFORCE) gradient of an expected reward under a softmax policy."""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from probspace import array_namespace, as_float_array
from probspace.random import Stream
from probspace.typing import Array, Namespace, Seed
from probspace._validation import check_int
from probspace.random import as_stream

from ._zeroth_order import GradientEstimate

__all__ = ["policy_gradient", "categorical_sample"]


def _softmax(z: Array, xp: Namespace) -> Array:
    z = z - xp.max(z, axis=-1, keepdims=True)
    e = xp.exp(z)
    return e / xp.sum(e, axis=-1, keepdims=True)


def categorical_sample(probs: Array, n_samples: int, stream: Stream) -> Array:
    """Inverse-CDF draws from independent categoricals along the last axis of ``probs``.

    Parameters
    ----------
    probs : array (..., K)
        Probabilities, ``K >= 1``: finite, non-negative, each row summing to 1 within
        ``sqrt(eps)`` of its dtype (relative).  Anything else -- a negative or NaN entry, an
        all-zero row, a row that is not normalised -- raises ``ValueError`` naming ``probs``
        (inverse-CDF sampling of such rows would silently return biased indices).
    n_samples : int >= 0
    stream : probspace.random.Stream
        Source of the uniforms (``stream.uniform``).

    Returns
    -------
    Integer indices of shape ``(n_samples, *probs.shape[:-1])`` (namespace of ``probs``).
    """
    if not isinstance(stream, Stream):
        raise TypeError(f"stream must be a probspace.random.Stream, got {type(stream).__name__}")
    xp = array_namespace(probs, names=("probs",))
    probs = as_float_array(probs, "probs", xp, ndim_min=1)
    n_samples = check_int(n_samples, "n_samples", minimum=0)
    if probs.shape[-1] == 0:
        raise ValueError("probs has no categories (last axis of length 0)")
    if probs.size and bool(xp.any(probs < 0)):
        raise ValueError("probs must be non-negative")
    if probs.size:
        sums = xp.sum(probs, axis=-1)
        tol = math.sqrt(float(xp.finfo(probs.dtype).eps))
        if bool(xp.any(sums == 0)):
            raise ValueError("probs has a row that is entirely zero")
        if bool(xp.any(xp.abs(sums - 1.0) > tol)):
            worst = float(xp.max(xp.abs(sums - 1.0)))
            raise ValueError(f"probs rows must sum to 1 (within {tol:.1e}); a row is off by "
                             f"{worst:.3g}")
    return _draw(xp, probs, n_samples, stream)


def _draw(xp: Namespace, probs: Array, n_samples: int, stream: Stream) -> Array:
    """Inverse-CDF draws from checked probabilities (see ``categorical_sample``)."""
    batch = tuple(probs.shape[:-1])
    k = probs.shape[-1]
    u = stream.uniform((n_samples, *batch, 1), xp=xp, dtype=probs.dtype)
    cdf = xp.cumulative_sum(probs, axis=-1)
    # u scaled by the computed total: the last category gets exactly its own mass even when
    # the rounded total is not 1 (the clip only catches u * total rounding up to total).
    idx = xp.sum(xp.astype(cdf <= u * cdf[..., -1:], xp.int64), axis=-1)
    return xp.minimum(idx, k - 1)


def policy_gradient(logits: Array, sample_fn: Callable[[Array, int, Stream], Array] | None,
                    reward_fn: Callable[[Array], Array], /, *, n_samples: int, seed: Seed,
                    baseline: str | float = "mean") -> GradientEstimate:
    """Policy-gradient estimate of ``grad_logits E_{y ~ softmax(logits)} r(y)``.

    NaN or ``+inf`` logits raise ``ValueError``; ``-inf`` masks a class; non-finite rewards
    propagate into the estimate.

    The policy is a product of independent categoricals ``p = softmax(logits)`` along the last
    axis (``logits`` of shape ``(..., K)``), so ``grad log p(y) = onehot(y) - p`` per factor.
    The estimate is the mean of ``(r_i - b_i) (onehot(y_i) - p)`` over ``n_samples`` draws; it
    is the ascent direction of the expected reward (exact value:
    ``sum_y r(y) grad p(y)``; J. Su, "Policy gradient and zeroth-order optimization: different
    paths to the same destination", kexue.fm, 2020, https://kexue.fm/archives/7737).

    Parameters
    ----------
    logits : array (..., K)
        Policy logits (any array-API namespace, real floating); ``-inf`` masks a class.
    sample_fn : callable or None
        ``sample_fn(probs, n_samples, stream) -> int array (n_samples, *logits.shape[:-1])``
        drawing from the policy; ``None`` uses inverse-CDF sampling
        (:func:`categorical_sample`).  A custom sampler must draw from ``softmax(logits)``
        for the estimate to be unbiased.
    reward_fn : callable
        ``reward_fn(samples) -> (n_samples,)`` rewards.
    n_samples : int >= 2
    seed : int, None or probspace.random.Stream
    baseline : {"none", "mean", "optimal"} or float
        ``"mean"``: ``b = E[r]``; ``"optimal"``: the variance-optimal
        ``b = E[r |grad log p|^2] / E[|grad log p|^2]``.  Both are estimated leave-one-out
        (``b_i`` from the other ``n - 1`` samples), which keeps the estimate exactly unbiased.
        A float is used as a constant baseline.

    Returns
    -------
    GradientEstimate
        ``grad`` (shape of ``logits``), ``stderr``, ``n_samples``, ``nfev`` (reward calls = 1),
        ``baseline`` (mean of the ``b_i`` used), ``mean_reward``.
    """
    xp = array_namespace(logits, names=("logits",))
    logits = as_float_array(logits, "logits", xp, ndim_min=1, allow_inf=True)
    # -inf masks a class (probability 0); +inf or an all -inf row has no policy
    if bool(xp.any(logits == float("inf"))):
        raise ValueError("logits must not contain +inf")
    if bool(xp.any(xp.all(logits == -float("inf"), axis=-1))):
        raise ValueError("logits has a row where every entry is -inf")
    n = check_int(n_samples, "n_samples", minimum=2)
    if not callable(reward_fn):
        raise TypeError("reward_fn must be callable")
    if sample_fn is not None and not callable(sample_fn):
        raise TypeError("sample_fn must be callable or None")
    if isinstance(baseline, str):
        if baseline not in ("none", "mean", "optimal"):
            raise ValueError(f"baseline must be 'none', 'mean', 'optimal' or a float, got {baseline!r}")
    elif isinstance(baseline, bool) or not isinstance(baseline, numbers.Real) or not math.isfinite(baseline):
        raise TypeError(f"baseline must be 'none', 'mean', 'optimal' or a finite float, got {baseline!r}")
    stream = as_stream(seed)
    probs = _softmax(logits, xp)
    k = logits.shape[-1]
    batch = tuple(logits.shape[:-1])
    # our own softmax rows are valid by construction: skip categorical_sample's checks
    ys = _draw(xp, probs, n, stream) if sample_fn is None else sample_fn(probs, n, stream)
    ys = xp.asarray(ys)
    if tuple(ys.shape) != (n, *batch):
        raise ValueError(f"sample_fn must return shape {(n, *batch)}, got {tuple(ys.shape)}")
    r = xp.asarray(reward_fn(ys))
    if tuple(r.shape) != (n,):
        raise ValueError(f"reward_fn must return shape ({n},), got {tuple(r.shape)}")
    r = xp.astype(r, logits.dtype)
    onehot = xp.astype(ys[..., None] == xp.arange(k, dtype=ys.dtype), logits.dtype)
    score = onehot - probs                                  # (n, ..., K)
    axes = tuple(range(1, score.ndim))
    if baseline == "none":
        b = xp.zeros_like(r)
    elif baseline == "mean":
        b = (xp.sum(r) - r) / (n - 1)
    elif baseline == "optimal":
        w = xp.sum(score * score, axis=axes)
        b = (xp.sum(r * w) - r * w) / (xp.sum(w) - w)
    else:
        b = xp.full_like(r, float(baseline))
    coef = xp.reshape(r - b, (n,) + (1,) * len(axes))
    per = coef * score
    grad = xp.mean(per, axis=0)
    stderr = xp.std(per, axis=0, correction=1) / math.sqrt(n)
    return GradientEstimate(grad=grad, stderr=stderr, n_samples=n, nfev=1,
                            baseline=float(xp.mean(b)), mean_reward=float(xp.mean(r)))
