"""Issue 26: the demo calls its stored reference comparison converged only when longer budgets of the same
study confirm it (benchmarks/demo_reference.py --confirmed-by): each repeats the UAR ranking and reverses
none of the paired differences an earlier budget decided. Hand-made compare folders as in
test_demo_reference.py; no training."""

import json
from pathlib import Path

import pytest

from softfer.io.files import write_json_atomic
from softfer.studies.converged import load_reference, reference_lines
from tests.test_demo_reference import UAR, data_now, demo_side, dr, fake_compare  # noqa: F401 (autouse)


def test_a_reference_that_a_longer_budget_repeats_is_called_converged(tmp_path):
    out = tmp_path / "reference.json"
    dr.write_reference(
        fake_compare(tmp_path / "e96"), out, longer=(fake_compare(tmp_path / "e160", epochs=160),)
    )
    reference = load_reference(out)
    assert reference["confirmed_by"] == [160]
    configs, summary, data = demo_side(tmp_path)
    lines = reference_lines(reference, configs, summary, data)
    assert lines[0].endswith(
        "; the same UAR ranking, no difference reversed, at 160 epochs), UAR mean [95% interval]:"
    )
    assert lines[-1] == (
        "This demo's ranking at 32 epochs (hard > soft > midas, one run each) is not the converged one: the "
        "reference trained 96 epochs, and ranks them differently."
    )


def _recompute_ece(compare: Path, config: str, shift: float) -> None:
    for path in (compare / config).glob("fold_*/metrics.json"):
        metrics = json.loads(path.read_text())
        write_json_atomic(path, {**metrics, "ece": metrics["ece"] + shift})


def test_a_longer_budget_that_moves_the_ranking_or_reverses_a_difference_is_refused(tmp_path):
    e96, out = fake_compare(tmp_path / "e96"), tmp_path / "reference.json"
    swapped = {**UAR, "demo-hard": UAR["demo-soft"], "demo-soft": UAR["demo-hard"]}
    moved = fake_compare(tmp_path / "e160", swapped, epochs=160)
    with pytest.raises(
        ValueError,
        match=r"at 160 epochs the UAR ranking is demo-hard > demo-soft > demo-midas, at 96 demo-soft > ",
    ):
        dr.write_reference(e96, out, longer=(moved,))
    # same UAR ranking, but soft's calibration (ECE, lower is better) goes from better than hard's in every
    # run to worse in every run
    reversed_ece = fake_compare(tmp_path / "e192", epochs=192)
    _recompute_ece(reversed_ece, "demo-soft", 0.2)
    with pytest.raises(
        ValueError,
        match=r"at 192 epochs a difference an earlier budget decided is reversed \(demo-soft - demo-hard on "
        "ece, ",
    ):
        dr.write_reference(e96, out, longer=(reversed_ece,))
    with pytest.raises(ValueError, match=r"\(32 epochs\) is not longer than the reference's 96 epochs"):
        dr.write_reference(e96, out, longer=(fake_compare(tmp_path / "e32", epochs=32),))
    assert not out.exists()
