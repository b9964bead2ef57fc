"""ensemble: chunked and Dask results equal the single-process solve bit for bit."""
import numpy as np
import pytest
import sympy as sp

from solvers import ensemble, solve_sde

t_, x_ = sp.symbols("t x")


def _f(t, y):
    return 0.3 * y - y ** 3


def _g(t, y):
    return 0.5 + 0.1 * np.sin(y)


def test_chunks_equal_one_solve():
    ref = solve_sde(_f, _g, (0.0, 1.0), np.full((37, 1), 0.2), dt=0.05, seed=9)
    r = ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), n_paths=37, chunk_size=8, seed=9, dt=0.05)
    assert r.nchunks == 5
    assert np.array_equal(r.y, ref.y)
    # the fused kernel (sympy input) chunked equals itself unchunked
    kw = dict(symbols=(t_, [x_]), dt=0.05, method="milstein")
    a = ensemble([0.3 * x_ - x_ ** 3], [0.5 + 0.1 * sp.sin(x_)], (0.0, 1.0), np.array([0.2]),
                 n_paths=37, chunk_size=37, seed=9, **kw)
    b = ensemble([0.3 * x_ - x_ ** 3], [0.5 + 0.1 * sp.sin(x_)], (0.0, 1.0), np.array([0.2]),
                 n_paths=37, chunk_size=6, seed=9, **kw)
    assert a.backend == "numba"
    assert np.array_equal(a.y, b.y)


def test_dask_local_cluster_bit_identical():
    distributed = pytest.importorskip("distributed")
    ref = solve_sde(_f, _g, (0.0, 1.0), np.full((40, 1), 0.2), dt=0.05, seed=9)
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        r = ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), n_paths=40, seed=9, dt=0.05, client=client)
    assert r.nchunks == 4
    assert np.array_equal(r.y, ref.y)


def test_seed_none_is_shared_by_all_chunks():
    r = ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), n_paths=10, chunk_size=3, dt=0.1)
    ref = solve_sde(_f, _g, (0.0, 1.0), np.full((10, 1), 0.2), dt=0.1, seed=r.seed)
    assert np.array_equal(r.y, ref.y)


def test_errors():
    with pytest.raises(ValueError, match="n_paths"):
        ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), dt=0.1)
    with pytest.raises(ValueError, match="chunk_size"):
        ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), n_paths=3, chunk_size=0, dt=0.1)
    with pytest.raises(ValueError, match="brownian"):
        ensemble(_f, _g, (0.0, 1.0), np.array([0.2]), n_paths=3, dt=0.1, brownian=None)


def test_dask_worker_processes_bit_identical():
    """Separate worker processes (sympy input is pickled by value; each worker compiles the
    fused kernel) give the bits of the single-process fused solve."""
    distributed = pytest.importorskip("distributed")
    f, g = [0.3 * x_ - x_ ** 3], [0.5 + 0.1 * sp.sin(x_)]
    kw = dict(symbols=(t_, [x_]), dt=0.05)
    ref = solve_sde(f, g, (0.0, 1.0), np.full((30, 1), 0.2), seed=9, **kw)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        r = ensemble(f, g, (0.0, 1.0), np.array([0.2]), n_paths=30, seed=9, client=client, **kw)
    assert r.nchunks == 4 and r.backend == "numba"
    assert np.array_equal(r.y, ref.y)
