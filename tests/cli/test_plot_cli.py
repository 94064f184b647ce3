"""`attnviz plot`: writes the figure, prints its path, fails with one line on bad input."""
from __future__ import annotations

import pytest

from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    return save_tiny_model("t5", tmp_path_factory.mktemp("m") / "t5", head="lm")


@pytest.mark.parametrize("extra, name, magic", [
    (["--layer", "1", "--head", "2"], "head.pdf", b"%PDF-"),
    (["--head", "mean", "--scale", "row", "--hide-special", "--annotate"], "mean.png", b"\x89PNG"),
    (["--grid", "--width", "page", "--layers", "0,1", "--heads", "1,3"], "grid.svg", b"<?xml"),
    (["--hidden", "--width", "4"], "norms.png", b"\x89PNG"),
    (["--similarity", "--dpi", "80"], "sim.png", b"\x89PNG"),
])
def test_writes_each_view(bert_dir, tmp_path, capsys, extra, name, magic):
    out = tmp_path / name
    code = main(["plot", "--model", str(bert_dir), "--text", "the cat sat", "--text", "a dog",
                 "--example", "1", "--out", str(out), *extra])
    assert code == 0
    assert out.read_bytes().startswith(magic)
    assert capsys.readouterr().out.strip() == str(out)


def test_cross_attention_of_a_seq2seq_model(t5_dir, tmp_path, capsys, monkeypatch):
    import numpy as np

    import attnviz

    drawn = []
    save = attnviz.save_figure
    monkeypatch.setattr(attnviz, "save_figure", lambda fig, *a, **k: drawn.append(fig) or save(fig, *a, **k))
    out = tmp_path / "cross.png"
    assert main(["plot", "--model", str(t5_dir), "--text", "the cat", "--decoder-text", "le chat",
                 "--kind", "cross", "--layer", "1", "--head", "2", "--out", str(out), "--dpi", "80"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    ex = attnviz.extract(str(t5_dir), "the cat", decoder_texts="le chat", tokenizer=None)[0]
    ax = next(a for a in drawn[0].axes if a.images)
    # rows are the decoder's queries, columns the encoder's keys: the image is that head's cross map
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), ex.cross_attentions[1, 2], atol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ex.decoder_display_tokens
    assert [t.get_text() for t in ax.get_xticklabels()] == ex.display_tokens


@pytest.mark.parametrize("extra, message", [
    (["--layer", "7"], "layer 7 is out of range (--layer)"),
    (["--head", "median"], "'mean' or 'max'"),
    (["--example", "3"], "--example 3 is out of range"),
    (["--kind", "cross"], "no decoder"),
])
def test_bad_input_fails_with_one_line(bert_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "x.png"
    assert main(["plot", "--model", str(bert_dir), "--text", "the cat", "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[0] and err[0].startswith("attnviz plot: error:")
    assert not out.exists()


def test_bad_extension_fails_before_loading_a_model(tmp_path, capsys):
    assert main(["plot", "--model", "/no/such/model", "--text", "x", "--out", str(tmp_path / "x.gif")]) == 1
    assert "use .png, .pdf or .svg" in capsys.readouterr().err


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "--help"])
    assert exit_info.value.code == 0
    assert "attnviz plot --text" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "--text", "x", "--grid", "--hidden", "--out", "x.png"])
    assert exit_info.value.code == 2
