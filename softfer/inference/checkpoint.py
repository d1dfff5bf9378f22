"""Atomic checkpoints and safe loading (``torch.load(weights_only=True)``).

Every checkpoint softfer writes carries ``weights_sha256``, a sha256 of its model weights (each tensor's
name, dtype, shape and bytes), checked on load: damage inside the weights is refused, however it got
there. torch does not check the CRCs of its zip archive, so bytes zeroed on disk otherwise load and
score as a different model. A digest rather than the zip CRCs (``zipfile.testzip``) because it also
covers ``.safetensors`` files (it is stored in their metadata), which are no zip archives, and it costs
one pass over bytes already in memory. A checkpoint without one (older, or written by other software)
loads, with a debug note.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import safe_open
from safetensors.torch import save as save_safetensors

from softfer.io.files import atomic_write
from softfer.models.pretrained import check_finite_weights, refused_for_safety

SAFETENSORS_KEY = "softfer"
DIGEST_KEY = "weights_sha256"
STATE_DIGEST_KEY = "state_sha256"  # the other tensors of a training checkpoint (last.pt)
log = logging.getLogger(__name__)
# The protobuf tags of an ONNX ModelProto's fields 2-8 (producer name and version, domain, model version,
# doc string, graph, opset imports), one of which follows its IR version in every serialised model: fields
# are written in number order.
ONNX_NEXT_TAGS = frozenset(b"\x12\x1a\x22\x28\x32\x3a\x42")


class StoredModel(BaseModel):
    """A value softfer wrote to a file and reads back: JSON's own types (the string "false" is no boolean,
    "2" no integer), finite numbers; keys it does not read pass (a later version may add some)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")


def stored_problems(exc: ValidationError, prefix: str = "") -> str:
    """A ``StoredModel``'s validation error as one line: each field's dotted name under ``prefix`` (an entry
    or metadata key), what is wrong and the value found ("calibration.temperature: Input should be greater
    than or equal to 0.01 (got 1e-300)")."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        what = "Input should be a JSON object" if e["type"] == "model_type" else e["msg"]
        found = "" if e["type"] == "missing" else f" (got {e['input']!r:.80})"
        parts.append(f"{where}: {what.removeprefix('Value error, ')}{found}")
    return "; ".join(parts)


class _Items(StoredModel):  # ``data.fingerprint.training_items``, which ``items_trained_on`` reads
    paths: list[str] = []
    items: list[str] = []


class _TrainedOn(StoredModel):  # what predict's provenance note reads
    synthetic: bool = False
    dataset: str | None = None
    weights: str | None = None


class _Fingerprint(StoredModel):  # what ``config.identity.check_own_config`` reads
    config: str | None = None
    code: dict[str, Any] | None = None


class _Entries(StoredModel):
    """The entries of a checkpoint (and of an ONNX file's metadata) that softfer's loaders read."""

    config: dict[str, Any]
    classes: list[str] | None = Field(None, min_length=2, max_length=1000)  # data.num_classes' range
    trained_on: _TrainedOn | None = None
    fingerprint: _Fingerprint | None = None
    training_items: _Items | None = None
    calibration_items: _Items | None = None
    calibration: dict[str, Any] | None = None  # checked by ``Calibration.from_state``
    weights_sha256: str | None = None
    state_sha256: str | None = None


def check_entries(state: Mapping[str, Any], path: str | Path, prefix: str = "") -> None:
    """Refuse a checkpoint (or an ONNX file's metadata: ``prefix`` "softfer") whose entries are not of
    the types softfer writes, before any of them is used.

    Raises:
        ValueError: one line naming ``path`` and each entry or field, the problem and the value found.
    """
    try:
        _Entries.model_validate({k: state[k] for k in _Entries.model_fields if k in state})
    except ValidationError as exc:
        raise ValueError(
            f"{path}: {stored_problems(exc, prefix)}: not as softfer writes it (damaged or edited?); use "
            "another copy, or the file softfer wrote"
        ) from None


def weights_digest(weights: Mapping[str, Any]) -> str:
    """sha256 (hex) of a state dict's tensors: each one's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for key in sorted(weights):
        value = weights[key]
        if not isinstance(value, torch.Tensor):
            continue
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(json.dumps([key, str(t.dtype), list(value.shape)]).encode("utf-8"))
        h.update(t.view(torch.uint8).numpy().data if t.numel() else b"")
    return h.hexdigest()


def _tensors(tree: Any, path: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state (dicts, lists, tuples) by its path: "optimizer.state.3.exp_avg"."""
    if isinstance(tree, torch.Tensor):
        return {path: tree}
    items = (
        tree.items()
        if isinstance(tree, Mapping)
        else enumerate(tree)
        if isinstance(tree, list | tuple)
        else ()
    )
    out: dict[str, torch.Tensor] = {}
    for key, value in items:
        out.update(_tensors(value, f"{path}.{key}" if path else str(key)))
    return out


def state_digest(state: Mapping[str, Any]) -> str | None:
    """sha256 of the tensors a training checkpoint holds beside its weights (optimiser and scheduler state,
    random generator states), or None when it holds none (model.pt)."""
    rest = _tensors({k: v for k, v in state.items() if k not in ("model", DIGEST_KEY, STATE_DIGEST_KEY)})
    return weights_digest(rest) if rest else None


def _with_digest(state: dict[str, Any]) -> dict[str, Any]:
    weights = state.get("model")
    if not isinstance(weights, Mapping):
        return state
    rest = state_digest(state)
    return {**state, DIGEST_KEY: weights_digest(weights), **({STATE_DIGEST_KEY: rest} if rest else {})}


def check_weights_digest(state: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose model weights are not the bytes it was written with.

    Raises:
        ValueError: naming ``path``, when the stored ``weights_sha256`` differs from the weights' digest.
    """
    stored, weights = state.get(DIGEST_KEY), state.get("model")
    if not isinstance(weights, Mapping):
        return
    if not isinstance(stored, str):
        log.debug("%s records no digest of its weights (an older or foreign checkpoint): not checked", path)
        return
    if weights_digest(weights) != stored:
        raise ValueError(
            f"{path}: corrupt checkpoint: its model weights are not the bytes it was written with (sha256 "
            "mismatch: damaged on disk or in a copy); use another copy, or train again"
        )
    rest = state.get(STATE_DIGEST_KEY)
    if isinstance(rest, str) and state_digest(state) != rest:  # a resume would continue from damaged state
        raise ValueError(
            f"{path}: corrupt checkpoint: its optimiser or scheduler state is not the bytes it was written "
            "with (sha256 mismatch: damaged on disk or in a copy); use another copy, or train again"
        )


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path`` (atomic); the model
    weights' digest (``weights_sha256``) is added, so that ``load_checkpoint`` finds later damage.

    Raises:
        OSError: the file could not be written (a full disk), naming ``path``.
    """
    state = _with_digest(state)
    with atomic_write(path, "wb") as f:
        try:
            torch.save(state, f)
        except RuntimeError as exc:
            # torch reports a failed write (a full disk) as "[enforce fail at inline_container.cc...]", with
            # the OSError only as its context: raise it as an OSError on the temporary file, which
            # atomic_write then reports naming ``path``
            cause = exc.__context__ if isinstance(exc.__context__, OSError) else None
            if cause is None and "inline_container" not in str(exc) and "PytorchStreamWriter" not in str(exc):
                raise
            why = (cause and cause.strerror) or f"torch could not write the file ({_first_line(exc)})"
            raise OSError(cause.errno if cause else errno.EIO, why, f.name) from exc


def save_safetensors_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write a model checkpoint as safetensors: the weights as tensors, the rest (config, classes, what the
    model was trained on, the weights' digest) as JSON in the file's metadata. Atomic like
    ``save_checkpoint``."""
    tensors = {k: v.contiguous() for k, v in state["model"].items()}
    extra = {k: v for k, v in state.items() if k != "model"} | {DIGEST_KEY: weights_digest(tensors)}
    data = save_safetensors(tensors, metadata={SAFETENSORS_KEY: json.dumps(extra)})
    with atomic_write(path, "wb") as f:
        f.write(data)


def onnx_head(head: bytes) -> bool:
    """Whether a file's first bytes are an ONNX model's (a protobuf ``ModelProto``): its field 1, the IR
    version (tag 0x08, a one-byte varint), then one of the fields 2-8 (``ONNX_NEXT_TAGS``). Used only to
    name a file that is refused anyway: a torch file starts with "PK" or 0x80."""
    return len(head) >= 3 and head[0] == 0x08 and 0 < head[1] < 0x80 and head[2] in ONNX_NEXT_TAGS


def _refuse_onnx(path: Path) -> NoReturn:
    """Refuse an ONNX file given where a PyTorch checkpoint is read (eval, calibrate, export, resume, a
    torch backend), saying what is read and where ONNX runs: every loader says the same (audit U3)."""
    named = path.suffix.lower() == ".onnx"
    called = "" if named else f" (named {path.suffix or 'without a suffix'}, by its bytes)"
    raise ValueError(
        f"{path}: an ONNX export{called}; this command reads the PyTorch checkpoint (.pt, .pth or "
        ".safetensors) it was exported from; ONNX files run in `softfer predict` and softfer.Predictor"
        + ("" if named else ", named .onnx")
    )


def _load_safetensors(path: Path, head: bytes) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        if onnx_head(head):  # only for a file safetensors cannot read: its header length may look alike
            _refuse_onnx(path)
        raise ValueError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from exc
    if SAFETENSORS_KEY not in meta:
        raise ValueError(
            f"{path}: a safetensors file without softfer metadata (config, classes): not a checkpoint"
        )
    try:
        state = json.loads(meta[SAFETENSORS_KEY])
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: its metadata {SAFETENSORS_KEY!r} is not JSON ({exc}): a damaged or edited checkpoint"
        ) from None
    if not isinstance(state, dict) or "config" not in state:
        raise ValueError(
            f"{path}: not a softfer checkpoint (its metadata {SAFETENSORS_KEY!r} is no JSON object with a "
            f"config: {type(state).__name__})"
        )
    return {**state, "model": tensors}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a softfer checkpoint (torch file or ``.safetensors``) without executing pickled code.

    Raises:
        ValueError: one line naming the file when it is missing, an ONNX export (by its name or its first
            bytes: ``_refuse_onnx`` says where it runs), empty, not a PyTorch file (text, say),
            truncated, corrupt (its weights do not match their stored digest), not a softfer
            checkpoint, an entry is not of the type softfer writes (``check_entries``, naming it), or its
            model weights hold NaN or infinity (naming the tensor).
    """
    path = Path(path)
    if path.is_dir():
        inside = [path / n for n in ("model.pt", "model_calibrated.pt") if (path / n).is_file()]
        hint = f": did you mean {inside[0]}?" if inside else ": give the checkpoint file (RUN/model.pt)"
        raise ValueError(f"{path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    with path.open("rb") as f:
        head = f.read(4)
    if path.suffix.lower() == ".onnx":  # read as a torch file it was called corrupt (audit U3)
        _refuse_onnx(path)
    if path.suffix == ".safetensors":
        state = _load_safetensors(path, head)
        check_entries(state, path)
        check_weights_digest(state, path)
        check_finite_weights(state["model"], path)
        return state
    if not head:
        raise ValueError(
            f"{path}: empty file: a corrupt or truncated checkpoint (a write that never finished?)"
        )
    # torch.save writes a zip archive; torch's legacy format starts with a pickle protocol byte.
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        if onnx_head(head):  # an ONNX export under another name (audit U3: "not a PyTorch file")
            _refuse_onnx(path)
        raise ValueError(
            f"{path}: not a PyTorch file (it starts with {head!r}): a corrupt or truncated checkpoint, or "
            "another kind of file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # whatever a damaged file makes torch raise, the answer is the same
        refused = refused_for_safety(exc)
        if refused:  # not damage: the file asks to run code, which a checkpoint softfer wrote never does
            raise ValueError(
                f"{path}: refused: it holds code or Python objects other than tensors ({refused}), and "
                "softfer never runs code from a checkpoint; use a checkpoint softfer wrote, or re-save "
                "trusted weights as a plain state dict or .safetensors"
            ) from exc
        raise ValueError(f"{path}: corrupt or truncated checkpoint ({_reason(exc)})") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a softfer checkpoint (no model state and config)")
    check_entries(state, path)
    if isinstance(state["model"], dict):
        check_weights_digest(state, path)
        check_finite_weights(state["model"], path)
    return state


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _reason(exc: Exception) -> str:
    # torch's first line, except its advice to load with weights_only=False: that would run the file's code.
    text = str(exc).strip()
    if "weights_only" in text:
        detail = text.split("WeightsUnpickler error:")[1:]
        return detail[0].strip().splitlines()[0] if detail and detail[0].strip() else "unreadable pickle data"
    return _first_line(exc)
