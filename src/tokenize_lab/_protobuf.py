"""A minimal protobuf wire-format reader (varints and length-delimited fields).

Enough to read SentencePiece's ``ModelProto`` without the protobuf package.
"""
from __future__ import annotations

import struct

__all__ = ["parse_message"]


def _varint(buf, i):
    shift = 0
    out = 0
    while True:
        if i >= len(buf):
            raise ValueError("model: truncated varint in protobuf data")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7
        if shift > 63:
            raise ValueError("model: varint too long in protobuf data")


def parse_message(buf):
    """``{field number: [values]}``; varints as int, fixed32/fixed64 as raw bytes, length-delimited as bytes."""
    buf = memoryview(buf).cast("B") if not isinstance(buf, (bytes, bytearray)) else buf
    out = {}
    i = 0
    n = len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 1:
            val = bytes(buf[i:i + 8])
            i += 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            if i + ln > n:
                raise ValueError("model: truncated length-delimited field in protobuf data")
            val = bytes(buf[i:i + ln])
            i += ln
        elif wt == 5:
            val = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError(f"model: unsupported protobuf wire type {wt}")
        out.setdefault(field, []).append(val)
    if i != n:
        raise ValueError("model: truncated protobuf data")
    return out


def as_float(raw):
    return struct.unpack("<f", raw)[0]
