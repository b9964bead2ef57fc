"""Training kernels against brute force: seeds, validity, E-step, M-step, Viterbi, pruning."""
import math

import numpy as np
import pytest
from scipy.special import digamma as sp_digamma

from tokenize_lab import _train_em as EM
from tokenize_lab import _train_seeds as S
from tokenize_lab._scripts import INHERITED, script_classes
from tokenize_lab._train_corpus import build_corpus

LINES = ["ab abc abab", "bca ab cab", "abc ab c", "cc abca", "abab bab", "ab abc", "ca cab",
         "zab abc"]


def corpus(lines=LINES, coverage=1.0, unit="char", max_len=6, **rules):
    opts = dict(split_by_script=True, split_by_number=True, split_digits=False,
                split_by_whitespace=True)
    opts.update(rules)
    C = build_corpus(lines, unit=unit, normalizer=None, ws_char=" ",
                     split_by_whitespace=opts["split_by_whitespace"],
                     character_coverage=coverage, ensure_unicode=True)
    ve = S.valid_extent(C.sym, C.script, C.digit, C.ws, C.cstart, C.bad_start, max_len,
                        opts["split_by_script"], opts["split_by_number"], opts["split_digits"],
                        opts["split_by_whitespace"])
    return C, ve


def words_of(C):
    """Unique words as lists of symbols (-1 unknown) with weights."""
    return [(C.sym[a:a + n].tolist(), w) for a, n, w in zip(C.word_start, C.word_len, C.weight)]


def pipeline(lines=LINES, coverage=1.0, max_len=6):
    C, ve = corpus(lines, coverage, max_len=max_len)
    n_chars = C.alphabet.shape[0]
    sa = S.sorted_suffixes(C.sym, ve, n_chars, max_len)
    depth, lb, rb, freq = S.seed_candidates(C.sym, sa, ve, np.repeat(C.weight, C.word_len + 1),
                                               C.ws, False)
    eptr, elen, epid = S.build_lattice(C.sym, sa, depth, lb, rb, n_chars)
    pieces = [(c,) for c in range(n_chars)]
    pieces += [tuple(C.sym[sa[l]:sa[l] + d].tolist()) for d, l in zip(depth, lb)]
    occ = np.empty(len(pieces), dtype=np.int64)
    where = np.flatnonzero(C.sym >= 0)
    occ[C.sym[where]] = where
    occ[n_chars:] = sa[lb]
    plen = np.array([len(p) for p in pieces], dtype=np.int32)
    return C, pieces, (eptr, elen, epid), occ, plen, freq


def segmentations(word, pieces, logp, unk_lp):
    """Every segmentation of ``word`` as a list of (piece index or -1, score)."""
    index = {p: i for i, p in enumerate(pieces) if logp[i] > -np.inf}
    out = []

    def rec(pos, acc):
        if pos == len(word):
            out.append(list(acc))
            return
        for e in range(pos + 1, len(word) + 1):
            sub = tuple(word[pos:e])
            i = index.get(sub)
            if i is not None:
                rec(e, acc + [(i, logp[i])])
            elif e == pos + 1:  # one symbol without a live piece: the unknown edge
                rec(e, acc + [(-1, unk_lp)])
    rec(0, [])
    return out


def random_logp(n, rng, dead=()):
    lp = np.log(rng.dirichlet(np.ones(n)))
    lp[list(dead)] = -np.inf
    return lp


# -- piece validity -------------------------------------------------------------------
def py_is_valid(chars, *, split_by_script=True, split_by_number=True, split_digits=False,
                split_by_whitespace=True, ws=" "):
    """SentencePiece's IsValidSentencePiece, written from its rules (without whitespace
    splitting, the rule "no whitespace at the end" is left out: it is not prefix-closed)."""
    prev = -1
    scripts = script_classes([ord(c) for c in chars])
    for pos, c in enumerate(chars):
        if c == ws:
            if pos > 0 and split_by_whitespace:
                return False
            continue
        s = int(scripts[pos])
        if s == INHERITED:
            s = prev
        is_digit = "0" <= c <= "9" or "\uff10" <= c <= "\uff19"
        if not split_by_number and is_digit:
            s = -1
        if split_digits and is_digit and len(chars) > 1:
            return False
        if split_by_script and s != -1 and prev != -1 and prev != s:
            return False
        prev = s
    return True


@pytest.mark.parametrize("rules", [{}, {"split_digits": True}, {"split_by_number": False},
                                   {"split_by_script": False}, {"split_by_whitespace": False}])
def test_valid_extent_matches_rule_on_every_substring(rules):
    lines = ["ab1 2c3d x.y", "漢字かなカナ abc", "e\u0301t\u00e9 12ab ab12", "a-b (c) 3.5"]
    C, ve = corpus(lines, max_len=5, **rules)
    py_rules = {"split_by_script": rules.get("split_by_script", True),
                "split_by_number": rules.get("split_by_number", True),
                "split_digits": rules.get("split_digits", False),
                "split_by_whitespace": rules.get("split_by_whitespace", True)}
    chars = [chr(c) if c >= 0 else None for c in
             np.where(C.sym >= 0, C.alphabet[np.maximum(C.sym, 0)], -1)]
    for a, n in zip(C.word_start, C.word_len):
        for i in range(a, a + n):
            want = 0
            for L in range(1, min(5, a + n - i) + 1):
                if py_is_valid(chars[i:i + L], **py_rules):
                    want = L
                else:
                    break
            assert ve[i] == want, (chars[a:a + n], i - a, ve[i], want)


# -- seeds ------------------------------------------------------------------------------
def test_seed_candidates_match_brute_force():
    C, ve = corpus(max_len=6)
    sa = S.sorted_suffixes(C.sym, ve, C.alphabet.shape[0], 6)
    depth, lb, rb, freq = S.seed_candidates(C.sym, sa, ve, np.repeat(C.weight, C.word_len + 1),
                                               C.ws, False)
    got = {tuple(C.sym[sa[l]:sa[l] + d].tolist()): f for d, l, f in zip(depth, lb, freq)}
    assert len(got) == len(depth)  # no candidate twice
    # occurrences of every valid substring of length >= 2, with what follows each
    occ = {}
    for a, n, w in zip(C.word_start, C.word_len, C.weight):
        for i in range(a, a + n):
            for L in range(2, ve[i] + 1):
                s = tuple(C.sym[i:i + L].tolist())
                nxt = ("end", i) if ve[i] == L else C.sym[i + L]  # each end is its own branch
                occ.setdefault(s, []).append((w, nxt))
    want = {}
    for s, o in occ.items():
        total = sum(w for w, _ in o)
        follows = {x for _, x in o}
        # a candidate occurs twice and branches: two different continuations, or an end
        if total >= 2 and (len(follows) >= 2 or isinstance(next(iter(follows)), tuple)):
            want[s] = total
    assert got == pytest.approx(want)
    # the edges of each seed are exactly its occurrences
    eptr, elen, epid = S.build_lattice(C.sym, sa, depth, lb, rb, C.alphabet.shape[0])
    n_chars = C.alphabet.shape[0]
    for j, (d, l) in enumerate(zip(depth, lb)):
        s = tuple(C.sym[sa[l]:sa[l] + d].tolist())
        ends = sorted(e for e in range(len(eptr) - 1) for k in range(eptr[e], eptr[e + 1])
                      if epid[k] == n_chars + j)
        where = sorted(i + d for i in range(len(C.sym) - d + 1)
                       if tuple(C.sym[i:i + d].tolist()) == s)
        assert ends == where


# -- E-step -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_e_step_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    C, pieces, lat, _, _, _ = pipeline(LINES * 2 + ["qab"], coverage=0.98)  # 'q' unknown
    assert (C.sym == -1).any()
    n = len(pieces)
    char_dead = int(rng.integers(C.alphabet.shape[0]))  # a dead symbol piece: unknown edge
    logp = random_logp(n, rng, dead=[char_dead] + list(rng.choice(np.arange(3, n), 4, False)))
    unk = float(logp[logp > -np.inf].min()) - 10
    counts, unk_count, ll = EM.e_step(C.word_start, C.word_len, C.weight, *lat,
                                      *EM.pow2_weights(logp, unk), 3)
    want = np.zeros(n)
    want_unk = 0.0
    want_ll = 0.0
    for word, w in words_of(C):
        segs = segmentations(word, pieces, logp, unk)
        scores = np.array([sum(v for _, v in s) for s in segs])
        lz = np.logaddexp.reduce(scores)
        want_ll += w * lz
        for s, sc in zip(segs, scores):
            p = math.exp(sc - lz)
            for i, _ in s:
                if i < 0:
                    want_unk += w * p
                else:
                    want[i] += w * p
    np.testing.assert_allclose(counts, want, rtol=1e-10, atol=1e-12)
    assert unk_count == pytest.approx(want_unk, rel=1e-10)
    assert ll == pytest.approx(want_ll, rel=1e-12)


def test_e_step_long_word_no_underflow():
    # a 3000-symbol word: Z underflows any probability-domain forward pass
    line = "".join(np.random.default_rng(0).choice(list("abc"), 3000))
    C, pieces, lat, _, _, _ = pipeline([line, line[:50], line[:50]], max_len=4)
    logp = np.full(len(pieces), math.log(1e-3))
    counts, _, ll = EM.e_step(C.word_start, C.word_len, C.weight, *lat,
                              *EM.pow2_weights(logp, -30.0), 2)
    assert np.isfinite(ll) and np.all(np.isfinite(counts))
    # every position is covered exactly once in expectation
    lens = np.array([len(p) for p in pieces])
    assert counts @ lens == pytest.approx(C.weight @ C.word_len, rel=1e-10)


# -- M-step -----------------------------------------------------------------------------
def test_digamma_matches_scipy():
    x = np.concatenate((np.linspace(1e-3, 20, 2001), np.geomspace(20, 1e12, 500),
                        [0.5, 1.0, 1.5, 9.999, 10.0, 10.001]))
    np.testing.assert_allclose(EM.digamma(x), sp_digamma(x), rtol=2e-14, atol=2e-14)
    assert np.isnan(EM.digamma(np.array([0.0, -1.0, np.nan]))).all()


def test_m_step_is_bayesian_em():
    rng = np.random.default_rng(3)
    counts = rng.gamma(0.5, 20.0, 300)
    counts[:20] = rng.uniform(0, 0.5, 20)  # below the threshold
    alive = np.ones(300, dtype=bool)
    alive[25] = False
    logp = EM.m_step(counts, alive, 0.5)
    keep = counts >= 0.5
    keep[25] = False
    np.testing.assert_array_equal(alive, keep)
    want = sp_digamma(counts[keep]) - sp_digamma(counts[keep].sum())
    np.testing.assert_allclose(logp[keep], want, rtol=1e-13)
    assert np.all(logp[~keep] == -np.inf)


# -- Viterbi and pruning ------------------------------------------------------------------
def test_viterbi_counts_and_alternatives_match_enumeration():
    rng = np.random.default_rng(5)
    C, pieces, lat, occ, plen, _ = pipeline(LINES * 2 + ["qab"], coverage=0.98)
    n = len(pieces)
    logp = random_logp(n, rng, dead=list(rng.choice(np.arange(3, n), 3, False)))
    unk = float(logp[logp > -np.inf].min()) - 10
    freq, unk_freq = EM.viterbi_counts(C.word_start, C.word_len, C.weight, *lat, logp, unk, 2)
    want = np.zeros(n)
    want_unk = 0.0
    for word, w in words_of(C):
        best = max(segmentations(word, pieces, logp, unk), key=lambda s: sum(v for _, v in s))
        for i, _ in best:
            if i < 0:
                want_unk += w
            else:
                want[i] += w
    np.testing.assert_array_equal(freq, want)
    assert unk_freq == want_unk
    status, alt, alt_n = EM.alternatives(occ, plen, *lat, logp, unk, 6, 3)
    for i, p in enumerate(pieces):
        if len(p) < 2 or logp[i] == -np.inf:
            assert status[i] == 0
            continue
        lp = logp.copy()
        lp[i] = -np.inf
        segs = segmentations(list(p), pieces, lp, unk)
        best = max(segs, key=lambda s: sum(v for _, v in s))
        best_score = sum(v for _, v in best)
        if best_score > logp[i]:
            assert status[i] == 1
        else:
            assert status[i] == (3 if any(j < 0 for j, _ in best) else 2)
            assert sorted(alt[i, :alt_n[i]].tolist()) == sorted(j for j, _ in best)


def test_prune_losses_formula():
    rng = np.random.default_rng(7)
    n = 40
    freq = rng.integers(0, 50, n).astype(float)
    status = rng.choice([0, 1, 2, 3], n).astype(np.int8)
    alt = rng.integers(0, n, (n, 4)).astype(np.int32)
    alt_n = rng.integers(2, 5, n).astype(np.int32)
    alt[status == 3, 0] = -1  # alternatives through an unknown symbol
    vsum = 123.0
    unk_freq = 17.0
    loss = EM.prune_losses(freq, status, alt, alt_n, vsum, unk_freq)
    tot = freq.sum()
    for i in range(n):
        if status[i] not in (2, 3) or freq[i] == 0:
            assert np.isnan(loss[i])
            continue
        k = alt_n[i]
        # SentencePiece: removing piece i moves its frequency onto its k alternatives, and
        # the total grows by freq[i] * (k - 1)
        f = [freq[j] if j >= 0 else unk_freq for j in alt[i, :k]]
        lp_alt = sum(math.log((fj + freq[i]) / (tot + freq[i] * (k - 1))) for fj in f)
        want = freq[i] / vsum * (math.log(freq[i] / tot) - lp_alt)
        assert loss[i] == pytest.approx(want, rel=1e-12)
