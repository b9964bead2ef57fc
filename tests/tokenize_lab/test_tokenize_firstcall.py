"""First calls compile only what they use; chunked batches on the thread pool are
bit-identical to one serial pass; the compile notice."""
import io
import json
import subprocess
import sys
import time

import numba
import numpy as np
import pytest

from tokenize_lab import UnigramModel
from tokenize_lab import _lattice_batch as B

spm = pytest.importorskip("sentencepiece")


def corpus_lines():
    from pydoc_data.topics import topics
    return [ln for v in topics.values() for ln in v.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def sp_model_file(tmp_path_factory):
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus_lines()[:6000]),
                                   model_writer=buf, model_type="unigram", vocab_size=1500,
                                   minloglevel=2)
    path = tmp_path_factory.mktemp("sp") / "m.model"
    path.write_bytes(buf.getvalue())
    return path


CHILD = r"""
import json, sys, types
import numba
import tokenize_lab
from tokenize_lab import UnigramModel
if sys.argv[1] == "sentencepiece":
    m = UnigramModel.from_sentencepiece(sys.argv[2])
else:
    m = UnigramModel({"a": -1.0, "b": -2.0, "ab": -2.5, " ": -1.5, "c": -3.0})
m.encode("abc cab")
m.encode(["a text with some words, repeated to make a batch"] * 2000, out="ids")
out = {}
for name, mod in list(sys.modules.items()):
    if name.startswith(("tokenize_lab", "probspace")):
        for k, v in vars(mod).items():
            if isinstance(v, numba.core.registry.CPUDispatcher) and v.signatures:
                out[name + "." + k] = len(v.signatures)
print(json.dumps(out))
"""

SAMPLERS = ("perfect_chunk", "generic_chunk", "_encode_one", "_perfect_one", "expected_counts",
            "uniform_pair", "philox4x32", "child_id")


@pytest.mark.parametrize("kind", ["sentencepiece", "plain"])
def test_viterbi_encode_compiles_only_viterbi_kernels(kind, sp_model_file):
    r = subprocess.run([sys.executable, "-c", CHILD, kind, str(sp_model_file)],
                       capture_output=True, text=True, check=True)
    compiled = json.loads(r.stdout.strip().splitlines()[-1])
    assert compiled, "nothing compiled?"
    names = {k.rsplit(".", 1)[1] for k in compiled}
    assert not names & set(SAMPLERS), sorted(names)
    # one specialization each (a second signature would be a second compile)
    assert all(n == 1 for n in compiled.values()), compiled
    if kind == "sentencepiece":
        assert "viterbi32_chunk" in names and "viterbi_chunk" not in names
    else:
        assert "viterbi_chunk" in names and "viterbi32_chunk" not in names
        assert not any("_normalizer" in k for k in compiled)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_chunked_batches_bit_identical(sp_model_file):
    lines = corpus_lines()[:6000] + ["\u337f" * 50, "unknown \u2603\u2603 here", ""]
    assert sum(map(len, lines)) > 4 * B._SERIAL_SYMBOLS
    models = [UnigramModel.from_sentencepiece(sp_model_file),
              UnigramModel.train(corpus_lines()[:3000], 500)]
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            res = []
            for m in models:
                res.append(m.encode(lines, out="ids"))
                res.append(m.encode(lines))
                for method in ("perfect", "ffbs"):
                    res.append(m.encode(lines, alpha=0.2, seed=3, method=method, out="ids"))
                res.append(m.log_partition(lines[:500]).tolist())
            results.append(res)
    finally:
        numba.set_num_threads(before)
    assert results[0] == results[1]
    # and the chunks themselves: many uneven chunks give the same arrays as one serial call
    m = models[0]
    _, sym, offsets = m._prepare(lines)
    outs = []
    for n_threads in (1, 7):
        out = (np.zeros(offsets[-1], np.int32), np.zeros(offsets[-1], np.int32),
               np.zeros(len(lines), np.int64), np.zeros(len(lines)))
        B.run_chunks(B.viterbi32_chunk, offsets, (sym, offsets),
                     (*m._trie_arrays, m._scores32, m.unk_score, *out), n_threads=n_threads)
        outs.append(out)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_normalizer_chunks_match_sentencepiece(sp_model_file):
    # U+337F expands 3 bytes -> 12 (more than a chunk region's 3x): the serial fallback
    sp = spm.SentencePieceProcessor(model_file=str(sp_model_file))
    m = UnigramModel.from_sentencepiece(sp_model_file)
    lines = corpus_lines()[:4000]
    for texts in (lines, ["\u337f" * 300] + lines, lines + ["  \u337f  x\u337f\u337f  "]):
        assert m.encode(texts) == sp.encode(texts, out_type=str)


class _FakeDispatcher:
    def __init__(self, signatures, name):
        self.signatures = signatures
        self.py_func = lambda: None
        self.py_func.__qualname__ = name


def test_compile_notice(capsys):
    from probspace import _compile_notice as cn
    was = cn.is_enabled()
    cn.enable(True)
    try:
        with B.compile_notice("test kernel", _FakeDispatcher([], "k1"), "2 s", after=0.01):
            time.sleep(0.3)
        err = capsys.readouterr().err
        assert err.count("probspace: compiling the tokenize_lab test kernel (first call, ~2 s; "
                         "cached afterwards)") == 1
        # once per process; nothing for compiled kernels or quick first calls
        with B.compile_notice("test kernel", _FakeDispatcher([], "k2"), "2 s", after=0.01):
            time.sleep(0.1)
        with B.compile_notice("other kernel", _FakeDispatcher(["sig"], "k3"), "2 s", after=0.0):
            time.sleep(0.1)
        with B.compile_notice("quick kernel", _FakeDispatcher([], "k4"), "2 s", after=0.5):
            pass
        time.sleep(0.6)
        # the kernels' own (per-kernel) notices are left out in favour of this one
        assert any(n.endswith("k1") for n in cn._announced)
        # and it can be silenced
        cn.enable(False)
        with B.compile_notice("silenced kernel", _FakeDispatcher([], "k5"), "2 s", after=0.01):
            time.sleep(0.2)
        assert "probspace: compiling" not in capsys.readouterr().err
    finally:
        cn.enable(was)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_thread_pool_after_fork():
    # A forked child must not wait on the parent's (vanished) pool threads.  In a fresh
    # process: forking this test process (other tests start JAX threads) could deadlock.
    from probspace.testing import run_isolated
    run_isolated("""
        import multiprocessing as mp
        from pydoc_data.topics import topics
        from tokenize_lab import UnigramModel
        lines = [ln for v in topics.values() for ln in v.splitlines() if ln.strip()][:3000]
        m = UnigramModel({"a": -1.0, "b": -2.0, "ab": -2.5, " ": -1.5, "e": -2.0, "t": -2.0})
        want = m.encode(lines, out="ids")  # the pool exists now
        with mp.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(m.encode, (lines,), {"out": "ids"}).get(timeout=120)
        assert got == want
    """, timeout=240)
