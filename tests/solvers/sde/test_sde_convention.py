"""solve_sde's calling convention (per member by default, vectorized=True for the batch), its
compiled forms, shape checks at every call, and the shared result vocabulary (issues 10, 14).

Independent truth: a hand-written NumPy Euler-Maruyama loop driven by the documented noise
layout (``Stream(seed).child(p).normal((N, m))``), closed-form discrete moments, sympy.
"""
import math
import warnings

import numba
import numpy as np
import pytest
import sympy as sp

import probspace
from probspace.random import Stream
from solvers import CompileFallbackWarning, per_member, solve_sde

A = np.array([[-1.0, 0.5, 0.0], [0.0, -0.7, 0.2], [0.3, 0.0, -0.4]])
SIG = np.array([0.3, 0.2, 0.1])


def brute_em(f, g, y0, dt, N, seed, noise="diagonal", offset=0):
    """Euler-Maruyama per path, in plain NumPy, with the documented noise of each path."""
    y0 = np.asarray(y0, dtype=float)
    P, d = y0.shape
    m = 1 if noise == "scalar" else d
    out = np.empty((P, N + 1, d))
    for p in range(P):
        z = Stream(seed).child(offset + p).normal((N, m))
        y = y0[p].copy()
        out[p, 0] = y
        for n in range(N):
            t = n * dt
            dw = math.sqrt(dt) * z[n]
            gv = np.asarray(g(t, y), dtype=float)
            y = y + np.asarray(f(t, y), dtype=float) * dt + gv * (dw[0] if noise == "scalar" else dw)
            out[p, n + 1] = y
    return out


@pytest.mark.parametrize("P", [1, 2, 3, 40])
def test_per_member_linear_system_right_at_every_batch_size(P):
    """d = 3: batch sizes 1, 2, 3 (= d) and 40 give each path's own solution (no guessing)."""
    f = lambda t, y: A @ y            # noqa: E731  one member: y of shape (3,)
    g = lambda t, y: SIG * y          # noqa: E731
    y0 = 1.0 + 0.1 * np.arange(3 * P).reshape(P, 3)
    r = solve_sde(f, g, (0.0, 0.5), y0, dt=0.05, seed=11)
    ref = brute_em(f, g, y0, 0.05, 10, 11)
    assert r.y.shape == (P, 11, 3)
    np.testing.assert_allclose(r.y, ref, rtol=1e-12, atol=1e-12)
    assert np.all(r.status == 0) and np.all(r.success)
    # the batch form of the same SDE (vectorized=True): rows are members
    rv = solve_sde(lambda t, Y: Y @ A.T, lambda t, Y: SIG * Y, (0.0, 0.5), y0, dt=0.05, seed=11,
                   vectorized=True)
    np.testing.assert_allclose(rv.y, ref, rtol=1e-12, atol=1e-12)


def test_unbatched_problem_has_scalar_fields():
    r = solve_sde(lambda t, y: -y, lambda t, y: 0.1 + 0 * y, (0.0, 1.0), np.ones(2), dt=0.1,
                  seed=3, noise="additive")
    assert r.y.shape == (11, 2) and r.status.shape == () and isinstance(r.message, str)
    assert r.t_final == 1.0 and r.y_final.shape == (2,) and int(r.nsteps) == 10
    np.testing.assert_array_equal(r.y_final, r.y[-1])


def _branchy(t, y):
    # a branch on the state: cannot be traced, compiles with Numba
    if y[0] > 1.0:
        return np.array([0.5 * y[0]])
    return np.array([0.25 * y[0] + 0.25])


class _Opaque:
    """Numba cannot compile calls to this object's method: runs per member in Python."""

    def __init__(self, k):
        self.k = k

    def rate(self):
        return self.k


_OPQ = _Opaque(0.5)


def _python_only(t, y):
    # float() stops the trace, the method call stops Numba
    return _OPQ.rate() * np.array([float(y[0])])


@pytest.mark.parametrize("kind", ["traced", "jit", "python"])
def test_every_compiled_form_gives_the_brute_force_numbers(kind):
    g = lambda t, y: 0.3 * y  # noqa: E731
    f = {"traced": lambda t, y: 0.5 * y, "jit": _branchy, "python": _python_only}[kind]
    y0 = np.linspace(0.5, 1.5, 20)[:, None]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = solve_sde(f, g, (0.0, 1.0), y0, dt=0.05, seed=2)
    fallback = [x for x in w if issubclass(x.category, CompileFallbackWarning)]
    assert bool(fallback) == (kind == "python")
    assert r.backend == ("generic" if kind == "python" else "numba")
    np.testing.assert_allclose(r.y, brute_em(f, g, y0, 0.05, 20, 2), rtol=1e-12, atol=1e-13)


def test_njit_writer_and_returning_forms_and_sympy_agree():
    @numba.njit
    def fw(t, y, out):
        out[0] = 0.5 * y[0]

    @numba.njit
    def gw(t, y, out):
        out[0] = 0.3 * y[0]

    @numba.njit
    def fr(t, y):
        return 0.5 * y

    t_, x_ = sp.symbols("t x")
    y0 = np.ones((33, 1))
    kw = dict(dt=0.01, seed=5, t_eval=[1.0])
    a = solve_sde(fw, gw, (0.0, 1.0), y0, **kw)
    b = solve_sde(fr, lambda t, y: 0.3 * y, (0.0, 1.0), y0, **kw)
    c = solve_sde([0.5 * x_], [0.3 * x_], (0.0, 1.0), y0, symbols=(t_, [x_]), **kw)
    d = solve_sde(lambda t, y: 0.5 * y, lambda t, y: 0.3 * y, (0.0, 1.0), y0, **kw)
    assert a.backend == b.backend == c.backend == d.backend == "numba"
    np.testing.assert_allclose(a.y, d.y, rtol=1e-13)
    np.testing.assert_allclose(b.y, d.y, rtol=1e-13)
    np.testing.assert_allclose(c.y, d.y, rtol=1e-13)


def test_gbm_lambda_exact_discrete_moments():
    """EM on GBM: E X_n = (1 + mu h)^n, E X_n^2 = ((1 + mu h)^2 + sigma^2 h)^n exactly."""
    mu, sig, h, n, P = 0.8, 0.6, 0.1, 10, 100_000
    r = solve_sde(lambda t, x: mu * x, lambda t, x: sig * x, (0.0, n * h), np.ones((P, 1)),
                  dt=h, seed=2, t_eval=[n * h])
    assert r.backend == "numba"
    x = r.y[:, 0, 0]
    m1, m2 = (1 + mu * h) ** n, ((1 + mu * h) ** 2 + sig ** 2 * h) ** n
    assert abs(x.mean() - m1) < 4.5 * x.std() / math.sqrt(P)
    assert abs((x ** 2).mean() - m2) < 4.5 * (x ** 2).std() / math.sqrt(P)


def test_per_member_args_and_plain_args():
    mus = np.linspace(-0.5, 0.5, 24)
    y0 = np.ones((24, 1))
    f = lambda t, y, mu, s: mu * y  # noqa: E731
    g = lambda t, y, mu, s: s * y   # noqa: E731
    r = solve_sde(f, g, (0.0, 1.0), y0, dt=0.1, seed=4, args=(per_member(mus), 0.2))
    for p in (0, 7, 23):
        ref = brute_em(lambda t, y: mus[p] * y, lambda t, y: 0.2 * y, y0[p:p + 1], 0.1, 10, 4,
                       offset=p)
        np.testing.assert_allclose(r.y[p], ref[0], rtol=1e-12)
    rv = solve_sde(lambda t, Y, mu, s: mu[:, None] * Y, lambda t, Y, mu, s: s * Y, (0.0, 1.0), y0,
                   dt=0.1, seed=4, args=(per_member(mus), 0.2), vectorized=True)
    np.testing.assert_allclose(rv.y, r.y, rtol=1e-12)


# --------------------------------------------------------------------------- shapes
def test_wrong_shape_at_t0_is_a_clear_error():
    with pytest.raises(ValueError, match=r"drift returned shape \(2,\).*expected shape \(1,\)"):
        solve_sde(lambda t, y: np.array([y[0], y[0]]), lambda t, y: 0.1 * y, (0.0, 1.0),
                  np.ones((20, 1)), dt=0.1)
    with pytest.raises(ValueError, match="diffusion returned"):
        solve_sde(lambda t, y: y, lambda t, y: np.ones((1, 1)), (0.0, 1.0), np.ones((20, 1)),
                  dt=0.1)


def test_vectorized_wrong_shape_is_never_broadcast():
    with pytest.raises(ValueError, match="never broadcast"):
        solve_sde(lambda t, Y: np.array([0.5]), lambda t, Y: 0.1 * Y, (0.0, 1.0),
                  np.ones((4, 1)), dt=0.1, vectorized=True)


def _late_bad(t, y):
    n = 1 if t < 0.5 else 2
    return np.full(n, 0.1 * y[0])


def _late_bad_py(t, y):
    _OPQ.rate()
    return _late_bad(t, y)


@pytest.mark.parametrize("fn, backend", [(_late_bad, "numba"), (_late_bad_py, "generic")])
def test_wrong_shape_later_is_status_minus_5(fn, backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileFallbackWarning)
        r = solve_sde(fn, lambda t, y: 0.1 * y, (0.0, 1.0), np.ones((20, 1)), dt=0.1, seed=1)
    assert r.backend == backend
    assert np.all(r.status == -5) and not np.any(r.success)
    assert "drift" in r.message[0] and "expected" in r.message[0]
    np.testing.assert_allclose(r.t_final, 0.5)
    assert np.all(np.isfinite(r.y_final))
    assert np.all(np.isnan(r.y[:, 6:])) and np.all(np.isfinite(r.y[:, :6]))


# --------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize("form", ["lambda", "sympy", "generic", "jit"])
def test_paths_that_blow_up_are_failures(form):
    """dX = X^2 dt blows up at t = 1/x0: only the paths started high fail, with status -2."""
    y0 = np.array([[0.1]] * 10 + [[5.0]] * 10)
    t_, x_ = sp.symbols("t x")
    kw = dict(dt=0.01, seed=1, noise="additive")
    if form == "sympy":
        r = solve_sde([x_ ** 2], [0 * x_], (0.0, 2.0), y0, symbols=(t_, [x_]), **kw)
    elif form == "generic":
        with probspace.use_backend("generic"):
            r = solve_sde(lambda t, y: y ** 2, lambda t, y: 0 * y, (0.0, 2.0), y0, **kw)
    elif form == "jit":
        r = solve_sde(lambda t, y: y ** 2 if t >= 0 else y, lambda t, y: 0 * y, (0.0, 2.0), y0,
                      **kw)
    else:
        r = solve_sde(lambda t, y: y ** 2, lambda t, y: 0 * y, (0.0, 2.0), y0, **kw)
    st = np.asarray(r.status)
    assert np.all(st[:10] == 0) and np.all(st[10:] == -2)
    assert not np.any(np.asarray(r.success)[10:])
    assert "Non-finite" in r.message[15]
    tf = np.asarray(r.t_final)
    assert np.all(tf[10:] < 2.0) and np.all(tf[10:] > 0.1)
    assert np.all(np.isfinite(r.y_final))
    assert np.all(np.isnan(r.y[10:, -1])) and np.all(np.isfinite(r.y[:10]))


# --------------------------------------------------------------------------- sympy names
def test_sympy_free_symbol_not_in_symbols_is_refused():
    t_, x_, a, h = sp.symbols("t x a h")
    with pytest.raises(ValueError, match="free symbol.*a"):
        solve_sde([-a * x_], [0.1 * x_], (0.0, 1.0), np.ones((20, 1)), dt=0.1,
                  symbols=(t_, [x_]))
    # a name the kernel uses internally must not bind silently either
    with pytest.raises(ValueError, match="free symbol.*h"):
        solve_sde([-h * x_], [0.1 * x_], (0.0, 1.0), np.ones((20, 1)), dt=0.1,
                  symbols=(t_, [x_]))


@pytest.mark.parametrize("names", [("lambda", "print"), ("h", "sq"), ("t_", "y_0_"),
                                   ("out", "args")])
def test_sympy_any_symbol_names_work(names):
    t_, x_ = sp.symbols("t x")
    T, X = sp.Symbol(names[0]), sp.Symbol(names[1])
    y0 = np.ones((20, 1))
    kw = dict(dt=0.1, seed=3, method="milstein")
    ref = solve_sde([-x_ + sp.sin(t_)], [0.2 * x_], (0.0, 1.0), y0, symbols=(t_, [x_]), **kw)
    r = solve_sde([-X + sp.sin(T)], [0.2 * X], (0.0, 1.0), y0, symbols=(T, [X]), **kw)
    np.testing.assert_array_equal(r.y, ref.y)
    with probspace.use_backend("generic"):
        rg = solve_sde([-X + sp.sin(T)], [0.2 * X], (0.0, 1.0), y0, symbols=(T, [X]), **kw)
    np.testing.assert_allclose(rg.y, ref.y, rtol=1e-12)


# --------------------------------------------------------------------------- additive matrix, sizes
def test_sri_additive_matrix_noise():
    """SRI with additive noise as a (d, m) matrix: a diagonal matrix equals the diagonal form,
    and the fused kernel equals the generic rung on a full matrix."""
    d = 2
    B = np.array([[0.3, 0.1, 0.0], [0.0, 0.2, 0.4]])
    y0 = np.ones((20, d))
    kw = dict(dt=0.05, seed=6, method="sri", noise="additive")
    f = lambda t, y: -y + np.sin(t)  # noqa: E731
    diag = solve_sde(f, lambda t, y: np.array([0.3, 0.2]), (0.0, 1.0), y0, **kw)
    mat = solve_sde(f, lambda t, y: np.diag([0.3, 0.2]), (0.0, 1.0), y0, m=2, **kw)
    np.testing.assert_allclose(mat.y, diag.y, rtol=1e-13, atol=1e-14)
    full = solve_sde(f, lambda t, y: B, (0.0, 1.0), y0, m=3, **kw)
    with probspace.use_backend("generic"):
        full_g = solve_sde(f, lambda t, y: B, (0.0, 1.0), y0, m=3, **kw)
    assert full.backend == "numba" and full_g.backend == "generic"
    np.testing.assert_allclose(full.y, full_g.y, rtol=1e-12, atol=1e-13)


def test_sri_additive_matrix_ou_variance():
    """dX = -X dt + B dW with B (1 x 2): Var X(T) = |B|^2 (1 - e^{-2T}) / 2 (chi-square band)."""
    B = np.array([[0.3, 0.4]])
    P, T = 40_000, 1.0
    r = solve_sde(lambda t, y: -y, lambda t, y: B, (0.0, T), np.zeros((P, 1)), dt=0.05, seed=8,
                  method="sri", noise="additive", m=2, t_eval=[T])
    x = r.y[:, 0, 0]
    var = 0.25 * (1 - math.exp(-2 * T)) / 2
    from scipy import stats
    s = float(np.sum(x ** 2) / var)
    lo, hi = stats.chi2.ppf([1e-5, 1 - 1e-5], P)
    assert lo < s < hi


def test_step_cap_and_memory_are_checked_before_any_work():
    f = lambda t, y: -y  # noqa: E731
    with pytest.raises(ValueError, match="max_steps"):
        solve_sde(f, f, (0.0, 1.0), np.ones((2, 1)), dt=1e-7)
    with pytest.raises(ValueError, match="t_eval"):
        solve_sde(f, f, (0.0, 1.0), np.ones((10_000, 1)), dt=1e-7, max_steps=10 ** 8)


def test_bad_convention_arguments():
    with pytest.raises(TypeError, match="vectorized"):
        solve_sde(lambda t, y: y, lambda t, y: y, (0.0, 1.0), np.ones(1), dt=0.1, vectorized=1)
    with pytest.raises(TypeError, match="args"):
        solve_sde(lambda t, y, a: y, lambda t, y, a: y, (0.0, 1.0), np.ones(1), dt=0.1, args=2.0)
    with pytest.raises(ValueError, match="m is implied"):
        solve_sde(lambda t, y: y, lambda t, y: y, (0.0, 1.0), np.ones(1), dt=0.1, m=2)


# --------------------------------------------------------------------------- README
def _readme_ou():
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    lines = block.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("#") and "Ornstein" in ln)
    stop = next(i for i, ln in enumerate(lines) if ln.startswith("ou.y.shape"))
    src = "\n".join(["import numpy as np, solvers"] + lines[start:stop + 1])
    assert "P = 100_000" in src
    return src


@pytest.mark.parametrize("P", [1, 2, 3, 40])
def test_readme_sde_example_is_right_at_every_batch_size(P):
    """The README's OU example, run as written with only P changed (P = 2 = d included),
    against the brute-force EM of every path."""
    ns: dict = {}
    exec(_readme_ou().replace("P = 100_000", f"P = {P}"), ns)  # noqa: S102
    ou, A = ns["ou"], ns["A"]
    ref = brute_em(lambda t, y: A @ y, lambda t, y: np.array([0.3, 0.2]), np.ones((P, 2)), 0.01,
                   100, 0, noise="additive")
    assert ou.y.shape == (P, 1, 2) and np.all(ou.status == 0)
    np.testing.assert_allclose(ou.y[:, 0], ref[:, -1], rtol=1e-12, atol=1e-14)


def test_traced_numbers_are_parameters_of_one_kernel():
    """A new value of a closure variable reuses the compiled kernel and is used (not a stale
    constant): each solve equals its own brute force."""
    y0 = np.linspace(0.5, 1.5, 20)[:, None]
    for mu in (0.2, -0.3, 1.7):
        f = lambda t, y: mu * y + 0.1 * t  # noqa: E731
        g = lambda t, y: 0.25 * y ** 2     # noqa: E731
        r = solve_sde(f, g, (0.0, 1.0), y0, dt=0.05, seed=9)
        assert r.backend == "numba"
        np.testing.assert_allclose(r.y, brute_em(f, g, y0, 0.05, 20, 9), rtol=1e-12, atol=1e-14)


def test_empty_batch_returns_at_once():
    calls = []
    r = solve_sde(lambda t, y: calls.append(1) or y, lambda t, y: y, (0.0, 1.0), np.ones((0, 2)),
                  dt=0.1, seed=1)
    assert r.y.shape == (0, 11, 2) and r.status.shape == (0,) and not calls
