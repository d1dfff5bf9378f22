"""ONNX export (softfer.convert.onnx): every registered model run by onnxruntime on real frames."""

import copy
import itertools
import json
import warnings

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

import softfer.convert.onnx
from softfer.cli import main
from softfer.config import ExperimentConfig, validate_config
from softfer.convert.onnx import OnnxModule, export_checkpoint, load_onnx
from softfer.inference.batch import forward, frames_input, probabilities
from softfer.inference.checkpoint import save_checkpoint, save_safetensors_checkpoint
from softfer.inference.loading import load_trained_model
from softfer.io.video import iter_frames
from softfer.limits import OPSETS
from softfer.models import ModelSpec, create_model, list_models, model_options, model_spec, spec_of
from softfer.models.registry import _REGISTRY
from softfer.models.spec import IMAGENET_MEAN, IMAGENET_STD
from softfer.predict import Predictor
from softfer.predict.pipeline import classify

SMALL = {"width": 8, "hidden": 16}  # as tests/models/test_spec.py: every model runs in a moment on a CPU
SIZE, FRAMES = 32, 4
CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
TRAINED_ON = {"format": "dfew", "synthetic": True}


@pytest.fixture(scope="module")
def frames(media) -> np.ndarray:
    """12 real video frames (a face), centre-cropped square and resized to SIZE: (12, SIZE, SIZE, 3) uint8."""
    out = []
    for _, frame in itertools.islice(iter_frames(media / "single_face.mp4"), 0, 24, 2):
        h, w = frame.shape[:2]
        side = min(h, w)
        square = frame[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        out.append(cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    return np.stack(out)


def _sharpen(model: nn.Module, frames: np.ndarray) -> nn.Module:
    """Scale the class head so that the logits on the real frames spread with std 2 (TSM starts its head at
    N(0, 0.001): near-uniform probabilities would meet a 1e-4 bound whatever the graph computes)."""
    spec = spec_of(model)
    items = _clips(frames, FRAMES) if spec.input_kind == "clip" else frames
    with torch.no_grad():
        logits, _ = forward(model.eval(), frames_input(model, items))
        factor = 2.0 / logits.std().item()
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight.shape[0] == len(CLASSES):
                m.weight.mul_(factor)  # the logits are linear in the head's weight and bias
                if m.bias is not None:
                    m.bias.mul_(factor)
        if spec.has_va:  # valence/arousal that vary from frame to frame (r18_affect's head)
            model.va_head.weight.mul_(10.0)
    return model


def _checkpoint(path, name: str, frames: np.ndarray, *, safetensors: bool = False):
    """A checkpoint of a small ``name`` saved as tests/faces/test_faces.py's ``_checkpoint`` does."""
    opts = {k: v for k, v in SMALL.items() if k in model_options(name)}
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": SIZE, "segments": FRAMES}, "model": {"name": name, "options": opts}}
    )
    torch.manual_seed(0)
    model = _sharpen(create_model(name, num_classes=len(CLASSES), **opts), frames)
    state = {
        "model": model.state_dict(),
        "config": cfg.model_dump(mode="json"),
        "classes": list(CLASSES),
        "trained_on": TRAINED_ON,
    }
    (save_safetensors_checkpoint if safetensors else save_checkpoint)(state, path)
    return path


def _clips(frames: np.ndarray, t: int, n: int = 3) -> np.ndarray:
    """n overlapping clips of t consecutive frames: (n, t, H, W, 3)."""
    return np.stack([frames[i : i + t] for i in range(n)])


def _probs(model: nn.Module, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    with torch.no_grad():
        logits, va = forward(model, frames_input(model, items))
    return probabilities(logits).numpy(), None if va is None else va.numpy()


@pytest.mark.parametrize("name", list_models())
def test_onnx_reproduces_pytorch_on_real_frames(name, frames, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt", name, frames)
    info = export_checkpoint(ckpt, tmp_path / "model.onnx")
    model, _, _ = load_trained_model(ckpt)
    onnx_model = OnnxModule.from_file(tmp_path / "model.onnx", threads=1)
    spec = spec_of(model)
    clip = spec.input_kind == "clip"
    assert spec_of(onnx_model) == spec == model_spec(name)
    assert info["path"] == str(tmp_path / "model.onnx") and info["classes"] == list(CLASSES)
    assert info["input"]["shape"] == (
        ["batch", "frames", 3, SIZE, SIZE] if clip else ["batch", 3, SIZE, SIZE]
    )
    assert info["opset"] == onnx.load(tmp_path / "model.onnx").opset_import[0].version
    # the pipeline of `softfer predict` (frames_input -> forward -> probabilities), batch 3 (exported at 2)
    items = list(_clips(frames, FRAMES)) if clip else list(frames[:3])
    want, got = classify(model, items), classify(onnx_model, items)
    assert want.shape == got.shape == (3, len(CLASSES))
    assert want.max() - want.min() > 0.1  # far from uniform: a wrong graph could not pass the bound below
    assert np.abs(got - want).max() <= 1e-4
    if clip:  # other clip lengths than the export's
        for t in (6, 1):
            if t < info["min_frames"]:
                with pytest.raises(ValueError, match=f"{info['min_frames']} frames or more"):
                    _probs(onnx_model, _clips(frames, t))
                continue
            (want, _), (got, _) = _probs(model, _clips(frames, t)), _probs(onnx_model, _clips(frames, t))
            assert np.abs(got - want).max() <= 1e-4
    else:  # more images than the export's batch, and valence/arousal where the model has them
        (want, want_va), (got, got_va) = _probs(model, frames), _probs(onnx_model, frames)
        assert np.abs(got - want).max() <= 1e-4
        assert (want_va is None) == (got_va is None) == (not spec.has_va)
        if spec.has_va:
            assert want_va.std() > 0.01 and np.abs(got_va - want_va).max() <= 1e-4


def test_metadata_round_trip(tmp_path, frames):
    ckpt = _checkpoint(tmp_path / "model.safetensors", "r18_affect", frames, safetensors=True)
    out = tmp_path / "onnx" / "affect.onnx"
    export_checkpoint(ckpt, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["affect.onnx"]  # no temporary file left
    module, cfg, classes, trained_on = load_onnx(out, threads=1)
    state_cfg = validate_config(
        {"data": {"size": SIZE, "segments": FRAMES}, "model": {"name": "r18_affect", "options": {"width": 8}}}
    ).model_dump(mode="json")
    assert cfg == state_cfg and validate_config(cfg, str(out)).model.name == "r18_affect"
    assert classes == CLASSES and trained_on == TRAINED_ON
    assert spec_of(module) == model_spec("r18_affect") and spec_of(module).has_va
    assert module.session.get_session_options().intra_op_num_threads == 1
    assert not module.training and list(module.parameters()) == []
    props = {p.key: json.loads(p.value) for p in onnx.load(out).metadata_props}
    assert (
        props["softfer.spec"]["mean"] == list(IMAGENET_MEAN) and props["softfer.spec"]["name"] == "r18_affect"
    )
    assert props["softfer.classes"] == list(CLASSES) and props["softfer.trained_on"] == TRAINED_ON
    assert [o.name for o in onnx.load(out).graph.output] == ["logits", "va"]


def _one_line_error(fn, path) -> str:
    with pytest.raises(ValueError) as err:
        fn()
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg, msg
    return msg


def test_errors_are_one_line_and_name_the_file(tmp_path, frames):
    missing, text, empty = tmp_path / "missing.onnx", tmp_path / "text.onnx", tmp_path / "empty.onnx"
    text.write_text("not an onnx model")
    empty.write_bytes(b"")
    assert "not found" in _one_line_error(lambda: OnnxModule.from_file(missing), missing)
    for bad in (text, empty):
        assert "not a readable ONNX model" in _one_line_error(lambda b=bad: load_onnx(b), bad)
    plain = tmp_path / "plain.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter's notice
        torch.onnx.export(nn.Linear(3, 2), (torch.zeros(1, 3),), plain, dynamo=False)
    assert "without softfer metadata" in _one_line_error(lambda: load_onnx(plain), plain)
    ckpt = _checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames)
    good = tmp_path / "good.onnx"
    export_checkpoint(ckpt, good)
    proto = onnx.load(good)
    next(p for p in proto.metadata_props if p.key == "softfer.spec").value = "{not json"
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, broken)
    assert "softfer.spec is not JSON" in _one_line_error(lambda: load_onnx(broken), broken)
    _one_line_error(
        lambda: export_checkpoint(tmp_path / "none.pt", tmp_path / "x.onnx"), tmp_path / "none.pt"
    )
    assert not (tmp_path / "x.onnx").exists()
    module = OnnxModule.from_file(good)
    wrong_size = frames_input(module, np.stack([cv2.resize(f, (40, 40)) for f in frames[:2]]))
    assert "(B, 3, 32, 32)" in _one_line_error(lambda: module(wrong_size), good)
    uint8 = torch.from_numpy(frames[:2]).permute(0, 3, 1, 2).contiguous()
    assert "float" in _one_line_error(lambda: module(uint8), good)
    _one_line_error(lambda: module.train(), good)
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ValueError, match="no CUDA provider"):
            OnnxModule.from_file(good, device="cuda")


def test_an_opset_the_exporter_cannot_write_is_refused_in_one_line(tmp_path, frames, capfd):
    """Found (audit): --opset took 7-30, the exporter writes 7-20; 24 printed 720 lines of graph and a
    RuntimeError that named neither the checkpoint nor --opset."""
    from torch.onnx import _constants as torch_onnx

    lo, hi = torch_onnx.ONNX_MIN_OPSET, torch_onnx.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    assert lo <= OPSETS[0] < OPSETS[1] <= hi
    ckpt = _checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames)
    for opset in (OPSETS[0] - 1, OPSETS[1] + 1):
        with pytest.raises(SystemExit) as usage:
            main(["export", str(ckpt), "--onnx", str(tmp_path / "m.onnx"), "--opset", str(opset)])
        assert usage.value.code == 2
    assert f"expected an integer in [{OPSETS[0]}, {OPSETS[1]}], got {OPSETS[1] + 1}" in capfd.readouterr().err
    beyond = torch_onnx.ONNX_MAX_OPSET + 1  # the API takes any opset: torch's exporter refuses this one
    msg = _one_line_error(lambda: export_checkpoint(ckpt, tmp_path / "m.onnx", opset=beyond), ckpt)
    assert f"at opset {beyond}" in msg and f"between {OPSETS[0]} and {OPSETS[1]}" in msg
    assert capfd.readouterr().out == "" and not (tmp_path / "m.onnx").exists()


def test_an_export_onnxruntime_does_not_reproduce_is_not_written(tmp_path, frames, monkeypatch):
    ckpt = _checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames)
    real = softfer.convert.onnx._to_onnx

    def off_by_a_bias(model, *args, **kwargs):  # an exporter that gets one class's bias wrong
        other = copy.deepcopy(model)
        other.classifier.bias.data[0] += 0.5
        return real(other, *args, **kwargs)

    monkeypatch.setattr(softfer.convert.onnx, "_to_onnx", off_by_a_bias)
    msg = _one_line_error(lambda: export_checkpoint(ckpt, tmp_path / "model.onnx"), ckpt)
    assert "does not reproduce PyTorch" in msg and not (tmp_path / "model.onnx").exists()


class _FlatClip(nn.Module):
    """A clip model whose head sees every frame's pixels: the frame count is part of its weights."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(FRAMES * 3 * SIZE * SIZE, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.fc(clips.flatten(1))


class _SkipFirst(nn.Module):
    """A clip model that skips the first frame when there are more (a traced graph bakes the ``if``)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(3, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = clips.mean(dim=(3, 4))
        if clips.shape[1] > 1:
            x = x[:, 1:]
        return self.fc(x).mean(1)


@pytest.mark.parametrize(("cls", "fewest", "dynamic"), [(_FlatClip, FRAMES, False), (_SkipFirst, 2, True)])
def test_frame_counts_the_graph_cannot_take_are_refused(cls, fewest, dynamic, frames, tmp_path, monkeypatch):
    spec = ModelSpec("clip", "logits", IMAGENET_MEAN, IMAGENET_STD, "imagenet-resnet18", name="probe")
    monkeypatch.setitem(_REGISTRY, "probe", (lambda *, num_classes=7: cls(num_classes), spec))
    info = export_checkpoint(_checkpoint(tmp_path / "probe.pt", "probe", frames), tmp_path / "probe.onnx")
    assert info["min_frames"] == fewest
    assert info["input"]["shape"][1] == ("frames" if dynamic else FRAMES)
    model, _, _ = load_trained_model(tmp_path / "probe.pt")
    module = OnnxModule.from_file(tmp_path / "probe.onnx")
    for t in (1, FRAMES, FRAMES + 2):
        if t < fewest or (not dynamic and t != FRAMES):
            _one_line_error(
                lambda t=t: module(frames_input(module, _clips(frames, t))), tmp_path / "probe.onnx"
            )
        else:
            (want, _), (got, _) = _probs(model, _clips(frames, t)), _probs(module, _clips(frames, t))
            assert want.max() - want.min() > 0.1 and np.abs(got - want).max() <= 1e-4


def test_predictor_runs_the_onnx_model_like_the_pytorch_one(media, frames, tmp_path):
    ckpt = _checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames)
    export_checkpoint(ckpt, tmp_path / "model.onnx")
    module, cfg, classes, _ = load_onnx(tmp_path / "model.onnx", threads=1)
    torch_predictor = Predictor.from_checkpoint(ckpt)
    onnx_predictor = Predictor(module, validate_config(cfg), classes, faces=torch_predictor.faces)
    want = torch_predictor.predict(media / "single_face.jpg").frames
    got = onnx_predictor.predict(media / "single_face.jpg").frames
    cols = [f"p_{c}" for c in CLASSES]
    assert len(want) == len(got) >= 1
    assert np.abs(got[cols].to_numpy() - want[cols].to_numpy()).max() <= 1e-4


def test_a_checkpoint_edited_after_training_is_refused_by_every_loader(tmp_path, frames):
    """Found (audit): eval checked the config hash a checkpoint's fingerprint records, export and predict
    did not; a model.pt whose data.size was edited was exported and applied at the edited size."""
    from softfer import __version__
    from softfer.config.identity import config_hash
    from softfer.inference.checkpoint import load_checkpoint

    ckpt = _checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames)
    state = load_checkpoint(ckpt)
    fingerprint = {"config": config_hash(validate_config(state["config"])), "code": {"softfer": __version__}}
    save_checkpoint({**state, "fingerprint": fingerprint}, ckpt)
    export_checkpoint(ckpt, tmp_path / "good.onnx")  # its own config: exported and loaded
    assert load_onnx(tmp_path / "good.onnx")[1]["data"]["size"] == SIZE
    edited = tmp_path / "edited.pt"
    save_checkpoint({**state, "fingerprint": fingerprint, "config": {**state["config"], "name": "x"}}, edited)
    load_trained_model(edited)  # a name is not a setting that makes the model (REUSE_SAFE)
    state["config"]["data"]["size"] = 48
    save_checkpoint({**state, "fingerprint": fingerprint}, edited)
    for load in (
        lambda: export_checkpoint(edited, tmp_path / "edited.onnx"),
        lambda: Predictor.from_checkpoint(edited),
        lambda: load_trained_model(edited),
    ):
        assert "its config is not the one it was trained with" in _one_line_error(load, edited)
    assert not (tmp_path / "edited.onnx").exists()
    proto = onnx.load(tmp_path / "good.onnx")
    entry = next(p for p in proto.metadata_props if p.key == "softfer.config")
    entry.value = json.dumps({**json.loads(entry.value), "data": {**state["config"]["data"], "size": 48}})
    onnx.save(proto, tmp_path / "edited.onnx")
    msg = _one_line_error(lambda: load_onnx(tmp_path / "edited.onnx"), tmp_path / "edited.onnx")
    assert "its config is not the one it was exported with" in msg


# --- every value read back from an ONNX file's metadata is checked on load --------------------------------

CALIBRATION = {"temperature": 2.0, "ambiguity": {"rule": "top-2 margin", "threshold": 0.3, "fitted": True}}


@pytest.fixture(scope="module")
def calibrated_onnx(tmp_path_factory, frames):
    """A calibrated clip model (tsm_r18) exported: min_frames, trained_on and calibration in its metadata."""
    from softfer.inference.checkpoint import load_checkpoint

    tmp = tmp_path_factory.mktemp("calibrated_onnx")
    state = load_checkpoint(_checkpoint(tmp / "model.pt", "tsm_r18", frames))
    save_checkpoint({**state, "calibration": CALIBRATION}, tmp / "model.pt")
    export_checkpoint(tmp / "model.pt", tmp / "model.onnx")
    return tmp / "model.onnx"


def _with(meta: dict, **changes) -> dict:
    return {**meta, **changes}


NAN = float("nan")
METADATA_EDITS = [  # (metadata key, its new value from the exported one, what the error names)
    ("input", lambda v: _with(v, min_frames="2"), "softfer.input.min_frames"),  # found (audit)
    ("input", lambda v: _with(v, min_frames=0), "softfer.input.min_frames"),
    ("input", lambda v: _with(v, min_frames=FRAMES + 1), "softfer.input: min_frames 5"),
    ("input", lambda v: _with(v, min_frames=None), "softfer.input: min_frames None"),
    ("input", lambda v: _with(v, min_frames=True), "softfer.input.min_frames"),
    ("input", lambda v: _with(v, name="pixels"), "softfer.input: name 'pixels'"),
    ("input", lambda v: _with(v, shape=["batch", 3, SIZE, SIZE]), "softfer.input: shape"),
    ("input", lambda v: _with(v, layout="NCHW"), "softfer.input.layout"),
    ("input", lambda v: [v], "softfer.input: Input should be a JSON object"),
    ("trained_on", lambda v: _with(v, synthetic="false"), "softfer.trained_on.synthetic"),
    ("trained_on", lambda v: [v], "softfer.trained_on: Input should be a JSON object"),
    ("classes", lambda v: ",".join(v), "softfer.classes: Input should be a valid list"),
    ("classes", lambda v: [1, *v[1:]], "softfer.classes.0"),
    ("spec", lambda v: _with(v, box_margin="0.2"), "softfer.spec.box_margin"),
    ("spec", lambda v: _with(v, input_size=0), "softfer.spec.input_size"),
    ("spec", lambda v: _with(v, mean=[NAN, NAN, NAN]), "softfer.spec.mean.0"),
    ("calibration", lambda v: _with(v, temperature=1e-300), "softfer.calibration.temperature"),
    (
        "calibration",
        lambda v: _with(v, ambiguity={**v["ambiguity"], "fitted": "false"}),
        "softfer.calibration.ambiguity.fitted",
    ),
    ("fingerprint", lambda v: {"config": 5}, "softfer.fingerprint.config"),
]


@pytest.mark.parametrize(
    ("key", "edit", "named"), METADATA_EDITS, ids=[f"{k}-{n}" for k, _, n in METADATA_EDITS]
)
def test_onnx_metadata_not_as_export_writes_it_is_refused_on_load_naming_the_field(
    key, edit, named, calibrated_onnx, tmp_path
):
    """Found (audit): softfer.input.min_frames "2" loaded and failed with a TypeError during predict; the
    metadata's values were not checked (types and ranges) when the file was loaded."""
    from softfer.inference.calibration import Calibration

    module = load_onnx(calibrated_onnx)[0]  # as exported: loads, its calibration applied
    assert Calibration.from_state(module.metadata) == Calibration(2.0, 0.3, True)
    proto = onnx.load(calibrated_onnx)
    entry = next((p for p in proto.metadata_props if p.key == f"softfer.{key}"), None)
    if entry is None:  # the fingerprint: exported from a checkpoint that records none
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"softfer.{key}", "null"
    entry.value = json.dumps(edit(json.loads(entry.value)))
    onnx.save(proto, tmp_path / "edited.onnx")
    assert named in _one_line_error(lambda: load_onnx(tmp_path / "edited.onnx"), tmp_path / "edited.onnx")


def test_predict_refuses_an_onnx_file_whose_min_frames_is_a_string_with_exit_2(
    calibrated_onnx, media, tmp_path, capsys
):
    proto = onnx.load(calibrated_onnx)
    entry = next(p for p in proto.metadata_props if p.key == "softfer.input")
    entry.value = json.dumps({**json.loads(entry.value), "min_frames": "2"})
    onnx.save(proto, tmp_path / "edited.onnx")
    argv = ["predict", str(media / "single_face.jpg"), "--checkpoint", str(tmp_path / "edited.onnx")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"softfer: error: {tmp_path / 'edited.onnx'}: metadata softfer.input.min_frames")
    assert "\n" not in err and not (tmp_path / "out").exists()


def test_export_refuses_a_checkpoint_whose_calibration_its_onnx_file_could_not_load(tmp_path, frames):
    from softfer.inference.checkpoint import load_checkpoint

    state = load_checkpoint(_checkpoint(tmp_path / "model.pt", "fer_mini_xception", frames))
    save_checkpoint({**state, "calibration": {**CALIBRATION, "temperature": 1e-300}}, tmp_path / "model.pt")
    msg = _one_line_error(lambda: export_checkpoint(tmp_path / "model.pt", tmp_path / "m.onnx"), "model.pt")
    assert "calibration.temperature" in msg and not (tmp_path / "m.onnx").exists()


def test_eval_and_calibrate_of_an_onnx_file_say_what_they_read(tmp_path, capsys):
    """Found (audit U3): eval called a valid ONNX file "a corrupt or truncated checkpoint", and calibrate
    named its default --out instead."""
    from tests.robustness.test_cli_errors import _stderr_line

    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"\x08\x09 any ONNX bytes")
    for argv in (["eval", str(onnx_file)], ["calibrate", str(onnx_file)]):
        assert main(argv) == 2
        assert f"{onnx_file}: an ONNX export; this command reads the PyTorch" in _stderr_line(capsys)
