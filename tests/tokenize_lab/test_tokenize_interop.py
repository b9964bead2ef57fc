"""SentencePiece and BytePiece interop, persistence, command line, Dask helper, GPU sampler."""
import base64
import io
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

from probspace.testing import chisquare_gof
from tokenize_lab import UnigramModel, dask_encode

spm = pytest.importorskip("sentencepiece")


def corpus_lines():
    from pydoc_data.topics import topics
    lines = [ln for v in topics.values() for ln in v.splitlines() if ln.strip()]
    random.Random(0).shuffle(lines)
    return lines


@pytest.fixture(scope="module")
def sp_model():
    lines = corpus_lines()
    train = lines[: len(lines) * 4 // 5]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=buf,
                                   model_type="unigram", vocab_size=2000, minloglevel=2)
    return buf.getvalue(), lines[len(lines) * 4 // 5:]


@pytest.fixture(scope="module")
def sp_bytefallback_model():
    lines = corpus_lines()[:3000]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf,
                                   model_type="unigram", vocab_size=800, byte_fallback=True,
                                   minloglevel=2)
    return buf.getvalue()


def test_viterbi_matches_sentencepiece(sp_model):
    data, held = sp_model
    sp = spm.SentencePieceProcessor(model_proto=data)
    m = UnigramModel.from_sentencepiece(data)
    assert len(m) == sp.get_piece_size()
    assert [m.id_to_piece(i) for i in range(10, 40)] == [sp.id_to_piece(i) for i in range(10, 40)]
    extra = ["  Leading and   inner  spaces  ", "ＦＵＬＬ-width ｶﾀｶﾅ ① ﬁ", "tab\there", "é vs é", ""]
    texts = held + extra
    assert m.encode(texts) == sp.encode(texts, out_type=str)
    # ids agree too, unknown characters included (one <unk> per run, as sentencepiece)
    assert m.encode(texts, out="ids") == sp.encode(texts)
    unk = sp.unk_id()
    # normalization is SentencePiece's own, byte for byte (serial and parallel batch paths;
    # U+FDFA expands 11-fold and sends its chunk to the serial fallback)
    texts_n = texts + ["\ufdfa" * 40, "ｱｲｳ  ｴｵ", "\x00ctrl\x07"]
    for t in texts_n:
        assert m._normalizer.normalize(t) == sp.normalize(t)
    cps, coff = m._normalizer.normalize_codes(texts_n)
    assert [cps[coff[i]:coff[i + 1]].tobytes().decode("utf-32-le") for i in range(len(texts_n))] \
        == [sp.normalize(t) for t in texts_n]
    cps, coff = m._normalizer.normalize_codes(texts)
    assert [cps[coff[i]:coff[i + 1]].tobytes().decode("utf-32-le") for i in range(len(texts))] \
        == [sp.normalize(t) for t in texts]
    # decoding gives SentencePiece's detokenized text
    for t in held[:200] + extra:
        if unk not in sp.encode(t):
            assert m.decode(m.encode(t, out="ids")) == sp.decode(sp.encode(t))


def test_sentencepiece_sampling_law(sp_model):
    """Our samplers follow the exact law; SentencePiece's FFBS sampling agrees with it too."""
    data, _ = sp_model
    sp = spm.SentencePieceProcessor(model_proto=data)
    m = UnigramModel.from_sentencepiece(data)
    text = "the class"
    law = m.enumerate(text, alpha=0.1)
    keys = [tuple(p) for p, _ in law]
    probs = np.array([q for _, q in law])
    n = 20_000
    spm.set_random_generator_seed(5)
    theirs = [tuple(sp.encode(text, out_type=str, enable_sampling=True, alpha=0.1, nbest_size=-1))
              for _ in range(n)]
    from collections import Counter
    c = Counter(theirs)
    # SentencePiece's FFBS is exact up to float32 rounding, far below what 2e4 draws resolve
    chisquare_gof([c.get(k, 0) for k in keys], probs, alpha=1e-3)
    ours = Counter(tuple(p) for p in m.encode([text] * 100_000, alpha=0.1, seed=4))
    chisquare_gof([ours.get(k, 0) for k in keys], probs, alpha=1e-3)


def test_sentencepiece_byte_fallback(sp_bytefallback_model):
    sp = spm.SentencePieceProcessor(model_proto=sp_bytefallback_model)
    m = UnigramModel.from_sentencepiece(sp_bytefallback_model)
    text = "naïve 漢字 ok"
    assert m.encode(text, out="ids") == sp.encode(text)
    assert m.decode(m.encode(text, out="ids")) == sp.decode(sp.encode(text)) == text
    assert m.id_to_piece(int(m.byte_ids[0xE6])) == "<0xE6>"


def test_sentencepiece_without_normalization_is_lossless(sp_bytefallback_model):
    # (with byte fallback: without it unknown characters become <unk>, as in SentencePiece)
    m = UnigramModel.from_sentencepiece(sp_bytefallback_model, normalize=False)
    # (a literal U+2581 in the text is the one exception: it is SentencePiece's escape)
    for t in ["  two  spaces ", "ＦＵＬＬ", " lead", "漢字\n"]:
        for alpha in (None, 0.3):
            assert m.decode(m.encode(t, alpha=alpha, seed=0, out="ids")) == t
            assert m.decode(m.encode(t, alpha=alpha, seed=0)) == t


def test_bad_model_bytes():
    with pytest.raises(ValueError, match="model_file_or_bytes"):
        UnigramModel.from_sentencepiece(b"\x0a\x05abc")
    with pytest.raises(TypeError, match="model_file_or_bytes"):
        UnigramModel.from_sentencepiece(12)


def test_save_load_roundtrip(tmp_path, sp_model):
    data, held = sp_model
    for m in (UnigramModel.from_sentencepiece(data),
              UnigramModel({b"ab": -1.0, b"\xc3": -2.0, b"a": -2.0}, unit="byte"),
              UnigramModel({"ab": -1.0, "a": -2.0, "b": -2.2})):
        m.save(tmp_path / "m.json")
        m2 = UnigramModel.load(tmp_path / "m.json")
        texts = held[:50] + ["abé", ""]
        for kw in ({}, {"alpha": 0.2, "seed": 3}):
            assert m2.encode(texts, out="ids", **kw) == m.encode(texts, out="ids", **kw)
        assert m2.pieces == m.pieces
    with pytest.raises(ValueError, match="tokenize_lab"):
        UnigramModel.from_dict({"format": "other"})


def test_bytepiece_json(tmp_path):
    counts = {b"ab": 50, b"a": 20, b"b": 10, "é".encode(): 5, b"\xc3": 1, b"\xa9b": 3}
    js = {base64.b64encode(p).decode(): [i + 3, p.decode("utf-8", "replace"), c]
          for i, (p, c) in enumerate(counts.items())}
    path = tmp_path / "bp.json"
    path.write_text(json.dumps(js))
    m = UnigramModel.from_bytepiece(path)
    tot = sum(counts.values())
    assert m.unit == "byte"
    assert m.id_to_piece(3) == b"ab"
    assert m.pieces[b"ab"] == pytest.approx(math.log(50 / tot))
    assert m.encode("abé", out="ids") == [3, 6]
    # the byte lattice may split "é" (\xc3|\xa9b); \xa9 alone is an unknown byte edge
    law = m.enumerate("éb", alpha=1.0)
    assert {tuple(p) for p, _ in law} == {("é".encode(), b"b"), (b"\xc3", b"\xa9b"),
                                          (b"\xc3", b"\xa9", b"b")}
    # NFC normalization, as BytePiece: decomposed e + combining acute encodes like é
    assert m.encode("e\u0301") == m.encode("é")


def test_cli(tmp_path):
    m = UnigramModel({"ab": -1.0, "a": -2.0, "b": -2.2, " ": -1.0})
    m.save(tmp_path / "m.json")
    text = "ab a\nbab\n"
    run = lambda *a, inp=text: subprocess.run(
        [sys.executable, "-m", "tokenize_lab", *a], input=inp, capture_output=True, text=True, check=True)
    r = run("encode", "--model", str(tmp_path / "m.json"))
    assert [json.loads(x) for x in r.stdout.splitlines()] == m.encode(["ab a", "bab"])
    r = run("encode", "--model", str(tmp_path / "m.json"), "--alpha", "0.5", "--seed", "7", "--out", "ids")
    ids = [[int(t) for t in x.split()] for x in r.stdout.splitlines()]
    assert ids == m.encode(["ab a", "bab"], alpha=0.5, seed=7, out="ids")
    r = run("decode", "--model", str(tmp_path / "m.json"), inp="\n".join(" ".join(map(str, x)) for x in ids) + "\n")
    assert r.stdout.splitlines() == ["ab a", "bab"]


def test_dask_encode_matches_local():
    distributed = pytest.importorskip("distributed")
    m = UnigramModel({"ab": -1.0, "a": -2.0, "b": -2.2, "ba": -1.7})
    rng = random.Random(1)
    texts = ["".join(rng.choice("ab") for _ in range(rng.randint(0, 30))) for _ in range(500)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got = dask_encode(client, texts, m, chunk_size=77, alpha=0.4, seed=12)
        with pytest.raises(ValueError, match="chunk_size"):
            dask_encode(client, texts, m, chunk_size=0)
    assert got == m.encode(texts, alpha=0.4, seed=12, out="ids")


@pytest.mark.gpu
def test_gpu_sampler_matches_cpu_and_law():
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA device")
    from tokenize_lab import encode_gpu
    m = UnigramModel({"A": 1.0, "B": 1.2, "C": 1.5, "AB": 1.6, "BC": 1.7, "ABC": 1.8})
    texts = ["ABCABCAB", "CBA", "", "ABC" * 20]
    assert encode_gpu(m, texts) == m.encode(texts, out="ids")
    for method in ("perfect", "gumbel"):
        cpu = m.encode(texts * 50, alpha=0.5, method=method, seed=3, out="ids")
        gpu = encode_gpu(m, texts * 50, alpha=0.5, method=method, seed=3)
        agree = np.mean([a == b for a, b in zip(cpu, gpu)])
        assert agree > 0.99  # identical draws; only exp/log rounding at a boundary may differ
        law = m.enumerate("ABC", alpha=0.5)
        from collections import Counter
        c = Counter(tuple(x) for x in encode_gpu(m, ["ABC"] * 100_000, alpha=0.5, method=method,
                                                  seed=1, out="pieces"))
        chisquare_gof([c.get(tuple(p), 0) for p, _ in law], [q for _, q in law], alpha=1e-3)


def test_sampled_piece_counts_match_marginals(sp_model):
    """Mean piece counts of perfect samples vs forward-backward marginals on a real model."""
    data, held = sp_model
    m = UnigramModel.from_sentencepiece(data)
    text = held[3]
    n = 20_000
    draws = m.encode([text] * n, alpha=0.2, seed=8)
    marg = m.marginals(text, alpha=0.2)
    pieces = sorted(marg, key=lambda p: -marg[p])[:15]
    for p in pieces:
        c = np.array([d.count(p) for d in draws], dtype=float)
        se = max(c.std(ddof=1), 1e-3) / np.sqrt(n)
        # 15 comparisons at 4.5 standard errors: family-wise false alarm < 1e-4
        assert abs(c.mean() - marg[p]) < 4.5 * se + 1e-9, (p, c.mean(), marg[p])


def _cli(*args, inp=""):
    return subprocess.run([sys.executable, "-m", "tokenize_lab", *args], input=inp,
                          capture_output=True, text=True)


def test_cli_errors_are_one_line_exit_2(tmp_path):
    (tmp_path / "bad.model").write_bytes(b"\x0a\x05abc")
    for args in (["encode", "--model", str(tmp_path / "missing.json")],
                 ["encode", "--model", str(tmp_path / "bad.model")],
                 ["encode"], ["frobnicate"], ["train", "--vocab-size", "x", "--output", "o"],
                 ["train", str(tmp_path / "nope.txt"), "--vocab-size", "10", "--output", "o"],
                 ["encode", "--model", str(tmp_path / "bad.model"), "--alpha", "-1"]):
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tokenize-lab: error: "), r.stderr
        assert "Traceback" not in r.stderr


def test_cli_train_from_files_and_help(tmp_path):
    lines = corpus_lines()[:800]
    (tmp_path / "a.txt").write_text("\n".join(lines[:400]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(lines[400:]) + "\n")
    r = _cli("train", "--help")
    assert r.returncode == 0
    for opt in ("--vocab-size", "--output", "--format", "--unit", "--max-piece-length",
                "--character-coverage", "--seed-size", "--shrinking-factor",
                "--num-sub-iterations", "--split-digits", "--num-threads", "--quiet"):
        assert opt in r.stdout
    out = tmp_path / "m.model"
    r = _cli("train", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--vocab-size", "300",
             "--output", str(out), "--format", "sentencepiece", "--quiet")
    assert r.returncode == 0, r.stderr
    sp = spm.SentencePieceProcessor(model_file=str(out))
    m = UnigramModel.train(lines, 300)
    assert sp.encode(lines[:50]) == m.encode(lines[:50], out="ids")
    # stdin, and encode through the CLI with the trained model
    r = _cli("train", "--vocab-size", "300", "--output", str(tmp_path / "m.json"), "--quiet",
             inp="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    r = _cli("encode", "--model", str(tmp_path / "m.json"), "--out", "ids",
             inp="\n".join(lines[:20]) + "\n")
    assert [[int(t) for t in x.split()] for x in r.stdout.splitlines()] == \
        m.encode(lines[:20], out="ids")


def test_console_script_declared():
    import tomllib
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    conf = tomllib.loads((root / "pyproject.toml").read_text())
    assert conf["project"]["scripts"]["tokenize-lab"] == "tokenize_lab._cli:main"
    from tokenize_lab._cli import main
    assert main(["encode"]) == 2
