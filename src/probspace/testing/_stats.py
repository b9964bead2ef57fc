"""Statistical and numerical oracles for tests."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["chisquare_gof", "ChiSquareResult", "finite_difference_grad"]


@dataclass(frozen=True)
class ChiSquareResult:
    """Outcome of :func:`chisquare_gof` (statistic, degrees of freedom, p-value, draws, pooled bins)."""

    statistic: float
    df: int
    pvalue: float
    n: int
    merged_bins: int

    def __bool__(self) -> bool:  # truthy = "not rejected" is too easy to misuse; be explicit
        raise TypeError("use .pvalue, or chisquare_gof(..., alpha=...) which raises on rejection")


def chisquare_gof(observed: Any, expected_probs: Any, *, alpha: float | None = None,
                  min_expected: float = 5.0) -> ChiSquareResult:
    """Pearson chi-square goodness-of-fit of counts against exact category probabilities.

    Categories with expected count below ``min_expected`` are pooled into one bin (the
    usual validity condition of the chi-square approximation).

    Parameters
    ----------
    observed : array of int
        Counts per category.
    expected_probs : array of float
        Exact probabilities per category; must sum to 1 (within 1e-9).
    alpha : float, optional
        If given, raise ``AssertionError`` when the p-value is below ``alpha``.

    Returns
    -------
    ChiSquareResult

    Raises
    ------
    TypeError
        For complex or non-numeric input.
    ValueError
        When the lengths differ, the counts are not finite non-negative integers, or the
        probabilities are not finite and non-negative summing to 1 (NaN and inf raise).
    AssertionError
        When a category of probability zero was observed, or the test rejects at ``alpha``.

    Examples
    --------
    >>> from probspace.testing import chisquare_gof
    >>> res = chisquare_gof([260, 240, 500], [0.25, 0.25, 0.5])
    >>> res.statistic, res.df
    (0.8, 2)
    >>> round(res.pvalue, 4)
    0.6703
    """
    obs = _real_vector(observed, "observed")
    p = _real_vector(expected_probs, "expected_probs")
    if obs.shape != p.shape:
        raise ValueError(f"observed and expected_probs differ in length: {obs.shape} vs {p.shape}")
    if not np.all(np.isfinite(obs)) or np.any(obs < 0) or np.any(obs != np.round(obs)):
        raise ValueError("observed must hold finite non-negative integer counts")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"expected_probs must be non-negative and sum to 1, sum={p.sum()!r}")
    n = obs.sum()
    if np.any(obs[p == 0] > 0):
        raise AssertionError("observed a category of probability zero")
    exp = n * p
    small = exp < min_expected
    if small.sum() >= 1 and (~small).sum() >= 1:
        obs = np.concatenate([obs[~small], [obs[small].sum()]])
        exp = np.concatenate([exp[~small], [exp[small].sum()]])
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    stat = float(((obs - exp) ** 2 / exp).sum())
    df = int(len(exp) - 1)
    pval = float(stats.chi2.sf(stat, df)) if df > 0 else 1.0
    res = ChiSquareResult(stat, df, pval, int(n), int(small.sum()))
    if alpha is not None and pval < alpha:
        raise AssertionError(f"chi-square test rejected: stat={stat:.2f}, df={df}, p={pval:.3g} < {alpha}")
    return res


def _real_vector(x: Any, name: str) -> np.ndarray:
    """``x`` flattened to float64; complex, strings and other non-numbers raise ``TypeError``
    naming ``name`` (``np.asarray(x, float)`` would drop an imaginary part)."""
    a = np.asarray(x) if not isinstance(x, (str, bytes, dict, set)) else np.asarray(None)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got {type(x).__name__} of dtype "
                        f"{a.dtype}")
    return a.astype(np.float64).ravel()


def finite_difference_grad(f: Callable[[Any], float], x: Any, *, h: float = 1e-6) -> Any:
    """Central-difference gradient of scalar ``f`` at NumPy array ``x`` (float64).

    ``h`` must be positive and finite (``ValueError`` otherwise); NaN or inf values of ``f``
    propagate into the gradient."""
    from probspace._validation import check_positive
    h = check_positive(h, "h")
    x = np.asarray(x, dtype=np.float64)
    g = np.empty_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x.copy())
        flat[i] = old - h
        fm = f(x.copy())
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g
