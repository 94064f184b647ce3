"""Attention during generation: one full map per head over the prompt and the generated tokens.

Run:  python examples/generation.py --model GPT2_OR_T5_FOLDER [--out DIR] [--prompt TEXT]
(The packaged MiniLM is an encoder and cannot generate: pass a decoder or encoder-decoder folder.)
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import attnviz  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", required=True, help="local folder of a decoder (GPT-2...) or encoder-decoder")
parser.add_argument("--out", default="example-output", help="folder for the figures")
parser.add_argument("--prompt", default="the cat sat on the mat and")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

model, tokenizer = attnviz.load_model(args.model)
cap = attnviz.extract_generation(model, args.prompt, max_new_tokens=8, tokenizer=tokenizer)
ex = cap[0]
print("prompt   :", ex.display_tokens[:ex.prompt_length])
print("generated:", ex.display_tokens[ex.prompt_length:])
grid = attnviz.plot.head_grid(cap)               # the prompt/generated boundary is drawn in every cell
print(attnviz.save_figure(grid, out / "generation_grid.png", width="page"))
print(attnviz.notebook.head_view(cap).save(out / "generation_view.html"))
