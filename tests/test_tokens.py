"""Display forms of tokens, special-token masks and word grouping."""
from __future__ import annotations

import numpy as np

from attnviz.extraction.tokens import display_token, display_tokens, group_words, is_byte_level, special_mask
from attnviz.testing import tiny_tokenizer


def test_wordpiece_sentencepiece_and_byte_level_forms():
    assert display_tokens(["[CLS]", "play", "##ing", "[SEP]"]) == ["[CLS]", "play", "ing", "[SEP]"]
    assert display_tokens(["▁The", "▁", "cat"]) == ["The", "␣", "cat"]
    assert display_tokens(["ĠThe", "Ċ", "Ġ"], byte_level=True) == ["The", "\\n", "␣"]
    assert display_token("##") == "##"


def test_byte_level_tokens_decode_non_ascii():
    tok = tiny_tokenizer("gpt2")
    ids = tok("café")["input_ids"]
    shown = "".join(display_tokens(tok.convert_ids_to_tokens(ids), byte_level=True))
    assert shown == "café" or (shown.startswith("caf") and "\\x" in shown)  # split letters show bytes
    assert display_token(bytes([0xC3]).decode("latin-1"), byte_level=True) == "\\xc3"
    assert is_byte_level(tok) and not is_byte_level(tiny_tokenizer("bert"))


def test_special_mask_uses_the_tokenizer_special_ids():
    tok = tiny_tokenizer("t5")
    ids = tok("the cat")["input_ids"]
    assert special_mask(ids, tok) == [False] * (len(ids) - 1) + [True]


def test_group_words_sums_keys_and_averages_queries():
    rng = np.random.default_rng(0)
    m = rng.random((5, 5))
    m /= m.sum(-1, keepdims=True)
    merged, ids = group_words([None, 0, 0, 1, None], m)
    assert ids == [None, 0, 1, None]
    np.testing.assert_allclose(merged.sum(-1), 1.0)
    np.testing.assert_allclose(merged[1, 1], (m[1, 1] + m[1, 2] + m[2, 1] + m[2, 2]) / 2)


def test_token_table_rows_match_the_tokenizer():
    from attnviz.extraction.tokens import token_table

    tok = tiny_tokenizer("bert")
    table = token_table(tok, ["the cat", "hello world"])
    first = [r for r in table.rows if r["example"] == 0]
    assert [r["token"] for r in first] == ["[CLS]", "the", "cat", "[SEP]"]
    assert [r["special"] for r in first] == [True, False, False, True]
    assert first[2]["chars"] == (4, 7) and first[2]["word"] == 1
    assert "[CLS]" in str(table) and "<table" in table._repr_html_()
