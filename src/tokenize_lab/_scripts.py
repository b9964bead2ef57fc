"""Unicode script classes of code points, for SentencePiece's ``split_by_unicode_script`` rule.

SentencePiece keeps a piece within one Unicode script (Hiragana and Katakana count as Han;
combining marks take the script of the character before them).  Python's ``unicodedata``
has no Script property, so the class is derived from the character's category and name:

* letters, numbers and spacing marks: the first word of the name (``LATIN``, ``GREEK``,
  ``CYRILLIC``, ``ARABIC``, ``HANGUL``, ...; ``FULLWIDTH``/``HALFWIDTH`` skipped, ``CJK``,
  ``IDEOGRAPHIC``, ``HIRAGANA`` and ``KATAKANA`` are Han); names that start with a word that
  is not a script (``DIGIT``, ``MATHEMATICAL``, ``SUPERSCRIPT``, ...) are Common;
* non-spacing and enclosing marks (``COMBINING ...``, variation selectors): Inherited;
* everything else (punctuation, symbols, separators, controls, unassigned): Common.

This agrees with the Unicode Script property for the letters of every major script and for
ASCII; it may differ on rare symbols, which only changes which seed pieces are allowed.
"""
from __future__ import annotations

import unicodedata

import numpy as np

__all__ = ["COMMON", "INHERITED", "script_classes"]

COMMON = 0
INHERITED = 1
_HAN_WORDS = {"CJK", "IDEOGRAPHIC", "HIRAGANA", "KATAKANA"}
_SKIP = {"FULLWIDTH", "HALFWIDTH"}
_NOT_SCRIPTS = {
    "DIGIT", "MATHEMATICAL", "SUPERSCRIPT", "SUBSCRIPT", "VULGAR", "MODIFIER", "DOUBLE-STRUCK",
    "SCRIPT", "BLACK-LETTER", "PLANCK", "ANGSTROM", "KELVIN", "OHM", "MICRO", "CIRCLED",
    "PARENTHESIZED", "NUMBER", "FEMININE", "MASCULINE", "ESTIMATED", "INFORMATION", "TURNED",
    "NEGATIVE", "SQUARED", "DINGBAT", "FRACTION", "ROMAN", "SMALL", "CAPITAL", "LETTERLIKE",
    "MUSICAL", "TAG", "VARIATION", "COMBINING",
}


def _script_word(cp: int) -> str:
    ch = chr(cp)
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me"):
        return "INHERITED"
    if cat[0] not in "LNM":
        return "COMMON"
    name = unicodedata.name(ch, "")
    words = name.split()
    while words and words[0] in _SKIP:
        words = words[1:]
    if not words:
        return "COMMON"
    w = words[0].split("-")[0] if words[0] not in _NOT_SCRIPTS else words[0]
    if w in _HAN_WORDS or words[0] in _HAN_WORDS:
        return "HAN"
    if w in _NOT_SCRIPTS or words[0] in _NOT_SCRIPTS:
        return "COMMON"
    return w


def script_classes(codepoints) -> np.ndarray:
    """Script class (an int: 0 Common, 1 Inherited, >= 2 a script) of each code point."""
    ids = {"COMMON": COMMON, "INHERITED": INHERITED}
    out = np.empty(len(codepoints), dtype=np.int32)
    for i, cp in enumerate(codepoints):
        out[i] = ids.setdefault(_script_word(int(cp)), len(ids))
    return out
