"""Training kernels over the flat lattice of the unique words.

The lattice (see ``_train_seeds.build_lattice``) lists, for every boundary ``e`` of the word
layout, the edges ending there (length, piece).  Piece ``p`` has log-probability
``logp[p]``; ``-inf`` marks a dead piece.  A one-symbol edge whose piece is dead (or whose
symbol is unknown) scores ``unk_lp`` instead: SentencePiece's unknown node, added wherever
no one-symbol piece covers a position.

* :func:`e_step`: expected piece counts by forward-backward, words in parallel.  The forward
  pass stores, per edge, the conditional probability ``r = A[s] w / A[e]`` that the path
  into ``e`` ends with this edge (``A`` the forward sums, kept as mantissa and power of two
  so that no word underflows); the backward pass then needs no exponential: the probability
  ``P[e]`` that boundary ``e`` is on the path flows back as ``P[s] += r * P[e]``, and
  ``r * P[e]`` is the edge's posterior marginal.
* :func:`m_step`: drop pieces with expected count below 0.5 and set
  ``logp = digamma(count) - digamma(sum of counts)`` (SentencePiece's Bayesian EM).
* :func:`viterbi_counts`: each piece's count in the Viterbi segmentation of the corpus.
* :func:`alternatives`: each piece's best segmentation of its own string without itself.
* :func:`prune_losses`: SentencePiece's loss for removing each piece.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["digamma", "pow2_weights", "e_step", "m_step", "viterbi_counts", "alternatives",
           "prune_losses"]

_NEG_INF = -np.inf


@nb.vectorize(["float64(float64)"], cache=True, nopython=True)
def digamma(x):
    """The digamma function for x > 0 (recurrence up to 10, then the asymptotic series)."""
    if not x > 0.0:
        return np.nan
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    ix2 = 1.0 / (x * x)
    # sum of B_2k / (2k x^2k), k = 1..7
    s = ix2 * (1.0 / 12 - ix2 * (1.0 / 120 - ix2 * (1.0 / 252 - ix2 * (
        1.0 / 240 - ix2 * (1.0 / 132 - ix2 * (691.0 / 32760 - ix2 * (1.0 / 12)))))))
    return acc + math.log(x) - 0.5 / x - s


@nb.njit(cache=True, nogil=True, inline="always")
def _edge_score(p, L, logp, unk_lp):
    if p >= 0:
        v = logp[p]
        if v > _NEG_INF:
            return v, p
    if L == 1:
        return unk_lp, -1
    return _NEG_INF, -1


@nb.njit(cache=True, nogil=True)
def _chunk_sizes(word_start, word_len, eptr, lo, hi):
    mlen = 1
    medges = 1
    for t in range(lo, hi):
        a = word_start[t]
        m = word_len[t]
        mlen = max(mlen, m)
        medges = max(medges, eptr[a + m + 1] - eptr[a + 1])
    return mlen, medges


def pow2_weights(logp, unk_lp):
    """``exp(logp)`` as mantissa in [1, 2) times a power of two, per piece (dead: 0)."""
    x = logp / math.log(2.0)
    live = np.isfinite(x)
    ex = np.where(live, np.floor(np.where(live, x, 0.0)), 0.0)
    em = np.where(live, np.exp2(np.where(live, x, 0.0) - ex), 0.0)
    xu = unk_lp / math.log(2.0)
    eu = math.floor(xu)
    return em, ex.astype(np.int64), 2.0 ** (xu - eu), int(eu)


_P2 = np.ldexp(1.0, -np.arange(1075))  # 2**-k down to the smallest subnormal


@nb.njit(cache=True, nogil=True, parallel=True)
def e_step(word_start, word_len, weight, eptr, elen, epid, em, eE, um, uE, n_chunks):
    """Expected counts ``(counts[n_pieces], unknown count, sum_t weight_t * log Z_t)``.

    Piece weights come as ``exp(logp) = em * 2**eE`` (:func:`pow2_weights`), forward values
    as mantissa and exponent, so an edge costs a multiply and a table lookup, no ``exp``.
    """
    nw = word_start.shape[0]
    npc = em.shape[0]
    acc = np.zeros((n_chunks, npc + 1))
    ll = np.zeros(n_chunks)
    p2 = _P2
    np2 = p2.shape[0]
    ln2 = math.log(2.0)
    for c in nb.prange(n_chunks):
        lo = (nw * c) // n_chunks
        hi = (nw * (c + 1)) // n_chunks
        mlen, medges = _chunk_sizes(word_start, word_len, eptr, lo, hi)
        Am = np.empty(mlen + 1)
        AE = np.empty(mlen + 1, dtype=np.int64)
        invS = np.empty(mlen + 1)
        P = np.empty(mlen + 1)
        R = np.empty(medges)
        row = acc[c]
        tot = 0.0
        for t in range(lo, hi):
            a = word_start[t]
            m = word_len[t]
            e0 = eptr[a + 1]
            Am[0] = 1.0
            AE[0] = 0
            for j in range(1, m + 1):
                k0 = eptr[a + j]
                k1 = eptr[a + j + 1]
                emax = np.int64(-(2 ** 62))
                for k in range(k0, k1):
                    p = epid[k]
                    L = elen[k]
                    if p >= 0 and em[p] > 0.0:
                        ee = AE[j - L] + eE[p]
                    elif L == 1:
                        ee = AE[j - 1] + uE
                    else:
                        continue
                    if ee > emax:
                        emax = ee
                S = 0.0
                for k in range(k0, k1):
                    p = epid[k]
                    L = elen[k]
                    if p >= 0 and em[p] > 0.0:
                        d = emax - (AE[j - L] + eE[p])
                        x = Am[j - L] * em[p] * p2[d] if d < np2 else 0.0
                    elif L == 1:
                        d = emax - (AE[j - 1] + uE)
                        x = Am[j - 1] * um * p2[d] if d < np2 else 0.0
                    else:
                        x = 0.0
                    R[k - e0] = x
                    S += x
                mant, ex = math.frexp(S)
                Am[j] = mant
                AE[j] = emax + ex
                invS[j] = 1.0 / S
            tot += weight[t] * (math.log(Am[m]) + AE[m] * ln2)
            for j in range(m):
                P[j] = 0.0
            P[m] = 1.0
            w = weight[t]
            for j in range(m, 0, -1):
                pj = P[j] * invS[j]
                if pj == 0.0:
                    continue
                for k in range(eptr[a + j], eptr[a + j + 1]):
                    r = R[k - e0]
                    if r == 0.0:
                        continue
                    q = r * pj
                    P[j - elen[k]] += q
                    p = epid[k]
                    if p >= 0 and em[p] > 0.0:
                        row[p + 1] += w * q
                    else:
                        row[0] += w * q
        ll[c] = tot
    counts = np.zeros(npc + 1)
    for c in range(n_chunks):
        for i in range(npc + 1):
            counts[i] += acc[c, i]
    return counts[1:], counts[0], ll.sum()


@nb.njit(cache=True, nogil=True)
def m_step(counts, alive, threshold):
    """Bayesian M-step in place of ``alive``; returns the new log-probabilities."""
    n = counts.shape[0]
    tot = 0.0
    for i in range(n):
        if alive[i] and counts[i] >= threshold:
            tot += counts[i]
        else:
            alive[i] = False
    logp = np.full(n, _NEG_INF)
    if tot <= 0.0:
        return logp
    dz = digamma(tot)
    for i in range(n):
        if alive[i]:
            logp[i] = digamma(counts[i]) - dz
    return logp


@nb.njit(cache=True, nogil=True, parallel=True)
def viterbi_counts(word_start, word_len, weight, eptr, elen, epid, logp, unk_lp, n_chunks):
    """Weighted count of each piece in the Viterbi segmentation of every word; ties go to the
    edge listed last at a boundary."""
    nw = word_start.shape[0]
    npc = logp.shape[0]
    acc = np.zeros((n_chunks, npc + 1))
    for c in nb.prange(n_chunks):
        lo = (nw * c) // n_chunks
        hi = (nw * (c + 1)) // n_chunks
        mlen, _ = _chunk_sizes(word_start, word_len, eptr, lo, hi)
        V = np.empty(mlen + 1)
        back = np.empty(mlen + 1, dtype=np.int64)
        row = acc[c]
        for t in range(lo, hi):
            a = word_start[t]
            m = word_len[t]
            V[0] = 0.0
            for j in range(1, m + 1):
                best = _NEG_INF
                bk = -1
                for k in range(eptr[a + j], eptr[a + j + 1]):
                    v, _ = _edge_score(epid[k], elen[k], logp, unk_lp)
                    x = V[j - elen[k]] + v
                    if x >= best and x > _NEG_INF:
                        best = x
                        bk = k
                V[j] = best
                back[j] = bk
            j = m
            w = weight[t]
            while j > 0:
                k = back[j]
                _, pid = _edge_score(epid[k], elen[k], logp, unk_lp)
                row[pid + 1] += w
                j -= elen[k]
    counts = np.zeros(npc + 1)
    for c in range(n_chunks):
        for i in range(npc + 1):
            counts[i] += acc[c, i]
    return counts[1:], counts[0]


@nb.njit(cache=True, nogil=True, parallel=True)
def alternatives(occ, plen, eptr, elen, epid, logp, unk_lp, max_len, n_chunks):
    """For each live piece of two or more symbols, the best segmentation of its own string
    (at its occurrence ``occ``) that does not use the piece itself.

    Returns ``status`` (0: no alternative, keep; 1: the alternative scores higher than the
    piece, so Viterbi never emits it; 2: ``alt[i, :alt_n[i]]`` is the alternative; 3: the
    alternative needs an unknown symbol) and the alternatives.
    """
    npc = occ.shape[0]
    status = np.zeros(npc, dtype=np.int8)
    alt = np.full((npc, max_len), -1, dtype=np.int32)
    alt_n = np.zeros(npc, dtype=np.int32)
    for c in nb.prange(n_chunks):
        V = np.empty(max_len + 1)
        back = np.empty(max_len + 1, dtype=np.int64)
        for i in range((npc * c) // n_chunks, (npc * (c + 1)) // n_chunks):
            L = plen[i]
            if L < 2 or not logp[i] > _NEG_INF:
                continue
            a = occ[i]
            V[0] = 0.0
            for j in range(1, L + 1):
                best = _NEG_INF
                bk = -1
                for k in range(eptr[a + j], eptr[a + j + 1]):
                    el = elen[k]
                    if el > j or (el == L and epid[k] == i):
                        continue
                    v, _ = _edge_score(epid[k], el, logp, unk_lp)
                    x = V[j - el] + v
                    if x >= best and x > _NEG_INF:
                        best = x
                        bk = k
                V[j] = best
                back[j] = bk
            if not V[L] > _NEG_INF:
                continue
            if V[L] > logp[i]:
                status[i] = 1
                continue
            j = L
            n = 0
            unk = False
            while j > 0:
                k = back[j]
                _, pid = _edge_score(epid[k], elen[k], logp, unk_lp)
                if pid < 0:
                    unk = True
                alt[i, n] = pid
                n += 1
                j -= elen[k]
            alt_n[i] = n
            status[i] = 3 if unk else 2
    return status, alt, alt_n


@nb.njit(cache=True, nogil=True)
def prune_losses(freq, status, alt, alt_n, vsum, unk_freq):
    """SentencePiece's pruning loss of every piece with an alternative (NaN otherwise):
    ``F * (log p - log p_alt)`` where all of the piece's Viterbi frequency moves to its
    alternative's pieces (an unknown edge in the alternative counts with ``unk_freq``)."""
    n = freq.shape[0]
    tot = 0.0
    for i in range(n):
        tot += freq[i]
    logsum = math.log(tot)
    loss = np.full(n, np.nan)
    for i in range(n):
        if (status[i] != 2 and status[i] != 3) or freq[i] <= 0.0:
            continue
        k = alt_n[i]
        logsum_alt = math.log(tot + freq[i] * (k - 1))
        lp_alt = 0.0
        for j in range(k):
            f = freq[alt[i, j]] if alt[i, j] >= 0 else unk_freq
            lp_alt += math.log(f + freq[i]) - logsum_alt
        lp = math.log(freq[i]) - logsum
        loss[i] = freq[i] / vsum * (lp - lp_alt)
    return loss
