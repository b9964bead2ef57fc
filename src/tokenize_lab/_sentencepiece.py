"""SentencePiece ``ModelProto`` import and export for :class:`UnigramModel`.

Import (``UnigramModel.from_sentencepiece``) reproduces SentencePiece's encoder exactly: the
normalizer (:mod:`._normalizer`, user-defined symbols matched first), piece types (normal and
user-defined pieces are matched, user-defined ones with SentencePiece's score
``len * max(FLT_MIN, max normal score) - 0.1``; unknown/control/unused/byte pieces only have
ids), the unknown edge (``min normal score - 10``), Viterbi sums in float32, runs of unknown
characters merged into one ``<unk>`` (or spelled as ``<0xNN>`` byte pieces with
``byte_fallback``), and the decoder's rules.

Export (``UnigramModel.to_sentencepiece``) writes a ``ModelProto`` that SentencePiece loads
and that encodes as the model does.

This module depends on the model's internals (piece kinds, ``_from_list``); the model never
imports it (it is registered in :data:`._pieces.IMPLEMENTATIONS`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import _pieces as P
from ._normalizer import SentencePieceNormalizer
from ._protobuf import as_float, as_int32, encode_message, parse_message

__all__ = ["from_sentencepiece", "to_sentencepiece", "parse_model_proto"]

_FLT_MIN = 1.17549435e-38


def parse_model_proto(data: bytes) -> dict:
    """The fields of a SentencePiece ``ModelProto`` that matter here, as plain Python."""
    msg = parse_message(data)
    pieces = []
    for raw in msg.get(1, []):
        sp = parse_message(raw)
        pieces.append((sp[1][0].decode("utf-8") if 1 in sp else "",
                       as_float(sp[2][0]) if 2 in sp else 0.0,
                       sp[3][0] if 3 in sp else P.SP_NORMAL))
    trainer = parse_message(msg[2][0]) if 2 in msg else {}
    norm = parse_message(msg[3][0]) if 3 in msg else {}
    denorm = parse_message(msg[5][0]) if 5 in msg else {}

    def flag(d, f, default):
        return bool(d[f][0]) if f in d else default

    def text(d, f, default):
        return d[f][0].decode("utf-8") if f in d else default

    return {
        "pieces": pieces,
        "model_type": as_int32(trainer[3][0]) if 3 in trainer else 1,
        "byte_fallback": flag(trainer, 35, False),
        "treat_whitespace_as_suffix": flag(trainer, 24, False),
        "special": {"unk": text(trainer, 45, "<unk>"), "bos": text(trainer, 46, "<s>"),
                    "eos": text(trainer, 47, "</s>"), "pad": text(trainer, 48, "<pad>")},
        "unk_surface": text(trainer, 44, P.UNK_SURFACE),
        "denormalizer": bool(denorm.get(2, [b""])[0]),
        "normalizer": {
            "name": text(norm, 1, ""),
            "precompiled_charsmap": norm[2][0] if 2 in norm else b"",
            "add_dummy_prefix": flag(norm, 3, True),
            "remove_extra_whitespaces": flag(norm, 4, True),
            "escape_whitespaces": flag(norm, 5, True),
        },
    }


def _read_bytes(model_file_or_bytes):
    if isinstance(model_file_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(model_file_or_bytes)
    if isinstance(model_file_or_bytes, (str, os.PathLike)):
        return Path(model_file_or_bytes).read_bytes()
    if hasattr(model_file_or_bytes, "read"):
        return model_file_or_bytes.read()
    raise TypeError("model_file_or_bytes must be a path, bytes or a binary file, got "
                    f"{type(model_file_or_bytes).__name__}")


def from_sentencepiece(cls, model_file_or_bytes, *, normalize=True):
    """Build a ``UnigramModel`` from a SentencePiece unigram model (path, bytes or file).

    ``normalize=False`` skips the character map and the whitespace clean-up (keeping only
    the dummy prefix, U+2581 escaping and the user-defined symbols); with ``normalize=True``
    (default) text is normalized exactly as SentencePiece does.
    """
    data = _read_bytes(model_file_or_bytes)
    try:
        proto = parse_model_proto(data)
    except (IndexError, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"model_file_or_bytes: not a SentencePiece model ({exc})") from None
    if not proto["pieces"]:
        raise ValueError("model_file_or_bytes: not a SentencePiece model (no pieces)")
    if proto["model_type"] != 1:
        raise ValueError(f"model_file_or_bytes: only unigram models (model_type=1) are supported, "
                         f"got model_type={proto['model_type']}")
    if proto["treat_whitespace_as_suffix"]:
        raise ValueError("model_file_or_bytes: treat_whitespace_as_suffix is not supported")
    if proto["denormalizer"]:
        raise ValueError("model_file_or_bytes: a denormalizer_spec is not supported")
    normal_scores = [s for _, s, t in proto["pieces"] if t == P.SP_NORMAL]
    if not normal_scores:
        raise ValueError("model_file_or_bytes: the model has no normal piece")
    min_s = min(normal_scores)
    max_s = max(_FLT_MIN, max(normal_scores))
    plist, scores, kinds, uds = [], [], [], []
    byte_ids = None
    n_unk = 0
    for i, (p, s, t) in enumerate(proto["pieces"]):
        kind = P.KIND_OF_SP_TYPE.get(t)
        if kind is None:
            raise ValueError(f"model_file_or_bytes: piece {i} has an unknown type {t}")
        plist.append(p)
        kinds.append(kind)
        if kind == P.USER:
            # SentencePiece's score of a user-defined piece (always preferred)
            scores.append(float(np.float32(len(p) * max_s - 0.1)))
            uds.append(p)
        else:
            scores.append(s)
        if kind == P.UNKNOWN:
            n_unk += 1
        if kind == P.BYTE:
            b = P.byte_of_piece(p)
            if b < 0:
                raise ValueError(f"model_file_or_bytes: byte piece {i} is not <0xNN>: {p!r}")
            if byte_ids is None:
                byte_ids = np.full(256, -1, dtype=np.int64)
            byte_ids[b] = i
    if n_unk != 1:
        raise ValueError(f"model_file_or_bytes: a SentencePiece model has exactly one unknown "
                         f"piece, this one has {n_unk}")
    if not proto["byte_fallback"]:
        byte_ids = None  # byte pieces without byte_fallback are never produced by encoding
    elif byte_ids is None or (byte_ids < 0).any():
        raise ValueError("model_file_or_bytes: byte_fallback needs all 256 <0xNN> pieces")
    ns = proto["normalizer"]
    if normalize:
        norm = SentencePieceNormalizer(ns["precompiled_charsmap"], name=ns["name"],
                                       add_dummy_prefix=ns["add_dummy_prefix"],
                                       remove_extra_whitespaces=ns["remove_extra_whitespaces"],
                                       escape_whitespaces=ns["escape_whitespaces"],
                                       user_defined_symbols=uds)
    else:
        norm = SentencePieceNormalizer(b"", name="identity", add_dummy_prefix=ns["add_dummy_prefix"],
                                       remove_extra_whitespaces=False,
                                       escape_whitespaces=ns["escape_whitespaces"],
                                       user_defined_symbols=uds)
    return cls._from_list(plist, scores, kinds, "char", min_s - 10.0, norm, byte_ids,
                          special=proto["special"], unk_surface=proto["unk_surface"])


def to_sentencepiece(model, path=None):
    """Serialize ``model`` as a SentencePiece ``ModelProto``; write it to ``path`` if given.

    Returns the serialized bytes.  Char-unit models only (SentencePiece's lattice is over
    characters).  Pieces keep their ids; a model without an unknown piece (the models built
    or trained here, which fall back to bytes) gets ``<unk>`` appended after its last id,
    since SentencePiece requires one (it is never produced: byte fallback covers every
    character).  The normalizer is the model's SentencePiece normalizer, or for a model
    without one the identity (no dummy prefix, no whitespace escaping), so that
    SentencePiece sees the text exactly as the model does.
    """
    if model.unit != "char":
        raise ValueError("to_sentencepiece: only char-unit models can be written "
                         "(SentencePiece lattices are over characters)")
    norm = model._normalizer
    if norm is not None and not isinstance(norm, SentencePieceNormalizer):
        raise ValueError(f"to_sentencepiece: a {type(norm).__name__} has no SentencePiece form")
    kinds = model._kinds.tolist()
    pieces = list(model._pieces)
    scores = model._scores.tolist()
    if P.UNKNOWN not in kinds:
        name = "<unk>"
        while name in model._index:
            name = "<" + name + ">"
        pieces.append(name)
        scores.append(0.0)
        kinds.append(P.UNKNOWN)
    user = [p for p, k in zip(pieces, kinds) if k == P.USER]
    if norm is not None and tuple(user) != tuple(norm.user_defined_symbols):
        raise ValueError("to_sentencepiece: the normalizer's user-defined symbols are not the "
                         "model's user-defined pieces")
    # SentencePiece recomputes user-defined scores and the unknown edge's score from the
    # normal pieces; check that the model agrees, so that both encode alike
    normal = [s for s, k in zip(scores, kinds) if k == P.NORMAL]
    if not normal:
        raise ValueError("to_sentencepiece: the model has no normal piece")
    if abs(float(np.float32(min(normal))) - 10.0 - model.unk_score) > 1e-4:
        raise ValueError(f"to_sentencepiece: unk_score {model.unk_score} is not SentencePiece's "
                         f"min(normal score) - 10 = {min(normal) - 10.0}")
    fields = []
    for p, s, k in zip(pieces, scores, kinds):
        if k == P.USER:
            s = 0.0
        fields.append((1, "bytes", encode_message([(1, "bytes", p), (2, "float", s),
                                                   (3, "varint", P.SP_TYPE_OF_KIND[k])])))
    special = model._special
    ids = {key: model._special_id(key) for key in ("unk", "bos", "eos", "pad")}
    trainer = [(3, "varint", 1), (4, "varint", len(pieces)),
               (35, "varint", int(model._byte_fallback)),
               (40, "varint", ids["unk"] if ids["unk"] >= 0 else pieces.index(pieces[-1])),
               (41, "varint", ids["bos"]), (42, "varint", ids["eos"]),
               (43, "varint", ids["pad"]),
               (45, "bytes", special["unk"] if ids["unk"] >= 0 else pieces[-1]),
               (46, "bytes", special["bos"]), (47, "bytes", special["eos"]),
               (48, "bytes", special["pad"]), (44, "bytes", model._unk_surface)]
    if norm is None:
        nspec = [(1, "bytes", "identity"), (3, "varint", 0), (4, "varint", 0), (5, "varint", 0)]
    else:
        nspec = [(1, "bytes", norm.name or "identity")]
        if norm.precompiled_charsmap:
            nspec.append((2, "bytes", norm.precompiled_charsmap))
        nspec += [(3, "varint", int(norm.add_dummy_prefix)),
                  (4, "varint", int(norm.remove_extra_whitespaces)),
                  (5, "varint", int(norm.escape_whitespaces))]
    data = b"".join(encode_message([f]) for f in fields)
    data += encode_message([(2, "bytes", encode_message(trainer)),
                            (3, "bytes", encode_message(nspec))])
    if path is not None:
        Path(path).write_bytes(data)
    return data


P.IMPLEMENTATIONS["from_sentencepiece"] = from_sentencepiece
P.IMPLEMENTATIONS["to_sentencepiece"] = to_sentencepiece
