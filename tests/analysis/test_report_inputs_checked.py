"""Audit 7 F7 and F11: what `softfer report` embeds and shows is checked first.

F7: only PNG files (by their signature) that lie inside the folder, links followed, are embedded; each
one left out is named on the page. F11: a cross-validation's summary.json is shown only when its numbers
are in range and are the mean, spread and interval of the folds' own values; a missing fold is one line.
The folders are written by hand (no training), the expected numbers computed by hand.
"""

import base64
import json
import re

import cv2
import numpy as np
import pytest

from softfer.cli import main

SECRET = b"\x89PNG\r\n\x1a\n secret-token-123"  # PNG-signed, so only the folder rule keeps it out


def _png(seed: int) -> bytes:
    ok, data = cv2.imencode(".png", np.full((4, 4, 3), seed, np.uint8))
    assert ok
    return data.tobytes()


def _embedded(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]


def _notes(page: str) -> list[str]:
    return re.findall(r'<p class="absent">([^<]*)</p>', page)


def test_the_run_page_embeds_only_pngs_inside_the_folder(tmp_path, media):
    """Found: a confusion_matrix.png linking to a private file put that file, base64, into the page; a
    text file and a JPEG named .png were embedded as images."""
    (tmp_path / "secret.png").write_bytes(SECRET)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"uar": 0.5, "war": 0.5}))
    (run / "confusion_matrix.png").symlink_to(tmp_path / "secret.png")
    (run / "curves.png").write_text("not a png")
    (run / "extra.png").write_bytes((media / "multi_face.jpg").read_bytes())
    (run / "reliability.png").write_bytes(_png(1))
    (run / "per_class_recall.png").symlink_to(run / "reliability.png")  # a link inside the folder: fine
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert _embedded(page) == [_png(1), _png(1)]  # per_class_recall, reliability (sorted)
    assert base64.b64encode(SECRET).decode() not in page and "secret-token" not in page
    assert _notes(page) == [
        "figure confusion_matrix.png links outside the folder: left out",
        "figure curves.png is not a PNG: left out",
        "figure extra.png is not a PNG: left out",
    ]


def _cv(tmp_path, uar=(0.25, 0.75)):
    """A 2-fold cv folder whose summary.json is as softfer writes it, computed by hand: UAR 0.25 and 0.75
    (mean 0.5, sample std 0.25 * sqrt(2); t interval 0.5 +- 12.706 * 0.25 = [-2.68, 3.68], cut at [0, 1]),
    WAR 0.5 twice (std 0, interval [0.5, 0.5])."""
    folder = tmp_path / "cv"
    for k, u in zip((1, 2), uar, strict=True):
        (folder / f"fold_{k}").mkdir(parents=True)
        (folder / f"fold_{k}" / "metrics.json").write_text(json.dumps({"uar": u, "war": 0.5}))
    summary = {
        "folds": [1, 2],
        "metrics": {
            "uar": {"mean": 0.5, "std": 0.25 * 2**0.5, "ci_low": 0.0, "ci_high": 1.0, "ci_cut": True},
            "war": {"mean": 0.5, "std": 0.0, "ci_low": 0.5, "ci_high": 0.5, "ci_cut": False},
        },
    }
    summary["metrics"]["uar"]["values"] = list(uar)
    summary["metrics"]["war"]["values"] = [0.5, 0.5]
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _edit(folder, **changes) -> None:
    path = folder / "summary.json"
    summary = json.loads(path.read_text())
    summary["metrics"]["uar"].update(changes)
    path.write_text(json.dumps(summary))


def test_a_summary_as_softfer_writes_it_is_shown(tmp_path):
    folder = _cv(tmp_path)
    assert main(["report", str(folder)]) == 0
    assert "0.5000" in (folder / "report.html").read_text()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mean": 7.5}, r"out of range: metrics\.uar\.mean = 7\.5 \(a number in \[0, 1\]\)"),
        ({"ci_high": 1.5}, r"out of range: metrics\.uar\.ci_high = 1\.5"),
        ({"std": -0.1}, r"out of range: metrics\.uar\.std = -0\.1"),
        ({"mean": 0.95, "values": [0.9, 1.0]}, r"metrics\.uar\.values is \[0\.9, 1\.0\], but the folds'"),
        ({"mean": 0.6}, r"metrics\.uar\.mean is 0\.6, but the folds' values \[0\.25, 0\.75\] give 0\.5;"),
        ({"std": 0.3}, r"metrics\.uar\.std is 0\.3, but the folds' values"),
        ({"ci_low": 0.1}, r"metrics\.uar\.ci_low is 0\.1, but the folds' values"),
    ],
)
def test_a_summary_not_of_its_folds_is_refused_naming_file_and_field(tmp_path, capsys, changes, message):
    """Found: a UAR of 7.5, or a mean that was not the mean of the per-fold values shown below it, was
    rendered without a word."""
    folder = _cv(tmp_path)
    _edit(folder, **changes)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert re.search(re.escape(f"{folder / 'summary.json'}: ") + ".*" + message, err), err
    assert "Traceback" not in err and not (folder / "report.html").exists()


def test_a_missing_fold_is_one_line_naming_it(tmp_path, capsys):
    """Found: the OS's words, "[Errno 2] No such file or directory: '.../fold_2/metrics.json'"."""
    folder = _cv(tmp_path)
    (folder / "fold_2" / "metrics.json").unlink()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: fold 2 has no metrics.json" in err and "cross-validation is not finished" in err
    assert "Errno" not in err and len(err.strip().splitlines()) == 1


def test_a_cv_folds_figure_linking_out_of_the_folder_is_left_out(tmp_path):
    folder = _cv(tmp_path)
    (tmp_path / "secret.png").write_bytes(SECRET)
    (folder / "fold_1" / "confusion_matrix.png").symlink_to(tmp_path / "secret.png")
    (folder / "fold_2" / "confusion_matrix.png").write_bytes(_png(2))
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert _embedded(page) == [_png(2)] and "secret-token" not in page
    assert _notes(page) == ["figure fold_1/confusion_matrix.png links outside the folder: left out"]
