"""Training text -> weighted unique words over dense symbols (SentencePiece's preprocessing).

Steps (as SentencePiece's ``TrainerInterface::LoadSentences`` and ``SplitSentencesByWhitespace``):

1. repeated lines are counted once with a weight; lines are normalized if a normalizer is given;
2. every line is split into words before each whitespace symbol (the whitespace stays at the
   front of its word: ``"a b  c"`` -> ``"a"``, ``" b"``, ``" "``, ``" c"``), and repeated
   words are counted once with their total weight;
3. symbols (code points, or bytes) are counted over the corpus and the most frequent ones
   that cover ``character_coverage`` of it are kept; the others become *unknown* (-1), which
   no piece may contain.

Words are laid out one after another, each followed by one *terminator* slot (symbol -2),
so that a position and its word's end are found without a search.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numba as nb
import numpy as np

from ._scripts import script_classes

__all__ = ["Corpus", "build_corpus", "TERM", "UNKNOWN"]

TERM = -2
UNKNOWN = -1
_HASH_MUL = np.uint64(0x100000001B3)
_HASH_SEED = np.uint64(0xCBF29CE484222325)


@dataclass
class Corpus:
    """Unique words, laid out with terminators, over dense symbol ids.

    ``sym[i]``: symbol id (``>= 0``), ``UNKNOWN`` or ``TERM``; ``word_start[t]`` and
    ``word_len[t]``: word ``t`` is ``sym[word_start[t] : word_start[t] + word_len[t]]`` and
    its terminator follows; ``weight[t]``: how often it occurs.  ``alphabet[k]`` is the
    code point (char unit) or byte of symbol ``k``; symbols are numbered by decreasing
    count.  Per position: ``script`` class, ``digit`` (SentencePiece's decimal digits),
    ``ws`` (the whitespace symbol), ``cstart`` (first byte of a character; always true for
    the char unit) and ``bad_start`` (no piece may start here: UTF-8 continuation bytes
    with ``ensure_unicode``).
    """

    unit: str
    sym: np.ndarray
    word_start: np.ndarray
    word_len: np.ndarray
    weight: np.ndarray
    alphabet: np.ndarray
    sym_count: np.ndarray
    script: np.ndarray
    digit: np.ndarray
    ws: np.ndarray
    cstart: np.ndarray
    bad_start: np.ndarray
    n_lines: int
    total_symbols: float


@nb.njit(cache=True, nogil=True)
def _split_words(cps, line_off, ws, split):
    """Word spans of every line (a new word at each whitespace symbol) and their hashes."""
    nl = line_off.shape[0] - 1
    nw = 0
    for t in range(nl):
        a = line_off[t]
        b = line_off[t + 1]
        if b > a:
            nw += 1
            if split:
                for i in range(a + 1, b):
                    if cps[i] == ws:
                        nw += 1
    start = np.empty(nw, dtype=np.int64)
    end = np.empty(nw, dtype=np.int64)
    line = np.empty(nw, dtype=np.int64)
    k = 0
    for t in range(nl):
        a = line_off[t]
        b = line_off[t + 1]
        if b == a:
            continue
        start[k] = a
        line[k] = t
        if split:
            for i in range(a + 1, b):
                if cps[i] == ws:
                    end[k] = i
                    k += 1
                    start[k] = i
                    line[k] = t
        end[k] = b
        k += 1
    h = np.empty(nw, dtype=np.uint64)
    for j in range(nw):
        x = _HASH_SEED
        for i in range(start[j], end[j]):
            x = (x ^ np.uint64(cps[i])) * _HASH_MUL
        h[j] = x ^ (np.uint64(end[j] - start[j]) * np.uint64(0x9E3779B97F4A7C15))
    return start, end, line, h


@nb.njit(cache=True, nogil=True)
def _same_as_representative(cps, start, end, rep, inv):
    """True if every word equals the representative of its hash class (no collision)."""
    for j in range(start.shape[0]):
        r = rep[inv[j]]
        a, b = start[j], end[j]
        ra = start[r]
        if b - a != end[r] - ra:
            return False
        for i in range(b - a):
            if cps[a + i] != cps[ra + i]:
                return False
    return True


@nb.njit(cache=True, nogil=True)
def _layout(cps, start, end, rep):
    """Concatenate the representative words, each followed by one terminator slot."""
    nu = rep.shape[0]
    tot = 0
    for u in range(nu):
        tot += end[rep[u]] - start[rep[u]] + 1
    out = np.empty(tot, dtype=np.int64)
    ws = np.empty(nu, dtype=np.int64)
    wl = np.empty(nu, dtype=np.int64)
    k = 0
    for u in range(nu):
        r = rep[u]
        ws[u] = k
        wl[u] = end[r] - start[r]
        for i in range(start[r], end[r]):
            out[k] = cps[i]
            k += 1
        out[k] = -1  # terminator
        k += 1
    return out, ws, wl


@nb.njit(cache=True, nogil=True)
def _utf8_layout(cp, word_start, word_len):
    """UTF-8 bytes of the char layout (terminators kept), with per-byte char starts and the
    index of the code point each byte belongs to."""
    nw = word_start.shape[0]
    tot = 0
    for i in range(cp.shape[0]):
        c = cp[i]
        if c < 0:
            tot += 1
        elif c < 0x80:
            tot += 1
        elif c < 0x800:
            tot += 2
        elif c < 0x10000:
            tot += 3
        else:
            tot += 4
    out = np.empty(tot, dtype=np.int64)
    src = np.empty(tot, dtype=np.int64)
    cst = np.zeros(tot, dtype=np.bool_)
    bws = np.empty(nw, dtype=np.int64)
    bwl = np.empty(nw, dtype=np.int64)
    k = 0
    for t in range(nw):
        a = word_start[t]
        bws[t] = k
        for i in range(a, a + word_len[t] + 1):
            c = cp[i]
            cst[k] = True
            if c < 0:
                out[k] = -1
                src[k] = i
                k += 1
            elif c < 0x80:
                out[k] = c
                src[k] = i
                k += 1
            elif c < 0x800:
                out[k] = 0xC0 | (c >> 6)
                out[k + 1] = 0x80 | (c & 0x3F)
                src[k] = i
                src[k + 1] = i
                k += 2
            elif c < 0x10000:
                out[k] = 0xE0 | (c >> 12)
                out[k + 1] = 0x80 | ((c >> 6) & 0x3F)
                out[k + 2] = 0x80 | (c & 0x3F)
                for j in range(3):
                    src[k + j] = i
                k += 3
            else:
                out[k] = 0xF0 | (c >> 18)
                out[k + 1] = 0x80 | ((c >> 12) & 0x3F)
                out[k + 2] = 0x80 | ((c >> 6) & 0x3F)
                out[k + 3] = 0x80 | (c & 0x3F)
                for j in range(4):
                    src[k + j] = i
                k += 4
        bwl[t] = k - 1 - bws[t]
    return out, src, cst, bws, bwl


def _is_sp_digit(cp):
    # SentencePiece's is_unicode_decimal_number: ASCII and full-width digits
    return ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0xFF10) & (cp <= 0xFF19))


def _line_codes(lines, normalizer):
    """Unique lines -> (code points, offsets, weights)."""
    counts = Counter(lines)
    texts = list(counts)
    weights = np.fromiter(counts.values(), dtype=np.float64, count=len(texts))
    if normalizer is not None and hasattr(normalizer, "normalize_codes"):
        cps, off = normalizer.normalize_codes(texts)
        return cps.astype(np.int64), np.asarray(off, dtype=np.int64), weights
    if normalizer is not None:
        texts = normalizer.normalize_batch(texts)
    joined = "".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    off = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), out=off[1:])
    return cps.astype(np.int64), off, weights


def build_corpus(lines, *, unit, normalizer, ws_char, split_by_whitespace,
                 character_coverage, ensure_unicode):
    """Preprocess ``lines`` (a list of str) into a :class:`Corpus`."""
    cps, off, lweights = _line_codes(lines, normalizer)
    start, end, line, h = _split_words(cps, off, np.int64(ord(ws_char)), bool(split_by_whitespace))
    if start.shape[0] == 0:
        raise ValueError("lines: no non-empty line to train on")
    _, rep, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if not _same_as_representative(cps, start, end, rep, inv):  # a 64-bit hash collision
        words = {}
        inv = np.empty(start.shape[0], dtype=np.int64)
        firsts = []
        for j in range(start.shape[0]):
            key = cps[start[j]:end[j]].tobytes()
            u = words.setdefault(key, len(words))
            if u == len(firsts):
                firsts.append(j)
            inv[j] = u
        rep = np.asarray(firsts, dtype=np.int64)
    weight = np.bincount(inv, weights=lweights[line], minlength=rep.shape[0])
    cp, word_start, word_len = _layout(cps, start, end, rep)
    n_lines = int(lweights.sum())

    if unit == "char":
        vals = cp
        cst = np.ones(cp.shape[0], dtype=np.bool_)
        src = None
    else:
        vals, src, cst, word_start, word_len = _utf8_layout(cp, word_start, word_len)
    term = vals < 0
    vals0 = np.where(term, 0, vals)
    # symbol counts (weighted) over the words, through a table over all code points/bytes
    pos_w = np.repeat(weight, word_len + 1)
    vmax = 0x110000 if unit == "char" else 256
    all_counts = np.bincount(vals0, weights=np.where(term, 0.0, pos_w), minlength=vmax)
    alphabet = np.flatnonzero(all_counts > 0)
    counts = all_counts[alphabet]
    total = float(counts.sum())
    # character coverage: the most frequent symbols (ties: smaller value first) up to the
    # coverage; SentencePiece checks the coverage before adding each symbol
    order = np.lexsort((alphabet, -counts))
    csum = np.concatenate(([0.0], np.cumsum(counts[order])))
    if character_coverage >= 1.0:
        n_keep = order.shape[0]
    else:
        n_keep = int(np.searchsorted(csum[:-1] / total, character_coverage, side="left"))
        n_keep = max(n_keep, 1)
    kept = order[:n_keep]
    dense = np.full(vmax, UNKNOWN, dtype=np.int64)
    dense[alphabet[kept]] = np.arange(n_keep)
    sym = np.where(term, TERM, dense[vals0])

    # per-position flags for the piece validity rules
    if unit == "char":
        table = np.zeros(vmax, dtype=np.int32)
        table[alphabet] = script_classes(alphabet)
        script = np.where(term, 0, table[vals0]).astype(np.int32)
        digit = _is_sp_digit(cp) & ~term
        ws = (cp == ord(ws_char)) & ~term
        bad_start = np.zeros(cp.shape[0], dtype=np.bool_)
    else:
        ucp, uinv = np.unique(np.where(cp < 0, 0, cp), return_inverse=True)
        classes = script_classes(ucp)
        script = classes[uinv.reshape(-1)][src].astype(np.int32)
        digit = _is_sp_digit(cp)[src] & ~term
        ws = (cp == ord(ws_char))[src] & ~term
        bad_start = (((vals & 0xC0) == 0x80) & ~term if ensure_unicode
                     else np.zeros(vals.shape[0], np.bool_))
    return Corpus(unit=unit, sym=sym.astype(np.int32), word_start=word_start, word_len=word_len,
                  weight=weight, alphabet=alphabet[kept], sym_count=counts[kept],
                  script=script, digit=digit, ws=ws, cstart=cst, bad_start=bad_start,
                  n_lines=n_lines, total_symbols=total)

