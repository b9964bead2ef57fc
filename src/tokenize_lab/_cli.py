"""Command line: ``python -m tokenize_lab {encode,decode,train} ...``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main", "load_any"]


def load_any(path):
    """Load a model by content: SentencePiece ``.model``, our JSON, or BytePiece JSON."""
    from ._model import UnigramModel
    p = Path(path)
    data = p.read_bytes()
    if data[:1] == b"{":
        obj = json.loads(data.decode("utf-8"))
        if obj.get("format") == "tokenize_lab.unigram":
            return UnigramModel.from_dict(obj)
        return UnigramModel.from_bytepiece(obj)
    return UnigramModel.from_sentencepiece(data)


def _fmt_pieces(pieces):
    return json.dumps([p if isinstance(p, str) else p.decode("latin-1") for p in pieces],
                      ensure_ascii=False)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tokenize_lab",
                                 description="Unigram tokenizer with exact sampling.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    enc = sub.add_parser("encode", help="encode stdin, one line per text")
    enc.add_argument("--model", required=True,
                     help="model file: SentencePiece .model, tokenize_lab JSON or BytePiece JSON")
    enc.add_argument("--alpha", type=float, default=None,
                     help="sample with probability ∝ exp(alpha*score) (default: Viterbi)")
    enc.add_argument("--method", default="perfect",
                     choices=["perfect", "ffbs", "gumbel", "viterbi_sampling"])
    enc.add_argument("--seed", type=int, default=None)
    enc.add_argument("--out", default="pieces", choices=["pieces", "ids"])
    enc.add_argument("--batch", type=int, default=10_000, help="lines per compiled call")
    dec = sub.add_parser("decode", help="decode stdin: space-separated ids per line")
    dec.add_argument("--model", required=True)
    tr = sub.add_parser("train", help="train on stdin lines and save our JSON format")
    tr.add_argument("--vocab-size", type=int, required=True)
    tr.add_argument("--output", required=True)
    tr.add_argument("--unit", default="char", choices=["char", "byte"])
    tr.add_argument("--max-piece-length", type=int, default=16)
    args = ap.parse_args(argv)
    out = sys.stdout
    if args.cmd == "train":
        from ._model import UnigramModel
        lines = [ln.rstrip("\n") for ln in sys.stdin]
        m = UnigramModel.train(lines, args.vocab_size, unit=args.unit,
                               max_piece_length=args.max_piece_length, verbose=True)
        m.save(args.output)
        return 0
    model = load_any(args.model)
    if args.cmd == "decode":
        for line in sys.stdin:
            out.write(model.decode([int(t) for t in line.split()]) + "\n")
        return 0
    from probspace.random import Stream
    stream = Stream(args.seed)
    lines = [ln.rstrip("\n") for ln in sys.stdin]
    for a in range(0, len(lines), args.batch):
        chunk = lines[a:a + args.batch]
        res = model._encode_chunk(chunk, a, alpha=args.alpha, method=args.method, seed=stream,
                                  out=args.out)
        for r in res:
            out.write((" ".join(map(str, r)) if args.out == "ids" else _fmt_pieces(r)) + "\n")
    return 0
