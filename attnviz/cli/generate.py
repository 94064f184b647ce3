"""``attnviz generate``: let a model continue a prompt and draw its attention while it writes.

Let a decoder (or encoder-decoder) model continue a prompt and write the text, the capture, the
layer x head grid and one head's map, with the prompt/generated boundary marked.

Writes, into ``--out``: ``generated.txt`` (the prompt and the generated text),
``capture.safetensors`` (load it with ``attnviz.load``), ``grid.png`` (every layer x
head) and ``head_L<layer>_H<head>.png`` (one head with tokens), the prompt/generated
boundary drawn on both figures.

Example:
    attnviz generate --model ./my-gpt2 --prompt "Once upon a time" --max-new-tokens 20 --out gen
"""
from __future__ import annotations

import argparse
from pathlib import Path

from attnviz.atomic import atomic_write_text
from attnviz.cli.common import (
    check_layer_head,
    check_output_dir,
    positive_int,
    show_warnings_briefly,
)
from attnviz.modeling import load_model

HELP = "generate text and plot the attention while writing it"
EXAMPLE = ('example:\n  attnviz generate --model ./my-gpt2 --prompt "Once upon a time" '
           '--max-new-tokens 20 --out gen --layer 1 --head 3')

NO_MODEL = ("attnviz generate needs --model: the default model (the packaged all-MiniLM-L6-v2) is an "
            "encoder and cannot generate text. Pass --model PATH, a local folder with a decoder "
            "(GPT-2-like, ...ForCausalLM) or encoder-decoder (T5/BART) model with its LM head")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz generate``."""
    p.add_argument("--model", metavar="PATH", default=None,
                   help="local folder of a model that can generate (required: the default MiniLM cannot)")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--max-new-tokens", type=positive_int, default=20, metavar="N", help="tokens to generate (default 20)")
    p.add_argument("--min-new-tokens", type=positive_int, default=None, metavar="N",
                   help="generate at least N tokens (do not stop on end-of-text before)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int, default=None, help="seed for --sample")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--layer", type=int, default=0, help="layer of the single-head figure (default 0)")
    p.add_argument("--head", type=int, default=0, help="head of the single-head figure (default 0)")


def run(args: argparse.Namespace) -> int:
    """Generate, save and plot; print each file written."""
    from attnviz.extraction.generate import extract_generation

    show_warnings_briefly()
    if args.model is None:
        raise ValueError(NO_MODEL)
    out = check_output_dir(args.out)
    model, tok = load_model(args.model)
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    check_layer_head(model, layer=args.layer, head=args.head, kind="decoder" if enc_dec else "self")
    kwargs = {} if args.min_new_tokens is None else {"min_new_tokens": args.min_new_tokens}
    cap = extract_generation(model, tok, args.prompt, max_new_tokens=args.max_new_tokens,
                             do_sample=args.sample, seed=args.seed, **kwargs)
    kind = "decoder" if cap.is_encoder_decoder else "self"
    cap.layer_position(args.layer, kind=kind)  # a clear error before any figure is drawn
    cap.head_position(args.head)
    ex = cap[0]
    from attnviz.atomic import atomic_outputs

    with atomic_outputs(out) as tmp:  # all files or none: moved into --out only when complete
        written = [atomic_write_text(tmp / "generated.txt", f"{args.prompt}\n---\n{ex.decoder_text}\n"),
                   cap.save(tmp / "capture.safetensors")]
        written += _figures(cap, tmp, kind, args.layer, args.head)
    written = [out / Path(p).relative_to(tmp) for p in written]
    print(f"generated {cap.extra['generation']['num_generated']} token(s): {ex.decoder_text}")
    for path in written:
        print(f"wrote {path}")
    return 0


def _figures(cap, out, kind: str, layer: int, head: int) -> list:
    import attnviz

    grid = attnviz.plot.head_grid(cap, kind=kind)
    ax = attnviz.plot.token_heatmap(cap, layer=layer, head=head, kind=kind)
    return [attnviz.save_figure(grid, out / "grid.png"),
            attnviz.save_figure(ax.figure, out / f"head_L{layer}_H{head}.png")]
