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
from ._normalizer import normalizer_from_dict
from ._pieces import (BYTE, CONTROL, IMPLEMENTATIONS, NORMAL, SPACE, UNK_SURFACE, UNKNOWN,
                      UNUSED, USER, byte_of_piece, byte_piece_name)
from ._trie import build_double_array

__all__ = ["UnigramModel"]

_METHODS = {"perfect": K.PERFECT, "ffbs": K.FFBS, "gumbel": K.GUMBEL,
            "viterbi_sampling": K.V0}
_MAX_CP = 0x110000

# piece kinds (see ._pieces): NORMAL and USER pieces are matched in the lattice; the others
# (UNKNOWN, CONTROL, UNUSED, BYTE) only have ids.  Re-exported here for old imports.
__kinds__ = (NORMAL, CONTROL, BYTE, USER, UNKNOWN, UNUSED)
_SPECIAL_NAMES = {"unk": "<unk>", "bos": "<s>", "eos": "</s>", "pad": "<pad>"}


def _implementation(name):
    try:
        return IMPLEMENTATIONS[name]
    except KeyError:  # only if a private module was imported without the package
        import importlib
        importlib.import_module("tokenize_lab")
        return IMPLEMENTATIONS[name]


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


def _nfc_aligned(text):
    """NFC with an alignment: text cut before every character of combining class 0, each
    segment normalized alone (NFC composes only within such segments, Hangul jamo
    aside: if that ever differs from NFC of the whole, everything maps to the start)."""
    import unicodedata
    cuts = [i for i, ch in enumerate(text) if unicodedata.combining(ch) == 0] + [len(text)]
    if not cuts or cuts[0] != 0:
        cuts = [0] + cuts
    parts, n2o = [], []
    for a, b in zip(cuts, cuts[1:]):
        seg = unicodedata.normalize("NFC", text[a:b])
        parts.append(seg)
        n2o.extend([a] * len(seg))
    normalized = "".join(parts)
    if normalized != unicodedata.normalize("NFC", text):
        normalized = unicodedata.normalize("NFC", text)
        n2o = [0] * len(normalized)
    return normalized, np.asarray(n2o + [len(text)], dtype=np.int64)


_P2 = np.ldexp(1.0, -np.arange(1075))  # 2**-k down to the smallest subnormal


def _n_chunks(nt):
    import numba
    return max(1, min(nt, 16 * numba.get_num_threads()))


def _utf8_chars_sp(data):
    """Decode bytes as SentencePiece's decoder does: each byte that does not start a valid
    UTF-8 character (surrogates and overlongs included) becomes one U+FFFD."""
    out = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        ln = 1 if b < 0x80 else 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else \
            4 if 0xF0 <= b <= 0xF4 else 0
        if ln and i + ln <= n:
            try:
                out.append(data[i:i + ln].decode("utf-8"))
                i += ln
                continue
            except UnicodeDecodeError:
                pass
        out.append("\ufffd")
        i += 1
    return "".join(out)


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
        ``str`` is taken as its UTF-8 bytes).  Pieces spelled ``<0x00>`` ... ``<0xFF>``
        are SentencePiece's byte pieces: give all 256 or none (see Notes).
    unit : {"char", "byte"}
        The lattice's symbols: Unicode code points, or the bytes of the UTF-8 encoding
        (pieces may then split a character, as in BytePiece; decoding joins the bytes first,
        so it stays lossless).
    unk_score : float, optional
        Score of the *unknown* edge that covers one symbol where no one-symbol piece does
        (SentencePiece's rule).  Default: ``min(score) - 10`` (SentencePiece's value).

    Notes
    -----
    **Byte fallback and ids.**  A model built here has SentencePiece's byte fallback: the
    256 byte pieces ``<0x00>`` ... ``<0xFF>`` are part of the vocabulary, after the given
    pieces (ids ``len(pieces) ... len(pieces) + 255``) unless the mapping holds them already.
    An unknown symbol is encoded as the byte pieces of its UTF-8 bytes (as pieces too, for
    ``unit="char"``; a byte-unit model shows the byte itself), so every id is below
    :attr:`vocab_size` and ``decode(encode(x)) == x`` for any string.  Such a model has no
    ``<unk>``, ``<s>``, ``</s>`` or ``<pad>`` (their ids are -1).

    **Viterbi sums.**  Models trained here (:meth:`train`) and SentencePiece models sum
    piece scores in float32, as SentencePiece does, so that they export to SentencePiece
    exactly (ties included); a model built from a mapping sums in float64.

    **SentencePiece models** (:meth:`from_sentencepiece`) behave as
    ``SentencePieceProcessor``: the model's normalization (user-defined symbols matched
    first), Viterbi sums in float32, unknown characters as one ``<unk>`` per run (or byte
    pieces with ``byte_fallback``), SentencePiece's ``decode`` (``" ⁇ "`` for ``<unk>``, U+FFFD
    for invalid byte sequences, the leading-whitespace rule) and special ids.

    Texts are processed as given (no normalization) unless the model has a normalizer.
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
        if _kinds is None:
            byte_at = [i for i, p in enumerate(plist) if byte_of_piece(p) >= 0]
            if byte_at:
                if len(byte_at) != 256:
                    raise ValueError("pieces: byte pieces <0x00>..<0xFF> must be given all "
                                     f"256 or none, got {len(byte_at)}")
                _kinds = [NORMAL] * len(plist)
                _byte_ids = np.zeros(256, dtype=np.int64)
                for i in byte_at:
                    _kinds[i] = BYTE
                    _byte_ids[byte_of_piece(plist[i])] = i
        self._setup(plist, scores, _kinds, unit, unk_score, _normalizer, _byte_ids)

    @classmethod
    def _from_list(cls, plist, scores, kinds, unit, unk_score=None, normalizer=None, byte_ids=None,
                   *, special=None, unk_surface=UNK_SURFACE, float32=None):
        """Internal constructor: pieces in id order; non-matchable kinds may repeat names.

        ``byte_ids`` (256 ids of byte pieces): the byte fallback.  Without it, a model with
        an UNKNOWN piece maps unknown symbols to it (SentencePiece without byte fallback);
        any other model gets the 256 byte pieces appended.
        """
        self = cls.__new__(cls)
        self.unit = unit
        self._setup(list(plist), scores, kinds, unit, unk_score, normalizer, byte_ids,
                    special=special, unk_surface=unk_surface, float32=float32)
        return self

    def _setup(self, plist, scores, kinds, unit, unk_score, normalizer, byte_ids, *,
               special=None, unk_surface=UNK_SURFACE, float32=None):
        scores = list(scores)
        kinds = [NORMAL] * len(plist) if kinds is None else [int(k) for k in kinds]
        unk_ids = [i for i, k in enumerate(kinds) if k == UNKNOWN]
        if byte_ids is not None:
            byte_ids = np.asarray(byte_ids, dtype=np.int64)
            if byte_ids.shape != (256,):
                raise ValueError("byte_ids: expected 256 ids")
            if (byte_ids >= len(plist)).any():
                # (files written before byte pieces joined the vocabulary: ids after it)
                if not np.array_equal(byte_ids, np.arange(len(plist), len(plist) + 256)):
                    raise ValueError("byte_ids: ids out of range")
                byte_ids = None
        covered = unit == "byte" and all(
            bytes([b]) in plist for b in range(256))  # (every byte is a piece: no unknowns)
        if byte_ids is None and not unk_ids and not covered:
            # the byte fallback of models built here: 256 byte pieces after the vocabulary
            first = len(plist)
            plist = plist + [byte_piece_name(b) if unit == "char"
                             else byte_piece_name(b).encode() for b in range(256)]
            scores = scores + [0.0] * 256
            kinds = kinds + [BYTE] * 256
            byte_ids = np.arange(first, first + 256, dtype=np.int64)
        self._pieces = plist
        self._scores = np.asarray(scores, dtype=np.float64)
        self._kinds = np.asarray(kinds, dtype=np.int8)
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
        self._scores32 = self._scores.astype(np.float32)
        # (SentencePiece models and models trained here; hand-built ones sum in float64)
        self._f32 = bool(getattr(normalizer, "float32_viterbi", False) if float32 is None
                         else float32)
        self._viterbi_code = K.VITERBI_F32 if self._f32 else K.VITERBI
        self._byte_fallback = byte_ids is not None
        self._unk_id = unk_ids[0] if unk_ids else -1
        self._merge_unk = not self._byte_fallback
        self._special = dict(_SPECIAL_NAMES, **(special or {}))
        self._unk_surface = unk_surface
        self._sp_decode = (unit == "char"
                           and isinstance(getattr(normalizer, "escape_whitespaces", None), bool))
        if byte_ids is None:
            byte_ids = np.full(256, -1, dtype=np.int64)
        self.byte_ids = byte_ids
        self._byte_of_id = {int(i): b for b, i in enumerate(self.byte_ids) if i >= 0}
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
        """Number of ids (every piece: matched, special and byte pieces); every id is below."""
        return len(self._pieces)

    @property
    def pieces(self) -> dict:
        """The matched pieces (normal and user-defined) as an ordered dict piece -> score.

        Special pieces (unknown, control, unused) and byte pieces are left out: they are
        never matched in the lattice (``UnigramModel(m.pieces)`` rebuilds the lattice).
        """
        keep = (self._kinds == NORMAL) | (self._kinds == USER)
        return {self._pieces[i]: float(self._scores[i]) for i in np.flatnonzero(keep)}

    def __repr__(self):
        return (f"UnigramModel(vocab_size={len(self._pieces)}, unit={self.unit!r}, "
                f"max_piece_len={self._maxlen}"
                + (f", normalizer={type(self._normalizer).__name__}" if self._normalizer else "") + ")")

    def _special_id(self, key):
        if key == "unk":
            return self._unk_id
        i = self._index.get(self._special[key] if self.unit == "char"
                            else self._special[key].encode())
        return i if i is not None and self._kinds[i] == CONTROL else -1

    @property
    def unk_id(self) -> int:
        """Id of the unknown piece ``<unk>``, or -1 (models with byte fallback built here)."""
        return self._unk_id

    @property
    def bos_id(self) -> int:
        """Id of the control piece ``<s>`` (SentencePiece's ``bos_piece``), or -1."""
        return self._special_id("bos")

    @property
    def eos_id(self) -> int:
        """Id of the control piece ``</s>`` (SentencePiece's ``eos_piece``), or -1."""
        return self._special_id("eos")

    @property
    def pad_id(self) -> int:
        """Id of the control piece ``<pad>`` (SentencePiece's ``pad_piece``), or -1."""
        return self._special_id("pad")

    def _kind_of(self, i, kind):
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"id must be an integer, got {type(i).__name__}")
        if not 0 <= i < len(self._pieces):
            raise ValueError(f"id {i} is out of range [0, {len(self._pieces)})")
        return bool(self._kinds[int(i)] == kind)

    def is_unknown(self, i) -> bool:
        """Whether id ``i`` is the unknown piece (SentencePiece's ``is_unknown``)."""
        return self._kind_of(i, UNKNOWN)

    def is_control(self, i) -> bool:
        """Whether id ``i`` is a control piece such as ``<s>`` (``is_control``)."""
        return self._kind_of(i, CONTROL)

    def is_unused(self, i) -> bool:
        """Whether id ``i`` is an unused piece (``is_unused``)."""
        return self._kind_of(i, UNUSED)

    def is_byte(self, i) -> bool:
        """Whether id ``i`` is a byte piece ``<0xNN>`` (``is_byte``)."""
        return self._kind_of(i, BYTE)

    def piece_to_id(self, piece):
        """Id of ``piece`` (a list gives a list).

        A piece outside the vocabulary gives :attr:`unk_id`, as in SentencePiece; a model
        without an unknown piece raises ``KeyError`` instead.
        """
        if isinstance(piece, (list, tuple)):
            return [self.piece_to_id(p) for p in piece]
        if self.unit == "byte" and isinstance(piece, str):
            piece = piece.encode("utf-8", "surrogatepass")
        i = self._index.get(piece)
        if i is None:
            if self._unk_id >= 0:
                return self._unk_id
            raise KeyError(f"piece {piece!r} is not in the vocabulary")
        return i

    def id_to_piece(self, i):
        """Piece of id ``i`` (a list gives a list)."""
        if isinstance(i, (list, tuple, np.ndarray)):
            return [self.id_to_piece(int(j)) for j in i]
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"id must be an integer, got {type(i).__name__}")
        i = int(i)
        if 0 <= i < len(self._pieces):
            return self._pieces[i]
        raise ValueError(f"id {i} is out of range [0, {len(self._pieces)})")

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
    def encode(self, text_or_texts, /, *, alpha=None, method="perfect", seed=None, out="pieces",
               add_bos=False, add_eos=False, with_offsets=False):
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
            Unknown symbols come out as SentencePiece's do: one ``<unk>`` (its id; as a
            piece, the run's text) per run of them, or their UTF-8 bytes as byte pieces
            ``<0xNN>`` for a model with byte fallback (every model built here).
        add_bos, add_eos : bool
            Put the ``<s>`` / ``</s>`` control piece first / last (SentencePiece's options);
            ``ValueError`` if the model has no such piece.
        with_offsets : bool
            Also return, for every piece, its ``(begin, end)`` span in the *original* text
            in characters, through normalization (SentencePiece's ``begin``/``end``, which
            count bytes): a piece covers the input that produced its normalized characters.
            Byte pieces of one character: the last one spans the character, the others are
            empty at its start; ``<s>`` is ``(0, 0)``, ``</s>`` is ``(len, len)``.

        Returns
        -------
        list or tuple
            Pieces or ids for one text; a list of those for a list of texts.  With
            ``with_offsets=True`` each result is a pair ``(pieces_or_ids, spans)``.
        """
        return self._encode_chunk(text_or_texts, 0, alpha=alpha, method=method, seed=seed, out=out,
                                  add_bos=add_bos, add_eos=add_eos, with_offsets=with_offsets)

    def _encode_chunk(self, text_or_texts, first, *, alpha, method, seed, out, add_bos=False,
                      add_eos=False, with_offsets=False):
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
        for flag, key in ((add_bos, "bos"), (add_eos, "eos")):
            if not isinstance(flag, bool):
                raise TypeError(f"add_{key} must be a bool, got {type(flag).__name__}")
            if flag and self._special_id(key) < 0:
                raise ValueError(f"add_{key}: the model has no {self._special[key]!r} control "
                                 "piece")
        if not isinstance(with_offsets, bool):
            raise TypeError(f"with_offsets must be a bool, got {type(with_offsets).__name__}")
        stream = as_stream(seed)
        code = (self._viterbi_code if alpha is None else _METHODS[method])
        units, sym, offsets = self._prepare(texts)
        pid, end, count, _ = self._run(sym, offsets, alpha, code, stream, first)
        # Building many small lists triggers the cyclic GC, which then walks every object;
        # the lists made here hold only ints/strings, so pausing it is safe and much faster.
        gc_was = gc.isenabled()
        gc.disable()
        try:
            if with_offsets:
                res = self._collect_spans(texts, units, offsets, pid, end, count, out)
            else:
                res = self._collect(units, offsets, pid, end, count, out)
            if add_bos or add_eos:
                res = [self._add_specials(r, add_bos, add_eos, out, with_offsets, t)
                       for r, t in zip(res, texts)]
        finally:
            if gc_was:
                gc.enable()
        return res[0] if single else res

    def _add_specials(self, r, add_bos, add_eos, out, with_offsets, text):
        def tok(key):
            return self._special_id(key) if out == "ids" else self._pieces[self._special_id(key)]
        toks, spans = r if with_offsets else (r, None)
        toks = ([tok("bos")] if add_bos else []) + toks + ([tok("eos")] if add_eos else [])
        if spans is None:
            return toks
        spans = ([(0, 0)] if add_bos else []) + spans + \
            ([(len(text), len(text))] if add_eos else [])
        return toks, spans

    def _unknown_tokens(self, u, out):
        """What an unknown symbol ``u`` (str char or one byte) becomes with byte fallback."""
        if self.unit == "byte":
            return [u] if out == "pieces" else [int(self.byte_ids[u[0]])]
        b = u.encode("utf-8", "surrogatepass")
        if out == "pieces":
            return [self._pieces[int(self.byte_ids[x])] for x in b]
        return [int(self.byte_ids[x]) for x in b]

    def _collect(self, units, offsets, pid, end, count, out):
        nt = len(units)
        if nt == 0:
            return []
        ccount = np.zeros(nt + 1, dtype=np.int64)
        np.cumsum(count, out=ccount[1:])
        fp, fe = compact(pid, end, offsets, count)
        unk = np.flatnonzero(fp < 0)
        flat = (self._piece_obj[fp] if out == "pieces" else self._id_obj.take(fp)).tolist()
        cc = ccount.tolist()
        res = [flat[i:j] for i, j in zip(cc, cc[1:])]
        if not unk.size:
            return res
        which = np.searchsorted(ccount, unk, side="right") - 1
        if isinstance(units, _LazyUnits):
            # the unknown symbols' code points, read straight from the normalized array
            syms = [chr(c) for c in units._cps[offsets[which] + fe[unk] - 1].tolist()]
        else:
            syms = [units[t][e - 1:e] for t, e in zip(which.tolist(), fe[unk].tolist())]
        # rebuild each row with unknown symbols in one pass (linear in its length)
        wl, ul = which.tolist(), unk.tolist()
        k = 0
        while k < len(ul):
            t = wl[k]
            k1 = k
            while k1 < len(ul) and wl[k1] == t:
                k1 += 1
            row = res[t]
            base = cc[t]
            new = []
            prev = 0
            j = k
            while j < k1:
                r = ul[j] - base
                new.extend(row[prev:r])
                if self._byte_fallback:
                    new.extend(self._unknown_tokens(syms[j], out))
                    prev = r + 1
                    j += 1
                    continue
                # a run of adjacent unknown symbols: one <unk> (pieces: the run's text)
                j2 = j + 1
                while j2 < k1 and ul[j2] == ul[j2 - 1] + 1:
                    j2 += 1
                if out == "pieces":
                    new.append(type(syms[j])().join(syms[j:j2]) if j2 - j > 1 else syms[j])
                else:
                    new.append(self._unk_id)
                prev = ul[j2 - 1] - base + 1
                j = j2
            new.extend(row[prev:])
            res[t] = new
            k = k1
        return res

    def _alignment(self, text):
        """(normalized units, norm_to_orig): unit positions -> character offsets in ``text``."""
        norm = self._normalizer
        if norm is None:
            n2o = np.arange(len(text) + 1, dtype=np.int64)
            normalized = text
        elif hasattr(norm, "normalize_aligned"):
            normalized, n2o = norm.normalize_aligned(text)
        else:
            normalized, n2o = _nfc_aligned(text)
        if self.unit == "byte":
            data = normalized.encode("utf-8", "surrogatepass")
            arr = np.frombuffer(data, dtype=np.uint8)
            starts = (arr & 0xC0) != 0x80
            ci = np.cumsum(starts) - 1  # the normalized character holding each byte
            # begin: the character holding the byte; end (a byte boundary inside a character:
            # the next character's start)
            bpos = np.empty(len(data) + 1, dtype=np.int64)
            bpos[:-1] = np.where(starts, n2o[ci], n2o[np.minimum(ci + 1, len(normalized))])
            bpos[-1] = n2o[-1]
            return data, bpos
        return normalized, n2o

    def _collect_spans(self, texts, units, offsets, pid, end, count, out):
        """Tokens and their spans in the original texts (see ``encode(with_offsets=True)``)."""
        nt = len(texts)
        ccount = np.zeros(nt + 1, dtype=np.int64)
        np.cumsum(count, out=ccount[1:])
        fp, fe = compact(pid, end, offsets, count)
        fp = fp.tolist()
        fe = fe.tolist()
        res = []
        for t in range(nt):
            normalized, n2o = self._alignment(texts[t])
            n2o = n2o.tolist()
            toks, spans = [], []
            s = 0
            prev_unk = False
            for j in range(int(ccount[t]), int(ccount[t + 1])):
                e = fe[j]
                p = fp[j]
                b, en = n2o[s], n2o[e]
                if p >= 0:
                    toks.append(self._pieces[p] if out == "pieces" else p)
                    spans.append((b, en))
                    prev_unk = False
                elif self._byte_fallback:
                    tk = self._unknown_tokens(normalized[s:e], out)
                    toks.extend(tk)
                    spans.extend([(b, b)] * (len(tk) - 1) + [(b, en)])
                elif prev_unk:
                    if out == "pieces":
                        toks[-1] = toks[-1] + normalized[s:e]
                    spans[-1] = (spans[-1][0], en)
                else:
                    toks.append(normalized[s:e] if out == "pieces" else self._unk_id)
                    spans.append((b, en))
                    prev_unk = True
                s = e
            res.append((toks, spans))
        return res

    # -- decoding -----------------------------------------------------------------------
    def decode(self, pieces_or_ids):
        """Text from pieces or ids (a list of such lists gives a list of texts).

        Models built here: lossless, ``decode(encode(x)) == x`` for any string (byte pieces
        are joined and decoded as UTF-8).  SentencePiece models decode as
        ``SentencePieceProcessor.decode``: control pieces vanish, ``<unk>`` becomes
        ``" ⁇ "`` (the model's ``unk_surface``), byte pieces join into UTF-8 with one U+FFFD
        per byte that starts no valid character, U+2581 becomes a space, and the
        whitespace that the normalizer put at the start is dropped.  A piece not in the
        vocabulary is taken as literal text (SentencePiece copies it).
        """
        x = pieces_or_ids
        if isinstance(x, np.ndarray):
            x = x.tolist()
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"pieces_or_ids must be a list, got {type(x).__name__}")
        if x and isinstance(x[0], (list, tuple, np.ndarray)):
            return [self.decode(r) for r in x]
        if all(isinstance(p, (numbers.Integral, np.integer)) and not isinstance(p, bool) for p in x):
            n = len(self._pieces)
            ids = [int(i) for i in x]
            for i in ids:
                if not 0 <= i < n:
                    raise ValueError(f"pieces_or_ids: id {i} is out of range [0, {n})")
            items = [(self._pieces[i], i) for i in ids]
        else:
            items = []
            for p in x:
                if self.unit == "byte" and isinstance(p, str):
                    p = p.encode("utf-8", "surrogatepass")
                ok = isinstance(p, str) if self.unit == "char" else isinstance(p, (bytes, bytearray))
                if not ok:
                    raise TypeError("pieces_or_ids: expected all "
                                    + ("str" if self.unit == "char" else "bytes")
                                    + " pieces or all int ids")
                p = bytes(p) if self.unit == "byte" else p
                items.append((p, self._index.get(p, -1)))
        if self._sp_decode:
            return self._decode_sp(items)
        return self._decode_native(items)

    def _decode_native(self, items):
        out = bytearray()
        for p, i in items:
            if i >= 0 and self._kinds[i] == BYTE:
                out.append(self._byte_of_id[i])
            elif i >= 0 and self._kinds[i] in (CONTROL, UNKNOWN, UNUSED):
                continue
            else:
                out += p if self.unit == "byte" else p.encode("utf-8", "surrogatepass")
        text = out.decode("utf-8", "surrogatepass")
        # (a byte-unit model with SentencePiece's normalizer: U+2581 -> space, dummy prefix)
        return self._normalizer.denormalize(text) if self._normalizer is not None else text

    def _decode_sp(self, items):
        """SentencePiece's ``Decode`` (sentencepiece_processor.cc), rule for rule."""
        norm = self._normalizer
        strip_bos_ws = norm.add_dummy_prefix or norm.remove_extra_whitespaces
        text = []
        empty = True
        is_bos_ws = True
        bos_ws_seen = False
        buf = bytearray()

        def flush():
            nonlocal empty
            if buf:
                s = _utf8_chars_sp(bytes(buf))
                buf.clear()
                text.append(s)
                empty = empty and not s
        for p, i in items:
            kind = self._kinds[i] if i >= 0 else -1
            if kind == BYTE:
                buf.append(self._byte_of_id[i])
                continue
            flush()
            if bos_ws_seen or not empty:
                is_bos_ws = False
            if kind == CONTROL:
                w, bos_ws_seen = "", False
            elif kind == UNKNOWN or i < 0:
                w = self._unk_surface if i >= 0 else p
                if i < 0 and self._unk_id < 0:
                    w = p.replace(SPACE, " ")
                bos_ws_seen = False
            else:
                has = False
                if is_bos_ws and strip_bos_ws and p.startswith(SPACE):
                    p = p[1:]
                    has = not norm.remove_extra_whitespaces
                w = p.replace(SPACE, " ")
                bos_ws_seen = has
            text.append(w)
            empty = empty and not w
        flush()
        return "".join(text)

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
        one-symbol piece (an unknown edge, scored ``unk_score``), a run of such symbols (as
        ``encode`` merges them for SentencePiece models), or the byte pieces of one such
        character (one unknown edge); otherwise ``ValueError``.
        """
        if not isinstance(pieces, (list, tuple)):
            raise TypeError(f"pieces must be a list, got {type(pieces).__name__}")
        tot = 0.0
        for p in pieces:
            if self.unit == "byte" and isinstance(p, str):
                p = p.encode("utf-8", "surrogatepass")
            i = self._match_index.get(p)
            j = self._index.get(p, -1)
            if i is not None:
                tot += float(self._scores[i])
            elif j >= 0 and self._kinds[j] == BYTE and self.unit == "char":
                # byte pieces of an unknown character: one unknown edge per character
                if self._byte_of_id[j] & 0xC0 != 0x80:
                    tot += self.unk_score
            elif len(p) >= 1 and all(p[k:k + 1] not in self._single for k in range(len(p))) \
                    and (len(p) == 1 or not self._byte_fallback):
                tot += self.unk_score * len(p)  # an unknown symbol, or a merged run of them
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

    def nbest(self, text, n, /, *, out="pieces"):
        """The ``n`` best segmentations, exactly, as ``[(pieces, score), ...]`` best first.

        Consistent with :meth:`encode`: ``nbest(text, n)[0][0] == encode(text)`` (the same
        tie-break), unknown symbols come out as in ``encode`` (runs merged into one
        ``<unk>``, or byte pieces), and SentencePiece models sum scores in float32 as
        SentencePiece does.  Among other segmentations of equal score, the order is by
        (earlier last piece start, larger piece id); SentencePiece's A* order of exact ties
        is not reproduced.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if out not in ("pieces", "ids"):
            raise ValueError(f"out must be 'pieces' or 'ids', got {out!r}")
        units = self._units_of(text)
        if len(units) == 0:
            return [([], 0.0)]
        ends = self._ends(units)
        if self._f32:
            # SentencePiece's A* scores a path from its end: v1 + (v2 + (... + vk)) in
            # float32, and orders by that; rank a few more by the forward sums, then rescore
            res = _exact.kbest(ends, 2 * int(n) + 8, float32=True)
            rescored = []
            for _, edges in res:
                acc = np.float32(0.0)
                for _, _, _, v in reversed(edges):
                    acc = np.float32(v) + acc
                rescored.append((float(acc), edges))
            rescored.sort(key=lambda r: -r[0])  # stable: forward order among exact ties
            res = rescored[:int(n)]
        else:
            res = _exact.kbest(ends, int(n))
        paths = [[(s, e, pid) for s, e, pid, _ in edges] for _, edges in res]
        # encode's own path first (it is one of the best; ties may order it elsewhere)
        _, sym, offsets = self._prepare([text])
        pid, end, count, _ = self._run(sym, offsets, None, self._viterbi_code, Stream(0))
        k = int(count[0])
        ee = end[:k].tolist()
        vit = [(s, e, int(p)) for s, e, p in zip([0] + ee[:-1], ee, pid[:k].tolist())]
        if vit in paths:
            j = paths.index(vit)
            paths.insert(0, paths.pop(j))
            res.insert(0, res.pop(j))
        else:
            paths = [vit] + paths[:-1]
            res = [(res[0][0], None)] + res[:-1]
        return [(self._path_tokens(units, path, out), float(sc))
                for path, (sc, _) in zip(paths, res)]

    def _path_tokens(self, units, path, out):
        """Tokens of a lattice path ``[(s, e, pid), ...]`` as ``encode`` gives them."""
        toks = []
        prev_unk = False
        for s, e, pid in path:
            if pid >= 0:
                toks.append(self._pieces[pid] if out == "pieces" else pid)
                prev_unk = False
            elif self._byte_fallback:
                toks.extend(self._unknown_tokens(units[s:e], out))
            elif prev_unk:
                if out == "pieces":
                    toks[-1] = toks[-1] + units[s:e]
            else:
                toks.append(units[s:e] if out == "pieces" else self._unk_id)
                prev_unk = True
        return toks

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
        """The model as a JSON-ready dict (our own format; see :meth:`from_dict`)."""
        enc = (lambda p: p) if self.unit == "char" else (lambda p: base64.b64encode(p).decode())
        d = {"format": "tokenize_lab.unigram", "version": 2, "unit": self.unit,
             "unk_score": self.unk_score,
             "pieces": [[enc(p), float(s), int(k)] for p, s, k in
                        zip(self._pieces, self._scores, self._kinds)],
             "byte_ids": self.byte_ids.tolist() if self._byte_fallback else None,
             "special": self._special, "unk_surface": self._unk_surface,
             "float32_viterbi": self._f32}
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
            normalizer = normalizer_from_dict(d["normalizer"])
        return cls._from_list([dec(r[0]) for r in rows], [r[1] for r in rows],
                              [r[2] for r in rows], unit, d["unk_score"], normalizer,
                              d.get("byte_ids"), special=d.get("special"),
                              unk_surface=d.get("unk_surface", UNK_SURFACE),
                              float32=d.get("float32_viterbi"))

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- interop and training (implemented in their own modules, which depend on this one;
    #    they register in ._pieces.IMPLEMENTATIONS when the package is imported) ----------
    @classmethod
    def from_sentencepiece(cls, model_file_or_bytes, /, *, normalize=True):
        """Import a SentencePiece unigram ``.model`` (path, serialized bytes or binary file).

        The model then encodes and decodes exactly as ``SentencePieceProcessor`` (see the
        class notes); ``normalize=False`` skips the character map and the whitespace
        clean-up.
        """
        return _implementation("from_sentencepiece")(cls, model_file_or_bytes,
                                                     normalize=normalize)

    def to_sentencepiece(self, path=None):
        """Serialize as a SentencePiece ``ModelProto`` (bytes; also written to ``path``).

        SentencePiece loads it and encodes as this model does (char-unit models).  A model
        built here gets an ``<unk>`` piece appended after its last id (SentencePiece requires
        one; byte fallback means it is never produced) and the identity normalizer without
        dummy prefix or whitespace escaping.
        """
        return _implementation("to_sentencepiece")(self, path)

    @classmethod
    def from_huggingface(cls, tokenizer_json, /):
        """Import a Hugging Face ``tokenizers`` Unigram model (tokenizer.json path, JSON text
        or dict; the whole file or its ``"model"`` part).  Only the model is imported (its
        vocabulary, ``unk_id`` and ``byte_fallback``), not a normalizer or pre-tokenizer."""
        return _implementation("from_huggingface")(cls, tokenizer_json)

    def to_huggingface(self, path=None):
        """The model as a Hugging Face ``tokenizer.json`` (a JSON str; also written to
        ``path``) that ``tokenizers.Tokenizer.from_str`` loads and that encodes as this model
        (char-unit models without a normalizer)."""
        return _implementation("to_huggingface")(self, path)

    @classmethod
    def from_bytepiece(cls, path, /):
        """Import a BytePiece JSON model ``{b64(piece): [id, text, count]}`` (byte unit)."""
        return _implementation("from_bytepiece")(cls, path)

    @classmethod
    def train(cls, lines, vocab_size, /, **options):
        """Train a unigram model with EM and loss-based pruning; see :func:`tokenize_lab.train_unigram`."""
        return _implementation("train")(lines, vocab_size, **options)
