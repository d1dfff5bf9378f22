"""softfer.inference.device.resolve_device: one check of a device name for train, eval and predict."""

import pytest
import torch

from softfer.inference.device import resolve_device


@pytest.mark.parametrize(
    ("name", "why"), [("gpu", "is not a device"), ("tpu", "is not a device"), ("meta", "runs on")]
)
def test_a_name_that_is_no_device_softfer_runs_on_is_one_line_naming_the_setting(name, why):
    """Found (audit): run.device=tpu and Predictor(device="gpu") passed torch's RuntimeError through."""
    with pytest.raises(ValueError, match=rf"run.device='{name}'.*{why}") as refused:
        resolve_device(name)
    assert "\n" not in str(refused.value)


def test_a_device_this_machine_lacks_is_refused_and_auto_picks_what_it_has():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert resolve_device("auto") == torch.device("cuda" if count else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device='cuda:99', but this machine has"):
        resolve_device("cuda:99", "device")
    if not count:  # found (audit): run.device=cuda on a CPU machine failed at the first tensor moved
        with pytest.raises(ValueError, match=r"run.device='cuda', but this machine has no CUDA device"):
            resolve_device("cuda")


def test_the_predictor_checks_its_device_before_the_model_loads(tmp_path):
    """Found (audit): Predictor.from_checkpoint(..., device="gpu") passed torch's RuntimeError through."""
    from softfer.predict import Predictor

    with pytest.raises(ValueError, match=r"^device='gpu' is not a device"):
        Predictor.from_checkpoint(tmp_path / "never_read.pt", device="gpu")
