"""The Numba kernels of numopt.losses (the NumPy rung) against the generic array-API rung, the
reference: every loss configuration, float32 and float64, every reduction, with and without the
gradient, on random, extreme (+-1e4), tied, all-equal, one-class and many-axis inputs; the
thread pool against one thread; the boundary (bad values are caught before or by the fused pass
and raise the generic rung's errors); gradients against finite differences.

Tolerances.  float64: kernels and the generic rung evaluate the same formulas with the same
max-shifts; they differ only by the rounding of reordered sums and of the vectorized
exp/log1p (1-2 ulp), hence ``rtol = 1e-12`` plus an absolute floor of ``1e-13 max|ref|`` for
entries that cancel to ~0 (e.g. ``1 - p_y`` with ``p_y ~ 1``).  float32: the kernels exponentiate
in float32 and sum in float64.  Each elementwise term carries a relative error of at most
``(|z - max z| + 4) 2^-24`` (rounding of ``z - max z`` times its size, plus ~3 ulp for exp/log1p);
terms that matter have ``|z - max z| < 104`` (beyond, e^(z - max z) < 2^-150 vanishes next to the
max term), but the random logits here are N(0, 3^2) with ``|z - max z| < 30``, so terms are
within ``2e-6`` relative and the float64 sums add no more.  Values and gradients of the float32
kernels are therefore compared with the float64 reference at ``rtol = 2e-5`` and an absolute
floor of ``2e-6 max|ref|`` (a 10x margin).  The float32 generic rung is not compared with that
bound: it also sums in float32 and, e.g. for ZLPR with +-1e4 logits, forms differences of
size 1e4 in float32 that the kernels avoid.
"""
from __future__ import annotations

import numpy as np
import pytest

import probspace
from numopt.losses import (_threads, emo, exact, hinge, sigmoid_cross_entropy,
                           smoothed_accuracy, smoothed_f1, softmax_cross_entropy, zlpr,
                           zlpr_soft)
from probspace.testing import finite_difference_grad, xp_assert_close

REDUCTIONS = ("mean", "sum", "none")
RNG = np.random.default_rng(20240531)


# ---- inputs ------------------------------------------------------------------------------------
def _logit_sets(shape):
    """Named logits of ``shape`` (float64 values exactly representable in float32)."""
    z = (RNG.normal(size=shape) * 3).astype(np.float32).astype(np.float64)
    ext = z.copy()
    flat = ext.reshape(-1, shape[-1])
    flat[::3, 0] = 1e4
    flat[1::3, -1] = -1e4
    flat[2::4, :] = -1e4
    flat[2::4, 1 % shape[-1]] = 1e4
    ties = np.round(z)                   # many exact ties, including ties for the max
    ties.reshape(-1, shape[-1])[::2] = 2.0   # all-equal rows
    return {"random": z, "extreme": ext, "ties": ties}


def _indices(shape, C):
    return RNG.integers(0, C, size=shape)


def _probs(shape):
    """Probability rows in multiples of 1/1024: exact in float32, summing to exactly 1."""
    p = RNG.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    return RNG.multinomial(1024, p.reshape(-1, shape[-1])).reshape(shape) / 1024.0


def _multilabel(shape, k=None):
    if k is None:
        return (RNG.random(shape) < 0.35).astype(np.int64)
    t = np.zeros(shape, np.int64)
    flat = t.reshape(-1, shape[-1])
    for r in range(flat.shape[0]):
        flat[r, RNG.choice(shape[-1], k, replace=False)] = 1
    return t


# Each case: (id, function, logits shape, targets maker(shape) -> targets, keyword arguments,
# binary/elementwise flag).  Targets are made once per case so both rungs see the same data.
def _cases():
    sh = (9, 7)
    out = []

    def add(name, fn, shape, tmake, kw=None, sets=("random", "extreme", "ties")):
        out.append((name, fn, shape, tmake, kw or {}, sets))
    add("sigmoid_ce/probs", sigmoid_cross_entropy, sh, lambda s: RNG.random(s))
    add("sigmoid_ce/labels-int", sigmoid_cross_entropy, (40,), lambda s: RNG.integers(0, 2, s))
    add("sigmoid_ce/labels-bool", sigmoid_cross_entropy, (3, 4, 5), lambda s: RNG.random(s) < .5)
    add("softmax_ce/index", softmax_cross_entropy, sh, lambda s: _indices(s[:-1], s[-1]))
    add("softmax_ce/index-3d", softmax_cross_entropy, (2, 5, 6), lambda s: _indices(s[:-1], s[-1]))
    add("softmax_ce/index-smooth", softmax_cross_entropy, sh,
        lambda s: _indices(s[:-1], s[-1]), {"label_smoothing": 0.15})
    add("softmax_ce/probs", softmax_cross_entropy, sh, _probs)
    add("softmax_ce/probs-smooth", softmax_cross_entropy, sh, _probs, {"label_smoothing": 0.3})
    add("softmax_ce/one-class", softmax_cross_entropy, (6, 1), lambda s: np.zeros(s[:-1], int))
    add("hinge/binary", hinge, (30,), lambda s: 2 * RNG.integers(0, 2, s) - 1)
    add("hinge/binary-float-margin", hinge, sh,
        lambda s: (2 * RNG.integers(0, 2, s) - 1).astype(float), {"margin": 0.5})
    add("hinge/crammer-singer", hinge, sh, lambda s: _indices(s[:-1], s[-1]))
    add("hinge/crammer-singer-m0", hinge, (2, 4, 5), lambda s: _indices(s[:-1], s[-1]),
        {"margin": 0.0})
    add("hinge/weston-watkins", hinge, sh, lambda s: _indices(s[:-1], s[-1]),
        {"multiclass": "weston_watkins"})
    add("hinge/one-class", hinge, (5, 1), lambda s: np.zeros(s[:-1], int))
    add("hinge/ww-one-class", hinge, (5, 1), lambda s: np.zeros(s[:-1], int),
        {"multiclass": "weston_watkins"})
    add("smoothed_accuracy/binary", smoothed_accuracy, (33,), lambda s: RNG.random(s),
        {"temperature": 0.7})
    add("smoothed_accuracy/index", smoothed_accuracy, sh, lambda s: _indices(s[:-1], s[-1]),
        {"temperature": 0.5})
    add("smoothed_accuracy/probs", smoothed_accuracy, sh, _probs, {"temperature": 2.0})
    add("smoothed_f1/binary", smoothed_f1, (35,), lambda s: RNG.integers(0, 2, s),
        {"temperature": 0.8})
    add("smoothed_f1/index", smoothed_f1, (70, 5), lambda s: _indices(s[:-1], s[-1]))
    add("smoothed_f1/probs", smoothed_f1, (2, 40, 4), _probs, {"temperature": 1.5})
    add("zlpr/hard", zlpr, sh, _multilabel)
    add("zlpr/hard-bool", zlpr, (2, 3, 8), lambda s: _multilabel(s).astype(bool))
    add("zlpr/threshold", zlpr, sh, _multilabel, {"threshold_index": 2})
    add("zlpr/threshold-last", zlpr, sh, _multilabel, {"threshold_index": -1})
    add("zlpr/top-k", zlpr, sh, lambda s: _multilabel(s, 3), {"k": 3})
    add("zlpr/top-1", zlpr, (6, 5), lambda s: _multilabel(s, 1), {"k": 1})
    # Newton's identities lose precision on spread-out logits: random inputs only
    add("zlpr/top-k-newton", zlpr, sh, lambda s: _multilabel(s, 2),
        {"k": 2, "topk_method": "newton"}, sets=("random",))
    add("zlpr_soft", zlpr_soft, sh, lambda s: RNG.random(s))
    add("zlpr_soft/hard-labels", zlpr_soft, sh, lambda s: _multilabel(s).astype(float))
    add("zlpr_soft/eps", zlpr_soft, sh,
        lambda s: np.where(RNG.random(s) < 0.3, 1e-9, RNG.random(s)), {"eps": 0.05})
    cost = np.abs(RNG.normal(size=(7, 7)))
    emb = RNG.normal(size=(7, 3))
    add("emo/zero-one", emo, sh, lambda s: _indices(s[:-1], s[-1]))
    add("emo/zero-one-probs", emo, sh, _probs)
    add("emo/cost-index", emo, sh, lambda s: _indices(s[:-1], s[-1]), {"cost": cost})
    add("emo/cost-probs", emo, sh, _probs, {"cost": cost})
    add("emo/emb-index", emo, sh, lambda s: _indices(s[:-1], s[-1]), {"embeddings": emb})
    add("emo/emb-index-per-sample", emo, (4, 7), lambda s: _indices(s[:-1], s[-1]),
        {"embeddings": emb})          # C > n: cost rows from a matrix product, not a C x C table
    add("emo/emb-probs", emo, sh, _probs, {"embeddings": emb})
    add("emo/mix1", emo, sh, lambda s: _indices(s[:-1], s[-1]), {"embeddings": emb, "mix": 1})
    add("emo/mix1-nocap", emo, sh, lambda s: _indices(s[:-1], s[-1]),
        {"cost": cost, "mix": 1, "mix_cap": None})
    add("emo/mix2", emo, sh, _probs, {"embeddings": emb, "mix": 2})
    add("exact", exact, sh, lambda s: _indices(s[:-1], s[-1]), {"n_points": 16})
    return out


CASES = _cases()
IDS = [c[0] for c in CASES]


def _call(fn, z, t, kw, reduction, return_grad, generic=False):
    if generic:
        with probspace.use_backend("generic"):
            return fn(z, t, reduction=reduction, return_grad=return_grad, **kw)
    return fn(z, t, reduction=reduction, return_grad=return_grad, **kw)


def _close(a, b, rtol, floor, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, what
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=floor * scale + 1e-300, err_msg=what)


def _kw_dtype(kw, dtype):
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_matches_generic(case):
    name, fn, shape, tmake, kw, sets = case
    t = tmake(shape)
    for set_name, z64 in _logit_sets(shape).items():
        if set_name not in sets:
            continue
        if name.startswith("smoothed_f1") and set_name == "extreme":
            continue     # p underflows to exact 0/1 there: both rungs agree, but B may be 0
        for red in REDUCTIONS:
            ref = _call(fn, z64, t, kw, red, True, generic=True)
            for dtype in (np.float64, np.float32):
                z = z64.astype(dtype)
                kwd = _kw_dtype(kw, dtype)
                fast = _call(fn, z, t, kwd, red, True)
                what = f"{name} {set_name} {np.dtype(dtype).name} {red}"
                for a in fast:
                    assert a.dtype == dtype, what
                if dtype == np.float64 and set_name == "extreme" and "top-k" in name:
                    # the log-domain recursion carries values of size 1e4 whose rounding
                    # (1e4 * 2^-53 ~ 1e-12 each, a few in a chain) becomes a relative error
                    # of the inclusion probabilities after exponentiation -- in both rungs
                    rtol, floor = 1e-10, 1e-12
                elif dtype == np.float64:
                    rtol, floor = 1e-12, 1e-13
                elif set_name == "extreme" and "threshold" in name:
                    # the scores s = z - z_thr are formed in float32: with |z_thr| = 1e4 they
                    # are rounded to ulp(1e4) ~ 1e-3, which every term e^{+-s} inherits
                    rtol, floor = 4e-3, 4e-4
                else:
                    rtol, floor = 2e-5, 2e-6
                for a, b in zip(fast, ref):
                    _close(a, b, rtol, floor, what)
                # return_grad=False gives the same value (and no gradient); its loops may be
                # vectorized differently, so sums can differ in the last bits
                v = _call(fn, z, t, kwd, red, False)
                assert not isinstance(v, tuple) and v.dtype == dtype
                _close(v, fast[0], 8 * np.finfo(dtype).eps, 8 * np.finfo(dtype).eps, what)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_gradient_finite_differences(case):
    name, fn, shape, tmake, kw, sets = case
    small = tuple(min(s, 4) for s in shape[:-1]) + (shape[-1],) if len(shape) > 1 else (6,)
    if name.startswith("smoothed_f1/index"):
        small = (12, shape[-1])
    t = tmake(small)
    z = RNG.normal(size=small) * 1.5
    if name.startswith("hinge"):
        z = np.round(z * 4) / 4 + 0.1 * RNG.random(small)    # away from the kinks
    for red in ("sum", "mean"):
        g = fn(z, t, reduction=red, return_grad=True, **kw)[1]
        if "mix" in kw:
            continue       # stop-gradient ratios: checked row by row in the EMO tests
        fd = finite_difference_grad(lambda zz: float(fn(zz, t, reduction=red, **kw)), z)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8 if "newton" not in name else 1e-7,
                                   err_msg=f"{name} {red}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_thread_pool_is_bit_identical(case, monkeypatch):
    name, fn, shape, tmake, kw, sets = case
    big = (3 * shape[0] + 5,) + tuple(shape[1:]) if len(shape) > 1 else (5000,)
    t = tmake(big)
    z = RNG.normal(size=big) * 3
    serial = [fn(z, t, reduction=r, return_grad=True, **kw) for r in REDUCTIONS]
    calls = []
    monkeypatch.setattr(_threads, "threads_for", lambda gate, work: calls.append(1) or 3)
    for r, ref in zip(REDUCTIONS, serial):
        for a, b in zip(fn(z, t, reduction=r, return_grad=True, **kw), ref):
            np.testing.assert_array_equal(a, b)
    assert calls        # the pool was asked (chunks of rows, or of element blocks)


def test_elementwise_blocks_and_pool_on_large_input(monkeypatch):
    # More than one BLOCK of elements (partial sums per block), and the pool with 2 threads.
    z = RNG.normal(size=(3, 5001)) * 4
    t = RNG.random((3, 5001))
    ref = _call(sigmoid_cross_entropy, z, t, {}, "mean", True, generic=True)
    monkeypatch.setattr(_threads, "threads_for", lambda gate, work: 2)
    for fn, tt in ((sigmoid_cross_entropy, t), (hinge, np.where(t > .5, 1, -1)),
                   (smoothed_f1, (t > .5).reshape(-1))):
        zz = z if fn is not smoothed_f1 else z.reshape(-1)
        got = fn(zz, tt, return_grad=True)
        exp_ = _call(fn, zz, tt, {}, "mean", True, generic=True)
        for a, b in zip(got, exp_):
            _close(a, b, 1e-12, 1e-13, fn.__name__)
    _close(sigmoid_cross_entropy(z, t, return_grad=True)[1], ref[1], 1e-12, 1e-13, "sigmoid")


# ---- the boundary -----------------------------------------------------------------------------
def _bad_logits(z, v):
    z = z.copy()
    z.reshape(-1)[-1] = v
    return z


BOUNDARY = [c for c in CASES if c[0] in (
    "sigmoid_ce/probs", "softmax_ce/index", "softmax_ce/probs", "hinge/binary",
    "hinge/crammer-singer", "hinge/weston-watkins", "smoothed_accuracy/binary",
    "smoothed_accuracy/index", "smoothed_f1/binary", "smoothed_f1/index", "zlpr/hard",
    "zlpr/top-k", "zlpr/top-k-newton", "zlpr_soft", "emo/cost-index", "emo/emb-probs")]


@pytest.mark.parametrize("case", BOUNDARY, ids=[c[0] for c in BOUNDARY])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_logits_raise(case, bad, dtype):
    name, fn, shape, tmake, kw, sets = case
    z = _bad_logits(RNG.normal(size=shape), bad).astype(dtype)
    with pytest.raises(ValueError, match="logits contains NaN or infinite"):
        fn(z, tmake(shape), **_kw_dtype(kw, dtype))
    with pytest.raises(ValueError, match="logits contains NaN or infinite"):
        fn(z, tmake(shape), return_grad=True, **_kw_dtype(kw, dtype))


@pytest.mark.parametrize("fn,shape,kw", [
    (sigmoid_cross_entropy, (6,), {}), (softmax_cross_entropy, (3, 4), {}),
    (hinge, (3, 4), {}), (smoothed_accuracy, (3, 4), {}), (smoothed_f1, (3, 4), {}),
    (zlpr, (3, 4), {}), (zlpr_soft, (3, 4), {}), (emo, (3, 4), {}), (exact, (3, 4), {}),
    (emo, (3, 4), {"cost": np.ones((4, 4))})])
def test_half_precision_refused(fn, shape, kw):
    z = np.zeros(shape, np.float16)
    t = np.zeros(shape[:-1], np.int64) if fn in (softmax_cross_entropy, hinge, exact, emo,
                                                  smoothed_accuracy, smoothed_f1) else \
        np.zeros(shape)
    with pytest.raises(TypeError, match="logits has dtype float16"):
        fn(z, t, **kw)
    if kw:
        with pytest.raises(TypeError, match="cost has dtype float16"):
            fn(z.astype(np.float32), t, cost=np.ones((4, 4), np.float16))
    with pytest.raises(TypeError, match="embeddings has dtype float16"):
        emo(np.zeros((3, 4)), np.zeros(3, np.int64), embeddings=np.ones((4, 2), np.float16))


@pytest.mark.parametrize("fn,kw", [(softmax_cross_entropy, {}),
                                   (softmax_cross_entropy, {"label_smoothing": 0.1}),
                                   (hinge, {}), (hinge, {"multiclass": "weston_watkins"}),
                                   (smoothed_accuracy, {}), (smoothed_f1, {}), (emo, {}),
                                   (emo, {"cost": np.ones((4, 4))}), (exact, {})])
@pytest.mark.parametrize("bad", [4, -1, 100])
def test_class_indices_out_of_range_never_reach_a_kernel(fn, kw, bad):
    # The index check runs before any kernel (NUMBA_BOUNDSCHECK=1 in CI would catch a leak).
    z = RNG.normal(size=(3, 4))
    y = np.array([0, bad, 2])
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, 3\]"):
        fn(z, y, return_grad=True, **kw)
    with pytest.raises(ValueError, match="targets"):
        fn(z, y.astype(np.uint8) if bad >= 0 else y, **kw)


@pytest.mark.parametrize("fn,t,kw,match", [
    (sigmoid_cross_entropy, np.array([0.0, 1.5, 0.2]), {}, r"targets must lie in \[0, 1\]"),
    (sigmoid_cross_entropy, np.array([0.0, np.nan, 0.2]), {}, "targets contains NaN"),
    (sigmoid_cross_entropy, np.array([0, 2, 1]), {}, r"targets must lie in \[0, 1\]"),
    (hinge, np.array([1, 0, -1]), {}, r"labels in \{-1, \+1\}"),
    (hinge, np.array([True, False, True]), {}, "booleans"),
    (smoothed_accuracy, np.array([0.2, -0.1, 1.0]), {}, r"\[0, 1\]"),
    (smoothed_f1, np.array([0.2, 1.1, 1.0]), {}, r"\[0, 1\]"),
])
def test_bad_binary_targets_raise(fn, t, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fn(np.array([0.3, -1.0, 2.0]), t, return_grad=True, **kw)


@pytest.mark.parametrize("fn,t,kw,match", [
    (softmax_cross_entropy, np.full((2, 3), 0.5), {}, "must sum to 1"),
    (softmax_cross_entropy, np.array([[0.5, 0.7, -0.2], [1, 0, 0]]), {}, r"\[0, 1\]"),
    (smoothed_accuracy, np.full((2, 3), 0.5), {}, "must sum to 1"),
    (smoothed_f1, np.full((2, 3), 0.5), {}, "must sum to 1"),
    (emo, np.full((2, 3), 0.5), {"cost": np.ones((3, 3))}, "must sum to 1"),
    (zlpr, np.array([[0, 1, 2], [0, 0, 1]]), {}, r"\[0, 1\]"),
    (zlpr, np.array([[0.0, 0.5, 1.0], [0, 0, 1]]), {}, "0/1"),
    (zlpr, np.array([[0, 1, 1], [0, 0, 1]]), {"k": 2}, "exactly 2"),
    (zlpr_soft, np.array([[0.0, 0.5, 1.2], [0, 0, 1]]), {}, r"\[0, 1\]"),
])
def test_bad_multiclass_targets_raise(fn, t, kw, match):
    z = RNG.normal(size=(2, 3))
    with pytest.raises(ValueError, match=match):
        fn(z, t, return_grad=True, **kw)


def test_newton_breakdown_still_raises():
    with pytest.raises(FloatingPointError):
        zlpr(np.array([[1e4, 0.0, -1e4, 5.0]]), np.array([[1, 0, 0, 1]]), k=2,
             topk_method="newton")


def test_empty_and_zero_width_rows_follow_the_generic_rung():
    for fn in (softmax_cross_entropy, hinge, smoothed_accuracy, emo):
        with pytest.raises(ValueError):
            fn(np.zeros((0, 3)), np.zeros(0, np.int64))
        with pytest.raises(ValueError):               # no class can be a target
            fn(np.zeros((2, 0)), np.zeros(2, np.int64))
    for fn in (sigmoid_cross_entropy, zlpr, zlpr_soft):
        with pytest.raises(ValueError):
            fn(np.zeros((0, 3)), np.zeros((0, 3)))
    # zero-width multi-label rows: nothing to classify, the loss is log 1 + log 1 = 0
    for fn in (zlpr, zlpr_soft):
        z = np.zeros((3, 0))
        v, g = fn(z, np.zeros((3, 0)), return_grad=True)
        with probspace.use_backend("generic"):
            v0, g0 = fn(z, np.zeros((3, 0)), return_grad=True)
        assert float(v) == float(v0) == 0.0 and g.shape == g0.shape == (3, 0)


def test_non_contiguous_inputs():
    base = RNG.normal(size=(8, 12)) * 2
    z = base[:, ::2]
    y = np.arange(8) % 6
    t = RNG.random((12, 8)).T[:, ::1][:, :6]
    for fn, tt in ((softmax_cross_entropy, y), (hinge, y), (zlpr_soft, t),
                   (sigmoid_cross_entropy, t)):
        got = fn(z, tt, reduction="none", return_grad=True)
        ref = _call(fn, np.ascontiguousarray(z), np.ascontiguousarray(tt), {}, "none", True,
                    generic=True)
        for a, b in zip(got, ref):
            _close(a, b, 1e-12, 1e-13, fn.__name__)


# ---- the generic rung on every namespace, for the configurations added with the kernels -------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xp_more_configurations(xp, dtype):
    rng = np.random.default_rng(77)
    z = rng.normal(size=(6, 5)) * 2
    y = rng.integers(0, 5, size=6)
    tp = rng.dirichlet(np.ones(5), size=6)
    ml = (rng.random((6, 5)) < 0.4).astype(np.int64)
    cost = np.abs(rng.normal(size=(5, 5)))
    dt = getattr(xp, dtype)
    cases = [
        (softmax_cross_entropy, y, {"label_smoothing": 0.1}),
        (softmax_cross_entropy, tp, {"label_smoothing": 0.2}),
        (hinge, y, {"multiclass": "weston_watkins", "margin": 0.5}),
        (smoothed_accuracy, tp, {"temperature": 0.5}),
        (smoothed_f1, tp, {}),
        (zlpr, ml, {"threshold_index": -1}),
        (zlpr_soft, tp, {"eps": 0.05}),
        (emo, tp, {"cost": cost}),
        (emo, y, {"cost": cost, "mix": 2}),
    ]
    rtol = 2e-5 if dtype == "float32" else 1e-12
    for fn, t, kw in cases:
        kx = {k: (xp.asarray(v, dtype=dt) if isinstance(v, np.ndarray) else v)
              for k, v in kw.items()}
        tx = xp.asarray(t, dtype=dt) if t.dtype.kind == "f" else xp.asarray(t)
        for red in REDUCTIONS:
            v, g = fn(xp.asarray(z, dtype=dt), tx, reduction=red, return_grad=True, **kx)
            v0, g0 = fn(z, t, reduction=red, return_grad=True, **kw)
            xp_assert_close(v, xp.asarray(np.asarray(v0), dtype=dt), rtol=rtol, atol=1e-6, xp=xp)
            xp_assert_close(g, xp.asarray(g0, dtype=dt), rtol=rtol, atol=1e-6, xp=xp)


# ---- the thread pool ---------------------------------------------------------------------------
def test_pool_asks_the_thread_gate(monkeypatch):
    # The decision is probspace._parallel.ThreadGate's: serial until calibrated, then threads
    # only for calls worth >= 0.3 ms on one thread and only on cores no one else is using.
    from probspace import _parallel
    monkeypatch.setattr(_threads.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)
    g = _threads.gate("test/float64")
    assert _threads.gate("test/float64") is g
    assert _threads.threads_for(g, 1e6) == 1                 # not calibrated yet
    for _ in range(3):
        g.record(1, 1e6, 1e-2)                               # 10 ms per call on one thread
    monkeypatch.setattr(_parallel, "free_cores", lambda: 2)
    assert _threads.threads_for(g, 1e6) == 2
    assert _threads.threads_for(g, 1e3) == 1                 # 10 us: not worth a thread
    g2 = _threads.gate("test2/float64")
    for _ in range(3):
        g2.record(1, 1e6, 1e-2)
    monkeypatch.setattr(_parallel, "free_cores", lambda: 1)  # another process holds a core
    assert _threads.threads_for(g2, 1e6) == 1
    # the chunks of a threaded call cover every item once, in order
    monkeypatch.setattr(_threads, "threads_for", lambda gate, work: 2)
    seen = []
    out = _threads.run(lambda a, b: seen.append((a, b)) or b - a, 1000, 1.0, "test3/float64")
    assert sum(out) == 1000 and sorted(seen)[0][0] == 0 and len(seen) > 2
    edges = sorted(seen)
    assert all(e[1] == f[0] for e, f in zip(edges, edges[1:])) and edges[-1][1] == 1000
