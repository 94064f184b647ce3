"""Static figures of attention maps and hidden states, sized and exported for papers.

* :func:`head_grid`: every layer x head attention map of one example (fast, one colour bar).
* :func:`token_heatmap`: one head (or the mean/max of a layer) with tokens on both axes.
* :func:`query_profile`: one query token's attention over the keys, one row per layer (long inputs).
* :func:`hidden_norms`, :func:`layer_similarity`: hidden-state norms and layer similarity.
* :func:`head_summary`: a layer x head heatmap of any per-head number.
* :func:`rollout_heatmap`, :func:`rollout_bars`: attention rollout/flow (see attnviz.metrics).
* :func:`image_attention`, :func:`image_grid`, :func:`image_rollout`, :func:`image_words`: attention over
  the image (vision transformers, vision-language models), one query, a layer x head grid, rollout, words;
  :func:`distance_by_layer`: mean attention distance in pixels against depth (ViT paper, figure 7).
* :func:`relevance_strip`, :func:`side_by_side`: token relevance as a coloured strip, and several
  methods (attention, rollout, relevance) over the same tokens in one figure.
* :func:`lens_table`: the logit lens as a layers x positions table of top tokens.
* :func:`change_map`, :func:`layer_lines`, :func:`head_difference`: a fine-tuning comparison
  (:func:`attnviz.compare`) per head, per layer and for one head before/after/difference.
* :func:`knockout_axes`, :func:`patching_map`: attention knockout (Geva et al. 2023) and head
  patching (Wang et al. 2022), from :func:`attnviz.metrics.knockout_map` / ``head_patching``.
* :func:`save_figure`, :func:`paper_theme`: PNG/PDF/SVG export at paper widths, a theme.

Axes-level functions take ``ax=None`` and return the Axes; figure-level ones return an
object with ``.figure``, ``.axes``, ``.savefig()`` and ``_repr_png_``. None of them
changes ``matplotlib.rcParams``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat on the mat")
    >>> grid = attnviz.plot.head_grid(cap)
    >>> ax = attnviz.plot.token_heatmap(cap, layer=1, head="mean")
"""
from __future__ import annotations

from attnviz.plot.causal import knockout_axes, patching_map
from attnviz.plot.compare import change_map, head_difference, layer_lines
from attnviz.plot.export import save_figure
from attnviz.plot.grid import HeadGrid, head_grid
from attnviz.plot.heatmap import token_heatmap
from attnviz.plot.hidden import LayerSimilarity, hidden_norms, layer_similarity
from attnviz.plot.image import (
    ImageGrid,
    WordImages,
    distance_by_layer,
    image_attention,
    image_grid,
    image_rollout,
    image_words,
)
from attnviz.plot.lens import lens_table
from attnviz.plot.profile import query_profile
from attnviz.plot.relevance import SideBySide, relevance_strip, side_by_side
from attnviz.plot.rollout import rollout_bars, rollout_heatmap
from attnviz.plot.summary import head_summary
from attnviz.plot.theme import paper_theme

__all__ = [
    "HeadGrid",
    "ImageGrid",
    "LayerSimilarity",
    "SideBySide",
    "change_map",
    "distance_by_layer",
    "head_difference",
    "head_grid",
    "head_summary",
    "hidden_norms",
    "image_attention",
    "image_grid",
    "image_rollout",
    "image_words",
    "knockout_axes",
    "layer_lines",
    "layer_similarity",
    "lens_table",
    "paper_theme",
    "patching_map",
    "query_profile",
    "relevance_strip",
    "rollout_bars",
    "rollout_heatmap",
    "save_figure",
    "side_by_side",
    "token_heatmap",
    "WordImages",
]
