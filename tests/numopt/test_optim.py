"""numopt.optim against independent step-by-step NumPy references (written here, not calling
the library), closed-form first steps, optax's doctest values and ODE truth."""
from __future__ import annotations

import math

import numpy as np
import pytest

import probspace
from numopt import optim
from probspace.testing import xp_assert_close
from probspace import to_numpy

SHAPES = {"w": (4, 3), "b": (3,), "gamma": (5,), "embeddings": (6, 2)}


def _params_np(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}


def _grad_np(params, t):
    # gradient of a fixed quadratic plus a deterministic, step-dependent wobble
    return {k: 0.7 * v + 0.3 * np.sin(1.3 * t + np.arange(v.size).reshape(v.shape))
            for k, v in params.items()}


def _to(xp, tree, dtype=None):
    return {k: xp.asarray(v) if dtype is None else xp.asarray(v, dtype=dtype) for k, v in tree.items()}


def _run(opt, xp, steps, dtype=np.float64, nan_at=None, inplace=False):
    p_np = _params_np(dtype=dtype)
    params = _to(xp, p_np)
    state = opt.init(params)
    for t in range(steps):
        g = _grad_np({k: to_numpy(v) for k, v in params.items()}, t)
        if nan_at is not None and t in nan_at:
            g[nan_at[t]] = np.full_like(g[nan_at[t]], np.nan)
        updates, state = opt.update(_to(xp, {k: v.astype(dtype) for k, v in g.items()}), state, params)
        params = optim.apply_updates(params, updates, inplace=inplace)
    return params, state


# ---- independent references (plain NumPy, in place) --------------------------------------

def ref_run(step_fn, steps, dtype=np.float64, nan_at=None, **kw):
    params = _params_np(dtype=dtype)
    st = {k: {} for k in params}
    for t in range(steps):
        g = _grad_np(params, t)
        if nan_at is not None and t in nan_at:
            g[nan_at[t]] = np.full_like(g[nan_at[t]], np.nan)
        for k in params:
            params[k] = step_fn(k, params[k], g[k].astype(dtype), st[k], t, **kw)
    return params


def ref_sgd(k, p, g, s, t, lr):
    return p - lr * g


def ref_momentum(k, p, g, s, t, lr, beta, nesterov=False):
    # theta_{t+1} = theta_t - lr g + beta (theta_t - theta_{t-1})   (heavy ball, position form)
    prev = s.get("prev", p)
    if nesterov:
        m = s.get("m", np.zeros_like(p))
        m = beta * m + g
        s["m"] = m
        return p - lr * (g + beta * m)
    new = p - lr * g + beta * (p - prev)
    s["prev"] = p
    return new


def ref_adam(k, p, g, s, t, lr, b1, b2, eps, wd):
    m = s.setdefault("m", np.zeros_like(p))
    v = s.setdefault("v", np.zeros_like(p))
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g ** 2
    mh = m / (1 - b1 ** (t + 1))
    vh = v / (1 - b2 ** (t + 1))
    return p - lr * (mh / (np.sqrt(vh) + eps) + wd * p)


def ref_lion(k, p, g, s, t, lr, b1, b2, wd):
    m = s.setdefault("m", np.zeros_like(p))
    c = b1 * m + (1 - b1) * g
    new = p - lr * (np.sign(c) + wd * p)
    m[...] = b2 * m + (1 - b2) * g
    return new


def ref_tiger(k, p, g, s, t, lr, beta, wd, kacc, shrink):
    # transcription of the reference algorithm (kexue 9512 / bojone/tiger), auto roles
    m = s.setdefault("m", np.zeros_like(p))
    c = 1.0 if "gamma" in k else 0.0
    if np.isnan(g).any():
        return (p - c) * shrink + c
    keep = beta if t % kacc == 0 else 1.0
    m[...] = keep * m + (1 - beta) / kacc * g
    if (t + 1) % kacc != 0:
        return p
    a, d = lr, wd
    if k in ("b", "gamma"):
        a, d = lr * 0.5, 0.0
    elif k == "embeddings":
        a = lr * np.sqrt(np.mean(p ** 2, axis=-1, keepdims=True))
    else:
        a = lr * np.sqrt(np.mean(p ** 2))
    return p - a * (np.sign(m) + d * p)


def ref_eg(k, p, g, s, t, lr):
    return p * np.exp(-lr * g)


def _labels(name, p):
    return {"w": "kernel", "b": "bias", "gamma": "gamma", "embeddings": "embedding"}[name]


CASES = [
    ("sgd", lambda: optim.sgd(0.05), ref_sgd, dict(lr=0.05)),
    ("momentum", lambda: optim.momentum(0.05, 0.8), ref_momentum, dict(lr=0.05, beta=0.8)),
    ("nesterov", lambda: optim.nesterov(0.05, 0.8), ref_momentum,
     dict(lr=0.05, beta=0.8, nesterov=True)),
    ("adamw", lambda: optim.adam(0.01, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1), ref_adam,
     dict(lr=0.01, b1=0.8, b2=0.95, eps=1e-6, wd=0.1)),
    ("lion", lambda: optim.lion(0.01, b1=0.8, b2=0.95, weight_decay=0.2), ref_lion,
     dict(lr=0.01, b1=0.8, b2=0.95, wd=0.2)),
    ("tiger", lambda: optim.tiger(0.02, beta=0.9, weight_decay=0.1, grad_accum_steps=3,
                                  labels=_labels), ref_tiger,
     dict(lr=0.02, beta=0.9, wd=0.1, kacc=3, shrink=0.99)),
]


@pytest.mark.parametrize("name,make,ref,kw", CASES, ids=[c[0] for c in CASES])
def test_against_reference(xp, name, make, ref, kw):
    steps = 12
    got, _ = _run(make(), xp, steps)
    want = ref_run(ref, steps, **kw)
    for k in SHAPES:
        xp_assert_close(got[k], xp.asarray(want[k]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name,make,ref,kw", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, make, ref, kw):
    import array_api_compat.numpy as cnp
    got, _ = _run(make(), cnp, 5, dtype=np.float32)
    want = ref_run(ref, 5, dtype=np.float32, **kw)
    for k in SHAPES:
        assert got[k].dtype == np.float32
        # sign-based methods: a coordinate whose momentum is ~0 may flip sign with rounding
        np.testing.assert_allclose(got[k], want[k], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name,make,ref,kw", CASES, ids=[c[0] for c in CASES])
def test_numba_rung_matches_generic(name, make, ref, kw):
    import array_api_compat.numpy as cnp
    fast, sf = _run(make(), cnp, 7)
    with probspace.use_backend("generic"):
        slow, ss = _run(make(), cnp, 7)
    for k in SHAPES:
        np.testing.assert_allclose(fast[k], slow[k], rtol=1e-13, atol=1e-14)


INPLACE = [
    ("adamw", lambda: optim.adam(0.01, b1=0.8, b2=0.95, eps=1e-6, weight_decay=0.1, inplace=True),
     ref_adam, dict(lr=0.01, b1=0.8, b2=0.95, eps=1e-6, wd=0.1)),
    ("lion", lambda: optim.lion(0.01, b1=0.8, b2=0.95, weight_decay=0.2, inplace=True), ref_lion,
     dict(lr=0.01, b1=0.8, b2=0.95, wd=0.2)),
    ("tiger", lambda: optim.tiger(0.02, beta=0.9, weight_decay=0.1, grad_accum_steps=3,
                                  labels=_labels, inplace=True), ref_tiger,
     dict(lr=0.02, beta=0.9, wd=0.1, kacc=3, shrink=0.99)),
]


@pytest.mark.parametrize("rung", ["auto", "generic"])
@pytest.mark.parametrize("name,make,ref,kw", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_mode_matches_reference(xp, rung, name, make, ref, kw):
    nan_at = {5: "gamma"} if name == "tiger" else None
    with probspace.use_backend(rung):
        got, state = _run(make(), xp, 12, inplace=True, nan_at=nan_at)
    want = ref_run(ref, 12, nan_at=nan_at, **kw)
    for k in SHAPES:
        xp_assert_close(got[k], xp.asarray(want[k]), rtol=1e-12, atol=1e-13)


def test_pure_mode_leaves_inputs_untouched():
    p = {"a": np.array([1.0, -2.0, 3.0])}
    g = {"a": np.array([0.5, 0.5, -1.0])}
    for opt in (optim.adam(0.1), optim.lion(0.1), optim.tiger(0.1)):
        st = opt.init(p)
        copies = [v.copy() for v in (p["a"], g["a"])]
        u, st2 = opt.update(g, st, p)
        optim.apply_updates(p, u)
        np.testing.assert_array_equal(p["a"], copies[0])
        np.testing.assert_array_equal(g["a"], copies[1])
        assert np.all(st.mu["a"] == 0)


def test_tiger_nan_guard_matches_reference(xp):
    nan_at = {4: "gamma", 7: "w"}
    opt = optim.tiger(0.02, beta=0.9, weight_decay=0.1, grad_accum_steps=2, labels=_labels)
    got, _ = _run(opt, xp, 10, nan_at=nan_at)
    want = ref_run(ref_tiger, 10, nan_at=nan_at, lr=0.02, beta=0.9, wd=0.1, kacc=2, shrink=0.99)
    for k in SHAPES:
        xp_assert_close(got[k], xp.asarray(want[k]), rtol=1e-12, atol=1e-13)


def test_tiger_nan_guard_behaviour():
    # a NaN gradient: the step is skipped (momentum unchanged) and theta <- (theta - c) s + c
    opt = optim.tiger(0.1, beta=0.9, weight_decay=0.0, shrink_ratio=0.5, labels="auto")
    params = {"dense/kernel": np.array([1.0, -2.0]), "ln/gamma": np.array([3.0, 0.0])}
    state = opt.init(params)
    g = {"dense/kernel": np.array([1.0, 1.0]), "ln/gamma": np.array([1.0, -1.0])}
    up, state = opt.update(g, state, params)
    params = optim.apply_updates(params, up)
    mom = {k: v.copy() for k, v in state.mu.items()}
    bad = {"dense/kernel": np.array([np.nan, 1.0]), "ln/gamma": np.array([np.nan, 0.0])}
    up, state2 = opt.update(bad, state, params)
    new = optim.apply_updates(params, up)
    np.testing.assert_allclose(new["dense/kernel"], params["dense/kernel"] * 0.5)
    np.testing.assert_allclose(new["ln/gamma"], (params["ln/gamma"] - 1) * 0.5 + 1)
    for k in mom:
        np.testing.assert_array_equal(state2.mu[k], mom[k])
    assert all(np.isfinite(v).all() for v in new.values())


def test_tiger_gradient_accumulation_equals_mean_gradient_step():
    rng = np.random.default_rng(3)
    p0 = {"a": rng.normal(size=50), "b": rng.normal(size=(4, 5))}
    k = 4
    acc = optim.tiger(0.01, beta=0.95, weight_decay=0.05, grad_accum_steps=k)
    one = optim.tiger(0.01, beta=0.95, weight_decay=0.05, grad_accum_steps=1)
    pa, pb = dict(p0), dict(p0)
    sa, sb = acc.init(pa), one.init(pb)
    for rnd in range(3):
        gs = [{kk: rng.normal(size=v.shape) for kk, v in p0.items()} for _ in range(k)]
        for i, g in enumerate(gs):
            up, sa = acc.update(g, sa, pa)
            if i < k - 1:   # no parameter change before the k-th micro-step
                assert all(np.all(u == 0) for u in up.values())
            pa = optim.apply_updates(pa, up)
        gmean = {kk: sum(g[kk] for g in gs) / k for kk in p0}
        up, sb = one.update(gmean, sb, pb)
        pb = optim.apply_updates(pb, up)
        for kk in p0:
            np.testing.assert_allclose(sa.mu[kk], sb.mu[kk], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(pa[kk], pb[kk], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda: optim.lion(0.03, weight_decay=0.5),
    lambda: optim.tiger(0.03, weight_decay=0.5),
    lambda: optim.adam(0.03, eps=0.0, weight_decay=0.5),
], ids=["lion", "tiger", "adamw"])
def test_first_step_is_signed(xp, make):
    theta = xp.asarray([1.5, -2.0, 0.25, 3.0])
    g = xp.asarray([0.3, -7.0, -1e-3, 0.0])
    opt = make()
    with np.errstate(invalid="ignore", divide="ignore"):   # Adam, eps=0: 0/0 at g = 0
        up, _ = opt.update(g, opt.init(theta), theta)
    want = -0.03 * (np.sign([0.3, -7.0, -1e-3, 0.0]) + 0.5 * np.array([1.5, -2.0, 0.25, 3.0]))
    got = to_numpy(up)
    ok = np.array([0.3, -7.0, -1e-3, 0.0]) != 0   # Adam with eps=0 has 0/0 at g = 0
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12)


def test_lion_optax_doctest_values():
    # optax.lion docstring: lr=0.003 on sum(x^2) from [1, 2, 3] (optax's default weight decay 1e-3)
    opt = optim.lion(0.003, weight_decay=1e-3)
    x = np.array([1.0, 2.0, 3.0])
    assert f"{np.sum(x ** 2):.2E}" == "1.40E+01"
    state = opt.init(x)
    seen = []
    for _ in range(5):
        up, state = opt.update(2 * x, state, x)
        x = optim.apply_updates(x, up)
        seen.append(f"{np.sum(x ** 2):.2E}")
    assert seen == ["1.40E+01", "1.39E+01", "1.39E+01", "1.39E+01", "1.38E+01"]
    # and the exact values: every coordinate moves by lr (1 + 1e-3 x) per step
    y = np.array([1.0, 2.0, 3.0])
    for _ in range(5):
        y = y - 0.003 * (1 + 1e-3 * y)
    np.testing.assert_allclose(x, y, rtol=1e-14)


def test_lion_and_adamw_match_optax():
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=20)
    for ours, theirs in [
        (optim.lion(0.01, b1=0.9, b2=0.99, weight_decay=0.1),
         optax.lion(0.01, b1=0.9, b2=0.99, weight_decay=0.1)),
        (optim.adam(0.01, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1),
         optax.adamw(0.01, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1)),
    ]:
        x, y = x0.copy(), jnp.asarray(x0, dtype=jnp.float32)
        s, sy = ours.init(x), theirs.init(y)
        for t in range(10):
            g = np.cos(x + t)
            u, s = ours.update(g, s, x)
            x = optim.apply_updates(x, u)
            uy, sy = theirs.update(jnp.asarray(np.cos(np.asarray(y, dtype=np.float64) + t),
                                               dtype=jnp.float32), sy, y)
            y = optax.apply_updates(y, uy)
        np.testing.assert_allclose(x, np.asarray(y, dtype=np.float64), rtol=0, atol=2e-5)


def test_eg(xp):
    theta = xp.asarray([0.5, 0.0, 2.0, 1e-3])
    g = xp.asarray([1.0, 5.0, -0.5, 1e-12])
    opt = optim.eg(0.3)
    up, st = opt.update(g, opt.init(theta), theta)
    new = optim.apply_updates(theta, up)
    xp_assert_close(new, xp.asarray(np.array([0.5, 0.0, 2.0, 1e-3]) * np.exp(
        -0.3 * np.array([1.0, 5.0, -0.5, 1e-12]))), rtol=1e-14)
    assert float(to_numpy(new)[1]) == 0.0
    # the tiny step is kept accurately (expm1): relative change -3e-13
    np.testing.assert_allclose(to_numpy(up)[3], 1e-3 * np.expm1(-3e-13), rtol=1e-12)
    with pytest.raises(ValueError, match="params"):
        opt.init(xp.asarray([1.0, -0.1]))


def test_eg_adaptive_raw_mode_is_su_rule():
    # Su (8968): nu_{t+1} = nu_t exp(gamma g_{t-1} g_t); theta <- theta - eta nu_{t+1} g_t
    eta, gamma = 0.05, 0.05
    A = np.diag([1.0, 3.0, 0.1])
    grad = lambda th: A @ th   # noqa: E731
    th_ref = np.array([1.0, 1.0, 1.0])
    nu = np.ones(3)
    g_prev = np.zeros(3)
    opt = optim.eg_adaptive(optim.sgd(eta), gain_lr=gamma / eta, scale_lr=0.0, normalize=False)
    th = th_ref.copy()
    st = opt.init(th)
    for _ in range(30):
        g = grad(th_ref)
        nu = nu * np.exp(gamma * g_prev * g)
        th_ref = th_ref - eta * nu * g
        g_prev = g
        up, st = opt.update(grad(th), st, th)
        th = optim.apply_updates(th, up)
    np.testing.assert_allclose(th, th_ref, rtol=1e-12)
    np.testing.assert_allclose(st.gains, nu, rtol=1e-12)


def test_eg_adaptive_speeds_up_a_too_small_learning_rate(xp):
    A = np.diag(np.linspace(0.1, 1.0, 8))
    th0 = np.ones(8)
    loss = lambda th: 0.5 * th @ A @ th   # noqa: E731

    def run(opt):
        th = xp.asarray(th0)
        st = opt.init(th)
        for _ in range(150):
            up, st = opt.update(xp.asarray(A) @ th, st, th)
            th = optim.apply_updates(th, up)
        return loss(to_numpy(th)), st

    plain, _ = run(optim.sgd(0.05))
    adapt, st = run(optim.eg_adaptive(optim.sgd(0.05), gain_lr=0.05, scale_lr=0.05))
    assert adapt < 0.05 * plain
    assert st.scale > 1.0 and float(xp.min(st.gains)) > 1.0  # consistent gradients grew the steps


def test_eg_adaptive_shrinks_an_oscillating_step():
    # lr above 2/L makes plain SGD diverge; sign flips shrink the gains and the scale
    A = np.diag([1.0, 3.0])
    opt = optim.eg_adaptive(optim.sgd(0.75), gain_lr=0.3, scale_lr=0.3)
    th = np.array([1.0, 1.0])
    st = opt.init(th)
    eff = []
    for _ in range(200):
        up, st = opt.update(A @ th, st, th)
        th = optim.apply_updates(th, up)
        eff.append(0.75 * st.scale * st.gains[1])
    assert np.linalg.norm(th) < 1e-3
    assert min(eff) < 2 / 3          # the stiff coordinate's step fell below the 2/L limit
    plain = np.array([1.0, 1.0])
    for _ in range(200):
        plain = plain - 0.75 * A @ plain
    assert np.linalg.norm(plain) > 1e10


# ---- heavy ball as a damped ODE -------------------------------------------------------------

def _ode_solution(lam, h, T):
    # x'' + lam x' = -h x, x(0) = 1, x'(0) = 0 (underdamped)
    w = math.sqrt(h - lam ** 2 / 4)
    return math.exp(-lam * T / 2) * (math.cos(w * T) + lam / (2 * w) * math.sin(w * T))


def _heavy_ball(lr, beta, n, hcurv=1.0):
    opt = optim.momentum(lr, beta)
    x = np.array([1.0])
    st = opt.init(x)
    for _ in range(n):
        up, st = opt.update(hcurv * x, st, x)
        x = optim.apply_updates(x, up)
    return float(x[0])


def test_friction_maps_are_inverse_and_leapfrog():
    lr, beta = 0.01, 0.9
    lam, h = optim.momentum_to_friction(lr, beta)
    lr2, beta2 = optim.friction_to_momentum(lam, h)
    assert lr2 == pytest.approx(lr, rel=1e-14) and beta2 == pytest.approx(beta, rel=1e-14)
    # small-step form beta ~ 1 - lam sqrt(lr)
    assert 1 - lam * math.sqrt(lr) == pytest.approx(beta, abs=0.01)


def test_heavy_ball_tracks_damped_ode():
    lam, T = 0.5, 6.0
    exact = _ode_solution(lam, 1.0, T)
    errs = []
    for h in (0.1, 0.05, 0.025):
        lr, beta = optim.friction_to_momentum(lam, h)
        errs.append(abs(_heavy_ball(lr, beta, round(T / h)) - exact))
    # converges (first order: the zero initial momentum starts with velocity error O(h))
    assert errs[0] < 0.05 and errs[1] < 0.6 * errs[0] and errs[2] < 0.6 * errs[1]


def test_rescaled_momentum_keeps_the_friction():
    lr0, beta0, T, r = 0.0025, 0.975, 6.0, 0.25
    lam, _ = optim.momentum_to_friction(lr0, beta0)
    exact = _ode_solution(lam, 1.0, T)
    b_exact = optim.rescale_momentum(beta0, r, lr=lr0)
    b_rule = optim.rescale_momentum(beta0, r)
    assert b_rule == pytest.approx(1 - (1 - beta0) * 0.5)
    assert optim.momentum_to_friction(r * lr0, b_exact)[0] == pytest.approx(lam, rel=1e-12)
    assert optim.momentum_to_friction(r * lr0, b_rule)[0] == pytest.approx(lam, rel=0.02)
    err = {}
    for name, b in [("exact", b_exact), ("rule", b_rule), ("unchanged", beta0)]:
        h = optim.momentum_to_friction(r * lr0, b)[1]
        err[name] = abs(_heavy_ball(r * lr0, b, round(T / h)) - exact)
    assert err["exact"] < 0.02 and err["rule"] < 0.02
    assert err["unchanged"] > 5 * max(err["exact"], err["rule"])   # friction halved otherwise


def test_rescale_momentum_errors():
    with pytest.raises(ValueError, match="lr_ratio"):
        optim.rescale_momentum(0.5, 9.0)
    with pytest.raises(ValueError, match="beta"):
        optim.rescale_momentum(1.0, 2.0)


# ---- structures, schedules and errors --------------------------------------------------------

def test_nested_structures_and_schedule(xp):
    params = [xp.asarray([1.0, 2.0]), (xp.asarray([3.0]), {"z": xp.asarray([[4.0]])})]
    grads = [xp.asarray([1.0, 1.0]), (xp.asarray([1.0]), {"z": xp.asarray([[1.0]])})]
    opt = optim.sgd(lambda step: 0.1 * (step + 1))
    st = opt.init(params)
    for _ in range(3):
        up, st = opt.update(grads, st, params)
        params = optim.apply_updates(params, up)
    assert isinstance(params, list) and isinstance(params[1], tuple)
    xp_assert_close(params[0], xp.asarray([1.0 - 0.6, 2.0 - 0.6]), rtol=1e-14)
    xp_assert_close(params[1][1]["z"], xp.asarray([[4.0 - 0.6]]), rtol=1e-14)


def test_errors():
    with pytest.raises(ValueError, match="lr"):
        optim.adam(-1.0)
    with pytest.raises(TypeError, match="lr"):
        optim.sgd("fast")
    with pytest.raises(ValueError, match="b1"):
        optim.lion(0.1, b1=1.5)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        optim.tiger(0.1, grad_accum_steps=0)
    with pytest.raises(ValueError, match="labels"):
        optim.tiger(0.1, labels=lambda n, p: "weird").init({"a": np.ones(2)})
    opt = optim.adam(0.1)
    p = {"a": np.ones(2)}
    st = opt.init(p)
    with pytest.raises(ValueError, match="grads"):
        opt.update({"b": np.ones(2)}, st, p)
    with pytest.raises(ValueError, match="shape"):
        opt.update({"a": np.ones(3)}, st, p)
    with pytest.raises(TypeError, match="params"):
        opt.init({"a": "x"})
    with pytest.raises(ValueError, match="schedule"):
        u, _ = optim.sgd(lambda t: float("nan")).update(p, optim.sgd(0.1).init(p), p)


def test_tiger_is_lion_with_equal_betas_and_auto_labels():
    rng = np.random.default_rng(8)
    p0 = {"dense/kernel": rng.normal(size=(3, 4)), "dense/bias": rng.normal(size=4),
          "ln/gamma": 1 + 0.1 * rng.normal(size=4), "ln/beta": rng.normal(size=4),
          "word_embeddings": rng.normal(size=(5, 3))}
    gs = [{k: rng.normal(size=v.shape) for k, v in p0.items()} for _ in range(4)]

    def run(opt):
        p, st = dict(p0), opt.init(p0)
        for g in gs:
            u, st = opt.update(g, st, p)
            p = optim.apply_updates(p, u)
        return p

    a = run(optim.tiger(0.01, beta=0.9, weight_decay=0.1))
    b = run(optim.lion(0.01, b1=0.9, b2=0.9, weight_decay=0.1))
    for k in p0:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-14)
    roles = {"dense/kernel": "kernel", "dense/bias": "bias", "ln/gamma": "gamma",
             "ln/beta": "bias", "word_embeddings": "embedding"}
    c = run(optim.tiger(0.01, beta=0.9, weight_decay=0.1, labels="auto"))
    d = run(optim.tiger(0.01, beta=0.9, weight_decay=0.1, labels=roles))
    for k in p0:
        np.testing.assert_array_equal(c[k], d[k])
    # the roles matter: the RMS-scaled kernel moved less than lr per coordinate per step
    assert not np.allclose(c["dense/kernel"], a["dense/kernel"])


def test_eg_adaptive_wraps_adam_on_a_tree():
    A = {"a": np.diag([1.0, 4.0]), "b": np.array([[2.0]])}
    p = {"a": np.array([1.0, -1.0]), "b": np.array([0.5])}
    opt = optim.eg_adaptive(optim.adam(0.01), gain_lr=0.02, scale_lr=0.02)
    st = opt.init(p)
    loss0 = sum(float(v @ A[k] @ v) for k, v in p.items())
    for _ in range(200):
        g = {k: A[k] @ v for k, v in p.items()}
        u, st = opt.update(g, st, p)
        p = optim.apply_updates(p, u)
    assert sum(float(v @ A[k] @ v) for k, v in p.items()) < 1e-3 * loss0
    assert set(st.gains) == {"a", "b"} and st.base_state.count == 200
