"""Exact lattice computations in plain Python (small texts): enumeration, k-best, marginals.

These are written independently of the Numba kernels (edges found by dictionary lookups,
not by the trie), so tests can check one against the other.
"""
from __future__ import annotations

import heapq
import math

__all__ = ["lattice_edges", "forward", "count_paths", "enumerate_paths", "kbest", "edge_marginals"]


def lattice_edges(units, index, scores, maxlen, unk_score, single):
    """Edges of the lattice of ``units`` (a str or bytes), grouped by end position.

    ``index`` maps a piece (same type as ``units``) to its id, ``scores[id]`` its score;
    ``single`` is the set of one-symbol pieces.  Returns ``ends[e] = [(s, pid, v), ...]``
    with pid -1 for an unknown edge.
    """
    n = len(units)
    ends = [[] for _ in range(n + 1)]
    for s in range(n):
        if units[s:s + 1] not in single:
            ends[s + 1].append((s, -1, unk_score))
        for L in range(1, min(maxlen, n - s) + 1):
            pid = index.get(units[s:s + L])
            if pid is not None:
                ends[s + L].append((s, pid, float(scores[pid])))
    return ends


def _lse(xs):
    m = max(xs)
    if m == -math.inf:
        return m
    return m + math.log(sum(math.exp(x - m) for x in xs))


def forward(ends, alpha):
    """log Z(e) for every prefix, weights exp(alpha * v)."""
    n = len(ends) - 1
    Z = [0.0] + [-math.inf] * n
    for e in range(1, n + 1):
        Z[e] = _lse([Z[s] + alpha * v for s, _, v in ends[e]])
    return Z


def backward(ends, alpha):
    n = len(ends) - 1
    B = [-math.inf] * n + [0.0]
    for e in range(n, 0, -1):
        for s, _, v in ends[e]:
            B[s] = _lse([B[s], alpha * v + B[e]])
    return B


def count_paths(ends):
    """Number of segmentations (exact integer DP)."""
    n = len(ends) - 1
    N = [1] + [0] * n
    for e in range(1, n + 1):
        N[e] = sum(N[s] for s, _, _ in ends[e])
    return N[n]


def enumerate_paths(ends):
    """Every segmentation as a list of edges ``(s, e, pid, v)`` (depth-first, iterative)."""
    n = len(ends) - 1
    starts = [[] for _ in range(n + 1)]
    for e in range(1, n + 1):
        for s, pid, v in ends[e]:
            starts[s].append((s, e, pid, v))
    out = []
    stack = [(0, [])]
    while stack:
        pos, path = stack.pop()
        if pos == n:
            out.append(path)
            continue
        for edge in reversed(starts[pos]):
            stack.append((edge[1], path + [edge]))
    return out


def kbest(ends, k, float32=False):
    """The k highest-scoring segmentations, exactly (k-best Viterbi), best first.

    ``best[e]`` holds the top-k prefix paths ending at e as (score, s, pid, v, rank of the
    prefix in best[s]); a path's top-k continuation only needs its prefix's top-k, so this is
    exact.  Ties are broken deterministically by (start, piece id, rank).  With ``float32``
    the prefix scores are summed in float32, left to right (as SentencePiece's Viterbi).
    """
    if float32:
        import numpy as np
        f32 = np.float32

        def add(a, b):
            return float(f32(a) + f32(b))
    else:
        def add(a, b):
            return a + b
    n = len(ends) - 1
    best = [[] for _ in range(n + 1)]
    best[0] = [(0.0, -1, -1, 0.0, -1)]
    for e in range(1, n + 1):
        cands = []
        for s, pid, v in ends[e]:
            for r, entry in enumerate(best[s]):
                cands.append((add(entry[0], v), -s, -pid, -r, (s, pid, v, r)))
        top = heapq.nlargest(k, cands)
        best[e] = [(c[0], *c[4]) for c in top]
    out = []
    for entry in best[n]:
        edges = []
        e, cur = n, entry
        while e > 0:
            _, s, pid, v, r = cur
            edges.append((s, e, pid, v))
            e = s
            cur = best[s][r] if s > 0 else None
        out.append((entry[0], edges[::-1]))
    return out


def edge_marginals(ends, alpha):
    """(edge (s, e, pid), probability) for every edge, and log Z."""
    Z = forward(ends, alpha)
    B = backward(ends, alpha)
    lz = Z[-1]
    out = []
    for e in range(1, len(ends)):
        for s, pid, v in ends[e]:
            out.append(((s, e, pid), math.exp(Z[s] + alpha * v + B[e] - lz)))
    return out, lz
