"""numopt.optim composition against optax itself (issue 13): the same chains, schedules, masks
and per-group transforms, run for 50 steps in float64 on nested parameter dicts, agree with
optax to 1e-12 (relative to max(1, |theta|)).

Each side computes its gradients from its own parameters (a real training loop), so any
difference in step-count conventions or formulas would show up and grow.
"""
from __future__ import annotations

import numpy as np
import pytest

from numopt import optim as o

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

STEPS = 50
TOL = 1e-12


def _params():
    rng = np.random.default_rng(42)
    return {"enc": {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=3)},
            "dec": {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2),
                    "ln": {"gamma": 1.0 + 0.1 * rng.normal(size=2)}}}


def _map(fn, tree):
    return {k: _map(fn, v) if isinstance(v, dict) else fn(k, v) for k, v in tree.items()}


def _grads(params, t):
    # A smooth objective's gradient plus a deterministic step-dependent wobble.
    def g(_, p):
        p = np.asarray(p, dtype=np.float64)
        return 0.7 * p + 0.2 * p ** 3 + 0.3 * np.sin(1.3 * t + np.arange(p.size).reshape(p.shape))
    return _map(g, params)


def _run_ours(opt):
    params = _params()
    state = opt.init(params)
    for t in range(STEPS):
        up, state = opt.update(_grads(params, t), state, params)
        params = o.apply_updates(params, up)
    return params


def _run_optax(opt):
    with jax.enable_x64(True):
        params = _map(lambda _, v: jnp.asarray(v, dtype=jnp.float64), _params())
        state = opt.init(params)
        for t in range(STEPS):
            g = _map(lambda _, v: jnp.asarray(v, dtype=jnp.float64), _grads(params, t))
            up, state = opt.update(g, state, params)
            params = optax.apply_updates(params, up)
        return _map(lambda _, v: np.asarray(v, dtype=np.float64), params)


def _max_rel_dev(a, b):
    """max |a - b| / max(1, |b|) over all leaves, matching dict entries by key (jax returns
    dicts with sorted keys)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        return max(_max_rel_dev(a[k], b[k]) for k in a)
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(y))))


def _f64(schedule):
    """optax evaluates a schedule at its int32 step counter, and JAX divides int32 in float32
    even with x64 enabled (a linear schedule is then off by ~1e-9 relative); casting the
    count to int64 gives optax's formula in float64, which is what we compare with."""
    return lambda count: schedule(jnp.asarray(count, dtype=jnp.int64))


def _is_w(params):
    return _map(lambda k, v: k == "w", params)


def _labels(params):
    return {"enc": {"w": "adam", "b": "sgd"},
            "dec": {"w": "lion", "b": "frozen", "ln": "sgd"}}   # "ln" is a prefix label


CASES = {
    "clip_by_global_norm+adamw(warmup_cosine)": (
        lambda: o.chain(o.clip_by_global_norm(1.0),
                        o.adamw(o.warmup_cosine_decay_schedule(0.0, 1e-2, 10, 50, 1e-4),
                                weight_decay=1e-2)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0),
                            optax.adamw(_f64(optax.warmup_cosine_decay_schedule(
                                0.0, 1e-2, 10, 50, 1e-4)), weight_decay=1e-2))),
    "clip+masked_decay+scale_by_schedule(exponential_decay)": (
        lambda: o.chain(o.clip(0.5), o.add_decayed_weights(1e-2, mask=_is_w),
                        o.scale_by_schedule(lambda c: -o.exponential_decay(
                            0.1, 5, 0.7, transition_begin=3, staircase=True,
                            end_value=0.02)(c))),
        lambda: optax.chain(optax.clip(0.5), optax.add_decayed_weights(1e-2, mask=_is_w),
                            optax.scale_by_schedule(lambda c: -_f64(optax.exponential_decay(
                                0.1, 5, 0.7, transition_begin=3, staircase=True,
                                end_value=0.02))(c)))),
    "multi_transform(adam, lion, nesterov, frozen)": (
        lambda: o.multi_transform(
            {"adam": o.adam(o.linear_schedule(1e-2, 1e-3, 40, transition_begin=5)),
             "lion": o.lion(learning_rate=3e-3, weight_decay=0.1),
             "sgd": o.nesterov(0.05, 0.9), "frozen": o.set_to_zero()}, _labels),
        lambda: optax.multi_transform(
            {"adam": optax.adam(_f64(optax.linear_schedule(1e-2, 1e-3, 40,
                                                           transition_begin=5))),
             "lion": optax.lion(3e-3, weight_decay=0.1),
             "sgd": optax.sgd(0.05, momentum=0.9, nesterov=True),
             "frozen": optax.set_to_zero()}, _labels)),
    "masked(scale_by_lion)+cosine_decay": (
        lambda: o.chain(o.masked(o.scale_by_lion(b1=0.8, b2=0.95), _is_w),
                        o.scale_by_learning_rate(o.cosine_decay_schedule(0.02, 40, alpha=0.1,
                                                                         exponent=2.0))),
        lambda: optax.chain(optax.masked(optax.scale_by_lion(b1=0.8, b2=0.95), _is_w),
                            optax.scale_by_learning_rate(_f64(optax.cosine_decay_schedule(
                                0.02, 40, alpha=0.1, exponent=2.0))))),
    "adamw(mask)": (
        lambda: o.adamw(3e-3, b1=0.85, b2=0.99, eps=1e-7, weight_decay=0.05, mask=_is_w),
        lambda: optax.adamw(3e-3, b1=0.85, b2=0.99, eps=1e-7, weight_decay=0.05, mask=_is_w)),
    "trace(nesterov)+join_schedules": (
        lambda: o.chain(o.trace(0.9, nesterov=True), o.scale_by_learning_rate(
            o.join_schedules([o.constant_schedule(0.05), o.linear_schedule(0.05, 0.005, 20)],
                             [15]))),
        lambda: optax.chain(optax.trace(0.9, nesterov=True), optax.scale_by_learning_rate(
            _f64(optax.join_schedules([optax.constant_schedule(0.05),
                                       optax.linear_schedule(0.05, 0.005, 20)], [15]))))),
    "scale_by_adam(eps_root)+piecewise_constant": (
        lambda: o.chain(o.scale_by_adam(b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-10),
                        o.scale_by_learning_rate(o.piecewise_constant_schedule(
                            0.02, {10: 0.5, 30: 0.2}))),
        lambda: optax.chain(optax.scale_by_adam(b1=0.8, b2=0.95, eps=1e-6, eps_root=1e-10),
                            optax.scale_by_learning_rate(_f64(optax.piecewise_constant_schedule(
                                0.02, {10: 0.5, 30: 0.2}))))),
    "fused adam/lion/momentum/sgd with schedules": (
        lambda: o.multi_transform(
            {"a": o.adam(o.warmup_exponential_decay_schedule(0.0, 0.01, 5, 10, 0.5)),
             "b": o.lion(o.cosine_decay_schedule(1e-3, 30)), "c": o.momentum(0.02, 0.8),
             "d": o.sgd(o.exponential_decay(0.05, 10, 0.5))},
            {"enc": {"w": "a", "b": "b"}, "dec": {"w": "c", "b": "d", "ln": "a"}}),
        lambda: optax.multi_transform(
            {"a": optax.adam(_f64(optax.warmup_exponential_decay_schedule(0.0, 0.01, 5, 10,
                                                                          0.5))),
             "b": optax.lion(_f64(optax.cosine_decay_schedule(1e-3, 30)), weight_decay=0.0),
             "c": optax.sgd(0.02, momentum=0.8),
             "d": optax.sgd(_f64(optax.exponential_decay(0.05, 10, 0.5)))},
            {"enc": {"w": "a", "b": "b"}, "dec": {"w": "c", "b": "d", "ln": "a"}})),
    "tiger == optax.lion(b1 = b2)": (
        lambda: o.tiger(2e-3, beta=0.9, weight_decay=0.05),
        lambda: optax.lion(2e-3, b1=0.9, b2=0.9, weight_decay=0.05)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_chain_as_optax_for_50_steps(name):
    ours, theirs = CASES[name]
    a = _run_ours(ours())
    b = _run_optax(theirs())
    start = _params()
    moved = _max_rel_dev(b, start)
    assert moved > 1e-3, f"{name}: the parameters hardly moved ({moved}); the test is vacuous"
    dev = _max_rel_dev(a, b)
    assert dev <= TOL, f"{name}: max relative deviation from optax {dev:.3e}"


def test_schedules_agree_with_optax_on_a_grid():
    counts = list(range(0, 130)) + [1000, 10 ** 6]
    pairs = [
        (o.constant_schedule(0.3), optax.constant_schedule(0.3)),
        (o.linear_schedule(1.0, 0.1, 50, 7), optax.linear_schedule(1.0, 0.1, 50, 7)),
        (o.polynomial_schedule(2.0, 0.5, 3.0, 40, 3), optax.polynomial_schedule(2.0, 0.5, 3.0,
                                                                                 40, 3)),
        (o.cosine_decay_schedule(0.5, 70, 0.2, 1.5), optax.cosine_decay_schedule(0.5, 70, 0.2,
                                                                                  1.5)),
        (o.warmup_cosine_decay_schedule(0.01, 1.0, 12, 100, 0.05),
         optax.warmup_cosine_decay_schedule(0.01, 1.0, 12, 100, 0.05)),
        (o.exponential_decay(1.0, 7, 0.8, 4, False, 0.2),
         optax.exponential_decay(1.0, 7, 0.8, 4, False, 0.2)),
        (o.exponential_decay(1.0, 7, 1.3, 4, True, 5.0),
         optax.exponential_decay(1.0, 7, 1.3, 4, True, 5.0)),
        (o.piecewise_constant_schedule(1.0, {20: 0.5, 60: 0.1}),
         optax.piecewise_constant_schedule(1.0, {20: 0.5, 60: 0.1})),
        (o.join_schedules([o.linear_schedule(0.0, 1.0, 10), o.cosine_decay_schedule(1.0, 50),
                           o.constant_schedule(0.01)], [10, 60]),
         optax.join_schedules([optax.linear_schedule(0.0, 1.0, 10),
                               optax.cosine_decay_schedule(1.0, 50),
                               optax.constant_schedule(0.01)], [10, 60])),
        (o.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.5, 3, True, 0.01),
         optax.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.5, 3, True, 0.01)),
    ]
    with jax.enable_x64(True):
        for ours, theirs in pairs:
            want = np.array([float(theirs(jnp.asarray(c, dtype=jnp.float64))) for c in counts])
            got = np.array([ours(c) for c in counts])
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
            # array counts give the same values at once
            np.testing.assert_allclose(ours(np.array(counts)), want, rtol=1e-13, atol=1e-15)
