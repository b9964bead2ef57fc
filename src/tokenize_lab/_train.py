"""Training a unigram model the way SentencePiece's unigram trainer does.

The recipe (``unigram_model_trainer.cc`` and ``trainer_interface.cc``), re-derived:

1. **Text** (:mod:`._train_corpus`): repeated lines counted once with a weight; optional
   normalization; lines split into words before each whitespace symbol (the whitespace is
   the front of the next word), repeated words counted once; the symbols covering
   ``character_coverage`` of the corpus are kept, the rest are unknown.
2. **Seeds** (:mod:`._train_seeds`): every kept symbol (scored by its count), plus the
   ``seed_size`` best repeated substrings by ``count * length`` from a suffix array, valid
   pieces only (length, whitespace in front, one script, digit rules).  The seeds' suffix
   array intervals give the flat lattice of every word directly.
3. **EM** (:mod:`._train_em`), ``num_sub_iterations`` per round: the E-step computes
   expected piece counts by forward-backward over every word's lattice (Numba, words in
   parallel); the M-step drops pieces with expected count below 0.5 and sets
   ``log p = digamma(c) - digamma(sum c)``.
4. **Pruning** while there are more than ``1.1 * vocab_size`` pieces: a piece whose own
   string Viterbi-segments into other pieces is dropped; for the others, the alternative is
   the best segmentation of its string without it, and the loss of removing it is
   ``F (log p - log p_alt)`` after moving its Viterbi frequency to the alternative; keep
   ``max(1.1 * vocab_size, shrinking_factor * size)`` pieces, those with the largest loss
   (pieces without an alternative are kept, pieces that Viterbi never uses are dropped).
5. **Final**: pieces that Viterbi can never emit are dropped, every kept symbol is put back
   (with the lowest score if EM dropped it), and the best-scoring pieces fill up to
   ``vocab_size``.

Differences from SentencePiece, by design: seeds are counted on the unique words (each word
end, and each place where a valid piece cannot be extended, counts as a branch of the suffix
tree, so every word seen twice is a candidate); Unicode scripts come from character names
(:mod:`._scripts`); scores are summed in float64; no line is skipped for its length.
"""
from __future__ import annotations

import math
import numbers
import sys
import time

import numba
import numpy as np

from . import _train_em as EM
from . import _train_seeds as SEEDS
from ._lattice_batch import compile_notice
from ._pieces import IMPLEMENTATIONS
from ._train_corpus import build_corpus

__all__ = ["train_unigram"]


# a tiny corpus that goes through every step (seeds, EM, a pruning round, finalization):
# a few symbols, vocab_size one more than them, many more seeds
_WARM_UP_LINES = ["ab abc abd abcd", "abc abd bcd", "bcd cd abcd"] * 3


def _check_int(v, name, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _check_unit_interval(v, name, hi_open=False):
    """A real number in (0, 1] (or (0, 1) with ``hi_open``)."""
    rng = "(0, 1)" if hi_open else "(0, 1]"
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{name} must be a real number in {rng}, got {v!r}")
    v = float(v)
    if not v > 0 or not (v < 1 if hi_open else v <= 1):
        raise ValueError(f"{name} must be in {rng}, got {v!r}")
    return v


class _ProgressBar:
    """One status line on stderr, rewritten after every EM iteration."""

    def __init__(self, n0, target, stream=None):
        self.n0 = max(n0, target + 1)
        self.target = target
        self.stream = stream or sys.stderr

    def update(self, info):
        n = info["vocab_size"]
        frac = math.log(self.n0 / max(n, 1)) / math.log(self.n0 / self.target)
        frac = min(max(frac, 0.0), 1.0)
        bar = "#" * int(round(24 * frac))
        self.stream.write(f"\rtokenize_lab train [{bar:<24}] round {info['round']} "
                          f"EM {info['iteration']}: {n} pieces -> {self.target}, "
                          f"{info['elapsed']:.1f} s ")
        self.stream.flush()

    def close(self, elapsed, n):
        self.stream.write(f"\rtokenize_lab train [{'#' * 24}] done: {n} pieces in "
                          f"{elapsed:.1f} s{' ' * 24}\n")
        self.stream.flush()


def train_unigram(lines, vocab_size, *, unit="char", normalizer=None,
                  character_coverage=0.9995, max_piece_length=16, seed_size=1_000_000,
                  shrinking_factor=0.75, num_sub_iterations=2, split_by_whitespace=True,
                  split_by_unicode_script=True, split_by_number=True, split_digits=False,
                  ensure_unicode=True, num_threads=None, callback=None, verbose=False,
                  progress=False, max_sentencepiece_length=None, seed_sentencepiece_size=None):
    """Train a :class:`UnigramModel` with SentencePiece's unigram recipe.

    The defaults are SentencePiece's trainer defaults (see the module docstring of
    ``tokenize_lab._train`` for the steps and the few deliberate differences).

    Parameters
    ----------
    lines : iterable of str
        Training text, one sentence/line per item.  Empty lines are ignored; repeated lines
        count with their multiplicity.
    vocab_size : int
        Number of pieces wanted.  Must be at least the number of symbols kept by
        ``character_coverage`` (every kept symbol is a piece).  Fewer pieces come back only
        when the corpus offers fewer candidates.
    unit : {"char", "byte"}
        Train a character-level or a byte-level vocabulary.
    normalizer : SentencePieceNormalizer, optional
        Normalize the training text with it and store it in the model, so that ``encode``
        normalizes the same way (e.g. ``SentencePieceNormalizer(b"", name="identity")`` for
        SentencePiece's whitespace handling: dummy prefix, runs of spaces collapsed, spaces
        shown as U+2581).  Default: texts are used as given.
    character_coverage : float in (0, 1]
        Fraction of the corpus's symbols that the kept symbols must cover (the most frequent
        first); rarer symbols are unknown to the model (encoded through the unknown edge,
        losslessly).  SentencePiece's default 0.9995.
    max_piece_length : int
        Longest piece, in symbols (SentencePiece's ``max_sentencepiece_length``, 16).
    seed_size : int
        Number of substrings (besides the symbols) in the seed vocabulary
        (``seed_sentencepiece_size``, 1,000,000).
    shrinking_factor : float in (0, 1)
        Each pruning round keeps ``max(1.1 * vocab_size, shrinking_factor * size)`` pieces.
    num_sub_iterations : int
        EM iterations per pruning round (2).
    split_by_whitespace : bool
        Split lines into words before each whitespace symbol (``" "``, or ``"\u2581"`` when
        the normalizer escapes whitespace); pieces then hold whitespace only in front.
    split_by_unicode_script, split_by_number, split_digits : bool
        SentencePiece's piece validity rules: no piece mixes Unicode scripts; digits form
        their own script (else they join anything); every digit is a piece of its own.
    ensure_unicode : bool
        Byte unit only: pieces may not start with a UTF-8 continuation byte.
    num_threads : int, optional
        Numba threads used by the E-step and the Viterbi passes (default: Numba's current
        setting).  Restored afterwards.
    callback : callable, optional
        Called after every EM iteration with a dict (``round``, ``iteration``,
        ``vocab_size``, ``loglik`` per symbol, ``elapsed`` seconds); return ``False`` to stop
        early (the current pieces are then finalized).
    verbose : bool
        Print one line per EM iteration to stdout.
    progress : bool
        Show a progress bar on stderr.
    max_sentencepiece_length, seed_sentencepiece_size : int, optional
        SentencePiece's names for ``max_piece_length`` and ``seed_size``.

    Returns
    -------
    UnigramModel
        Pieces ordered by decreasing score (log-probabilities; they sum to at most 1).

    Raises
    ------
    TypeError
        ``lines`` is a str or holds non-str items; ``callback`` is not callable;
        ``normalizer`` has no ``normalize_batch``.
    ValueError
        An option is out of range, no line is non-empty, or ``vocab_size`` is smaller than
        the number of kept symbols.
    """
    from ._model import UnigramModel

    if unit not in ("char", "byte"):
        raise ValueError(f"unit must be 'char' or 'byte', got {unit!r}")
    vocab_size = _check_int(vocab_size, "vocab_size")
    if max_sentencepiece_length is not None:
        if max_piece_length != 16:
            raise TypeError("give max_piece_length or max_sentencepiece_length, not both")
        max_piece_length = max_sentencepiece_length
    if seed_sentencepiece_size is not None:
        if seed_size != 1_000_000:
            raise TypeError("give seed_size or seed_sentencepiece_size, not both")
        seed_size = seed_sentencepiece_size
    max_len = _check_int(max_piece_length, "max_piece_length")
    if max_len > 512:
        raise ValueError(f"max_piece_length must be <= 512, got {max_len}")
    seed_size = _check_int(seed_size, "seed_size", 0)
    num_sub_iterations = _check_int(num_sub_iterations, "num_sub_iterations")
    shrinking_factor = _check_unit_interval(shrinking_factor, "shrinking_factor", hi_open=True)
    character_coverage = _check_unit_interval(character_coverage, "character_coverage")
    if num_threads is not None:
        num_threads = _check_int(num_threads, "num_threads")
        if num_threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"num_threads must be <= {numba.config.NUMBA_NUM_THREADS} "
                             f"(NUMBA_NUM_THREADS), got {num_threads}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    if normalizer is not None and not hasattr(normalizer, "normalize_batch"):
        raise TypeError("normalizer must be a SentencePieceNormalizer (or have normalize_batch)")
    if isinstance(lines, (str, bytes)):
        raise TypeError("lines must be an iterable of str, not a single str")
    texts = []
    for ln in lines:
        if not isinstance(ln, str):
            raise TypeError(f"lines must contain str, got {type(ln).__name__}")
        if ln:
            texts.append(ln)
    if not texts:
        raise ValueError("lines: no non-empty line to train on")

    old_threads = numba.get_num_threads()
    if num_threads is not None:
        numba.set_num_threads(num_threads)
    try:
        rules = (split_by_whitespace, split_by_unicode_script, split_by_number, split_digits,
                 ensure_unicode)
        if not EM.e_step.signatures:
            # First training in this process: compile (or load from Numba's cache) every
            # training kernel on a tiny corpus, with a notice if that takes a while.
            with compile_notice("training kernels", EM.e_step, "10 s"):
                _train(_WARM_UP_LINES, None, unit, normalizer, 1.0, max_len, seed_size, 0.75, 1,
                       *rules, None, False, False)
        pieces, scores = _train(texts, vocab_size, unit, normalizer, character_coverage, max_len,
                                seed_size, shrinking_factor, num_sub_iterations, *rules,
                                callback, verbose, progress)
    finally:
        numba.set_num_threads(old_threads)
    # float32 Viterbi sums, as SentencePiece: the model exports to it exactly
    return UnigramModel._from_list(pieces, scores, None, unit, None, normalizer, float32=True)


def _train(texts, vocab_size, unit, normalizer, character_coverage, max_len, seed_size,
           shrinking_factor, num_sub_iterations, split_by_whitespace, split_by_script,
           split_by_number, split_digits, ensure_unicode, callback, verbose, progress):
    t0 = time.perf_counter()
    ws_char = "\u2581" if getattr(normalizer, "escape_whitespaces", False) else " "
    C = build_corpus(texts, unit=unit, normalizer=normalizer, ws_char=ws_char,
                     split_by_whitespace=split_by_whitespace,
                     character_coverage=character_coverage, ensure_unicode=ensure_unicode)
    n_chars = C.alphabet.shape[0]
    if vocab_size is None:  # the warm-up: one piece more than the symbols
        vocab_size = n_chars + 1
    if vocab_size < n_chars:
        raise ValueError(f"vocab_size must be at least the number of kept symbols ({n_chars}), "
                         f"got {vocab_size}; lower character_coverage to keep fewer")
    # seeds
    ve = SEEDS.valid_extent(C.sym, C.script, C.digit, C.ws, C.cstart, C.bad_start, max_len,
                            split_by_script, split_by_number, split_digits, split_by_whitespace)
    sa = SEEDS.sorted_suffixes(C.sym, ve, n_chars, max_len)
    pos_weight = np.repeat(C.weight, C.word_len + 1)
    depth, lb, rb, freq = SEEDS.seed_candidates(C.sym, sa, ve, pos_weight, C.ws,
                                                  not split_by_whitespace)
    if depth.shape[0] > seed_size:
        sel = np.lexsort((lb, -(freq * depth)))[:seed_size]
        depth, lb, rb, freq = depth[sel], lb[sel], rb[sel], freq[sel]
    eptr, elen, epid = SEEDS.build_lattice(C.sym, sa, depth, lb, rb, n_chars)
    n_pieces = n_chars + depth.shape[0]
    plen = np.concatenate((np.ones(n_chars, dtype=np.int32), depth)).astype(np.int32)
    occ = np.empty(n_pieces, dtype=np.int64)
    where = np.flatnonzero(C.sym >= 0)
    occ[C.sym[where]] = where
    occ[n_chars:] = sa[lb]
    init = np.concatenate((C.sym_count, freq * depth))
    logp = np.log(init) - math.log(init.sum())
    alive = np.ones(n_pieces, dtype=np.bool_)

    n_chunks = max(1, min(4 * numba.get_num_threads(), C.word_start.shape[0]))
    vsum = float(C.weight.sum())
    desired = int(vocab_size * 1.1)
    bar = _ProgressBar(n_pieces, desired) if progress else None
    words = (C.word_start, C.word_len, C.weight)

    def unk_score():
        return float(logp[alive].min()) - 10.0 if alive.any() else -30.0

    rnd = 0
    stop = False
    n_compacted = n_pieces
    while True:
        rnd += 1
        for it in range(num_sub_iterations):
            counts, _, ll = EM.e_step(*words, eptr, elen, epid,
                                      *EM.pow2_weights(logp, unk_score()), n_chunks)
            logp = EM.m_step(counts, alive, 0.5)
            n_alive = int(alive.sum())
            if n_alive < 0.9 * n_compacted:  # drop dead pieces' edges once many died
                eptr, elen, epid = SEEDS.compact_lattice(eptr, elen, epid, alive)
                n_compacted = n_alive
            info = {"round": rnd, "iteration": it + 1, "vocab_size": n_alive,
                    "loglik": ll / C.total_symbols, "elapsed": time.perf_counter() - t0}
            if verbose:
                print(f"[train] round {rnd} EM {it + 1}: {info['vocab_size']} pieces, "
                      f"loglik/symbol {info['loglik']:.4f}, {info['elapsed']:.2f} s", flush=True)
            if bar is not None:
                bar.update(info)
            if callback is not None and callback(info) is False:
                stop = True
                break
        if stop or alive.sum() <= desired:
            break
        target = max(desired, int(shrinking_factor * alive.sum()))
        before = int(alive.sum())
        _prune(alive, logp, target, occ, plen, eptr, elen, epid, words, unk_score(), max_len,
               vsum, n_chunks)
        if int(alive.sum()) >= before:
            break  # nothing left to prune (every piece is needed): finalize as it is
        logp[~alive] = -np.inf
        eptr, elen, epid = SEEDS.compact_lattice(eptr, elen, epid, alive)
        n_compacted = int(alive.sum())

    # final: drop what Viterbi can never emit, put the symbols back, fill with the best
    status, _, _ = EM.alternatives(occ, plen, eptr, elen, epid, logp, unk_score(), max_len,
                                   n_chunks)
    min_score = float(logp[alive].min()) if alive.any() else 0.0
    final_idx, final_scores = [], []
    penalty = 0.0
    for c in range(n_chars):  # by decreasing count
        final_idx.append(c)
        if alive[c]:
            final_scores.append(float(logp[c]))
        else:
            final_scores.append(min_score + penalty)
            penalty += 1e-4
    others = np.flatnonzero(alive & (status != 1))
    others = others[others >= n_chars]
    others = others[np.argsort(-logp[others], kind="stable")][:max(0, vocab_size - n_chars)]
    final_idx.extend(others.tolist())
    final_scores.extend(logp[others].tolist())
    strings = _piece_strings(C, occ, plen, final_idx)
    order = sorted(range(len(strings)), key=lambda k: (-final_scores[k], strings[k]))
    elapsed = time.perf_counter() - t0
    if verbose:
        print(f"[train] done: {len(order)} pieces in {elapsed:.2f} s", flush=True)
    if bar is not None:
        bar.close(elapsed, len(order))
    return [strings[k] for k in order], [final_scores[k] for k in order]


def _prune(alive, logp, target, occ, plen, eptr, elen, epid, words, unk_lp, max_len, vsum,
           n_chunks):
    """SentencePiece's loss-based pruning of ``alive`` (in place) down to ``target`` pieces."""
    status, alt, alt_n = EM.alternatives(occ, plen, eptr, elen, epid, logp, unk_lp, max_len,
                                                n_chunks)
    freq, unk_freq = EM.viterbi_counts(*words, eptr, elen, epid, logp, unk_lp, n_chunks)
    loss = EM.prune_losses(freq, status, alt, alt_n, vsum, unk_freq)
    used = alive & (freq > 0)
    keep = used & (status == 0)
    cand = np.flatnonzero(used & ((status == 2) | (status == 3)))
    room = max(0, target - int(keep.sum()))
    # largest loss first (ties: lower index first, as SentencePiece's stable order)
    cand = cand[np.argsort(-loss[cand], kind="stable")][:room]
    keep[cand] = True
    alive[:] = keep


def _piece_strings(C, occ, plen, idx):
    out = []
    for i in idx:
        s = C.sym[occ[i]:occ[i] + plen[i]]
        vals = C.alphabet[s]
        if C.unit == "char":
            out.append(vals.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass"))
        else:
            out.append(bytes(vals.astype(np.uint8).tolist()))
    return out


IMPLEMENTATIONS["train"] = train_unigram
