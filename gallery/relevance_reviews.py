"""MiniLM fine-tuned on the shipped reviews: Chefer et al.'s relevance vs raw attention vs rollout.

For every validation review, each method ranks the tokens (special tokens left out) for the
predicted label: ``relevance(method="chefer")``'s [CLS] row, the last layer's head-mean
attention of [CLS], and attention rollout's [CLS] row (Abnar & Zuidema 2020). The measure is the
share of each method's top-3 tokens that are sentiment words (``attnviz/data/sentiment_words.txt``).

Run:  python gallery/relevance_reviews.py [--out gallery]   (fine-tunes once, ~2 epochs, cached)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import attnviz
from attnviz.data import load_reviews, load_sentiment_words

HERE = Path(__file__).resolve().parent
#: The fine-tuned checkpoint is kept here between runs (override with ATTNVIZ_GALLERY_CACHE).
CACHE = Path(os.environ.get("ATTNVIZ_GALLERY_CACHE", Path.home() / ".cache" / "attnviz" / "gallery"))
EPOCHS = 2
METHODS = ("chefer relevance", "attention ([CLS], last layer)", "rollout ([CLS])")


def fine_tuned(cache: Path | None = None, *, epochs: int = EPOCHS) -> Path:
    """The best checkpoint of MiniLM fine-tuned on the shipped reviews (made once in ``cache``, default
    :data:`CACHE`, then reused)."""
    run = (CACHE if cache is None else Path(cache)) / f"minilm-reviews-e{epochs}"
    done = run / "BEST"
    if done.is_file() and Path(done.read_text().strip()).is_dir():
        return Path(done.read_text().strip())
    result = attnviz.finetune(str(attnviz.modeling.default_model_path()), load_reviews(), run, epochs=epochs,
                              max_length=64, disable_tqdm=True)
    print(f"  fine-tuned: {result.metrics[-1]}")
    done.write_text(str(result.best_checkpoint))
    return Path(result.best_checkpoint)


def top_tokens(scores: np.ndarray, tokens: list[str], special: list[bool], n: int = 3) -> list[str]:
    """The ``n`` highest-scoring non-special tokens, highest first."""
    order = [int(i) for i in np.argsort(-np.asarray(scores), kind="stable") if not special[i]]
    return [tokens[i] for i in order[:n]]


def method_scores(checkpoint: Path, texts: list[str]) -> dict:
    """Per text: tokens, special mask and one score per token for each of the three methods."""
    from attnviz.metrics import relevance, rollout

    model, tok = attnviz.modeling.load_model(checkpoint)
    rel = relevance(model, texts, tokenizer=tok, method="chefer", batch_size=16)
    cap = attnviz.extract(model, texts, hidden_states=False, tokenizer=tok)
    out = []
    for i in range(len(texts)):
        ex = cap[i]
        assert ex.display_tokens == rel.tokens[i], "relevance and extract tokenised differently"
        out.append({"tokens": rel.tokens[i], "special": list(ex.special_mask), "label": rel.target_names[i],
                    METHODS[0]: rel.scores[i], METHODS[1]: ex.attentions[-1].mean(0)[0].astype(np.float64),
                    METHODS[2]: rollout(cap, example=i).matrix[0]})
    return {"texts": out, "relevance": rel}


def shares(per_text: list[dict], words: set[str], n: int = 3) -> dict[str, float]:
    """Per method: the share of its top-n tokens (over all texts) that are sentiment words; with
    ``chance`` (n tokens drawn at random from each text's non-special tokens) and ``ceiling`` (the best
    any ranking could do: min(n, sentiment words in the text) / n)."""
    result = {}
    real = [[w for w, s in zip(t["tokens"], t["special"], strict=True) if not s] for t in per_text]
    hits_per_text = [sum(w.lower() in words for w in r) for r in real]
    result["chance"] = float(np.mean([h / max(len(r), 1) for h, r in zip(hits_per_text, real, strict=True)]))
    result["ceiling"] = float(np.mean([min(n, h) / n for h in hits_per_text]))
    for method in METHODS:
        hits = total = 0
        for t in per_text:
            top = top_tokens(t[method], t["tokens"], t["special"], n)
            hits += sum(w.lower() in words for w in top)
            total += len(top)
        result[method] = hits / max(total, 1)
    return result


def figure(per_text: list[dict], measured: dict[str, float], example: int, n_texts: int):
    """One review's three strips, each labelled with its method's share over all reviews."""
    t = per_text[example]
    notes = {m: f"top-3 sentiment words: {measured[m]:.0%}" for m in METHODS}
    keep = [i for i, s in enumerate(t["special"]) if not s]
    rows = {m: np.asarray(t[m])[keep] for m in METHODS}
    return attnviz.plot.side_by_side(rows, [t["tokens"][i] for i in keep], notes=notes,
                                     title=f"MiniLM fine-tuned on the reviews: shares over {n_texts} reviews\n"
                                           f"(chance {measured['chance']:.0%}, best possible "
                                           f"{measured['ceiling']:.0%}); one review,\npredicted "
                                           f"{t['label']!r}, each row scaled to its max")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--example", type=int, default=1, help="the validation review drawn")
    args = parser.parse_args(argv)
    checkpoint = fine_tuned()
    texts = list(load_reviews()["validation"]["text"])
    data = method_scores(checkpoint, texts)
    measured = shares(data["texts"], load_sentiment_words())
    for m, v in measured.items():
        print(f"  {m}: {v:.3f} of top-3 tokens are sentiment words")
    print(f"  fine-tuned checkpoint: {checkpoint}")
    view = figure(data["texts"], measured, args.example, len(texts))
    path = attnviz.save_figure(view, args.out / "minilm_relevance.png", width="page", dpi=150)
    print(f"  wrote {path}")
    return measured


if __name__ == "__main__":
    sys.exit(main() and 0)
