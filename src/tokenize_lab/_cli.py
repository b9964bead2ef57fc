"""Command line: ``tokenize-lab {encode,decode,train} ...`` (also ``python -m tokenize_lab``).

Errors (missing file, bad option, bad model) print one line ``tokenize-lab: error: ...`` on
stderr and exit with status 2; no tracebacks.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main", "load_any"]

PROG = "tokenize-lab"


class _Fail(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise _Fail(f"{message} (see {self.prog} --help)")


def load_any(path):
    """Load a model by content: SentencePiece ``.model``, our JSON, Hugging Face
    ``tokenizer.json`` (Unigram) or BytePiece JSON."""
    from ._model import UnigramModel
    p = Path(path)
    data = p.read_bytes()
    if data[:1] == b"{":
        obj = json.loads(data.decode("utf-8"))
        if obj.get("format") == "tokenize_lab.unigram":
            return UnigramModel.from_dict(obj)
        if isinstance(obj.get("model"), dict) or obj.get("type") == "Unigram":
            return UnigramModel.from_huggingface(obj)
        return UnigramModel.from_bytepiece(obj)
    return UnigramModel.from_sentencepiece(data)


def _fmt_pieces(pieces):
    return json.dumps([p if isinstance(p, str) else p.decode("latin-1") for p in pieces],
                      ensure_ascii=False)


def _read_lines(inputs):
    """Lines (without their newline) of the input files, ``-`` or none meaning stdin."""
    out = []
    for name in inputs or ["-"]:
        if name == "-":
            out.extend(ln.rstrip("\n") for ln in sys.stdin)
        else:
            with open(name, encoding="utf-8") as f:
                out.extend(ln.rstrip("\n") for ln in f)
    return out


def _parser():
    ap = _Parser(prog=PROG, description="Unigram tokenizer with exact sampling of "
                 "segmentations: encode, decode, train.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    model_help = ("model file: SentencePiece .model, tokenize_lab JSON, Hugging Face "
                  "tokenizer.json (Unigram) or BytePiece JSON")
    enc = sub.add_parser("encode", help="encode text, one line per text")
    enc.add_argument("inputs", nargs="*", metavar="FILE",
                     help="text files (default, or '-': stdin)")
    enc.add_argument("--model", required=True, help=model_help)
    enc.add_argument("--alpha", type=float, default=None,
                     help="sample with probability proportional to exp(alpha*score) "
                          "(default: Viterbi, the best segmentation)")
    enc.add_argument("--method", default="perfect",
                     choices=["perfect", "ffbs", "gumbel", "viterbi_sampling"],
                     help="sampler when --alpha is given (default: perfect)")
    enc.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    enc.add_argument("--out", default="pieces", choices=["pieces", "ids"],
                     help="print pieces (a JSON list per line) or ids (space-separated)")
    enc.add_argument("--add-bos", action="store_true", help="put <s> first")
    enc.add_argument("--add-eos", action="store_true", help="put </s> last")
    enc.add_argument("--batch", type=int, default=10_000, help="lines per compiled call")
    dec = sub.add_parser("decode", help="decode space-separated ids, one text per line")
    dec.add_argument("inputs", nargs="*", metavar="FILE",
                     help="files of ids (default, or '-': stdin)")
    dec.add_argument("--model", required=True, help=model_help)
    tr = sub.add_parser("train", help="train a model on text files or stdin, one sentence "
                        "per line (SentencePiece's unigram recipe)")
    tr.add_argument("inputs", nargs="*", metavar="FILE",
                    help="training text files (default, or '-': stdin)")
    tr.add_argument("--vocab-size", type=int, required=True,
                    help="number of pieces to learn (the 256 byte-fallback pieces come on top)")
    tr.add_argument("--output", required=True, help="where to write the model")
    tr.add_argument("--format", default="json", choices=["json", "sentencepiece", "huggingface"],
                    help="model file format: tokenize_lab JSON (default), a SentencePiece "
                         ".model, or a Hugging Face tokenizer.json (char unit only)")
    tr.add_argument("--unit", default="char", choices=["char", "byte"],
                    help="lattice symbols: Unicode characters (default) or UTF-8 bytes")
    tr.add_argument("--max-piece-length", type=int, default=16,
                    help="longest piece in symbols (default 16)")
    tr.add_argument("--character-coverage", type=float, default=0.9995,
                    help="fraction of the text the kept symbols cover (default 0.9995)")
    tr.add_argument("--seed-size", type=int, default=1_000_000,
                    help="seed substrings besides the symbols (default 1,000,000)")
    tr.add_argument("--shrinking-factor", type=float, default=0.75,
                    help="fraction of pieces kept per pruning round (default 0.75)")
    tr.add_argument("--num-sub-iterations", type=int, default=2,
                    help="EM iterations per pruning round (default 2)")
    tr.add_argument("--split-digits", action="store_true",
                    help="every digit is a piece of its own")
    tr.add_argument("--no-split-by-whitespace", action="store_true",
                    help="let pieces cross whitespace")
    tr.add_argument("--no-split-by-unicode-script", action="store_true",
                    help="let pieces mix Unicode scripts")
    tr.add_argument("--no-split-by-number", action="store_true",
                    help="let digits join other characters")
    tr.add_argument("--num-threads", type=int, default=None,
                    help="threads for training (default: Numba's setting)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    return ap


def _train(args):
    from ._model import UnigramModel
    lines = _read_lines(args.inputs)
    m = UnigramModel.train(
        lines, args.vocab_size, unit=args.unit, max_piece_length=args.max_piece_length,
        character_coverage=args.character_coverage, seed_size=args.seed_size,
        shrinking_factor=args.shrinking_factor, num_sub_iterations=args.num_sub_iterations,
        split_digits=args.split_digits, split_by_whitespace=not args.no_split_by_whitespace,
        split_by_unicode_script=not args.no_split_by_unicode_script,
        split_by_number=not args.no_split_by_number, num_threads=args.num_threads,
        progress=not args.quiet)
    if args.format == "sentencepiece":
        m.to_sentencepiece(args.output)
    elif args.format == "huggingface":
        m.to_huggingface(args.output)
    else:
        m.save(args.output)


def _run(argv):
    args = _parser().parse_args(argv)
    out = sys.stdout
    if args.cmd == "train":
        _train(args)
        return 0
    try:
        model = load_any(args.model)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise _Fail(f"--model {args.model}: not a model this tool reads ({exc})") from None
    if args.cmd == "decode":
        for line in _read_lines(args.inputs):
            try:
                ids = [int(t) for t in line.split()]
            except ValueError:
                raise _Fail(f"decode: expected space-separated integer ids, got {line!r}") from None
            out.write(model.decode(ids) + "\n")
        return 0
    if args.batch < 1:
        raise _Fail(f"--batch must be >= 1, got {args.batch}")
    from probspace.random import Stream
    stream = Stream(args.seed)
    lines = _read_lines(args.inputs)
    for a in range(0, len(lines), args.batch):
        chunk = lines[a:a + args.batch]
        res = model._encode_chunk(chunk, a, alpha=args.alpha, method=args.method, seed=stream,
                                  out=args.out, add_bos=args.add_bos, add_eos=args.add_eos)
        for r in res:
            out.write((" ".join(map(str, r)) if args.out == "ids" else _fmt_pieces(r)) + "\n")
    return 0


def main(argv=None):
    """Run the command line; returns the exit status (0, or 2 on a user error)."""
    try:
        return _run(argv)
    except _Fail as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError, KeyError) as exc:
        # missing/unreadable files, bad option values caught by the library's checks
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None:
            msg = f"{exc.strerror}: {exc.filename}"
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
