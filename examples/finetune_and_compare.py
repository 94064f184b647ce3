"""Fine-tune a sentiment classifier on the shipped reviews, then compare attention before and after.

Run:  python examples/finetune_and_compare.py [--model PATH] [--out DIR] [--epochs N]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import attnviz  # noqa: E402
from attnviz.data import load_reviews  # noqa: E402
from attnviz.modeling import default_model_path  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=None, help="local model folder (default: the packaged MiniLM)")
parser.add_argument("--out", default="example-output", help="folder for the run and the comparison")
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
out = Path(args.out)
model_path = str(args.model or default_model_path())

reviews = load_reviews()                         # DatasetDict: train (320) and validation (80)
result = attnviz.finetune(model_path, reviews, out / "run", epochs=args.epochs, max_length=64,
                          overwrite=True, disable_tqdm=True)
print(result.summary())

probes = reviews["validation"]["text"][:16]
comparison = attnviz.compare(model_path, result.best_checkpoint, texts=probes)
print(comparison.summary())
for path in comparison.save(out / "comparison"):
    print(path)
