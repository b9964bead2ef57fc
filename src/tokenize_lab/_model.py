"""``UnigramModel``: a unigram-LM tokenizer over a char or byte lattice."""
from __future__ import annotations

import base64
import gc
import json
import math
import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from probspace.random import Stream, as_stream

from . import _exact
from . import _lattice_numba as K
from ._lattice_batch import compact, run_encode
from ._trie import build_double_array

__all__ = ["UnigramModel"]

_METHODS = {"perfect": K.PERFECT, "ffbs": K.FFBS, "gumbel": K.GUMBEL,
            "viterbi_sampling": K.V0}
_MAX_CP = 0x110000

# piece kinds: pieces of kind NORMAL and USER are matched in the lattice; the others only
# have ids (SentencePiece's unknown/control/unused pieces, and byte-fallback pieces).
NORMAL, CONTROL, BYTE, USER = 0, 1, 2, 3


def _check_alpha(alpha):
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be None or a real number >= 0, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be None or a finite number >= 0, got {alpha}")
    return alpha


class _LazyUnits:
    """Texts as code-point slices of one array, decoded to str only when asked for."""

    def __init__(self, cps, offsets):
        self._cps = cps
        self._off = offsets

    def __len__(self):
        return self._off.shape[0] - 1

    def __getitem__(self, t):
        a, b = int(self._off[t]), int(self._off[t + 1])
        return self._cps[a:b].tobytes().decode("utf-32-le", "surrogatepass")


_P2 = np.ldexp(1.0, -np.arange(1075))  # 2**-k down to the smallest subnormal


def _n_chunks(nt):
    import numba
    return max(1, min(nt, 16 * numba.get_num_threads()))


def _byte_piece_name(b):
    return f"<0x{b:02X}>"


class UnigramModel:
    """Unigram language-model tokenizer with exact sampling of segmentations.

    A segmentation ``w = (w_1, ..., w_k)`` of a text has score ``S(w) = sum_i v(w_i)`` where
    ``v`` is the piece's log-probability.  Decoding picks the highest score (Viterbi);
    sampling draws ``w`` with probability ``exp(alpha S(w)) / Z(alpha)`` exactly.

    Parameters
    ----------
    pieces : mapping
        Piece -> score (log-probability, finite).  Piece ids follow the mapping's order.
        With ``unit="char"`` pieces are ``str``; with ``unit="byte"`` they are ``bytes`` (a
        ``str`` is taken as its UTF-8 bytes).
    unit : {"char", "byte"}
        The lattice's symbols: Unicode code points, or the bytes of the UTF-8 encoding
        (pieces may then split a character, as in BytePiece; decoding joins the bytes first,
        so it stays lossless).
    unk_score : float, optional
        Score of the *unknown* edge that covers one symbol where no one-symbol piece does
        (SentencePiece's rule).  Default: ``min(score) - 10`` (SentencePiece's value).
        Unknown symbols are never dropped: as pieces they come back as the text itself, as
        ids they become byte-fallback ids (see :attr:`byte_ids`), so ``decode(encode(x)) == x``.

    Notes
    -----
    Texts are processed as given (no normalization), except for models imported from
    SentencePiece, which normalize as the model asks (see :meth:`from_sentencepiece`).
    """

    def __init__(self, pieces, /, *, unit="char", unk_score=None, _kinds=None,
                 _normalizer=None, _byte_ids=None):
        if unit not in ("char", "byte"):
            raise ValueError(f"unit must be 'char' or 'byte', got {unit!r}")
        if not isinstance(pieces, Mapping):
            raise TypeError(f"pieces must be a mapping piece -> score, got {type(pieces).__name__}")
        self.unit = unit
        plist, scores = [], []
        for p, v in pieces.items():
            if unit == "byte" and isinstance(p, str):
                p = p.encode("utf-8", "surrogatepass")
            if unit == "char" and not isinstance(p, str):
                raise TypeError(f"pieces: char-unit pieces must be str, got {type(p).__name__}")
            if unit == "byte" and not isinstance(p, (bytes, bytearray)):
                raise TypeError(f"pieces: byte-unit pieces must be bytes or str, got {type(p).__name__}")
            if len(p) == 0:
                raise ValueError("pieces: the empty piece is not allowed")
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"pieces: score of {p!r} must be a real number, got {v!r}") from None
            if not math.isfinite(v):
                raise ValueError(f"pieces: score of {p!r} must be finite, got {v}")
            plist.append(bytes(p) if unit == "byte" else p)
            scores.append(v)
        if not plist:
            raise ValueError("pieces must not be empty")
        self._setup(plist, scores, _kinds, unit, unk_score, _normalizer, _byte_ids)

    @classmethod
    def _from_list(cls, plist, scores, kinds, unit, unk_score=None, normalizer=None, byte_ids=None):
        """Internal constructor: pieces in id order; non-matchable kinds may repeat names."""
        self = cls.__new__(cls)
        self.unit = unit
        self._setup(list(plist), scores, kinds, unit, unk_score, normalizer, byte_ids)
        return self

    def _setup(self, plist, scores, kinds, unit, unk_score, normalizer, byte_ids):
        self._pieces = plist
        self._scores = np.asarray(scores, dtype=np.float64)
        self._kinds = (np.zeros(len(plist), dtype=np.int8) if kinds is None
                       else np.asarray(kinds, dtype=np.int8))
        self._index = {}
        for i, p in enumerate(plist):
            if self._kinds[i] in (NORMAL, USER):
                if p in self._index:
                    raise ValueError(f"pieces: duplicate piece {p!r}")
                self._index[p] = i
        for i, p in enumerate(plist):
            self._index.setdefault(p, i)
        matched = (self._kinds == NORMAL) | (self._kinds == USER)
        if not matched.any():
            raise ValueError("pieces: no matchable piece")
        if unk_score is None:
            unk_score = float(self._scores[matched].min()) - 10.0
        unk_score = float(unk_score)
        if not math.isfinite(unk_score):
            raise ValueError(f"unk_score must be finite, got {unk_score}")
        self.unk_score = unk_score
        self._normalizer = normalizer
        # SentencePiece models decode in float32 sums so that ties break as in SentencePiece.
        from ._sentencepiece import SentencePieceNormalizer
        self._scores32 = self._scores.astype(np.float32)
        self._viterbi_code = (K.VITERBI_F32 if isinstance(normalizer, SentencePieceNormalizer)
                              else K.VITERBI)
        self._merge_unk = self._viterbi_code == K.VITERBI_F32 and byte_ids is None
        # Byte-fallback ids: from the vocabulary's own byte pieces when it has them
        # (SentencePiece byte_fallback models), else 256 ids after the vocabulary.
        if byte_ids is None:
            byte_ids = np.arange(len(plist), len(plist) + 256, dtype=np.int64)
        self.byte_ids = np.asarray(byte_ids, dtype=np.int64)
        self._byte_of_id = {int(i): b for b, i in enumerate(self.byte_ids)}
        self._build()

    # -- construction -------------------------------------------------------------------
    def _build(self):
        matched = np.flatnonzero((self._kinds == NORMAL) | (self._kinds == USER))
        self._matched_ids = matched
        if self.unit == "char":
            alphabet = sorted({ord(c) for i in matched for c in self._pieces[i]})
            table = np.full(_MAX_CP, -1, dtype=np.int32)
            table[np.asarray(alphabet, dtype=np.int64)] = np.arange(len(alphabet), dtype=np.int32)
            nsym = len(alphabet)
            seqs = [table[[ord(c) for c in self._pieces[i]]].tolist() for i in matched]
        else:
            table = np.arange(256, dtype=np.int32)
            nsym = 256
            seqs = [list(self._pieces[i]) for i in matched]
        self._table = table
        base, check, dpiece, maxlen = build_double_array(seqs, nsym)
        # trie piece ids index the matched subset; map them to vocabulary ids
        dpiece[dpiece >= 0] = matched[dpiece[dpiece >= 0]]
        self._trie_arrays = (base, check, dpiece.astype(np.int32))
        self._maxlen = maxlen
        self._single = {self._pieces[i] for i in matched if len(self._pieces[i]) == 1}
        self._match_index = {self._pieces[i]: int(i) for i in matched}
        obj = np.empty(len(self._pieces) + 1, dtype=object)
        obj[:-1] = self._pieces
        obj[-1] = None
        self._piece_obj = obj
        # ids as Python ints, made once: gathering these references is cheaper than making
        # a new int object per token (index -1, the unknown edge, gives -1)
        ido = np.empty(len(self._pieces) + 1, dtype=object)
        ido[:] = list(range(len(self._pieces))) + [-1]
        self._id_obj = ido

    # -- basic accessors ----------------------------------------------------------------
    def __len__(self):
        return len(self._pieces)

    @property
    def vocab_size(self) -> int:
        """Number of piece ids (byte-fallback ids beyond it are not counted)."""
        return len(self._pieces)

    @property
    def pieces(self) -> dict:
        """The vocabulary as an ordered dict piece -> score (id order)."""
        return {p: float(s) for p, s in zip(self._pieces, self._scores)}

    def __repr__(self):
        return (f"UnigramModel(vocab_size={len(self._pieces)}, unit={self.unit!r}, "
                f"max_piece_len={self._maxlen}"
                + (f", normalizer={type(self._normalizer).__name__}" if self._normalizer else "") + ")")

    def piece_to_id(self, piece):
        """Id of ``piece`` (a list gives a list).  Unknown pieces raise ``KeyError``."""
        if isinstance(piece, (list, tuple)):
            return [self.piece_to_id(p) for p in piece]
        if self.unit == "byte" and isinstance(piece, str):
            piece = piece.encode("utf-8", "surrogatepass")
        i = self._index.get(piece)
        if i is None:
            if isinstance(piece, str) and len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                try:
                    return int(self.byte_ids[int(piece[3:5], 16)])
                except ValueError:
                    pass
            raise KeyError(f"piece {piece!r} is not in the vocabulary")
        return i

    def id_to_piece(self, i):
        """Piece of id ``i`` (a list gives a list); byte-fallback ids give ``"<0xXX>"``."""
        if isinstance(i, (list, tuple, np.ndarray)):
            return [self.id_to_piece(int(j)) for j in i]
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"id must be an integer, got {type(i).__name__}")
        i = int(i)
        if 0 <= i < len(self._pieces) and i not in self._byte_of_id:
            return self._pieces[i]
        if i in self._byte_of_id:
            return _byte_piece_name(self._byte_of_id[i])
        raise ValueError(f"id {i} is out of range [0, {len(self._pieces) + 256})")

    # -- text preparation ---------------------------------------------------------------
    def _prepare(self, texts):
        """Normalize and convert a list of texts to (units, sym array, offsets).

        ``units[t]`` is text t as the lattice sees it (normalized str, or bytes).
        """
        if self.unit == "char":
            if hasattr(self._normalizer, "normalize_symbols"):
                # normalization, decoding and the symbol lookup in one compiled pass
                cps, sym, offsets = self._normalizer.normalize_symbols(texts, self._table)
                return _LazyUnits(cps, offsets), sym, offsets
            else:
                if self._normalizer is not None:
                    texts = self._normalizer.normalize_batch(texts)
                joined = "".join(texts)
                cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
                lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
                offsets = np.zeros(len(texts) + 1, dtype=np.int64)
                np.cumsum(lens, out=offsets[1:])
                units = texts
            sym = self._table[cps]
        else:
            if self._normalizer is not None:
                texts = self._normalizer.normalize_batch(texts)
            units = [t.encode("utf-8", "surrogatepass") for t in texts]
            joined = b"".join(units)
            sym = np.frombuffer(joined, dtype=np.uint8).astype(np.int32)
            lens = np.fromiter((len(u) for u in units), dtype=np.int64, count=len(units))
            offsets = np.zeros(len(texts) + 1, dtype=np.int64)
            np.cumsum(lens, out=offsets[1:])
        return units, sym, offsets

    def _run(self, sym, offsets, alpha, method, stream, first=0):
        nt = offsets.shape[0] - 1
        total = int(offsets[-1])
        out_pid = np.empty(max(total, 1), dtype=np.int32)
        out_end = np.empty(max(total, 1), dtype=np.int32)
        out_count = np.empty(nt, dtype=np.int64)
        out_logz = np.empty(nt, dtype=np.float64)
        if first + nt > 2**32:
            raise ValueError("a seed gives at most 2**32 independent text streams")
        run_encode(method, sym, offsets, self._trie_arrays, self._scores, self._scores32,
                   self.unk_score, 0.0 if alpha is None else alpha, stream.seed, stream.id,
                   first, self._maxlen, out_pid, out_end, out_count, out_logz,
                   self._pow2_weights(alpha) if method == K.PERFECT else None)
        return out_pid, out_end, out_count, out_logz

    def _pow2_weights(self, alpha):
        """exp(alpha * v) as mantissa in [1, 2) times 2**exponent, per piece (and unknown)."""
        key = alpha
        cache = getattr(self, "_pw_cache", None)
        if cache is not None and cache[0] == key:
            return cache[1]
        if alpha is None:
            res = (np.ones(1), np.zeros(1, dtype=np.int64), 1.0, 0, _P2)
        else:
            x = alpha * self._scores / math.log(2.0)
            ex = np.floor(x)
            xu = alpha * self.unk_score / math.log(2.0)
            eu = math.floor(xu)
            res = (np.exp2(x - ex), ex.astype(np.int64), float(2.0 ** (xu - eu)), int(eu), _P2)
        self._pw_cache = (key, res)
        return res

    # -- encoding -----------------------------------------------------------------------
    def encode(self, text_or_texts, /, *, alpha=None, method="perfect", seed=None, out="pieces"):
        """Segment text(s): Viterbi decoding, or an exact sample ∝ exp(alpha * score).

        Parameters
        ----------
        text_or_texts : str or list of str
            A list is encoded in one compiled call, texts in parallel across cores.
        alpha : float >= 0, optional
            ``None``: Viterbi (the best segmentation).  Otherwise draw a segmentation with
            probability ``exp(alpha * S(w)) / Z``; ``alpha=0`` is uniform over segmentations,
            ``alpha -> inf`` tends to Viterbi.
        method : {"perfect", "ffbs", "gumbel", "viterbi_sampling"}
            Sampler (ignored for Viterbi).  ``"perfect"``: one forward pass, partition-function
            table plus weighted-reservoir backpointers (BytePiece 0.6; the table is kept as
            mantissa x power of two, so an edge costs no exp/log).  ``"ffbs"``: forward
            filtering, backward sampling (SentencePiece ``nbest_size=-1``).  ``"gumbel"``:
            backpointer = argmax of ``log Z(s) + alpha v + Gumbel``.  All three are exact.
            ``"viterbi_sampling"``: the original BytePiece 0.4 algorithm (pairwise sigmoid
            duels); it is **biased** and kept for comparison only.
        seed : int, Stream or None
            Text ``i`` of the call uses child stream ``i`` of ``seed``, so results do not
            depend on threads; ``encode(t, seed=s) == encode([t], seed=s)[0]``.
        out : {"pieces", "ids"}
            Pieces (substrings of the normalized text; bytes for ``unit="byte"``) or ids.

        Returns
        -------
        list
            Pieces or ids for one text; a list of those for a list of texts.
        """
        return self._encode_chunk(text_or_texts, 0, alpha=alpha, method=method, seed=seed, out=out)

    def _encode_chunk(self, text_or_texts, first, *, alpha, method, seed, out):
        """encode() for texts that are items ``first, first+1, ...`` of a larger corpus."""
        single = isinstance(text_or_texts, str)
        if single:
            texts = [text_or_texts]
        else:
            if isinstance(text_or_texts, (bytes, bytearray)) or not hasattr(text_or_texts, "__iter__"):
                raise TypeError("text_or_texts must be a str or a list of str, got "
                                f"{type(text_or_texts).__name__}")
            texts = list(text_or_texts)
            for t in texts:
                if not isinstance(t, str):
                    raise TypeError(f"text_or_texts must contain str, got {type(t).__name__}")
        alpha = _check_alpha(alpha)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        if out not in ("pieces", "ids"):
            raise ValueError(f"out must be 'pieces' or 'ids', got {out!r}")
        stream = as_stream(seed)
        code = (self._viterbi_code if alpha is None else _METHODS[method])
        units, sym, offsets = self._prepare(texts)
        pid, end, count, _ = self._run(sym, offsets, alpha, code, stream, first)
        # Building many small lists triggers the cyclic GC, which then walks every object;
        # the lists made here hold only ints/strings, so pausing it is safe and much faster.
        gc_was = gc.isenabled()
        gc.disable()
        try:
            res = self._collect(units, offsets, pid, end, count, out)
        finally:
            if gc_was:
                gc.enable()
        return res[0] if single else res

    def _collect(self, units, offsets, pid, end, count, out):
        nt = len(units)
        if nt == 0:
            return []
        ccount = np.zeros(nt + 1, dtype=np.int64)
        np.cumsum(count, out=ccount[1:])
        fp, fe = compact(pid, end, offsets, count)
        unk = np.flatnonzero(fp < 0)
        if out == "pieces":
            flat = self._piece_obj[fp].tolist()  # -1 -> None, patched below
            if unk.size:
                which = np.searchsorted(ccount, unk, side="right") - 1
                for j, t in zip(unk.tolist(), which.tolist()):
                    e = int(fe[j])
                    flat[j] = units[t][e - 1:e]
                if self._merge_unk:
                    return self._merge_unknown_runs(flat, ccount, unk, which)
            cc = ccount.tolist()
            return [flat[i:j] for i, j in zip(cc, cc[1:])]
        flat = self._id_obj.take(fp).tolist()
        if not unk.size:
            cc = ccount.tolist()
            return [flat[i:j] for i, j in zip(cc, cc[1:])]
        which = np.searchsorted(ccount, unk, side="right") - 1
        cc = ccount.tolist()
        res = [flat[i:j] for i, j in zip(cc, cc[1:])]
        bid = self.byte_ids.tolist()
        if isinstance(units, _LazyUnits):
            # the unknown symbols' code points, read straight from the normalized array
            syms = [chr(c) for c in units._cps[offsets[which] + fe[unk] - 1].tolist()]
        else:
            syms = [units[t][e - 1:e] for t, e in zip(which.tolist(), fe[unk].tolist())]
        # splice byte-fallback ids in place of unknown symbols, right to left per row
        for j, t, u in zip(unk[::-1].tolist(), which[::-1].tolist(), syms[::-1]):
            b = u.encode("utf-8", "surrogatepass") if isinstance(u, str) else u
            r = j - cc[t]
            res[t][r:r + 1] = [bid[x] for x in b]
        return res

    def _merge_unknown_runs(self, flat, ccount, unk, which):
        # SentencePiece (without byte fallback) reports a run of unknown symbols as one piece
        unkset = set(unk.tolist())
        cc = ccount.tolist()
        rows = [flat[i:j] for i, j in zip(cc, cc[1:])]
        for t in sorted(set(which.tolist())):
            row = []
            prev_unk = False
            for j in range(int(ccount[t]), int(ccount[t + 1])):
                if j in unkset and prev_unk:
                    row[-1] = row[-1] + flat[j]
                else:
                    row.append(flat[j])
                prev_unk = j in unkset
            rows[t] = row
        return rows

    # -- decoding -----------------------------------------------------------------------
    def decode(self, pieces_or_ids):
        """Text from pieces or ids (a list of such lists gives a list of texts).

        Lossless: ``decode(encode(x)) == x`` for any string (for SentencePiece models, up to
        the model's normalization, as in SentencePiece).
        """
        x = pieces_or_ids
        if isinstance(x, np.ndarray):
            x = x.tolist()
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"pieces_or_ids must be a list, got {type(x).__name__}")
        if x and isinstance(x[0], (list, tuple, np.ndarray)):
            return [self.decode(r) for r in x]
        if all(isinstance(p, (numbers.Integral, np.integer)) and not isinstance(p, bool) for p in x) and x:
            return self._decode_ids([int(i) for i in x])
        if self.unit == "char":
            if not all(isinstance(p, str) for p in x):
                raise TypeError("pieces_or_ids: expected all str pieces or all int ids")
            s = "".join(x)
        else:
            bs = []
            for p in x:
                if isinstance(p, str):
                    p = p.encode("utf-8", "surrogatepass")
                if not isinstance(p, (bytes, bytearray)):
                    raise TypeError("pieces_or_ids: expected all bytes pieces or all int ids")
                bs.append(bytes(p))
            s = b"".join(bs).decode("utf-8", "surrogatepass")
        return self._denormalize(s)

    def _decode_ids(self, ids):
        parts = []
        buf = bytearray()
        n = len(self._pieces)
        for i in ids:
            b = self._byte_of_id.get(i)
            if b is not None:
                buf.append(b)
                continue
            if not 0 <= i < n:
                raise ValueError(f"pieces_or_ids: id {i} is out of range")
            if self._kinds[i] == CONTROL:
                continue  # <s>, </s>, <unk>, unused: no text (as SentencePiece)
            p = self._pieces[i]
            if self.unit == "byte":
                buf.extend(p)
            else:
                if buf:
                    parts.append(buf.decode("utf-8", "surrogatepass"))
                    buf = bytearray()
                parts.append(p)
        if buf:
            parts.append(buf.decode("utf-8", "surrogatepass"))
        return self._denormalize("".join(parts))

    def _denormalize(self, s):
        return self._normalizer.denormalize(s) if self._normalizer is not None else s

    # -- exact quantities ---------------------------------------------------------------
    def _units_of(self, text, name="text"):
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        if self._normalizer is not None:
            text = self._normalizer.normalize(text)
        return text.encode("utf-8", "surrogatepass") if self.unit == "byte" else text

    def _ends(self, units):
        return _exact.lattice_edges(units, self._match_index, self._scores, self._maxlen,
                                    self.unk_score, self._single)

    def _edge_piece(self, units, s, e, pid):
        return units[s:e] if pid < 0 else self._pieces[pid]

    def log_partition(self, text, /, *, alpha=1.0):
        """``log Z = log sum_w exp(alpha * S(w))`` over all segmentations (float64).

        A list of texts gives a NumPy array (computed in one compiled call).
        """
        alpha = _check_alpha(alpha)
        if alpha is None:
            raise ValueError("alpha must be a number >= 0 for log_partition")
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"text must be a str or a list of str, got {type(t).__name__}")
        _, sym, offsets = self._prepare(texts)
        _, _, _, logz = self._run(sym, offsets, alpha, K.FFBS, Stream(0))
        return float(logz[0]) if single else logz

    def score(self, pieces):
        """Score ``S(w) = sum of piece scores`` of a segmentation given as pieces.

        A piece outside the vocabulary is allowed only if it is one symbol not covered by a
        one-symbol piece (an unknown edge, scored ``unk_score``); otherwise ``ValueError``.
        """
        if not isinstance(pieces, (list, tuple)):
            raise TypeError(f"pieces must be a list, got {type(pieces).__name__}")
        tot = 0.0
        for p in pieces:
            if self.unit == "byte" and isinstance(p, str):
                p = p.encode("utf-8", "surrogatepass")
            i = self._match_index.get(p)
            if i is not None:
                tot += float(self._scores[i])
            elif len(p) == 1 and p not in self._single:
                tot += self.unk_score
            else:
                raise ValueError(f"pieces: {p!r} is not a piece of the lattice")
        return tot

    def probability(self, text, pieces, /, *, alpha):
        """Exact probability ``exp(alpha S(w)) / Z`` of segmentation ``pieces`` of ``text``."""
        alpha = _check_alpha(alpha)
        if alpha is None:
            raise ValueError("alpha must be a number >= 0 for probability")
        units = self._units_of(text)
        if self.unit == "byte":
            pieces = [p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p for p in pieces]
            joined = b"".join(pieces)
        else:
            joined = "".join(pieces)
        if joined != units:
            raise ValueError("pieces do not spell the (normalized) text")
        s = self.score(list(pieces))
        return math.exp(alpha * s - self.log_partition(text, alpha=alpha))

    def enumerate(self, text, /, *, alpha, limit=100_000):
        """Every segmentation with its exact probability, most probable first.

        Raises ``ValueError`` if there are more than ``limit`` segmentations (counted
        exactly beforehand).
        """
        alpha = _check_alpha(alpha)
        if alpha is None:
            raise ValueError("alpha must be a number >= 0 for enumerate")
        units = self._units_of(text)
        ends = self._ends(units)
        npaths = _exact.count_paths(ends)
        if npaths > limit:
            raise ValueError(f"limit: text has {npaths} segmentations, more than limit={limit}")
        paths = _exact.enumerate_paths(ends)
        lz = _exact.forward(ends, alpha)[-1]
        out = []
        for path in paths:
            sc = sum(v for _, _, _, v in path)
            out.append(([self._edge_piece(units, s, e, pid) for s, e, pid, _ in path],
                         math.exp(alpha * sc - lz)))
        out.sort(key=lambda t: -t[1])
        return out

    def count_segmentations(self, text, /):
        """Exact number of segmentations of ``text`` (Python int)."""
        return _exact.count_paths(self._ends(self._units_of(text)))

    def nbest(self, text, n, /):
        """The ``n`` best segmentations, exactly, as ``[(pieces, score), ...]`` best first."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        units = self._units_of(text)
        if len(units) == 0:
            return [([], 0.0)]
        res = _exact.kbest(self._ends(units), int(n))
        return [([self._edge_piece(units, s, e, pid) for s, e, pid, _ in edges], sc)
                for sc, edges in res]

    def marginals(self, text, /, *, alpha=1.0):
        """Expected count of each piece in a segmentation drawn ∝ exp(alpha S) (forward-backward).

        Returns a dict piece -> expected count (pieces with zero probability left out).
        """
        alpha = _check_alpha(alpha)
        if alpha is None:
            raise ValueError("alpha must be a number >= 0 for marginals")
        units = self._units_of(text)
        edges, _ = _exact.edge_marginals(self._ends(units), alpha)
        out = {}
        for (s, e, pid), p in edges:
            key = self._edge_piece(units, s, e, pid)
            out[key] = out.get(key, 0.0) + p
        return out

    # -- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict:
        enc = (lambda p: p) if self.unit == "char" else (lambda p: base64.b64encode(p).decode())
        d = {"format": "tokenize_lab.unigram", "version": 1, "unit": self.unit,
             "unk_score": self.unk_score,
             "pieces": [[enc(p), float(s), int(k)] for p, s, k in
                        zip(self._pieces, self._scores, self._kinds)],
             "byte_ids": self.byte_ids.tolist()}
        if self._normalizer is not None:
            d["normalizer"] = self._normalizer.to_dict()
        return d

    def save(self, path):
        """Write the model as JSON (our own format; see :meth:`load`)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or d.get("format") != "tokenize_lab.unigram":
            raise ValueError("not a tokenize_lab.unigram model")
        unit = d["unit"]
        dec = (lambda p: p) if unit == "char" else (lambda p: base64.b64decode(p))
        rows = d["pieces"]
        normalizer = None
        if d.get("normalizer"):
            from ._sentencepiece import SentencePieceNormalizer
            normalizer = SentencePieceNormalizer.from_dict(d["normalizer"])
        return cls._from_list([dec(r[0]) for r in rows], [r[1] for r in rows],
                              [r[2] for r in rows], unit, d["unk_score"], normalizer,
                              d.get("byte_ids"))

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- interop and training (implemented in their own modules) --------------------------
    @classmethod
    def from_sentencepiece(cls, model_file_or_bytes, /, *, normalize=True):
        """Import a SentencePiece unigram ``.model`` (path or serialized bytes).

        See :func:`tokenize_lab._sentencepiece.from_sentencepiece` for what is reproduced.
        """
        from ._sentencepiece import from_sentencepiece
        return from_sentencepiece(cls, model_file_or_bytes, normalize=normalize)

    @classmethod
    def from_bytepiece(cls, path, /):
        """Import a BytePiece JSON model ``{b64(piece): [id, text, count]}`` (byte unit)."""
        from ._bytepiece import from_bytepiece
        return from_bytepiece(cls, path)

    @classmethod
    def train(cls, lines, vocab_size, /, **options):
        """Train a unigram model with EM and loss-based pruning; see :func:`tokenize_lab.train_unigram`."""
        from ._train import train_unigram
        return train_unigram(lines, vocab_size, **options)
