"""A tiny GPT-2 that learns an induction circuit in under a minute, and its attention.

The task: sequences ``<bos> p1 .. pm x1 .. xk x1 .. xk`` of distinct random words, with a
random prefix (m = 0..4), a random repeat length k = 2..16 per batch and a random start
position per sequence, so neither absolute position nor a fixed offset finds the earlier
copy. The second half can only be predicted by finding the earlier occurrence of the
current word and copying the word after it, which 2-layer transformers learn with an
*induction circuit* (Olsson et al. 2022): a previous-token head in layer 0 writes "the
word before me" into each position, and an induction head in layer 1 attends from the
current word to the position right after its earlier occurrence (offset k - 1).

The model is attention-only (its MLPs are zeroed and frozen, ``n_inner=1``), 2 layers x
4 heads, width 64, learned positions, *untied* input/output embeddings, trained with
AdamW (lr 1e-3, batch 32) on the loss of the repeated half. Two choices matter (measured):
with tied embeddings every run we tried solved the task with strided heads instead
(layer 0 looking back 2-5 positions, layer 1 composing them), and with untied ones but
repeats of k >= 4 one seed of three still did; repeats as short as k = 2 penalise
look-backs longer than the repeat.

What it learns on a busy 2-core CPU (measured, 16 held-out sequences): seed 0 stops
after 2899 steps / 24 s with copy loss 3.79 -> 0.0009; the loss drops sharply after
~1000 steps (the induction "phase change"). Layer-0 heads 0 and 1 attend to the previous
token (scores 0.87, 0.93) and layer-1 heads 0, 2, 3 attend to the token after the
earlier occurrence (induction scores 0.96, 0.83, 0.99). Seeds 1-3 reach both structures
too (best previous-token 0.69-0.94, best induction 0.96-0.99, in 26-49 s).
:func:`induction_scores` measures both; the figures show the diagonal just below the
main one (layer 0) and the induction stripe k - 1 below it (layer 1).

Run ``python gallery/tiny_gpt2.py --out /tmp/gen_demo``: it trains the model (saved
with a word-level tokenizer, so ``attnviz.load_model(path)`` works), prints the
previous-token and induction score of every head on held-out sequences, lets the model
continue a repeated prompt with :func:`attnviz.extract_generation` and writes the
layer x head grid and two heads' heatmaps, with the prompt/generated boundary drawn.

Example:
    >>> import tempfile
    >>> path = train_induction_model(tempfile.mkdtemp(), seconds_budget=1)  # doctest: +SKIP
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

from attnviz.metrics.roles import induction_keys

WORDS = ("cat dog sun red blue tree fish bird moon star rock leaf rain snow wind fire "
         "milk salt gold iron rose lake hill road boat ship door lamp book ring bell coin "
         "corn wolf bear frog kite drum lime pine").split()
SPECIALS = ("<pad>", "<unk>", "<bos>")
MIN_K, MAX_K = 2, 16  # k = 2 and 3 rule out strided shortcuts (look-backs longer than k)
MAX_PREFIX = 4  # random distinct words before the repeated block
BATCH, LR = 32, 1e-3
POSITIONS = 48  # > 1 + MAX_PREFIX + 2 * MAX_K: sequences start at a random position while training
STOP_LOSS = 0.001  # stop early once the mean copy loss of the last 50 steps is below this


def build_tokenizer():
    """A word-level tokenizer over :data:`WORDS` that puts ``<bos>`` first.

    Example:
        >>> tok = build_tokenizer()
        >>> tok.convert_ids_to_tokens(tok("cat dog cat")["input_ids"])
        ['<bos>', 'cat', 'dog', 'cat']
    """
    return word_tokenizer(WORDS, SPECIALS, template="<bos> $A", bos="<bos>", eos="<bos>", max_length=POSITIONS)


def build_model(tokenizer: Any, seed: int = 0):
    """A 2-layer, 4-head, attention-only GPT-2 (width 64, untied embeddings), random weights.

    The MLPs are zeroed and frozen (``n_inner=1``), so each block only adds its
    attention output to the residual stream; the saved model is a plain GPT-2.

    Example:
        >>> model = build_model(build_tokenizer())
        >>> model.config.n_layer, float(model.transformer.h[0].mlp.c_fc.weight.abs().sum())
        (2, 0.0)
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_inner=1,
                     n_positions=POSITIONS, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
                     eos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    for block in model.transformer.h:
        for weight in block.mlp.parameters():
            torch.nn.init.zeros_(weight)
            weight.requires_grad_(False)
    return model


def repeated_batch(generator: Any, batch: int, k: int, bos: int, first_word: int, prefix: int = 0) -> Any:
    """``batch`` sequences ``<bos> p1..p_prefix x1..xk x1..xk`` of distinct random word ids.

    The words of a sequence are distinct, so each word of the repeat has exactly one
    earlier occurrence to look back at. Returns a torch tensor (batch, 1 + prefix + 2k).

    Example:
        >>> import torch
        >>> ids = repeated_batch(torch.Generator().manual_seed(0), 2, 3, 2, 3, prefix=1)
        >>> ids.shape, bool((ids[:, 2:5] == ids[:, 5:8]).all())
        (torch.Size([2, 8]), True)
    """
    import torch

    if prefix + k > len(WORDS):
        raise ValueError(f"prefix + k = {prefix + k} distinct words asked for but only {len(WORDS)} exist: "
                         f"use prefix + k <= {len(WORDS)}")
    words = torch.rand(batch, len(WORDS), generator=generator).argsort(dim=1)[:, :prefix + k] + first_word
    return torch.cat([torch.full((batch, 1), bos), words, words[:, prefix:]], dim=1)


def train_induction_model(out_dir: str | os.PathLike, *, seconds_budget: float = 60, seed: int = 0) -> Path:
    """Train the tiny GPT-2 on repeated random sequences; save model + tokenizer to ``out_dir``.

    Trains until ``seconds_budget`` is spent (or the copy loss is below
    :data:`STOP_LOSS`), then
    saves the model, the tokenizer and ``training.json`` (steps, seconds, the loss on
    the repeated half at the start and the end). The folder is written beside and
    moved into place, so a failure leaves no half-written model.

    Example:
        >>> import tempfile, attnviz
        >>> path = train_induction_model(tempfile.mkdtemp(), seconds_budget=0.5)  # doctest: +SKIP
        >>> attnviz.load_model(path)[0].config.n_layer  # doctest: +SKIP
        2
    """
    import torch

    tok = build_tokenizer()
    model = build_model(tok, seed)
    gen = torch.Generator().manual_seed(seed)
    bos, first = tok.bos_token_id, len(SPECIALS)
    trained = [w for w in model.parameters() if w.requires_grad]
    opt = torch.optim.AdamW(trained, lr=LR, weight_decay=0.01)
    model.train()
    with one_thread():
        steps, losses, seconds = _train_loop(model, opt, gen, bos, first, seconds_budget)
    model.eval()
    log = {"steps": steps, "seconds": round(seconds, 2),
           "initial_copy_loss": losses[0], "final_copy_loss": float(np.mean(losses[-10:])),
           "chance_loss": float(np.log(len(WORDS))), "seed": seed}
    return save_trained(model, tok, Path(out_dir), log)


def _train_loop(model: Any, opt: Any, gen: Any, bos: int, first: int, budget: float) -> tuple[int, list[float], float]:
    import torch

    start, steps, losses = time.perf_counter(), 0, []
    while time.perf_counter() - start < budget or steps == 0:
        k = int(torch.randint(MIN_K, MAX_K + 1, (1,), generator=gen))
        prefix = int(torch.randint(0, MAX_PREFIX + 1, (1,), generator=gen))
        ids = repeated_batch(gen, BATCH, k, bos, first, prefix)
        # a random start position per sequence, so that position says nothing about where the
        # repeat begins: the model has to find the earlier occurrence by content (induction)
        shift = torch.randint(0, POSITIONS - ids.shape[1] + 1, (ids.shape[0], 1), generator=gen)
        logits = model(input_ids=ids, position_ids=torch.arange(ids.shape[1]) + shift).logits
        copy = logits[:, -k:-1]  # predictions of x2..xk in the repeated half
        loss = torch.nn.functional.cross_entropy(copy.reshape(-1, copy.shape[-1]), ids[:, 1 - k:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        losses.append(loss.item())
        if len(losses) > 50 and np.mean(losses[-50:]) < STOP_LOSS:
            break
    return steps, losses, time.perf_counter() - start


def induction_scores(capture: Any, example: int | None = None) -> dict[str, np.ndarray]:
    """Previous-token and induction score of every head, each a (layer, head) array.

    Previous-token score: mean over queries i >= 1 of A[i, i-1] (stride 1). Induction
    score: over queries whose token occurred before (last at j < i - 1), the mean of
    A[i, j + 1], the weight on the token that followed the earlier occurrence (Olsson et
    al. 2022). Both are averaged over all examples of ``capture`` (or one ``example``).
    Uniform attention over n keys scores about 1/n on both. Read the previous-token
    score of layer 0 and the induction score of layer 1.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2")
        >>> cap = attnviz.extract(model, ["the cat the cat", "a b c a b"], tokenizer=tok)
        >>> induction_scores(cap)["induction"].shape
        (2, 4)
    """
    indices = range(len(capture)) if example is None else [example]
    scores = [_example_scores(capture[i]) for i in indices]
    return {name: np.mean([s[name] for s in scores], axis=0) for name in ("previous_token", "induction")}


def _example_scores(ex: Any) -> dict[str, np.ndarray]:
    att, tokens = ex.attentions.astype(np.float64), ex.tokens
    n = len(tokens)
    prev = att[:, :, np.arange(1, n), np.arange(n - 1)].mean(axis=-1)
    keys = induction_keys(tokens)  # attnviz's built-in ``induction`` statistic uses the same keys
    queries = np.flatnonzero(keys >= 0)
    keys = keys[queries]
    if not len(queries):
        raise ValueError(f"no token repeats in {ex.text or tokens!r}, so there is no induction score: "
                         "use texts with a repeated sequence, e.g. 'a b c a b c'")
    return {"previous_token": prev, "induction": att[:, :, queries, keys].mean(axis=-1)}


def held_out_texts(count: int = 16, seed: int = 100) -> list[str]:
    """Sequences like the training ones (random prefix, k = 4..16, then the repeat), as texts.

    Example:
        >>> words = held_out_texts(1)[0].split()
        >>> len(words) >= 8 and words[-1] in words[:-1]
        True
    """
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        k, prefix = int(rng.integers(4, MAX_K + 1)), int(rng.integers(0, MAX_PREFIX + 1))
        words = [WORDS[i] for i in rng.permutation(len(WORDS))[:prefix + k]]
        texts.append(" ".join(words + words[prefix:]))
    return texts


def repeated_prompt(k: int = 12, shown: int = 4, seed: int = 1) -> str:
    """A prompt of k distinct random words followed by the first ``shown`` of them again.

    Example:
        >>> len(repeated_prompt(5, 2).split())
        7
    """
    rng = np.random.default_rng(seed)
    words = [WORDS[i] for i in rng.permutation(len(WORDS))[:k]]
    return " ".join(words + words[:shown])


def copy_accuracy(model: Any, tok: Any, texts: list[str], heads: list[tuple[int, int]] = ()) -> float:
    """Teacher-forced accuracy on the repeat, with the induction edge blocked in ``heads``.

    Scored are the queries i whose token occurred before (at p < i - 1) and whose next token
    continues the copy; the blocked edge of each is (i, p + 1), the token after the earlier
    occurrence (what an induction head attends to), in each (layer, head) of ``heads``. Every
    text gets its own edges in one padded batch (:func:`attnviz.extraction.intervene.intervene_rows`).

    Example:
        >>> tok = build_tokenizer()
        >>> untrained = build_model(tok).eval()
        >>> copy_accuracy(untrained, tok, held_out_texts(2), heads=[(1, 0)]) < 0.5
        True
    """
    import torch

    from attnviz.extraction.intervene import RowEdits, intervene_rows

    encoded = [tok(t)["input_ids"] for t in texts]
    width = max(map(len, encoded))
    ids = torch.full((len(texts), width), tok.pad_token_id)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    edits, scored = [], []
    for r, row in enumerate(encoded):
        ids[r, :len(row)], mask[r, :len(row)] = torch.tensor(row), 1
        keys = induction_keys([str(x) for x in row])
        queries = [int(i) for i in np.flatnonzero(keys >= 0) if i + 1 < len(row)]
        scored.append(queries)
        edges = [(i, int(keys[i])) for i in queries]
        edits.append(RowEdits(rows=[r], block={(layer, head): edges for layer, head in heads}))
    with torch.no_grad(), intervene_rows(model, edits):
        predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    hits = [int(predicted[r, i] == ids[r, i + 1]) for r, queries in enumerate(scored) for i in queries]
    return float(np.mean(hits))


def knockout_accuracies(model: Any, tok: Any, texts: list[str], scores: dict[str, np.ndarray],
                        seed: int = 0) -> dict[str, Any]:
    """Copy accuracy plain, with the induction edge blocked in layer 1's best induction head, in every
    induction head of layer 1 (score > 0.5), and in a random non-induction head of layer 1.

    Returns the accuracies by name, the heads of each and the chance level (1 / words).
    """
    induction = scores["induction"][1]
    best = int(np.argmax(induction))
    strong = [int(h) for h in np.flatnonzero(induction > 0.5)] or [best]
    others = [h for h in range(len(induction)) if h not in strong]
    rng = np.random.default_rng(seed)
    random_head = int(rng.choice(others)) if others else int(rng.integers(len(induction)))
    heads = {"plain": [], f"L1H{best} (best induction)": [(1, best)],
             "L1H" + "+".join(str(h) for h in strong) + " (all induction)": [(1, h) for h in strong],
             f"L1H{random_head} (random other)": [(1, random_head)]}
    accuracy = {name: copy_accuracy(model, tok, texts, chosen) for name, chosen in heads.items()}
    return {"accuracy": accuracy, "heads": heads, "chance": 1.0 / len(WORDS), "texts": len(texts)}


def knockout_figure(result: dict[str, Any], *, ax: Any = None) -> Any:
    """Bars of :func:`knockout_accuracies` (numbers on the bars, chance dashed); returns the Axes."""
    from attnviz.plot.causal import bars

    names = {n: n.replace(" (", "\n(") for n in result["accuracy"]}
    return bars({names[n]: v for n, v in result["accuracy"].items()}, ax=ax, reference=result["chance"],
                reference_label=f"chance (1 / {len(WORDS)} words)", ylabel="copy accuracy (teacher-forced)",
                title=f"trained tiny GPT-2, {result.get('texts', '')} held-out repeats: the induction edge\n"
                      "(query -> token after its earlier occurrence) blocked in layer-1 heads")


def _print_scores(title: str, scores: dict[str, np.ndarray]) -> None:
    print(title)
    for name, table in scores.items():
        rows = "  ".join(f"L{l}: " + " ".join(f"{v:.2f}" for v in table[l]) for l in range(table.shape[0]))
        print(f"  {name:>14} (heads 0..{table.shape[1] - 1})  {rows}")


def demo(out: Path, seconds: float, seed: int) -> dict[str, Any]:
    """Train, score, generate and write the figures into ``out``; return what was measured."""
    import attnviz

    out.mkdir(parents=True, exist_ok=True)
    path = train_induction_model(out / "model", seconds_budget=seconds, seed=seed)
    log = json.loads((path / "training.json").read_text())
    print(f"trained {log['steps']} steps in {log['seconds']} s: copy loss {log['initial_copy_loss']:.3f} -> "
          f"{log['final_copy_loss']:.4f} (chance {log['chance_loss']:.3f})")
    model, tok = attnviz.load_model(path)
    texts = held_out_texts(16)
    mean = induction_scores(attnviz.extract(model, texts, tokenizer=tok))
    _print_scores(f"teacher-forced scores on {len(texts)} held-out repeated sequences (k = 4..16):", mean)
    prompt = repeated_prompt(12, 4, seed=seed + 1)
    cap = attnviz.extract_generation(model, prompt, max_new_tokens=8, min_new_tokens=8, tokenizer=tok)
    ex = cap[0]
    expected = " ".join(prompt.split()[4:12])
    print(f"prompt:    {prompt}\ngenerated: {ex.decoder_text}\nexpected:  {expected}")
    gen_scores = induction_scores(cap)
    _print_scores("scores on the generated sequence:", gen_scores)
    files = _figures(cap, out, mean)
    knocked = knockout_accuracies(model, tok, texts, mean, seed=seed)
    print("copy accuracy with the induction edge knocked out: " +
          ", ".join(f"{n}: {v:.3f}" for n, v in knocked["accuracy"].items()) + f" (chance {knocked['chance']:.3f})")
    ax = knockout_figure(knocked)
    files.append(attnviz.save_figure(ax.figure, out / "knockout.png"))
    for f in files:
        print(f"wrote {f}")
    return {"training": log, "scores": mean, "generated": ex.decoder_text, "expected": expected, "files": files}


def _figures(cap: Any, out: Path, scores: dict[str, np.ndarray]) -> list[Path]:
    import attnviz

    induction_head = int(np.argmax(scores["induction"][1]))
    previous_head = int(np.argmax(scores["previous_token"][0]))
    grid = attnviz.plot.head_grid(cap, title="tiny GPT-2 copying")
    files = [attnviz.save_figure(grid, out / "grid.png")]
    for layer, head, what in ((1, induction_head, "induction"), (0, previous_head, "previous-token")):
        ax = attnviz.plot.token_heatmap(cap, layer=layer, head=head,
                                        title=f"layer {layer}, head {head} ({what} head)")
        files.append(attnviz.save_figure(ax.figure, out / f"heatmap_L{layer}_H{head}.png"))
    return files


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python gallery/tiny_gpt2.py --out DIR [--seconds S] [--seed N]``."""
    args = demo_arguments(__doc__, argv, out="gallery/out/tiny_gpt2", seconds=60)
    demo(args.out, args.seconds, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
