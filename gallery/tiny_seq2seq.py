"""A tiny BART trained in under a minute to reverse word sequences, and its cross-attention.

No pretrained encoder-decoder is available offline, and a random tiny BART or T5 only
shows noise. This script trains one itself: a 2+2-layer, 4-head BART (d_model 64,
learned positions) with a word-level vocabulary, on a synthetic task whose alignment is
known: the target is the source words in reverse order (4 to 10 distinct words). A
decoder that reverses must look at source word ``n + 1 - i`` to write target word ``i``,
so its cross-attention should draw an *anti-diagonal*; :func:`alignment_score` measures
how much of it does.

What it learns (measured on the 2-core CPU, seed 0, 45 s budget): 2955 steps in 39 s
(stopped early at loss 0.001, from 4.1; chance 3.6), greedy exact match 1.000 on 256
held-out sequences, and decoder layer 1 puts 0.66 of its head-averaged cross-attention
on the source word being predicted (uniform: 0.12); three of its four heads draw a
sharp anti-diagonal, the fourth a blurred one. Layer 0 mostly looks at the last source
words (alignment 0.13). Getting past the loss plateau needs about 650-1050 steps
(seeds 0-6); with BART's default initialisation (embeddings of std 0.02, random
positions) it does not happen within a minute, hence :data:`EMBED_STD` and
:data:`POSITION_SCALE`. On a busy machine 45 s may give fewer steps: check
``exact_match`` in ``training.json`` and raise ``--seconds`` if it is low.

Run ``python gallery/tiny_seq2seq.py --out /tmp/s2s``: it trains the model (saved with its
tokenizer, so ``attnviz.load_model(path)`` loads both, plus ``training.json``), prints
the exact-match accuracy on held-out sequences and the per-layer alignment, lets the
model reverse a held-out sequence with :func:`attnviz.extract_generation`, and writes
``cross_attention.png`` (the best-aligned decoder layer, heads averaged) and
``cross_grid.png`` (every decoder layer x head).

Example:
    >>> import tempfile
    >>> path = train_reversal_model(tempfile.mkdtemp(), seconds_budget=1)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _training beside this script, however it is imported
from _training import demo_arguments, one_thread, save_trained, word_tokenizer  # noqa: E402

WORDS = ("cat dog sun red blue tree fish bird moon star rock leaf rain snow wind fire milk salt "
         "gold iron rose lake hill road boat ship door lamp book ring bell coin frog wolf bear corn").split()
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # BART's ids: bos 0, pad 1, eos 2, unk 3
MIN_N, MAX_N = 4, 10
BATCH, LR, WARMUP = 32, 1e-3, 100
POSITIONS = 16  # > MAX_N + 2 (<s> ... </s>)
HELD_OUT = 256
# Initialisation that gets past the loss plateau within a minute (measured, see the module doc):
EMBED_STD = 0.125  # word embeddings ~ d_model ** -0.5 (BART's 0.02 makes the tied logits tiny)
POSITION_SCALE = 1.0  # the learned position tables start as scaled sinusoids
STOP_LOSS = 1e-3  # stop early when the mean loss of the last 50 steps is below this


def build_tokenizer():
    """A word-level tokenizer over :data:`WORDS` that wraps every text in ``<s> ... </s>`` like BART.

    Example:
        >>> tok = build_tokenizer()
        >>> tok.convert_ids_to_tokens(tok("cat dog")["input_ids"])
        ['<s>', 'cat', 'dog', '</s>']
    """
    return word_tokenizer(WORDS, SPECIALS, template="<s> $A </s>", bos="<s>", eos="</s>", max_length=POSITIONS)


def build_model(tokenizer: Any, seed: int = 0):
    """A 2+2-layer, 4-head BartForConditionalGeneration (d_model 64) with random weights, no dropout.

    Example:
        >>> model = build_model(build_tokenizer())
        >>> model.config.encoder_layers, model.config.decoder_layers, model.config.d_model
        (2, 2, 64)
    """
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    ids = {"bos_token_id": tokenizer.bos_token_id, "pad_token_id": tokenizer.pad_token_id,
           "eos_token_id": tokenizer.eos_token_id}
    cfg = BartConfig(vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2,
                     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                     decoder_ffn_dim=128, max_position_embeddings=POSITIONS, dropout=0.0,
                     attention_dropout=0.0, activation_dropout=0.0, **ids,
                     decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=None)
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(cfg)
    with torch.no_grad():
        model.model.shared.weight.normal_(0.0, EMBED_STD)
        for table in (model.model.encoder.embed_positions, model.model.decoder.embed_positions):
            table.weight.copy_(POSITION_SCALE * sinusoids(*table.weight.shape))
    gen = model.generation_config
    gen.decoder_start_token_id, gen.bos_token_id = tokenizer.eos_token_id, tokenizer.bos_token_id
    gen.eos_token_id, gen.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    gen.forced_bos_token_id = gen.forced_eos_token_id = None
    gen.num_beams, gen.max_length = 1, POSITIONS
    return model


def sinusoids(positions: int, width: int) -> Any:
    """Sinusoidal position codes (Vaswani et al. 2017), a (positions, width) tensor.

    Starting the learned position tables from them makes "attend to the neighbouring
    position" easy early in training, which the reversal circuit needs.

    Example:
        >>> sinusoids(4, 6).shape
        torch.Size([4, 6])
    """
    import torch

    pos = torch.arange(positions, dtype=torch.float32)[:, None]
    freq = torch.exp(-np.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float32) / width)
    table = torch.zeros(positions, width)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


def held_out_sources(count: int = HELD_OUT, seed: int = 10_000) -> list[str]:
    """Source texts kept out of training: 4..10 distinct words each, for accuracy and figures.

    Example:
        >>> held_out_sources(3)[0].count(" ") + 1 >= 4
        True
    """
    rng = np.random.default_rng(seed)
    lengths = (int(rng.integers(MIN_N, MAX_N + 1)) for _ in range(count))  # drawn before each permutation
    return [" ".join(WORDS[i] for i in rng.permutation(len(WORDS))[:n]) for n in lengths]


def reverse_text(source: str) -> str:
    """The target of the task: the source words in reverse order.

    Example:
        >>> reverse_text("cat dog sun")
        'sun dog cat'
    """
    return " ".join(reversed(source.split()))


def reversal_batch(rng: np.random.Generator, batch: int, n: int, first_word: int,
                   exclude: set[tuple[int, ...]] = frozenset()) -> np.ndarray:
    """``batch`` rows of ``n`` distinct random word ids, none of them a row in ``exclude``.

    Example:
        >>> reversal_batch(np.random.default_rng(0), 2, 4, first_word=4).shape
        (2, 4)
    """
    rows = []
    while len(rows) < batch:
        row = tuple(int(i) + first_word for i in rng.permutation(len(WORDS))[:n])
        if row not in exclude:
            rows.append(row)
    return np.array(rows, dtype=np.int64)


def train_reversal_model(out_dir: str | os.PathLike, *, seconds_budget: float = 45, seed: int = 0) -> Path:
    """Train the tiny BART to reverse word sequences; save model, tokenizer and training.json.

    Trains with AdamW on batches of one random length (4..10 words, so no padding) until
    ``seconds_budget`` is spent (or the loss is below :data:`STOP_LOSS`), on one torch
    thread (the previous thread count is restored). ``training.json`` records the steps, seconds, initial and final loss and
    the greedy exact-match accuracy on :func:`held_out_sources` (never trained on). The
    folder is written beside ``out_dir`` and moved into place, so a failure leaves no
    half-written model.

    Example:
        >>> import tempfile, attnviz
        >>> path = train_reversal_model(tempfile.mkdtemp(), seconds_budget=0.5)  # doctest: +SKIP
        >>> attnviz.load_model(path)[0].config.decoder_layers  # doctest: +SKIP
        2
    """
    import torch

    if seconds_budget <= 0:
        raise ValueError(f"seconds_budget={seconds_budget!r}: give a positive number of seconds, e.g. 45")
    tok = build_tokenizer()
    model = build_model(tok, seed)
    held_out = held_out_sources()
    exclude = {tuple(tok.convert_tokens_to_ids(s.split())) for s in held_out}
    with one_thread():
        torch.manual_seed(seed)
        steps, losses, seconds = _train_loop(model, tok, np.random.default_rng(seed), exclude, seconds_budget)
        model.eval()
        accuracy = exact_match(model, tok, held_out)
    log = {"steps": steps, "seconds": round(seconds, 2), "initial_loss": losses[0],
           "final_loss": float(np.mean(losses[-10:])), "chance_loss": float(np.log(len(WORDS))),
           "exact_match": accuracy, "held_out": len(held_out), "batch": BATCH, "seed": seed}
    return save_trained(model, tok, Path(out_dir), log)


def _train_loop(model: Any, tok: Any, rng: np.random.Generator, exclude: set, budget: float):
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01, fused=True)  # fused: ~20% faster steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP))
    bos, eos, first = tok.bos_token_id, tok.eos_token_id, len(SPECIALS)
    model.train()
    start, steps, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < budget or steps == 0:
        words = reversal_batch(rng, BATCH, int(rng.integers(MIN_N, MAX_N + 1)), first, exclude)
        edge = np.ones((BATCH, 1), dtype=np.int64)
        source = torch.from_numpy(np.hstack([edge * bos, words, edge * eos]))
        labels = torch.from_numpy(np.hstack([edge * bos, words[:, ::-1], edge * eos]))
        loss = model(input_ids=source, labels=labels).loss  # BART shifts labels right after </s>
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        steps += 1
        losses.append(loss.item())
        if len(losses) >= 50 and np.mean(losses[-50:]) < STOP_LOSS:
            break
    return steps, losses, time.perf_counter() - start


def exact_match(model: Any, tokenizer: Any, sources: list[str]) -> float:
    """Share of ``sources`` whose greedy generation is exactly their reversal.

    Sources of one length are generated as one batch (no padding needed).

    Example:
        >>> tok = build_tokenizer()
        >>> 0.0 <= exact_match(build_model(tok), tok, ["cat dog sun moon"]) <= 1.0
        True
    """
    import torch

    by_length: dict[int, list[str]] = {}
    for s in sources:
        by_length.setdefault(len(s.split()), []).append(s)
    right = 0
    with torch.no_grad():
        for n, group in by_length.items():
            ids = torch.tensor(tokenizer(group)["input_ids"])
            out = model.generate(input_ids=ids, max_new_tokens=n + 3, num_beams=1, do_sample=False)
            texts = tokenizer.batch_decode(out, skip_special_tokens=True)
            right += sum(t.split() == reverse_text(s).split() for t, s in zip(texts, group, strict=True))
    return right / len(sources)


def alignment_pairs(example: Any, *, target: str = "predicted") -> list[tuple[int, int]]:
    """(decoder query, encoder key) pairs of the reversal alignment in one example.

    ``target="predicted"``: each decoder row is paired with the source position of the
    word it *predicts* (the next decoder token); ``"input"``: with the source position of
    the word it *reads* (its own token). Rows whose word is special, missing from the
    source or repeated there are skipped.

    Example:
        >>> from attnviz.capture import Example
        >>> ex = Example(tokens=["<s>", "a", "b", "</s>"], decoder_tokens=["</s>", "<s>", "b", "a"])
        >>> alignment_pairs(ex), alignment_pairs(ex, target="input")
        ([(1, 2), (2, 1)], [(2, 2), (3, 1)])
    """
    if target not in ("predicted", "input"):
        raise ValueError(f"target={target!r}: use 'predicted' (the word a row predicts) or 'input' (its own word)")
    if example.decoder_tokens is None:
        raise ValueError("this example has no decoder side: extract with decoder_texts= or use extract_generation")
    src, dec = example.tokens, example.decoder_tokens
    special = set(SPECIALS)
    where = {t: j for j, t in enumerate(src) if src.count(t) == 1 and t not in special}
    shift = 1 if target == "predicted" else 0
    return [(q, where[dec[q + shift]]) for q in range(len(dec) - shift) if dec[q + shift] in where]


def alignment_score(capture: Any, *, target: str = "predicted") -> np.ndarray:
    """Share of cross-attention on the aligned source word, per decoder layer (heads averaged).

    For every decoder row with an aligned source word (see :func:`alignment_pairs`), the
    head-averaged cross-attention weight on that word; averaged over rows and examples.
    An anti-diagonal scores near 1 for a reversal; uniform attention over n source
    tokens scores 1/n.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bart", head="lm")
        >>> cap = attnviz.extract(model, "the cat sat", decoder_texts="sat cat the", tokenizer=tok)
        >>> alignment_score(cap).shape == (cap.num_decoder_layers,)
        True
    """
    rows = []
    for ex in capture:
        cross = ex.attention("cross").astype(np.float64).mean(axis=1)  # (layer, query, key)
        rows += [cross[:, q, j] for q, j in alignment_pairs(ex, target=target)]
    if not rows:
        raise ValueError("no decoder row has an aligned source word: use source/target texts that share "
                         "words (e.g. a source and its reversal)")
    return np.mean(rows, axis=0)


def demo(out: Path, seconds: float, seed: int) -> dict[str, Any]:
    """Train, measure, generate and write the figures into ``out``; return what was measured."""
    import attnviz

    out.mkdir(parents=True, exist_ok=True)
    path = train_reversal_model(out / "model", seconds_budget=seconds, seed=seed)
    log = json.loads((path / "training.json").read_text())
    print(f"trained {log['steps']} steps in {log['seconds']} s: loss {log['initial_loss']:.3f} -> "
          f"{log['final_loss']:.4f} (chance {log['chance_loss']:.3f}); greedy exact match on "
          f"{log['held_out']} held-out sequences: {log['exact_match']:.3f}")
    model, tok = attnviz.load_model(path)
    sources = held_out_sources()[:32]
    scores = {t: alignment_score(attnviz.extract(model, sources, decoder_texts=[reverse_text(s) for s in sources], tokenizer=tok),
                                 target=t) for t in ("predicted", "input")}
    chance = float(np.mean([1 / (len(s.split()) + 2) for s in sources]))
    for t, s in scores.items():
        print(f"alignment ({t} word), 32 held-out, per decoder layer: "
              + " ".join(f"L{l}={v:.3f}" for l, v in enumerate(s)) + f"  (uniform: {chance:.3f})")
    source = held_out_sources()[-1]
    cap = attnviz.extract(model, source, decoder_texts=reverse_text(source), tokenizer=tok)
    gen = attnviz.extract_generation(model, source, max_new_tokens=len(source.split()) + 3, tokenizer=tok)
    generated = gen[0].decoder_text.strip()
    right = generated.split() == reverse_text(source).split()
    print(f"source:    {source}\ngenerated: {generated}\nexpected:  {reverse_text(source)}  "
          f"({'right' if right else 'WRONG'}); alignment of the generation: {_rounded_score(gen)}")
    layer = int(np.argmax(scores["predicted"]))
    files = _figures(cap, out, layer)
    for f in files:
        print(f"wrote {f}")
    return {"training": log, "alignment": scores, "generated": generated, "source": source, "files": files}


def _rounded_score(cap: Any) -> str:
    try:
        return str(np.round(alignment_score(cap), 3).tolist())
    except ValueError:  # the model wrote no word of the source (an undertrained model)
        return "n/a (no source word generated)"


def _figures(cap: Any, out: Path, layer: int) -> list[Path]:
    import attnviz

    with attnviz.paper_theme():
        ax = attnviz.plot.token_heatmap(cap, example=0, layer=layer, head="mean", kind="cross",
                                        title=f"decoder layer {layer}, mean of heads\n"
                                              "(each row reads its word, looks at the next one)")
        ax.set_ylabel("decoder input (query)")
        files = [attnviz.save_figure(ax.figure, out / "cross_attention.png", width="column")]
        grid = attnviz.plot.head_grid(cap, kind="cross", title="tiny BART reversing words: cross-attention")
        files.append(attnviz.save_figure(grid, out / "cross_grid.png", width="page"))
    return files


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python gallery/tiny_seq2seq.py --out DIR [--seconds S] [--seed N]``."""
    args = demo_arguments(__doc__, argv, out="gallery/out/tiny_seq2seq", seconds=45)
    demo(args.out, args.seconds, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
