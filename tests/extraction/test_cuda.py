"""The per-layer path on a real CUDA GPU: the maps equal eager ``output_attentions`` on the same
device, kept blocks go to pinned host memory with one wait per kept layer, and one layer costs
less GPU memory than the bare forward.

Skipped where no CUDA device exists (CI); run on a lent GPU by ``benchmarks/gpu_check.sh``. The
same logic is tested on the CPU with a fake device in tests/test_streaming.py.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import attnviz  # noqa: E402
from attnviz.extraction import streaming  # noqa: E402
from attnviz.testing import tiny_model  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TEXTS = ["The cat sat on the mat and looked at the dog.", "Hello world!",
         "A quick brown fox jumps over the lazy dog today, again and again."]
DECODER_TEXTS = ["le chat noir", "bonjour", "un renard"]


def _on_gpu(family: str, head: str | None = None, **config):
    model, tok = tiny_model(family, head=head, **config)
    return model.to("cuda"), tok


def _eager_maps(model, tok, texts, **decoder):
    """Each text's maps from ``output_attentions=True`` under eager attention, unpadded, on the GPU."""
    model.set_attn_implementation("eager")
    maps = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            batch = tok(text, return_tensors="pt").to("cuda")
            if decoder:
                batch["decoder_input_ids"] = tok(decoder["decoder_texts"][i], return_tensors="pt")["input_ids"].cuda()
            out = model(**batch, output_attentions=True)
            weights = out.encoder_attentions if decoder else out.attentions
            maps.append(torch.stack([w[0] for w in weights]).float().cpu().numpy())
    model.set_attn_implementation("sdpa")
    return maps


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "mistral", "t5"])
def test_maps_on_the_gpu_equal_eager_output_attentions(family):
    model, tok = _on_gpu(family, head="lm" if family == "t5" else None)
    decoder = {"decoder_texts": DECODER_TEXTS} if family == "t5" else {}
    cap = attnviz.extract(model, TEXTS, tokenizer=tok, hidden_states=False, **decoder)
    expected = _eager_maps(model, tok, TEXTS, **decoder)
    for example, want in zip(cap, expected, strict=True):
        assert example.attentions.shape == want.shape
        np.testing.assert_allclose(example.attentions, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("options", [dict(layers=[1]), dict(queries="last"), dict(layers=[0], heads=[1, 3])])
def test_selections_on_the_gpu_equal_slices_of_the_full_maps(options):
    model, tok = _on_gpu("llama")
    full = attnviz.extract(model, TEXTS, tokenizer=tok, hidden_states=False)
    part = attnviz.extract(model, TEXTS, tokenizer=tok, hidden_states=False, **options)
    for a, b in zip(full, part, strict=True):
        want = a.attentions[options.get("layers", slice(None))]
        want = want[:, options["heads"]] if "heads" in options else want
        want = want[:, :, -1:] if options.get("queries") == "last" else want
        np.testing.assert_allclose(b.attentions, want, atol=1e-6, rtol=0)


def test_blocks_go_to_pinned_host_memory_with_one_wait_per_kept_layer(monkeypatch):
    model, tok = _on_gpu("gpt2")
    pinned, waits = [], []
    make, wait = streaming._host_buffer, streaming._synchronize
    monkeypatch.setattr(streaming, "_host_buffer", lambda shape, dtype, pin: pinned.append(pin) or make(shape, dtype, pin))
    monkeypatch.setattr(streaming, "_synchronize", lambda device: waits.append(device) or wait(device))
    cap = attnviz.extract(model, TEXTS[0], tokenizer=tok, hidden_states=False, layers=[0, 1])
    monkeypatch.undo()
    assert pinned == [True]
    assert len(waits) == 2
    assert isinstance(cap[0].attentions, np.ndarray) and np.isfinite(cap[0].attentions).all()
    np.testing.assert_allclose(cap[0].attentions.sum(-1), 1, atol=1e-5)


def test_half_precision_model_on_the_gpu_matches_its_eager_maps():
    model, tok = _on_gpu("llama")
    model.to(torch.bfloat16)
    cap = attnviz.extract(model, TEXTS[:1], tokenizer=tok, hidden_states=False)
    want = _eager_maps(model, tok, TEXTS[:1])[0].astype(np.float32)
    assert cap[0].attentions.dtype == np.float32
    np.testing.assert_allclose(cap[0].attentions, want, atol=2e-2, rtol=0)


def test_one_layer_takes_less_gpu_memory_than_the_bare_forward():
    model, tok = _on_gpu("llama", max_position_embeddings=1024)
    text = " ".join(["the cat sat on the mat"] * 80)  # 480 tokens

    def peak(fn):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    batch = tok(text, return_tensors="pt").to("cuda")
    assert batch["input_ids"].shape[1] > 400
    model.set_attn_implementation("eager")
    with torch.no_grad():
        bare = peak(lambda: model(**batch, output_attentions=True))
    model.set_attn_implementation("sdpa")
    one = peak(lambda: attnviz.extract(model, text, tokenizer=tok, hidden_states=False, layers=[0], max_length=1024))
    assert one < bare, (one, bare)


def test_knockout_on_the_gpu_equals_the_cpu():
    model, tok = tiny_model("gpt2", head="lm")
    text = "the cat sat on the mat"
    on_cpu = attnviz.metrics.knockout_map(model, text, tokenizer=tok)
    on_gpu = attnviz.metrics.knockout_map(model.to("cuda"), text, tokenizer=tok)
    np.testing.assert_allclose(on_gpu.change, on_cpu.change, atol=1e-4)


def test_extract_inside_intervene_on_the_gpu_equals_the_cpu():
    """The edited layer is the last one kept: its copies to host memory must be waited for."""
    from attnviz.extraction.intervene import intervene

    model, tok = tiny_model("gpt2", head="lm")
    text = "the cat sat on the mat"
    n = len(tok(text)["input_ids"])
    edits = {(1, None): [(n - 1, 0), (n - 1, 1)]}
    with intervene(model, block=edits):
        on_cpu = attnviz.extract(model, text, tokenizer=tok, layers=[1], hidden_states=False)[0].attentions
    model.to("cuda")
    with intervene(model, block=edits):
        on_gpu = attnviz.extract(model, text, tokenizer=tok, layers=[1], hidden_states=False)[0].attentions
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-5)
