"""Issue 16, figures a reader trusts: each test reads what a figure draws (image arrays, bars, lines, texts,
colour bars, tick labels) and compares it with numbers worked out by hand."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colorbar import Colorbar

from softfer.data.synthetic.cli import montage_figure
from softfer.engine.outputs import write_run_outputs
from softfer.plots import figures as plots

CLASSES = ("a", "b", "c")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _cell_texts(ax) -> dict[tuple[int, int], str]:
    """The numbers written in a heatmap's cells, by (row, column)."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}


def _tick_labels(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_confusion_matrix_is_row_normalised_with_support_colour_bar_and_the_run_name():
    # true a: 3 right, 1 as c; true b: absent; true c: 2 as a, 4 right
    cm = np.array([[3, 0, 1], [0, 0, 0], [2, 0, 4]])
    fig = plots.confusion_figure(cm, CLASSES, run="demo-soft-fold2-seed1")
    ax = fig.axes[0]
    assert "demo-soft-fold2-seed1" in ax.get_title() and "rows normalised" in ax.get_title()
    image = ax.images[0]
    drawn = image.get_array()
    want = np.array([[0.75, 0.0, 0.25], [np.nan, np.nan, np.nan], [2 / 6, 0.0, 4 / 6]])
    np.testing.assert_allclose(drawn.filled(np.nan), want)
    assert drawn.mask[1].all() and not drawn.mask[[0, 2]].any()  # the absent class: a grey row, no zeros
    assert isinstance(image.colorbar, Colorbar) and image.get_clim() == (0, 1)
    assert "row-normalised" in image.colorbar.ax.get_ylabel()
    assert _tick_labels(ax.get_yticklabels()) == ["a (n=4)", "b (n=0)", "c (n=6)"]
    assert _tick_labels(ax.get_xticklabels()) == list(CLASSES)
    assert _cell_texts(ax) == {
        (0, 0): "0.75",
        (0, 1): "0.00",
        (0, 2): "0.25",
        (2, 0): "0.33",
        (2, 1): "0.00",
        (2, 2): "0.67",
    }


def test_recall_has_values_uar_chance_and_absent_classes_apart_from_zero():
    recall = {"a": 0.5, "b": None, "c": 0.0, "d": 1.0}
    fig = plots.recall_figure(recall, "run-x: per-class recall", support=[4, 0, 3, 2])
    ax = fig.axes[0]
    [bars] = ax.containers
    assert [p.get_x() + p.get_width() / 2 for p in bars.patches] == pytest.approx([0, 2, 3])  # none at b
    assert [p.get_height() for p in bars.patches] == pytest.approx([0.5, 0.0, 1.0])
    texts = {(round(t.get_position()[0]), t.get_text()) for t in ax.texts if t.get_text() != "absent"}
    assert {text for _, text in texts} == {"0.50", "0.00", "1.00"}
    [absent] = [t for t in ax.texts if t.get_text() == "absent"]
    assert absent.get_position()[0] == 1  # above class b, the one with no bar
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert lines["UAR 0.500"] == pytest.approx([0.5, 0.5])  # mean of the present classes (0.5 + 0 + 1) / 3
    assert lines["chance 1/4 = 0.250"] == pytest.approx([0.25, 0.25])
    legend = _tick_labels(ax.get_legend().get_texts())
    assert legend == ["UAR 0.500", "chance 1/4 = 0.250", "recall"]
    assert _tick_labels(ax.get_xticklabels()) == ["a (n=4)", "b (n=0)", "c (n=3)", "d (n=2)"]
    assert ax.get_title() == "run-x: per-class recall"


def test_recall_draws_a_given_uar():
    fig = plots.recall_figure({"a": 0.2, "b": 0.6}, uar=0.37)
    assert {line.get_label() for line in fig.axes[0].get_lines()} == {"UAR 0.370", "chance 1/2 = 0.500"}


def test_curves_have_integer_epochs_lr_and_a_legend_entry_for_every_line():
    history = [
        {"epoch": 1, "train_loss": 2.0, "lr": 0.1, "val_uar": 0.3},
        {"epoch": 2, "train_loss": 1.5, "lr": 0.05},  # no validation this epoch: a gap, not a zero
        {"epoch": 3, "train_loss": 1.2, "lr": 0.025, "val_uar": 0.5},
    ]
    fig = plots.curves_figure(history)
    fig.canvas.draw()
    lines = {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}
    assert set(lines) == {"train loss", "val UAR", "learning rate (end of epoch)"}
    for line in lines.values():
        assert list(line.get_xdata()) == [1, 2, 3]
    np.testing.assert_allclose(lines["train loss"].get_ydata(), [2.0, 1.5, 1.2])
    np.testing.assert_allclose(lines["val UAR"].get_ydata(), [0.3, np.nan, 0.5])
    np.testing.assert_allclose(lines["learning rate (end of epoch)"].get_ydata(), [0.1, 0.05, 0.025])
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert sorted(legends) == sorted(lines)
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        shown = [x for x in ax.get_xticks() if lo <= x <= hi]
        assert shown and all(float(x).is_integer() for x in shown), shown
    assert fig.axes[1].get_xlabel() == "epoch"


def test_curves_without_lr_or_validation_draw_the_loss_alone():
    fig = plots.curves_figure([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    assert [line.get_label() for ax in fig.axes for line in ax.get_lines()] == ["train loss"]
    assert _tick_labels(fig.axes[0].get_legend().get_texts()) == ["train loss"]


def test_coexistence_colours_only_the_off_diagonal_and_gives_counts():
    soft = np.array([[0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]])
    hard = np.array([0, 0, 2])  # class b has no clip
    want = np.array([[0.7, 0.2, 0.1], [np.nan] * 3, [0.1, 0.2, 0.7]])  # means by hand
    figs = []
    matrix = _capture(figs, plots.coexistence_png, soft, hard, CLASSES, "unused.png")
    np.testing.assert_allclose(matrix, want)
    ax = figs[0].axes[0]
    image = ax.images[0]
    drawn = image.get_array()
    assert drawn.mask.tolist() == [[True, False, False], [True, True, True], [False, False, True]]
    np.testing.assert_allclose(drawn.compressed(), [0.2, 0.1, 0.1, 0.2])
    assert image.get_clim() == pytest.approx((0, 0.2))  # the scale ends at the largest off-diagonal share
    assert isinstance(image.colorbar, Colorbar)
    assert _tick_labels(ax.get_yticklabels()) == ["a (n=2)", "b (n=0)", "c (n=1)"]
    texts = _cell_texts(ax)
    assert texts[(0, 0)] == "0.70" and texts[(2, 2)] == "0.70"  # the diagonal is still written
    assert texts[(0, 1)] == "0.20" and (1, 0) not in texts


def _capture(figs, fn, *args, **kw):
    """Call a *_png function, keeping the figure it would save."""
    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    try:
        return fn(*args, **kw)
    finally:
        mp.undo()


def test_write_run_outputs_heads_the_figures_with_the_run_name(tmp_path, monkeypatch):
    saved = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.__setitem__(path.name, fig))
    labels = np.array([0, 0, 1, 2, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 2, 2, 0]] * 0.7 + 0.1  # recall a 1/2, b 1, c 2/3
    pred = {
        "probs": probs,
        "label": labels,
        "soft": np.eye(3)[labels],
        "index": np.arange(6),
        "va_true": np.full((6, 2), np.nan),
        "va_pred": np.full((6, 2), np.nan),
    }
    history = [{"epoch": 1, "train_loss": 1.0, "lr": 0.1}]
    report = write_run_outputs(
        tmp_path / "run", pred, [str(i) for i in range(6)], CLASSES, history, name="my-run"
    )
    assert set(saved) == {"confusion_matrix.png", "reliability.png", "per_class_recall.png", "curves.png"}
    assert "my-run" in saved["confusion_matrix.png"].axes[0].get_title()
    recall_ax = saved["per_class_recall.png"].axes[0]
    assert recall_ax.get_title() == "my-run: per-class recall"
    uar = (1 / 2 + 1 + 2 / 3) / 3
    assert report["uar"] == pytest.approx(uar)
    assert f"UAR {uar:.3f}" in [line.get_label() for line in recall_ax.get_lines()]
    assert _tick_labels(recall_ax.get_xticklabels()) == ["a (n=2)", "b (n=1)", "c (n=3)"]
    saved.clear()
    write_run_outputs(tmp_path / "other", pred, [str(i) for i in range(6)], CLASSES, [])
    assert saved["confusion_matrix.png"].axes[0].get_title().startswith("other\n")  # the folder's name


def test_affectnet_montage_captions_sit_under_each_image():
    rng = np.random.default_rng(0)
    images = [[rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(3)] for _ in range(2)]
    captions = [["happy", "sad", "fear"], ["anger", "contempt"]]
    fig = montage_figure([images[0], images[1][:2]], ["", ""], captions)
    fig.canvas.draw()
    grid = np.array(fig.axes).reshape(2, 3)
    for i, row in enumerate(captions):
        for j in range(3):
            ax = grid[i][j]
            assert ax.get_title(loc="left") == ""  # nothing above the faces
            if j >= len(row):
                assert not ax.texts and not ax.images
                continue
            [text] = ax.texts
            assert text.get_text() == row[j]
            box, image_box = text.get_window_extent(), ax.images[0].get_window_extent()
            assert box.y1 <= image_box.y0  # under the image, not over it
            assert image_box.x0 <= (box.x0 + box.x1) / 2 <= image_box.x1
            if i == 0 and j < len(captions[1]):  # and clear of the image below
                assert box.y0 >= grid[1][j].images[0].get_window_extent().y1


def test_a_one_epoch_run_has_a_single_integer_epoch_tick():
    from softfer.plots.figures import curves_figure

    fig = curves_figure([{"epoch": 1, "train_loss": 1.0, "lr": 0.001}])
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [1]
