"""Audit 6 U2: `softfer models list --counts --size 2048 --frames 1024` passed each option's range and then
asked for 51 GB. Each option keeps a range of its own; their product, the pixels of the input one model is
counted on, is bounded (``models.summary.MAX_COUNTED_PIXELS``) and refused naming both options before any
model is built."""

import pytest

from softfer.cli import main
from softfer.models import summary
from tests.robustness.test_cli_errors import _stderr_line


def test_the_bound_is_32_frames_at_448_px_and_holds_for_every_model():
    from softfer.models.summary import MAX_COUNTED_PIXELS, check_counted_input

    assert MAX_COUNTED_PIXELS == 32 * 448 * 448 == 6_422_528
    check_counted_input(32, 448)  # the corner itself is counted
    check_counted_input(6, 1024)  # 6 x 1024 x 1024 = 6,291,456
    check_counted_input(1, 1024)  # the largest still image
    # no --size: each model's own input; the 224-px clip models (tsm_r18, r18_gru) take 128 frames, not 129
    check_counted_input(128, None)
    for frames, size, pixels in [(33, 448, 6_623_232), (7, 1024, 7_340_032), (129, None, 6_472_704)]:
        with pytest.raises(ValueError, match=r"--frames .*lower --frames or --size") as refused:
            check_counted_input(frames, size)
        assert f"= {pixels:,} pixels, more than the 6,422,528" in str(refused.value)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--size", "1024", "--frames", "512"],
            "--frames 512 with --size 1024: tsm_r18 would be counted on "
            "512 x 1024 x 1024 = 536,870,912 pixels",
        ),
        (["--frames", "256"], "--frames 256 (no --size): tsm_r18 would be counted on 256 x 224 x 224"),
    ],
)
def test_models_list_refuses_the_product_before_building_a_model(argv, said, monkeypatch, capsys):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the input was checked")

    monkeypatch.setattr(summary, "create_model", no_model)
    assert main(["models", "list", "--counts", *argv]) == 2
    line = _stderr_line(capsys)
    assert said in line and "lower --frames or --size" in line, line


def test_each_option_keeps_its_own_range(capsys):
    for argv in (["--size", "2048"], ["--size", "8"], ["--frames", "1024"], ["--frames", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(["models", "list", "--counts", *argv])
        assert stopped.value.code == 2
        assert "expected an integer in" in capsys.readouterr().err
