"""Audit 6 U3: an ONNX export given where a PyTorch checkpoint is read (`eval`, `calibrate`, `export`, a
resume, `Predictor` with the torch backend) is named as what it is, by its suffix or by its bytes, in the
one place checkpoints are loaded (``inference.checkpoint.load_checkpoint``): "not a PyTorch file (it starts
with b'\\x08\\t...'): a corrupt or truncated checkpoint" sent the user looking for damage."""

import shutil

import pytest

from softfer.cli import main
from softfer.convert.onnx import export_checkpoint
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint, save_safetensors_checkpoint
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _stderr_line

SAYS = (
    "this command reads the PyTorch checkpoint (.pt, .pth or .safetensors) it was exported from; ONNX files "
    "run in `softfer predict`"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A valid ONNX file written by `softfer export` (a tiny tsm_r18)."""
    folder = tmp_path_factory.mktemp("onnx")
    export_checkpoint(_checkpoint(folder / "model.pt"), folder / "m.onnx")
    return folder / "m.onnx"


@pytest.mark.parametrize("name", ["m.pt", "m.pth", "m.safetensors", "m", "m.onnx"])
def test_an_onnx_file_under_any_name_is_named_as_an_onnx_export(exported, tmp_path, name):
    path = tmp_path / name
    shutil.copy(exported, path)
    with pytest.raises(ValueError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: an ONNX export") and SAYS in message, message
    assert "corrupt" not in message and "\n" not in message
    if name != "m.onnx":  # named otherwise: how it was known, and the name predict needs
        suffix = path.suffix or "without a suffix"
        assert f"(named {suffix}, by its bytes)" in message and message.endswith(", named .onnx"), message


def test_eval_calibrate_and_export_of_a_renamed_onnx_file_say_the_same(exported, tmp_path, capsys):
    renamed = tmp_path / "model.pt"
    shutil.copy(exported, renamed)
    for argv in (
        ["eval", str(renamed), "--out", str(tmp_path / "e")],
        ["calibrate", str(renamed)],
        ["export", str(renamed), "--onnx", str(tmp_path / "again.onnx")],
    ):
        assert main(argv) == 2, argv
        line = _stderr_line(capsys)
        assert f"{renamed}: an ONNX export (named .pt, by its bytes); {SAYS}" in line, (argv, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # nothing written


def test_the_onnx_test_reads_the_model_header_and_never_refuses_a_checkpoint(exported, tmp_path):
    from softfer.inference.checkpoint import onnx_head

    # field 1 (IR version 9), then field 2 (the producer name): what torch's exporter writes
    assert exported.read_bytes()[:3] == b"\x08\x09\x12" and onnx_head(exported.read_bytes()[:4])
    assert onnx_head(b"\x08\x07\x3a\x00")  # onnx.helper.make_model: IR version, then the graph (field 7)
    for head in (b"PK\x03\x04", b"\x80\x02", b"\x08\x00\x12", b"\x08\x09\x0a", b"\x08\x85\x12", b"\x08\x09"):
        assert not onnx_head(head), head
    # a .safetensors checkpoint whose header length (8 little-endian bytes first) reads 08 01 12 ..., like an
    # ONNX file's bytes, still loads: the bytes are looked at only for a file that is refused anyway
    state = load_checkpoint(_checkpoint(tmp_path / "model.pt"))
    target = 0x120108  # the header length whose bytes start 08 01 12
    note = ""
    for _ in range(4):
        save_safetensors_checkpoint({**state, "note": note}, tmp_path / "odd.safetensors")
        length = int.from_bytes((tmp_path / "odd.safetensors").read_bytes()[:8], "little")
        note += "x" * (target - length)
    assert (tmp_path / "odd.safetensors").read_bytes()[:3] == b"\x08\x01\x12"
    assert load_checkpoint(tmp_path / "odd.safetensors")["classes"] == state["classes"]
    save_checkpoint(state, tmp_path / "plain.pt")  # a torch file starts "PK": loads as ever
    assert load_checkpoint(tmp_path / "plain.pt")["classes"] == state["classes"]
