"""ONNX export of softfer checkpoints, and an onnxruntime module that stands in for the PyTorch model.

``export_checkpoint`` writes one ``.onnx`` file per checkpoint: the graph takes the NORMALISED float32
input the PyTorch model takes (``softfer.inference.batch.frames_input``): images (B, 3, H, W), clips
(B, T, 3, H, W), with a dynamic batch axis and, where the traced graph allows it, a dynamic frame axis. It
returns the class logits (output "logits") and, for "logits+va" models, valence/arousal (output "va").
The file's ``metadata_props`` carry what ``softfer predict`` needs, as JSON strings: ``softfer.spec`` (the
ModelSpec), ``softfer.classes``, ``softfer.config`` (the resolved experiment config), ``softfer.trained_on``
and ``softfer.input`` (input name, shape with named dynamic axes, the fewest frames a clip may have), and
for a calibrated checkpoint ``softfer.calibration`` (``softfer.inference.calibration``: applied by predict).

The export is checked before the file is written: onnxruntime must reproduce PyTorch's outputs at the
export shape, at batch 1, and for clip models at 1, 2 and T+1 frames. A frame count the graph does not
reproduce narrows the recorded frame range (TSM's traced shift needs 2 frames or more); if T+1 frames
fail, the model is exported again with a fixed frame axis. A graph that does not reproduce PyTorch at the
export shape is refused.

``OnnxModule.from_file`` / ``load_onnx`` load such a file into a ``torch.nn.Module`` carrying the model's
spec, so ``spec_of``, ``frames_input``, ``forward`` and ``probabilities`` treat it like the PyTorch model.
onnx and onnxruntime are imported only here, when used.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from softfer.convert.onnx_metadata import (
    INPUT_NAME,
    META_PREFIX,
    read_metadata,
)
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import model_from_state
from softfer.io.capture import captured_fd, write_all
from softfer.io.files import atomic_write
from softfer.io.outputs import check_output
from softfer.limits import OPSETS
from softfer.models.affect import AffectOutput
from softfer.models.spec import SPEC_ATTR, ModelSpec, spec_of

# The export check compares onnxruntime's outputs with PyTorch's relative to their largest magnitude: float32
# kernels differ by ~1e-6 of it, a wrong graph (a baked frame count, a dropped branch) by far more than 1e-3.
RTOL = 1e-3
ATOL = 1e-6


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def _example(spec: ModelSpec, size: int, frames: int | None, batch: int, seed: int) -> torch.Tensor:
    """A normalised-scale random input of the model's layout."""
    layout = (spec.channels, size, size) if frames is None else (frames, spec.channels, size, size)
    return torch.randn((batch, *layout), generator=torch.Generator().manual_seed(seed))


def _outputs(out: Any) -> list[np.ndarray]:
    if isinstance(out, tuple) and hasattr(out, "logits"):
        return [out.logits.numpy(), out.va.numpy()]
    return [out.numpy()]


def _to_onnx(
    model: torch.nn.Module, example: torch.Tensor, opset: int | None, frames_axis: bool, source: str
) -> bytes:
    """The legacy (TorchScript-tracing) exporter's ONNX bytes, batch axis (and frame axis) dynamic."""
    outputs = ["logits", "va"] if spec_of(model).has_va else ["logits"]
    axes: dict[str, dict[int, str]] = {INPUT_NAME: {0: "batch", 1: "frames"} if frames_axis else {0: "batch"}}
    axes.update({name: {0: "batch"} for name in outputs})
    # torch >= 2.5 defaults to the dynamo exporter (needs onnxscript, 3-20 s per model); older ones lack
    # the argument.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buf = io.BytesIO()

    def export() -> None:
        torch.onnx.export(
            model,
            (example,),
            buf,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
            **legacy,
        )

    with warnings.catch_warnings(), tempfile.TemporaryFile() as sink:
        # the deprecation notice of the legacy exporter, tracer warnings about Python values baked into the
        # graph and the GRU's batch-size warning: the export check finds out what the graph reproduces.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size other than 1")
        try:
            # when the exporter refuses a model it first prints the whole graph from C++ (hundreds of
            # lines) before the error that says why: dropped, the one-line error follows
            _, printed = captured_fd(1, sink, export, on_error="drop")
        except Exception as exc:  # the exporter's own refusals: an opset it lacks, an operator an opset lacks
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                f"{source}: torch's ONNX exporter cannot write model {spec_of(model).name} at opset "
                f"{opset if opset is not None else 'default'} ({why[:300]}); leave --opset out for the "
                f"exporter's default, or choose another between {OPSETS[0]} and {OPSETS[1]}"
            ) from exc
    write_all(1, printed)
    return buf.getvalue()


def _session(source: str | bytes, threads: int | None = None, device: str = "cpu") -> Any:
    import onnxruntime as ort  # here, not at the top: `predict` with a .pt model never needs it (0.3 s)

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: onnxruntime's warnings about initialisers are noise here
    # idle pool threads sleep instead of spinning, as OMP_WAIT_POLICY=PASSIVE does for torch: spinning
    # threads beside another busy process take the cores the working ones need (docs/BENCHMARKS.md)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for onnxruntime's default), got {threads}")
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(source, opts, providers=_providers(ort, device))


def _providers(ort: Any, device: str) -> list[Any]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.split(":")[0] != "cuda":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ValueError(
            f"device {device!r} asked, but this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
        )
    index = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def _matches(session: Any, x: torch.Tensor, reference: list[np.ndarray]) -> bool:
    """Whether the session reproduces PyTorch's outputs on ``x`` (a run that fails does not)."""
    try:
        got = session.run(None, {INPUT_NAME: x.numpy()})
    except Exception:  # onnxruntime raises its own error types for shapes the graph cannot take
        return False
    return all(
        g.shape == r.shape and np.abs(g - r).max(initial=0.0) <= RTOL * np.abs(r).max(initial=0.0) + ATOL
        for g, r in zip(got, reference, strict=True)
    )


def _reproduces(model: torch.nn.Module, session: Any, x: torch.Tensor) -> bool:
    try:
        with torch.no_grad():
            reference = _outputs(model(x))
    except (RuntimeError, ValueError):  # a frame count the PyTorch model itself does not take
        return False
    return _matches(session, x, reference)


def _fewest_frames(model: torch.nn.Module, session: Any, size: int, frames: int) -> int | None:
    """The fewest frames from which on the graph reproduces PyTorch (probing 1, 2 and frames + 1), or
    None when frames + 1 already fails (the frame axis cannot be dynamic)."""
    spec = spec_of(model)
    probes = sorted({1, 2, frames + 1} - {frames})
    ok = {t: _reproduces(model, session, _example(spec, size, t, 1, seed=t)) for t in probes}
    if not ok[frames + 1]:
        return None
    fewest = frames
    for t in sorted((t for t in probes if t < frames), reverse=True):
        if not ok[t]:
            break
        fewest = t
    return fewest


def _checked_export(
    model: torch.nn.Module, size: int, frames: int | None, opset: int | None, source: str
) -> tuple[bytes, list[int | str], int | None]:
    """(ONNX bytes, input shape with named dynamic axes, fewest frames) of a graph checked against PyTorch."""
    spec = spec_of(model)
    example = _example(spec, size, frames, 2, seed=0)
    data = _to_onnx(model, example, opset, frames_axis=frames is not None, source=source)
    session = _session(data)
    fewest = None
    if frames is not None:
        fewest = _fewest_frames(model, session, size, frames)
        if fewest is None:  # export again with the frame count fixed, so the graph itself refuses others
            data = _to_onnx(model, example, opset, frames_axis=False, source=source)
            session, fewest = _session(data), frames
    single = _example(spec, size, frames, 1, seed=1)
    for x in (example, single):
        if not _reproduces(model, session, x):
            raise ValueError(
                f"{source}: the ONNX export of model {spec.name} does not reproduce PyTorch's outputs on "
                f"input {tuple(x.shape)}; it is not written"
            )
    shape: list[int | str] = ["batch", *example.shape[1:]]
    if frames is not None and _frames_dynamic(session):
        shape[1] = "frames"
    return data, shape, fewest


def _frames_dynamic(session: Any) -> bool:
    return not isinstance(session.get_inputs()[0].shape[1], int)


def export_checkpoint(
    checkpoint: str | Path, out: str | Path, *, opset: int | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Export a softfer checkpoint to ONNX, with what ``softfer predict`` needs in its metadata.

    The input is the model's normalised float32 input at the config's ``data.size`` (and, for clip models,
    ``data.segments * data.frames_per_segment`` frames, the clip ``softfer predict`` feeds).

    Args:
        checkpoint: RUN/model.pt, a training checkpoint or a ``.safetensors`` checkpoint.
        out: the ``.onnx`` file to write (atomically).
        opset: the ONNX opset; None takes torch's default.
        overwrite: replace an existing ``out`` (never the checkpoint itself).

    Returns:
        path, input (name and shape, dynamic axes named "batch"/"frames"), min_frames (clip models, else
        None), opset and classes.

    Raises:
        ValueError: one line naming the checkpoint when it cannot be loaded, or when onnxruntime does not
            reproduce the PyTorch model on the export shape; ``out`` is the checkpoint, or exists without
            ``overwrite`` (``softfer.io.outputs``).
    """
    check_output(out, inputs=[checkpoint], overwrite=overwrite, what="--onnx", suffix=".onnx")
    state = load_checkpoint(checkpoint)
    model, cfg, classes = model_from_state(state, checkpoint)
    Calibration.from_state(state, checkpoint)  # never copy an entry the ONNX file's loaders would refuse
    spec = spec_of(model)
    frames = cfg.data.segments * cfg.data.frames_per_segment if spec.input_kind == "clip" else None
    data, shape, fewest = _checked_export(model, cfg.data.size, frames, opset, str(checkpoint))
    import onnx  # here, not at the top: importing it costs ~0.9 s that only an export needs

    proto = onnx.load_from_string(data)
    meta = {
        "spec": dataclasses.asdict(spec),
        "classes": list(classes),
        "config": cfg.model_dump(mode="json"),
        "trained_on": state.get("trained_on"),
        "input": {"name": INPUT_NAME, "shape": shape, "min_frames": fewest},
        "calibration": state.get("calibration"),
        "fingerprint": state.get("fingerprint"),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, json.dumps(value)
    with atomic_write(out, "wb") as f:
        f.write(proto.SerializeToString())
    opsets = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    return {
        "path": str(out),
        "input": meta["input"],
        "min_frames": fewest,
        "opset": opsets[0] if opsets else None,
        "classes": list(classes),
    }


class OnnxModule(torch.nn.Module):
    """An exported softfer model run by onnxruntime, usable wherever the PyTorch model is used.

    Carries the model's ``ModelSpec`` as ``create_model`` attaches it, takes the same normalised input
    (``frames_input``) and returns the same output: class logits, or an ``AffectOutput`` (logits, va).
    Inference only: it has no parameters and cannot be put in training mode. Build with ``from_file``.

    Attributes:
        session: the onnxruntime InferenceSession.
        metadata: the file's softfer metadata (spec, classes, config, trained_on, input).
        source: the file it was loaded from.
    """

    def __init__(self, session: Any, metadata: dict[str, Any], source: str) -> None:
        super().__init__()
        self.session, self.metadata, self.source = session, metadata, source
        setattr(self, SPEC_ATTR, metadata["spec"])
        self.min_frames: int | None = metadata["input"].get("min_frames")
        self.input_shape = tuple(d if isinstance(d, int) else None for d in session.get_inputs()[0].shape)
        self.output_names = ["logits", "va"] if metadata["spec"].has_va else ["logits"]
        self.train(False)

    @classmethod
    def from_file(cls, path: str | Path, *, threads: int | None = None, device: str = "cpu") -> OnnxModule:
        """Load an ``.onnx`` file written by ``export_checkpoint``.

        Args:
            threads: onnxruntime's intra-op threads; None takes its default (all cores: on a shared
                2-core machine one thread was measured ~4x faster).
            device: "cpu", or "cuda"/"cuda:N" for onnxruntime's CUDA provider (onnxruntime-gpu).

        Raises:
            ValueError: one line naming the file when it is missing, not a readable ONNX model, or has no
                (or broken) softfer metadata.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"ONNX model not found: {path}")
        try:
            session = _session(str(path), threads, device)
        except ValueError:
            raise
        except Exception as exc:  # onnxruntime raises its own error types for damaged files
            reason = _first_line(exc).split(" : ")[-1]
            raise ValueError(f"{path}: not a readable ONNX model ({reason})") from exc
        return cls(session, read_metadata(session, path), str(path))

    def train(self, mode: bool = True) -> OnnxModule:
        if mode:
            raise ValueError(f"{self.source}: an ONNX model runs inference only; it has no training mode")
        return super().train(False)

    def extra_repr(self) -> str:
        return f"{self.source!r}, model={getattr(self, SPEC_ATTR).name}, input={self._layout()}"

    def _layout(self) -> str:
        names = ("B", "T", "C", "H", "W") if len(self.input_shape) == 5 else ("B", "C", "H", "W")
        dims = (n if d is None else str(d) for n, d in zip(names, self.input_shape, strict=True))
        return f"({', '.join(dims)})"

    def _check(self, x: torch.Tensor) -> None:
        fixed = len(x.shape) == len(self.input_shape) and all(
            want is None or got == want for got, want in zip(x.shape, self.input_shape, strict=True)
        )
        if not fixed or not x.is_floating_point():
            raise ValueError(
                f"{self.source}: the exported model takes normalised float input {self._layout()} "
                f"(softfer.inference.batch.frames_input), got {x.dtype} {tuple(x.shape)}"
            )
        if x.dim() == 5 and self.min_frames is not None and x.shape[1] < self.min_frames:
            raise ValueError(
                f"{self.source}: the exported model takes clips of {self.min_frames} frames or more, got "
                f"{x.shape[1]}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor | AffectOutput:
        self._check(x)
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        outs = self.session.run(self.output_names, {self.metadata["input"]["name"]: array})
        tensors = [torch.from_numpy(o).to(x.device) for o in outs]
        return AffectOutput(*tensors) if len(tensors) == 2 else tensors[0]


def load_onnx(
    path: str | Path, *, threads: int | None = None, device: str = "cpu"
) -> tuple[OnnxModule, dict[str, Any], tuple[str, ...], dict[str, Any] | None]:
    """(module, resolved config dict, class names, what it was trained on) from an exported ``.onnx``.

    The config validates with ``softfer.config.validate_config(cfg, str(path))``; raises as
    ``OnnxModule.from_file``.
    """
    module = OnnxModule.from_file(path, threads=threads, device=device)
    meta = module.metadata
    return module, meta["config"], tuple(meta["classes"]), meta["trained_on"]
