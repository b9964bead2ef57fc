"""numopt's annotations seen from a user's code.

mypy checks this file (it is in ``files`` of ``[tool.mypy]``): ``assert_type`` pins what the
overloads resolve to, and every ``# type: ignore[...]`` line is a call that mypy must reject
(``warn_unused_ignores`` makes an ignore that is not needed an error).  pytest runs the same
calls, so each accepted snippet is valid at run time and each rejected one raises.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from numpy.typing import NDArray

import numopt
from numopt import losses, optim

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:
    def assert_type(value, _type):
        return value


Z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
Y = np.array([1, 2])


def test_losses_return_grad_overloads() -> None:
    assert_type(losses.softmax_cross_entropy(Z, Y), Any)
    value, grad = losses.softmax_cross_entropy(Z, Y, return_grad=True)
    assert grad.shape == Z.shape
    assert_type(losses.softmax_cross_entropy(Z, Y, return_grad=True), tuple[Any, Any])
    assert_type(losses.hinge(Z, Y, multiclass="weston_watkins", return_grad=True),
                tuple[Any, Any])
    assert_type(losses.exact(Z, Y, return_error=True), tuple[Any, Any])
    v, g, err = losses.exact(Z, Y, return_grad=True, return_error=True)
    assert g.shape == Z.shape and float(err) >= 0.0
    assert_type(losses.exact(Z, Y, return_grad=True, return_error=True), tuple[Any, Any, Any])
    flag = bool(Y[0])          # not known statically: the union
    out = losses.zlpr(Z, Z > 0, return_grad=flag)
    assert isinstance(out, tuple)
    losses.emo(Z, Y, mix=2)
    losses.smoothed_f1(Z[0], np.array([1, 0, 1]), temperature=0.5)


def test_losses_literal_options_are_checked() -> None:
    with pytest.raises(ValueError):
        losses.softmax_cross_entropy(Z, Y, reduction="avg")  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        losses.hinge(Z, Y, multiclass="crammer")  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        losses.exact(Z, Y, method="monte_carlo")  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        losses.emo(Z, Y, mix=3)  # type: ignore[call-overload]


def test_simplex_signatures() -> None:
    p = numopt.project_simplex([0.5, 2.5, 3.2], method="condat")
    assert abs(float(p.sum()) - 1.0) < 1e-12
    c = np.array([0.3, -0.2, 1.0])

    def fun(q: NDArray[np.float64]) -> float:
        return float(q @ q + c @ q)

    res = numopt.minimize_simplex(fun, lambda q: 2 * q + c, np.ones(3) / 3,
                                  method="frank_wolfe", callback=lambda r: None)
    assert_type(res, numopt.SimplexResult)
    assert res.success
    numopt.minimize_simplex(fun, lambda q: 2 * q + c, np.ones(3) / 3, lr=lambda k: 0.5 / k)
    with pytest.raises(ValueError):
        numopt.project_simplex(c, method="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        numopt.minimize_simplex(fun, lambda q: 2 * q + c, np.ones(3) / 3,
                                method="newton")  # type: ignore[arg-type]


def test_optimizers_and_schedules() -> None:
    params = {"w": np.ones(3), "b": [np.zeros(2)]}
    sched = optim.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)
    assert_type(sched(3), float)
    assert_type(sched(np.arange(4)), float | NDArray[np.float64])
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(sched, weight_decay=1e-2))
    assert_type(opt, optim.Optimizer)
    state = opt.init(params)
    updates, state = opt.update(params, state, params)
    params = optim.apply_updates(params, updates)
    assert params["w"].shape == (3,)

    def my_schedule(count: int) -> float:
        return 1e-3 * 0.5 ** count

    for o in (optim.sgd(my_schedule), optim.adam(lambda count: 1e-3), optim.lion(1e-4),
              optim.tiger(1e-3, labels="auto"), optim.eg_adaptive(optim.sgd(0.1)),
              optim.masked(optim.scale(2.0), {"w": True, "b": False}),
              optim.multi_transform({"a": optim.sgd(0.1), "f": optim.set_to_zero()},
                                    {"w": "a", "b": "f"})):
        assert_type(o, optim.Optimizer)
        o.update(params, o.init(params), params)
    # Declared container types (dict/list are invariant: the annotations must accept these).
    mask: dict[str, bool] = {"w": True, "b": False}
    roles: dict[str, str] = {"w": "kernel"}
    groups: dict[str, optim.Optimizer] = {"a": optim.adam(1e-3), "f": optim.set_to_zero()}
    labels: dict[str, str] = {"w": "a", "b": "f"}
    scales: dict[int, float] = {5: 0.1}
    parts: list[optim.Optimizer] = [optim.scale_by_adam(), optim.scale(-1e-3)]
    for o in (optim.adamw(1e-3, mask=mask), optim.masked(optim.scale(0.5), lambda p: mask),
              optim.tiger(1e-3, labels=roles), optim.multi_transform(groups, labels),
              optim.chain(*parts)):
        o.update(params, o.init(params), params)
    joined = optim.join_schedules([optim.linear_schedule(0.0, 1.0, 5),
                                   optim.piecewise_constant_schedule(1.0, scales)], [5])
    assert joined(7) == 1.0
    with pytest.raises(ValueError):
        optim.tiger(1e-3, labels="automatic")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        optim.masked(optim.scale(2.0), "w")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        optim.adam("1e-3")  # type: ignore[arg-type]
    lr, beta = optim.friction_to_momentum(*optim.momentum_to_friction(0.1, 0.9))
    assert abs(lr - 0.1) < 1e-12 and abs(beta - 0.9) < 1e-12


def _every_optimizer() -> list[tuple[str, optim.Optimizer]]:
    base = optim.sgd(0.1)
    made = {
        "sgd": base, "momentum": optim.momentum(0.1), "nesterov": optim.nesterov(0.1),
        "adam": optim.adam(1e-3), "adamw": optim.adamw(1e-3),
        "adamw(mask)": optim.adamw(1e-3, mask={"w": True, "b": False}),
        "lion": optim.lion(1e-4), "tiger": optim.tiger(1e-3), "eg": optim.eg(0.1),
        "eg_adaptive": optim.eg_adaptive(base), "chain": optim.chain(base),
        "masked": optim.masked(base, True), "multi_transform": optim.multi_transform(
            {"a": base}, "a"), "identity": optim.identity(), "set_to_zero": optim.set_to_zero(),
        "scale": optim.scale(2.0), "scale_by_schedule": optim.scale_by_schedule(lambda c: 1.0),
        "scale_by_learning_rate": optim.scale_by_learning_rate(0.1),
        "add_decayed_weights": optim.add_decayed_weights(1e-4), "clip": optim.clip(1.0),
        "clip_by_global_norm": optim.clip_by_global_norm(1.0), "trace": optim.trace(0.9),
        "scale_by_adam": optim.scale_by_adam(), "scale_by_lion": optim.scale_by_lion(),
    }
    return sorted(made.items())


@pytest.mark.parametrize("name, opt", _every_optimizer(), ids=[n for n, _ in _every_optimizer()])
def test_init_and_update_closures_are_annotated(name: str, opt: optim.Optimizer) -> None:
    """The ``init``/``update`` functions a factory returns are public too (users call them)."""
    import inspect
    for fn in (opt.init, opt.update):
        sig = inspect.signature(fn)
        missing = [p.name for p in sig.parameters.values()
                   if p.annotation is inspect.Parameter.empty]
        assert not missing, f"{name}.{fn.__name__}: parameters without annotation: {missing}"
        assert sig.return_annotation is not inspect.Signature.empty, f"{name}.{fn.__name__}"
