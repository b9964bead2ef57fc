"""tokenize_lab package of probspace: unigram tokenizers with exact sampling of segmentations.

:class:`UnigramModel` decodes (Viterbi, exact n-best) and samples segmentations with
probability proportional to ``exp(alpha * score)`` exactly ("perfect" one-pass sampling,
forward-filtering backward-sampling, Gumbel-max), computes exact partition functions,
probabilities, enumerations and marginals, trains by EM, and imports SentencePiece and
BytePiece models, and exports SentencePiece and Hugging Face models.  :func:`dask_encode` spreads a corpus over a Dask client;
:func:`encode_gpu` samples a batch on a CUDA GPU with CuPy.
"""
from ._model import UnigramModel
from ._train import train_unigram
from ._dask import dask_encode
from ._normalizer import SentencePieceNormalizer
# importers/exporters: they depend on the model and register its interop methods
from . import _sentencepiece, _huggingface, _bytepiece  # noqa: F401
from probspace import __version__  # noqa: F401  (one version for the distribution)


def encode_gpu(model, texts, /, **kwargs):
    """Batch encode on a CUDA GPU (CuPy); see ``tokenize_lab._lattice_cupy.encode_gpu``."""
    from ._lattice_cupy import encode_gpu as _impl
    return _impl(model, texts, **kwargs)


__all__ = ["UnigramModel", "train_unigram", "dask_encode", "encode_gpu", "SentencePieceNormalizer"]
