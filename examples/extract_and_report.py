"""Extract attention and hidden states, print the shape report, save and reload the capture.

Run:  python examples/extract_and_report.py [--model PATH] [--out DIR]
"""
import argparse
from pathlib import Path

import attnviz
from attnviz.modeling import default_model_path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=None, help="local model folder (default: the packaged MiniLM)")
parser.add_argument("--out", default="example-output", help="folder for the saved capture")
args = parser.parse_args()

model, tokenizer = attnviz.load_model(args.model or default_model_path())
texts = ["The cat sat on the mat.", "The movie was long, but the ending made it worth it."]

cap = attnviz.extract(model, texts, batch_size=2, tokenizer=tokenizer)
print(cap)
print(attnviz.shape_report(cap))

example = cap[1]
print("tokens:", example.display_tokens)
print("attention of the last layer, head 0, from the first token:",
      example.attentions[-1, 0, 0].round(2).tolist())

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
path = cap.save(out / "capture.safetensors")
again = attnviz.load(path)
assert (again[1].attentions == example.attentions).all()
print("saved and reloaded", path)
