"""Issue 16: Grad-CAM figures in a perceptual colour map with a colour bar, and a degenerate map (a 1x1
last layer, a constant map) said to be one, in the log and on the figure, instead of drawn as a finding."""

import json
import logging

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colorbar import Colorbar

from softfer.analysis.gradcam import CAM_SCALE_LABEL, Cam, degenerate, explain, gradcam
from softfer.analysis.report import gradcam_figure
from softfer.models import create_model

PERCEPTUAL = {"viridis", "inferno", "magma", "plasma", "cividis"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("r18_affect", num_classes=5, width=8).eval()


def _pixels(size: int) -> torch.Tensor:
    return torch.randint(
        0, 256, (1, 3, size, size), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )


def test_a_1x1_last_layer_is_reported_and_drawn_flat(caplog):
    model = _image_model()
    with caplog.at_level(logging.WARNING, logger="softfer.analysis.gradcam"):
        cam = explain(model, _pixels(16))  # ResNet-18 downsamples 32x: 16 px -> 1x1
    assert cam.grid == (1, 1) and cam.maps.shape == (1, 16, 16)
    assert "1x1" in cam.warning and "16x16" in cam.warning and "backbone.layer4" in cam.warning
    assert cam.warning not in caplog.text  # returned for the caller to show once (see the analyze test)
    assert not cam.maps.any()  # zeros, not float round-off stretched to [0, 1]
    with caplog.at_level(logging.WARNING, logger="softfer.analysis.gradcam"):
        maps, cls = gradcam(model, _pixels(16))
    np.testing.assert_array_equal(maps, cam.maps)
    assert cls == cam.cls
    assert caplog.text.count(cam.warning) == 1  # the maps alone cannot say it: gradcam logs it


def test_a_large_enough_input_gives_a_map_without_warning():
    cam = explain(_image_model(), _pixels(64))
    assert cam.grid == (2, 2) and cam.warning is None
    assert cam.maps.min() == pytest.approx(0) and cam.maps.max() == pytest.approx(1)


def test_degenerate_names_constant_maps_and_passes_varying_ones():
    varying = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.5]]])
    assert degenerate(varying, "layer4", (64, 64)) is None
    constant = torch.stack([varying[0], torch.full((2, 2), 0.7), torch.zeros(2, 2)])  # ReLU left zeros
    warning = degenerate(constant, "layer4", (64, 64))
    assert "constant on 2 of 3 frames" in warning and "layer4" in warning


def _rows():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    ramp = np.tile(np.linspace(0, 1, 8), (8, 1))
    good = Cam(np.stack([ramp, ramp.T]), 1, (2, 2))
    bad = Cam(np.zeros((1, 8, 8)), 0, (1, 1), "Grad-CAM is degenerate: layer4 is 1x1 for a 8x8 input")
    return [(frames, good, "sad", "happy"), (frames[:1], bad, "happy", "happy")]


def test_figure_uses_a_perceptual_colour_map_with_a_colour_bar_and_writes_the_warning():
    rows = _rows()
    fig = gradcam_figure(rows)
    cells = [ax for ax in fig.axes if ax.images]
    overlays = [ax.images[1] for ax in cells]
    assert len(overlays) == 3  # two frames of the first row, one of the second
    for image in overlays:
        assert image.get_cmap().name in PERCEPTUAL and image.get_clim() == (0, 1)
    np.testing.assert_array_equal(overlays[0].get_array(), rows[0][1].maps[0])
    np.testing.assert_array_equal(overlays[1].get_array(), rows[0][1].maps[1])
    np.testing.assert_array_equal(cells[0].images[0].get_array(), rows[0][0][0])  # the frame under it
    colorbars = [im.colorbar for im in overlays if im.colorbar is not None]
    assert len(colorbars) == 1 and isinstance(colorbars[0], Colorbar)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["true happy / predicted sad", "true happy / predicted happy  [degenerate map]"]
    assert [t.get_text().replace("\n", " ") for t in fig.texts] == [rows[1][1].warning]


def test_the_colour_bar_says_the_maps_are_min_max_scaled():
    fig = gradcam_figure(_rows())
    bars = [ax.images[1].colorbar for ax in fig.axes if len(ax.images) > 1 and ax.images[1].colorbar]
    assert len(bars) == 1
    # explain scales each frame's map to [0, 1] (test_a_large_enough_input_gives_a_map_without_warning)
    assert bars[0].ax.get_ylabel() == CAM_SCALE_LABEL and "min-max" in CAM_SCALE_LABEL


def test_figure_without_degenerate_maps_has_no_warning_text():
    fig = gradcam_figure(_rows()[:1])
    assert not [t for t in fig.texts if t.get_text()]


def test_analyze_shows_a_degenerate_map_warning_once_and_records_it(tiny_dfew, tmp_path, capsys, caplog):
    """Found (new-user audit): `softfer analyze RUN` printed the Grad-CAM degeneracy warning four times, once
    per explained item in the log and once in the summary; analysis.json and .md still record it."""
    from softfer.cli import main
    from softfer.config import load_config, packaged_configs
    from softfer.engine.train import fit
    from tests.engine.conftest import tiny_config

    run = tmp_path / "run"
    sets = {"optim.epochs": 1, "run.max_steps": 1, "data.num_workers": 0, "run.amp": "none"}
    fit(load_config(packaged_configs() / "demo" / "soft.yaml", tiny_config(tiny_dfew, run, **sets)))
    capsys.readouterr()
    with caplog.at_level(logging.DEBUG):
        assert main(["analyze", str(run)]) == 0
    out, err = capsys.readouterr()
    # 32 px frames: ResNet-18's layer4 is 1x1, every explained clip's map is degenerate
    warning = "Grad-CAM is degenerate: backbone.layer4 is 1x1 for a 32x32 input"
    assert (out + err + caplog.text).count(warning) == 1
    assert warning in out
    result = json.loads((run / "analysis" / "analysis.json").read_text())
    assert [w[: len(warning)] for w in result["gradcam_warnings"]] == [warning]
    assert (run / "analysis" / "analysis.md").read_text().count(warning) == 1
