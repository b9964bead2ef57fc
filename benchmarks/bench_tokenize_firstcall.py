"""First call: a new process's first Viterbi ``encode``, with an empty and a warm Numba cache.

Each measurement is a fresh Python process (``NUMBA_CACHE_DIR`` set to a new empty folder
for the cold runs, then reused by the warm runs) that imports tokenize_lab, builds a model
and encodes one short text.  Two models: a SentencePiece unigram model (nmt_nfkc
normalization, trained here on ``pydoc_data.topics``, vocab 4000) through
``UnigramModel.from_sentencepiece``, and a model trained by tokenize_lab (no normalizer)
through ``UnigramModel.load``.  Reported: the import, and the model construction plus first
encode (goal: at most 6 s cold, at most 1 s warm), medians over ``--repeat`` processes.

    python benchmarks/bench_tokenize_firstcall.py [--repeat 3] [--src PATH]

``--src`` measures another source tree, e.g. the code before the first-call work::

    git worktree add /tmp/before c8ec818
    python benchmarks/bench_tokenize_firstcall.py --src /tmp/before/src \
        --section tokenize_firstcall_before --label "before: commit c8ec818"
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import table, write_section  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from tokenize_lab import UnigramModel
t1 = time.perf_counter()
c1 = time.process_time()
kind, path = sys.argv[1], sys.argv[2]
if kind == "sentencepiece":
    m = UnigramModel.from_sentencepiece(path)
else:
    m = UnigramModel.load(path)
t2 = time.perf_counter()
m.encode("The quick brown fox jumps over the lazy dog.", out="ids")
t3 = time.perf_counter()
c3 = time.process_time()
m.encode(["A list of texts, as a batch."] * 200, out="ids")
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "model": t2 - t1, "encode": t3 - t2, "batch": t4 - t3,
                  "cpu": c3 - c1}))
"""


def make_models(folder):
    import sentencepiece as spm
    from pydoc_data.topics import topics

    from tokenize_lab import UnigramModel
    lines = [ln for v in topics.values() for ln in v.splitlines() if ln.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf,
                                   model_type="unigram", vocab_size=4000, minloglevel=2)
    sp_path = Path(folder, "sp.model")
    sp_path.write_bytes(buf.getvalue())
    ours_path = Path(folder, "ours.json")
    UnigramModel.train(lines, 4000).save(ours_path)
    return {"sentencepiece": sp_path, "tokenize_lab": ours_path}


def run_child(src, kind, path, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(src))
    r = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr.strip()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", default=str(HERE.parent / "src"))
    ap.add_argument("--section", default="tokenize_firstcall", help="results file name")
    ap.add_argument("--label", default="", help="added to the section title")
    args = ap.parse_args(argv)
    rows = []
    notices = set()
    with tempfile.TemporaryDirectory() as tmp:
        models = make_models(tmp)
        for kind, path in models.items():
            cold, warm = [], []
            for r in range(args.repeat):
                cache = Path(tmp, f"cache-{kind}-{r}")
                res, err = run_child(args.src, kind, path, cache)
                cold.append(res)
                notices.update(ln for ln in err.splitlines() if "compiling" in ln)
                warm.append(run_child(args.src, kind, path, cache)[0])

            def med(rs, *keys):
                return statistics.median(sum(r[k] for k in keys) for r in rs)

            for label, rs, goal in (("empty cache", cold, 6.0), ("warm cache", warm, 1.0)):
                first = med(rs, "model", "encode")
                rows.append([f"{kind} model, {label}", f"{med(rs, 'import'):.2f} s",
                             f"{first:.2f} s", f"{med(rs, 'cpu'):.2f} s", f"{goal:.0f} s",
                             f"{1e3 * med(rs, 'batch'):.1f} ms"])
                print(rows[-1], flush=True)
    body = f"""Fresh process per measurement; cold = a new empty `NUMBA_CACHE_DIR`, warm = the same
folder again.  Medians of {args.repeat} processes.  "first encode" is the model construction
(it builds the trie, a compiled kernel) plus the first `encode` of one short text; the last
column is the next call, a batch of 200 texts.  The CPU time of the first encode (process
time: compiling is single-threaded) is the steadier figure on a busy machine.

{table(["case", "import tokenize_lab", "model + first Viterbi encode",
        "(its CPU time)", "goal", "then a 200-text batch"], rows)}

Notice printed on stderr while compiling: {"; ".join(sorted(notices)) or "none"}.
"""
    title = "tokenize_lab: first call in a new process" + (f" ({args.label})" if args.label else "")
    write_section(args.section, title, body)


if __name__ == "__main__":
    main()
