import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen.tokenizers import ByteTokenizer, CharTokenizer, TokenizerError, WordTokenizer, fit_tokenizer, tokenizer_from_dict


def _round_trip(tokenizer):
    return tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))


def test_char_round_trip_non_ascii(tiny_text):
    tokenizer = CharTokenizer.fit(tiny_text)
    ids = tokenizer.encode(tiny_text)
    assert tokenizer.decode(ids) == tiny_text
    assert 0 not in ids  # id 0 is reserved for unknown symbols
    again = _round_trip(tokenizer)
    assert np.array_equal(again.encode(tiny_text), ids)
    assert again.vocab_size == tokenizer.vocab_size == len(set(tiny_text)) + 1


def test_char_lowercase_applies_to_prompts():
    tokenizer = CharTokenizer.fit("Hello World", lowercase=True)
    assert "H" not in tokenizer.characters
    assert tokenizer.decode(tokenizer.encode("HELLO")) == "hello"
    assert _round_trip(tokenizer).lowercase


def test_unknown_characters_error_lists_them():
    tokenizer = CharTokenizer.fit("abc")
    with pytest.raises(TokenizerError, match=r"'x'.*'z'.*--unknown skip"):
        tokenizer.encode("abxcz")


def test_unknown_policies():
    tokenizer = CharTokenizer.fit("abc")
    assert tokenizer.decode(tokenizer.encode("axb", unknown="skip")) == "ab"
    ids = tokenizer.encode("axb", unknown="replace")
    assert ids.tolist()[1] == 0 and len(ids) == 3
    assert tokenizer.unknown_symbols("axxb") == {"x": 2}
    with pytest.raises(TokenizerError, match="policy"):
        tokenizer.encode("a", unknown="ignore")


def test_byte_tokenizer_never_unknown_and_streams_multibyte():
    tokenizer = ByteTokenizer()
    text = "naïve 東京 ✓"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    decoder = tokenizer.stream_decoder()
    pieces = [decoder.feed(i) for i in ids]
    assert "".join(pieces) == text
    assert "" in pieces  # the first bytes of a multi-byte character are held back
    assert _round_trip(tokenizer).vocab_size == 256


def test_word_tokenizer_keeps_punctuation_and_min_frequency():
    text = "Hello, world! Hello again.\nIt's fine, world."
    tokenizer = WordTokenizer.fit(text, min_frequency=2)
    assert set(tokenizer.words) >= {"Hello", "world", ","}
    assert "again" not in tokenizer.words
    ids = tokenizer.encode("Hello, again.", unknown="replace")
    assert tokenizer.decode(ids) == "Hello, <unk>."
    full = WordTokenizer.fit(text)
    assert full.decode(full.encode(text)) == text
    assert _round_trip(full).words == full.words
    context, word = full.encode("Hello,").tolist(), full.encode("world")[0]
    assert full.stream_decoder(context).feed(word) == " world"
    assert full.stream_decoder(context, "Hello, ").feed(word) == "world"  # the prompt's own space is not doubled
    assert full.stream_decoder(context, "Hello,\n").feed(word) == "world"


def test_fit_tokenizer_table_and_bad_json():
    assert fit_tokenizer("byte", "abc").kind == "byte"
    with pytest.raises(TokenizerError, match="unknown tokenizer kind"):
        tokenizer_from_dict({"kind": "sentencepiece"})
    with pytest.raises(TokenizerError, match="cannot be read|malformed"):
        tokenizer_from_dict({"kind": "bpe"})
    with pytest.raises(TokenizerError, match="malformed"):
        tokenizer_from_dict({"kind": "word"})


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=50))
def test_char_round_trip_any_text(text):
    tokenizer = CharTokenizer.fit(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert ByteTokenizer().decode(ByteTokenizer().encode(text)) == text


def test_the_registry_lists_the_kinds_the_flags_offer():
    from lstmgen.config import TOKENIZER_KINDS
    from lstmgen.tokenizers import KINDS, SUBWORD_KINDS, supports_healing

    assert tuple(KINDS) == TOKENIZER_KINDS
    assert SUBWORD_KINDS == ("bpe", "unigram")
    assert [kind for kind in KINDS if supports_healing(kind)] == ["bpe", "unigram"]


def test_every_kind_fits_from_pieces_and_round_trips():
    from lstmgen.tokenizers import KINDS, fit_vocabulary

    pieces = ["the cat sat ", "on the mat. ", "the end\n"]
    for kind in (kind for kind in KINDS if kind not in ("abc", "midi")):  # notations, tested in tests/tokenizers/test_music.py
        fitted = fit_vocabulary(kind, iter(pieces), min_frequency=1, vocab_size=300)
        again = tokenizer_from_dict(fitted.to_dict())
        text = "the cat sat on the mat."
        assert fitted.encode(text).tolist() == again.encode(text).tolist(), kind
        assert again.decode(again.encode(text)) == text, kind
