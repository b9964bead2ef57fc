"""Import BytePiece JSON models: ``{base64(piece bytes): [id, text, count]}``."""
from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path

from ._normalizer import NFCNormalizer
from ._pieces import CONTROL, IMPLEMENTATIONS, NORMAL

__all__ = ["from_bytepiece"]


def from_bytepiece(cls, path, *, normalize=True):
    """A byte-unit :class:`UnigramModel` with BytePiece's ids and scores.

    Scores are ``log count - log total`` (BytePiece's).  Ids 0-2 are BytePiece's
    ``<pad>``, ``<bos>``, ``<eos>`` (control pieces, never produced by encoding).  With
    ``normalize=True`` text is NFC-normalized first, as BytePiece does.  BytePiece also cuts
    text into line chunks (regex ``.*\\n+|.+``) and segments each alone; we segment the whole
    text as one lattice (identical unless a piece spans a line break).
    """
    if isinstance(path, (str, os.PathLike)):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    elif isinstance(path, dict):
        data = path
    else:
        raise TypeError(f"path must be a path or a dict, got {type(path).__name__}")
    if not isinstance(data, dict) or not data:
        raise ValueError("path: not a BytePiece model (expected a non-empty JSON object)")
    rows = []
    for k, v in data.items():
        try:
            piece = base64.b64decode(k, validate=True)
            pid, count = int(v[0]), float(v[2])
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"path: not a BytePiece model entry {k!r}: {exc}") from None
        if count <= 0 or not piece:
            raise ValueError(f"path: bad BytePiece entry {k!r} (count {count})")
        rows.append((pid, piece, count))
    total = sum(c for _, _, c in rows)
    size = max(max(pid for pid, _, _ in rows) + 1, 3)
    plist = [b"<pad>", b"<bos>", b"<eos>"] + [b""] * (size - 3)
    scores = [0.0] * size
    kinds = [CONTROL] * size
    seen = set()
    for pid, piece, count in rows:
        if pid < 3 or pid in seen:
            raise ValueError(f"path: bad or repeated BytePiece id {pid}")
        seen.add(pid)
        plist[pid] = piece
        scores[pid] = math.log(count) - math.log(total)
        kinds[pid] = NORMAL
    for i in range(size):
        if not plist[i]:
            plist[i] = f"<unused{i}>".encode()
    return cls._from_list(plist, scores, kinds, "byte", None,
                          NFCNormalizer() if normalize else None, None)


IMPLEMENTATIONS["from_bytepiece"] = from_bytepiece
