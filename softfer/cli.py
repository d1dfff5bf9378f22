"""The `softfer` command. Each subcommand parses its options here and calls a plain function elsewhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from softfer import __version__


def _kv_map(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"error: expected CLASS=COLUMN, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _cmd_labels_votes(a: argparse.Namespace) -> None:
    from softfer.labels.report import votes_to_labels

    print(votes_to_labels(a.file, a.out, column_map=_kv_map(a.column), id_column=a.id_column, tie=a.tie))
    print(f"wrote {a.out}")


def _cmd_labels_va(a: argparse.Namespace) -> None:
    from softfer.labels.report import va_to_labels

    summary = va_to_labels(
        a.file,
        a.out,
        method=a.method,
        alpha=a.alpha,
        squared=not a.unsquared,
        num_classes=a.num_classes,
        stats_path=a.stats,
        save_stats=a.save_stats,
    )
    print(summary)
    print(f"wrote {a.out}")


def _cmd_models_list(a: argparse.Namespace) -> None:
    from softfer.models.summary import describe_models

    print(describe_models(verbose=a.verbose, frames=a.frames, size=a.size))


def _cmd_synth_dfew(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import synth_dfew

    synth_dfew(
        a.out, clips=a.clips, size=a.size, seed=a.seed, workers=a.workers, stats=a.stats, montage=a.montage
    )


def _cmd_synth_affectnet(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import synth_affectnet

    synth_affectnet(
        a.out, images=a.images, size=a.size, seed=a.seed, workers=a.workers, stats=a.stats, montage=a.montage
    )


def _cmd_demo(a: argparse.Namespace) -> None:
    from softfer.demo import run_demo

    run_demo(a.out, quick=a.quick)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and documentation)."""
    p = argparse.ArgumentParser(prog="softfer", description="Ambiguity-aware facial expression recognition.")
    p.add_argument("--version", action="version", version=f"softfer {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the main job: synthetic data -> soft labels -> MIDAS, with a report")
    demo.add_argument("--out", default="softfer_demo", help="output folder (default: ./softfer_demo)")
    demo.add_argument("--quick", action="store_true", help="a much smaller run, for smoke tests")
    demo.set_defaults(func=_cmd_demo)

    labels = sub.add_parser("labels", help="label tools: votes -> soft/hard labels, VA -> mixed/fused labels")
    lsub = labels.add_subparsers(dest="labels_command", required=True, metavar="TOOL")
    votes = lsub.add_parser(
        "votes",
        help="vote counts (CSV or XLSX) -> soft and hard labels + agreement report",
        description="Read per-clip annotator vote counts, one column per class (found by name: happy, sad, "
        "neutral, angry, surprise, disgust, fear; common spellings such as 'Happiness' or 'anger' accepted), "
        "and write soft labels (vote proportions), majority labels and per-clip agreement.",
    )
    votes.add_argument("file", help="CSV or XLSX file with one row per clip")
    votes.add_argument("--out", required=True, help="output CSV")
    votes.add_argument(
        "--column", action="append", metavar="CLASS=COLUMN", help="map a class to a differently named column"
    )
    votes.add_argument(
        "--id-column", help="column naming the clip (default: video_name/clip/name/id if present)"
    )
    votes.add_argument(
        "--tie",
        choices=["first", "random", "drop"],
        default="first",
        help="majority ties: lowest class index (first), seeded random choice (random), or label -1 (drop)",
    )
    votes.set_defaults(func=_cmd_labels_votes)

    va = lsub.add_parser(
        "va",
        help="valence/arousal + class columns -> GMM or Euclidean mixed labels and fused labels",
        description="Fit per-class valence/arousal statistics (or load them with --stats), derive mixed "
        "labels "
        "from VA (dual-domain paper eq. 2 or 3) and fuse them with the one-hot class labels (eq. 4). Needs "
        "columns valence, arousal and label/expression/class. -2 marks missing VA.",
    )
    va.add_argument("file", help="CSV or XLSX file")
    va.add_argument(
        "--method",
        choices=["gmm", "euclid"],
        default="gmm",
        help="GMM posterior (eq. 2) or distances (eq. 3)",
    )
    va.add_argument(
        "--alpha", type=float, default=0.5, help="fusion weight of the one-hot label (eq. 4; default 0.5)"
    )
    va.add_argument(
        "--unsquared", action="store_true", help="euclid: unsquared distances (public reference code)"
    )
    va.add_argument("--num-classes", type=int, help="number of classes (default: largest label + 1)")
    va.add_argument(
        "--stats", help="JSON statistics from a training set (--save-stats) instead of fitting on FILE"
    )
    va.add_argument("--save-stats", help="write the fitted statistics to this JSON file")
    va.add_argument("--out", required=True, help="output CSV")
    va.set_defaults(func=_cmd_labels_va)

    models = sub.add_parser("models", help="model registry")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="TOOL")
    ml = msub.add_parser("list", help="list registered models")
    ml.add_argument("--verbose", action="store_true", help="parameters and FLOPs per clip")
    ml.add_argument("--frames", type=int, default=8, help="frames per clip for --verbose (default 8)")
    ml.add_argument("--size", type=int, default=224, help="input size for --verbose (default 224)")
    ml.set_defaults(func=_cmd_models_list)

    synth = sub.add_parser("synth", help="built-in synthetic benchmark of ambiguous facial expressions")
    ssub = synth.add_subparsers(dest="synth_command", required=True, metavar="LAYOUT")
    sd = ssub.add_parser("dfew", help="video clips in the DFEW release layout, with annotator votes")
    sd.add_argument("out", help="output folder")
    sd.add_argument("--clips", type=int, default=1500)
    sd.add_argument("--size", type=int, default=112, help="frame size in pixels (default 112)")
    sa = ssub.add_parser(
        "affectnet", help="still images with an AffectNet-style CSV (class + valence/arousal)"
    )
    sa.add_argument("out", help="output folder")
    sa.add_argument("--images", type=int, default=5000)
    sa.add_argument("--size", type=int, default=112, help="image size in pixels (default 112)")
    for s, fn in ((sd, _cmd_synth_dfew), (sa, _cmd_synth_affectnet)):
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
        s.add_argument("--stats", action="store_true", help="print class counts and vote statistics")
        s.add_argument("--montage", metavar="PNG", help="save a grid of sample frames")
        s.set_defaults(func=fn)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `softfer` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"softfer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
