"""What the gallery's tiny trained models (tiny_gpt2.py, tiny_seq2seq.py, tiny_vit.py) share: training on
one torch thread, the atomic save of model + tokenizer + ``training.json``, and the demo's command line.

The scripts import it beside themselves (``python gallery/tiny_gpt2.py`` puts gallery/ first on sys.path;
imported another way, they add it themselves).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside the block (tiny matrices: one thread is fastest, and on a busy 2-core
    machine several fight: two were measured ~10x slower per step); the thread count is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def word_tokenizer(words: Sequence[str], specials: Sequence[str], *, template: str, bos: str, eos: str,
                   max_length: int) -> Any:
    """A word-level fast tokenizer: ids ``specials`` then ``words``, texts split on white space and wrapped
    by ``template`` (tokenizers' TemplateProcessing ``single``, e.g. ``"<s> $A </s>"``); ``<pad>`` and
    ``<unk>`` must be among ``specials``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate((*specials, *words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, vocab[t]) for t in template.split() if t in vocab])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos,
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=max_length)


def save_trained(model: Any, tok: Any, out: Path, log: dict) -> Path:
    """Model, tokenizer and ``training.json`` (``log``) written beside ``out`` and moved into place (a
    failure leaves no half-written model); returns ``out``."""
    from attnviz.atomic import atomic_folder, atomic_write_text

    with atomic_folder(out) as staging:
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        atomic_write_text(staging / "training.json", json.dumps(log, indent=2) + "\n")
    return out


def demo_arguments(doc: str, argv: list[str] | None, *, out: str, seconds: float) -> argparse.Namespace:
    """The demo's command line ``--out DIR --seconds S --seed N`` (described by the first paragraph of
    ``doc``), parsed from ``argv``; ``out`` and ``seconds`` are the defaults."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(out), help="output folder")
    parser.add_argument("--seconds", type=float, default=seconds, help="training budget in seconds")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)
