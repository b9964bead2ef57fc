"""probspace._pool: the shared pool of non-spinning threads and its chunking (no timings)."""
from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from probspace import _pool


def test_map_chunks_runs_every_chunk_once_and_propagates_errors():
    seen = []
    out = _pool.POOL.map_chunks(lambda c: seen.append(c) or c * c, 17, 3)
    assert out == [c * c for c in range(17)] and sorted(seen) == list(range(17))

    def boom(c):
        if c == 5:
            raise RuntimeError("chunk 5")
        return c
    with pytest.raises(RuntimeError, match="chunk 5"):
        _pool.POOL.map_chunks(boom, 9, 3)
    assert _pool.POOL.map_chunks(lambda c: c, 4, 2) == [0, 1, 2, 3]   # still usable
    assert _pool.POOL.map_chunks(lambda c: c, 0, 2) == []


def test_map_chunks_uses_several_threads():
    # Two chunks that wait for each other can only finish if they run on two threads.
    barrier = threading.Barrier(2, timeout=10)
    names = _pool.POOL.map_chunks(lambda c: barrier.wait() is not None
                                  and threading.current_thread().name, 2, 2)
    assert len(set(names)) == 2


@pytest.mark.parametrize("n, k, align", [(1000, 7, 1), (1000, 7, 64), (65, 4, 64), (5, 9, 1),
                                         (0, 3, 8), (64 * 5 + 3, 4, 64)])
def test_chunk_bounds_cover_once_and_align(n, k, align):
    b = _pool.chunk_bounds(n, k, align)
    assert b[0] == 0 and b[-1] == n
    assert all(x <= y for x, y in zip(b, b[1:]))
    assert all(x % align == 0 for x in b[:-1])
    assert len(b) - 1 <= max(1, k)


def test_run_threaded_chunks_tile_the_range_on_aligned_edges():
    seen = []
    out = _pool.run(lambda a, b: seen.append((a, b)) or b - a, 10_000, 1.0, "test.pool/run",
                    threads=3, align=64)
    assert sum(out) == 10_000 and len(seen) > 2
    edges = sorted(seen)
    assert edges[0][0] == 0 and edges[-1][1] == 10_000
    assert all(e[1] == f[0] and e[1] % 64 == 0 for e, f in zip(edges, edges[1:]))
    # serial: one call over the whole range
    assert _pool.run(lambda a, b: (a, b), 10, 1.0, "test.pool/run", threads=1) == [(0, 10)]


def test_run_asks_the_gate(monkeypatch):
    g = _pool.gate("test.pool/gate")
    assert _pool.gate("test.pool/gate") is g
    asked = []
    monkeypatch.setattr(g, "threads", lambda work, max_threads=None: asked.append(work) or 1)
    assert _pool.run(lambda a, b: b - a, 100, 3.0, g) == [100]
    assert asked == [300.0]


@numba.njit(nogil=True)
def _fill(out, a, b):
    for i in range(a, b):
        out[i] = np.sqrt(float(i))
    return b - a


def test_run_with_a_nogil_kernel_is_independent_of_threads():
    ref = np.empty(100_003)
    _fill(ref, 0, ref.size)
    for nt in (1, 2, 4):
        out = np.full_like(ref, np.nan)
        assert sum(_pool.run(lambda a, b: _fill(out, a, b), out.size, 1.0, "test.pool/fill",
                             threads=nt, align=8)) == out.size
        np.testing.assert_array_equal(out, ref)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_pool_works_in_a_forked_child():
    # Threads do not survive fork(): the child must get a fresh, working pool (not wait
    # forever on helpers that do not exist there).
    import multiprocessing as mp
    _pool.POOL.map_chunks(lambda c: c, 4, 2)          # the parent has helper threads
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as p:
        assert p.apply(_child_map, ()) == [0, 1, 4, 9, 16, 25]


def _child_map():
    return _pool.POOL.map_chunks(lambda c: c * c, 6, 3)
