"""Imported SentencePiece models behave exactly as SentencePieceProcessor: ids, pieces,
unknown characters, decode, offsets, special ids, n-best, and the exported ModelProto.

Truth: SentencePiece itself, on models trained here (spm.SentencePieceTrainer) from
CPython's bundled text and multilingual strings, with each trainer option."""
import io
import random

import numpy as np
import pytest

from tokenize_lab import UnigramModel
from tokenize_lab._protobuf import as_float, parse_message

spm = pytest.importorskip("sentencepiece")

MULTI = ["Grüße aus Köln, façade naïve coöperate", "Ελληνικά κείμενα και λέξεις",
         "Русский текст для проверки", "日本語のテキストです。漢字とかな", "中文句子，测试分词",
         "한국어 문장입니다", "עברית טקסט", "العربية نص", "emoji 😀🎉 and ＦＵＬＬ-width ｶﾀｶﾅ ① ﬁ",
         "digits 12345 and 3.14159, 2024-06-01"]
EXTRA = ["", " ", "   ", "  Leading and   inner  spaces  ", "tab\there\nnewline", "é vs e\u0301",
         "\u2581literal\u2581marks \u2581", "unknown runs: \u2603\u2603\u2603 x \U0001F600\U0001F601",
         "\U00013000\U00013001\U00013002 hieroglyphs", "mixed<sep>symbols<sep><sep>xyzzy@@",
         "x" * 50 + "\ufdfa", "\x00ctrl\x07", "ＡＢＣ１２３", "<s> </s> <unk> <0x41>"]


def sp_text_proto(raw):
    """(pieces as (piece, id, begin, end), score) of a serialized SentencePieceText (the
    wheel has no protobuf runtime; the wire format is read with a 40-line reader)."""
    msg = parse_message(raw)
    out = []
    for praw in msg.get(2, []):
        p = parse_message(praw)
        out.append((p.get(1, [b""])[0].decode(), p.get(2, [0])[0], p.get(4, [0])[0],
                    p.get(5, [0])[0]))
    return out, (as_float(msg[3][0]) if 3 in msg else 0.0)


def corpus():
    from pydoc_data.topics import topics
    lines = [ln for v in topics.values() for ln in v.splitlines() if ln.strip()]
    random.Random(0).shuffle(lines)
    return lines[:2500] + MULTI * 3, lines[2500:2800]


OPTIONS = {
    "default": {},
    "byte_fallback": {"byte_fallback": True},
    "user_defined": {"user_defined_symbols": ["<sep>", "xyz", "@@", "\u2581the"]},
    "control": {"control_symbols": ["<ctl>", "<cls>"], "pad_id": 3},
    "split_digits": {"split_digits": True},
    "nfkc_cf": {"normalization_rule_name": "nmt_nfkc_cf"},
    "identity": {"normalization_rule_name": "identity"},
    "no_dummy_prefix": {"add_dummy_prefix": False},
    "keep_whitespace": {"remove_extra_whitespaces": False, "byte_fallback": True},
}


@pytest.fixture(scope="module")
def texts():
    train, held = corpus()
    return held + MULTI + EXTRA


@pytest.fixture(scope="module", params=sorted(OPTIONS))
def models(request):
    train, _ = corpus()
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=buf,
                                   model_type="unigram", vocab_size=900, minloglevel=2,
                                   character_coverage=0.995, **OPTIONS[request.param])
    data = buf.getvalue()
    return request.param, data, spm.SentencePieceProcessor(model_proto=data), \
        UnigramModel.from_sentencepiece(data)


def test_ids_and_pieces_identical(models, texts):
    _, _, sp, m = models
    assert m.vocab_size == sp.get_piece_size()
    assert m.encode(texts) == sp.encode(texts, out_type=str)
    ids = m.encode(texts, out="ids")
    assert ids == sp.encode(texts)
    assert max(max(r, default=0) for r in ids) < m.vocab_size
    for i in range(0, m.vocab_size, 7):
        assert m.id_to_piece(i) == sp.id_to_piece(i)
        assert m.is_unknown(i) == sp.is_unknown(i) and m.is_control(i) == sp.is_control(i)
        assert m.is_byte(i) == sp.is_byte(i) and m.is_unused(i) == sp.is_unused(i)
    for p in ["<unk>", "not-a-piece", "\u2581the", "<0x41>", "<s>", "zzzzqq"]:
        assert m.piece_to_id(p) == sp.piece_to_id(p)
    assert (m.unk_id, m.bos_id, m.eos_id, m.pad_id) == \
        (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id())


def test_add_bos_eos(models, texts):
    _, _, sp, m = models
    for kw in ({"add_bos": True}, {"add_eos": True}, {"add_bos": True, "add_eos": True}):
        assert m.encode(texts[:20], out="ids", **kw) == sp.encode(texts[:20], **kw)
        assert m.encode(texts[:20], **kw) == sp.encode(texts[:20], out_type=str, **kw)


def test_decode_identical(models, texts):
    _, _, sp, m = models
    for t in texts:
        ids = sp.encode(t)
        assert m.decode(ids) == sp.decode(ids)
        pieces = sp.encode(t, out_type=str)
        assert m.decode(pieces) == sp.decode(pieces)
    rng = random.Random(1)
    n = m.vocab_size
    for _ in range(300):
        ids = [rng.randrange(n) for _ in range(rng.randint(0, 12))]
        assert m.decode(ids) == sp.decode(ids), ids
        pieces = [sp.id_to_piece(i) for i in ids] + rng.choice([[], ["unknown\u2581piece"],
                                                              ["\u2581x"]])
        rng.shuffle(pieces)
        assert m.decode(pieces) == sp.decode(pieces), pieces
    # invalid and truncated byte sequences (byte pieces: one U+FFFD per bad byte)
    if m.is_byte(m.piece_to_id("<0xE6>")):
        for bs in ([0xE6, 0x97], [0xE6, 0x97, 0xA5, 0x80], [0xED, 0xA0, 0x80], [0xC0, 0x41],
                   [0xF0, 0x9F, 0x98, 0x80]):
            ids = [m.piece_to_id(f"<0x{b:02X}>") for b in bs]
            for prefix in ([], [m.piece_to_id("\u2581the")]):
                assert m.decode(prefix + ids) == sp.decode(prefix + ids)


def test_offsets_match_immutable_proto(models, texts):
    _, _, sp, m = models
    for t in texts:
        toks, spans = m.encode(t, out="ids", with_offsets=True)
        pieces, _ = sp_text_proto(sp.encode(t, out_type="serialized_proto"))
        data = t.encode("utf-8")

        def to_char(b):
            return len(data[:b].decode("utf-8"))
        assert toks == [p[1] for p in pieces]
        assert spans == [(to_char(b), to_char(e)) for _, _, b, e in pieces], t
        if m.bos_id >= 0 and m.eos_id >= 0:
            t2, s2 = m.encode(t, with_offsets=True, add_bos=True, add_eos=True)
            assert t2 == sp.encode(t, out_type=str, add_bos=True, add_eos=True)
            assert s2 == [(0, 0)] + spans + [(len(t), len(t))]


def test_nbest_consistent_with_encode_and_sentencepiece(models, texts):
    name, _, sp, m = models
    for t in texts[:60] + EXTRA:
        ours = m.nbest(t, 6)
        assert ours[0][0] == m.encode(t)
        assert m.nbest(t, 6, out="ids")[0][0] == m.encode(t, out="ids")
        theirs = parse_message(sp.nbest_encode(t, nbest_size=6, out_type="serialized_proto")).get(1, [])
        th = [([p[0] for p in ps], sc) for ps, sc in map(sp_text_proto, theirs)]
        assert len(ours) == len(th)
        if name == "user_defined":
            continue  # (SentencePiece's n-best scores user-defined pieces differently)
        # the same scores, position by position, up to float32 rounding; the same
        # segmentation wherever SentencePiece's score is apart from every other one
        # (near-ties within rounding, and encode's path first, may order differently:
        # SentencePiece's own n-best can even put another path before its encode's)
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in th], rtol=0,
                                   atol=1e-4)
        wider = [s for _, s in m.nbest(t, 12)]
        for (p1, s1), (p2, s2) in zip(ours, th):
            if sum(abs(s - s2) < 1e-4 for s in wider) == 1:
                assert p1 == p2, t


def test_exported_model_encodes_identically(models, texts):
    _, data, sp, m = models
    out = m.to_sentencepiece()
    sp2 = spm.SentencePieceProcessor(model_proto=out)
    assert sp2.encode(texts) == sp.encode(texts)
    assert sp2.encode(texts, out_type=str) == sp.encode(texts, out_type=str)
    m2 = UnigramModel.from_sentencepiece(out)
    assert m2.encode(texts, out="ids") == sp.encode(texts)
