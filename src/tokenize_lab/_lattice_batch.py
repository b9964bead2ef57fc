"""Batch drivers for the lattice kernels: one small serial kernel per method, run over
chunks of texts on a thread pool.

Why not one ``parallel=True`` kernel with every method inside: Numba compiles a kernel with
everything it might call, and parallel lowering is slow, so the first Viterbi ``encode`` of
a process used to compile the samplers and the parfor machinery too (18-36 s with an empty
cache).  Here each method has its own serial, ``nogil`` chunk kernel that compiles only what
that method uses; chunks run on a thread pool (the GIL is released inside the kernels), and
a small batch runs in the calling thread without the pool.  The per-text kernels and the
random streams are those of :mod:`._lattice_numba`, so outputs are unchanged.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from probspace import _compile_notice as _cn
from probspace.random._numba import split_key

from . import _lattice_numba as K

__all__ = ["run_encode", "run_chunks", "compile_notice", "compact"]

# -- per-text Viterbi in float64 (the float32 one lives in _lattice_numba) ------------------
@nb.njit(cache=True, nogil=True)
def _viterbi64_one(sym, a, n, base, check, piece, score, unk_score, out_pid, out_end, Z,
                   route, rpid):
    """Viterbi summing in float64; the same edges in the same order as ``_encode_one`` (the
    unknown edge first, then pieces shortest first, ``>=`` so the longest wins ties)."""
    Z[0] = 0.0
    size = base.shape[0]
    b0 = base[0]
    for e in range(1, n + 1):
        pos = e - 1
        x = sym[a + pos]
        t = -1
        if x >= 0:
            t = b0 + x
            if t >= size or check[t] != 0:
                t = -1
        best = -np.inf
        bs = e - 1
        bp = -1
        if t < 0 or piece[t] < 0:
            best = Z[e - 1] + unk_score
        while t >= 0:
            p = piece[t]
            st = pos
            if pos == 0:
                t = -1
            else:
                pos -= 1
                x = sym[a + pos]
                if x < 0:
                    t = -1
                else:
                    t2 = base[t] + x
                    t = t2 if (t2 < size and check[t2] == t) else -1
            if p >= 0:
                c = Z[st] + score[p]
                if c >= best:
                    best = c
                    bs = st
                    bp = p
        Z[e] = best
        route[e] = bs
        rpid[e] = bp
    k = K._backtrack(route, rpid, n, out_pid, out_end)
    return k, Z[n]


@nb.njit(cache=True, nogil=True, inline="always")
def _longest(offsets, lo, hi):
    nmax = 0
    for t in range(lo, hi):
        nmax = max(nmax, offsets[t + 1] - offsets[t])
    return nmax


# -- chunk kernels: texts lo..hi-1, outputs at each text's offset ---------------------------
@nb.njit(cache=True, nogil=True)
def viterbi_chunk(sym, offsets, lo, hi, base, check, piece, score, unk_score, out_pid,
                  out_end, out_count, out_logz):
    nmax = _longest(offsets, lo, hi)
    Z = np.empty(nmax + 1)
    route = np.empty(nmax + 1, dtype=np.int32)
    rpid = np.empty(nmax + 1, dtype=np.int32)
    for t in range(lo, hi):
        a = offsets[t]
        n = offsets[t + 1] - a
        if n == 0:
            out_count[t] = 0
            out_logz[t] = 0.0
            continue
        k, lz = _viterbi64_one(sym, a, n, base, check, piece, score, unk_score,
                               out_pid[a:a + n], out_end[a:a + n], Z, route, rpid)
        out_count[t] = k
        out_logz[t] = lz


@nb.njit(cache=True, nogil=True)
def viterbi32_chunk(sym, offsets, lo, hi, base, check, piece, score32, unk_score, out_pid,
                    out_end, out_count, out_logz):
    nmax = _longest(offsets, lo, hi)
    Z32 = np.empty(nmax + 1, dtype=np.float32)
    route = np.empty(nmax + 1, dtype=np.int32)
    rpid = np.empty(nmax + 1, dtype=np.int32)
    unk32 = np.float32(unk_score)
    for t in range(lo, hi):
        a = offsets[t]
        n = offsets[t + 1] - a
        if n == 0:
            out_count[t] = 0
            out_logz[t] = 0.0
            continue
        k, lz = K._viterbi32_one(sym, a, n, base, check, piece, score32, unk32,
                                 out_pid[a:a + n], out_end[a:a + n], Z32, route, rpid)
        out_count[t] = k
        out_logz[t] = lz


@nb.njit(cache=True, nogil=True)
def perfect_chunk(sym, offsets, lo, hi, base, check, piece, key, parent, first, out_pid,
                  out_end, out_count, out_logz, em, eE, um, uE, p2):
    k0, k1 = split_key(key)
    nmax = _longest(offsets, lo, hi)
    Z = np.empty(nmax + 1)
    ZE = np.empty(nmax + 1, dtype=np.int64)
    route = np.empty(nmax + 1, dtype=np.int32)
    rpid = np.empty(nmax + 1, dtype=np.int32)
    U = np.empty(2 * K._UL)
    for t in range(lo, hi):
        a = offsets[t]
        n = offsets[t + 1] - a
        if n == 0:
            out_count[t] = 0
            out_logz[t] = 0.0
            continue
        s0, s1 = split_key(K.child_id(k0, k1, parent, np.uint64(first) + np.uint64(t)))
        k, lz = K._perfect_one(sym, a, n, base, check, piece, k0, k1, s0, s1,
                               out_pid[a:a + n], out_end[a:a + n], Z, ZE, route, rpid,
                               em, eE, um, uE, p2, U)
        out_count[t] = k
        out_logz[t] = lz


@nb.njit(cache=True, nogil=True)
def generic_chunk(sym, offsets, lo, hi, base, check, piece, score, unk_score, alpha, method,
                  key, parent, first, maxlen, out_pid, out_end, out_count, out_logz, score32):
    """Every other method (FFBS, Gumbel, the original sampler, Viterbi without the full
    edge) through the general per-text kernel."""
    k0, k1 = split_key(key)
    nmax = _longest(offsets, lo, hi)
    Z = np.empty(nmax + 1)
    route = np.empty(nmax + 1, dtype=np.int32)
    rpid = np.empty(nmax + 1, dtype=np.int32)
    ZE = np.empty(nmax + 1, dtype=np.int64)
    Z32 = np.empty(1, dtype=np.float32)
    cs = np.empty(maxlen + 1, dtype=np.int32)
    cp = np.empty(maxlen + 1, dtype=np.int32)
    em = np.ones(1)
    eE = np.zeros(1, dtype=np.int64)
    p2 = np.ones(1)
    unk32 = np.float32(unk_score)
    for t in range(lo, hi):
        a = offsets[t]
        n = offsets[t + 1] - a
        if n == 0:
            out_count[t] = 0
            out_logz[t] = 0.0
            continue
        s0, s1 = split_key(K.child_id(k0, k1, parent, np.uint64(first) + np.uint64(t)))
        k, lz = K._encode_one(sym, a, n, base, check, piece, score, unk_score, alpha, method,
                              k0, k1, s0, s1, out_pid[a:a + n], out_end[a:a + n], Z, route,
                              rpid, cs, cp, ZE, em, eE, 1.0, 0, p2, Z32, score32, unk32)
        out_count[t] = k
        out_logz[t] = lz


def compact(pid, end, offsets, count):
    """Gather each text's pieces (stored from its text offset on) into contiguous arrays
    (NumPy: one gather, no kernel to compile)."""
    cc = np.cumsum(count)
    tot = int(cc[-1]) if cc.shape[0] else 0
    idx = np.arange(tot) + np.repeat(offsets[:-1] - (cc - count), count)
    return pid[idx].astype(np.int64), end[idx]


# -- thread pool ----------------------------------------------------------------------------
_pool = None
_pool_key = None
_pool_lock = threading.Lock()
_SERIAL_SYMBOLS = 1 << 15  # below this many symbols a batch runs in the calling thread


def _executor(n):
    """The shared pool of ``n`` threads (a new one after a fork: threads do not survive it)."""
    global _pool, _pool_key
    key = (n, os.getpid())
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key[1] == key[1]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="tokenize_lab")
            _pool_key = key
        return _pool


def run_chunks(kernel, offsets, args_before, args_after, n_threads=None, compiled=None):
    """Call ``kernel(*args_before, lo, hi, *args_after)`` over chunks of the texts of
    ``offsets`` (balanced by symbols), on ``numba.get_num_threads()`` threads; returns the
    chunks as ``(lo, hi)`` pairs.  ``kernel`` is a ``nogil`` Numba kernel, or a Python
    function that spends its time in such kernels, listed in ``compiled``: while one of them
    has not been compiled (or loaded) in this process, the first chunk runs alone in the
    calling thread."""
    nt = offsets.shape[0] - 1
    total = int(offsets[-1])
    n_threads = nb.get_num_threads() if n_threads is None else n_threads
    if n_threads <= 1 or nt <= 1 or total < _SERIAL_SYMBOLS:
        kernel(*args_before, 0, nt, *args_after)
        return [(0, nt)]
    n_chunks = min(nt, 4 * n_threads)
    cuts = np.searchsorted(offsets, (total * np.arange(1, n_chunks)) // n_chunks)
    bounds = np.unique(np.concatenate(([0], np.minimum(cuts, nt), [nt]))).tolist()
    pairs = [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]
    rest = pairs
    if not all(d.signatures for d in (compiled or [kernel])):
        kernel(*args_before, *pairs[0], *args_after)
        rest = pairs[1:]
    futures = [_executor(n_threads).submit(kernel, *args_before, lo, hi, *args_after)
               for lo, hi in rest]
    for f in futures:
        f.result()
    return pairs


# -- first-call notice ----------------------------------------------------------------------
@contextlib.contextmanager
def compile_notice(what, dispatchers, estimate, after=None):
    """One line on stderr if the block, the first call of ``dispatchers`` in this process,
    runs longer than ``after`` seconds (probspace's threshold, 1 s): "probspace: compiling
    the tokenize_lab <what> (first call, ~<estimate>; cached afterwards) ...".

    The line comes from probspace's compile notice (silenced by
    ``PROBSPACE_COMPILE_NOTICE=0``); its per-kernel watcher is told about ``dispatchers`` so
    that the operation is announced once, under this name, not kernel by kernel.
    """
    ds = dispatchers if isinstance(dispatchers, (list, tuple)) else [dispatchers]
    if all(d.signatures for d in ds):
        yield
        return
    with _cn._lock:
        _cn._announced.update(_cn._kernel_name(d) for d in ds)
    threshold = _cn.THRESHOLD if after is None else after
    with _cn.compiling(f"the tokenize_lab {what}", f"first call, ~{estimate}; cached afterwards",
                       threshold=threshold):
        yield


# -- the entry point used by UnigramModel ---------------------------------------------------
_WHAT = {K.VITERBI: "Viterbi kernel", K.VITERBI_F32: "Viterbi kernel",
         K.PERFECT: "perfect-sampling kernel"}


def run_encode(method, sym, offsets, trie, score, score32, unk_score, alpha, key, parent,
               first, maxlen, out_pid, out_end, out_count, out_logz, pow2):
    """Segment every text with ``method`` (a ``_lattice_numba`` method code)."""
    base, check, piece = trie
    outs = (out_pid, out_end, out_count, out_logz)
    unk_score = float(unk_score)
    if method == K.VITERBI:
        kernel, after = viterbi_chunk, (base, check, piece, score, unk_score, *outs)
    elif method == K.VITERBI_F32:
        kernel, after = viterbi32_chunk, (base, check, piece, score32, unk_score, *outs)
    elif method == K.PERFECT:
        em, eE, um, uE, p2 = pow2
        kernel, after = perfect_chunk, (base, check, piece, np.uint64(key), np.uint64(parent),
                                        np.uint64(first), *outs, em, eE, float(um), int(uE),
                                        p2)
    else:
        kernel, after = generic_chunk, (base, check, piece, score, unk_score, float(alpha),
                                        int(method), np.uint64(key), np.uint64(parent),
                                        np.uint64(first), int(maxlen), *outs, score32)
    with compile_notice(_WHAT.get(method, "sampling kernel"), kernel,
                        "5 s" if kernel is generic_chunk else "1 s"):
        run_chunks(kernel, offsets, (sym, offsets), after)
