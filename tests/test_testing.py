"""attnviz.testing: tiny tokenizers and models are the same in every process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnviz.testing import TOKENIZER_FILES, _train, tiny_tokenizer

PROBE = """
import json, torch
from attnviz.testing import tiny_model
out = {"hash": hash("attnviz tiny tokenizers")}
for family in ("bert", "gpt2", "t5"):
    model, tok = tiny_model(family, head="lm" if family == "t5" else None)
    enc = tok("the cat sat on the mat, café", return_tensors="pt")
    kwargs = {"decoder_input_ids": enc["input_ids"][:, :2]} if family == "t5" else {}
    with torch.no_grad():
        first = model(**enc, **kwargs)[0]
    out[family] = {"vocab": len(tok), "ids": enc["input_ids"][0].tolist(), "sum": round(float(first.sum()), 4)}
print(json.dumps(out))
"""


def test_ids_and_outputs_are_the_same_whatever_the_hash_seed(capsys):
    """One fresh interpreter with another hash seed than this one's, against this process (one start, not two)."""
    root = Path(__file__).resolve().parents[1]
    other = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"  # unset or "random": this one's is random
    child = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": other, "PYTHONPATH": str(root)}).stdout
    exec(PROBE, {})  # the same probe here, printing the same JSON line
    here = capsys.readouterr().out
    first, second = (json.loads(r.strip().splitlines()[-1]) for r in (child, here))
    assert first.pop("hash") != second.pop("hash")  # the two processes really hash strings differently
    assert first == second
    assert first["bert"]["ids"] == tiny_tokenizer("bert")("the cat sat on the mat, café")["input_ids"]  # and here


@pytest.mark.parametrize("family", sorted(set(TOKENIZER_FILES.values())))
def test_the_shipped_vocabulary_is_what_training_makes(family):
    """Training again gives a tokenizer of the same kind and size (the tie order may differ)."""
    shipped, trained = tiny_tokenizer(family).backend_tokenizer, _train(family)
    assert type(shipped.model) is type(trained.model)
    assert abs(shipped.get_vocab_size() - trained.get_vocab_size()) <= 2


def test_tiny_capture_is_extract_on_the_tiny_model():
    """tiny_capture(family, texts, head=, seed=, **options) == extract(tiny_model(family, head=, seed=), texts, ...)."""
    import numpy as np

    from attnviz import extract
    from attnviz.testing import tiny_capture, tiny_model

    model, tok = tiny_model("t5", head="lm", seed=3)
    want = extract(model, ["the cat sat", "a dog"], decoder_texts=["le chat", "un chien"], layers=[1], tokenizer=tok)
    got = tiny_capture("t5", ["the cat sat", "a dog"], head="lm", seed=3, decoder_texts=["le chat", "un chien"],
                       layers=[1])
    assert got.layers == want.layers == [1] and len(got) == len(want) == 2
    for a, b in zip(got, want, strict=True):
        assert a.tokens == b.tokens and a.decoder_tokens == b.decoder_tokens
        np.testing.assert_array_equal(a.attentions, b.attentions)
        np.testing.assert_array_equal(a.cross_attentions, b.cross_attentions)
    other = tiny_capture("t5", "the cat sat", head="lm", seed=4, decoder_texts="le chat", layers=[1])
    assert not np.array_equal(other[0].cross_attentions, got[0].cross_attentions)  # the seed reaches the model


def test_tiny_capture_refuses_an_image_family_with_the_call_to_use():
    from attnviz.testing import tiny_capture

    with pytest.raises(ValueError, match=r"takes images: use model, processor = tiny_model\('vit'\)"):
        tiny_capture("vit")
