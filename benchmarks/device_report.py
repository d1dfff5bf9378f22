"""The report of benchmarks/device_check.py: the machine it ran on, and its results as the Markdown table
docs/BENCHMARKS.md takes (imported by the script as `python benchmarks/device_check.py` runs it)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device == "cuda" else None,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _num(value: Any, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def _variant_rows(train: dict[str, Any], variants: Iterable[str]) -> list[str]:
    rows = []
    for name in variants:
        r = train.get(name, {})
        if "error" in r:
            rows.append(f"| {name} | failed: {r['error']} | | | | |")
            continue
        mem, fed = r["in_memory"], r["loader_fed"]
        rows.append(
            f"| {name} | {_num(mem['clips_per_s'])} | {_num(mem['step_ms'])} | {_num(fed['clips_per_s'])} | "
            f"{_num(100 * fed['gpu_busy'], '.0f')} % | {_num(r['peak_gib'], '.2f')} |"
        )
        cache = r.get("cache_fed")
        if cache is not None:
            rows.append(
                f"| {name}, fed from the packed uint8 cache | | | failed: {cache['error']} | | |"
                if "error" in cache
                else f"| {name}, fed from the packed uint8 cache | | | {_num(cache['clips_per_s'])} | "
                f"{_num(100 * cache['gpu_busy'], '.0f')} % | |"
            )
    return rows


def _loader_lines(train: dict[str, Any]) -> list[str]:
    alone, cached = train.get("loader_alone", {}), train.get("loader_alone_cached", {})
    lines = [f"- the DataLoader alone: {_num(alone.get('clips_per_s'))} clips/s {alone.get('error', '')}"]
    if "error" in cached:
        lines.append(f"- the DataLoader alone from the packed uint8 cache: failed: {cached['error']}")
    elif cached:
        lines.append(
            f"- the DataLoader alone from the packed uint8 cache (`data.cache_dir`, after the first epoch): "
            f"{_num(cached['clips_per_s'])} clips/s (the first epoch, decoding every frame into it: "
            f"{_num(cached['fill_clips_per_s'])} clips/s)"
        )
    return lines


def _sanity_line(r: dict[str, Any], size: int) -> str:
    if "error" in r:
        return f"- sanity training at {size} px: failed: {r['error']}"
    fell = "fell" if r["loss_fell"] else "DID NOT FALL"
    return (
        f"- sanity training at {size} px: {r['epochs']} epochs in {r['seconds']:.0f} s, training loss "
        f"{r['first_loss']:.4f} -> {r['last_loss']:.4f} ({fell}), test UAR {_num(r['test_uar'], '.4f')}"
    )


def _predict_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"- predict: failed: {r['error']}"
    return (
        f"- predict: {r['frames_per_s']:.1f} frames/s ({r['frames']} frames in {r['seconds']:.1f} s, "
        f"{r['faces']} face tracks, {Path(r['video']).name})"
    )


def markdown(report: dict[str, Any], variants: Iterable[str]) -> str:
    """The report as the Markdown table docs/BENCHMARKS.md takes; ``variants``: the table's rows, in order."""
    m, s = report["machine"], report["sizes"]
    smoke = " (CPU smoke run: tiny sizes, not a measurement)" if report["smoke"] else ""
    return "\n".join(
        [
            f"## device check: {m['device']}, torch {m['torch']} (CUDA {m['cuda']}), {m['cpu_cores']} CPU "
            f"cores, {m['date']}{smoke}",
            "",
            f"TSM-R18 8x{s['size']}, batch {s['batch']}, the engine's training step (MIDAS); the DataLoader "
            f"reads JPEG frame folders with {report['workers']} workers.",
            "",
            "| variant | clips/s, data in memory | ms/step | clips/s, fed by the DataLoader | GPU busy "
            "| peak GiB |",
            "|---|---|---|---|---|---|",
            *_variant_rows(report["train"], variants),
            "",
            *_loader_lines(report["train"]),
            _sanity_line(report["sanity"], s["sanity_size"]),
            _predict_line(report["predict"]),
        ]
    )
