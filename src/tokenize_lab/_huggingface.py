"""Hugging Face ``tokenizers`` Unigram JSON import and export for :class:`UnigramModel`.

The ``tokenizer.json`` ``"model"`` section of a Unigram tokenizer is
``{"type": "Unigram", "unk_id": int or null, "vocab": [[piece, score], ...],
"byte_fallback": bool}``.  ``tokenizers`` segments with the same lattice (an unknown
character becomes an ``unk_id`` edge scored ``min(score) - 10``; with ``byte_fallback`` its
UTF-8 bytes become ``<0xNN>`` pieces).  Normalizers and pre-tokenizers are not converted.

Depends on the model's internals; the model never imports it (registered in
:data:`._pieces.IMPLEMENTATIONS`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import _pieces as P

__all__ = ["from_huggingface", "to_huggingface"]


def _load_json(src):
    if isinstance(src, dict):
        return src
    if isinstance(src, os.PathLike) or (isinstance(src, str) and not src.lstrip().startswith("{")):
        return json.loads(Path(src).read_text(encoding="utf-8"))
    if isinstance(src, (str, bytes, bytearray)):
        return json.loads(src)
    raise TypeError("tokenizer_json must be a path, a JSON str or a dict, got "
                    f"{type(src).__name__}")


def from_huggingface(cls, tokenizer_json):
    """A char-unit model with the vocabulary, ``unk_id`` and ``byte_fallback`` of a
    ``tokenizers`` Unigram model."""
    try:
        d = _load_json(tokenizer_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"tokenizer_json: not JSON ({exc})") from None
    model = d.get("model", d) if isinstance(d, dict) else None
    if not isinstance(model, dict) or model.get("type") != "Unigram":
        raise ValueError("tokenizer_json: not a Unigram model (model.type must be 'Unigram')")
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not vocab:
        raise ValueError("tokenizer_json: model.vocab must be a non-empty list")
    unk_id = model.get("unk_id")
    byte_fallback = bool(model.get("byte_fallback", False))
    specials = {t.get("content") for t in d.get("added_tokens", []) if t.get("special")} \
        if isinstance(d.get("added_tokens"), list) else set()
    plist, scores, kinds = [], [], []
    byte_ids = np.full(256, -1, dtype=np.int64)
    for i, row in enumerate(vocab):
        if (not isinstance(row, (list, tuple)) or len(row) != 2 or not isinstance(row[0], str)
                or not row[0]):
            raise ValueError(f"tokenizer_json: vocab entry {i} must be [non-empty str, score]")
        p, sc = row
        try:
            sc = float(sc)
        except (TypeError, ValueError):
            raise ValueError(f"tokenizer_json: vocab entry {i} has a non-numeric score") from None
        if not np.isfinite(sc):
            raise ValueError(f"tokenizer_json: vocab entry {i} has a non-finite score")
        plist.append(p)
        scores.append(sc)
        b = P.byte_of_piece(p)
        if i == unk_id:
            kinds.append(P.UNKNOWN)
        elif byte_fallback and b >= 0:
            kinds.append(P.BYTE)
            byte_ids[b] = i
        elif p in specials:
            kinds.append(P.CONTROL)
        else:
            kinds.append(P.NORMAL)
    if unk_id is not None and not (isinstance(unk_id, int) and 0 <= unk_id < len(vocab)):
        raise ValueError(f"tokenizer_json: unk_id {unk_id!r} is not an index of vocab")
    if byte_fallback and (byte_ids < 0).any():
        raise ValueError("tokenizer_json: byte_fallback needs all 256 <0xNN> pieces")
    if not byte_fallback and unk_id is None:
        raise ValueError("tokenizer_json: a model without byte_fallback needs an unk_id")
    # tokenizers scores the unknown edge min(all scores) - 10
    return cls._from_list(plist, scores, kinds, "char", min(scores) - 10.0, None,
                          byte_ids if byte_fallback else None)


def to_huggingface(model, path=None):
    """``tokenizer.json`` text for ``model`` (see ``UnigramModel.to_huggingface``)."""
    if model.unit != "char":
        raise ValueError("to_huggingface: only char-unit models can be written")
    if model._normalizer is not None:
        raise ValueError("to_huggingface: models with a normalizer are not supported "
                         "(tokenizers' normalizers differ); export the model without it")
    pieces = list(model._pieces)
    scores = model._scores.tolist()
    kinds = model._kinds.tolist()
    unk_id = model.unk_id
    if unk_id < 0:  # tokenizers wants an unknown piece; byte fallback never produces it
        name = "<unk>"
        while name in model._index:
            name = "<" + name + ">"
        pieces.append(name)
        scores.append(0.0)
        kinds.append(P.UNKNOWN)
        unk_id = len(pieces) - 1
    if abs(min(scores) - 10.0 - model.unk_score) > 1e-9:
        raise ValueError(f"to_huggingface: unk_score {model.unk_score} is not tokenizers' "
                         f"min(score) - 10 = {min(scores) - 10.0}")
    added = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}
             for i, (p, k) in enumerate(zip(pieces, kinds)) if k in (P.UNKNOWN, P.CONTROL)]
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": None, "pre_tokenizer": None, "post_processor": None,
           "decoder": ({"type": "Sequence", "decoders": [{"type": "ByteFallback"},
                                                         {"type": "Fuse"}]}
                       if model._byte_fallback else {"type": "Fuse"}),
           "model": {"type": "Unigram", "unk_id": unk_id,
                     "vocab": [[p, s] for p, s in zip(pieces, scores)],
                     "byte_fallback": bool(model._byte_fallback)}}
    text = json.dumps(doc, ensure_ascii=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


P.IMPLEMENTATIONS["from_huggingface"] = from_huggingface
P.IMPLEMENTATIONS["to_huggingface"] = to_huggingface
