"""Export of models built here: SentencePiece ModelProto and Hugging Face tokenizer.json,
checked against sentencepiece and tokenizers themselves; linear time in unknown runs."""
import io
import json
import random

import pytest

from tokenize_lab import UnigramModel

spm = pytest.importorskip("sentencepiece")
tokenizers = pytest.importorskip("tokenizers")

MULTI = ["Grüße aus Köln", "Ελληνικά κείμενα", "日本語のテキスト", "emoji 😀 ＦＵＬＬ ①",
         "unknown \u2603\u2603 runs \U00013000", ""]


def corpus():
    from pydoc_data.topics import topics
    lines = [ln for v in topics.values() for ln in v.splitlines() if ln.strip()]
    random.Random(3).shuffle(lines)
    return lines[:2000], lines[2000:2300] + MULTI


@pytest.fixture(scope="module")
def trained():
    train, held = corpus()
    return UnigramModel.train(train, 600), held


def test_trained_model_to_sentencepiece(trained, tmp_path):
    m, held = trained
    data = m.to_sentencepiece(tmp_path / "m.model")
    assert (tmp_path / "m.model").read_bytes() == data
    sp = spm.SentencePieceProcessor(model_proto=data)
    assert sp.get_piece_size() == m.vocab_size + 1  # + the <unk> SentencePiece requires
    assert sp.encode(held) == m.encode(held, out="ids")
    assert sp.encode(held, out_type=str) == m.encode(held)
    for t in held:
        assert sp.decode(m.encode(t, out="ids")) == t == m.decode(m.encode(t, out="ids"))
    # and back: the imported export encodes the same
    m2 = UnigramModel.from_sentencepiece(data)
    assert m2.encode(held, out="ids") == m.encode(held, out="ids")


def test_to_huggingface_matches_tokenizers(trained, tmp_path):
    m, held = trained
    text = m.to_huggingface(tmp_path / "tokenizer.json")
    tok = tokenizers.Tokenizer.from_str(text)
    m2 = UnigramModel.from_huggingface(tmp_path / "tokenizer.json")  # float64, as tokenizers
    for t in held:
        ids = tok.encode(t).ids
        assert ids == m2.encode(t, out="ids"), t
        # the trained model sums in float32 (SentencePiece's rule): it may take another of
        # two segmentations whose float64 scores tie to rounding, never a worse one
        ours = m.encode(t, out="ids")
        if ours != ids:
            assert m.score(m.encode(t)) == pytest.approx(m.score(m.id_to_piece(ids)), abs=1e-5)


def test_from_huggingface_matches_tokenizers():
    train, held = corpus()
    from tokenizers import Tokenizer, models, trainers
    for byte_fallback in (False, True):
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=500, unk_token="<unk>",
                                          special_tokens=["<unk>", "<s>"])
        tok.train_from_iterator(train, trainer=trainer)
        d = json.loads(tok.to_str())
        if byte_fallback:
            # add the 256 byte pieces and switch byte fallback on
            d["model"]["vocab"] += [[f"<0x{b:02X}>", 0.0] for b in range(256)]
            d["model"]["byte_fallback"] = True
            tok = Tokenizer.from_str(json.dumps(d))
        m = UnigramModel.from_huggingface(d)
        assert m.vocab_size == tok.get_vocab_size()
        for t in held:
            assert m.encode(t, out="ids") == tok.encode(t).ids, t
            assert m.encode(t) == tok.encode(t).tokens, t


def test_bad_huggingface_json():
    with pytest.raises(ValueError, match="Unigram"):
        UnigramModel.from_huggingface({"model": {"type": "BPE"}})
    with pytest.raises(ValueError, match="vocab"):
        UnigramModel.from_huggingface({"type": "Unigram", "vocab": [["a", "x"]], "unk_id": 0})


def test_unknown_runs_linear():
    """A long run of unknown characters: every unknown symbol handled once (the result is
    checked; the time goes to benchmarks/results)."""
    sp_buf = io.BytesIO()
    train, _ = corpus()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=sp_buf,
                                   model_type="unigram", vocab_size=500, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=sp_buf.getvalue())
    m = UnigramModel.from_sentencepiece(sp_buf.getvalue())
    text = "ab " + "\u2603" * 20000 + " cd"
    assert m.encode(text) == sp.encode(text, out_type=str)
    assert m.encode(text, out="ids") == sp.encode(text)
    mb = UnigramModel({"a": -1.0, "b": -2.0})
    ids = mb.encode("a" + "\u2603" * 20000, out="ids")
    assert len(ids) == 1 + 3 * 20000 and max(ids) < mb.vocab_size
