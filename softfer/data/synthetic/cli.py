"""`softfer synth dfew|affectnet|ferplus`: generate, then optionally print statistics and save a montage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES, FERPLUS_CLASSES
from softfer.data.label_files import agreement_report
from softfer.data.synthetic.ferplus import generate_ferplus, render_faces
from softfer.data.synthetic.generate import (
    ClipRecord,
    generate_affectnet,
    generate_dfew,
    terminate_as_interrupt,  # the commands' too: they hold it around the whole command
)
from softfer.data.synthetic.model import SynthConfig, is_single_labelled
from softfer.io.console import bars_allowed, console
from softfer.io.files import atomic_write
from softfer.io.outputs import check_folder, check_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def check_synth_outputs(out: str | Path, montage: str | Path | None, *, overwrite: bool) -> None:
    """The output rule (``softfer.io.outputs``) of `softfer synth`, before anything is generated: OUT new or
    empty, with ``overwrite`` too (``check_folder(staged=True)``: a generated set replaces no file); the
    montage outside OUT (whose generated files it would replace or be replaced by), named with an image format
    matplotlib writes, and onto no existing file without ``overwrite``.

    Raises:
        ValueError: naming OUT or --montage and what to do.
    """
    check_folder(out, staged=True)
    if not montage:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if Path(montage).suffix.lower().lstrip(".") not in formats:
        raise ValueError(
            f"--montage {montage}: not named as an image matplotlib writes; end the name in .png (or "
            f"{', '.join('.' + f for f in sorted(formats) if f != 'png')})"
        )
    check_output(montage, overwrite=overwrite, what="--montage", fills=[out])


def _progress(total: int, what: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=console,
        disable=not bars_allowed(),
    )


def _generate(fn, out: str, total: int, what: str, **kw) -> tuple[list[ClipRecord], float]:
    start = time.perf_counter()
    with _progress(total, what) as bar:
        task = bar.add_task(what, total=total)
        records = fn(out, progress=lambda n: bar.advance(task, n), **kw)
    return records, time.perf_counter() - start


def dfew_stats(records: list[ClipRecord]) -> str:
    """Vote statistics of a generated DFEW-layout set, with ground-truth comparisons."""
    votes = np.array([r.votes for r in records])
    cfg = SynthConfig()
    single = np.array([is_single_labelled(v, cfg) for v in votes])
    primary = np.array([r.primary for r in records])
    blended = np.array([r.mixture.max() < 1.0 for r in records])
    differs = (votes.argmax(1) != primary)[blended].mean() if blended.any() else 0.0
    lines = [
        agreement_report(votes, DFEW_CLASSES),
        f"single-labelled clips: {single.mean():.1%}",
        f"clips blending several emotions (latent): {blended.mean():.1%}; "
        f"majority vote differs from the latent primary emotion on {differs:.1%} of them",
        f"frames per clip: {min(r.num_frames for r in records)}..{max(r.num_frames for r in records)} "
        f"(mean {np.mean([r.num_frames for r in records]):.1f})",
    ]
    return "\n".join(lines)


def montage_figure(
    images: list[list[np.ndarray]], titles: list[str], captions: list[list[str]] | None = None
) -> Figure:
    """A grid of RGB frames, one row per clip, with a title per row (none where it is "") and, when
    given, a caption under each image (below it, never over the face)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(images), max(len(r) for r in images)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.45), squeeze=False)
    for i, row in enumerate(images):
        for j in range(cols):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(row):
                ax.imshow(row[j])
            if captions and j < len(captions[i]):
                ax.text(0.5, -0.03, captions[i][j], transform=ax.transAxes, ha="center", va="top", fontsize=6)
        if titles[i]:
            axes[i][0].set_title(titles[i], fontsize=7, loc="left")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.95, bottom=0.04, wspace=0.03, hspace=0.35)
    return fig


def save_montage(
    images: list[list[np.ndarray]],
    titles: list[str],
    png: str | Path,
    captions: list[list[str]] | None = None,
) -> None:
    """Save ``montage_figure`` to ``png``; SIGTERM removes the partial file as Ctrl-C does (as the set's
    staging does: the demo's and any caller's data step is covered whole)."""
    import matplotlib.pyplot as plt

    fig = montage_figure(images, titles, captions)
    with (
        terminate_as_interrupt(),
        atomic_write(png, "wb") as f,
    ):  # the format matplotlib chooses by the name, which is checked
        fig.savefig(f, dpi=110, format=Path(png).suffix.lstrip(".").lower())
    plt.close(fig)


def _dfew_montage(out: Path, records: list[ClipRecord], png: str, rows: int = 6, cols: int = 8) -> None:
    from PIL import Image

    picks = np.linspace(0, len(records) - 1, min(rows, len(records))).astype(int)
    images, titles = [], []
    for i in picks:
        r = records[i]
        frames = np.linspace(1, r.num_frames, cols).round().astype(int)
        folder = out / "Clip" / "clip_224x224" / f"{r.index:05d}"
        images.append(
            [np.asarray(Image.open(folder / f"{r.index:05d}_{f:05d}.jpg").convert("RGB")) for f in frames]
        )
        share = r.votes / r.votes.sum()
        top = np.argsort(-share)[:3]
        titles.append(
            f"{r.index:05d} votes: "
            + ", ".join(f"{DFEW_CLASSES[k]} {share[k]:.0%}" for k in top if share[k] > 0)
        )
    save_montage(images, titles, png)


def synth_dfew(
    out: str, *, clips: int, size: int, seed: int, workers: int, stats: bool, montage: str | None
) -> list[ClipRecord]:
    """Generate a DFEW-layout set and report on it."""
    records, seconds = _generate(
        generate_dfew, out, clips, "rendering clips", clips=clips, size=size, seed=seed, workers=workers
    )
    frames = sum(r.num_frames for r in records)
    print(f"wrote {clips} clips ({frames} frames, {size}x{size}) in DFEW layout to {out} in {seconds:.1f} s")
    if stats:
        print(dfew_stats(records))
    if montage:
        _dfew_montage(Path(out), records, montage)
        print(f"montage: {montage}")
    return records


def synth_affectnet(
    out: str, *, images: int, size: int, seed: int, workers: int, stats: bool, montage: str | None
) -> list[ClipRecord]:
    """Generate an AffectNet-layout set of still images and report on it."""
    records, seconds = _generate(
        generate_affectnet,
        out,
        images,
        "rendering images",
        images=images,
        size=size,
        seed=seed,
        workers=workers,
    )
    print(f"wrote {images} images ({size}x{size}) in AffectNet layout to {out} in {seconds:.1f} s")
    labels = np.array([int(r.votes.argmax()) for r in records])
    if stats:
        counts = np.bincount(labels, minlength=len(AFFECTNET_CLASSES))
        print(
            "expression counts: "
            + ", ".join(f"{c}={n}" for c, n in zip(AFFECTNET_CLASSES, counts, strict=True))
        )
        primary = np.array([r.primary for r in records])
        differs = (labels != primary).mean()
        print(f"single annotator label differs from the latent primary emotion on {differs:.1%}")
    if montage:
        from PIL import Image

        picks = np.linspace(0, len(records) - 1, min(48, len(records))).astype(int)
        imgs = [
            np.asarray(
                Image.open(Path(out) / "Manually_Annotated_Images" / records[i].extra["path"]).convert("RGB")
            )
            for i in picks
        ]
        grid = [imgs[k : k + 8] for k in range(0, len(imgs), 8)]
        captions = [[AFFECTNET_CLASSES[labels[i]] for i in picks[k : k + 8]] for k in range(0, len(picks), 8)]
        save_montage(grid, [""] * len(grid), montage, captions)
        print(f"montage: {montage}")
    return records


def synth_ferplus(
    out: str, *, images: int, seed: int, workers: int, stats: bool, montage: str | None
) -> None:
    """Generate a synthetic FER+ set in both layouts and report on it."""
    faces, seconds = _generate(
        generate_ferplus, out, images, "rendering faces", images=images, seed=seed, workers=workers
    )
    print(
        f"wrote {images} FER+ rows (48x48 grey) to {out} (fer2013.csv + fer2013new.csv) and "
        f"{Path(out) / 'images'} (FER2013Train/Valid/Test) in {seconds:.1f} s"
    )
    names = (*FERPLUS_CLASSES, "unknown", "NF")
    top = faces.majority
    if stats:
        counts = np.bincount(top, minlength=len(names))
        print("majority vote counts: " + ", ".join(f"{c}={n}" for c, n in zip(names, counts, strict=True)))
    if montage:
        picks = np.linspace(0, len(faces) - 1, min(48, len(faces))).astype(int).tolist()
        rows = [picks[k : k + 8] for k in range(0, len(picks), 8)]
        drawn = dict(zip(picks, render_faces(picks, seed), strict=True))  # the set keeps no pixels
        grid = [[np.repeat(drawn[i].pixels[..., None], 3, axis=2) for i in row] for row in rows]
        save_montage(grid, [""] * len(grid), montage, [[names[top[i]] for i in row] for row in rows])
        print(f"montage: {montage}")
