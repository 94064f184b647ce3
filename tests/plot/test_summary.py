"""head_summary: values drawn, annotation, diverging centre, labels, errors."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from attnviz.plot import head_summary


def test_image_values_and_labels():
    values = np.arange(12.0).reshape(3, 4) / 7
    ax = head_summary(values, layers=[2, 4, 6], title="entropy", cbar_label="nats")
    np.testing.assert_allclose(ax.images[0].get_array(), values)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "4", "6"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]
    assert ax.get_title() == "entropy"
    bars = [a for a in ax.figure.axes if hasattr(a, "_colorbar")]
    assert len(bars) == 1 and bars[0].get_ylabel() == "nats"


def test_small_grids_are_annotated():
    values = np.array([[0.25, 0.5], [0.75, 1.0]])
    ax = head_summary(values)
    assert [float(t.get_text()) for t in ax.texts] == pytest.approx(values.ravel())
    assert all(t.get_visible() for t in ax.texts)
    assert len(head_summary(values, annotate=False).texts) == 0


def test_large_grids_are_not_annotated_automatically():
    assert len(head_summary(np.random.default_rng(0).random((24, 16))).texts) == 0


def test_center_zero_gives_a_symmetric_diverging_scale():
    ax = head_summary(np.array([[-0.2, 0.5], [0.1, 0.0]]), center=0)
    im = ax.images[0]
    assert (im.norm.vmin, im.norm.vmax) == (-0.5, 0.5)
    assert im.cmap.name == "RdBu_r"
    assert head_summary(np.ones((2, 2))).images[0].cmap.name == "viridis"


def test_dataframe_labels():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame([[1.0, 2.0]], index=[5], columns=[3, 7])
    ax = head_summary(frame)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["5"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "7"]


def test_nan_cells_stay_blank():
    ax = head_summary(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    assert len(ax.texts) == 3


@pytest.mark.parametrize("values, kwargs, message", [
    (np.ones(3), {}, "2-D"),
    (np.ones((2, 2)), dict(layers=[0]), "one label per row"),
    (np.ones((2, 2)), dict(annotate="yes"), "annotate="),
])
def test_bad_input(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        head_summary(values, **kwargs)


def test_rcparams_unchanged():
    before = dict(mpl.rcParams)
    head_summary(np.ones((2, 3)), center=0)
    assert dict(mpl.rcParams) == before
