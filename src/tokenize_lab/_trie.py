"""A flat-array trie over *reversed* pieces, in arrays a Numba kernel can walk.

The lattice kernels are "pull" style: at each end position ``e`` they visit every piece
that ends at ``e`` by walking the text backwards from ``e - 1``.  So the trie stores the
pieces reversed.  Symbols are dense ids (``0 .. n_symbols-1``) of code points (char unit) or
bytes (byte unit).

Layout (all int32 except where said):

* ``root[sym]`` : the root's child for symbol ``sym`` (a direct table: O(1)), or -1.
* ``first[node] .. first[node+1]`` : the range of ``node``'s children in ``label``/``child``,
  sorted by label (binary search below the root).
* ``piece[node]`` : id of the piece spelled by the path root -> node (reversed), or -1.

:func:`build_double_array` then packs it into a double-array trie (``base``/``check``
arrays, one O(1) transition per symbol), which is what the kernels walk.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["FlatTrie", "build_trie", "build_double_array"]


class FlatTrie:
    __slots__ = ("root", "first", "label", "child", "piece", "max_len", "n_nodes")

    def __init__(self, root, first, label, child, piece, max_len):
        self.root = root
        self.first = first
        self.label = label
        self.child = child
        self.piece = piece
        self.max_len = int(max_len)
        self.n_nodes = int(piece.shape[0])

    def arrays(self):
        return self.root, self.first, self.label, self.child, self.piece


def build_trie(seqs, n_symbols: int) -> FlatTrie:
    """Build the reversed-piece trie.

    Parameters
    ----------
    seqs : list of sequences of int
        ``seqs[i]`` is piece ``i`` as dense symbol ids (in reading order).  Empty sequences
        and pieces that repeat an earlier one are not allowed (the caller checks).
    n_symbols : int
        Alphabet size (length of the root table).
    """
    # Insert reversed pieces with a dict-of-dicts, then flatten in BFS order.
    children = [dict()]
    piece_of = [-1]
    max_len = 0
    for pid, seq in enumerate(seqs):
        node = 0
        for sym in reversed(seq):
            nxt = children[node].get(sym)
            if nxt is None:
                nxt = len(children)
                children[node][sym] = nxt
                children.append(dict())
                piece_of.append(-1)
            node = nxt
        piece_of[node] = pid
        max_len = max(max_len, len(seq))
    n = len(children)
    # BFS renumbering keeps each node's children contiguous.
    order = [0]
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[0] = 0
    head = 0
    while head < len(order):
        old = order[head]
        head += 1
        for sym in sorted(children[old]):
            c = children[old][sym]
            new_id[c] = len(order)
            order.append(c)
    first = np.zeros(n + 1, dtype=np.int32)
    label = np.empty(max(n - 1, 0), dtype=np.int32)
    child = np.empty(max(n - 1, 0), dtype=np.int32)
    piece = np.empty(n, dtype=np.int32)
    k = 0
    for new, old in enumerate(order):
        first[new] = k
        piece[new] = piece_of[old]
        for sym in sorted(children[old]):
            label[k] = sym
            child[k] = new_id[children[old][sym]]
            k += 1
    first[n] = k
    root = np.full(max(n_symbols, 1), -1, dtype=np.int32)
    for j in range(first[0], first[1]):
        root[label[j]] = child[j]
    return FlatTrie(root, first, label, child, piece, max_len)


@nb.njit(cache=True, nogil=True)
def _resized(a, keep, new, fill):
    """``a[:keep]`` in a new int32 array of length ``new``, the rest set to ``fill``.  (One
    small helper for every allocation here: ``np.zeros``/``np.full``/slice assignment each
    cost Numba compile time on the first call.)"""
    out = np.empty(new, dtype=np.int32)
    for k in range(min(keep, new)):
        out[k] = a[k]
    for k in range(keep, new):
        out[k] = fill
    return out


@nb.njit(cache=True, nogil=True)
def _build_double_array(first, label, child, piece):
    """Pack the flat trie into a double array: child of ``d`` by ``x`` is ``t = base[d] + x``
    when ``check[t] == d``.  Nodes are placed first-fit in BFS order."""
    n = piece.shape[0]
    size = 2 * n + 64
    for k in range(label.shape[0]):
        size = max(size, 2 * (label[k] + 1))
    # fill values and lengths as typed (not literal) ints: one specialization of _resized
    zero = np.int32(0)
    empty = np.int32(-1)
    none = np.int64(0)
    base = _resized(piece, none, np.int64(size), zero)
    check = _resized(piece, none, np.int64(size), empty)
    dpiece = _resized(piece, none, np.int64(size), empty)
    da = _resized(piece, none, np.int64(n), zero)
    da[0] = 0
    check[0] = -2
    free = 1
    for node in range(n):
        d = da[node]
        dpiece[d] = piece[node]
        lo = first[node]
        hi = first[node + 1]
        if lo == hi:
            continue
        b = max(1, free - label[lo])
        while True:
            need = b + label[hi - 1] + 1
            if need > size:
                new = max(2 * size, need + 64)
                base = _resized(base, np.int64(size), np.int64(new), zero)
                check = _resized(check, np.int64(size), np.int64(new), empty)
                dpiece = _resized(dpiece, np.int64(size), np.int64(new), empty)
                size = new
            ok = True
            for k in range(lo, hi):
                if check[b + label[k]] != -1:
                    ok = False
                    break
            if ok:
                break
            b += 1
        base[d] = b
        for k in range(lo, hi):
            t = b + label[k]
            check[t] = d
            da[child[k]] = t
        while free < size and check[free] != -1:
            free += 1
    # trim
    last = size - 1
    while last > 0 and check[last] == -1:
        last -= 1
    m = np.int64(last + 1)
    return (_resized(base, m, m, zero), _resized(check, m, m, zero),
            _resized(dpiece, m, m, zero))


def build_double_array(seqs, n_symbols: int):
    """Reversed-piece double-array trie: ``(base, check, piece, max_len)``."""
    from ._lattice_batch import compile_notice
    t = build_trie(seqs, n_symbols)
    with compile_notice("trie builder", _build_double_array, "1 s"):
        base, check, piece = _build_double_array(t.first, t.label, t.child, t.piece)
    return base, check, piece, t.max_len
