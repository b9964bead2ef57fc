"""SentencePiece's text normalizer (``normalizer.cc``), reproduced exactly, and NFC.

What is reproduced:

* the model's ``precompiled_charsmap`` (e.g. ``nmt_nfkc``) applied exactly: longest-match
  rewriting through the Darts double-array trie stored in the model, malformed UTF-8 -> U+FFFD;
* user-defined symbols matched first, in the raw text, and copied unnormalized (SentencePiece's
  prefix matcher: at each step the longest user-defined symbol wins over the charsmap);
* ``remove_extra_whitespaces`` (strip, collapse runs of spaces), ``add_dummy_prefix`` and
  ``escape_whitespaces`` (space -> U+2581);
* the alignment ``norm_to_orig``: the original byte offset of every normalized byte (the
  start of the rule that produced it), used for piece offsets.

Not reproduced: ``treat_whitespace_as_suffix`` and the denormalizer spec (the importer
refuses models that use them).
"""
from __future__ import annotations

import base64
import os
import unicodedata
from pathlib import Path

import numba as nb
import numpy as np

from ._pieces import SPACE

__all__ = ["SentencePieceNormalizer", "NFCNormalizer", "normalizer_from_dict"]

_FFFD = np.array([0xEF, 0xBF, 0xBD], dtype=np.uint8)  # U+FFFD in UTF-8 (a kernel constant)


# -- the normalizer kernel ------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def _utf8_len(buf, i, n):
    """Length of the valid UTF-8 character at buf[i], or 0 if malformed."""
    b = buf[i]
    if b < 0x80:
        return 1
    if 0xC2 <= b <= 0xDF:
        need, lo, hi = 2, 0x80, 0xBF
    elif 0xE0 <= b <= 0xEF:
        need = 3
        lo = 0xA0 if b == 0xE0 else 0x80
        hi = 0x9F if b == 0xED else 0xBF
    elif 0xF0 <= b <= 0xF4:
        need = 4
        lo = 0x90 if b == 0xF0 else 0x80
        hi = 0x8F if b == 0xF4 else 0xBF
    else:
        return 0
    if i + need > n:
        return 0
    if not lo <= buf[i + 1] <= hi:
        return 0
    for k in range(2, need):
        if not 0x80 <= buf[i + k] <= 0xBF:
            return 0
    return need


@nb.njit(cache=True, nogil=True)
def _prefix(buf, i, n, units, has_trie, uds_next, uds_term):
    """(value offset into the normalized blob or -1, consumed bytes) of the longest rule at i.

    A user-defined symbol starting at i (longest first) is checked before the charsmap and
    gives -1 (copy the input as it is), as SentencePiece's prefix matcher does."""
    best_len = np.int64(0)
    best_val = np.int64(-1)
    if uds_term.shape[0] > 1:
        st = 0
        for k in range(i, n):
            st = uds_next[st, buf[k]]
            if st < 0:
                break
            if uds_term[st]:
                best_len = np.int64(k + 1 - i)
        if best_len > 0:
            return np.int64(-1), best_len
    if has_trie:
        pos = np.uint32(0)
        u = units[0]
        pos ^= (u >> np.uint32(10)) << ((u & np.uint32(1 << 9)) >> np.uint32(6))
        for k in range(i, n):
            c = np.uint32(buf[k])
            pos ^= c
            if pos >= units.shape[0]:
                break
            u = units[pos]
            if (u & np.uint32((1 << 31) | 0xFF)) != c:
                break
            pos ^= (u >> np.uint32(10)) << ((u & np.uint32(1 << 9)) >> np.uint32(6))
            if (u >> np.uint32(8)) & np.uint32(1):
                best_len = np.int64(k + 1 - i)
                best_val = np.int64(units[pos] & np.uint32((1 << 31) - 1))
    if best_len > 0:
        return best_val, best_len
    ln = np.int64(_utf8_len(buf, i, n))
    if ln == 0:
        return np.int64(-2), np.int64(1)  # malformed byte -> U+FFFD
    return np.int64(-1), ln


@nb.njit(cache=True, nogil=True)
def _normalize_batch(buf, offsets, units, has_trie, blob, ident, remove_extra, dummy, escape,
                     uds_next, uds_term, out, out_off, src):
    """Normalize every text; returns False if ``out`` is too small (caller retries bigger).

    If ``src`` is as long as ``out``, ``src[w]`` gets the input byte offset (in ``buf``) of
    the rule that wrote ``out[w]`` (SentencePiece's ``norm_to_orig``)."""
    align = src.shape[0] == out.shape[0]
    w = 0
    cap = out.shape[0]
    nt = offsets.shape[0] - 1
    for t in range(nt):
        i = offsets[t]
        n = offsets[t + 1]
        out_off[t] = w
        # skip leading whitespace
        if remove_extra:
            while i < n:
                val, ln = _prefix(buf, i, n, units, has_trie, uds_next, uds_term)
                if val >= 0:
                    if blob[val] == 0x20 and blob[val + 1] == 0:
                        i += ln
                        continue
                    break
                if val == -1 and ln == 1 and buf[i] == 0x20:
                    i += ln
                    continue
                break
        if i >= n:
            continue
        start_w = w
        if dummy:
            if w + 3 > cap:
                return False
            if align:
                src[w] = i
                src[w + 1] = i
                src[w + 2] = i
            if escape:
                out[w] = 0xE2
                out[w + 1] = 0x96
                out[w + 2] = 0x81
                w += 3
            else:
                out[w] = 0x20
                w += 1
        prev_space = remove_extra
        while i < n:
            c = buf[i]
            if c < 0x80 and ident[c] and (i + 1 == n or buf[i + 1] < 0x80):
                # fast path: an ASCII byte that no rule of the charsmap starts with
                if w + 3 > cap:
                    return False
                if align:
                    src[w] = i
                    src[w + 1] = i
                    src[w + 2] = i
                if c == 0x20:
                    if not prev_space:
                        if escape:
                            out[w] = 0xE2
                            out[w + 1] = 0x96
                            out[w + 2] = 0x81
                            w += 3
                        else:
                            out[w] = 0x20
                            w += 1
                    prev_space = remove_extra
                else:
                    out[w] = c
                    w += 1
                    prev_space = False
                i += 1
                continue
            val, ln = _prefix(buf, i, n, units, has_trie, uds_next, uds_term)
            # the replacement bytes: blob[val:] up to NUL, U+FFFD, or the input itself
            if val >= 0:
                a = val
                b = val
                while blob[b] != 0:
                    b += 1
                src_b = blob
            elif val == -2:
                src_b = _FFFD
                a = 0
                b = 3
            else:
                src_b = buf
                a = i
                b = i + ln
            if prev_space:
                while a < b and src_b[a] == 0x20:
                    a += 1
            if a < b:
                for k in range(a, b):
                    if w + 3 > cap:
                        return False
                    if align:
                        src[w] = i
                        src[w + 1] = i
                        src[w + 2] = i
                    if escape and src_b[k] == 0x20:
                        out[w] = 0xE2
                        out[w + 1] = 0x96
                        out[w + 2] = 0x81
                        w += 3
                    else:
                        out[w] = src_b[k]
                        w += 1
                prev_space = src_b[b - 1] == 0x20
            i += ln
            if not remove_extra:
                prev_space = False
        w_full = w
        if remove_extra:
            while True:
                if escape:
                    if (w - start_w >= 3 and out[w - 3] == 0xE2 and out[w - 2] == 0x96
                            and out[w - 1] == 0x81):
                        w -= 3
                        continue
                elif w - start_w >= 1 and out[w - 1] == 0x20:
                    w -= 1
                    continue
                break
        if align and w < src.shape[0]:
            # the end of the text in norm_to_orig: where removed trailing whitespace began,
            # else the end of the input (SentencePiece's "consumed")
            src[w] = src[w] if w < w_full else n
    out_off[nt] = w
    return True


@nb.njit(cache=True, nogil=True)
def _utf8_to_codes(data, off, cps, coff):
    """Decode (valid) UTF-8 ``data`` into code points; ``coff`` gets per-text offsets."""
    k = 0
    nt = off.shape[0] - 1
    for t in range(nt):
        coff[t] = k
        i = off[t]
        n = off[t + 1]
        while i < n:
            b = np.uint32(data[i])
            if b < 0x80:
                cps[k] = b
                i += 1
            elif b < 0xE0:
                cps[k] = ((b & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F)
                i += 2
            elif b < 0xF0:
                cps[k] = (((b & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6)
                          | (np.uint32(data[i + 2]) & 0x3F))
                i += 3
            else:
                cps[k] = (((b & 0x07) << 18) | ((np.uint32(data[i + 1]) & 0x3F) << 12)
                          | ((np.uint32(data[i + 2]) & 0x3F) << 6) | (np.uint32(data[i + 3]) & 0x3F))
                i += 4
            k += 1
    coff[nt] = k
    return k


_REGION_PER_TEXT = 19  # output slack per text (dummy prefix, ...) in a chunk's region


def _normalize_codes_chunk(buf, offsets, lo, hi, units, has_trie, blob, ident, remove_extra,
                           dummy, escape, uds_next, uds_term, out, cps, coff, count):
    """Normalize texts ``lo..hi-1`` and decode them to code points, in the chunk's own region
    of ``out``/``cps`` (``3 * input bytes + 19`` per text, from ``3 * offsets[lo] + 19 * lo``).

    ``coff[t]`` gets text t's start relative to the region; ``count[lo]`` the number of code
    points, or -1 if the region overflowed (the caller then takes the serial path).  A plain
    Python function: it only calls two compiled kernels (which release the GIL), so nothing
    more is compiled for the chunked path than for the serial one.
    """
    r0 = 3 * int(offsets[lo]) + _REGION_PER_TEXT * lo
    r1 = 3 * int(offsets[hi]) + _REGION_PER_TEXT * hi
    oo = np.empty(hi - lo + 1, dtype=np.int64)
    if not _normalize_batch(buf, offsets[lo:hi + 1], units, has_trie, blob, ident,
                            remove_extra, dummy, escape, uds_next, uds_term, out[r0:r1], oo,
                            _NO_SRC):
        count[lo] = -1
        return
    lc = np.empty(hi - lo + 1, dtype=np.int64)
    count[lo] = _utf8_to_codes(out[r0:r1], oo, cps[r0:r1], lc)
    coff[lo:hi] = lc[:-1]


def _utf8_batch(texts):
    """(UTF-8 bytes of all texts joined, as uint8, per-text byte offsets)."""
    data = "".join(texts).encode("utf-8", "surrogatepass")
    nt = len(texts)
    clen = np.fromiter(map(len, texts), dtype=np.int64, count=nt)
    offsets = np.zeros(nt + 1, dtype=np.int64)
    np.cumsum(clen, out=offsets[1:])
    buf = np.frombuffer(data or b"\0", dtype=np.uint8).copy()
    if offsets[-1] != len(data):  # not all ASCII: code-point offsets -> byte offsets
        starts = np.flatnonzero((buf[:len(data)] & 0xC0) != 0x80)
        offsets = np.append(starts, len(data))[offsets]
    return buf, offsets


_NO_TABLE = np.zeros(0, dtype=np.int32)
_NO_SRC = np.zeros(0, dtype=np.int64)  # "no alignment wanted"
_NO_UDS = (np.full((1, 256), -1, dtype=np.int32), np.zeros(1, dtype=np.bool_))


def _uds_tables(symbols):
    """A byte trie of the user-defined symbols: ``next[state, byte]`` (-1: none) and
    ``term[state]``; state 0 is the root.  With no symbols, one state (the kernel's
    "nothing to match")."""
    if not symbols:
        return _NO_UDS
    nxt = [[-1] * 256]
    term = [False]
    for sym in symbols:
        st = 0
        for b in sym.encode("utf-8"):
            if nxt[st][b] < 0:
                nxt[st][b] = len(nxt)
                nxt.append([-1] * 256)
                term.append(False)
            st = nxt[st][b]
        term[st] = True
    if len(term) == 1:
        return _NO_UDS
    return np.asarray(nxt, dtype=np.int32), np.asarray(term, dtype=np.bool_)


class SentencePieceNormalizer:
    """SentencePiece's ``Normalizer`` (see the module docstring for its limits)."""

    #: models with this normalizer sum Viterbi scores in float32, as SentencePiece
    float32_viterbi = True

    def __init__(self, precompiled_charsmap=b"", *, add_dummy_prefix=True,
                 remove_extra_whitespaces=True, escape_whitespaces=True, name="",
                 user_defined_symbols=()):
        self.name = name
        uds = tuple(user_defined_symbols)
        if not all(isinstance(u, str) and u for u in uds):
            raise TypeError("user_defined_symbols must be non-empty str")
        self.user_defined_symbols = uds
        self._uds_next, self._uds_term = _uds_tables(uds)
        self.precompiled_charsmap = bytes(precompiled_charsmap)
        self.add_dummy_prefix = bool(add_dummy_prefix)
        self.remove_extra_whitespaces = bool(remove_extra_whitespaces)
        self.escape_whitespaces = bool(escape_whitespaces)
        cm = self.precompiled_charsmap
        if cm:
            if len(cm) < 4:
                raise ValueError("precompiled_charsmap: too short")
            size = int.from_bytes(cm[:4], "little")
            if 4 + size > len(cm) or size % 4:
                raise ValueError("precompiled_charsmap: bad trie size")
            self._units = np.frombuffer(cm[4:4 + size], dtype="<u4").astype(np.uint32).copy()
            self._blob = np.frombuffer(cm[4 + size:] + b"\0", dtype=np.uint8).copy()
        else:
            self._units = np.zeros(1, dtype=np.uint32)
            self._blob = np.zeros(1, dtype=np.uint8)
        # Fast path: an ASCII byte c followed by an ASCII byte (or the end) is copied as it is
        # when no rule is exactly "c" and no rule starts with c + an ASCII byte.  (Rules do
        # start with ASCII letters: NFKC compositions such as "e" + U+0301.)
        self._ident = np.zeros(128, dtype=np.bool_)
        for c in range(128):
            if not cm:
                self._ident[c] = True
                continue
            node, leaf = self._walk(bytes([c]))
            ok = not leaf
            if ok and node is not None:
                for c2 in range(128):
                    if self._walk(bytes([c, c2]))[0] is not None:
                        ok = False
                        break
            self._ident[c] = ok
        for u in uds:  # a user-defined symbol starting with c: no fast path for c
            if ord(u[0]) < 128:
                self._ident[ord(u[0])] = False

    def _kernel_args(self):
        return (self._units, bool(self.precompiled_charsmap), self._blob, self._ident,
                self.remove_extra_whitespaces, self.add_dummy_prefix, self.escape_whitespaces,
                self._uds_next, self._uds_term)

    def _walk(self, key):
        """Darts traversal of ``key``: (node or None, whether key itself is a rule)."""
        units = self._units
        u = int(units[0])
        pos = (u >> 10) << ((u & (1 << 9)) >> 6)
        leaf = False
        for c in key:
            pos ^= c
            if pos >= units.shape[0]:
                return None, False
            u = int(units[pos])
            if (u & ((1 << 31) | 0xFF)) != c:
                return None, False
            pos ^= (u >> 10) << ((u & (1 << 9)) >> 6)
            leaf = bool((u >> 8) & 1)
        return pos, leaf

    def normalize_codes(self, texts):
        """Normalize and return (code points as uint32, per-text offsets in code points)."""
        cps, _, coff = self.normalize_symbols(texts, None)
        return cps, coff

    def normalize_symbols(self, texts, table):
        """Normalize; return (code points as uint32, ``table[code points]`` or None if
        ``table`` is None, per-text offsets in code points).

        Texts are normalized in chunks on the thread pool of :mod:`._lattice_batch` by one
        serial kernel (the same kernel whatever the batch size: one compile)."""
        from ._lattice_batch import compile_notice, run_chunks
        buf, offsets = _utf8_batch(texts)
        nt = len(texts)
        if nt == 0:
            return (np.zeros(0, dtype=np.uint32), None if table is None else table[:0],
                    np.zeros(1, dtype=np.int64))
        size = 3 * int(offsets[-1]) + _REGION_PER_TEXT * nt
        out = np.empty(size, dtype=np.uint8)
        cps = np.empty(size, dtype=np.uint32)
        coff = np.empty(nt + 1, dtype=np.int64)
        count = np.zeros(nt, dtype=np.int64)
        with compile_notice("normalizer kernel", [_normalize_batch, _utf8_to_codes], "1 s"):
            chunks = run_chunks(_normalize_codes_chunk, offsets, (buf, offsets),
                                (*self._kernel_args(), out, cps, coff, count),
                                compiled=[_normalize_batch, _utf8_to_codes])
        if (count[[lo for lo, _ in chunks]] >= 0).all():
            parts = []
            base = 0
            for lo, hi in chunks:
                r0 = 3 * int(offsets[lo]) + _REGION_PER_TEXT * lo
                coff[lo:hi] += base
                parts.append(cps[r0:r0 + count[lo]])
                base += int(count[lo])
            coff[nt] = base
            res = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
        else:  # a region overflowed (a rule expanded text more than 3x): serial, growing
            data, oo = self._normalize_raw(texts)
            res = np.empty(data.shape[0], dtype=np.uint32)
            coff = np.empty(len(oo), dtype=np.int64)
            k = _utf8_to_codes(data, np.asarray(oo, dtype=np.int64), res, coff)
            res = res[:k]
        return res, (None if table is None else table[res]), coff

    def _normalize_raw(self, texts, align=False):
        """(normalized UTF-8 bytes, per-text offsets[, src byte offsets]) in one serial call."""
        buf, offsets = _utf8_batch(texts)
        cap = 2 * int(offsets[-1]) + 3 * len(texts) + 16
        while True:
            out = np.empty(cap, dtype=np.uint8)
            out_off = np.empty(len(texts) + 1, dtype=np.int64)
            src = np.empty(cap, dtype=np.int64) if align else _NO_SRC
            if _normalize_batch(buf, offsets, *self._kernel_args(), out, out_off, src):
                n = int(out_off[-1])
                if align:
                    if n == cap:  # no room for the end entry: grow
                        cap *= 2
                        continue
                    return out[:n], out_off, src[:n + 1], buf, offsets
                return out[:n], out_off
            cap *= 2

    def normalize_batch(self, texts):
        """Normalized texts (a list of str)."""
        out, out_off = self._normalize_raw(texts)
        data = out.tobytes()
        oo = out_off.tolist()
        return [data[oo[t]:oo[t + 1]].decode("utf-8", "surrogatepass") for t in range(len(texts))]

    def normalize_aligned(self, text):
        """``(normalized, norm_to_orig)``: the normalized text and, for each of its
        characters and one past the end, the offset in ``text`` (in characters) of the
        input that produced it (SentencePiece's ``norm_to_orig``, in characters)."""
        out, out_off, src, buf, offsets = self._normalize_raw([text], align=True)
        norm = out.tobytes().decode("utf-8", "surrogatepass")
        # input byte offset -> input character offset
        nb_in = int(offsets[-1])
        char_of_byte = np.cumsum((buf[:nb_in] & 0xC0) != 0x80) - 1
        starts = np.flatnonzero((out & 0xC0) != 0x80)
        n2o = np.empty(len(norm) + 1, dtype=np.int64)
        if starts.size:
            n2o[:-1] = char_of_byte[src[starts]]
        end = int(src[len(out)]) if len(text) else 0
        n2o[-1] = char_of_byte[end] if end < nb_in else len(text)
        return norm, n2o

    def normalize(self, text):
        return self.normalize_batch([text])[0]

    def denormalize(self, s):
        if self.escape_whitespaces:
            s = s.replace(SPACE, " ")
        if self.add_dummy_prefix and s.startswith(" "):
            s = s[1:]
        return s

    def to_dict(self):
        return {"kind": "sentencepiece", "name": self.name,
                "user_defined_symbols": list(self.user_defined_symbols),
                "precompiled_charsmap": base64.b64encode(self.precompiled_charsmap).decode(),
                "add_dummy_prefix": self.add_dummy_prefix,
                "remove_extra_whitespaces": self.remove_extra_whitespaces,
                "escape_whitespaces": self.escape_whitespaces}

    @classmethod
    def from_dict(cls, d):
        if d.get("kind") == "nfc":
            return NFCNormalizer()
        return cls(base64.b64decode(d["precompiled_charsmap"]), name=d.get("name", ""),
                   add_dummy_prefix=d["add_dummy_prefix"],
                   remove_extra_whitespaces=d["remove_extra_whitespaces"],
                   escape_whitespaces=d["escape_whitespaces"],
                   user_defined_symbols=d.get("user_defined_symbols", ()))


class NFCNormalizer:
    """Unicode NFC (BytePiece normalizes its input this way)."""

    float32_viterbi = False

    def normalize(self, text):
        return unicodedata.normalize("NFC", text)

    def normalize_batch(self, texts):
        return [unicodedata.normalize("NFC", t) for t in texts]

    def denormalize(self, s):
        return s

    def to_dict(self):
        return {"kind": "nfc"}


def normalizer_from_dict(d):
    """The normalizer stored by ``to_dict`` (SentencePiece's or NFC)."""
    return SentencePieceNormalizer.from_dict(d)
