"""Per-head statistics over a whole data set, streamed with bounded memory, and rollout of one text.

Run:  python examples/dataset_stats.py [--model PATH] [--out DIR]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attnviz  # noqa: E402
from attnviz.data import load_reviews  # noqa: E402
from attnviz.modeling import default_model_path  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=None, help="local model folder (default: the packaged MiniLM)")
parser.add_argument("--out", default="example-output", help="folder for the tables and figures")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

model, tokenizer = attnviz.load_model(args.model or default_model_path())
texts = load_reviews()["train"]["text"]          # any list, file or datasets.Dataset works
stats = attnviz.metrics.dataset_stats(model, texts, batch_size=32, tokenizer=tokenizer)
print(stats.to_csv(out / "head_stats.csv"))
for score in stats.top("cls", 3):
    print(f"layer {score.layer}, head {score.head}: {score.value:.2f} of its attention on [CLS]")

fig, ax = plt.subplots(figsize=(5, 3))
stats.plot("entropy", ax=ax)
print(attnviz.save_figure(fig, out / "entropy.png", width="column"))

cap = attnviz.extract(model, "A clever, warm and very funny film.", tokenizer=tokenizer)
rollout = attnviz.metrics.rollout(cap)
print("rollout from [CLS]:", dict(zip(cap[0].display_tokens, rollout.for_query(0).round(2).tolist())))
