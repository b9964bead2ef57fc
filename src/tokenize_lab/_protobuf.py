"""A minimal protobuf wire-format reader (varints and length-delimited fields).

Enough to read SentencePiece's ``ModelProto`` without the protobuf package.
"""
from __future__ import annotations

import struct

__all__ = ["parse_message", "as_float", "as_int32", "encode_message"]


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


def as_int32(v):
    """A varint field read as a (possibly negative) int32."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _put_varint(out, v):
    if v < 0:
        v += 1 << 64
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def encode_message(fields):
    """Serialize ``[(field number, kind, value), ...]``; kind in ``"varint"``, ``"float"``,
    ``"bytes"`` (str values are written as UTF-8)."""
    out = bytearray()
    for num, kind, val in fields:
        if kind == "varint":
            _put_varint(out, (num << 3) | 0)
            _put_varint(out, int(val))
        elif kind == "float":
            _put_varint(out, (num << 3) | 5)
            out += struct.pack("<f", val)
        elif kind == "bytes":
            data = val.encode("utf-8") if isinstance(val, str) else bytes(val)
            _put_varint(out, (num << 3) | 2)
            _put_varint(out, len(data))
            out += data
        else:
            raise ValueError(f"unknown protobuf field kind {kind!r}")
    return bytes(out)
