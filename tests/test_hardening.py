"""Issue 15: partial outputs, JSON NaN, literal labels, argument checks, Markdown escaping."""
from __future__ import annotations

import copy
import errno
import io
import json
import time
import warnings

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.cli import main
from attnviz.metrics import dataset_stats
from attnviz.testing import save_tiny_model, tiny_model


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return save_tiny_model("gpt2", tmp_path_factory.mktemp("hg") / "gpt2", head="lm")


@pytest.fixture(scope="module")
def cap(tiny_bert):
    return attnviz.extract(*tiny_bert, ["the cat sat", "a dog ran"])


# --- outputs made of several files -------------------------------------------------------
def test_compare_cli_with_a_nan_capture_leaves_nothing(cap, tmp_path, capsys):
    bad = copy.deepcopy(cap)
    bad[0].attentions[0, 0, 0, 0] = np.nan
    cap.save(tmp_path / "a.safetensors")
    bad.save(tmp_path / "b.safetensors")
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"),
                 "--out", str(out)]) == 1
    assert "NaN/Inf" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors"]


def test_comparison_json_writes_null_not_nan(cap, tmp_path):
    bad = copy.deepcopy(cap)
    bad[0].attentions[0, 0, 0, 0] = np.nan
    comp = attnviz.compare(cap, bad)
    comp.save(tmp_path / "c")
    text = (tmp_path / "c" / "comparison.json").read_text()
    assert "NaN" not in text and "null" in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def test_comparison_save_failing_midway_leaves_no_files(cap, tmp_path, monkeypatch):
    import attnviz.plot.compare as figures

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(figures, "save_figures", boom)
    with pytest.raises(OSError):
        attnviz.compare(cap, cap).save(tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_stats_on_a_full_disk_writes_nothing_and_no_empty_folder(bert_dir, tmp_path, monkeypatch, capsys):
    import attnviz.cli.stats as stats_cli

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stats_cli, "_write_map", full)
    out = tmp_path / "stats"
    assert main(["stats", "--model", str(bert_dir), "--text", "the cat", "--out", str(out)]) == 1
    assert "No space left" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_failing_stats_and_generate_leave_no_empty_out(bert_dir, tmp_path):
    assert main(["stats", "--model", str(tmp_path / "nope"), "--text", "x", "--out", str(tmp_path / "s")]) == 1
    assert main(["generate", "--model", str(bert_dir), "--prompt", "x", "--out", str(tmp_path / "g")]) == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_out_keeps_other_files(bert_dir, tmp_path):
    out = tmp_path / "stats"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["stats", "--model", str(bert_dir), "--text", "the cat", "--maps", "", "--out", str(out)]) == 0
    assert {"mine.txt", "head_stats.csv", "head_stats.json"} <= {p.name for p in out.iterdir()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- labels ---------------------------------------------------------------------------------
TOKENS = ["$$", "$x^2$", "a_b", "\\alpha", "$"]


def _dollar_capture():
    n = len(TOKENS)
    ex = Example(tokens=TOKENS, attentions=np.full((1, 2, n, n), 1 / n, "float32"),
                 hidden_states=np.ones((2, n, 4), "float32"))
    return Capture([ex], layers=[0], heads=[0, 1], num_layers=1, num_heads=2, hidden_size=4)


def _labels(ax):
    texts = [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    return texts


@pytest.mark.parametrize("draw", [
    lambda c: attnviz.plot.token_heatmap(c, layer=0, head=0).figure,
    lambda c: attnviz.plot.head_grid(c, tokens=True, width=6).figure,
    lambda c: attnviz.plot.hidden_norms(c).figure,
    lambda c: attnviz.plot.layer_similarity(c).figure,
])
def test_tokens_are_drawn_literally_in_every_figure(draw):
    fig = draw(_dollar_capture())
    fig.savefig(io.BytesIO(), format="png")  # '$$' would raise a ParseException in mathtext
    labels = [t for ax in fig.axes for t in _labels(ax)]
    assert {"$$", "$x^2$"} <= {t.get_text() for t in labels}
    assert all(not t.get_parse_math() for t in labels if "$" in t.get_text())


def test_literal_labels_even_with_usetex_on():
    import matplotlib as mpl

    with mpl.rc_context({"text.usetex": True}):
        ax = attnviz.plot.token_heatmap(_dollar_capture(), layer=0, head=0)
    assert all(not t.get_usetex() for t in _labels(ax))


def test_model_names_in_figure_titles_are_literal(cap):
    comp = attnviz.compare(cap, cap, names=("$run$", "a_b"))
    fig = comp.plot("layers").figure
    fig.savefig(io.BytesIO(), format="png")
    title = fig.axes[0].title
    assert "$run$" in title.get_text() and not title.get_parse_math()
    head = comp.plot("head", layer=0, head=0).figure
    head.savefig(io.BytesIO(), format="png")
    assert not head._suptitle.get_parse_math()


# --- arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(max_length=0), ValueError, "max_length=0 is too small"),
    (dict(max_length=-5), ValueError, "max_length=-5 is too small"),
    (dict(max_length=2.5), TypeError, "max_length=2.5"),
    (dict(batch_size=0), ValueError, "batch_size=0"),
    (dict(batch_size=True), TypeError, "batch_size=True"),
    (dict(heads="0"), TypeError, "heads='0'"),
    (dict(layers=[0.5]), TypeError, "layers= holds 0.5"),
    (dict(layers=[True]), TypeError, "layers= holds True"),
    (dict(dtype=["float32"]), ValueError, "dtype="),
    (dict(hidden_states="no"), TypeError, "hidden_states='no'"),
])
def test_extract_argument_checks(tiny_bert, kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        attnviz.extract(*tiny_bert, "the cat", **kwargs)


def test_extract_refuses_non_models_and_bytes(tiny_bert):
    with pytest.raises(TypeError, match="not a transformers model"):
        attnviz.extract(None, "hi", tokenizer=tiny_bert[1])
    with pytest.raises(TypeError, match="texts is bytes"):
        attnviz.extract(*tiny_bert, b"the cat")
    with pytest.raises(TypeError, match="not a transformers model"):
        attnviz.extract(b"the cat")
    with pytest.raises(TypeError, match="pass a string or a list"):
        attnviz.extract(*tiny_bert, None)


def test_bert_tokenizer_with_roberta_model_is_refused(tiny_bert):
    roberta, _ = tiny_model("roberta")
    with pytest.raises(ValueError, match="does not belong to this model"):
        attnviz.extract(roberta, "the cat", tokenizer=tiny_bert[1])


def test_encoder_decoder_left_padding_warns():
    model, tok = tiny_model("t5", head="lm")
    with pytest.warns(UserWarning, match="right padding"):
        attnviz.extract(model, "the cat", decoder_texts="le chat", padding_side="left", tokenizer=tok)


def test_generation_over_length_never_suggests_zero(tiny_gpt2_lm=None):
    model, tok = tiny_model("gpt2", head="lm", n_positions=8)
    with pytest.raises(ValueError) as err:
        attnviz.extract_generation(model, "one two three four five six seven eight nine ten",
                                   max_new_tokens=4, tokenizer=tok)
    assert "max_new_tokens to 0" not in str(err.value) and "shorten the prompt" in str(err.value)


def test_cli_checks_layer_and_head_before_extracting(bert_dir, tmp_path, capsys, monkeypatch):
    def no_extract(*a, **k):
        raise AssertionError("extract ran before the range check")

    monkeypatch.setattr(attnviz, "extract", no_extract)
    for flag in (["--layer", "9"], ["--head", "-1"], ["--grid", "--heads", "0,8"]):
        start = time.perf_counter()
        assert main(["plot", "--model", str(bert_dir), "--text", "x", "--out", str(tmp_path / "p.png"), *flag]) == 1
        assert "out of range" in capsys.readouterr().err and time.perf_counter() - start < 10


@pytest.mark.parametrize("argv", [
    ["plot", "--text", "x", "--out", "p.png", "--max-length", "0"],
    ["plot", "--text", "x", "--out", "p.png", "--max-length", "-3"],
    ["plot", "--text", "x", "--out", "p.png", "--batch-size", "0"],
    ["plot", "--text", "x", "--out", "p.png", "--dpi", "-1"],
    ["plot", "--text", "x", "--out", "p.png", "--width", "0"],
    ["compare", "a", "b", "--out", "c", "--top", "0"],
])
def test_cli_numbers_below_range_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_markdown_heading_escapes_model_names(cap):
    comp = attnviz.compare(cap, cap, names=("runs/*best*", "<img src=x>|[a](b)"))
    first = comp.summary().splitlines()[0]
    assert "\\*best\\*" in first and "\\<img" in first and "\\|" in first and "\\[a\\]" in first


def test_no_warning_for_a_normal_extract(tiny_bert):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attnviz.extract(*tiny_bert, ["the cat", "a dog"], max_length=16, heads=np.array([0, 1]))


# --- issue 25: the same cell run again and again --------------------------------------------
def model_state(model) -> dict:
    """Everything a call may change on a model and in the process: hooks, attention functions, modes."""
    import torch
    import torch.nn.modules.module as torch_module
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    hook_dicts = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                  "_state_dict_hooks", "_load_state_dict_pre_hooks")
    def owners(hooks: dict) -> tuple:
        # transformers installs its own output-capturing hooks on a model's first forward pass that asks for
        # hidden states or attentions (any caller's, inactive outside that call): not counted
        return tuple(getattr(h, "__module__", "?") for h in hooks.values()
                     if getattr(h, "__module__", "") != "transformers.utils.output_capturing")

    return {
        "hooks": {name: tuple(owners(getattr(m, d, {})) for d in hook_dicts) for name, m in model.named_modules()},
        "global hooks": tuple(len(getattr(torch_module, f"_global_{d.lstrip('_')}", {})) for d in hook_dicts[:4]),
        "patched forwards": [name for name, m in model.named_modules() if "forward" in vars(m)],
        "attention": {name: m.config._attn_implementation for name, m in model.named_modules()
                      if hasattr(getattr(m, "config", None), "_attn_implementation")},
        "registered": (sorted(AttentionInterface._global_mapping), sorted(ALL_MASK_ATTENTION_FUNCTIONS._global_mapping)),
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad enabled": torch.is_grad_enabled(),
    }


def _rss() -> int:
    import gc
    import os

    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _intervene(model, tok, texts):
    import torch

    ids = tok(texts, return_tensors="pt", padding=True)
    with attnviz.intervene(model, scale={(0, 1): 0.0}, block={(1, None): [(1, 0)]}):
        with torch.no_grad():
            model(**ids)


@pytest.mark.parametrize("call", ["extract", "dataset_stats", "intervene"])
def test_repeated_calls_leave_the_model_as_it_was_and_memory_flat(call):
    """Calls on one model in one process (a notebook cell run again and again): after each the model's
    hooks, attention implementation and modes are as before; resident memory grows < 5% after the first few.
    40 calls here (quick); benchmarks/bench_memory.py makes 100 on MiniLM and reports peak RSS."""
    model, tok = tiny_model("bert")
    model.train()  # a user's model in training mode stays in it
    texts = ["the cat sat on the mat", "a dog"]
    run = {"extract": lambda: attnviz.extract(model, texts, tokenizer=tok, progress=False),
           "dataset_stats": lambda: dataset_stats(model, texts, tokenizer=tok, progress=False),
           "intervene": lambda: _intervene(model, tok, texts)}[call]
    pristine = model_state(model)
    run()
    before = model_state(model)  # attnviz registers its attention function once per process, on first use
    assert {**before, "registered": None} == {**pristine, "registered": None}
    assert set(before["registered"][0]) - set(pristine["registered"][0]) <= {"attnviz"}
    for _ in range(4):
        run()
    assert model_state(model) == before
    rss0 = _rss()
    for _ in range(40):
        run()
        assert model_state(model) == before
    growth = _rss() / rss0 - 1
    assert growth < 0.05, f"{call}: resident memory grew {growth:.1%} over 40 calls"


@pytest.mark.parametrize("call", ["extract", "dataset_stats", "intervene"])
def test_an_exception_mid_call_leaves_the_model_as_it_was(call):
    model, tok = tiny_model("bert")
    attnviz.extract(model, ["a warm-up"], tokenizer=tok, progress=False)  # attnviz's one registration, done
    before = model_state(model)

    def boom(module, args, output):
        raise RuntimeError("interrupted in layer 1")

    handle = model.encoder.layer[1].attention.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="interrupted in layer 1"):
        if call == "extract":
            attnviz.extract(model, ["the cat sat", "a dog"], tokenizer=tok, progress=False)
        elif call == "dataset_stats":
            dataset_stats(model, ["the cat sat", "a dog"], tokenizer=tok, progress=False)
        else:
            _intervene(model, tok, ["the cat sat", "a dog"])
    handle.remove()
    assert model_state(model) == before
    attnviz.extract(model, ["the cat sat"], tokenizer=tok, progress=False)  # and it still works
    assert model_state(model) == before
