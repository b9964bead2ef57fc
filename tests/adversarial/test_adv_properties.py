"""Property tests over adversarial inputs (hypothesis, derandomized; see adv_strategies.SETTINGS):
extreme magnitudes, 0-size and single-element shapes, every memory layout, wrong dtypes and
wrong types.  The truths are layout independence, the simplex constraints, agreement of the
Numba rung with the generic array-API reference, and exact closed forms."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.special import logsumexp

import numopt
import probspace
from adv_strategies import (DTYPES, SETTINGS, WRONG_TYPES, extreme_floats, float_arrays,
                            huge_but_cheap, layouts, shapes)
from numopt.losses import softmax_cross_entropy, zlpr_soft
from probspace import as_float_array, use_backend

XP = probspace.array_namespace()   # array_api_compat.numpy


def _projection_or_error(v, **kw):
    try:
        return numopt.project_simplex(v, **kw)
    except ValueError as e:
        msg = str(e)
        assert "v" in msg or "radius" in msg, msg
        return None


@SETTINGS
@given(st.data(), float_arrays(shapes(min_dims=1, max_dims=2, min_side=1), allow_nonfinite=True))
def test_projection_is_on_the_simplex_in_every_layout(data, v):
    base = _projection_or_error(np.ascontiguousarray(v))
    w = data.draw(layouts(v))
    got = _projection_or_error(w)
    if base is None:
        assert got is None
        # errors are for NaN, +inf or an all -inf slice only
        assert np.isnan(v).any() or np.isposinf(v).any() or np.all(np.isneginf(v), -1).any()
        return
    np.testing.assert_array_equal(got, base)
    assert np.all(base >= 0)
    assert np.all(np.abs(base.sum(-1) - 1) <= 8 * v.shape[-1] * np.finfo(float).eps)


@SETTINGS
@given(float_arrays(shapes(min_dims=2, max_dims=2, min_side=1, max_side=5), dtype=np.float32))
def test_projection_float32_stays_float32_and_rungs_agree(v):
    p = numopt.project_simplex(v, axis=0)
    assert p.dtype == np.float32
    with use_backend("generic"):
        q = numopt.project_simplex(v, axis=0)
    n = v.shape[0]
    np.testing.assert_allclose(p, q, rtol=0, atol=8 * n * np.finfo(np.float32).eps)


def test_projection_of_a_huge_but_cheap_broadcast_view():
    v = huge_but_cheap((1, 10**6))          # stride 0, read-only: no memory, 1e6 coordinates
    p = numopt.project_simplex(v)
    assert p.shape == v.shape and np.all(p == 1e-6)


@SETTINGS
@given(float_arrays(shapes(min_dims=1, max_dims=2, min_side=1)),
       st.sampled_from([5e-324, 1e-300, 1e-8, 1.0, 1e8, 1e300]))
def test_entropic_argmin_is_on_the_simplex_at_any_temperature(c, tau):
    p = numopt.entropic_argmin(c, tau)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=8 * c.shape[-1] * 2.3e-16)
    # all mass sits on the minimal costs when tau is below every gap / the spacing
    if tau == 5e-324:
        assert np.all(p[c > c.min(-1, keepdims=True)] == 0) or np.any(
            np.abs(c) > 1e-10)   # gaps of 1e-300 and below still resolve at tau = 5e-324


@SETTINGS
@given(float_arrays(shapes(min_dims=2, max_dims=2, min_side=1, max_side=6)))
def test_softmax_cross_entropy_is_finite_and_exact_at_extreme_logits(z):
    t = np.zeros(z.shape[0], dtype=np.int64)
    per = softmax_cross_entropy(z, t, reduction="none")
    want = logsumexp(z, axis=-1) - z[:, 0]        # scipy: an independent log-domain truth
    assume(np.all(np.isfinite(want)))
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(z), initial=1))


@SETTINGS
@given(float_arrays(shapes(min_dims=2, max_dims=2, min_side=1, max_side=5)),
       st.data())
def test_zlpr_soft_kernel_matches_the_reference_at_any_magnitude(z, data):
    t = data.draw(float_arrays(z.shape).map(lambda a: np.clip(np.abs(np.nan_to_num(a)), 0, 1)))
    got = zlpr_soft(z, t, reduction="none")
    with use_backend("generic"):
        want = zlpr_soft(z, t, reduction="none")
    assert np.all(np.isfinite(got)) == np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def _stable_id(value):
    # repr of a plain object() holds its address: ids must agree across xdist workers
    return "object()" if type(value) is object else repr(value)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_as_float_array_dtypes(dtype):
    a = np.array([1, 0, 1]).astype(dtype)
    kind = np.dtype(dtype).kind
    if kind in "biu":
        assert as_float_array(a, "x", XP).dtype == np.float64
    elif kind == "f" and dtype != np.float16:
        assert as_float_array(a, "x", XP).dtype == dtype
    else:    # float16, complex, object: refused, naming the argument
        with pytest.raises(TypeError, match=r"\bx\b"):
            as_float_array(a, "x", XP)


@pytest.mark.parametrize("bad", WRONG_TYPES, ids=_stable_id)
@pytest.mark.parametrize("fn", [
    lambda x: numopt.project_simplex(x), lambda x: numopt.entropic_argmin(x, 1.0),
    lambda x: numopt.scaling.b_simple(x), lambda x: softmax_cross_entropy(x, np.array([0])),
    lambda x: numopt.optimality_gap(x, np.ones(2)),
], ids=["project_simplex", "entropic_argmin", "b_simple", "softmax_cross_entropy",
        "optimality_gap"])
def test_wrong_types_raise_errors_naming_the_argument(fn, bad):
    with pytest.raises((TypeError, ValueError),
                       match=r"\b(v|c|per_example_grads|logits|p|grad)\b"):
        fn(bad)


@SETTINGS
@given(extreme_floats(allow_nonfinite=True))
def test_scalar_hyperparameters_are_validated(x):
    """Every optimizer factory refuses a NaN, infinite or negative learning rate by name."""
    for make in (numopt.optim.sgd, numopt.optim.adam, numopt.optim.lion, numopt.optim.tiger):
        if math.isfinite(x) and x >= 0:
            make(x)
        else:
            with pytest.raises((TypeError, ValueError), match=r"\blr\b"):
                make(x)
