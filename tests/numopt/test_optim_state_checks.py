"""Issue 14 regressions for numopt.optim: every update checks its state against the parameters
(before, a state made for other shapes made the fused kernels read -- and with inplace=True
write -- past the moment buffers), integer parameters are refused by apply_updates, and the
learning rate may be named as optax names it.

The memory-safety cases run in a subprocess, so that a crash fails the test instead of
killing pytest.
"""
from __future__ import annotations

import numpy as np
import pytest

from numopt import optim
from probspace.testing import run_isolated


MAKERS = {
    "adam": "optim.adam(0.1, weight_decay=0.01{ip})",
    "lion": "optim.lion(0.1, weight_decay=0.01{ip})",
    "tiger": "optim.tiger(0.1{ip})",
}


@pytest.mark.parametrize("inplace", [False, True], ids=["pure", "inplace"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_for_smaller_params_is_refused_in_a_subprocess(name, inplace):
    make = MAKERS[name].format(ip=", inplace=True" if inplace else "")
    res = run_isolated(f"""
        import numpy as np
        from numopt import optim
        opt = {make}
        small = {{"w": np.ones(3), "b": np.ones(2)}}
        big = {{"w": np.ones(300_000), "b": np.ones(2)}}
        state = opt.init(small)
        try:
            for _ in range(3):
                up, state = opt.update(big, state, big)
        except ValueError as exc:
            print("RAISED", exc)
        else:
            print("NO ERROR")
    """, timeout=300)
    out = res.stdout
    assert "RAISED" in out and "'w'" in out and "shape" in out, res.describe()


@pytest.mark.parametrize("name", ["adam", "lion", "tiger", "momentum", "eg_adaptive"])
def test_state_shape_dtype_and_tree_mismatches_name_the_leaf(name):
    make = {"adam": lambda: optim.adam(0.1), "lion": lambda: optim.lion(0.1),
            "tiger": lambda: optim.tiger(0.1), "momentum": lambda: optim.momentum(0.1),
            "eg_adaptive": lambda: optim.eg_adaptive(optim.sgd(0.1))}[name]
    opt = make()
    params = {"enc": {"w": np.ones((2, 3)), "b": np.zeros(3)}, "head": np.ones(4)}
    good = opt.init(params)
    opt.update(params, good, params)   # the matching state works
    cases = [
        ({"enc": {"w": np.ones((3, 2)), "b": np.zeros(3)}, "head": np.ones(4)},
         r"'enc/w' has shape \(3, 2\)"),
        ({"enc": {"w": np.ones((2, 3), np.float32), "b": np.zeros(3)}, "head": np.ones(4)},
         r"'enc/w' has dtype float32"),
        ({"enc": {"w": np.ones((2, 3)), "b": np.zeros(3), "extra": np.ones(1)},
          "head": np.ones(4)}, r"extra key 'extra' at 'enc'"),
        ({"enc": {"w": np.ones((2, 3))}, "head": np.ones(4)}, r"missing the key 'b' at 'enc'"),
        ({"enc": [np.ones((2, 3)), np.zeros(3)], "head": np.ones(4)}, r"list at 'enc'"),
    ]
    for other, msg in cases:
        state = opt.init(other)
        with pytest.raises(ValueError, match=msg):
            opt.update(params, state, params)


def test_state_of_another_optimizer_or_bad_count_is_refused():
    p = {"a": np.ones(3)}
    with pytest.raises(TypeError, match="AdamState"):
        optim.adam(0.1).update(p, optim.lion(0.1).init(p), p)
    with pytest.raises(TypeError, match="LionState"):
        optim.lion(0.1).update(p, {"count": 0, "mu": p}, p)
    st = optim.adam(0.1).init(p)
    with pytest.raises(ValueError, match="state.count"):
        optim.adam(0.1).update(p, st._replace(count=-1), p)
    with pytest.raises(ValueError, match="state.count"):
        optim.sgd(0.1).update(p, optim.SgdState(count=1.5), p)
    with pytest.raises(ValueError, match="state.scale"):
        opt = optim.eg_adaptive(optim.sgd(0.1))
        opt.update(p, opt.init(p)._replace(scale=float("nan")), p)


def test_inplace_state_needs_its_scratch_and_writable_buffers():
    p = {"a": np.ones(3)}
    with pytest.raises(ValueError, match="scratch"):
        optim.adam(0.1, inplace=True).update(p, optim.adam(0.1).init(p), p)
    opt = optim.lion(0.1, inplace=True)
    st = opt.init(p)
    st.mu["a"].flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.update(p, st, p)


def test_grads_are_matched_to_params_by_key_not_by_insertion_order():
    params = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
    grads_same = {"a": np.array([0.5, -1.0]), "b": np.array([2.0])}
    grads_swapped = {"b": np.array([2.0]), "a": np.array([0.5, -1.0])}
    opt = optim.adam(0.1)
    u1, _ = opt.update(grads_same, opt.init(params), params)
    u2, _ = opt.update(grads_swapped, opt.init(params), params)
    for k in params:
        np.testing.assert_array_equal(u1[k], u2[k])
    assert list(u2) == ["a", "b"]   # the result has the parameters' structure


def test_apply_updates_refuses_integer_and_bool_parameters():
    with pytest.raises(TypeError, match="'w'.*int64.*truncate"):
        optim.apply_updates({"w": np.array([1, 2, 3])}, {"w": np.array([0.4, 0.4, 0.4])})
    with pytest.raises(TypeError, match="bool"):
        optim.apply_updates(np.array([True, False]), np.array([0.5, 0.5]))
    with pytest.raises(TypeError, match="complex"):
        optim.apply_updates(np.ones(2), np.ones(2, dtype=complex))
    # float parameters still work, and float64 updates are rounded to float32 parameters
    out = optim.apply_updates({"w": np.ones(2, np.float32)}, {"w": np.array([0.1, 0.2])})
    assert out["w"].dtype == np.float32
    np.testing.assert_array_equal(out["w"], np.float32(1) + np.array([0.1, 0.2], np.float32))


def test_learning_rate_keyword_is_accepted_and_conflicts_are_refused():
    p = {"a": np.array([1.0, -2.0, 0.5])}
    g = {"a": np.array([0.3, -0.1, 2.0])}
    for make in (optim.sgd, optim.momentum, optim.nesterov, optim.adam, optim.lion, optim.tiger,
                 optim.eg, optim.adamw):
        a, b = make(0.01), make(learning_rate=0.01)
        c = make(lr=0.01)
        pa = {"a": np.abs(p["a"])} if make is optim.eg else p
        ua, _ = a.update(g, a.init(pa), pa)
        ub, _ = b.update(g, b.init(pa), pa)
        uc, _ = c.update(g, c.init(pa), pa)
        np.testing.assert_array_equal(ua["a"], ub["a"])
        np.testing.assert_array_equal(ua["a"], uc["a"])
        with pytest.raises(TypeError, match="both lr and learning_rate"):
            make(0.01, learning_rate=0.01)
        with pytest.raises(TypeError, match="learning rate"):
            make()


def test_update_without_params_when_no_decay_needs_them():
    p = {"a": np.array([1.0, -2.0, 0.5])}
    g = {"a": np.array([0.3, -np.inf, 2.0])}
    for opt in (optim.adam(0.1), optim.lion(0.1), optim.sgd(0.1), optim.momentum(0.1)):
        with np.errstate(invalid="ignore"):
            u1, _ = opt.update(g, opt.init(p), p)
            u2, _ = opt.update(g, opt.init(p), None)
        np.testing.assert_array_equal(u1["a"], u2["a"])
    # Lion's sign step of an infinite gradient is finite with or without params
    u, _ = optim.lion(0.1).update(g, optim.lion(0.1).init(p))
    np.testing.assert_array_equal(u["a"], [-0.1, 0.1, -0.1])
    for opt in (optim.adam(0.1, weight_decay=0.1), optim.lion(0.1, weight_decay=0.1),
                optim.tiger(0.1)):
        with pytest.raises(TypeError, match="needs params"):
            opt.update(g, opt.init(p))
