"""The model-family table (attnviz.families): every entry's facts hold on a tiny model of its family.

Families of attnviz.testing use its tiny models; the others are built from their config class
with small sizes (``EXTRA_CONFIG`` holds the keywords a family needs beyond the common ones).
"""
import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from attnviz.extraction.streaming import Session
from attnviz.families import (
    CROSS_NAMES,
    FAMILIES,
    LAYER_PART_NAMES,
    NORM_NAMES,
    family_of,
    is_causal,
    layer_list,
    layer_modules,
    max_positions_of,
    model_dims,
    position_offset,
    submodule,
)
from attnviz.metrics.importance import output_projections
from attnviz.notebook.neuron import query_key_vectors, supports
from attnviz.testing import KINDS, LLM_KINDS, TINY_IMAGE, VISION_KINDS, tiny_model

TESTING = KINDS + LLM_KINDS + VISION_KINDS
#: Config keywords, beyond the common small sizes, for families built from their config class.
EXTRA_CONFIG: dict[str, dict] = {"mt5": {"num_decoder_layers": 2}, "xmod": {"default_language": "en_XX"}}
PARTS = tuple(LAYER_PART_NAMES)


@functools.cache
def _tiny(model_type):
    """A tiny random model of ``model_type`` (eager attention, so its weights come back)."""
    if model_type in TESTING:
        return tiny_model(model_type, attn_implementation="eager")[0]
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.for_model(model_type, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=4, intermediate_size=64, vocab_size=100, pad_token_id=0,
                               bos_token_id=1, eos_token_id=2,
                               **EXTRA_CONFIG.get(model_type, {}))
    torch.manual_seed(0)
    return AutoModel.from_config(cfg, attn_implementation="eager").eval()


def test_vision_families_say_so():
    assert {t for t, f in FAMILIES.items() if f.modality == "image"} == set(VISION_KINDS)
    assert all(f.modality == "text" and not f.prefix_tokens for t, f in FAMILIES.items() if t not in VISION_KINDS)


def test_every_testing_family_has_an_entry():
    missing = [kind for kind in TESTING if family_of(tiny_model(kind)[0]) is None]
    assert not missing, f"add these model types to attnviz.families.FAMILIES: {missing}"


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_config_names_and_flags_hold(model_type):
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model = _tiny(model_type)
    cfg, fam = model.config, family_of(model)
    assert cfg.model_type == model_type
    enc_dec = fam.decoder_layers is not None
    assert enc_dec == bool(getattr(cfg, "is_encoder_decoder", False))
    assert getattr(cfg, fam.layers) == 2 and getattr(cfg, fam.heads) == 4
    assert model_dims(cfg) == {"layers": 2, "heads": 4, "decoder_layers": 2 if enc_dec else None}
    if fam.max_positions:
        expected = 64 if model_type in TESTING else getattr(cfg, fam.max_positions) - position_offset(cfg)
        assert max_positions_of(cfg) == expected  # tiny_config gives every family 64 usable positions
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    assert (fam.cross_attention in names) == enc_dec
    if fam.final_norm:
        assert callable(submodule(model.base_model, fam.final_norm)), fam.final_norm
    assert is_causal(cfg) == (model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
                              and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_module_paths_resolve_in_every_layer(model_type):
    model = _tiny(model_type)
    fam = family_of(model)
    for decoder in (False, True) if fam.decoder_layers else (False,):
        layers = layer_list(model, decoder=decoder)
        assert type(layers).__name__ == "ModuleList" and len(layers) == 2, (decoder, layers)
        for part in PARTS:
            found = layer_modules(model, part, decoder=decoder)
            if getattr(fam, part) is None:
                assert found is None
            else:
                assert found is not None and len(found) == 2, f"{part}={getattr(fam, part)!r} is not in every layer"
                assert all(m is submodule(layer, getattr(fam, part)) for m, layer in zip(found, layers))
        attention = fam.attention.split(".")
        for part in ("attention_output", "query", "key"):     # inside the attention module, or beside it
            path = getattr(fam, part)
            assert path is None or path.split(".")[: len(attention) - 1] == attention[:-1], (part, path)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_the_attention_module_is_what_the_streaming_hooks_see(model_type):
    model = _tiny(model_type)
    fam = family_of(model)
    sites = Session(model, layers=None, heads=None).sites
    if not sites:  # the family does not call transformers' attention interface: streaming falls back
        pytest.skip(f"{model_type} has no attention-interface modules")
    for decoder, kind in ((False, "self"), (True, "decoder")) if fam.decoder_layers else ((False, "self"),):
        for layer, module in enumerate(layer_modules(model, "attention", decoder=decoder)):
            assert sites.get(id(module)) == (kind, layer)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_positions_kind_matches_the_modules(model_type):
    model = _tiny(model_type)
    ends = {name.split(".")[-1] for name, _ in model.named_modules()}
    ends |= {name.split(".")[-1] for name, _ in model.named_parameters()}  # ViT: a position table parameter
    if "relative_attention_bias" in ends:
        kind = "relative"
    elif "rotary_emb" in ends:
        kind = "rotary"
    elif ends & {"position_embeddings", "wpe", "embed_positions", "position_embedding"}:
        kind = "absolute"
    else:
        kind = "alibi"
    assert family_of(model).positions == kind


def _run(model, n_tokens=7):
    torch.manual_seed(1)
    if family_of(model).modality == "image":
        with torch.no_grad():
            return model(pixel_values=torch.randn(1, 3, TINY_IMAGE, TINY_IMAGE), output_attentions=True,
                         output_hidden_states=True, return_dict=True)
    ids = torch.randint(3, model.config.vocab_size, (1, n_tokens))
    inputs = {"input_ids": ids}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = ids
    with torch.no_grad():
        return model(**inputs, output_attentions=True, output_hidden_states=True, return_dict=True)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_attention_output_gets_the_heads_side_by_side(model_type):
    model = _tiny(model_type)
    fam, heads = family_of(model), model_dims(model.config)["heads"]
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, args, i=i: seen.append((i, args[0].shape[-1])))
             for i, m in enumerate(layer_modules(model, "attention_output"))]
    try:
        _run(model)
    finally:
        for h in hooks:
            h.remove()
    assert sorted(i for i, _ in seen) == [0, 1] and all(width % heads == 0 for _, width in seen)
    if fam.decoder_layers is None:
        assert output_projections(model) == layer_modules(model, "attention_output")


@pytest.mark.parametrize("model_type", sorted(t for t, f in FAMILIES.items() if supports(f)))
def test_the_table_query_and_key_give_the_models_attention(model_type):
    """For the families the neuron view reads, softmax(q.k / sqrt(d)) of the table's projections
    (after its attention_norm) is the model's own attention, in every layer and head."""
    model = _tiny(model_type)
    out = _run(model)
    states = np.stack([h[0].float().numpy() for h in out.hidden_states])
    capture = [SimpleNamespace(hidden_states=states, display_tokens=[str(i) for i in range(states.shape[1])])]
    for layer in range(2):
        for head in range(4):
            qk = query_key_vectors(model, capture, layer=layer, head=head)
            np.testing.assert_allclose(qk.attention(), out.attentions[layer][0, head].numpy(), atol=1e-5)
            assert qk.causal == family_of(model).causal


def test_layer_lookup_falls_back_to_every_known_name_for_a_type_missing_from_the_table(monkeypatch):
    model = tiny_model("gpt2")[0]
    monkeypatch.setattr(model.config, "model_type", "not-in-the-table")
    assert family_of(model) is None
    assert layer_list(model) is model.h
    assert layer_modules(model, "attention_output") == [block.attn.c_proj for block in model.h]
    assert output_projections(model) == layer_modules(model, "attention_output")
    with pytest.raises(ValueError, match="part="):
        layer_modules(model, "mlp")


def test_derived_name_lists_start_with_the_table():
    assert "EncDecAttention" in CROSS_NAMES and "encoder_attn" in CROSS_NAMES
    assert NORM_NAMES[0] == "ln_f" and "norm" in NORM_NAMES
    assert all(f.final_norm for f in FAMILIES.values() if f.causal), "a causal family needs its final norm"
    assert LAYER_PART_NAMES["attention_output"][0] == "attention.output.dense"
    assert "self_attn.out_proj" in LAYER_PART_NAMES["attention_output"]  # OPT, beyond the table


def test_tiny_model_takes_a_family_and_the_old_kind_keyword_with_a_warning():
    with pytest.warns(DeprecationWarning, match="kind= keyword"):
        old, _ = tiny_model(kind="gpt2")
    assert old.config.model_type == tiny_model(family="gpt2")[0].config.model_type == "gpt2"
