"""Seed pieces from a suffix array, and the flat lattice of every word.

SentencePiece's seeds are the internal nodes of the corpus's suffix tree (substrings that
occur at least twice and are followed by two different symbols), scored ``count * length``,
the best ``seed_sentencepiece_size`` of them kept, restricted to valid pieces
(``IsValidSentencePiece``: at most ``max_sentencepiece_length`` symbols, whitespace only in
front, one Unicode script, digits split as asked, no unknown symbol).

Here the corpus is the list of unique words (with weights), and a substring counts as
branching also where it cannot be extended into a longer *valid* piece (at a word end, or
before a symbol of another script, ...): each such end acts as a terminator of its own.  So
every valid substring that occurs at least twice and is not always followed by the same
symbol inside valid pieces is a candidate; in particular every word seen twice is one.

The suffixes are sorted by their longest valid prefix (at most ``max_len`` symbols, packed
into 64-bit words and sorted with ``np.lexsort``); LCP intervals are enumerated with a
stack.  Each seed is then an interval ``[lb, rb]`` of the sorted suffixes at depth ``d``: its
occurrences are exactly ``sa[lb..rb]``, which gives every edge of the lattice of every word
at once (no trie, no matching).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._scripts import INHERITED

__all__ = ["valid_extent", "sorted_suffixes", "seed_candidates", "build_lattice",
           "compact_lattice"]

_ANY = -1


@nb.njit(cache=True, nogil=True)
def valid_extent(sym, script, digit, ws, cstart, bad_start, max_len, split_by_script,
                 split_by_number, split_digits, split_by_whitespace):
    """Longest valid piece starting at each position (0 where none can start).

    SentencePiece's ``IsValidSentencePiece`` is prefix-closed (it scans left to right), so
    the valid pieces starting at ``i`` are exactly the prefixes up to this length, except
    for one rule applied to candidates afterwards: without ``split_by_whitespace``,
    whitespace may sit inside a piece but not at its end.
    """
    n = sym.shape[0]
    out = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if sym[i] < 0 or bad_start[i]:
            continue
        prev = _ANY
        nch = 0
        has_digit = False
        L = 0
        for j in range(i, min(n, i + max_len)):
            if sym[j] < 0:
                break  # unknown symbol or the word's end
            if cstart[j]:
                nch += 1
                if ws[j]:
                    if nch > 1 and split_by_whitespace:
                        break  # whitespace only in front
                else:
                    s = script[j]
                    if s == INHERITED:
                        s = prev
                    if digit[j]:
                        if split_digits and nch > 1:
                            break
                        if not split_by_number:
                            s = _ANY
                    if split_digits and has_digit:
                        break
                    if split_by_script and s != _ANY and prev != _ANY and s != prev:
                        break
                    prev = s
                    has_digit = has_digit or digit[j]
            L = j - i + 1
        out[i] = L
    return out


@nb.njit(cache=True, nogil=True)
def _pack_keys(sym, pos, ve, q, bits, n_words):
    """Sort keys: the first ``ve`` symbols of each suffix, ``q`` symbols per 64-bit word."""
    m = pos.shape[0]
    keys = np.zeros((n_words, m), dtype=np.int64)
    for r in range(m):
        p = pos[r]
        L = ve[p]
        for w in range(n_words):
            x = np.int64(0)
            for j in range(w * q, (w + 1) * q):
                c = np.int64(sym[p + j] + 1) if j < L else np.int64(0)
                x = (x << bits) | c
            keys[w, r] = x
    return keys


def sorted_suffixes(sym, ve, n_symbols, max_len):
    """Positions where a piece of length >= 2 can start, sorted by their longest valid
    prefix (ties in any order)."""
    pos = np.flatnonzero(ve >= 2).astype(np.int64)
    bits = max(1, math.ceil(math.log2(n_symbols + 1)))
    q = max(1, 63 // bits)
    n_words = -(-max_len // q)
    keys = _pack_keys(sym, pos, ve, q, bits, n_words)
    order = np.lexsort(keys[::-1]) if n_words > 1 else np.argsort(keys[0], kind="stable")
    return pos[order]


@nb.njit(cache=True, nogil=True)
def seed_candidates(sym, sa, ve, pos_weight, ws, ws_inside):
    """Candidate seeds as (depth, lb, rb, weighted count): the LCP intervals of the sorted
    suffixes (depth >= 2), plus single suffixes of a word of weight >= 2 whose whole valid
    prefix is shared with no neighbour.  With ``ws_inside`` (no whitespace splitting),
    candidates that end with whitespace are left out."""
    m = sa.shape[0]
    lcp = np.zeros(m + 1, dtype=np.int32)  # lcp[r] = lcp(sa[r-1], sa[r]); lcp[0] = lcp[m] = 0
    for r in range(1, m):
        p = sa[r - 1]
        q = sa[r]
        lim = min(ve[p], ve[q])
        L = 0
        while L < lim and sym[p + L] == sym[q + L]:
            L += 1
        lcp[r] = L
    cw = np.zeros(m + 1)
    for r in range(m):
        cw[r + 1] = cw[r] + pos_weight[sa[r]]
    depth = np.empty(2 * m + 1, dtype=np.int32)
    lbs = np.empty(2 * m + 1, dtype=np.int64)
    rbs = np.empty(2 * m + 1, dtype=np.int64)
    k = 0
    # leaves: a suffix whose whole valid prefix occurs only here (but in a repeated word)
    for r in range(m):
        L = ve[sa[r]]
        if pos_weight[sa[r]] >= 2.0 and L > lcp[r] and L > lcp[r + 1] and not (
                ws_inside and ws[sa[r] + L - 1]):
            depth[k] = L
            lbs[k] = r
            rbs[k] = r
            k += 1
    # internal nodes: bottom-up LCP-interval traversal
    st_d = np.empty(m + 2, dtype=np.int32)
    st_lb = np.empty(m + 2, dtype=np.int64)
    top = 0
    st_d[0] = 0
    st_lb[0] = 0
    for r in range(1, m + 1):
        lb = r - 1
        cur = lcp[r]
        while cur < st_d[top]:
            d = st_d[top]
            lb = st_lb[top]
            top -= 1
            if d >= 2 and not (ws_inside and ws[sa[lb] + d - 1]):
                depth[k] = d
                lbs[k] = lb
                rbs[k] = r - 1
                k += 1
        if cur > st_d[top]:
            top += 1
            st_d[top] = cur
            st_lb[top] = lb
    freq = np.empty(k)
    for j in range(k):
        freq[j] = cw[rbs[j] + 1] - cw[lbs[j]]
    return depth[:k].copy(), lbs[:k].copy(), rbs[:k].copy(), freq


@nb.njit(cache=True, nogil=True)
def build_lattice(sym, sa, depth, lb, rb, n_chars):
    """Every edge of every word: one per position (its symbol's piece, or -1 for an unknown
    symbol) and one per seed occurrence.  Edges ending at boundary ``e`` (after position
    ``e - 1``) are ``eptr[e] : eptr[e + 1]``; ``elen`` is the length, ``epid`` the piece
    (symbols are pieces ``0 .. n_chars - 1``, seed ``j`` is piece ``n_chars + j``)."""
    n = sym.shape[0]
    cnt = np.zeros(n + 2, dtype=np.int64)
    for i in range(n):
        if sym[i] != -2:
            cnt[i + 2] += 1
    for j in range(depth.shape[0]):
        d = depth[j]
        for r in range(lb[j], rb[j] + 1):
            cnt[sa[r] + d + 1] += 1
    eptr = np.cumsum(cnt)
    cur = eptr.copy()
    tot = eptr[n + 1]
    elen = np.empty(tot, dtype=np.int32)
    epid = np.empty(tot, dtype=np.int32)
    for i in range(n):
        if sym[i] != -2:
            k = cur[i + 1]
            cur[i + 1] += 1
            elen[k] = 1
            epid[k] = sym[i] if sym[i] >= 0 else -1
    for j in range(depth.shape[0]):
        d = depth[j]
        for r in range(lb[j], rb[j] + 1):
            e = sa[r] + d
            k = cur[e]
            cur[e] += 1
            elen[k] = d
            epid[k] = n_chars + j
    return eptr, elen, epid


@nb.njit(cache=True, nogil=True)
def compact_lattice(eptr, elen, epid, alive):
    """Drop the edges of dead pieces (one-symbol edges stay: they fall back to unknown)."""
    nb_ = eptr.shape[0] - 1
    neptr = np.empty_like(eptr)
    k = 0
    neptr[0] = 0
    for e in range(nb_):
        for j in range(eptr[e], eptr[e + 1]):
            p = epid[j]
            if elen[j] == 1 or (p >= 0 and alive[p]):
                elen[k] = elen[j]
                epid[k] = p
                k += 1
        neptr[e + 1] = k
    return neptr, elen[:k].copy(), epid[:k].copy()
