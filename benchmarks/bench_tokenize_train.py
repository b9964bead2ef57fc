"""Unigram training: tokenize_lab vs SentencePiece's trainer, time and held-out quality.

Corpus (offline, a few MB of English prose): the docstrings of CPython's standard library
(non-test modules, extracted with ``ast``) plus ``pydoc_data.topics``, one line per text;
every 10th line is held out.  Both trainers get the same lines, ``vocab_size`` and thread
count (SentencePiece ``num_threads``, Numba threads), SentencePiece with its defaults.
First row: SentencePiece with its defaults, ours with SentencePiece's own normalizer (taken
from the trained SentencePiece model: nmt_nfkc, dummy prefix, whitespace collapsed and shown
as U+2581), so that both see the same text.  Second row: ours with no normalizer (our
default: texts as given, lossless), SentencePiece with the matching settings (identity
normalization, no dummy prefix, spaces kept).  Every other option is the default of each
(ours follow SentencePiece's).

Quality: tokens per character of the held-out lines (pieces per code point of the raw
text, each model encoding with its own normalization).  Time: median of ``--repeat`` runs,
ours and SentencePiece's alternately, after one warm-up (Numba compile/cache load, timed
separately and reported).

    python benchmarks/bench_tokenize_train.py [--vocab 4000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import ast
import io
import os
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
os.environ.setdefault("NUMBA_NUM_THREADS", str(CORES))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from _harness import fmt_time, table, write_section  # noqa: E402


def stdlib_docstrings():
    lib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "idlelib", "lib2to3"}
    docs = []
    for root, dirs, files in os.walk(lib):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            try:
                tree = ast.parse(Path(root, f).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                    d = ast.get_docstring(node)
                    if d:
                        docs.append(d)
    return [ln for d in docs for ln in d.splitlines() if ln.strip()]


def corpus():
    from pydoc_data.topics import topics
    lines = stdlib_docstrings() + [ln for v in topics.values() for ln in v.splitlines()
                                   if ln.strip()]
    train = [ln for i, ln in enumerate(lines) if i % 10]
    held = [ln for i, ln in enumerate(lines) if i % 10 == 0]
    return train, held


def train_sp(lines, vocab, threads=CORES, **options):
    import sentencepiece as spm
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf,
                                   model_type="unigram", vocab_size=vocab, minloglevel=2,
                                   num_threads=threads, **options)
    return buf.getvalue()


# SentencePiece reading texts as given: no NFKC, no dummy prefix, spaces kept (as ours
# without a normalizer; SentencePiece still shows spaces as U+2581)
AS_GIVEN = {"normalization_rule_name": "identity", "add_dummy_prefix": False,
            "remove_extra_whitespaces": False}


def tokens_per_char(encode, held):
    return sum(len(p) for p in encode(held)) / sum(len(t) for t in held)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import statistics

    import sentencepiece as spm
    from tokenize_lab import UnigramModel

    train, held = corpus()
    mb = sum(len(t.encode()) for t in train) / 1e6
    sp_data = train_sp(train, args.vocab)
    sp = spm.SentencePieceProcessor(model_proto=sp_data)
    norm = UnigramModel.from_sentencepiece(sp_data)._normalizer

    def ours(normalizer, threads=CORES):
        return UnigramModel.train(train, args.vocab, normalizer=normalizer, num_threads=threads)

    t = time.perf_counter()
    ours(norm)  # first call: Numba compiles (or loads its cache)
    t_first = time.perf_counter() - t
    times = {k: [] for k in ("ours", "sp", "ours_raw", "sp_raw", "ours_1", "sp_1")}

    def timed(key, fn):
        t = time.perf_counter()
        r = fn()
        times[key].append(time.perf_counter() - t)
        return r

    for _ in range(args.repeat):
        m = timed("ours", lambda: ours(norm))
        timed("sp", lambda: train_sp(train, args.vocab))
        m_raw = timed("ours_raw", lambda: ours(None))
        sp_raw_data = timed("sp_raw", lambda: train_sp(train, args.vocab, **AS_GIVEN))
        timed("ours_1", lambda: ours(norm, 1))
        timed("sp_1", lambda: train_sp(train, args.vocab, 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    sp_raw = spm.SentencePieceProcessor(model_proto=sp_raw_data)
    q = {"ours": tokens_per_char(m.encode, held), "sp": tokens_per_char(sp.encode, held),
         "ours_raw": tokens_per_char(m_raw.encode, held),
         "sp_raw": tokens_per_char(sp_raw.encode, held)}
    q["ours_1"], q["sp_1"] = q["ours"], q["sp"]
    common = len(set(m.pieces) & {sp.id_to_piece(i) for i in range(sp.get_piece_size())})

    def row(case, a, b):
        return [case, fmt_time(med[a]), fmt_time(med[b]), f"{med[a] / med[b]:.2f}",
                f"{q[a]:.4f} vs {q[b]:.4f} ({100 * (q[a] / q[b] - 1):+.1f}%)"]

    rows = [row("SentencePiece defaults; ours with SentencePiece's normalizer", "ours", "sp"),
            row("texts as given: ours with no normalizer; SentencePiece identity, "
                "no dummy prefix, spaces kept", "ours_raw", "sp_raw"),
            row("as the first row, 1 thread each (steadier on a busy machine)", "ours_1",
                "sp_1")]
    for r in rows:
        print(r, flush=True)
    body = f"""Corpus: the docstrings of CPython {sys.version.split()[0]}'s standard library and
`pydoc_data.topics`, {len(train)} training lines ({mb:.2f} MB), {len(held)} held-out lines
(every 10th).
vocab_size={args.vocab}, {CORES} threads each (SentencePiece `num_threads`, Numba threads).
Median of {args.repeat} runs, ours and SentencePiece alternately; our first call in the process
(Numba compile or cache load) took {t_first:.1f} s and is not in the medians.

{table(["case", "tokenize_lab train", "SentencePiece train", "time ratio (ours/SP, goal <= 2)",
        "held-out tokens/char, ours vs SP (goal within 3%)"], rows)}

{common} of our {len(m)} pieces are also SentencePiece pieces (first row).  Texts as given
(second row) cost more tokens than SentencePiece's defaults because runs of spaces stay
(indented docstring lines) and line-initial words have no space in front.
"""
    write_section("tokenize_train", "tokenize_lab: unigram training vs SentencePiece", body)


if __name__ == "__main__":
    main()
