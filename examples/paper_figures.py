"""Paper figures: the layer x head grid, one head with tokens, hidden-state views, as PDF and PNG.

Run:  python examples/paper_figures.py [--model PATH] [--out DIR]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import attnviz  # noqa: E402
from attnviz.modeling import default_model_path  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=None, help="local model folder (default: the packaged MiniLM)")
parser.add_argument("--out", default="example-output", help="folder for the figures")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

model, tokenizer = attnviz.load_model(args.model or default_model_path())
cap = attnviz.extract(model, ["The keys to the cabinet are on the table."], tokenizer=tokenizer)

with attnviz.paper_theme():                      # paper font sizes; rcParams restored afterwards
    grid = attnviz.plot.head_grid(cap, example=0)
    print(attnviz.save_figure(grid, out / "grid.pdf", width="page"))
    ax = attnviz.plot.token_heatmap(cap, layer=cap.layers[-1], head="mean", hide_special=True, scale="row")
    print(attnviz.save_figure(ax.figure, out / "last_layer_mean.pdf", width="column"))
    ax = attnviz.plot.hidden_norms(cap)
    print(attnviz.save_figure(ax.figure, out / "hidden_norms.png", width="column", dpi=200))
    sim = attnviz.plot.layer_similarity(cap)
    print(attnviz.save_figure(sim, out / "layer_similarity.svg", width="page"))
