"""Exact lattice quantities against hand-computed oracles and brute-force enumeration."""
import math
import random

import numpy as np
import pytest

from tokenize_lab import UnigramModel
from tokenize_lab import _lattice_numba as K

ABC = {"A": 1.0, "B": 1.2, "C": 1.5, "AB": 1.6, "BC": 1.7, "ABC": 1.8}
SEGS = [("A", "B", "C"), ("AB", "C"), ("A", "BC"), ("ABC",)]


def brute_segmentations(text, vocab, unk_score):
    """All segmentations by plain recursion over split points (independent of the library)."""
    singles = {p for p in vocab if len(p) == 1}
    out = []
    n = len(text)
    for mask in range(1 << max(n - 1, 0)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        parts = [text[a:b] for a, b in zip(cuts, cuts[1:])]
        score = 0.0
        for p in parts:
            if p in vocab:
                score += vocab[p]
            elif len(p) == 1 and p not in singles:
                score += unk_score
            else:
                break
        else:
            out.append((parts, score))
    return out


def lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


@pytest.mark.parametrize("alpha,expected", [
    (0.0, [0.25, 0.25, 0.25, 0.25]),
    (0.5, [0.3658, 0.2710, 0.2218, 0.1415]),
    (1.0, [0.4840, 0.2656, 0.1780, 0.0724]),
])
def test_abc_table(alpha, expected):
    m = UnigramModel(ABC)
    law = {tuple(p): q for p, q in m.enumerate("ABC", alpha=alpha)}
    assert sum(law.values()) == pytest.approx(1.0, abs=1e-12)
    for seg, q in zip(SEGS, expected):
        assert law[seg] == pytest.approx(q, abs=6e-5)  # table rounded to 4 decimals


def test_sentencepiece_viterbi_oracle():
    v = {"A": 0.0, "B": 0.0, "C": 0.0}
    assert UnigramModel(v).encode("ABC") == ["A", "B", "C"]
    v["AB"] = 2.0
    assert UnigramModel(v).encode("ABC") == ["AB", "C"]
    v["BC"] = 5.0
    assert UnigramModel(v).encode("ABC") == ["A", "BC"]
    v["ABC"] = 10.0
    assert UnigramModel(v).encode("ABC") == ["ABC"]
    best = UnigramModel(v).nbest("ABC", 10)
    assert [tuple(p) for p, _ in best] == [("ABC",), ("A", "BC"), ("AB", "C"), ("A", "B", "C")]
    assert [s for _, s in best] == [10.0, 5.0, 2.0, 0.0]


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.0, 2.0])
def test_sentencepiece_forward_oracle(theta):
    m = UnigramModel({"A": 0.0, "B": 0.0, "C": 0.1, "AB": 0.2, "BC": 0.5, "ABC": 1.0})
    expect = math.log(sum(math.exp(c * theta) for c in (0.1, 0.3, 0.5, 1.0)))
    assert m.log_partition("ABC", alpha=theta) == pytest.approx(expect, abs=1e-12)


def test_sentencepiece_marginal_oracle():
    m = UnigramModel({"A": 1.0, "B": 1.2, "C": 2.5, "AB": 3.0, "BC": 4.0, "ABC": 2.0})
    marg = m.marginals("ABC", alpha=1.0)
    expect = {"A": .5062, "B": .2154, "C": .6948, "AB": .4794, "BC": .2908, "ABC": .0145}
    for k, v in expect.items():
        assert marg[k] == pytest.approx(v, abs=6e-5)
    assert m.log_partition("ABC", alpha=1.0) == pytest.approx(6.2353, abs=6e-5)


def random_vocab(rng, alphabet="abc", npieces=12, maxlen=4):
    vocab = {}
    while len(vocab) < npieces:
        L = rng.randint(1, maxlen)
        vocab["".join(rng.choice(alphabet) for _ in range(L))] = rng.uniform(-6, -0.5)
    return vocab


@pytest.mark.parametrize("case", range(12))
def test_against_brute_force(case):
    rng = random.Random(case)
    vocab = random_vocab(rng, npieces=rng.randint(4, 14))
    unit = "byte" if case % 3 == 2 else "char"
    m = UnigramModel(vocab, unit=unit)
    alpha = [0.0, 0.3, 1.0, 2.5][case % 4]
    for _ in range(6):
        text = "".join(rng.choice("abcz") for _ in range(rng.randint(1, 9)))  # z is unknown
        key = (lambda p: p.encode()) if unit == "byte" else (lambda p: p)
        brute = brute_segmentations(text, vocab, m.unk_score)
        assert m.count_segmentations(text) == len(brute)
        # Viterbi = argmax
        best = max(s for _, s in brute)
        vit = m.encode(text)
        assert m.score(vit) == pytest.approx(best, abs=1e-12)
        argmax = [[key(p) for p in parts] for parts, s in brute if abs(s - best) < 1e-12]
        # an unknown symbol comes out as its byte pieces (char unit); as the byte (byte unit)
        spelled = [[q for p in parts for q in ([p] if m._index.get(p, -1) >= 0 or unit == "byte"
                                               else [f"<0x{b:02X}>" for b in p.encode()])]
                   for parts in argmax]
        assert vit in spelled
        # log partition = log-sum-exp
        lz = lse([alpha * s for _, s in brute])
        assert m.log_partition(text, alpha=alpha) == pytest.approx(lz, abs=1e-10)
        # enumerate = the law
        law = {tuple(p): q for p, q in m.enumerate(text, alpha=alpha)}
        assert len(law) == len(brute)
        for parts, s in brute:
            assert law[tuple(key(p) for p in parts)] == pytest.approx(math.exp(alpha * s - lz), abs=1e-12)
            assert m.probability(text, [key(p) for p in parts], alpha=alpha) == pytest.approx(
                math.exp(alpha * s - lz), rel=1e-9)
        # nbest = sorted enumeration
        k = min(5, len(brute))
        nb = m.nbest(text, k)
        assert [s for _, s in nb] == pytest.approx(sorted((s for _, s in brute), reverse=True)[:k], abs=1e-12)
        for pieces, s in nb:
            assert m.score(pieces) == pytest.approx(s, abs=1e-12)
        # marginals = expected counts under the law
        marg = m.marginals(text, alpha=alpha)
        exp_counts = {}
        for parts, s in brute:
            q = math.exp(alpha * s - lz)
            for p in parts:
                exp_counts[key(p)] = exp_counts.get(key(p), 0.0) + q
        for p, c in exp_counts.items():
            assert marg.get(p, 0.0) == pytest.approx(c, abs=1e-10)


def test_compiled_expected_counts_match_enumeration():
    rng = random.Random(7)
    vocab = random_vocab(rng, npieces=10)
    m = UnigramModel(vocab)
    texts = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 8))) for _ in range(20)]
    weights = np.array([rng.randint(1, 4) for _ in texts], dtype=np.float64)
    _, sym, offsets = m._prepare(texts)
    counts, ll = K.expected_counts(sym, offsets, weights, *m._trie_arrays, m._scores, m.unk_score,
                                   0.7, m._maxlen, len(m), 2)
    expect = np.zeros(len(m) + 1)
    ll_exp = 0.0
    for t, w in zip(texts, weights):
        brute = brute_segmentations(t, vocab, m.unk_score)
        lz = lse([0.7 * s for _, s in brute])
        ll_exp += w * lz
        for parts, s in brute:
            q = math.exp(0.7 * s - lz)
            for p in parts:
                expect[1 + m.piece_to_id(p) if p in vocab else 0] += w * q
    np.testing.assert_allclose(counts, expect, atol=1e-10)
    assert ll == pytest.approx(ll_exp, abs=1e-9)


def test_alpha_large_gives_viterbi():
    rng = random.Random(3)
    vocab = random_vocab(rng, npieces=14)
    m = UnigramModel(vocab)
    texts = ["".join(rng.choice("abc") for _ in range(12)) for _ in range(30)]
    vit = m.encode(texts)
    for method in ("perfect", "ffbs", "gumbel"):
        # the gap to the 2nd best is at least ~1e-3 here, so alpha=1e5 leaves an
        # exp(-100) chance of a non-Viterbi draw
        gaps = [s[0][1] - s[1][1] for s in (m.nbest(t, 2) for t in texts) if len(s) > 1]
        assert min(gaps) > 1e-3
        assert m.encode(texts, alpha=1e5, method=method, seed=5) == vit


def test_edge_cases():
    m = UnigramModel(ABC)
    assert m.encode("") == []
    assert m.encode([]) == []
    assert m.encode(["", "A"], alpha=0.5) == [[], ["A"]]
    assert m.log_partition("", alpha=1.0) == 0.0
    assert m.nbest("", 3) == [([], 0.0)]
    assert m.enumerate("", alpha=1.0) == [([], 1.0)]


def test_enumerate_limit():
    m = UnigramModel({"a": -1.0, "aa": -1.5})
    assert m.count_segmentations("a" * 20) == 10946  # Fibonacci(21)
    with pytest.raises(ValueError, match="limit"):
        m.enumerate("a" * 20, alpha=1.0, limit=1000)
    assert len(m.enumerate("a" * 10, alpha=1.0)) == 89


def test_validation_errors():
    with pytest.raises(ValueError, match="unit"):
        UnigramModel(ABC, unit="word")
    with pytest.raises(TypeError, match="pieces"):
        UnigramModel(["A"])
    with pytest.raises(ValueError, match="pieces"):
        UnigramModel({"": 1.0})
    with pytest.raises(ValueError, match="pieces"):
        UnigramModel({"A": float("nan")})
    m = UnigramModel(ABC)
    with pytest.raises(ValueError, match="alpha"):
        m.encode("A", alpha=-1)
    with pytest.raises(ValueError, match="alpha"):
        m.encode("A", alpha=float("inf"))
    with pytest.raises(ValueError, match="method"):
        m.encode("A", alpha=1, method="magic")
    with pytest.raises(ValueError, match="out"):
        m.encode("A", out="tensors")
    with pytest.raises(TypeError, match="text_or_texts"):
        m.encode(b"A")
    with pytest.raises(TypeError, match="text_or_texts"):
        m.encode(["A", 3])
    with pytest.raises(ValueError, match="n must"):
        m.nbest("A", 0)
    with pytest.raises(ValueError, match="pieces"):
        m.probability("ABC", ["A", "B"], alpha=1.0)
    with pytest.raises(ValueError, match="pieces"):
        m.score(["AC"])
    with pytest.raises(KeyError):
        m.piece_to_id("Q")
    with pytest.raises(ValueError, match="id"):
        m.id_to_piece(10**6)
