"""The statistics of Clark et al. (2019) as their analysis notebook computes them.

``clark_reference`` restates their code (attention-analysis, General_Analysis.ipynb):
token-type selectors, [SEP]->[SEP] divided by 2, rest->[SEP] by n - 2, entropy with
0.9999 A + 0.0001/n and the [CLS] row's entropy. attnviz must agree on a sentence pair.
"""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.metrics import head_stats
from attnviz.metrics.definitions import DESCRIPTIONS

TOKENS = ["[CLS]", "the", "cat", ",", "sat", "!", "[SEP]", "it", "ran", ".", "[SEP]"]


def clark_reference(tokens, attns):
    """Their code, for one example (attns: layer x head x n x n)."""
    n = attns.shape[-1]
    seps, clss, puncts = (np.zeros(n) for _ in range(3))
    for position, token in enumerate(tokens):
        if token == "[SEP]":
            seps[position] = 1
        if token == "[CLS]":
            clss[position] = 1
        if token == "." or token == ",":
            puncts[position] = 1
    sep_seps = np.ones((n, n)) * seps[np.newaxis] * seps[:, np.newaxis]
    rest_seps = np.ones((n, n)) * (np.ones(n) - seps)[:, np.newaxis] * seps[np.newaxis]
    selectors = {"self": np.eye(n), "right": np.eye(n, n, 1), "left": np.eye(n, n, -1),
                 "sep": np.tile(seps[np.newaxis], [n, 1]), "sep_sep": sep_seps, "rest_sep": rest_seps,
                 "cls": np.tile(clss[np.newaxis], [n, 1]), "punct": np.tile(puncts[np.newaxis], [n, 1])}
    out = {}
    for key, selector in selectors.items():
        denom = 2 if key == "sep_sep" else n - 2 if key == "rest_sep" else n
        out[key] = (attns * selector[np.newaxis, np.newaxis]).sum(-1).sum(-1) / denom
    smooth = 0.9999 * attns + 0.0001 / n
    out["entropy"] = -(smooth * np.log(smooth)).sum(-1).mean(-1)
    out["entropy_cls"] = -(smooth * np.log(smooth))[:, :, 0].sum(-1)
    return out


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    n = len(TOKENS)
    logits = rng.normal(size=(2, 3, n, n)) * 2
    att = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ex = Example(tokens=list(TOKENS), special_mask=[t.startswith("[") for t in TOKENS],
                 attentions=att.astype(np.float32))
    cap = Capture([ex], layers=[0, 1], heads=[0, 1, 2], num_layers=2, num_heads=3)
    return cap, att.astype(np.float32).astype(np.float64)


NAMES = {"self": "self", "next": "right", "prev": "left", "sep": "sep", "sep_sep": "sep_sep",
         "rest_sep": "rest_sep", "cls": "cls", "punct": "punct", "entropy": "entropy",
         "cls_entropy": "entropy_cls"}


@pytest.mark.parametrize("ours", list(NAMES))
def test_agrees_with_clark_et_al_code(pair, ours):
    cap, att = pair
    ref = clark_reference(TOKENS, att)[NAMES[ours]]
    np.testing.assert_allclose(head_stats(cap, metrics=ours).values[ours], ref, atol=2e-6)


def test_punct_is_dot_and_comma_and_the_broad_one_is_separate(pair):
    cap, att = pair
    stats = head_stats(cap, metrics=["punct", "punct_unicode"])
    broad = att[..., [3, 5, 9]].sum(-1).mean(-1)                 # ",", "!" and "."
    np.testing.assert_allclose(stats.values["punct_unicode"], broad, atol=2e-6)
    assert (stats.values["punct_unicode"] > stats.values["punct"]).all()


def test_every_description_names_its_source():
    for name, text in DESCRIPTIONS.items():
        assert any(src in text for src in ("Clark et al. 2019", "Voita et al. 2019", "Xiao et al. 2023",
                                           "Kovaleva et al. 2019", "Olsson et al. 2022", "Dosovitskiy et al. 2021",
                                           "attnviz's own")), name
        assert "attnviz's own" in DESCRIPTIONS["distance"] and "attnviz's own" in DESCRIPTIONS["entropy_norm"]
