"""probspace.random.Stream: known answers, cross-rung identity, distribution, spawning."""
import numpy as np
import pytest
from scipy import stats

import probspace
from probspace.random import Stream
from probspace.random import _numba as N
from probspace.random import _generic as G
from probspace.testing import xp_assert_equal

u64 = np.uint64

# Known-answer vectors for Philox4x32-10 published with Random123 (kat_vectors).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers_numba(ctr, key, want):
    got = N.philox4x32(*(u64(c) for c in ctr), u64(key[0]), u64(key[1]))
    assert tuple(int(w) for w in got) == want


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers_generic(xp, ctr, key, want):
    c = [xp.asarray([v], dtype=xp.uint64) for v in ctr]
    k = [xp.asarray(v, dtype=xp.uint64) for v in key]
    got = G.philox4x32(xp, *c, *k)
    assert tuple(int(w[0]) for w in got) == want


@pytest.mark.parametrize("kind", ["normal", "uniform"])
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_rungs_bit_identical(xp, kind, n):
    """Numba rung (numpy input) == generic rung in any namespace, bit for bit."""
    fast = getattr(Stream(123), kind)((n,))
    ref = getattr(Stream(123), kind)((n,), xp=xp)
    with probspace.use_backend("generic"):
        ref_np = getattr(Stream(123), kind)((n,))
    np.testing.assert_array_equal(fast, np.asarray(ref_np))
    np.testing.assert_array_equal(fast, probspace.to_numpy(ref))


def test_bit_identical_on_many_draws():
    a = Stream(2**63 + 5).normal(200_001)
    with probspace.use_backend("generic"):
        b = Stream(2**63 + 5).normal(200_001)
    np.testing.assert_array_equal(a, b)


def test_counter_layout_and_offsets():
    s = Stream(9)
    a = s.normal((3, 5))          # 15 numbers -> 8 blocks
    assert s.offset == 8
    b = s.normal(4)
    whole = Stream(9).normal(8 * 2 + 4)
    np.testing.assert_array_equal(a.ravel(), whole[:15])
    np.testing.assert_array_equal(b, whole[16:20])
    np.testing.assert_array_equal(Stream(9).at(8).normal(4), b)


def test_normal_distribution():
    z = Stream(2024).normal(400_000)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # moments: mean, variance, kurtosis within 5 standard errors
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    # pairs from one block are uncorrelated
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 5 / np.sqrt(n / 2)


def test_uniform_distribution_and_range():
    u = Stream(7).uniform(400_000)
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    v = Stream(7).uniform(10, low=-2.0, high=3.0)
    assert v.min() >= -2 and v.max() < 3


def test_deterministic_log_and_sincos_accuracy():
    n = np.array([1, 2, 3, 2**20 + 7, 2**52, 2**53 - 1, 2**53], dtype=np.uint64)
    import array_api_compat.numpy as cnp
    got = G.log_of_int53(cnp, n)
    want = np.log(n.astype(np.float64) * 2.0**-53)  # exact scaling: an accurate reference
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=1e-15)
    v = np.linspace(0, 1, 10_001, endpoint=False)
    s, c = G.sincos_2pi(cnp, v)
    np.testing.assert_allclose(s, np.sin(2 * np.pi * v), atol=2e-15)
    np.testing.assert_allclose(c, np.cos(2 * np.pi * v), atol=2e-15)


def test_spawn_children_independent_and_reproducible():
    kids = Stream(5).spawn(3)
    again = Stream(5).spawn(3)
    assert [k.id for k in kids] == [k.id for k in again]
    assert len({k.id for k in kids}) == 3
    more = Stream(5)
    more.spawn(3)
    later = more.spawn(2)
    assert {k.id for k in later}.isdisjoint({k.id for k in kids})
    assert Stream(5).child(1).id == kids[1].id
    draws = [k.normal(50_000) for k in kids]
    for i in range(3):
        for j in range(i + 1, 3):
            assert abs(np.corrcoef(draws[i], draws[j])[0, 1]) < 5 / np.sqrt(50_000)
    np.testing.assert_array_equal(Stream(5).spawn(3)[2].normal(10), draws[2][:10])


def test_dtype_and_namespace(xp):
    z = Stream(1).normal((2, 3), xp=xp, dtype=xp.float32)
    assert z.dtype == xp.float32 and tuple(z.shape) == (2, 3)
    z64 = Stream(1).normal((2, 3), xp=xp)
    xp_assert_equal(z, xp.astype(z64, xp.float32))


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                                     ("3", TypeError)])
def test_bad_seed(bad, exc):
    with pytest.raises(exc, match="seed"):
        Stream(bad)


def test_bad_shape_dtype():
    with pytest.raises(ValueError, match="shape"):
        Stream(1).normal((-1, 2))
    with pytest.raises(TypeError, match="dtype"):
        Stream(1).normal(3, dtype=np.int32)
    with pytest.raises(ValueError, match="high > low"):
        Stream(1).uniform(3, low=1.0, high=1.0)


def test_pickle_roundtrip():
    import pickle
    s = Stream(11)
    s.normal(5)
    t = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(s.normal(4), t.normal(4))


@pytest.mark.gpu
def test_cupy_rung_bit_identical():
    import cupy as cp
    a = Stream(77).normal(100_001)
    b = Stream(77).normal(100_001, xp=cp)
    np.testing.assert_array_equal(a, cp.asnumpy(b))
    u = Stream(77).uniform(1001)
    np.testing.assert_array_equal(u, cp.asnumpy(Stream(77).uniform(1001, xp=cp)))


def test_lane_generator_matches_scalar_normal_pair():
    """The vectorized lane generator equals the scalar one at arbitrary (counter, stream id)."""
    rng = np.random.default_rng(0)
    B = N.LANES
    idx = rng.integers(0, 2**63, size=B, dtype=np.uint64) * u64(2) + u64(1)
    sid = rng.integers(0, 2**63, size=B, dtype=np.uint64)
    k0, k1 = (u64(w) for w in N.split_key(u64(0xDEADBEEFCAFEF00D)))
    C0, C1 = idx & u64(0xFFFFFFFF), idx >> u64(32)
    S0, S1 = sid & u64(0xFFFFFFFF), sid >> u64(32)
    Z0, Z1 = np.empty(B), np.empty(B)
    W, NF, MB = np.empty((4, B), np.uint64), np.empty(B), np.empty(B, np.uint64)
    N.normal_pairs_lanes(k0, k1, C0, C1, S0, S1, Z0, Z1, W, NF, MB)
    for l in range(B):
        assert (Z0[l], Z1[l]) == N.normal_pair(k0, k1, S0[l], S1[l], idx[l])


def test_parallel_fill_bit_identical():
    n = 2**20 + 3  # above the size where Stream asks its thread gate
    a = Stream(31).normal(n)
    with probspace.use_backend("generic"):
        b = Stream(31).normal(n)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("normal", [True, False])
def test_fill_does_not_depend_on_the_thread_count(monkeypatch, normal):
    # The fill runs counter-block chunks on probspace._pool when its gate says so; force
    # 1..4 threads (and a stream offset that is not a multiple of the lane block) and compare
    # with the generic rung, bit for bit.
    from probspace import _pool
    n = 3 * 2**17 + 5
    gate = _pool.gate("probspace.random.normal" if normal else "probspace.random.uniform")
    with probspace.use_backend("generic"):
        s = Stream(77).at(13)
        ref = s.normal(n) if normal else s.uniform(n)
    chunks = []
    real_map = _pool.POOL.map_chunks
    monkeypatch.setattr(_pool.POOL, "map_chunks",
                        lambda fn, k, nt: chunks.append(k) or real_map(fn, k, nt))
    for nt in (1, 2, 3, 4):
        monkeypatch.setattr(gate, "threads", lambda work, max_threads=None, t=nt: t)
        s = Stream(77).at(13)
        got = s.normal(n) if normal else s.uniform(n)
        np.testing.assert_array_equal(got, ref)
    assert len(chunks) == 3 and min(chunks) >= 2      # the threaded runs used several chunks
