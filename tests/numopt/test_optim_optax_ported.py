"""optax's own test cases for schedules and composition, ported to numopt.optim.

Ported from google-deepmind/optax (facts and expected values; the code is rewritten for our
API): ``optax/schedules/_schedule_test.py`` (Constant, Polynomial, PiecewiseConstant,
Exponential, CosineDecay, WarmupCosineDecay), ``optax/schedules/_join_test.py``,
``optax/transforms/_combining_test.py`` (chain, partition = multi_transform),
``optax/transforms/_masking_test.py`` (masked), ``optax/transforms/_clipping_test.py``
(clip, clip_by_global_norm), ``optax/transforms/_adding_test.py`` (add_decayed_weights) and
``optax/_src/transform_test.py`` (scale).

Deviations, on purpose: where optax silently turns arguments its documentation calls invalid
into a constant schedule (``exponential_decay`` with ``transition_steps <= 0`` or
``decay_rate == 0``) or into 0 (a negative ``transition_begin``), we raise ``ValueError``;
those two optax cases are ported as "raises".  optax's float32 tolerances (1e-3) are
tightened to float64 ones where the value is exact.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from numopt import optim as o

STEPS = 50
LR = 1e-2
A = np.asarray


def _vals(schedule, n):
    return np.array([schedule(c) for c in range(n)])


# ---- schedules (optax/schedules/_schedule_test.py, _join_test.py) -------------------------

def test_constant():
    np.testing.assert_array_equal(_vals(o.constant_schedule(10), 15), [10] * 15)


def test_polynomial_linear_zero_steps_nonlinear_and_begin():
    s = o.polynomial_schedule(init_value=10.0, end_value=20.0, power=1, transition_steps=10)
    np.testing.assert_allclose(_vals(s, 15), list(range(10, 20)) + [20] * 5, rtol=1e-15)
    for steps in (-1, 0):
        s = o.polynomial_schedule(init_value=10.0, end_value=20.0, power=1,
                                  transition_steps=steps)
        np.testing.assert_array_equal(_vals(s, 15), [10.0] * 15)
    s = o.polynomial_schedule(init_value=25.0, end_value=10.0, power=2, transition_steps=10)
    np.testing.assert_allclose(_vals(s, 15),
                               [10.0 + 15.0 * (1.0 - n / 10) ** 2 for n in range(10)] + [10] * 5,
                               rtol=1e-14)
    s = o.polynomial_schedule(init_value=30.0, end_value=10.0, power=2, transition_steps=10,
                              transition_begin=4)
    np.testing.assert_allclose(
        _vals(s, 20), [30.0] * 4 + [10.0 + 20.0 * (1.0 - n / 10) ** 2 for n in range(10)]
        + [10] * 6, rtol=1e-14)
    # optax doctest: count 6 -> 0.9803, 104 -> 0.0101
    s = o.polynomial_schedule(init_value=1.0, end_value=0.01, transition_steps=100,
                              transition_begin=5, power=2)
    assert [f"{s(c):.4f}" for c in (0, 5, 6, 104, 105, 110)] == [
        "1.0000", "1.0000", "0.9803", "0.0101", "0.0100", "0.0100"]


def test_negative_transition_begin_is_refused():
    with pytest.raises(ValueError, match="transition_begin"):
        o.linear_schedule(1.0, 0.0, 10, transition_begin=-1)


def test_piecewise_constant_positive_and_negative():
    want = np.array([0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(_vals(o.piecewise_constant_schedule(0.1, {3: 2.0, 6: 0.5}), 10),
                               want, rtol=1e-15)
    np.testing.assert_allclose(_vals(o.piecewise_constant_schedule(-0.1, {3: 2.0, 6: 0.5}), 10),
                               -want, rtol=1e-15)
    with pytest.raises(ValueError, match="non-negative"):
        o.piecewise_constant_schedule(0.1, {3: -2.0})


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_constant_and_invalid_arguments(staircase):
    s = o.exponential_decay(init_value=1.0, transition_steps=15, decay_rate=1.0,
                            staircase=staircase)
    np.testing.assert_array_equal(_vals(s, 15), [1.0] * 15)
    for steps in (-1, 0):   # optax: a constant schedule; here a clear error
        with pytest.raises(ValueError, match="transition_steps"):
            o.exponential_decay(init_value=1.0, transition_steps=steps, decay_rate=1.0,
                                staircase=staircase)
    with pytest.raises(ValueError, match="decay_rate"):
        o.exponential_decay(init_value=1.0, transition_steps=2, decay_rate=0.0,
                            staircase=staircase)


@pytest.mark.parametrize("staircase,begin", [(False, 0), (True, 0), (False, 5), (True, 5)])
def test_exponential(staircase, begin):
    s = o.exponential_decay(init_value=1.0, transition_steps=2, decay_rate=2.0,
                            transition_begin=begin, staircase=staircase)

    def p(c):
        return np.floor(c / 2) if staircase else c / 2
    want = [1.0] * begin + [2.0 ** p(c) for c in range(15)]
    np.testing.assert_allclose(_vals(s, 15 + begin), want, rtol=1e-14)


@pytest.mark.parametrize("rate,end,staircase", [(0.2, 0.1, False), (1.0, 0.1, False),
                                                (2.0, 3.0, False), (0.2, 0.1, True),
                                                (1.0, 0.1, True), (2.0, 3.0, True)])
def test_exponential_end_value_with_staircase(rate, end, staircase):
    s = o.exponential_decay(init_value=1.0, transition_steps=2, decay_rate=rate,
                            transition_begin=3, staircase=staircase, end_value=end)

    def p(c):
        return np.floor(c / 2) if staircase else c / 2
    want = np.array([1.0] * 3 + [rate ** p(c) for c in range(11)])
    want = np.maximum(want, end) if rate < 1.0 else np.minimum(want, end)
    np.testing.assert_allclose(_vals(s, 14), want, rtol=1e-14)


def test_exponential_immutable_count():
    s = o.exponential_decay(init_value=32.0, transition_steps=1, decay_rate=0.5)
    np.testing.assert_array_equal(_vals(s, 5), [32, 16, 8, 4, 2])


def test_cosine_decay():
    s = o.cosine_decay_schedule(0.1, 10, 0.0)
    np.testing.assert_allclose(_vals(s, 10), 0.1 * (0.5 + 0.5 * np.cos(np.pi * np.arange(10) / 10)),
                               rtol=1e-14)
    frac = np.array([0.0, 0.2, 0.4, 0.6, 0.8] + [1.0] * 7)
    s = o.cosine_decay_schedule(0.1, 5, 0.0)
    np.testing.assert_allclose(_vals(s, 12), 0.1 * (0.5 + 0.5 * np.cos(np.pi * frac)),
                               rtol=1e-14, atol=1e-17)
    s = o.cosine_decay_schedule(0.1, 5, 0.1)
    np.testing.assert_allclose(_vals(s, 12),
                               0.1 * (0.9 * (0.5 + 0.5 * np.cos(np.pi * frac)) + 0.1), rtol=1e-14)
    s = o.cosine_decay_schedule(init_value=0.1, decay_steps=100, alpha=0.0, exponent=2)
    np.testing.assert_allclose(s(np.array([0, 10, 50, 75, 100])),
                               [0.1, 0.09516553580760956, 0.025, 0.0021446612663567066, 0.0],
                               rtol=1e-6, atol=1e-8)
    s = o.cosine_decay_schedule(init_value=1000.0, decay_steps=int(1e10), alpha=0.0, exponent=1)
    np.testing.assert_allclose(s(int(1e9)), 975.52826, rtol=1e-7)
    with pytest.raises(ValueError, match="decay_steps"):
        o.cosine_decay_schedule(0.1, 0)


@pytest.mark.parametrize("init,peak,end", [(10, 0.5, 1e-4), (5, 3, 0.0)])
def test_warmup_cosine_limits(init, peak, end):
    s = o.warmup_cosine_decay_schedule(init_value=init, peak_value=peak, warmup_steps=100,
                                       decay_steps=1000, end_value=end)
    np.testing.assert_allclose(s(0), init)
    np.testing.assert_allclose(s(100), peak)
    np.testing.assert_allclose(s(1000), end, rtol=1e-3, atol=1e-15)


def test_warmup_cosine_exponent_zero_peak_monotone_and_raises():
    s = o.warmup_cosine_decay_schedule(init_value=0.2, peak_value=1.21, end_value=-3.0,
                                       warmup_steps=50, decay_steps=100, exponent=2)
    # optax's expected values are float32 results; float64 agrees to their 1e-6
    np.testing.assert_allclose(s(np.array([0, 10, 50, 75, 100])),
                               [0.2, 0.402, 1.21, -1.9475, -3.0], rtol=1e-6, atol=1e-8)
    s = o.warmup_cosine_decay_schedule(init_value=0.2, peak_value=0, end_value=-3.0,
                                       warmup_steps=50, decay_steps=100, exponent=2)
    np.testing.assert_allclose(s(np.array([0, 10, 50, 75, 100])), [0.2, 0.16, 0.0, 0.0, 0.0],
                               rtol=1e-6, atol=1e-8)
    reg = o.warmup_cosine_decay_schedule(0.0, 1.0, 5, 25, 0.1, exponent=1.0)
    steep = o.warmup_cosine_decay_schedule(0.0, 1.0, 5, 25, 0.1, exponent=2.0)
    v, v2 = reg(np.arange(26)), steep(np.arange(26))
    assert np.all(np.diff(v[:6]) > 0) and abs(v[5] - 1.0) < 1e-6
    assert np.all(np.diff(v[5:]) <= 0) and abs(v[-1] - 0.1) < 1e-6
    assert np.all(v2[5:] <= v[5:] + 1e-12)
    with pytest.raises(ValueError):
        o.warmup_cosine_decay_schedule(init_value=0.2, peak_value=1.2, warmup_steps=10,
                                       decay_steps=10, end_value=0.0)


def test_join_schedules():
    s = o.join_schedules([o.constant_schedule(1.0), o.constant_schedule(2.0),
                          o.constant_schedule(1.0)], [3, 6])
    np.testing.assert_array_equal(_vals(s, 7), [1, 1, 1, 2, 2, 2, 1])
    with pytest.raises(ValueError, match="boundaries"):
        o.join_schedules([o.constant_schedule(1.0)], [3])


# ---- transforms (transform_test.py, _clipping_test.py, _adding_test.py) ---------------------

@pytest.fixture
def per_step_updates():
    return (A([500.0, 5.0]), A([300.0, 3.0]))


def _tree_norm(t):
    return float(np.sqrt(sum(np.sum(x * x) for x in t)))


def test_scale(per_step_updates):
    for i in range(1, STEPS + 1):
        f = 0.1 ** i
        got, _ = o.scale(f).update(per_step_updates, None)
        for g, u in zip(got, per_step_updates):
            np.testing.assert_allclose(g, u * f, rtol=1e-15)


def test_clip(per_step_updates):
    got, _ = o.clip(1e6).update(per_step_updates, None)
    for g, u in zip(got, per_step_updates):
        np.testing.assert_array_equal(g, u)
    got, _ = o.clip(1.0).update(per_step_updates, None)
    for g in got:
        np.testing.assert_array_equal(g, np.ones(2))


def test_clip_by_global_norm(per_step_updates):
    updates = per_step_updates
    for i in range(1, STEPS + 1):
        clipper = o.clip_by_global_norm(1.0 / i)
        updates, _ = clipper.update(updates, None)
        assert abs(_tree_norm(updates) - 1.0 / i) < 1e-12
        again, _ = clipper.update(per_step_updates, None)
        for a, b in zip(updates, again):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_add_decayed_weights_with_mask():
    tx = o.add_decayed_weights(0.1, mask=(True, {"a": True, "b": False}))
    updates = (np.zeros(2, np.float32), {"a": np.zeros(2, np.float32), "b": np.zeros(2, np.float32)})
    weights = (np.ones(2, np.float32), {"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)})
    new, _ = tx.update(updates, tx.init(weights), weights)
    np.testing.assert_allclose(new[0], 0.1 * np.ones(2), rtol=1e-7)
    np.testing.assert_allclose(new[1]["a"], 0.1 * np.ones(2), rtol=1e-7)
    np.testing.assert_array_equal(new[1]["b"], np.zeros(2))


# ---- combining (_combining_test.py) ----------------------------------------------------------

def test_chain_equals_the_manual_sequence(per_step_updates):
    params0 = (A([1.0, 2.0]), A([3.0, 4.0]))
    ts = [o.scale_by_adam(), o.trace(decay=0, nesterov=False), o.scale(-LR)]
    chained = o.chain(*ts)
    p, st = params0, chained.init(params0)
    assert isinstance(st, tuple)
    for _ in range(STEPS):
        u, st = chained.update(per_step_updates, st)
        p = o.apply_updates(p, u)
    q, sts = params0, [t.init(params0) for t in ts]
    for _ in range(STEPS):
        u = per_step_updates
        new = []
        for t, s in zip(ts, sts):
            u, s = t.update(u, s)
            new.append(s)
        q, sts = o.apply_updates(q, u), new
    for a, b in zip(p, q):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="tuple of 3 states"):
        chained.update(per_step_updates, st[:2])


def _map_keys(fn):
    def m(d):
        return {k: m(v) if isinstance(v, dict) else fn(k, v) for k, v in d.items()}
    return m


@pytest.mark.parametrize("use_fn", [True, False])
def test_partition(use_fn):
    params = _map_keys(lambda k, v: A(v))({"a1": 1.0, "b1": 2.0, "z1": {"a2": 3.0,
                                                                      "z2": {"c1": 4.0}}})
    upd = _map_keys(lambda k, v: v / 10.0)(params)
    txs = {"a": o.scale(-1.0), "b": o.trace(0.0), "c": o.scale(2.0)}   # "b" stateful
    labels = _map_keys(lambda k, _: k[0])
    tx = o.partition(txs, labels if use_fn else labels(params))
    st = tx.init(params)
    correct = _map_keys(lambda k, v: {"a": -v, "b": v, "c": 2.0 * v}[k[0]])
    u, st = tx.update(upd, st, params)
    want = correct(upd)
    _map_keys(lambda k, v: None)(u)
    for path in (("a1",), ("b1",), ("z1", "a2"), ("z1", "z2", "c1")):
        x, y = u, want
        for k in path:
            x, y = x[k], y[k]
        np.testing.assert_allclose(x, y, rtol=1e-15)
    u2, _ = tx.update(u, st)   # again, without params
    np.testing.assert_allclose(u2["z1"]["a2"], upd["z1"]["a2"], rtol=1e-15)
    np.testing.assert_allclose(u2["z1"]["z2"]["c1"], 4.0 * upd["z1"]["z2"]["c1"], rtol=1e-15)


@pytest.mark.parametrize("container", [list, tuple, dict])
def test_partition_and_masked_on_empty_containers(container):
    tx = o.multi_transform({0: o.sgd(1.0)}, lambda _: 0)
    u, _ = tx.update(container(), tx.init(container()))
    assert u == container()
    tx = o.masked(o.sgd(1.0), container())
    tx.update(container(), tx.init(container()))


@pytest.mark.parametrize("extra_label", [False, True])
@pytest.mark.parametrize("use_fn", [False, True])
def test_labels_mismatch(extra_label, use_fn):
    params = {"a": A(1.0), "b": [A(2.0), A(3.0)], "c": {"d": A(4.0), "e": (A(5.0), A(6.0))}}
    label_tree = {"a": 0, "b": [1, 0], "c": 1}   # a prefix of params
    if extra_label:
        label_tree["a"] = 3
    txs = {0: o.sgd(1.0), 1: o.adam(1.0, b1=0.0, b2=0.0), 2: o.trace(1.0)}
    tx = o.multi_transform(txs, (lambda _: label_tree) if use_fn else label_tree)
    if extra_label:
        with pytest.raises(ValueError, match="no transformation"):
            tx.init(params)
    else:
        st = tx.init(params)
        tx.update(_map_keys(lambda k, v: v)({"a": A(0.1), "b": [A(0.2), A(0.3)],
                                             "c": {"d": A(0.4), "e": (A(0.5), A(0.6))}}), st)


# ---- masking (_masking_test.py) ---------------------------------------------------------------

def _sgd():
    return o.sgd(1.0)


def _stateful_sgd():
    return o.momentum(1.0, beta=0.0)   # the momentum terms are computed but change nothing


def _flat(tree):
    if isinstance(tree, dict):
        return [x for k in tree for x in _flat(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [x for t in tree for x in _flat(t)]
    return [tree]


@pytest.mark.parametrize("use_fn", [False, True])
@pytest.mark.parametrize("builder", [_sgd, _stateful_sgd])
def test_masked(builder, use_fn):
    mask = {"a": True, "b": [False, True], "c": {"d": True, "e": (False, True)}}
    params = {"a": A(1.0), "b": [A(2.0), A(3.0)], "c": {"d": A(4.0), "e": (A(5.0), A(6.0))}}
    upd = {"a": A(0.1), "b": [A(0.2), A(0.3)], "c": {"d": A(0.4), "e": (A(0.5), A(0.6))}}
    flags = _flat(mask)
    tx = o.masked(builder(), (lambda _: mask) if use_fn else mask)
    st = tx.init(params)
    u, st = tx.update(upd, st, params)
    want = [-x if f else x for x, f in zip(_flat(upd), flags)]
    np.testing.assert_allclose(_flat(u), want, rtol=1e-15)
    u2, _ = tx.update(u, st)   # repeated, no params
    np.testing.assert_allclose(_flat(u2), [-x if f else x for x, f in zip(want, flags)],
                               rtol=1e-15)


@pytest.mark.parametrize("builder", [_sgd, _stateful_sgd])
def test_prefix_mask(builder):
    mask = {"a": True, "b": False, "c": {"d": False, "e": True}}
    params = {"a": A(1.0), "b": {"f": A(2.0)}, "c": {"d": A(3.0), "e": ([A(4.0), A(5.0)], A(6.0))}}
    upd = _map_keys(lambda k, v: v)(params)
    upd = {"a": A(0.1), "b": {"f": A(0.2)}, "c": {"d": A(0.3), "e": ([A(0.4), A(0.5)], A(0.6))}}
    tx = o.masked(builder(), mask)
    u, _ = tx.update(upd, tx.init(params), params)
    np.testing.assert_allclose(_flat(u), [-0.1, 0.2, 0.3, -0.4, -0.5, -0.6], rtol=1e-15)


def test_masked_update_requires_params():
    wd = 0.1
    mask = {"a": True, "b": [False, True], "c": {"d": True, "e": (False, True)}}
    params = {"a": A(1.0), "b": [A(2.0), A(3.0)], "c": {"d": A(4.0), "e": (A(5.0), A(6.0))}}
    upd = {"a": A(0.1), "b": [A(0.2), A(0.3)], "c": {"d": A(0.4), "e": (A(0.5), A(0.6))}}
    flags = _flat(mask)
    tx = o.masked(o.add_decayed_weights(wd), mask)
    st = tx.init(params)
    u, st = tx.update(upd, st, params)
    want = [x + wd * p if f else x for x, p, f in zip(_flat(upd), _flat(params), flags)]
    np.testing.assert_allclose(_flat(u), want, rtol=1e-15)
    params = o.apply_updates(params, u)
    u2, _ = tx.update(u, st, params)
    want2 = [x + wd * p if f else x for x, p, f in zip(_flat(u), _flat(params), flags)]
    np.testing.assert_allclose(_flat(u2), want2, rtol=1e-15)
    with pytest.raises(TypeError, match="needs params"):
        tx.update(upd, st)


@pytest.mark.parametrize("extra_in_mask", [False, True])
@pytest.mark.parametrize("use_fn", [False, True])
def test_masked_tree_mismatch_fails(extra_in_mask, use_fn):
    mask = {"a": True, "b": [False, True], "c": {"d": True, "e": (False, True)}}
    params = {"a": A(1.0), "b": [A(2.0), A(3.0)], "c": {"d": A(4.0), "e": (A(5.0), A(6.0))}}
    if extra_in_mask:
        mask["c"]["extra"] = True
    else:
        params["c"]["extra"] = A(7.0)
    tx = o.masked(_sgd(), (lambda _: mask) if use_fn else mask)
    with pytest.raises(ValueError, match="extra" if extra_in_mask else "missing"):
        tx.init(params)


def test_mask_fn():
    params = {"a": np.ones((1, 2)), "b": (np.ones((1,)), np.ones((1, 2, 3)))}
    tx = o.masked(o.add_decayed_weights(0.1), lambda p: {"a": p["a"].ndim > 1,
                                                         "b": tuple(x.ndim > 1 for x in p["b"])})
    grads = {"a": 2 * params["a"], "b": tuple(2 * x for x in params["b"])}
    u, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(u["a"], grads["a"] + 0.1 * params["a"])
    np.testing.assert_allclose(u["b"][0], grads["b"][0])
    np.testing.assert_allclose(u["b"][1], grads["b"][1] + 0.1 * params["b"][1])


@pytest.mark.parametrize("builder", [_sgd, _stateful_sgd])
def test_nested_mask(builder):
    params = {"linear_1": {"w": np.zeros((1, 1)), "b": np.zeros(1)},
              "linear_2": {"w": np.zeros((1, 2)), "b": np.zeros(2)},
              "linear_3": {"w": np.zeros((2, 3)), "b": np.zeros(3)}}

    def outer(p):
        return {k: {kk: vv.ndim > 1 for kk, vv in v.items()} for k, v in p.items()}
    inner_mask = {"linear_1": True, "linear_2": False, "linear_3": True}
    tx = o.masked(o.masked(builder(), inner_mask), outer)
    upd = {k: {kk: np.ones_like(vv) for kk, vv in v.items()} for k, v in params.items()}
    want = copy.deepcopy(upd)
    want["linear_1"]["w"] *= -1.0
    want["linear_3"]["w"] *= -1.0
    u, _ = tx.update(upd, tx.init(params), params)
    for k in params:
        for kk in params[k]:
            np.testing.assert_array_equal(u[k][kk], want[k][kk])


def test_masked_state_structure():
    params = {"a": [np.ones(1), (np.ones(2), np.ones(3))], "b": {"c": np.ones(4), "d": np.ones(5)}}
    mask = {"a": [True, (True, False)], "b": False}
    tr = o.masked(_stateful_sgd(), mask).init(params).inner_state.trace
    assert isinstance(tr["a"][1][1], o.MaskedNode)
    assert isinstance(tr["b"]["c"], o.MaskedNode) and isinstance(tr["b"]["d"], o.MaskedNode)
    np.testing.assert_array_equal(tr["a"][0], np.zeros(1))
    np.testing.assert_array_equal(tr["a"][1][0], np.zeros(2))
