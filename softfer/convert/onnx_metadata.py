"""The softfer metadata of an exported ONNX file (``softfer.convert.onnx``): its keys, checked on load.

Every value a loader reads back from ``metadata_props`` (types and ranges) is checked here, before any is
used; a problem is one line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError

from softfer.config.identity import check_own_config
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import StoredModel, check_entries, stored_problems
from softfer.inference.loading import stored_config
from softfer.models.spec import ModelSpec

INPUT_NAME = "input"
META_PREFIX = "softfer."
META_KEYS = ("spec", "classes", "config", "trained_on", "input")
# `softfer calibrate`'s, and the training run's fingerprint (config hash, data, code): files exported
# before these were recorded, uncalibrated or from an imported checkpoint lack them.
OPTIONAL_KEYS = ("calibration", "fingerprint")


class _Input(StoredModel):
    """``softfer.input`` as ``export_checkpoint`` writes it (``OnnxModule`` feeds the graph by it)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    shape: list[Annotated[int, Field(ge=1)] | str] = Field(min_length=4, max_length=5)
    min_frames: Annotated[int, Field(ge=1)] | None


def read_metadata(session: Any, path: Path) -> dict[str, Any]:
    """The softfer metadata of a loaded ONNX file, JSON-decoded and checked: every value loaders read back
    (types and ranges) here, before any is used; a problem is one line naming the file and the field."""
    props = session.get_modelmeta().custom_metadata_map
    missing = [k for k in META_KEYS if META_PREFIX + k not in props]
    if len(missing) == len(META_KEYS):
        raise ValueError(
            f"{path}: an ONNX model without softfer metadata (spec, classes, config): export softfer "
            "checkpoints with softfer.convert.onnx.export_checkpoint"
        )
    if missing:
        raise ValueError(f"{path}: softfer metadata lacks {[META_PREFIX + k for k in missing]}")
    meta: dict[str, Any] = {"calibration": None}
    for key in META_KEYS + tuple(k for k in OPTIONAL_KEYS if META_PREFIX + k in props):
        try:
            meta[key] = json.loads(props[META_PREFIX + key])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: metadata {META_PREFIX}{key} is not JSON ({exc})") from exc
    check_entries(meta, path, prefix="softfer")  # classes, trained_on, fingerprint: the checkpoint's rules
    meta["spec"] = _spec(meta["spec"], path)
    try:
        _Input.model_validate(meta["input"])
    except ValidationError as exc:
        raise ValueError(f"{path}: metadata {stored_problems(exc, 'softfer.input')}") from None
    cfg = stored_config(meta, path)
    check_own_config(meta, cfg, path, made="it was exported with", advice="edited after export?")
    Calibration.from_state(meta, path, name=f"{META_PREFIX}calibration")
    _check_input(meta, cfg.data.segments * cfg.data.frames_per_segment, session, path)
    width = session.get_outputs()[0].shape[-1]
    if isinstance(width, int) and width != len(meta["classes"]):
        raise ValueError(f"{path}: the model has {width} outputs, its metadata {len(meta['classes'])} names")
    return meta


def _check_input(meta: dict[str, Any], frames: int, session: Any, path: Path) -> None:
    """Refuse a ``softfer.input`` that does not fit the graph and the model: the graph's input name, the
    model's rank, and the fewest frames of a clip, 1 to the ``frames`` exported (none for an image)."""
    given, graph, kind = meta["input"], session.get_inputs()[0], meta["spec"].input_kind
    rank, fewest = 5 if kind == "clip" else 4, given["min_frames"]
    problems = []
    if given["name"] != graph.name:
        problems.append(f"name {given['name']!r} is not the graph's input {graph.name!r}")
    if len(given["shape"]) != rank:
        problems.append(f"shape {given['shape']} has not the {rank} axes of a {kind} model")
    if kind == "clip" and (fewest is None or fewest > frames):
        problems.append(f"min_frames {fewest!r} is not between 1 and the config's {frames} frames")
    if kind == "image" and fewest is not None:
        problems.append(f"min_frames {fewest!r} is given for an image model")
    if problems:
        raise ValueError(f"{path}: metadata {META_PREFIX}input: {'; '.join(problems)}")


# The types and ranges of ``softfer.spec``'s values that ModelSpec itself does not check (it checks the names
# of kinds, heads and crops, one mean and std per channel, std > 0); unknown keys are refused by ``_spec``.
class _SpecValues(StoredModel):
    mean: list[float]
    std: list[float]
    input_size: int = Field(224, ge=1, le=4096)
    channels: int = Field(3, ge=1, le=16)
    box_margin: float = Field(0.0, ge=0.0, le=10.0)
    trunk: str = ""
    cam_layer: str = ""
    name: str = ""


def _spec(data: Any, path: Path) -> ModelSpec:
    fields = {f.name for f in dataclasses.fields(ModelSpec)}
    if not isinstance(data, dict) or set(data) - fields:
        extra = sorted(set(data) - fields) if isinstance(data, dict) else data
        raise ValueError(f"{path}: metadata {META_PREFIX}spec is not a softfer ModelSpec (unknown: {extra})")
    try:
        _SpecValues.model_validate(data)
        return ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except ValidationError as exc:
        raise ValueError(f"{path}: metadata {stored_problems(exc, 'softfer.spec')}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: metadata {META_PREFIX}spec is not a valid ModelSpec ({exc})") from exc
