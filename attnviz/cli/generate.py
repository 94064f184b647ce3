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
    add_selection_args,
    check_layer_head,
    check_output_dir,
    positive_int,
    show_warnings_briefly,
)
from attnviz.modeling import load_model

HELP = "generate text and plot the attention while writing it"
EXAMPLE = ('examples:\n  attnviz generate --model ./my-gpt2 --prompt "Once upon a time" '
           '--max-new-tokens 20 --out gen --layer 1 --head 3\n'
           '  attnviz generate --model ./my-llama --prompt-file long.txt --out gen --layers 0 --queries last\n'
           '    (a long prompt: only layer 0, only the last row of each map is computed and kept)')

NO_MODEL = ("attnviz generate needs --model: the default model (the packaged all-MiniLM-L6-v2) is an "
            "encoder and cannot generate text. Pass --model PATH, a local folder with a decoder "
            "(GPT-2-like, ...ForCausalLM) or encoder-decoder (T5/BART) model with its LM head")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz generate``."""
    p.add_argument("--model", metavar="PATH", default=None,
                   help="local folder of a model that can generate (required: the default MiniLM cannot)")
    prompt = p.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="the text to continue")
    prompt.add_argument("--prompt-file", metavar="FILE", help="read the prompt from a UTF-8 text file (long prompts)")
    p.add_argument("--max-new-tokens", type=positive_int, default=20, metavar="N", help="tokens to generate (default 20)")
    p.add_argument("--min-new-tokens", type=positive_int, default=None, metavar="N",
                   help="generate at least N tokens (do not stop on end-of-text before)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int, default=None, help="seed for --sample")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--layer", type=int, default=None, help="layer of the single-head figure (default: the first kept)")
    p.add_argument("--head", type=int, default=None, help="head of the single-head figure (default: the first kept)")
    add_selection_args(p, sources=False)


def run(args: argparse.Namespace) -> int:
    """Generate, save and plot; print each file written."""
    from attnviz.extraction.generate import extract_generation

    show_warnings_briefly()
    if args.model is None:
        raise ValueError(NO_MODEL)
    out = check_output_dir(args.out)
    prompt = _prompt(args)
    layer, head = _figure_head(args)
    model, tok = load_model(args.model)
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    check_layer_head(model, layer=layer, head=head, layers=args.layers, heads=args.heads,
                     kind="decoder" if enc_dec else "self")
    kwargs = {} if args.min_new_tokens is None else {"min_new_tokens": args.min_new_tokens}
    cap = extract_generation(model, prompt, max_new_tokens=args.max_new_tokens,
                             do_sample=args.sample, seed=args.seed, layers=args.layers, heads=args.heads,
                             queries=args.queries, **kwargs, tokenizer=tok)
    kind = "decoder" if cap.is_encoder_decoder else "self"
    cap.layer_position(layer, kind=kind)  # a clear error before any figure is drawn
    cap.head_position(head)
    ex = cap[0]
    from attnviz.atomic import atomic_outputs

    with atomic_outputs(out) as tmp:  # all files or none: moved into --out only when complete
        written = [atomic_write_text(tmp / "generated.txt", f"{prompt}\n---\n{ex.decoder_text}\n"),
                   cap.save(tmp / "capture.safetensors")]
        written += _figures(cap, tmp, kind, layer, head)
    written = [out / Path(p).relative_to(tmp) for p in written]
    print(f"generated {cap.extra['generation']['num_generated']} token(s): {ex.decoder_text}")
    for path in written:
        print(f"wrote {path}")
    return 0


def _prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None:
        return args.prompt
    path = Path(args.prompt_file)
    if not path.is_file():
        raise FileNotFoundError(f"--prompt-file {path} does not exist: pass a UTF-8 text file with the prompt")
    return path.read_text(encoding="utf-8")


def _figure_head(args: argparse.Namespace) -> tuple[int, int]:
    """The layer and head of the single-head figure: --layer/--head, else the first kept ones."""
    layer = args.layer if args.layer is not None else (args.layers[0] if args.layers else 0)
    head = args.head if args.head is not None else (args.heads[0] if args.heads else 0)
    for flag, value, kept in (("--layer", layer, args.layers), ("--head", head, args.heads)):
        if kept and value not in kept:
            raise ValueError(f"{flag} {value} is not among the kept {flag}s {kept}: "
                             f"add it to {flag}s or pick one of them")
    return layer, head


def _figures(cap, out, kind: str, layer: int, head: int) -> list:
    import attnviz

    grid = attnviz.plot.head_grid(cap, kind=kind)
    ax = attnviz.plot.token_heatmap(cap, layer=layer, head=head, kind=kind)
    return [attnviz.save_figure(grid, out / "grid.png"),
            attnviz.save_figure(ax.figure, out / f"head_L{layer}_H{head}.png")]
