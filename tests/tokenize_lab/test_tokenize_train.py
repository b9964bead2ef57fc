"""EM training: recovering a planted unigram model, vocabulary invariants, byte level."""
import math

import numpy as np
import pytest

from tokenize_lab import UnigramModel


def planted_corpus(seed=0, nlines=3000):
    rng = np.random.default_rng(seed)
    multi = set()
    while len(multi) < 12:
        multi.add("".join(rng.choice(list("abcd"), rng.integers(2, 5))))
    planted = list("abcd") + sorted(multi)
    p = rng.dirichlet(np.full(len(planted), 2.0))
    lines = ["".join(planted[i] for i in rng.choice(len(planted), size=8, p=p)) for _ in range(nlines)]
    return planted, p, lines


def test_em_recovers_planted_model():
    planted, p, lines = planted_corpus()
    m = UnigramModel.train(lines, len(planted), max_piece_length=4)
    got = m.pieces
    # every planted piece is found, nothing else
    assert set(got) == set(planted)
    # log-probabilities: each is estimated from ~24000 piece draws; pieces with p >= 0.02
    # have relative standard error <= ~5%, so a 0.15 tolerance on log p is ~3 sigma
    for w, q in zip(planted, p):
        if q >= 0.02:
            assert abs(got[w] - math.log(q)) < 0.15, (w, got[w], math.log(q))
    # and the trained model explains held-out data as well as the truth does
    _, _, test_lines = planted_corpus(seed=0, nlines=200)
    truth = UnigramModel(dict(zip(planted, np.log(p))))
    ll_true = sum(truth.log_partition(test_lines, alpha=1.0))
    ll_hat = sum(m.log_partition(test_lines, alpha=1.0))
    assert ll_hat > ll_true - 0.005 * abs(ll_true)


def test_train_on_builtin_corpus_invariants():
    from pydoc_data.topics import topics
    lines = [ln for v in list(topics.values())[:40] for ln in v.splitlines() if ln.strip()]
    seen = []
    m = UnigramModel.train(lines, 300, callback=seen.append, seed_size=5000)
    assert len(m) == 300
    chars = {c for ln in lines for c in ln}
    assert chars <= set(m.pieces)  # every symbol kept: no training text is unknown
    scores = list(m.pieces.values())
    assert scores == sorted(scores, reverse=True)
    assert np.logaddexp.reduce(scores) <= 1e-9  # log-probabilities (digamma makes the sum < 1)
    assert min(scores) > -30  # unused required symbols keep a finite, moderate score
    assert seen and all(k in seen[0] for k in ("round", "iteration", "vocab_size", "loglik"))
    assert all(m.decode(m.encode(ln)) == ln for ln in lines[:100])
    # multi-character pieces were learned and are used
    assert np.mean([len(m.encode(ln)) / len(ln) for ln in lines[:200]]) < 0.6


def test_train_tiny_corpus_scores_finite():
    # "a", "b", "c", "d" end up unused (abc/abd cover everything) but must stay usable
    m = UnigramModel.train(["abc abd", "abd abc"], 8)
    assert {"a", "b", "c", "d", " "} <= set(m.pieces)
    assert all(-20 < v < 0 for v in m.pieces.values())
    assert m.encode("dcba") == ["d", "c", "b", "a"]


def test_train_callback_can_stop():
    _, _, lines = planted_corpus(nlines=300)
    calls = []

    def cb(info):
        calls.append(info)
        return False

    m = UnigramModel.train(lines, 10, callback=cb, max_piece_length=4)
    assert len(calls) == 1 and len(m) == 10


def test_train_byte_level():
    lines = ["naïve café " * 3, "漢字かな交じり文", "plain ascii words here"] * 50
    m = UnigramModel.train(lines, 120, unit="byte")
    assert m.unit == "byte"
    # ensure_unicode: no piece starts with a UTF-8 continuation byte
    assert all(not (0x80 <= p[0] <= 0xBF) for p in m.pieces if len(p) > 1)
    assert all(m.decode(m.encode(ln)) == ln for ln in lines[:3])
    assert all(m.decode(m.encode(ln, alpha=0.3, seed=1, out="ids")) == ln for ln in lines[:3])


def test_train_validation():
    with pytest.raises(ValueError, match="vocab_size"):
        UnigramModel.train(["abc"], 2)
    with pytest.raises(ValueError, match="vocab_size"):
        UnigramModel.train(["abc"], 0)
    with pytest.raises(TypeError, match="lines"):
        UnigramModel.train("abc", 10)
    with pytest.raises(ValueError, match="lines"):
        UnigramModel.train(["", ""], 10)
    with pytest.raises(ValueError, match="unit"):
        UnigramModel.train(["abc"], 10, unit="word")
    with pytest.raises(ValueError, match="shrinking_factor"):
        UnigramModel.train(["abc"], 10, shrinking_factor=1.5)
