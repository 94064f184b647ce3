"""The model-family table (attnviz.families): every tiny family is covered and its facts hold."""
import pytest

from attnviz.families import CROSS_NAMES, FAMILIES, NORM_NAMES, family_of, is_causal, max_positions_of, model_dims
from attnviz.testing import KINDS, LLM_KINDS, tiny_model

ENC_DEC = ("bart", "t5")


def test_every_testing_family_has_an_entry():
    missing = [kind for kind in KINDS + LLM_KINDS if family_of(tiny_model(kind)[0]) is None]
    assert not missing, f"add these model types to attnviz.families.FAMILIES: {missing}"


@pytest.mark.parametrize("kind", KINDS + LLM_KINDS)
def test_family_facts_hold_for_the_tiny_model(kind):
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model, _ = tiny_model(kind)
    cfg, fam = model.config, family_of(model)
    assert model_dims(cfg) == {"layers": 2, "heads": 4, "decoder_layers": 2 if kind in ENC_DEC else None}
    assert getattr(cfg, fam.layers) == 2 and getattr(cfg, fam.heads) == 4
    if fam.max_positions:
        assert max_positions_of(cfg) == 64  # tiny_config gives every family 64 usable positions
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    assert (fam.cross_attention in names) == (kind in ENC_DEC)
    if fam.final_norm:
        obj = model.base_model
        for part in fam.final_norm.split("."):
            obj = getattr(obj, part)
    mt = cfg.model_type
    assert is_causal(cfg) == (mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def test_derived_name_lists_start_with_the_table():
    assert "EncDecAttention" in CROSS_NAMES and "encoder_attn" in CROSS_NAMES
    assert NORM_NAMES[0] == "ln_f" and "norm" in NORM_NAMES
    assert all(f.final_norm for f in FAMILIES.values() if f.causal), "a causal family needs its final norm"


def test_tiny_model_takes_a_family_and_the_old_kind_keyword_with_a_warning():
    with pytest.warns(DeprecationWarning, match="kind= keyword"):
        old, _ = tiny_model(kind="gpt2")
    assert old.config.model_type == tiny_model(family="gpt2")[0].config.model_type == "gpt2"
