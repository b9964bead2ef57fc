"""Numba lattice kernels: Viterbi, the exact samplers, the biased original, forward-backward.

The per-text kernels here read text ``t`` as ``sym[offsets[t]:offsets[t+1]]``, the
concatenation of all texts as dense symbol ids (-1 for a symbol outside the vocabulary's
alphabet).  The batch drivers (one small serial kernel per method, run over chunks of texts
on a thread pool) are in :mod:`._lattice_batch`.

Lattice: an edge ``(s, e)`` for every piece equal to ``text[s:e]``, found by walking the
reversed-piece trie backwards from ``e``, plus an *unknown* edge ``(e-1, e)`` (piece id -1,
score ``unk_score``) wherever no one-symbol piece covers ``text[e-1]`` (SentencePiece's
rule), so every position is reachable and no text is ever dropped.

Randomness: text ``t`` uses child stream ``first + t`` of the caller's stream (child ids
computed in the kernel, equal to ``Stream.child_ids``), and its k-th uniform comes from
counter block ``k // 2`` (slot ``k % 2``) of that stream; the draws depend only on
(seed, t, k), never on threads or batch layout.  Uniforms are consumed in lattice order:
perfect, one per edge after the first at each position; Gumbel, one per edge where a
position has two or more; FFBS, one per backward step with a choice; the original
sampler, one per duel.

Method codes: 0 Viterbi, 1 perfect sampling (forward log-sum-exp + weighted reservoir
backpointers in one pass), 2 forward-filtering backward-sampling, 3 Gumbel-max backpointers
over the forward table, 4 the original (biased) Viterbi sampling of BytePiece v0.4,
5 Viterbi summing in float32 (SentencePiece-compatible ties), 6 Viterbi that may not use
the edge spanning the whole text (a piece's best alternative segmentation, for pruning).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from probspace.random import _constants as RC
from probspace.random._numba import philox4x32, uniform_pair, uniform_pairs_ahead

VITERBI, PERFECT, FFBS, GUMBEL, V0, VITERBI_F32, VITERBI_NO_FULL = 0, 1, 2, 3, 4, 5, 6
_NEG_INF = -np.inf


@nb.njit(cache=True, nogil=True)
def gather(sym, a, e, base, check, piece, cand_s, cand_p):
    """Edges ending at position ``e`` of the text starting at ``a``, shortest first.

    Walks the reversed-piece double-array trie backwards from ``e - 1``.  Fills ``cand_s``
    (start positions, relative to the text) and ``cand_p`` (piece ids, -1 for the unknown
    edge) and returns how many.
    """
    m = 0
    size = base.shape[0]
    pos = e - 1
    node = 0
    x = sym[a + pos]
    t = -1
    if x >= 0:
        t = base[0] + x
        if t >= size or check[t] != 0:
            t = -1
    if t < 0 or piece[t] < 0:
        cand_s[0] = pos
        cand_p[0] = -1
        m = 1
    while t >= 0:
        node = t
        p = piece[node]
        if p >= 0:
            cand_s[m] = pos
            cand_p[m] = p
            m += 1
        if pos == 0:
            break
        pos -= 1
        x = sym[a + pos]
        if x < 0:
            break
        t = base[node] + x
        if t >= size or check[t] != node:
            break
    return m


_SPAWN_TAG = np.uint64(RC.SPAWN_TAG)
_MASK32 = np.uint64(RC.MASK32)


@nb.njit(cache=True, nogil=True)
def child_id(k0, k1, parent, i):
    """Id of child ``i`` of stream ``parent`` (as ``Stream.child_ids``, computed in-kernel)."""
    idx = np.uint64(i)
    par = np.uint64(parent)
    w0, w1, w2, w3 = philox4x32(idx & _MASK32, _SPAWN_TAG, par & _MASK32,
                                par >> np.uint64(32), np.uint64(k0), np.uint64(k1))
    return (w1 << np.uint64(32)) | w0


@nb.njit(cache=True, nogil=True, inline="always")
def _logaddexp(x, y):
    if x == _NEG_INF:
        return y
    if y == _NEG_INF:
        return x
    if x > y:
        return x + np.log1p(np.exp(y - x))
    return y + np.log1p(np.exp(x - y))


@nb.njit(cache=True, nogil=True)
def _encode_one(sym, a, n, base, check, piece, score, unk_score, alpha, method,
                k0, k1, s0, s1, out_pid, out_end, Z, route, rpid, cs, cp, ZE, em, eE, um, uE, p2,
                Z32, score32, unk32):
    Z[0] = 0.0
    Z32[0] = np.float32(0.0)
    if method == PERFECT:
        # Exp-free representation: Z(e) = Z[e] * 2**ZE[e] with Z[e] in [0.5, 1), and each
        # piece weight exp(alpha v) = em[p] * 2**eE[p] with em in [1, 2) (precomputed per call),
        # so an edge costs a multiply and a table lookup p2[k] = 2**-k instead of an exp.
        Z[0] = 0.5
        ZE[0] = 1
    blk = np.uint64(0)
    slot = 0
    u1 = 0.0
    size = base.shape[0]
    for e in range(1, n + 1):
        if method == VITERBI or method == VITERBI_F32 or method == PERFECT or method == FFBS:
            # Hot paths: the trie walk and the per-edge update fused (no candidate buffer).
            # Edges come shortest first, the unknown edge (if any) first of all.
            pos = e - 1
            x = sym[a + pos]
            t = -1
            if x >= 0:
                t = base[0] + x
                if t >= size or check[t] != 0:
                    t = -1
            pending_unk = t < 0 or piece[t] < 0
            best = _NEG_INF
            mx = _NEG_INF
            W = 0.0
            bs = e - 1
            bp = -1
            first = True
            best32 = np.float32(-np.inf)
            ref = 0
            while True:
                if pending_unk:
                    st = e - 1
                    p = -1
                    v = unk_score
                    pending_unk = False
                else:
                    if t < 0:
                        break
                    p = piece[t]
                    st = pos
                    # advance the walk before using (st, p)
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
                    if p < 0:
                        continue
                    v = score[p]
                if method == PERFECT:
                    if p < 0:
                        mm = Z[st] * um
                        ee = ZE[st] + uE
                    else:
                        mm = Z[st] * em[p]
                        ee = ZE[st] + eE[p]
                    if first:
                        W = mm
                        ref = ee
                        w = mm
                    elif ee > ref:
                        d = ref - ee
                        W = (W * p2[-d] if d > -p2.shape[0] else 0.0) + mm
                        ref = ee
                        w = mm
                    else:
                        d = ee - ref
                        w = mm * p2[-d] if d > -p2.shape[0] else 0.0
                        W += w
                if method == PERFECT or method == FFBS:
                    if method == FFBS:
                        c = Z[st] + alpha * v
                        if c > mx:
                            W = W * np.exp(mx - c) + 1.0
                            mx = c
                            w = 1.0
                        else:
                            w = np.exp(c - mx)
                            W += w
                        continue
                    if first:
                        bs = st
                        bp = p
                        first = False
                    else:
                        # Weighted reservoir: take candidate j with probability w_j / W_j
                        # (compared as u * W_j < w_j: no division).  Then candidate j survives
                        # with probability w_j / W_m.
                        if slot == 0:
                            u, u1 = uniform_pair(k0, k1, s0, s1, blk)
                            slot = 1
                        else:
                            u = u1
                            slot = 0
                            blk += np.uint64(1)
                        if u * W < w:
                            bs = st
                            bp = p
                else:
                    if method == VITERBI_F32:
                        # float32 sums in SentencePiece's order (Z32 holds the float32 table)
                        c32 = Z32[st] + (unk32 if p < 0 else score32[p])
                        if c32 >= best32:
                            best32 = c32
                            bs = st
                            bp = p
                        continue
                    c = Z[st] + v
                    if c >= best:
                        best = c
                        bs = st
                        bp = p
            if method == VITERBI_F32:
                Z32[e] = best32
                Z[e] = best32
            elif method == PERFECT:
                # renormalize to [0.5, 1): W >= 0.5 always (the reference edge contributes
                # at least 0.5) and is small, so halving beats a frexp call
                while W >= 1.0:
                    W *= 0.5
                    ref += 1
                Z[e] = W
                ZE[e] = ref
            else:
                Z[e] = best if (method == VITERBI or method == VITERBI_F32) else (mx + np.log(W))
            route[e] = bs
            rpid[e] = bp
            continue
        m = gather(sym, a, e, base, check, piece, cs, cp)
        if method == VITERBI or method == VITERBI_F32 or method == VITERBI_NO_FULL:
            # Candidates come shortest first; ">=" makes the longest piece win exact ties,
            # as in SentencePiece.  VITERBI_F32 sums in float32 like SentencePiece, so that
            # its ties (and near-ties) resolve identically.
            best = _NEG_INF
            bj = 0
            for j in range(m):
                p = cp[j]
                v = unk_score if p < 0 else score[p]
                if method == VITERBI_F32:
                    c = float(np.float32(np.float32(Z[cs[j]]) + np.float32(v)))
                elif method == VITERBI_NO_FULL and e == n and cs[j] == 0:
                    continue
                else:
                    c = Z[cs[j]] + v
                if c >= best:
                    best = c
                    bj = j
            Z[e] = best
            route[e] = cs[bj]
            rpid[e] = cp[bj]
            if best == _NEG_INF:  # only possible for VITERBI_NO_FULL: no alternative
                return 0, best
        elif method == PERFECT:
            # Online log-sum-exp with a running maximum mx; W is the sum of weights scaled by
            # exp(-mx).  Candidate j replaces the reservoir with probability w_j / W_j, which
            # leaves candidate j chosen with probability w_j / W_m (weighted reservoir).
            mx = _NEG_INF
            W = 0.0
            bj = 0
            for j in range(m):
                p = cp[j]
                v = unk_score if p < 0 else score[p]
                c = Z[cs[j]] + alpha * v
                if c > mx:
                    W = W * np.exp(mx - c) + 1.0
                    mx = c
                    w = 1.0
                else:
                    w = np.exp(c - mx)
                    W += w
                if j > 0:
                    if slot == 0:
                        u, u1 = uniform_pair(k0, k1, s0, s1, blk)
                        slot = 1
                    else:
                        u = u1
                        slot = 0
                        blk += np.uint64(1)
                    if u * W < w:
                        bj = j
                else:
                    bj = 0
            Z[e] = mx + np.log(W)
            route[e] = cs[bj]
            rpid[e] = cp[bj]
        elif method == GUMBEL:
            mx = _NEG_INF
            W = 0.0
            gbest = _NEG_INF
            bj = 0
            for j in range(m):
                p = cp[j]
                v = unk_score if p < 0 else score[p]
                c = Z[cs[j]] + alpha * v
                if c > mx:
                    W = W * np.exp(mx - c) + 1.0
                    mx = c
                else:
                    W += np.exp(c - mx)
                if m > 1:
                    if slot == 0:
                        u, u1 = uniform_pair(k0, k1, s0, s1, blk)
                        slot = 1
                    else:
                        u = u1
                        slot = 0
                        blk += np.uint64(1)
                    g = c - np.log(-np.log(u)) if u > 0.0 else _NEG_INF
                    if g > gbest:
                        gbest = g
                        bj = j
            Z[e] = mx + np.log(W)
            route[e] = cs[bj]
            rpid[e] = cp[bj]
        elif method == FFBS:
            mx = _NEG_INF
            W = 0.0
            for j in range(m):
                p = cp[j]
                v = unk_score if p < 0 else score[p]
                c = Z[cs[j]] + alpha * v
                if c > mx:
                    W = W * np.exp(mx - c) + 1.0
                    mx = c
                else:
                    W += np.exp(c - mx)
            Z[e] = mx + np.log(W)
        else:  # V0: BytePiece's original "Viterbi sampling" (biased; kept for comparison)
            # BytePiece met edges ending at e longest first; each newcomer duels the current
            # holder and wins with probability sigmoid(alpha * (score difference)).
            best = _NEG_INF
            bj = m - 1
            for jj in range(m):
                j = m - 1 - jj
                p = cp[j]
                v = unk_score if p < 0 else score[p]
                c = Z[cs[j]] + v
                if best == _NEG_INF:
                    best = c
                    bj = j
                else:
                    if slot == 0:
                        u, u1 = uniform_pair(k0, k1, s0, s1, blk)
                        slot = 1
                    else:
                        u = u1
                        slot = 0
                        blk += np.uint64(1)
                    if u * (1.0 + np.exp(-alpha * (c - best))) < 1.0:
                        best = c
                        bj = j
            Z[e] = best
            route[e] = cs[bj]
            rpid[e] = cp[bj]
    k = 0
    e = n
    if method == FFBS:
        # Backward sampling: at e pick the last edge (s, e) with prob Z(s) e^{alpha v} / Z(e).
        while e > 0:
            m = gather(sym, a, e, base, check, piece, cs, cp)
            bj = m - 1
            if m > 1:
                if slot == 0:
                    u, u1 = uniform_pair(k0, k1, s0, s1, blk)
                    slot = 1
                else:
                    u = u1
                    slot = 0
                    blk += np.uint64(1)
                acc = 0.0
                for j in range(m):
                    p = cp[j]
                    v = unk_score if p < 0 else score[p]
                    acc += np.exp(Z[cs[j]] + alpha * v - Z[e])
                    if u < acc:
                        bj = j
                        break
            out_pid[k] = cp[bj]
            out_end[k] = e
            k += 1
            e = cs[bj]
    else:
        while e > 0:
            out_pid[k] = rpid[e]
            out_end[k] = e
            k += 1
            e = route[e]
    # reverse into reading order
    for i in range(k // 2):
        tp = out_pid[i]
        out_pid[i] = out_pid[k - 1 - i]
        out_pid[k - 1 - i] = tp
        te = out_end[i]
        out_end[i] = out_end[k - 1 - i]
        out_end[k - 1 - i] = te
    if method == PERFECT:
        return k, np.log(Z[n]) + ZE[n] * math.log(2.0)
    return k, Z[n]


@nb.njit(cache=True, nogil=True, inline="always")
def _backtrack(route, rpid, n, out_pid, out_end):
    """Follow the back pointers from ``n``; pieces in reading order; returns their count."""
    k = 0
    e = n
    while e > 0:
        k += 1
        e = route[e]
    e = n
    i = k - 1
    while e > 0:
        out_pid[i] = rpid[e]
        out_end[i] = e
        i -= 1
        e = route[e]
    return k


@nb.njit(cache=True, nogil=True)
def _viterbi32_one(sym, a, n, base, check, piece, score32, unk32, out_pid, out_end, Z32,
                   route, rpid):
    """``_encode_one`` specialised to VITERBI_F32 (same edges, same order, same sums)."""
    Z32[0] = np.float32(0.0)
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
        best32 = np.float32(-np.inf)
        bs = e - 1
        bp = -1
        if t < 0 or piece[t] < 0:
            best32 = Z32[e - 1] + unk32
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
                c32 = Z32[st] + score32[p]
                if c32 >= best32:
                    best32 = c32
                    bs = st
                    bp = p
        Z32[e] = best32
        route[e] = bs
        rpid[e] = bp
    k = _backtrack(route, rpid, n, out_pid, out_end)
    return k, float(Z32[n])


_UL = 16  # counters per block of uniforms drawn ahead by the perfect sampler (vectorized)


@nb.njit(cache=True, nogil=True)
def _perfect_one(sym, a, n, base, check, piece, k0, k1, s0, s1, out_pid, out_end, Z, ZE,
                 route, rpid, em, eE, um, uE, p2, U):
    """``_encode_one`` specialised to PERFECT (same edges, same order, same uniforms)."""
    Z[0] = 0.5
    ZE[0] = 1
    # uniform number k of the text is U[k - ku] (k counted from 0), blocks drawn as needed
    ku = 0
    k = 0
    nu = 0
    size = base.shape[0]
    b0 = base[0]
    np2 = p2.shape[0]
    for e in range(1, n + 1):
        pos = e - 1
        x = sym[a + pos]
        t = -1
        if x >= 0:
            t = b0 + x
            if t >= size or check[t] != 0:
                t = -1
        bs = e - 1
        bp = -1
        if t < 0 or piece[t] < 0:
            W = Z[e - 1] * um
            ref = ZE[e - 1] + uE
            first = False
        else:
            W = 0.0
            ref = 0
            first = True
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
            if p < 0:
                continue
            mm = Z[st] * em[p]
            ee = ZE[st] + eE[p]
            if first:
                W = mm
                ref = ee
                bs = st
                bp = p
                first = False
                continue
            if ee > ref:
                d = ref - ee
                W = (W * p2[-d] if d > -np2 else 0.0) + mm
                ref = ee
                w = mm
            else:
                d = ee - ref
                w = mm * p2[-d] if d > -np2 else 0.0
                W += w
            if k == nu:
                uniform_pairs_ahead(U, k0, k1, s0, s1, np.uint64(k // 2))
                ku = k
                nu = k + 2 * _UL
            u = U[k - ku]
            k += 1
            if u * W < w:
                bs = st
                bp = p
        while W >= 1.0:
            W *= 0.5
            ref += 1
        Z[e] = W
        ZE[e] = ref
        route[e] = bs
        rpid[e] = bp
    k = _backtrack(route, rpid, n, out_pid, out_end)
    return k, np.log(Z[n]) + ZE[n] * math.log(2.0)


@nb.njit(cache=True, nogil=True)
def _fb_one(sym, a, n, base, check, piece, score, unk_score, alpha, maxlen,
            weight, counts, Z, B, cs, cp):
    # forward
    Z[0] = 0.0
    for e in range(1, n + 1):
        m = gather(sym, a, e, base, check, piece, cs, cp)
        acc = _NEG_INF
        for j in range(m):
            p = cp[j]
            v = unk_score if p < 0 else score[p]
            acc = _logaddexp(acc, Z[cs[j]] + alpha * v)
        Z[e] = acc
    # backward (push from e to the starts of its edges, e descending)
    for i in range(n):
        B[i] = _NEG_INF
    B[n] = 0.0
    lz = Z[n]
    for e in range(n, 0, -1):
        m = gather(sym, a, e, base, check, piece, cs, cp)
        for j in range(m):
            p = cp[j]
            v = unk_score if p < 0 else score[p]
            s = cs[j]
            B[s] = _logaddexp(B[s], alpha * v + B[e])
            mg = np.exp(Z[s] + alpha * v + B[e] - lz)
            counts[p + 1] += weight * mg
    return lz


@nb.njit(cache=True, nogil=True, parallel=True)
def expected_counts(sym, offsets, weights, base, check, piece, score, unk_score,
                    alpha, maxlen, n_pieces, n_chunks):
    """Forward-backward expected piece counts summed over texts (weights = text counts).

    Returns ``(counts, loglik)``: ``counts[0]`` is the unknown edge, ``counts[1 + i]`` piece i;
    ``loglik = sum_t weights[t] * log Z_t``.
    """
    nt = offsets.shape[0] - 1
    acc = np.zeros((n_chunks, n_pieces + 1))
    ll = np.zeros(n_chunks)
    for c in nb.prange(n_chunks):
        lo = (nt * c) // n_chunks
        hi = (nt * (c + 1)) // n_chunks
        nmax = 0
        for t in range(lo, hi):
            nmax = max(nmax, offsets[t + 1] - offsets[t])
        Z = np.empty(nmax + 1)
        B = np.empty(nmax + 1)
        cs = np.empty(maxlen + 1, dtype=np.int32)
        cp = np.empty(maxlen + 1, dtype=np.int32)
        row = acc[c]
        tot = 0.0
        for t in range(lo, hi):
            a = offsets[t]
            n = offsets[t + 1] - a
            if n == 0:
                continue
            tot += weights[t] * _fb_one(sym, a, n, base, check, piece, score,
                                        unk_score, alpha, maxlen, weights[t], row, Z, B, cs, cp)
        ll[c] = tot
    return acc.sum(axis=0), ll.sum()
