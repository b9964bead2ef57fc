"""The calling convention of solve_ode (issue 10) and the per-call output checks of the compiled
rung (issue 14).

Truth: scipy's solve_ivp (DOP853 at tight tolerance) run member by member, closed forms.  The
README example is extracted from README.md and run as written (only the batch size changes).
"""
from __future__ import annotations

import ast
import pathlib
import re
import warnings

import numpy as np
import pytest

from probspace import use_backend
from probspace.testing import run_isolated
import solvers
from solvers import CompileFallbackWarning, per_member, solve_ode

scipy_integrate = pytest.importorskip("scipy.integrate")

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


# --------------------------------------------------------------------------- README example
def _readme_lorenz():
    """The Lorenz lines of the README's code block, from its comment to ``sol.y.shape``."""
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    lines = block.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("#") and "Lorenz" in ln)
    stop = next(i for i, ln in enumerate(lines) if ln.startswith("sol.y.shape"))
    imports = [ln for ln in lines[:start] if ln.startswith(("import ", "from "))]
    src = "\n".join(imports + lines[start:stop + 1])
    assert "n = 10_000" in src and "per_member(rho)" in src
    return src


def _with_n(src, n):
    return src.replace("n = 10_000", f"n = {n}")


def _check_against_scipy(sol, n):
    """Every member against scipy per member: all rows for the non-chaotic members
    (rho < 24.74: they settle on a fixed point), rows up to t = 2 for the chaotic ones (after
    that, tolerance-level differences grow like exp(0.9 t) for every solver).  The README runs
    at the default tolerances (rtol 1e-6): measured differences are below 3e-5 relative."""
    te = np.linspace(0, 10, 101)
    rho = np.linspace(10, 50, n)
    assert sol.y.shape == (n, 101, 3) and np.all(np.asarray(sol.status) == 0)
    for i, r in enumerate(rho):
        ref = scipy_integrate.solve_ivp(
            lambda t, y, rho: [10 * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1],
                               y[0] * y[1] - 8 / 3 * y[2]],
            (0, 10), np.ones(3), args=(r,), method="DOP853", rtol=1e-12, atol=1e-12,
            t_eval=te).y.T
        rows = slice(None) if r < 24.0 else te <= 2.0
        err = np.abs(np.asarray(sol.y[i])[rows] - ref[rows]) / (1 + np.abs(ref[rows]))
        assert err.max() < 1e-4, (n, i, r, err.max())


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_readme_example_is_right_at_every_batch_size(n):
    # n = 3 = d was silently wrong when the calling convention was guessed from shapes
    ns = {}
    exec(_with_n(_readme_lorenz(), n), ns)  # noqa: S102 - the README's own code
    _check_against_scipy(ns["sol"], n)


def test_readme_example_compiled_rung_every_batch_size():
    src = _readme_lorenz()
    ns = {}
    with use_backend("numba"):
        exec(_with_n(src, 16), ns)  # noqa: S102 - compiles the fused kernel once
        assert ns["sol"].backend == "numba"
        _check_against_scipy(ns["sol"], 16)
        # the same statements (without re-defining lorenz) at the small batch sizes
        for n in (1, 2, 3, 5):
            body = [st for st in ast.parse(_with_n(src, n)).body
                    if not isinstance(st, ast.FunctionDef)]
            exec(compile(ast.Module(body=body, type_ignores=[]), "<README>", "exec"), ns)  # noqa: S102
            assert ns["sol"].backend == "numba"
            _check_against_scipy(ns["sol"], n)


# --------------------------------------------------------------------------- args
def test_plain_args_pass_unchanged_per_member_args_are_sliced():
    # A has the batch's leading shape (3, 3): as a plain arg it is passed whole to every
    # member (scipy's semantics), never sliced because of its shape
    A = np.array([[-1.0, 0.5, 0.0], [0.0, -2.0, 0.3], [0.1, 0.0, -0.5]])
    y0 = np.eye(3)

    def lin(t, y, A):
        return A @ y

    for be in ("generic", "numba"):
        with use_backend(be):
            r = solve_ode(lin, (0.0, 1.0), y0, args=(A,), rtol=1e-10, atol=1e-12)
        assert r.backend == be
        from scipy.linalg import expm
        np.testing.assert_allclose(r.y[:, -1], (expm(A) @ y0).T, rtol=1e-8, atol=1e-10)
    # per_member: member i gets k[i] (a number)
    k = np.array([1.0, 2.0, 3.0])
    for be in ("generic", "numba"):
        with use_backend(be):
            r = solve_ode(lambda t, y, k: -k * y, (0.0, 1.0), np.ones((3, 1)),
                          args=(per_member(k),), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r.y[:, -1, 0], np.exp(-k), rtol=1e-8)
    # per_member with trailing dimensions: member i gets a row
    M = np.stack([A, 2 * A, -A])
    r = solve_ode(lin, (0.0, 0.5), y0, args=(per_member(M),), rtol=1e-10, atol=1e-12)
    from scipy.linalg import expm
    for i in range(3):
        np.testing.assert_allclose(r.y[i, -1], expm(0.5 * M[i]) @ y0[i], rtol=1e-8, atol=1e-10)
    # vectorized=True receives the whole per-member array
    seen = {}

    def fv(t, y, k):
        seen["shape"] = (k.shape, t.shape)
        return -k[:, None] * y

    solve_ode(fv, (0.0, 1.0), np.ones((3, 1)), args=(per_member(k),), vectorized=True)
    assert seen["shape"] == ((3,), (3,))


def test_args_errors():
    f = lambda t, y, a: -a * y  # noqa: E731
    with pytest.raises(TypeError, match="args must be a tuple"):
        solve_ode(f, (0.0, 1.0), np.ones(1), args=-1.0)
    with pytest.raises(ValueError, match=r"args\[1\] is per_member.*shape \(4,\).*batch shape \(3,\)"):
        solve_ode(lambda t, y, a, b: -a * b * y, (0.0, 1.0), np.ones((3, 1)),
                  args=(1.0, per_member(np.ones(4))))
    # a list is unpacked like a tuple
    r = solve_ode(f, (0.0, 0.1), np.ones(1), args=[-1.0])
    np.testing.assert_allclose(r.y[-1, 0], np.exp(0.1), rtol=1e-6)


# --------------------------------------------------------------------------- compiled forms
def _helper_sq(x):
    return x * x


def _uses_helper(t, y):
    return np.array([y[1], -_helper_sq(y[0]) * y[0]])


def _returns_tuple(t, y):
    return (y[1], -y[0])


def _returns_mixed_tuple(t, y):
    return (y[1], 0) if t < 0 else (y[1], -y[0])


def test_compiled_forms_arrays_tuples_helpers():
    y0 = np.stack([np.linspace(0.5, 1.5, 16), np.zeros(16)], -1)
    te = np.linspace(0, 2, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)
        for f in (_returns_tuple, _returns_mixed_tuple):
            r = solve_ode(f, (0.0, 2.0), y0, t_eval=te, rtol=1e-10, atol=1e-12)
            assert r.backend == "numba"
            np.testing.assert_allclose(r.y[..., 0], y0[:, :1] * np.cos(te), rtol=1e-8, atol=1e-9)
        r = solve_ode(_uses_helper, (0.0, 2.0), y0, t_eval=te, rtol=1e-10, atol=1e-12)
        assert r.backend == "numba"  # the module-level helper is compiled with it
    for i in (0, 7, 15):
        ref = scipy_integrate.solve_ivp(_uses_helper, (0, 2), y0[i], t_eval=te, method="DOP853",
                                        rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r.y[i], ref.y.T, rtol=1e-8, atol=1e-9)


class _NotCompilable:
    def __call__(self, t, y):
        return -y


def test_python_fallback_warns_once_and_is_right():
    f = _NotCompilable()
    y0 = np.linspace(1.0, 2.0, 16)[:, None]
    with pytest.warns(CompileFallbackWarning, match=r"@numba.njit.*vectorized=True.*sympy"):
        r = solve_ode(f, (0.0, 1.0), y0, rtol=1e-10, atol=1e-12)
    assert r.backend == "generic"
    np.testing.assert_allclose(r.y[:, -1, 0], y0[:, 0] * np.exp(-1.0), rtol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)  # one-time: no second warning
        solve_ode(f, (0.0, 1.0), y0)


def test_vectorized_time_shape():
    shapes = []

    def f(t, y):
        shapes.append((np.shape(t), np.shape(y)))
        return -y

    solve_ode(f, (0.0, 1.0), np.ones((2, 3, 4)), vectorized=True)
    assert set(shapes) == {((2, 3), (2, 3, 4))}
    shapes.clear()
    solve_ode(f, (0.0, 1.0), np.ones(4), vectorized=True)
    assert set(shapes) == {((), (4,))}
    shapes.clear()
    solve_ode(f, (0.0, 1.0), np.ones((2, 4)))  # per member: t a float, y of shape (4,)
    assert {type(s) for s in shapes} and set(shapes) == {((), (4,))}


# --------------------------------------------------------------------------- issue 14: every call
_CHILD = """
import numpy as np
from probspace import use_backend
from solvers import per_member, solve_ode

def f(t, y, n_bad):
    if t > 0.5:
        return np.zeros(n_bad)   # the wrong length for n_bad != 2, from t > 0.5 on
    return np.array([y[1], -y[0]])

n_bad = np.array([1, 3, 2, 7])
y0 = np.tile([1.0, 0.0], (4, 1))
for kw in (dict(), dict(method="rk4", dt0=0.01), dict(method="tsit5")):
    with use_backend("numba"):
        r = solve_ode(f, (0.0, 1.0), y0, args=(per_member(n_bad),), t_eval=[0.25, 0.5, 1.0], **kw)
    assert r.backend == "numba", r.backend
    st = np.asarray(r.status)
    assert list(st) == [-5, -5, 0, -5], st
    for i, n in ((0, 1), (1, 3), (3, 7)):
        msg = str(r.message[i])
        assert f"shape ({n},)" in msg and "expected shape (2,)" in msg, msg
        tf = float(r.t_final[i])
        assert 0.25 < tf <= 0.5 + 1e-12, r.t_final
        k = int(r.n_out[i])
        assert k == int(np.sum(np.array([0.25, 0.5, 1.0]) <= tf)), (k, tf)
        assert np.all(np.isnan(r.y[i, k:])), r.y[i]
        np.testing.assert_allclose(r.y[i, :k, 0], np.cos([0.25, 0.5][:k]), rtol=1e-5)
        np.testing.assert_allclose(r.y_final[i], [np.cos(tf), -np.sin(tf)], rtol=1e-5)
    # member 2 returns the right length (zeros: y' = 0 after t = 0.5) and succeeds
    np.testing.assert_allclose(r.y[2, -1], [np.cos(0.5), -np.sin(0.5)], atol=2e-3)
print("ok")
"""


@pytest.mark.parametrize("boundscheck", ["0", "1"])
def test_compiled_rung_checks_output_length_on_every_call(boundscheck, tmp_path):
    # in a child process: before the fix a wrong length was read out of bounds (and reported
    # as success); with NUMBA_BOUNDSCHECK=1 any stray access would raise instead
    res = run_isolated(_CHILD, env={"NUMBA_BOUNDSCHECK": boundscheck,
                                    "NUMBA_CACHE_DIR": str(tmp_path)}, timeout=600)
    assert "ok" in res.stdout


def test_generic_rung_reports_wrong_length_per_member():
    def f(t, y, n_bad):
        if t > 0.5:
            return np.zeros(n_bad)
        return np.array([y[1], -y[0]])

    r = solve_ode(f, (0.0, 1.0), np.tile([1.0, 0.0], (3, 1)), args=(per_member([1, 2, 3]),))
    assert r.backend == "generic"
    np.testing.assert_array_equal(r.status, [-5, 0, -5])
    assert "shape (3,)" in r.message[2] and "expected shape (2,)" in r.message[2]
    # the first call is checked at the boundary: a clear error, not a status
    with pytest.raises(ValueError, match=r"f returned shape \(3,\) for one member at t0"):
        solve_ode(lambda t, y: np.zeros(3), (0.0, 1.0), np.ones((2, 2)))


def test_solvers_exports():
    assert solvers.per_member is per_member
    assert isinstance(per_member(np.ones(2)), solvers.PerMember)
    assert issubclass(solvers.CompileFallbackWarning, UserWarning)
