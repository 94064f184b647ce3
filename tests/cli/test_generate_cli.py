"""``attnviz generate``: files written, their contents, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def gpt2_path(tmp_path_factory):
    return save_tiny_model("gpt2", tmp_path_factory.mktemp("gpt2"), head="lm")


def test_generate_writes_text_capture_and_figures(gpt2_path, tmp_path, capsys):
    out = tmp_path / "gen"
    code = main(["generate", "--model", str(gpt2_path), "--prompt", "the cat sat", "--max-new-tokens", "4",
                 "--min-new-tokens", "4", "--out", str(out), "--layer", "1", "--head", "2"])
    assert code == 0
    names = {"generated.txt", "capture.safetensors", "grid.png", "head_L1_H2.png"}
    assert names <= {p.name for p in out.iterdir()}
    printed = capsys.readouterr().out
    assert all(f"wrote {out / name}" in printed for name in names)
    cap = attnviz.load(out / "capture.safetensors")
    ex = cap[0]
    assert ex.text == "the cat sat" and len(ex.tokens) == ex.prompt_length + 4
    assert ex.attentions.shape[2:] == (len(ex.tokens), len(ex.tokens))
    assert (out / "generated.txt").read_text().splitlines() == ["the cat sat", "---", ex.decoder_text]
    for name in ("grid.png", "head_L1_H2.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sampling_with_seed_writes_the_same_text_twice(gpt2_path, tmp_path):
    texts = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        assert main(["generate", "--model", str(gpt2_path), "--prompt", "hello", "--max-new-tokens", "5",
                     "--sample", "--seed", "7", "--out", str(out)]) == 0
        texts.append((out / "generated.txt").read_text())
        np.testing.assert_array_equal(attnviz.load(out / "capture.safetensors")[0].attentions.shape[:2], (2, 4))
    assert texts[0] == texts[1]


def test_default_model_cannot_generate_and_says_what_to_pass(tmp_path, capsys):
    assert main(["generate", "--prompt", "hello", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "cannot generate" in err and "--model" in err and "decoder" in err
    assert not (tmp_path / "x").exists()


def test_encoder_model_folder_is_refused(tmp_path, capsys):
    path = save_tiny_model("bert", tmp_path / "bert")
    assert main(["generate", "--model", str(path), "--prompt", "hello", "--out", str(tmp_path / "o")]) == 1
    assert "cannot generate" in capsys.readouterr().err


def test_bad_arguments_give_one_clear_line(gpt2_path, tmp_path, capsys):
    code = main(["generate", "--model", str(gpt2_path), "--prompt", "hi", "--out", str(tmp_path / "o"),
                 "--layer", "7"])
    assert code == 1
    assert "layer 7 is out of range (--layer)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # no empty --out folder on failure


def test_max_new_tokens_below_one_is_a_usage_error(gpt2_path, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--model", str(gpt2_path), "--prompt", "hi", "--out", str(tmp_path / "o"),
              "--max-new-tokens", "0"])
    assert exit_.value.code == 2 and "at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_layers_heads_and_queries_keep_only_what_is_asked(gpt2_path, tmp_path, capsys):
    full_out, part_out = tmp_path / "full", tmp_path / "part"
    common = ["generate", "--model", str(gpt2_path), "--max-new-tokens", "3", "--min-new-tokens", "3"]
    assert main(common + ["--prompt", "the cat sat", "--out", str(full_out)]) == 0
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("the cat sat", encoding="utf-8")
    assert main(common + ["--prompt-file", str(prompt), "--out", str(part_out),
                          "--layers", "1", "--heads", "2,3", "--queries", "last"]) == 0
    assert {"grid.png", "head_L1_H2.png"} <= {p.name for p in part_out.iterdir()}  # first kept layer/head
    full, part = attnviz.load(full_out / "capture.safetensors"), attnviz.load(part_out / "capture.safetensors")
    assert part.layers == [1] and part.heads == [2, 3] and part[0].tokens == full[0].tokens
    last = len(full[0].tokens) - 1
    assert part[0].query_positions == [last]
    np.testing.assert_allclose(part[0].attentions[0], full[0].attentions[1, 2:4, [last]].transpose(1, 0, 2),
                               atol=1e-6)


def test_a_figure_head_outside_the_kept_ones_fails_before_the_model_runs(gpt2_path, tmp_path, capsys):
    code = main(["generate", "--model", str(gpt2_path), "--prompt", "hi", "--out", str(tmp_path / "o"),
                 "--layers", "1", "--layer", "0"])
    assert code != 0
    assert "--layer 0 is not among the kept --layers [1]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
