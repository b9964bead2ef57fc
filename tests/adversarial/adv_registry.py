"""The registry of the contract harness: one entry per public name of probspace, numopt and
solvers.diffusion (``test_adv_coverage.py`` fails when a public name has none).

An entry says how to call the name validly (``build``), which arguments the harness mutates and
as what kind (``params``, see ``adv_harness.MUTATORS``), and what a valid result is (``check``).
Names that are not called (result and state classes, type aliases, constants, submodules)
have an entry with ``build=None`` and a ``reason`` naming the tests that cover them.

Base arguments are small (a few entries): the harness makes ~30 calls per argument.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adv_checks import arr, finite, float_dtype_of, on_simplex, shape_and_dtype
from adv_harness import Call, Entry

REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    assert entry.name not in REGISTRY, entry.name
    REGISTRY[entry.name] = entry
    return entry


def not_called(names: list[str], reason: str) -> None:
    for n in names:
        register(Entry(n, reason=reason))


def _axis_of(call: Call) -> int:
    return int(call.args.get("axis", -1))


# ============================================================================ numopt (simplex)
V = [[0.5, 2.5, 3.2, -1.0], [1.0, 1.0, 1.0, 1.0], [-3.0, 0.25, 0.0, 7.5]]


def _check_projection(res: Any, call: Call, first: str = "v") -> None:
    v = np.asarray(call.args[first])
    on_simplex(res, _axis_of(call), float(call.args.get("radius", 1.0)),
               dtype=float_dtype_of(v), shape=v.shape)


for _name, _method in (("numopt.project_simplex", "auto"),):
    register(Entry(
        _name,
        build=lambda: Call(__import__("numopt").project_simplex,
                           {"v": np.array(V), "radius": 1.5, "axis": -1, "method": "auto"},
                           ("v",)),
        params={"v": "array", "radius": "float", "axis": "axis", "method": "choice"},
        check=_check_projection,
        skip={"v": {"-inf": "-inf entries are valid (probability 0), covered by 'value' checks"}},
    ))

register(Entry(
    "numopt.project_simplex[out]",
    build=lambda: Call(__import__("numopt").project_simplex,
                       {"v": np.array(V), "out": np.empty((3, 4))}, ("v",)),
    params={"out": "out"},
    check=lambda res, call: (on_simplex(res, -1, 1.0, shape=(3, 4)),
                             np.testing.assert_array_equal(
                                 arr(res), __import__("numopt").project_simplex(np.array(V))),
                             _is_out(res, call)),
))


def _is_out(res: Any, call: Call) -> None:
    assert res is call.args["out"], "the result is not the out= array"

register(Entry(
    "numopt.project_simplex[sort]",
    build=lambda: Call(__import__("numopt").project_simplex,
                       {"v": np.array(V), "axis": 0, "method": "sort"}, ("v",)),
    params={"v": "array", "axis": "axis"},
    check=_check_projection,
    skip={"v": {"-inf": "-inf entries are valid (probability 0)"}},
))

register(Entry(
    "numopt.sparsemax",
    build=lambda: Call(__import__("numopt").sparsemax, {"x": np.array(V), "axis": -1}, ("x",)),
    params={"x": "array", "axis": "axis"},
    aliases={"x": ("v",)},   # sparsemax is project_simplex(x): messages say v
    check=lambda res, call: _check_projection(res, call, "x"),
    skip={"x": {"-inf": "-inf entries are valid (probability 0)"}},
))


def _check_jvp(res: Any, call: Call) -> None:
    v = np.asarray(call.args["v"])
    a = shape_and_dtype(res, v.shape, float_dtype_of(v, call.args["tangent"]))
    finite(a)
    # the JVP of a projection onto an affine set sums to zero along the simplex axis
    scale = np.max(np.abs(arr(call.args["tangent"]).astype(float)), initial=1.0)
    assert np.all(np.abs(np.sum(a, axis=_axis_of(call))) <= 64 * np.finfo(a.dtype).eps * scale)


register(Entry(
    "numopt.project_simplex_jvp",
    build=lambda: Call(__import__("numopt").project_simplex_jvp,
                       {"v": np.array(V), "tangent": np.arange(12.0).reshape(3, 4) - 5,
                        "radius": 1.0, "axis": -1}, ("v", "tangent")),
    params={"v": "array", "tangent": "array", "radius": "float", "axis": "axis"},
    check=_check_jvp,
    skip={"v": {"-inf": "-inf entries are valid (probability 0)"}},
))


def _check_entropic(res: Any, call: Call) -> None:
    c = np.asarray(call.args["c"])
    on_simplex(res, _axis_of(call), dtype=float_dtype_of(c), shape=c.shape)


register(Entry(
    "numopt.entropic_argmin",
    build=lambda: Call(__import__("numopt").entropic_argmin,
                       {"c": np.array(V), "tau": 0.7, "axis": -1}, ("c", "tau")),
    params={"c": "array", "tau": "float", "axis": "axis"},
    check=_check_entropic,
    skip={"c": {"inf": "+inf costs are valid (probability 0)"}},
))

P = np.array([[0.25, 0.25, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4]])
G = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.1, -0.1, 2.0]])


def _check_eg(res: Any, call: Call) -> None:
    p = np.asarray(call.args["p"])
    on_simplex(res, _axis_of(call), dtype=float_dtype_of(p, call.args["grad"]), shape=p.shape)
    # zeros stay zero (multiplicative update)
    assert np.all(arr(res)[np.asarray(p, dtype=float) == 0] == 0)


register(Entry(
    "numopt.eg_step",
    build=lambda: Call(__import__("numopt").eg_step,
                       {"p": P.copy(), "grad": G.copy(), "lr": 0.5, "axis": -1},
                       ("p", "grad", "lr")),
    params={"p": "array", "grad": "array", "lr": "float", "axis": "axis"},
    check=_check_eg,
))


def _check_gap(res: Any, call: Call) -> None:
    p = np.asarray(call.args["p"])
    ax = _axis_of(call)
    want = tuple(s for i, s in enumerate(p.shape) if i != ax % max(p.ndim, 1))
    a = shape_and_dtype(res, want, float_dtype_of(p, call.args["grad"]))
    finite(a)


register(Entry(
    "numopt.optimality_gap",
    build=lambda: Call(__import__("numopt").optimality_gap,
                       {"p": P.copy(), "grad": G.copy(), "axis": -1}, ("p", "grad")),
    params={"p": "array", "grad": "array", "axis": "axis"},
    nonfinite="propagate",    # documented: NaN in p or grad propagates
    check=_check_gap,
))

_C3 = np.array([0.3, -0.2, 1.0])


def _check_minimize(res: Any, call: Call) -> None:
    p0 = np.asarray(call.args["p0"])
    x = arr(res.x)
    assert x.shape == p0.shape
    if res.success:
        on_simplex(x, -1)
        tol = float(call.args.get("tol", 1e-9))
        assert res.gap <= tol, (res.gap, tol)
        if tol < 1e-6:   # the true minimizer of p.p + c.p on the simplex: p = proj(-c/2)
            from numopt import project_simplex
            want = project_simplex(-_C3 / 2)
            assert np.allclose(x, want, atol=1e-3), (x, want)
    else:
        assert res.status != 0


register(Entry(
    "numopt.minimize_simplex",
    build=lambda: Call(__import__("numopt").minimize_simplex,
                       {"fun": lambda p: float(p @ p + _C3 @ p), "grad": lambda p: 2 * p + _C3,
                        "p0": np.ones(3) / 3, "method": "eg", "lr": None, "maxiter": 200,
                        "tol": 1e-9, "callback": None},
                       ("fun", "grad", "p0")),
    params={"fun": "callable", "grad": "callable", "p0": "array", "method": "choice",
            "lr": "float", "maxiter": "int", "tol": "float", "callback": "callable"},
    optional=("lr", "callback"),
    check=_check_minimize,
    skip={"maxiter": {"huge": "2**62 iterations of a solver that may not converge: a hang"}},
))
not_called(["numopt.SimplexResult"], "result class of minimize_simplex (its fields are checked "
           "by the minimize_simplex entry and tests/numopt/test_simplex_steps.py)")
not_called(["numopt.optim", "numopt.estimators", "numopt.scaling", "numopt.losses"],
           "submodule: its own __all__ is registered name by name")
for _n in ("project_simplex", "project_simplex_jvp", "sparsemax", "entropic_argmin", "eg_step",
           "optimality_gap", "minimize_simplex", "SimplexResult"):
    not_called([f"numopt.simplex.{_n}"], f"the same object as numopt.{_n} (re-exported)")


# ============================================================================ numopt.scaling
GR = np.array([1.0, -0.5, 0.25])
HS = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
CV = np.array([[1.0, 0.2, 0.0], [0.2, 0.5, 0.0], [0.0, 0.0, 0.3]])


def _positive_scalar(res: Any, call: Call) -> None:
    a = finite(res)
    assert a.shape == () and a >= 0, a


register(Entry(
    "numopt.scaling.lr_max",
    build=lambda: Call(__import__("numopt.scaling").scaling.lr_max,
                       {"grad": GR.copy(), "hessian": HS.copy()}, ("grad", "hessian")),
    params={"grad": "array", "hessian": "array"},
    check=_positive_scalar, tol=1e-15,
))
register(Entry(
    "numopt.scaling.b_noise",
    build=lambda: Call(__import__("numopt.scaling").scaling.b_noise,
                       {"grad": GR.copy(), "hessian": HS.copy(), "cov": CV.copy()},
                       ("grad", "hessian", "cov")),
    params={"grad": "array", "hessian": "array", "cov": "array"},
    check=_positive_scalar, tol=1e-15,
))
register(Entry(
    "numopt.scaling.b_simple",
    build=lambda: Call(__import__("numopt.scaling").scaling.b_simple,
                       {"per_example_grads": np.array([[1.0, 2.0], [0.5, 1.5], [2.0, 1.0]]),
                        "unbiased": True}, ("per_example_grads",)),
    params={"per_example_grads": "array"},
    check=lambda res, call: None if np.isinf(arr(res)) else _positive_scalar(res, call),
    tol=1e-15,
))


def _optimal_lr_check(res: Any, call: Call) -> None:
    a = finite(res)
    assert np.all(a >= 0), a   # 0 where the true value underflows (subnormal batch sizes)


register(Entry(
    "numopt.scaling.optimal_lr",
    build=lambda: Call(__import__("numopt.scaling").scaling.optimal_lr,
                       {"batch_size": np.array([1.0, 8.0, 64.0]), "lr_max": 0.1,
                        "b_noise": 10.0}, ("batch_size", "lr_max", "b_noise")),
    params={"batch_size": "array", "lr_max": "float", "b_noise": "float"},
    check=_optimal_lr_check,
))
register(Entry(
    "numopt.scaling.expected_sign",
    build=lambda: Call(__import__("numopt.scaling").scaling.expected_sign,
                       {"grad": GR.copy(), "noise_std": np.array([1.0, 0.5, 2.0]),
                        "batch_size": 4.0}, ("grad", "noise_std", "batch_size")),
    params={"grad": "array", "noise_std": "array", "batch_size": "float"},
    check=lambda res, call: (finite(res), None)[1] if np.all(np.abs(arr(res)) <= 1) else
    (_ for _ in ()).throw(AssertionError(f"|E sign| > 1: {res}")),
))
register(Entry(
    "numopt.scaling.sign_sgd_lr",
    build=lambda: Call(__import__("numopt.scaling").scaling.sign_sgd_lr,
                       {"batch_size": np.array([1.0, 8.0, 64.0]), "grad": GR.copy(),
                        "hessian": HS.copy(), "cov": CV.copy(), "model": "erf"},
                       ("batch_size", "grad", "hessian", "cov")),
    params={"batch_size": "array", "grad": "array", "hessian": "array", "cov": "array",
            "model": "choice"},
    check=lambda res, call: _optimal_lr_check(res, call), tol=1e-15,
))


def _peak_check(res: Any, call: Call) -> None:
    for f in ("lr_inf", "lr_peak"):
        v = float(getattr(res, f))
        assert np.isfinite(v) and v >= 0, (f, v)
    assert float(res.kappa2) >= 0   # tr cov / |g|^2 may overflow to inf for tiny gradients


register(Entry(
    "numopt.scaling.sign_sgd_peak",
    build=lambda: Call(__import__("numopt.scaling").scaling.sign_sgd_peak,
                       {"grad": GR.copy(), "hessian": HS.copy(), "cov": CV.copy()},
                       ("grad", "hessian", "cov")),
    params={"grad": "array", "hessian": "array", "cov": "array"},
    check=_peak_check, tol=1e-15,
))
not_called(["numopt.scaling.SignSGDPeak"], "result class of sign_sgd_peak (checked there)")


# ============================================================================ numopt.estimators
def _stream(seed: int = 0) -> Any:
    from probspace.random import Stream
    return Stream(seed)


def _check_categorical(res: Any, call: Call) -> None:
    probs = np.asarray(call.args["probs"], dtype=float)
    a = arr(res)
    assert a.dtype.kind == "i", a.dtype
    assert a.shape == (int(call.args["n_samples"]),) + probs.shape[:-1], a.shape
    if a.size:
        assert a.min() >= 0 and a.max() < probs.shape[-1]
        # never an index of probability 0
        rows = np.broadcast_to(probs.reshape(1, -1, probs.shape[-1]),
                               (a.shape[0],) + probs.reshape(-1, probs.shape[-1]).shape)
        picked = np.take_along_axis(rows, a.reshape(a.shape[0], -1, 1), axis=-1)
        assert np.all(picked > 0), "sampled a category of probability 0"


register(Entry(
    "numopt.estimators.categorical_sample",
    build=lambda: Call(__import__("numopt.estimators").estimators.categorical_sample,
                       {"probs": np.array([[0.2, 0.0, 0.8], [0.5, 0.25, 0.25]]),
                        "n_samples": 5, "stream": _stream()}, ("probs", "n_samples", "stream")),
    params={"probs": "array", "n_samples": "size", "stream": "object"},
    check=_check_categorical,
))


def _check_estimate(res: Any, call: Call) -> None:
    x = np.asarray(call.args.get("x", call.args.get("logits")))
    g = arr(res.grad)
    assert g.shape == x.shape, (g.shape, x.shape)
    finite(g, "grad")
    finite(res.stderr, "stderr")


register(Entry(
    "numopt.estimators.zeroth_order_grad",
    build=lambda: Call(__import__("numopt.estimators").estimators.zeroth_order_grad,
                       {"f": lambda x: float(np.sum(np.asarray(x) ** 2)),
                        "x": np.array([1.0, -2.0, 0.5]), "eps": 0.1, "n_samples": 8,
                        "seed": 3, "antithetic": True, "vectorized": False}, ("f", "x")),
    params={"f": "callable", "x": "array", "eps": "float", "n_samples": "size",
            "seed": "seed"},
    check=_check_estimate,
    skip={"x": {"huge_entry": "f(x) = |x|^2 overflows: inf is the true value of f",
                "huge_scale": "as huge_entry"},
          "eps": {"huge": "f(x + 1e300 u) overflows: inf is the true value of f"}},
))


def _sample_fn(logits: Any, n: int, stream: Any) -> Any:
    from numopt.estimators import categorical_sample
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return categorical_sample(z / z.sum(-1, keepdims=True), n, stream)


register(Entry(
    "numopt.estimators.policy_gradient",
    build=lambda: Call(__import__("numopt.estimators").estimators.policy_gradient,
                       {"logits": np.array([0.1, -0.3, 0.7]), "sample_fn": None,
                        "reward_fn": lambda y: (np.asarray(y).reshape(len(y), -1) == 2).mean(1),
                        "n_samples": 16, "seed": 1, "baseline": "mean"},
                       ("logits", "sample_fn", "reward_fn")),
    params={"logits": "array", "sample_fn": "callable", "reward_fn": "callable",
            "n_samples": "size", "seed": "seed", "baseline": "choice"},
    optional=("sample_fn",),
    check=_check_estimate,
    skip={"logits": {"-inf": "-inf masks a class (documented)"},
          "baseline": {"number": "a float baseline is documented as valid"}},
))
not_called(["numopt.estimators.GradientEstimate"], "result class (checked by the estimator "
           "entries)")


# ============================================================================ numopt.losses
Z43 = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7], [3.0, 1.0, -2.0], [-0.2, -0.1, 0.4]])
IDX4 = np.array([2, 0, 0, 1])
HOT43 = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=float)


def _check_loss(res: Any, call: Call) -> None:
    value, grad = res
    z = np.asarray(call.args["logits"])
    want = float_dtype_of(z)
    v = shape_and_dtype(value, (), want)
    finite(v, "loss value")
    g = shape_and_dtype(grad, z.shape, want)
    finite(g, "gradient")


def _loss_entry(name: str, targets: Any, extra: dict[str, Any] | None = None,
                params: dict[str, str] | None = None, targets_kind: str = "int_array",
                skip: dict[str, dict[str, str]] | None = None, logits: Any = Z43,
                **kw: Any) -> None:
    fname = name.rsplit(".", 1)[1]
    extra = extra or {}
    register(Entry(
        name,
        build=lambda: Call(getattr(__import__("numopt.losses").losses, fname),
                           {"logits": np.array(logits).copy(), "targets": np.array(targets).copy(),
                            "reduction": "mean", "return_grad": True, **extra},
                           ("logits", "targets")),
        params={"logits": "array", "targets": targets_kind, "reduction": "choice",
                **(params or {})},
        check=_check_loss, tol=kw.pop("tol", 1e-12), skip=skip or {}, **kw))


_TGT_SKIP = {"targets": {"float_with_fraction": "float targets with fractions are "
                         "probabilities or soft labels for some losses (checked by value)"}}
_loss_entry("numopt.losses.sigmoid_cross_entropy", HOT43, targets_kind="array",
            skip={"targets": {"huge_entry": "targets are labels in [0, 1]: checked apart",
                              "subnormal": "a valid soft label"}})
_loss_entry("numopt.losses.softmax_cross_entropy", IDX4, {"label_smoothing": 0.1},
            {"label_smoothing": "float"})
_loss_entry("numopt.losses.hinge", IDX4, {"multiclass": "crammer_singer", "margin": 1.0},
            {"multiclass": "choice", "margin": "float"})
_loss_entry("numopt.losses.exact", IDX4, {"sigma": 1.0, "n_points": 16, "method": "quadrature"},
            {"sigma": "float", "n_points": "size", "method": "choice"}, tol=1e-9)
_loss_entry("numopt.losses.smoothed_accuracy", IDX4, {"temperature": 1.0},
            {"temperature": "float"})
_loss_entry("numopt.losses.smoothed_f1", HOT43[:, 0].copy(), {"temperature": 0.5},
            {"temperature": "float"}, targets_kind="array", logits=Z43[:, 1].copy(),
            skip={"targets": {"huge_entry": "labels", "subnormal": "labels"}})
_loss_entry("numopt.losses.zlpr", HOT43, targets_kind="array",
            skip={"targets": {"huge_entry": "labels", "subnormal": "labels"}})
_loss_entry("numopt.losses.zlpr_soft", HOT43 * 0.8, {"eps": 0.0}, {"eps": "float"},
            targets_kind="array")
_loss_entry("numopt.losses.emo", IDX4,
            {"cost": np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])},
            {"cost": "array"}, optional=("cost",))


# ============================================================================ numopt.optim
PARAMS = np.array([[0.5, -1.0, 2.0], [0.25, 0.0, -0.75]])
GRADS = np.array([[0.1, -0.2, 0.3], [1.0, 0.0, -0.5]])


def _optim() -> Any:
    import numopt.optim
    return numopt.optim


def drive(transform: Any, params: Any, grads: Any, steps: int = 2) -> Any:
    """init, then ``steps`` updates with the same gradient; returns the final params."""
    opt = _optim()
    state = transform.init(params)
    for _ in range(steps):
        updates, state = transform.update(grads, state, params)
        params = opt.apply_updates(params, updates)
    return params


def _check_params(res: Any, call: Call) -> None:
    p = np.asarray(call.args["params"])
    a = shape_and_dtype(res, p.shape, np.asarray(call.args["params"]).dtype)
    finite(a, "new params")


_OVERFLOW = "the true parameters exceed the float64 range after a 1e300 step (inf is right)"


def _optimizer_entry(fname: str, hyper: dict[str, Any], kinds: dict[str, str],
                     make: Any = None, params0: Any = PARAMS, **kw: Any) -> None:
    """An optimizer or gradient transformation: the factory's hyper-parameters, the params and
    the grads are mutated; the check runs init + two updates + apply_updates."""
    def run(params: Any, grads: Any, **h: Any) -> Any:
        factory = make or getattr(_optim(), fname)
        return drive(factory(**h), params, grads)

    register(Entry(
        f"numopt.optim.{fname}",
        build=lambda: Call(run, {"params": np.array(params0), "grads": GRADS.copy(), **hyper}),
        params={"params": "array", "grads": "array", **kinds},
        check=_check_params,
        nonfinite="propagate",   # documented: NaN/inf in grads or params propagate (as optax)
        aliases={"grads": ("updates",), "params": ("updates",)},
        skip={"params": {"int64": "refused by apply_updates: a TypeError naming params"},
              **{k: {"huge": _OVERFLOW} for k in ("lr", "weight_decay", "step_size",
                                                  "learning_rate")},
              **kw.pop("skip", {})},
        tol=kw.pop("tol", 0.0), **kw))


_LR = {"lr": "float"}
_optimizer_entry("sgd", {"lr": 0.1}, _LR)
_optimizer_entry("momentum", {"lr": 0.1, "beta": 0.9}, {**_LR, "beta": "float"})
_optimizer_entry("nesterov", {"lr": 0.1, "beta": 0.9}, {**_LR, "beta": "float"})
_ADAM = {"lr": 0.1, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
_ADAM_K = {**_LR, "b1": "float", "b2": "float", "eps": "float"}
_optimizer_entry("adam", _ADAM, _ADAM_K)
_optimizer_entry("adamw", {**_ADAM, "weight_decay": 0.01}, {**_ADAM_K, "weight_decay": "float"})
_optimizer_entry("lion", {"lr": 0.1, "b1": 0.9, "b2": 0.99, "weight_decay": 0.01},
                 {**_LR, "b1": "float", "b2": "float", "weight_decay": "float"})
_optimizer_entry("tiger", {"lr": 0.1, "beta": 0.965, "weight_decay": 0.01},
                 {**_LR, "beta": "float", "weight_decay": "float"})
_optimizer_entry("eg", {"lr": 0.1}, _LR, params0=np.abs(PARAMS) + 0.1,
                 skip={"grads": {"huge_scale": "p exp(-lr g) overflows for g = -1e300: inf is "
                                 "the true value"}})
_optimizer_entry("eg_adaptive", {"gain_lr": 0.01, "scale_lr": 0.01, "beta": 0.9,
                                 "init_scale": 1.0},
                 {"gain_lr": "float", "scale_lr": "float", "beta": "float",
                  "init_scale": "float"},
                 make=lambda **h: _optim().eg_adaptive(_optim().adam(0.1), **h),
                 skip={"gain_lr": {"huge": "gains exp(1e300) overflow: inf is the true value"}})
_optimizer_entry("identity", {}, {})
_optimizer_entry("set_to_zero", {}, {})
_optimizer_entry("scale", {"step_size": -0.1}, {"step_size": "float"})
_optimizer_entry("scale_by_schedule", {"step_size_fn": lambda n: -0.1 / (n + 1)},
                 {"step_size_fn": "callable"})
_optimizer_entry("scale_by_learning_rate", {"learning_rate": 0.1},
                 {"learning_rate": "float"})
_optimizer_entry("add_decayed_weights", {"weight_decay": 0.1}, {"weight_decay": "float"})
_optimizer_entry("clip", {"max_delta": 0.25}, {"max_delta": "float"})
_optimizer_entry("clip_by_global_norm", {"max_norm": 0.5}, {"max_norm": "float"})
_optimizer_entry("trace", {"decay": 0.9}, {"decay": "float"})
_optimizer_entry("scale_by_adam", {"b1": 0.9, "b2": 0.999, "eps": 1e-8},
                 {"b1": "float", "b2": "float", "eps": "float"})
_optimizer_entry("scale_by_lion", {"b1": 0.9, "b2": 0.99}, {"b1": "float", "b2": "float"})
_optimizer_entry("chain", {}, {},
                 make=lambda: _optim().chain(_optim().clip_by_global_norm(1.0), _optim().sgd(0.1)))
_optimizer_entry("masked", {"mask": True}, {"mask": "object"},
                 make=lambda mask: _optim().masked(_optim().sgd(0.1), mask))
for _fname in ("multi_transform", "partition"):
    _optimizer_entry(_fname, {"param_labels": "a"}, {"param_labels": "object"},
                     make=lambda param_labels, _f=_fname: getattr(_optim(), _f)(
                         {"a": _optim().sgd(0.1), "b": _optim().adam(0.1)}, param_labels))


def _check_apply(res: Any, call: Call) -> None:
    p = np.asarray(call.args["params"])
    a = shape_and_dtype(res, p.shape, p.dtype)
    if np.all(np.isfinite(np.asarray(call.args["updates"], dtype=float))):
        finite(a)


register(Entry(
    "numopt.optim.apply_updates",
    build=lambda: Call(_optim().apply_updates, {"params": PARAMS.copy(), "updates": GRADS.copy(),
                                                "inplace": False}, ("params", "updates")),
    params={"params": "array", "updates": "array"},
    nonfinite="propagate",   # documented: NaN or inf in updates propagate
    check=_check_apply,
    skip={"params": {"int64": "refused: checked by tests/numopt/test_optim_state_checks.py"}},
))


def _schedule_entry(fname: str, args: dict[str, Any], kinds: dict[str, str], **kw: Any) -> None:
    def run(**a: Any) -> Any:
        sched = getattr(_optim(), fname)(**a)
        return np.array([float(sched(n)) for n in (0, 1, 2, 5, 10, 100, 10**6)])

    register(Entry(f"numopt.optim.{fname}", build=lambda: Call(run, dict(args)), params=kinds,
                   check=lambda res, call: (finite(res), None)[1], **kw))


_schedule_entry("constant_schedule", {"value": 0.1}, {"value": "float"})
_schedule_entry("polynomial_schedule", {"init_value": 1.0, "end_value": 0.1, "power": 2.0,
                                        "transition_steps": 10, "transition_begin": 1},
                {"init_value": "float", "end_value": "float", "power": "float",
                 "transition_steps": "int", "transition_begin": "int"})
_schedule_entry("linear_schedule", {"init_value": 1.0, "end_value": 0.1,
                                    "transition_steps": 10, "transition_begin": 1},
                {"init_value": "float", "end_value": "float", "transition_steps": "int",
                 "transition_begin": "int"})
_schedule_entry("piecewise_constant_schedule", {"init_value": 1.0,
                                                "boundaries_and_scales": {3: 0.5, 8: 0.1}},
                {"init_value": "float", "boundaries_and_scales": "object"},
                optional=("boundaries_and_scales",),
                skip={"boundaries_and_scales": {"dict": "{} (no boundaries) is valid"}})
_schedule_entry("exponential_decay", {"init_value": 1.0, "transition_steps": 5,
                                      "decay_rate": 0.5, "transition_begin": 1,
                                      "staircase": False, "end_value": 0.01},
                {"init_value": "float", "transition_steps": "int", "decay_rate": "float",
                 "transition_begin": "int", "end_value": "float"}, optional=("end_value",))
_schedule_entry("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 10, "alpha": 0.1,
                                          "exponent": 1.0},
                {"init_value": "float", "decay_steps": "int", "alpha": "float",
                 "exponent": "float"})
_schedule_entry("warmup_cosine_decay_schedule", {"init_value": 0.0, "peak_value": 1.0,
                                                 "warmup_steps": 3, "decay_steps": 10,
                                                 "end_value": 0.01, "exponent": 1.0},
                {"init_value": "float", "peak_value": "float", "warmup_steps": "int",
                 "decay_steps": "int", "end_value": "float", "exponent": "float"})
_schedule_entry("warmup_exponential_decay_schedule",
                {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 3,
                 "transition_steps": 5, "decay_rate": 0.5, "transition_begin": 1,
                 "staircase": False, "end_value": 0.01},
                {"init_value": "float", "peak_value": "float", "warmup_steps": "int",
                 "transition_steps": "int", "decay_rate": "float", "transition_begin": "int",
                 "end_value": "float"}, optional=("end_value",))
_schedule_entry("join_schedules", {"schedules": [lambda n: 1.0, lambda n: 0.5 / (n + 1)],
                                   "boundaries": [5]},
                {"schedules": "object", "boundaries": "object"})


def _scalars_finite(res: Any, call: Call) -> None:
    for v in leaves_of(res):
        assert np.isfinite(v), res


def leaves_of(res: Any) -> list[float]:
    return [float(v) for v in (res if isinstance(res, tuple) else (res,))]


register(Entry("numopt.optim.momentum_to_friction",
               build=lambda: Call(_optim().momentum_to_friction, {"lr": 0.1, "beta": 0.9},
                                  ("lr", "beta")),
               params={"lr": "float", "beta": "float"}, check=_scalars_finite))
register(Entry("numopt.optim.friction_to_momentum",
               build=lambda: Call(_optim().friction_to_momentum,
                                  {"friction": 1.0, "time_step": 0.1}, ("friction", "time_step")),
               params={"friction": "float", "time_step": "float"}, check=_scalars_finite))
register(Entry("numopt.optim.rescale_momentum",
               build=lambda: Call(_optim().rescale_momentum,
                                  {"beta": 0.9, "lr_ratio": 2.0, "lr": None},
                                  ("beta", "lr_ratio")),
               params={"beta": "float", "lr_ratio": "float", "lr": "float"}, optional=("lr",),
               check=_scalars_finite))
not_called(["numopt.optim.Optimizer", "numopt.optim.GradientTransformation",
            "numopt.optim.EmptyState", "numopt.optim.SgdState", "numopt.optim.MomentumState",
            "numopt.optim.AdamState", "numopt.optim.LionState", "numopt.optim.TigerState",
            "numopt.optim.EgState", "numopt.optim.EgAdaptiveState", "numopt.optim.MaskedNode",
            "numopt.optim.MaskedState", "numopt.optim.MultiTransformState",
            "numopt.optim.ScaleByScheduleState", "numopt.optim.TraceState",
            "numopt.optim.ScaleByAdamState", "numopt.optim.ScaleByLionState"],
           "optimizer / state container: states made by hand (wrong shapes, dtypes, trees, "
           "extra keys, another optimizer's state) are tests/numopt/test_optim_state_checks.py "
           "and test_adv_regressions.py")
not_called(["numopt.optim.TIGER_ROLES"], "constant (the label table of tiger; used by the "
           "tiger entry)")


# ============================================================================ solvers.diffusion
def _dif() -> Any:
    import solvers.diffusion
    return solvers.diffusion


def _sched() -> Any:
    return _dif().NoiseSchedule.linear(20, 1e-3, 0.2)


def _gm() -> Any:
    return _dif().GaussianMixture([0.3, 0.7], [[1.0, -1.0], [-0.5, 0.5]],
                                  [np.eye(2) * 0.5, np.array([[1.0, 0.2], [0.2, 0.4]])])


TRAJ = np.array([0, 3, 7, 12, 20])


def _ms(sch: Any) -> Any:
    """The exact mean squared noise-prediction norm of the mixture (a valid ms_eps)."""
    return _dif().estimate_gamma(_gm().noise_predictor(sch), _gm().sample(64, 1), sch, seed=2)


MS = None
_MS0 = {"nan": "ms_eps[0] is never read (documented); NaN at a read step: test_adv_regressions",
        "inf": "as nan", "-inf": "as nan"}


def ms_eps() -> np.ndarray:
    global MS
    if MS is None:
        MS = np.asarray(_ms(_sched()))
    return MS.copy()


def _check_schedule(res: Any, call: Call) -> None:
    ab = finite(res.alpha_bar, "alpha_bar")
    assert np.all(ab > 0) and np.all(ab <= 1) and np.all(np.diff(ab) <= 0), ab
    finite(res.beta_bar, "beta_bar")


register(Entry("solvers.diffusion.NoiseSchedule",
               build=lambda: Call(_dif().NoiseSchedule, {"betas": np.linspace(1e-3, 0.2, 20)},
                                  ("betas",)),
               params={"betas": "array"}, check=_check_schedule))
register(Entry("solvers.diffusion.NoiseSchedule.linear",
               build=lambda: Call(_dif().NoiseSchedule.linear,
                                  {"N": 20, "beta_start": 1e-3, "beta_end": 0.2}, ("N",)),
               params={"N": "size", "beta_start": "float", "beta_end": "float"},
               check=_check_schedule))
register(Entry("solvers.diffusion.NoiseSchedule.cosine",
               build=lambda: Call(_dif().NoiseSchedule.cosine,
                                  {"N": 20, "s": 0.008, "max_beta": 0.999}, ("N",)),
               params={"N": "size", "s": "float", "max_beta": "float"},
               check=_check_schedule))


def _check_traj(res: Any, call: Call) -> None:
    t = arr(res)
    assert t.dtype.kind == "i" and t[0] == 0 and np.all(np.diff(t) > 0), t


register(Entry("solvers.diffusion.even_trajectory",
               build=lambda: Call(_dif().even_trajectory, {"N": 20, "K": 5}, ("N", "K")),
               params={"N": "size", "K": "size"}, check=_check_traj))


def _check_mixture(res: Any, call: Call) -> None:
    x = finite(res.sample(5, 0), "sample")
    assert x.shape == (5, res.dim if hasattr(res, "dim") else x.shape[1])


register(Entry("solvers.diffusion.GaussianMixture",
               build=lambda: Call(_dif().GaussianMixture,
                                  {"weights": np.array([0.3, 0.7]),
                                   "means": np.array([[1.0, -1.0], [-0.5, 0.5]]),
                                   "covs": np.array([np.eye(2) * 0.5, [[1.0, 0.2], [0.2, 0.4]]])},
                                  ("weights", "means", "covs")),
               params={"weights": "array", "means": "array", "covs": "array"},
               check=_check_mixture))
register(Entry("solvers.diffusion.PointSet",
               build=lambda: Call(_dif().PointSet,
                                  {"points": np.array([[1.0, -1.0], [-0.5, 0.5], [0.0, 2.0]]),
                                   "weights": np.array([0.2, 0.3, 0.5])},
                                  ("points", "weights")),
               params={"points": "array", "weights": "array"}, optional=("weights",),
               check=_check_mixture))


def _check_gamma(res: Any, call: Call) -> None:
    a = finite(res)
    assert a.shape == (call.args["schedule"].N + 1,) and np.all(a >= 0), a


_ORACLE_SKIPS = {
    "huge_entry": "the oracle eps_fn overflows at |x| ~ 1e300: estimate_gamma refuses its "
                  "output ('eps_fn returned non-finite values', naming the callable)",
    "huge_scale": "as huge_entry",
    "zero_size": "the oracle eps_fn refuses data of another dimension (its own ValueError)",
    "one_element": "as zero_size", "extra_axis": "as zero_size"}
for _fname in ("estimate_gamma", "estimate_eps_mse"):
    register(Entry(f"solvers.diffusion.{_fname}",
                   build=lambda _f=_fname: Call(getattr(_dif(), _f),
                                                {"eps_fn": _gm().noise_predictor(_sched()),
                                                 "x0": _gm().sample(16, 1),
                                                 "schedule": _sched(), "seed": 2,
                                                 "steps_per_call": 1},
                                                ("eps_fn", "x0", "schedule")),
                   params={"eps_fn": "callable", "x0": "array", "schedule": "object",
                           "seed": "seed", "steps_per_call": "size"},
                   check=_check_gamma, tol=1e-12, skip={"x0": _ORACLE_SKIPS}))


def _check_coeffs(res: Any, call: Call) -> None:
    for a in res:
        finite(a)


register(Entry("solvers.diffusion.step_coefficients",
               build=lambda: Call(_dif().step_coefficients,
                                  {"schedule": _sched(), "s": np.array([0, 3, 7]),
                                   "t": np.array([3, 7, 12]), "eta": 1.0},
                                  ("schedule", "s", "t", "eta")),
               params={"schedule": "object", "s": "int_array", "t": "int_array",
                       "eta": "float"},
               check=_check_coeffs))


def _check_variances(res: Any, call: Call) -> None:
    a = finite(res)
    traj = np.asarray(call.args["trajectory"])
    assert a.shape == (len(traj) - 1,) and np.all(a >= 0), a


register(Entry("solvers.diffusion.analytic_variance",
               build=lambda: Call(_dif().analytic_variance,
                                  {"schedule": _sched(), "ms_eps": ms_eps(),
                                   "trajectory": TRAJ.copy(), "eta": 1.0, "data_range": None},
                                  ("schedule", "ms_eps", "trajectory")),
               params={"schedule": "object", "ms_eps": "array", "trajectory": "int_array",
                       "eta": "float", "data_range": "pair"},
               optional=("data_range",), skip={"ms_eps": _MS0}, check=_check_variances))
register(Entry("solvers.diffusion.baseline_variances",
               build=lambda: Call(_dif().baseline_variances,
                                  {"schedule": _sched(), "trajectory": TRAJ.copy(),
                                   "kind": "beta_tilde", "eta": 1.0},
                                  ("schedule", "trajectory", "kind")),
               params={"schedule": "object", "trajectory": "int_array", "kind": "choice",
                       "eta": "float"},
               check=_check_variances))


def _check_pointwise_var(res: Any, call: Call) -> None:
    a = finite(res)
    assert np.all(a >= 0), a


def _sn_args() -> dict[str, Any]:
    sch = _sched()
    x = _gm().sample_noisy(8, 12, sch, 4)[2]
    return {"schedule": sch, "s": 7, "t": 12, "eps_hat": _gm().eps(x, 12, sch),
            "h": _gm().eps_second_moment(sch)(x, 12), "eta": 1.0}


register(Entry("solvers.diffusion.sn_variance",
               build=lambda: Call(_dif().sn_variance, _sn_args(),
                                  ("schedule", "s", "t", "eps_hat", "h")),
               params={"schedule": "object", "s": "int", "t": "int", "eps_hat": "array",
                       "h": "array", "eta": "float"},
               check=_check_pointwise_var))


def _npr_args() -> dict[str, Any]:
    a = _sn_args()
    sch = a["schedule"]
    x = _gm().sample_noisy(8, 12, sch, 4)[2]
    return {"schedule": sch, "s": 7, "t": 12,
            "g": _gm().npr_second_moment(sch, _gm().noise_predictor(sch))(x, 12), "eta": 1.0}


register(Entry("solvers.diffusion.npr_variance",
               build=lambda: Call(_dif().npr_variance, _npr_args(), ("schedule", "s", "t", "g")),
               params={"schedule": "object", "s": "int", "t": "int", "g": "array",
                       "eta": "float"},
               check=_check_pointwise_var))
for _cls, _fn in (("SNVariance", "h_fn"), ("NPRVariance", "g_fn")):
    register(Entry(f"solvers.diffusion.{_cls}",
                   build=lambda _c=_cls, _f=_fn: Call(
                       getattr(_dif(), _c),
                       {_f: (_gm().eps_second_moment(_sched()) if _f == "h_fn" else
                             _gm().npr_second_moment(_sched(), _gm().noise_predictor(_sched()))),
                        "schedule": _sched(), "eta": 1.0, "data_range": None}, (_f, "schedule")),
                   params={_fn: "callable", "schedule": "object", "eta": "float",
                           "data_range": "pair"},
                   optional=("data_range",)))
register(Entry("solvers.diffusion.paper_sampling_clip",
               build=lambda: Call(_dif().paper_sampling_clip,
                                  {"y": 2.0, "data_range": (-1.0, 1.0), "levels": 256}, ("y",)),
               params={"y": "float", "data_range": "pair", "levels": "int"},
               check=lambda res, call: (finite(res), None)[1]))


def _check_opt_traj(res: Any, call: Call) -> None:
    t = arr(res)
    K = int(call.args["K"])
    assert t.shape == (K + 1,) and t[0] == 0 and t[-1] == call.args["schedule"].N, t
    assert np.all(np.diff(t) > 0), t


register(Entry("solvers.diffusion.optimal_trajectory",
               build=lambda: Call(_dif().optimal_trajectory,
                                  {"schedule": _sched(), "ms_eps": ms_eps(), "K": 4},
                                  ("schedule", "ms_eps", "K")),
               params={"schedule": "object", "ms_eps": "array", "K": "size"},
               skip={"ms_eps": _MS0}, check=_check_opt_traj))
register(Entry("solvers.diffusion.trajectory_cost",
               build=lambda: Call(_dif().trajectory_cost,
                                  {"schedule": _sched(), "ms_eps": ms_eps(),
                                   "trajectory": TRAJ.copy()},
                                  ("schedule", "ms_eps", "trajectory")),
               params={"schedule": "object", "ms_eps": "array", "trajectory": "int_array"},
               skip={"ms_eps": _MS0}, check=lambda res, call: (finite(res), None)[1], tol=1e-13))


def _check_cost_matrix(res: Any, call: Call) -> None:
    a = arr(res)
    assert a.ndim == 2 and a.shape[0] == a.shape[1], a.shape
    ms = np.asarray(call.args.get("ms_eps", call.args.get("mse")), dtype=float)
    if np.all(ms[1:] <= 1):   # documented: NaN only where ms_eps > 1 makes the log undefined
        assert not np.any(np.isnan(a)), "NaN in the cost matrix"


register(Entry("solvers.diffusion.step_cost_matrix",
               build=lambda: Call(_dif().step_cost_matrix,
                                  {"schedule": _sched(), "ms_eps": ms_eps(), "n_max": None},
                                  ("schedule", "ms_eps")),
               params={"schedule": "object", "ms_eps": "array", "n_max": "size"},
               optional=("n_max",), skip={"ms_eps": _MS0}, check=_check_cost_matrix, tol=1e-13))
register(Entry("solvers.diffusion.baseline_cost_matrix",
               build=lambda: Call(_dif().baseline_cost_matrix,
                                  {"schedule": _sched(), "mse": ms_eps(), "kind": "beta"},
                                  ("schedule", "mse", "kind")),
               params={"schedule": "object", "mse": "array", "kind": "choice"},
               skip={"mse": _MS0}, check=_check_cost_matrix, tol=1e-13))


def _F() -> np.ndarray:
    rng = np.random.default_rng(0)
    F = np.triu(rng.random((8, 8)) + 0.1, 1)
    F[np.tril_indices(8)] = np.inf
    return F


def _check_vb(res: Any, call: Call) -> None:
    t = arr(res)
    K = int(call.args["K"])
    assert t.shape == (K + 1,) and t[0] == 0 and np.all(np.diff(t) > 0), t


register(Entry("solvers.diffusion.vb_trajectory",
               build=lambda: Call(_dif().vb_trajectory, {"F": _F(), "K": 3}, ("F", "K")),
               params={"F": "array", "K": "size"}, nonfinite="propagate",
               check=_check_vb))


def _check_samples(res: Any, call: Call) -> None:
    x = finite(res)
    assert x.shape == np.asarray(call.args["x_T"]).shape


def _sample_args() -> dict[str, Any]:
    sch = _sched()
    return {"eps_fn": _gm().noise_predictor(sch), "schedule": sch, "trajectory": TRAJ.copy(),
            "variances": _dif().analytic_variance(sch, ms_eps(), TRAJ),
            "x_T": np.random.default_rng(3).standard_normal((6, 2)), "eta": 1.0, "seed": 5}


register(Entry("solvers.diffusion.sample",
               build=lambda: Call(_dif().sample, _sample_args(),
                                  ("eps_fn", "schedule", "trajectory", "variances", "x_T")),
               params={"eps_fn": "callable", "schedule": "object", "trajectory": "int_array",
                       "variances": "array", "x_T": "array", "eta": "float", "seed": "seed"},
               check=_check_samples, tol=1e-12,
               skip={"x_T": {"huge_entry": "x_T = 1e300 blows up through the sampler's "
                             "linear maps: inf is the true value", "huge_scale": "as huge_entry",
                             "zero_size": _ORACLE_SKIPS["zero_size"],
                             "one_element": _ORACLE_SKIPS["zero_size"],
                             "extra_axis": _ORACLE_SKIPS["zero_size"]}}))


def _check_nelbo(res: Any, call: Call) -> None:
    finite(res.nelbo if hasattr(res, "nelbo") else leaves_of_nelbo(res))


def leaves_of_nelbo(res: Any) -> Any:
    from adv_harness import leaves
    return np.array([float(np.asarray(v).ravel()[0]) for v in leaves(res)
                     if isinstance(v, np.ndarray) and v.size])


def _nelbo_args() -> dict[str, Any]:
    a = _sample_args()
    return {"eps_fn": a["eps_fn"], "x0": _gm().sample(6, 7), "schedule": a["schedule"],
            "trajectory": a["trajectory"], "variances": a["variances"], "eta": 1.0, "seed": 5}


register(Entry("solvers.diffusion.nelbo",
               build=lambda: Call(_dif().nelbo, _nelbo_args(),
                                  ("eps_fn", "x0", "schedule", "trajectory", "variances")),
               params={"eps_fn": "callable", "x0": "array", "schedule": "object",
                       "trajectory": "int_array", "variances": "array", "eta": "float",
                       "seed": "seed"},
               check=lambda res, call: (finite(res.nelbo, "nelbo"), None)[1], tol=1e-12,
               skip={"x0": _ORACLE_SKIPS,
                     "variances": {"dict": "a dict of variance choices is documented ({} "
                                   "gives {})",
                                   "subnormal": "err^2 / (2 * 5e-324) ~ 1e320: the true bound "
                                   "exceeds the float64 range (inf is right)"}}))
not_called(["solvers.diffusion.GammaEstimate", "solvers.diffusion.AnalyticVariance",
            "solvers.diffusion.NelboResult"],
           "result class (fields checked by the estimate_gamma / analytic_variance / nelbo "
           "entries and tests/solvers/diffusion)")


# ============================================================================ probspace (core)
def _ps() -> Any:
    import probspace
    return probspace


register(Entry("probspace.as_float_array",
               build=lambda: Call(_ps().as_float_array,
                                  {"x": np.array([[1.0, -2.0], [0.5, 3.0]]), "name": "x",
                                   "xp": __import__("array_api_compat.numpy").numpy},
                                  ("x", "name", "xp")),
               params={"x": "array"},
               check=lambda res, call: (finite(res), None)[1]))
register(Entry("probspace.array_namespace",
               build=lambda: Call(lambda x: _ps().array_namespace(x, names=("x",)),
                                  {"x": np.ones(3)}),
               params={"x": "object"}, optional=("x",),
               skip={"x": {"number": "a Python number is ignored (numpy namespace): documented"}}))
register(Entry("probspace.to_numpy",
               build=lambda: Call(_ps().to_numpy, {"x": np.ones((2, 3))}, ("x",)),
               params={}))
register(Entry("probspace.backend_for",
               build=lambda: Call(_ps().backend_for,
                                  {"xp": __import__("array_api_compat.numpy").numpy}, ("xp",)),
               params={}))
register(Entry("probspace.get_backend", build=lambda: Call(_ps().get_backend, {}), params={}))


def _use_backend(name: Any) -> str:
    with _ps().use_backend(name):
        return str(_ps().get_backend())


register(Entry("probspace.use_backend", build=lambda: Call(_use_backend, {"name": "generic"}),
               params={"name": "choice"}))


def _stream_draws(seed: Any) -> Any:
    from probspace.random import Stream
    s = Stream(seed)
    return s.normal((3,)), s.uniform((2,))


register(Entry("probspace.random.Stream", build=lambda: Call(_stream_draws, {"seed": 7}),
               params={"seed": "seed"}))
register(Entry("probspace.random.as_stream",
               build=lambda: Call(lambda seed: _ps().random.as_stream(seed).normal((2,)),
                                  {"seed": 7}),
               params={"seed": "seed"}))
register(Entry("probspace.sym.lambdify",
               build=lambda: Call(lambda args, expr, backend: __import__(
                   "probspace.sym").sym.lambdify(args, expr, backend=backend)(0.5),
                   {"args": __import__("sympy").Symbol("x"),
                    "expr": __import__("sympy").exp(-__import__("sympy").Symbol("x")),
                    "backend": "array"}),
               params={"backend": "choice"}))
register(Entry("probspace.sym.namespace_module",
               build=lambda: Call(__import__("probspace.sym").sym.namespace_module,
                                  {"xp": __import__("array_api_compat.numpy").numpy}, ("xp",)),
               params={}))
register(Entry("probspace.testing.chisquare_gof",
               build=lambda: Call(__import__("probspace.testing").testing.chisquare_gof,
                                  {"observed": np.array([30, 22, 48]),
                                   "expected_probs": np.array([0.3, 0.2, 0.5])},
                                  ("observed", "expected_probs")),
               params={"observed": "int_array", "expected_probs": "array"},
               check=lambda res, call: None if 0 <= res.pvalue <= 1 else
               (_ for _ in ()).throw(AssertionError(res))))
register(Entry("probspace.testing.finite_difference_grad",
               build=lambda: Call(__import__("probspace.testing").testing.finite_difference_grad,
                                  {"f": lambda x: float(np.sum(np.asarray(x) ** 2)),
                                   "x": np.array([1.0, -2.0]), "h": 1e-6}, ("f", "x")),
               params={"h": "float"},
               skip={"h": {"huge": "h is a step the caller chooses; 1e300 gives inf (true)",
                           "subnormal": "as huge (rounding is the caller's choice)",
                           "zero": "documented step; 0 divides by 0 (caller's choice)",
                           "negative_zero": "as zero", "inf": "as huge", "-inf": "as huge",
                           "negative": "a negative step is a valid central difference",
                           "bool": "as negative", "list": "as negative"}}))
not_called(["probspace.testing.xp_assert_close", "probspace.testing.xp_assert_equal",
            "probspace.testing.available_namespaces", "probspace.testing.gpu_available",
            "probspace.testing.run_isolated", "probspace.testing.IsolatedResult",
            "probspace.testing.ChiSquareResult"],
           "test helper: used by the test suite itself (every test that compares arrays or "
           "runs in a subprocess, this suite included)")
not_called(["probspace.Result"], "result base class (every result entry above builds one)")
not_called(["probspace.random"], "submodule: its own __all__ is registered name by name")
not_called(["probspace.__version__"], "constant string (tests/test_public_api.py)")
not_called(["probspace.typing.Array", "probspace.typing.ArrayLike", "probspace.typing.Namespace",
            "probspace.typing.Seed", "probspace.typing.DType"],
           "type alias for annotations (tests/test_annotations.py, mypy)")
