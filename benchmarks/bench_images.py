"""Benchmark: attention over images, layer by layer, against a bare ``output_attentions=True`` forward.

Two random-weight models, built from configs (nothing is downloaded):

* ``vit``: ViT-base shaped (12 layers x 12 heads, hidden 768, 224 px images in 16 px patches:
  197 tokens), a batch of ``--images`` images.
* ``vlm``: a LLaVA-shaped long sequence: a CLIP image tower (4 layers, hidden 256) on a 624 px
  image in 16 px patches (39 x 39 = 1,521 image tokens) and a Llama language model with a
  SMALLER hidden size than real VLMs (8 layers x 8 heads, hidden 512) over those image tokens and
  80 text tokens (1,601 tokens). Only the language model's maps are kept.

Measured, each as a ratio of the bare forward (eager attention, ``output_attentions=True``, what a
tutorial user writes) on the same input:

1. Time, one process, best of ``--rounds``: ``extract`` keeping every layer (goal <= 1.05x), as wall
   time and as the process's CPU time (steadier on a machine shared with other jobs; ``--threads 1``
   steadier still).
2. Peak memory, every case in a fresh subprocess: the peak RSS over the start (the kernel's
   high-water mark, reset after the model is built and both paths ran once on a small input, so that
   imports and first-call allocations do not count) of ``extract(layers=[0])`` and of
   ``extract(queries=...)`` (the [CLS] row; the VLM's last text token) (goal <= 0.25x).
   Hidden states are off in every case (the bare forward returns none either).

Run: .venv/bin/python benchmarks/bench_images.py [--models vit vlm] [--images 8] [--rounds 3] [--threads 1]
[--skip-memory]
"""
from __future__ import annotations

import argparse
import json
import time

from _common import MiB, reset_peak, run_json, status

VLM_TEXT = ("Describe the picture in detail: what is in the foreground, what is in the background, which "
            "colours dominate, and is there a cat or a dog anywhere in it?")


def build(name: str, images: int):
    """``(model, inputs for the bare forward, extract(**kwargs) -> Capture)`` of one benchmark model."""
    import numpy as np
    import torch
    import transformers as tf

    import attnviz

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    pil_cls = getattr(tf, "CLIPImageProcessorPil", None) or tf.CLIPImageProcessor
    if name == "vit":
        cfg = tf.ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                           image_size=224, patch_size=16)
        model = tf.ViTModel(cfg, add_pooling_layer=False).eval()
        processor = (getattr(tf, "ViTImageProcessorPil", None) or tf.ViTImageProcessor)(
            size={"height": 224, "width": 224})
        pictures = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(images)]
        inputs = processor(images=pictures, return_tensors="pt")

        def extract(**kw):
            return attnviz.extract(model, pictures, processor=processor, batch_size=images, hidden_states=False, **kw)

        return model, dict(inputs), extract
    from attnviz.testing import tiny_tokenizer

    tok = tiny_tokenizer("llama")
    tok.add_tokens(["<image>"], special_tokens=True)
    side, patch = 624, 16
    vision = tf.CLIPVisionConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                                 image_size=side, patch_size=patch)
    text = tf.LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
                          num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=4096,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    cfg = tf.LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1)
    model = tf.LlavaForConditionalGeneration(cfg).eval()
    processor = tf.LlavaProcessor(image_processor=pil_cls(size={"shortest_edge": side},
                                                          crop_size={"height": side, "width": side}),
                                  tokenizer=tok, patch_size=patch, vision_feature_select_strategy="default",
                                  num_additional_image_tokens=1)
    picture = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    prompt = "<image>\n" + VLM_TEXT
    inputs = processor(text=[prompt], images=[picture], return_tensors="pt")

    def extract(**kw):
        return attnviz.extract(model, [prompt], images=[picture], processor=processor, hidden_states=False, **kw)

    return model, dict(inputs), extract


def _bare(model, inputs):
    model.set_attn_implementation("eager")
    try:
        return model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation("sdpa")


def _warm_up(model, inputs, extract) -> None:
    """Both paths once with a single query row / on one image, so that the imports and the kernels' first-call
    allocations of either do not count in the peak of the case measured after."""
    if "input_ids" not in inputs:  # the ViT: one image (the VLM's one input would leave its maps' pages behind)
        _bare(model, {k: v[:1] for k, v in inputs.items()})
    extract(layers=[0], queries=[0])


def run_case(name: str, case: str, images: int) -> dict:
    """One memory case in this (fresh) process: peak RSS over the start, in bytes."""
    import warnings

    import torch

    warnings.simplefilter("ignore")
    model, inputs, extract = build(name, images)
    torch.set_grad_enabled(False)
    _warm_up(model, inputs, extract)
    reset_peak()
    start = status("VmRSS")
    if case == "bare":
        out = _bare(model, inputs)
        kept = sum(a.numel() * a.element_size() for a in out.attentions)
        tokens = out.attentions[0].shape[-1]
    else:
        cap = extract(layers=[0]) if case == "one_layer" else extract(queries=[0] if name == "vit" else "last")
        kept = sum(ex.attentions.nbytes for ex in cap)
        tokens = cap[0].attentions.shape[-1]
    return {"case": case, "start": start, "peak": status("VmHWM"), "kept": kept, "tokens": tokens}


def run_timing(name: str, images: int, rounds: int, threads: int | None = None) -> dict:
    """Bare eager forward with every layer's maps vs extract keeping every layer, best of ``rounds``:
    wall time, and the CPU time of the process (steadier than wall time on a machine shared with other jobs)."""
    import warnings

    import torch

    warnings.simplefilter("ignore")
    if threads:
        torch.set_num_threads(threads)
    model, inputs, extract = build(name, images)
    torch.set_grad_enabled(False)
    cases = {"bare": lambda: _bare(model, inputs), "all_layers": lambda: extract()}
    best = {f"{case}{kind}": float("inf") for case in cases for kind in ("", "_cpu")}
    for _ in range(rounds):
        for case, fn in cases.items():
            begin, cpu = time.perf_counter(), time.process_time()
            fn()
            best[case] = min(best[case], time.perf_counter() - begin)
            best[f"{case}_cpu"] = min(best[f"{case}_cpu"], time.process_time() - cpu)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["vit", "vlm"], choices=["vit", "vlm"])
    parser.add_argument("--images", type=int, default=8, help="images per ViT batch (default 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the timing (default: torch's)")
    parser.add_argument("--skip-memory", action="store_true", help="time only")
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "timing":
        print(json.dumps(run_timing(args.model, args.images, args.rounds, args.threads)))
        return
    if args.case:
        print(json.dumps(run_case(args.model, args.case, args.images)))
        return
    for name in args.models:
        common = ["--model", name, "--images", str(args.images)]
        bare = {"tokens": 197 if name == "vit" else 1601, "peak": 1, "start": 0, "kept": 0} if args.skip_memory \
            else run_json(__file__, *common, "--case", "bare")
        title = (f"ViT-base shape (12 x 12 heads, hidden 768), {args.images} images of {bare['tokens']} tokens"
                 if name == "vit" else f"LLaVA shape (CLIP tower 4 layers; Llama 8 x 8 heads, hidden 512), "
                                       f"{bare['tokens']} tokens (1,521 image tokens)")
        print(f"{title}, random weights, CPU")
        base = bare["peak"] - bare["start"]
        if not args.skip_memory:
            print(f"  memory  bare output_attentions=True : {base / MiB:8.1f} MiB over the start "
                  f"(maps {bare['kept'] / MiB:.1f} MiB)")
        memory_cases = (("one_layer", "extract(layers=[0])"),
                        ("queries", "extract(queries=[0])" if name == "vit" else "extract(queries='last')"))
        for case, label in () if args.skip_memory else memory_cases:
            got = run_json(__file__, *common, "--case", case)
            used = got["peak"] - got["start"]
            print(f"  memory  {label:29s}: {used / MiB:8.1f} MiB, ratio {used / base:.3f} (goal <= 0.25)")
        threads = ["--threads", str(args.threads)] if args.threads else []
        best = run_json(__file__, *common, "--case", "timing", "--rounds", str(args.rounds), *threads)
        print(f"  time    bare output_attentions=True : {best['bare']:.3f} s wall, {best['bare_cpu']:.3f} s CPU "
              f"(best of {args.rounds}{f', {args.threads} thread(s)' if args.threads else ''})")
        print(f"  time    extract, every layer        : {best['all_layers']:.3f} s wall, "
              f"{best['all_layers_cpu']:.3f} s CPU; ratio {best['all_layers'] / best['bare']:.3f} wall, "
              f"{best['all_layers_cpu'] / best['bare_cpu']:.3f} CPU (goal <= 1.05)")


if __name__ == "__main__":
    main()
