"""A tiny ViT that learns to tell shapes apart in about a minute on a CPU, and where its [CLS] looks.

The task: 32 x 32 px images of one small shape (circle, square or triangle, random colour) on a
noisy background, labelled by the shape (numpy only, :func:`make_images`). The shape sits inside
one of the 4 x 4 patches, chosen at random, so the model has to find that patch among 15 patches
of noise; colour and place say nothing about the class.

The model is a ``ViTForImageClassification`` of transformers: 8 px patches (a 4 x 4 grid), 2
layers x 4 heads, width 64, trained from scratch with AdamW (lr 1e-3, batch 32) until its
held-out accuracy reaches :data:`TARGET_ACCURACY` or the time budget ends. It is saved with a
``ViTImageProcessor`` (32 px, mean and std 0.5), so ``attnviz.extract(model, images,
processor=processor)`` gives its maps over the image as it saw it. Measured while choosing this
(busy 2-core CPU, one thread): shapes of radius 4-8 px anywhere in the image, with 4 or 8 px
patches and 2-3 layers, stayed at chance (33-39 % held out) for the 400-1200 steps two minutes
allow; a shape inside one patch reaches 87 % after 1,000 steps (60 s).

:func:`object_attention` measures where the [CLS] token looks: per image, the share of the last
layer's [CLS] attention over the patches (mean of the heads, renormalised over the patch keys)
that falls on the object, ``sum_p a_p c_p`` with ``c_p`` the share of patch p the object covers,
against the object's share of the image area (what uniform attention would give). The same for
the [CLS] row of the attention rollout (Abnar & Zuidema 2020). The measured figures are in the
README's image section and in the report of ``python gallery/tiny_vit.py``.

Run ``python gallery/tiny_vit.py --out /tmp/vit_demo``: it trains the model, prints accuracy and
the attention shares on held-out images and writes the figure ``tiny_vit_cls_rollout.png``
(images, [CLS] attention of the last layer, rollout).

Example:
    >>> images, labels, masks = make_images(2, seed=0)
    >>> images.shape, images.dtype, masks.shape
    ((2, 32, 32, 3), dtype('uint8'), (2, 32, 32))
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
from _training import demo_arguments, one_thread  # noqa: E402

SHAPES = ("circle", "square", "triangle")
SIZE, PATCH = 32, 8
BATCH, LR = 32, 1e-3
TARGET_ACCURACY = 0.97
#: The goal of issue #23: [CLS] attention on the object at least this many times its area share.
GOAL = 2.0
#: Standard deviation of the background noise (pixel values in [0, 1]).
NOISE = 0.1
#: Draw each shape inside one patch (a random one); False: anywhere, radius 4-8 px.
INSIDE_PATCH = True


def make_images(count: int, *, seed: int = 0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (n, size, size, 3), labels (n,), object masks float (n, size, size)): one shape each.

    Each image: a random noisy background (per-pixel colour noise around a random grey), one
    shape of a random class, radius 4-8 px, centre anywhere it fits, a random bright colour.

    Example:
        >>> _, labels, masks = make_images(3, seed=1)
        >>> labels.tolist(), bool(((masks > 0).sum((1, 2)) > 20).all())
        ([2, 0, 2], True)
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    images = np.empty((count, size, size, 3), np.float64)
    masks = np.zeros((count, size, size), np.float64)
    labels = rng.integers(0, len(SHAPES), count)
    for i, label in enumerate(labels):
        if INSIDE_PATCH:  # the whole shape inside one patch, somewhere in the grid
            r = rng.uniform(0.3, 0.45) * PATCH
            cy, cx = (rng.integers(0, size // PATCH, 2) + 0.5) * PATCH + rng.uniform(-0.5, 0.5, 2)
        else:
            r = rng.uniform(4.0, 8.0)
            cy, cx = rng.uniform(r + 1, size - r - 1, 2)
        if label == 0:
            mask = (y - cy) ** 2 + (x - cx) ** 2 <= r * r
        elif label == 1:
            side = 0.85 * r
            mask = (np.abs(y - cy) <= side) & (np.abs(x - cx) <= side)
        else:
            mask = (y >= cy - r) & (y <= cy + r) & (np.abs(x - cx) <= (y - (cy - r)) / 2)
        background = rng.uniform(0.2, 0.6) + rng.normal(0, NOISE, (size, size, 3))
        colour = rng.uniform(0.6, 1.0, 3)
        colour[rng.integers(0, 3)] = rng.uniform(0.0, 0.3)  # a saturated colour, never grey
        images[i] = np.where(mask[..., None], colour + rng.normal(0, 0.05, (size, size, 3)), background)
        masks[i] = mask
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8), labels, masks


def build_processor() -> Any:
    """The model's image processor: 32 px, pixel values scaled to [-1, 1] (mean and std 0.5)."""
    import transformers as tf

    cls = getattr(tf, "ViTImageProcessorPil", None) or tf.ViTImageProcessor
    return cls(size={"height": SIZE, "width": SIZE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def build_model(seed: int = 0) -> Any:
    """A random ViTForImageClassification: 8 px patches, 2 layers x 4 heads, width 64, 3 labels."""
    import torch
    import transformers as tf

    cfg = tf.ViTConfig(image_size=SIZE, patch_size=PATCH, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                       num_labels=len(SHAPES), id2label=dict(enumerate(SHAPES)),
                       label2id={s: i for i, s in enumerate(SHAPES)})
    torch.manual_seed(seed)
    return tf.ViTForImageClassification(cfg)


def _pixels(images: np.ndarray) -> Any:
    import torch

    return torch.from_numpy((images.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy())


def accuracy(model: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``images`` the model labels right."""
    import torch

    with torch.no_grad():
        logits = model(pixel_values=_pixels(images)).logits
    return float((logits.argmax(-1).numpy() == labels).mean())


def train_shape_model(out_dir: str | os.PathLike, *, seconds_budget: float = 100, seed: int = 0,
                      max_steps: int | None = None) -> Path:
    """Train the tiny ViT for at most ``seconds_budget`` seconds and save it (with its processor) to ``out_dir``.

    Stops early once the accuracy on 256 held-out images reaches :data:`TARGET_ACCURACY` (checked
    every 100 steps), or after ``max_steps`` steps (None: no limit), which makes the run the same
    whatever the machine's load (one thread, fixed seeds). ``train_log.json`` records steps,
    seconds, losses and accuracy.
    """
    with one_thread():
        return _train(Path(out_dir), seconds_budget, seed, max_steps)


def _train(out: Path, seconds_budget: float, seed: int, max_steps: int | None = None) -> Path:
    import torch

    torch.manual_seed(seed)
    model = build_model(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    held_images, held_labels, _ = make_images(256, seed=10_000 + seed)
    start, step, losses, acc = time.perf_counter(), 0, [], 0.0
    while time.perf_counter() - start < seconds_budget and (max_steps is None or step < max_steps):
        images, labels, _ = make_images(BATCH, seed=seed * 1_000_003 + step)
        loss = torch.nn.functional.cross_entropy(model(pixel_values=_pixels(images)).logits,
                                                 torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            losses.append(round(float(loss.detach()), 4))
            model.eval()
            acc = accuracy(model, held_images, held_labels)
            model.train()
            if acc >= TARGET_ACCURACY:
                break
    model.eval()
    acc = accuracy(model, held_images, held_labels)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    build_processor().save_pretrained(out)
    log = {"steps": step, "seconds": round(time.perf_counter() - start, 1), "held_out_accuracy": acc,
           "losses_every_100_steps": losses, "seed": seed}
    (out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    return out


def cover(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(n, rows, cols): the share of each patch the object covers (masks are (n, height, width)).

    Example:
        >>> m = np.zeros((1, 4, 4)); m[0, :2, :2] = 1
        >>> cover(m, (2, 2))[0].tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """
    n, height, width = masks.shape
    rows, cols = grid
    return masks.reshape(n, rows, height // rows, cols, width // cols).mean(axis=(2, 4))


def object_attention(capture: Any, masks: np.ndarray) -> dict[str, Any]:
    """Where [CLS] looks: per image the share of its attention on the object, and the object's area share.

    ``cls``: the last layer's [CLS] row over the patches (mean of the heads, renormalised over the
    patches); ``rollout``: the [CLS] row of the attention rollout over the patches (renormalised).
    A share is ``sum_p a_p c_p`` (``c_p``: the share of patch p the object covers); ``area`` is
    the mean of ``c_p``, what uniform attention scores. The ratios are of the means over images.

    Example:
        >>> import attnviz
        >>> from attnviz.capture import Capture, Example
        >>> att = np.zeros((1, 1, 5, 5)); att[0, 0, 0, 1] = 1.0        # [CLS] on patch (0, 0) only
        >>> ex = Example(tokens=["[CLS]"] + ["p"] * 4, attentions=att, modality="image", patch_grid=(2, 2),
        ...              patch_positions=np.arange(1, 5), image=np.zeros((4, 4, 3), "uint8"))
        >>> m = np.zeros((1, 4, 4)); m[0, :2, :2] = 1                  # the object fills patch (0, 0)
        >>> out = object_attention(Capture([ex], layers=[0], heads=[0], num_layers=1, num_heads=1), m)
        >>> out["cls_share"], out["area_share"], out["cls_ratio"]
        (1.0, 0.25, 4.0)
    """
    from attnviz.metrics import rollout

    cls_shares, roll_shares, areas = [], [], []
    for i, ex in enumerate(capture):
        c = cover(masks[i:i + 1], ex.patch_grid)[0].ravel()
        cls_row = ex.attentions[-1, :, 0].mean(0)[ex.patch_positions]
        roll_row = rollout(capture, example=i).matrix[0][ex.patch_positions]
        cls_shares.append(float(cls_row @ c / cls_row.sum()))
        roll_shares.append(float(roll_row @ c / roll_row.sum()))
        areas.append(float(c.mean()))
    area = float(np.mean(areas))
    return {"cls_share": float(np.mean(cls_shares)), "rollout_share": float(np.mean(roll_shares)),
            "area_share": area, "cls_ratio": float(np.mean(cls_shares)) / area,
            "rollout_ratio": float(np.mean(roll_shares)) / area, "images": len(areas)}


def figure(capture: Any, out: Path, *, count: int = 4, dpi: int = 150) -> Path:
    """Images, the last layer's [CLS] attention (mean of heads) and the rollout, one column per image."""
    import matplotlib.pyplot as plt

    import attnviz
    from attnviz.metrics import rollout

    fig, axes = plt.subplots(3, count, figsize=(1.7 * count + 0.6, 5.6), layout="constrained")
    last = capture.layers[-1]
    for j in range(count):
        ex = capture[j]
        axes[0, j].imshow(ex.image)
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        axes[0, j].set_title(f"predicted: {ex.predicted_label_name}" if ex.predicted_label_name else "",
                             fontsize="small")
        attnviz.plot.image_attention(capture, example=j, layer=last, head="mean", ax=axes[1, j], cbar=False,
                                     title="", alpha=0.7)
        attnviz.plot.image_rollout(rollout(capture, example=j), ax=axes[2, j], cbar=False, title="", alpha=0.7)
    axes[1, 0].set_ylabel(f"[CLS] attention\nlayer {last}, mean of heads", fontsize="small")
    axes[2, 0].set_ylabel("[CLS] rollout", fontsize="small")
    fig.suptitle("tiny ViT trained in the repository on synthetic shapes (gallery/tiny_vit.py)", fontsize="small")
    path = out / "tiny_vit_cls_rollout.png"
    attnviz.save_figure(fig, path, width=1.7 * count + 0.6, dpi=dpi)
    plt.close(fig)
    return path


def demo(out: Path, seconds: float, seed: int, dpi: int = 150) -> dict[str, Any]:
    """Train, measure on 64 held-out images, write the figure; returns the measured numbers (and the capture)."""
    import attnviz

    model_dir = train_shape_model(out / "model", seconds_budget=seconds, seed=seed)
    log = json.loads((model_dir / "train_log.json").read_text(encoding="utf-8"))
    import transformers as tf

    model = tf.ViTForImageClassification.from_pretrained(model_dir)
    images, _, masks = make_images(64, seed=123_457)
    cap = attnviz.extract(model, list(images), processor=build_processor())
    result = {**log, **object_attention(cap, masks)}
    result["figure"] = str(figure(cap, out, dpi=dpi))
    result["capture"] = cap
    return result


def main(argv: list[str] | None = None) -> int:
    args = demo_arguments(__doc__, argv, out="tiny_vit_demo", seconds=100.0)
    result = demo(args.out, args.seconds, args.seed)
    print(json.dumps({k: v for k, v in result.items() if k not in ("losses_every_100_steps", "capture")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
