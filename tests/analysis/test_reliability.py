"""The reliability diagram shows each bin's accuracy as drawn, its gap to confidence, and its count."""

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from softfer.plots import figures as plots

N_BINS = 5  # edges 0, .2, .4, .6, .8, 1


def _hand_made():
    """Bin 1: conf .35, 1 of 3 right; bin 2: conf .5, 4 of 4 right (under-confident); bin 4: .9, 2 of 5."""
    groups = [(0.35, 3, 1), (0.5, 4, 4), (0.9, 5, 2)]
    probs, labels = [], []
    for conf, n, right in groups:
        for i in range(n):
            top = i % 3  # the predicted class varies, so nothing depends on class 0
            row = np.full(3, (1 - conf) / 2)
            row[top] = conf
            probs.append(row)
            labels.append(top if i < right else (top + 1) % 3)
    return np.array(probs), np.array(labels)


def _draw(monkeypatch, probs, labels, tmp_path):
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    ece = plots.reliability_png(probs, labels, tmp_path / "rel.png", n_bins=N_BINS)
    return figs[0].axes[0], ece


def test_under_confident_bin_reads_its_accuracy_and_counts_are_shown(monkeypatch, tmp_path):
    probs, labels = _hand_made()
    conf, right = probs.max(1), probs.argmax(1) == labels
    which = np.floor(conf * N_BINS).astype(int)  # no confidence lies on an edge
    count = np.bincount(which, minlength=N_BINS)
    acc = np.array([right[which == b].mean() if count[b] else np.nan for b in range(N_BINS)])
    mean_conf = np.array([conf[which == b].mean() if count[b] else np.nan for b in range(N_BINS)])
    assert acc[2] == 1.0 and mean_conf[2] == pytest.approx(0.5)  # the set really has an under-confident bin
    centres = (np.arange(N_BINS) + 0.5) / N_BINS

    ax, ece = _draw(monkeypatch, probs, labels, tmp_path)
    full = count > 0
    assert ece == pytest.approx(np.nansum(count / count.sum() * np.abs(acc - mean_conf)), abs=1e-6)

    [acc_bars] = [c for c in ax.containers if c.get_label() == "accuracy"]
    xs = [p.get_x() + p.get_width() / 2 for p in acc_bars.patches]
    np.testing.assert_allclose(xs, centres[full])
    np.testing.assert_allclose([p.get_y() for p in acc_bars.patches], 0.0)
    np.testing.assert_allclose([p.get_height() for p in acc_bars.patches], acc[full])

    # Nothing filled is drawn over an accuracy bar: the gaps are outlines, so the blue top is the accuracy.
    others = [p for p in ax.patches if p not in acc_bars.patches]
    assert others and all(mcolors.to_rgba(p.get_facecolor())[3] == 0 for p in others)
    gaps = {round(p.get_x() + p.get_width() / 2, 6): p.get_bbox() for p in others}
    for b in np.flatnonzero(full):
        box = gaps[round(centres[b], 6)]
        lo, hi = sorted((acc[b], mean_conf[b]))
        assert (box.y0, box.y1) == pytest.approx((lo, hi))  # bin 2: from .5 (confidence) up to 1 (accuracy)

    labels_at = {round(t.get_position()[0], 6): t.get_text() for t in ax.texts}
    assert labels_at == {round(centres[b], 6): str(count[b]) for b in np.flatnonzero(full)}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "accuracy" in legend and any("under-confident" in t for t in legend)
    plt.close("all")


def test_reliability_png_writes_the_figure(tmp_path):
    probs, labels = _hand_made()
    plots.reliability_png(probs, labels, tmp_path / "rel.png", n_bins=N_BINS)
    assert (tmp_path / "rel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
