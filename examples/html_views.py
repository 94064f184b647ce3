"""Offline interactive HTML views (head view, model view) and the bertviz hand-off.

Run:  python examples/html_views.py [--model PATH] [--out DIR]
Open the written .html files in any browser: they need no network.
"""
import argparse
from pathlib import Path

import attnviz
from attnviz.modeling import default_model_path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=None, help="local model folder (default: the packaged MiniLM)")
parser.add_argument("--out", default="example-output", help="folder for the HTML files")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

model, tokenizer = attnviz.load_model(args.model or default_model_path())
cap = attnviz.extract(model, ["The animal didn't cross the street because it was too tired.",
                                         "She gave him the book that he had asked for."], tokenizer=tokenizer)

for example in range(len(cap)):
    view = attnviz.notebook.head_view(cap, example=example)
    print(view.save(out / f"head_view_{example}.html"))
print(attnviz.notebook.model_view(cap, example=0).save(out / "model_view.html"))

# The same attention, handed to bertviz (needs `pip install 'attnviz[notebook]'`):
kwargs = attnviz.notebook.to_bertviz(cap, example=0)
print("bertviz arguments:", sorted(kwargs), "for", len(kwargs["attention"]), "layers")
