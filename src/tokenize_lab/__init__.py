"""tokenize_lab package of probspace: unigram tokenizers with exact sampling of segmentations."""
from ._model import UnigramModel

__all__ = ["UnigramModel"]
