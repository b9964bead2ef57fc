"""
Sampled segmentation frequencies vs exact probabilities: original vs perfect sampler
====================================================================================

The original "Viterbi sampling" (BytePiece 0.4; J. Su, "A brief exploration of stochastic
tokenization: from Viterbi decoding to Viterbi sampling", kexue.fm, 2023,
https://kexue.fm/archives/9768) replaces Viterbi's max by pairwise sigmoid duels; a k-way choice
then becomes a chain of 2-way duels and the last arrival wins too often (J. Su, "Revisiting random
tokenization: from Viterbi sampling to perfect sampling algorithms", kexue.fm, 2023,
https://kexue.fm/archives/9811).  The one-pass perfect sampler
(forward log-sum-exp + weighted reservoir backpointers) samples the exact law
P(w) ∝ exp(alpha * score(w)).  Two lattices: SentencePiece's "ABC" test lattice at
alpha = 0.5, and three equal-score segmentations of "xyz" where the original gives
1/4, 1/4, 1/2 instead of 1/3 each.

    python examples/plot_tokenize_sampler_bias.py   # writes examples/output/plot_tokenize_sampler_bias.png

``PROBSPACE_EXAMPLES_QUICK=1`` draws 50 000 segmentations per sampler instead of 200 000.
"""
from __future__ import annotations

import os
import pathlib
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from probspace.testing import chisquare_gof  # noqa: E402
from tokenize_lab import UnigramModel  # noqa: E402

CASES = [
    ("ABC", UnigramModel({"A": 1.0, "B": 1.2, "C": 1.5, "AB": 1.6, "BC": 1.7, "ABC": 1.8}), 0.5),
    ("xyz", UnigramModel({"x": -1.0, "z": -1.0, "xy": -1.0, "yz": -1.0, "xyz": -2.0}), 1.0),
]
N = 50_000 if os.environ.get("PROBSPACE_EXAMPLES_QUICK") == "1" else 200_000


def main():
    # sphinx-gallery runs this file from examples/ without __file__
    here = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
    out = here / "output"
    out.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (text, model, alpha) in zip(axes, CASES):
        law = [(p, q) for p, q in model.enumerate(text, alpha=alpha) if q > 1e-4]
        labels = ["|".join(p) for p, _ in law]
        exact = np.array([q for _, q in law])
        x = np.arange(len(law))
        ax.bar(x - 0.27, exact, 0.27, label="exact", color="0.3")
        for k, (method, color) in enumerate((("perfect", "tab:green"), ("viterbi_sampling", "tab:red"))):
            c = Counter(tuple(s) for s in model.encode([text] * N, alpha=alpha, method=method, seed=3))
            obs = np.array([c.get(tuple(p), 0) for p, _ in law])
            full = [c.get(tuple(p), 0) for p, _ in model.enumerate(text, alpha=alpha)]
            res = chisquare_gof(full, [q for _, q in model.enumerate(text, alpha=alpha)])
            name = "perfect sampler" if method == "perfect" else "original Viterbi sampling"
            ax.bar(x + 0.27 * k, obs / N, 0.27, color=color,
                   label=f"{name} (χ² p = {res.pvalue:.2g})")
            print(f"{text} alpha={alpha} {method:17s}: freq {np.round(obs / N, 4)} "
                  f"vs exact {np.round(exact, 4)}; chi-square {res.statistic:.1f} (p={res.pvalue:.3g})")
        ax.set_xticks(x, labels)
        ax.set_xlabel("segmentation of the text (pieces separated by |)")
        ax.set_title(f'"{text}", alpha = {alpha}, {N:,} draws each')
        ax.set_ylabel("probability / frequency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "plot_tokenize_sampler_bias.png"
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
