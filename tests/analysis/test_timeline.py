"""The predict timeline draws no-face windows as gaps, never as zero probabilities."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from softfer.plots.timeline import timeline_figure, timeline_png

CLASSES = ("happy", "sad", "neutral")
NO_FACE = [6, 7, 8, 9]  # windows [3, 5), [3.5, 5.5), [4, 6), [4.5, 6.5): centres 4.0 .. 5.5


def _result():
    """A 10 s video, 2 s windows every 0.5 s (centres 1.0 .. 9.0), four windows without a face."""
    rng = np.random.default_rng(0)
    wins = []
    for i, start in enumerate(np.arange(0.0, 8.0 + 1e-9, 0.5)):
        probs = None if i in NO_FACE else rng.dirichlet([2.0, 1.0, 1.0]).tolist()
        wins.append({"start": float(start), "end": float(start) + 2.0, "face_fraction": 0.0, "probs": probs})
    return {"media": "clip.mp4", "duration": 10.0, "windows": wins}


def _stack_layers(ax):
    layers = [c for c in ax.collections if c.get_label() in CLASSES]
    assert [c.get_label() for c in layers] == list(CLASSES)
    return layers


def _covered(layer, points):
    """Which (x, y) data points lie inside any polygon of a filled layer."""
    inside = np.zeros(len(points), bool)
    for path in layer.get_paths():
        inside |= path.contains_points(points)
    return inside


def test_no_face_windows_are_gaps_with_a_legend_entry():
    result = _result()
    fig = timeline_figure(result, CLASSES)
    ax = fig.axes[0]
    # The no-face windows own the time from half-way after the last face centre (3.5) to half-way before
    # the next one (6.0): [3.75, 5.75]. Nothing coloured may lie there, at any height.
    gx, gy = np.meshgrid(np.linspace(3.76, 5.74, 60), np.linspace(0.002, 0.998, 60))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    for layer in _stack_layers(ax):
        assert not _covered(layer, grid).any(), layer.get_label()
    # ... while every face window is drawn with its own probabilities at its centre.
    for i, w in enumerate(result["windows"]):
        if w["probs"] is None:
            continue
        centre, top = (w["start"] + w["end"]) / 2, np.cumsum(w["probs"])
        bottom = np.concatenate([[0.0], top[:-1]])
        for layer, lo, hi in zip(_stack_layers(ax), bottom, top, strict=True):
            if hi - lo > 0.02:
                assert _covered(layer, np.array([[centre, (lo + hi) / 2]]))[0], (i, layer.get_label())
            assert not _covered(layer, np.array([[centre, hi + 0.01], [centre, lo - 0.01]])).any()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("no face" in t for t in legend) and set(CLASSES) <= set(legend)
    spans = [p for p in ax.patches if "no face" in str(p.get_label())]
    assert len(spans) == 1
    assert (spans[0].get_bbox().x0, spans[0].get_bbox().x1) == pytest.approx((3.75, 5.75))
    plt.close(fig)


def test_no_face_at_the_start_and_photo_without_face(tmp_path):
    result = _result()
    for w in result["windows"][:3]:
        w["probs"] = None
    fig = timeline_figure(result, CLASSES)
    gx, gy = np.meshgrid(np.linspace(0.0, 2.24, 30), np.linspace(0.002, 0.998, 30))
    for layer in _stack_layers(fig.axes[0]):  # windows 0-2 own [0, 2.25]: not drawn, not held from window 3
        assert not _covered(layer, np.column_stack([gx.ravel(), gy.ravel()])).any()
    plt.close(fig)
    photo = {"media": "x.jpg", "windows": [{"start": 0.0, "end": 0.0, "face_fraction": 0.0, "probs": None}]}
    fig = timeline_figure(photo, CLASSES)
    assert not fig.axes[0].patches  # no zero-height bars standing for "probability 0"
    assert any("no face" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
    timeline_png(result, CLASSES, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
