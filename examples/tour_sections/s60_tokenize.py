"""Tour: unigram tokenization with exact sampling (tokenize_lab)."""
from __future__ import annotations

import time
from collections import Counter

import numpy as np

TITLE = "tokenize_lab: train a unigram tokenizer, decode, sample exactly, see the law"


def run(outdir):
    import matplotlib.pyplot as plt
    from pydoc_data.topics import topics

    from probspace.testing import chisquare_gof
    from tokenize_lab import UnigramModel

    lines = [ln for v in list(topics.values())[:60] for ln in v.splitlines() if ln.strip()]
    t0 = time.perf_counter()
    model = UnigramModel.train(lines, 600, seed_size=8000)
    print(f"trained {model} on {len(lines)} lines of pydoc_data.topics in "
          f"{time.perf_counter() - t0:.1f} s (EM + digamma prior + loss pruning)")
    print("highest-scoring multi-character pieces:",
          [p for p in model.pieces if len(p) > 1][:12])

    text = "The return statement leaves the current function call."
    best = model.encode(text)
    print(f"\nViterbi: {best}  (score {model.score(best):.3f})")
    assert model.decode(best) == text and model.decode(model.encode(text, out="ids")) == text
    print("Sampling: a segmentation w is drawn with probability proportional to exp(alpha * score(w)); "
          "alpha = 0 is uniform,\nlarge alpha approaches Viterbi.")
    for alpha in (0.1, 1.0):
        draws = model.encode([text] * 3, alpha=alpha, seed=7)
        print(f"perfect samples at alpha={alpha}:")
        for d in draws:
            print("   ", d)
    print("n-best:", [(p, round(s, 2)) for p, s in model.nbest(text, 3)])

    word = "statement"
    alpha = 0.2
    law = model.enumerate(word, alpha=alpha)
    print(f"\n{word!r} has {len(law)} segmentations; log Z(alpha={alpha}) = "
          f"{model.log_partition(word, alpha=alpha):.4f}  (log of the sum over segmentations w of "
          "exp(alpha * score(w)))")
    print(f"Each sampler draws {100_000} segmentations; chi-square test of the counts against the exact "
          "law (p = chance of a deviation\nat least this large from an exact sampler; p near 0 means "
          "biased):")
    n = 100_000
    freq = {}
    for method in ("perfect", "ffbs", "gumbel", "viterbi_sampling"):
        c = Counter(tuple(s) for s in model.encode([word] * n, alpha=alpha, method=method, seed=1))
        freq[method] = np.array([c.get(tuple(p), 0) for p, _ in law]) / n
        res = chisquare_gof(np.round(freq[method] * n), [q for _, q in law])
        print(f"  {method:17s} chi-square vs exact law: stat {res.statistic:9.1f}, "
              f"df {res.df}, p = {res.pvalue:.3g}")
    print("  (the first three are exact samplers; viterbi_sampling is BytePiece's original, biased)")
    top = min(10, len(law))
    print(f"\n  {'segmentation':40s} {'exact':>8s} {'perfect':>8s} {'original':>8s}")
    for (p, q), fp, fo in zip(law[:top], freq["perfect"], freq["viterbi_sampling"]):
        print(f"  {'|'.join(p):40s} {q:8.4f} {fp:8.4f} {fo:8.4f}")
    marg = model.marginals(word, alpha=alpha)
    print("expected number of occurrences of each piece in a sampled segmentation (forward-backward):",
          {k: round(v, 3) for k, v in sorted(marg.items(), key=lambda kv: -kv[1])[:6]})

    fig, ax = plt.subplots(figsize=(9, 5))
    x = np.arange(top)
    ax.bar(x - 0.27, [q for _, q in law[:top]], 0.27, label="exact probability")
    ax.bar(x, freq["perfect"][:top], 0.27, label="perfect sampler")
    ax.bar(x + 0.27, freq["viterbi_sampling"][:top], 0.27, label="original Viterbi sampling")
    ax.set_xticks(x, ["|".join(p) for p, _ in law[:top]], rotation=60, ha="right", fontsize=8)
    ax.set_xlabel(f"segmentation of {word!r} (pieces separated by |), the {top} most probable")
    ax.set_ylabel("probability / frequency")
    ax.set_title(f"segmentations of {word!r} at alpha={alpha} ({n} draws each)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "s60_tokenize_law.png", dpi=120)
    plt.close(fig)
    print(f"plot: {outdir / 's60_tokenize_law.png'}")


if __name__ == "__main__":
    import pathlib

    import matplotlib
    matplotlib.use("Agg")
    out = pathlib.Path(__file__).resolve().parents[1] / "output"
    out.mkdir(exist_ok=True)
    run(out)
