"""One call form, ``fn(model, data, *, tokenizer=None, ...)``; the old ``fn(model, tokenizer, data)`` warns."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import attnviz
from attnviz.metrics import dataset_stats, head_importance, logit_lens
from attnviz.modeling import is_tokenizer, model_data_call


def test_a_model_folder_and_texts_need_no_tokenizer(bert_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        cap = attnviz.extract(bert_dir, ["the cat sat"])
    assert cap[0].tokens == ["[CLS]", "the", "cat", "sat", "[SEP]"]


@pytest.mark.parametrize("second", ["tokenizer", "none"])
def test_the_old_extract_form_warns_with_the_new_call_and_gives_the_same_capture(bert_dir, second):
    model, tok = attnviz.load_model(bert_dir)
    new = attnviz.extract(model, ["the cat sat", "a dog"], tokenizer=tok)
    with pytest.warns(DeprecationWarning, match=r"call extract\(model, texts, tokenizer=tokenizer\)") as caught:
        old = attnviz.extract(model, tok if second == "tokenizer" else None, ["the cat sat", "a dog"])
    assert caught[0].filename == __file__  # the warning points at the caller's line
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a.attentions, b.attentions)


def test_the_old_form_with_data_by_keyword_also_warns(tiny_gpt2):
    model, tok = tiny_gpt2
    with pytest.warns(DeprecationWarning, match="dataset_stats"):
        old = dataset_stats(model, tok, texts_or_dataset=["a b c"], metrics=["sink"], progress=False)
    new = dataset_stats(model, ["a b c"], tokenizer=tok, metrics=["sink"], progress=False)
    np.testing.assert_allclose(old.values["sink"], new.values["sink"])


def test_generation_and_lens_take_the_new_form_and_warn_on_the_old():
    from attnviz.testing import tiny_model

    model, tok = tiny_model("gpt2", head="lm")
    new = attnviz.extract_generation(model, "the cat", tokenizer=tok, max_new_tokens=2, min_new_tokens=2)
    with pytest.warns(DeprecationWarning, match=r"extract_generation\(model, prompt, tokenizer=tokenizer\)"):
        old = attnviz.extract_generation(model, tok, "the cat", max_new_tokens=2, min_new_tokens=2)
    assert new[0].tokens == old[0].tokens
    with pytest.warns(DeprecationWarning, match=r"logit_lens\(model, text, tokenizer=tokenizer\)"):
        old_lens = logit_lens(model, tok, "the cat")
    np.testing.assert_array_equal(logit_lens(model, "the cat", tokenizer=tok).top_ids, old_lens.top_ids)


def test_head_importance_takes_the_tokenizer_second_only_with_a_warning():
    from attnviz.testing import tiny_model

    model, tok = tiny_model("gpt2", head="lm")
    data = ["the cat sat on the mat", "a dog"]
    with pytest.warns(DeprecationWarning, match=r"head_importance\(model, data, tokenizer=tokenizer\)"):
        old = head_importance(model, tok, data, method="ablation")
    new = head_importance(model, data, tokenizer=tok, method="ablation")
    np.testing.assert_allclose(old.scores, new.scores)


def test_the_tokenizer_given_twice_is_an_error(tiny_bert):
    model, tok = tiny_bert
    with pytest.raises(TypeError, match="tokenizer twice"):
        attnviz.extract(model, tok, ["a"], tokenizer=tok)


def test_none_as_data_is_data_where_none_means_the_default():
    @model_data_call("data", none_is_data=True)
    def fn(model, data=None, out=None, *, tokenizer=None):
        return data, out, tokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert fn("m", None, "runs") == (None, "runs", None)


def test_is_tokenizer(tiny_bert):
    assert is_tokenizer(tiny_bert[1])
    assert not any(is_tokenizer(v) for v in (None, "path", ["a"], ("a",), {"text": "a"}, tiny_bert[0]))
