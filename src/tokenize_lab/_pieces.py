"""Piece kinds, SentencePiece's piece-type codes and special-piece names.

Shared by the model (:mod:`._model`) and the importers/exporters; it imports nothing of
tokenize_lab, so every other module can depend on it.
"""
from __future__ import annotations

import re

__all__ = ["NORMAL", "CONTROL", "BYTE", "USER", "UNKNOWN", "UNUSED", "MATCHED",
           "SP_NORMAL", "SP_UNKNOWN", "SP_CONTROL", "SP_USER", "SP_UNUSED", "SP_BYTE",
           "SP_TYPE_OF_KIND", "KIND_OF_SP_TYPE", "SPACE", "UNK_SURFACE", "byte_piece_name",
           "byte_of_piece", "IMPLEMENTATIONS"]

# Kinds of pieces.  NORMAL and USER pieces are matched in the lattice (USER: SentencePiece's
# user-defined symbols, also protected from normalization); the others only have ids:
# UNKNOWN (<unk>), CONTROL (<s>, </s>, <pad>, ...), UNUSED, BYTE (<0xNN>, the byte fallback).
NORMAL, CONTROL, BYTE, USER, UNKNOWN, UNUSED = 0, 1, 2, 3, 4, 5
MATCHED = (NORMAL, USER)

# SentencePiece's ModelProto.SentencePiece.Type codes
SP_NORMAL, SP_UNKNOWN, SP_CONTROL, SP_USER, SP_UNUSED, SP_BYTE = 1, 2, 3, 4, 5, 6
KIND_OF_SP_TYPE = {SP_NORMAL: NORMAL, SP_UNKNOWN: UNKNOWN, SP_CONTROL: CONTROL,
                   SP_USER: USER, SP_UNUSED: UNUSED, SP_BYTE: BYTE}
SP_TYPE_OF_KIND = {v: k for k, v in KIND_OF_SP_TYPE.items()}

SPACE = "\u2581"  # SentencePiece's escaped whitespace
UNK_SURFACE = " \u2047 "  # what SentencePiece decodes <unk> to

_BYTE_RE = re.compile(r"<0x([0-9A-F]{2})>\Z")


def byte_piece_name(b: int) -> str:
    """SentencePiece's name of the byte piece for byte ``b``: ``<0xNN>``."""
    return f"<0x{b:02X}>"


def byte_of_piece(piece) -> int:
    """The byte a ``<0xNN>`` piece (str or bytes) stands for, or -1."""
    if isinstance(piece, (bytes, bytearray)):
        try:
            piece = piece.decode("ascii")
        except UnicodeDecodeError:
            return -1
    if not isinstance(piece, str) or len(piece) != 6:
        return -1
    m = _BYTE_RE.match(piece)
    return int(m.group(1), 16) if m else -1


# Implementations of UnigramModel's import/export/train methods, filled in by the modules
# that provide them (imported by the package's ``__init__``), so that the model module
# never imports them: importers and the trainer depend on the model, not the reverse.
IMPLEMENTATIONS: dict = {}
