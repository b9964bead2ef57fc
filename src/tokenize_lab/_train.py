"""Training a unigram model: seed pieces, EM over the lattice, loss-based pruning.

The recipe is SentencePiece's (unigram_model_trainer.cc), re-derived:

1. **Seeds**: every symbol, plus the most frequent substrings (length 2..``max_piece_length``,
   count >= 2, ranked by ``count * length``), counted with one vectorized hashing pass per
   length (a counting approach instead of a suffix array).
2. **EM** (``num_sub_iterations`` per round): the E-step computes expected piece counts by
   forward-backward over every line's lattice (Numba, lines in parallel); the M-step drops
   pieces with expected count below 0.5 and sets ``log p = digamma(c) - digamma(sum c)``
   (variational Bayes under a sparse Dirichlet prior, which pushes rare pieces to zero).
3. **Pruning**: a piece's replacement is the best segmentation of its own string without it;
   its loss is the drop in Viterbi log-likelihood ``F_i (log p_i - sum log p_alt)`` after
   moving its Viterbi frequency to the replacement; keep the ``max(target, shrink * size)``
   pieces with the largest loss (symbols are always kept).
4. Stop at ``1.1 * vocab_size`` pieces, run a last EM round, keep the best ``vocab_size``.
"""
from __future__ import annotations

import math
import numbers
import time
from collections import Counter

import numpy as np
from scipy.special import digamma

from . import _lattice_numba as K

__all__ = ["train_unigram"]

_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)


def _check_pos_int(v, name, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _seed_substrings(sym, offsets, weights, max_len, seed_size, bad_start):
    """Top substrings (as (start index into sym, length, weighted count)) by count * length."""
    n = sym.shape[0]
    if n == 0:
        return []
    # position -> line index, and the end of the line each position is in
    line_of = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    line_end = offsets[1:][line_of]
    wpos = weights[line_of]
    h = np.zeros(n, dtype=np.uint64)
    x = sym.astype(np.uint64) + np.uint64(1)
    cands = []
    with np.errstate(over="ignore"):
        for L in range(1, max_len + 1):
            # h[i] = hash of sym[i : i+L] (polynomial, mod 2**64), valid where i+L <= line end
            h[: n - L + 1] = h[: n - L + 1] * _HASH_BASE + x[L - 1:]
            if L == 1:
                continue
            starts = np.flatnonzero(np.arange(n) + L <= line_end)
            if bad_start is not None:
                starts = starts[~bad_start[starts]]
            if starts.size == 0:
                break
            uniq, first, inv = np.unique(h[starts], return_index=True, return_inverse=True)
            cnt = np.bincount(inv, weights=wpos[starts])
            keep = cnt >= 2
            if not keep.any():
                break
            for f, c in zip(starts[first[keep]], cnt[keep]):
                cands.append((int(f), L, float(c)))
    cands.sort(key=lambda t: -t[2] * t[1])
    return cands[:seed_size]


def train_unigram(lines, vocab_size, *, unit="char", max_piece_length=16, seed_size=100_000,
                  shrinking_factor=0.75, num_sub_iterations=2, ensure_unicode=True,
                  callback=None, verbose=False):
    """Train a :class:`UnigramModel` by EM with loss-based pruning.

    Parameters
    ----------
    lines : iterable of str
        Training text, one sentence/line per item (repeated lines are counted once with a
        weight).
    vocab_size : int
        Number of pieces wanted; at least the number of distinct symbols (every symbol of the
        corpus is always kept, so no training text is ever unknown).  Fewer pieces come back
        when the corpus offers fewer useful candidates.
    unit : {"char", "byte"}
        Train a character-level or a byte-level vocabulary.
    max_piece_length : int
        Longest piece, in symbols.
    seed_size : int
        Number of frequent substrings used as initial candidates.
    shrinking_factor : float in (0, 1)
        Each pruning round keeps ``max(target, shrinking_factor * size)`` pieces.
    num_sub_iterations : int
        EM iterations per pruning round.
    ensure_unicode : bool
        Byte unit only: pieces may not start with a UTF-8 continuation byte.
    callback : callable, optional
        Called after every EM iteration with a dict (``round``, ``iteration``,
        ``vocab_size``, ``loglik`` per symbol, ``elapsed``); return ``False`` to stop early.
    verbose : bool
        Print the same progress lines.

    Returns
    -------
    UnigramModel
        Pieces ordered by decreasing score.
    """
    from ._model import UnigramModel

    if unit not in ("char", "byte"):
        raise ValueError(f"unit must be 'char' or 'byte', got {unit!r}")
    vocab_size = _check_pos_int(vocab_size, "vocab_size")
    max_piece_length = _check_pos_int(max_piece_length, "max_piece_length")
    seed_size = _check_pos_int(seed_size, "seed_size", 0)
    num_sub_iterations = _check_pos_int(num_sub_iterations, "num_sub_iterations")
    if not 0 < shrinking_factor < 1:
        raise ValueError(f"shrinking_factor must be in (0, 1), got {shrinking_factor!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    if isinstance(lines, str):
        raise TypeError("lines must be an iterable of str, not a str")
    counter = Counter()
    for ln in lines:
        if not isinstance(ln, str):
            raise TypeError(f"lines must contain str, got {type(ln).__name__}")
        if ln:
            counter[ln] += 1
    if not counter:
        raise ValueError("lines: no non-empty line to train on")
    texts = list(counter)
    weights = np.fromiter(counter.values(), dtype=np.float64, count=len(texts))
    t0 = time.perf_counter()

    # symbols
    if unit == "char":
        units = texts
        joined = "".join(texts)
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        alphabet, sym = np.unique(cps, return_inverse=True)
        sym = sym.astype(np.int32)
        sym_piece = [chr(c) for c in alphabet]
        lens = [len(t) for t in texts]
        bad_start = None
    else:
        units = [t.encode("utf-8", "surrogatepass") for t in texts]
        raw = np.frombuffer(b"".join(units), dtype=np.uint8)
        alphabet, sym = np.unique(raw, return_inverse=True)
        sym = sym.astype(np.int32)
        sym_piece = [bytes([b]) for b in alphabet]
        lens = [len(u) for u in units]
        bad_start = ((raw & 0xC0) == 0x80) if ensure_unicode else None
    nsym = len(sym_piece)
    if vocab_size < nsym:
        raise ValueError(f"vocab_size must be at least the number of distinct symbols ({nsym}), "
                         f"got {vocab_size}")
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    total_symbols = float(np.dot(weights, np.diff(offsets)))

    # seeds: symbols (required) + frequent substrings
    sym_count = np.bincount(sym, weights=np.repeat(weights, np.diff(offsets)), minlength=nsym)
    pieces = {p: float(c) for p, c in zip(sym_piece, sym_count)}
    flat = "".join(texts) if unit == "char" else b"".join(units)
    for start, L, c in _seed_substrings(sym, offsets, weights, max_piece_length, seed_size, bad_start):
        pieces.setdefault(flat[start:start + L], c * L)
    required = set(sym_piece)
    tot = sum(pieces.values())
    pieces = {p: math.log(v / tot) for p, v in pieces.items()}

    def build(pcs):
        return UnigramModel(pcs, unit=unit)

    import numba
    n_chunks = max(1, min(numba.get_num_threads() * 4, len(texts)))
    # raw code points (char) or bytes (byte), mapped through each model's own symbol table
    codes = cps if unit == "char" else raw

    def em_step(model):
        counts, ll = K.expected_counts(model._table[codes], offsets, weights, *model._trie_arrays,
                                       model._scores, model.unk_score, 1.0, model._maxlen,
                                       len(model), n_chunks)
        return counts[1:], ll

    desired = max(vocab_size, int(math.ceil(1.1 * vocab_size)))
    rnd = 0
    stop = False
    while True:
        rnd += 1
        for it in range(num_sub_iterations):
            model = build(pieces)
            counts, ll = em_step(model)
            plist = model._pieces
            keep = [(p, c) for p, c in zip(plist, counts) if c >= 0.5 or p in required]
            csum = sum(max(c, 0.0) for _, c in keep)
            dg = digamma(csum)
            # required symbols that EM no longer uses keep the score of half an occurrence
            pieces = {p: float(digamma(max(c, 0.5)) - dg) for p, c in keep}
            info = {"round": rnd, "iteration": it + 1, "vocab_size": len(pieces),
                    "loglik": ll / total_symbols, "elapsed": time.perf_counter() - t0}
            if verbose:
                print(f"[train] round {rnd} EM {it + 1}: {len(pieces)} pieces, "
                      f"loglik/symbol {info['loglik']:.4f}, {info['elapsed']:.1f} s", flush=True)
            if callback is not None and callback(info) is False:
                stop = True
                break
        if stop or len(pieces) <= desired:
            break
        pieces = _prune(build(pieces), pieces, required, texts, weights,
                        max(desired, int(shrinking_factor * len(pieces))))

    # finalize: required symbols + the highest-scoring other pieces
    others = sorted((p for p in pieces if p not in required), key=lambda p: -pieces[p])
    chosen = set(required) | set(others[:max(0, vocab_size - len(required))])
    final = {p: pieces[p] for p in pieces if p in chosen}
    # one more EM step on the final vocabulary so the scores are its own
    model = build(final)
    counts, ll = em_step(model)
    csum = counts.sum()
    final = {p: float(digamma(max(c, 0.5)) - digamma(csum)) for p, c in zip(model._pieces, counts)}
    order = sorted(final, key=lambda p: -final[p])
    if verbose:
        print(f"[train] done: {len(order)} pieces in {time.perf_counter() - t0:.1f} s", flush=True)
    return UnigramModel({p: final[p] for p in order}, unit=unit)


def _prune(model, pieces, required, texts, weights, target):
    """SentencePiece's loss-based pruning down to ``target`` pieces."""
    plist = model._pieces
    n = len(plist)
    # Viterbi frequencies over the corpus
    _, sym, offsets = model._prepare(texts)
    pid, end, count, _ = model._run(sym, offsets, None, K.VITERBI, _zero_stream())
    ccount = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(count, out=ccount[1:])
    idx = np.arange(ccount[-1]) + np.repeat(offsets[:-1] - ccount[:-1], count)
    w = np.repeat(weights, count)
    freq = np.bincount(pid[idx] + 1, weights=w, minlength=n + 1)[1:]
    total = freq.sum()
    vsum = weights.sum()
    # each piece's best segmentation without itself
    words = [p if model.unit == "char" else p.decode("latin-1") for p in plist]
    if model.unit == "char":
        _, wsym, woff = model._prepare(words)
    else:
        raw = b"".join(plist)
        wsym = np.frombuffer(raw, dtype=np.uint8).astype(np.int32)
        woff = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(p) for p in plist], out=woff[1:])
    apid, aend, acount, alz = model._run(wsym, woff, None, K.VITERBI_NO_FULL, _zero_stream())
    logsum = math.log(total) if total > 0 else 0.0
    always, scored = [], []
    for i, p in enumerate(plist):
        if p in required:
            always.append(p)
            continue
        if freq[i] <= 0:
            continue  # never used by Viterbi: dropped
        a, k = woff[i], acount[i]
        alt = apid[a:a + k]
        if k == 0 or (alt < 0).any():
            always.append(p)  # no replacement (or only through unknowns): keep
            continue
        logsum_alt = math.log(total + freq[i] * (k - 1))
        logprob_alt = sum(math.log(freq[j] + freq[i]) - logsum_alt for j in alt)
        logprob_sp = math.log(freq[i]) - logsum
        F = freq[i] / vsum
        scored.append((F * (logprob_sp - logprob_alt), p))
    scored.sort(key=lambda t: -t[0])
    room = max(0, target - len(always))
    keep = set(always) | {p for _, p in scored[:room]}
    return {p: pieces[p] for p in pieces if p in keep}


def _zero_stream():
    from probspace.random import Stream
    return Stream(0)
