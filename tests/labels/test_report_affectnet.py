"""`softfer labels va` on AffectNet's official training.csv: codes 8-10 and VA -2 filtered as the reader does.

The expected statistics are computed here with numpy on the rows that should be kept, and the expected
VA-derived labels with scipy's Gaussian density.
"""

import csv
import json
import logging

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from softfer.data.label_files import va_to_labels
from tests.data.test_formats import AFFECTNET_HEADER as HEADER


def _training_csv(path, rng):
    """Codes 0-7 with VA (30 each) and two class rows with VA -2, code 8 with VA, codes 9-10 mostly -2."""
    rows = []
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    for code in range(8):
        centre = 0.5 * np.array([np.cos(angles[code]), np.sin(angles[code])])
        for va in np.clip(centre + rng.normal(0, 0.12, (30, 2)), -0.99, 0.99):
            rows.append((code, *np.round(va, 4)))
    rows += [(0, -2, -2), (3, -2, -2)]  # class rows without VA
    rows += [(8, *np.round(rng.uniform(-0.9, 0.9, 2), 4)) for _ in range(5)]  # "none": has VA
    rows += [(9, -2, -2)] * 3 + [(9, 0.1, 0.2)] + [(10, -2, -2)] * 4
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i, (code, v, a) in enumerate(rows):
            w.writerow([f"1/{i}.jpg", 0, 0, 100, 100, "", code, v, a])
    return np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], dtype=float)


def _expected_stats(va, labels, k):
    """Section 4.2: prior N_k / N; mean and population covariance within one std of the class mean."""
    counts = np.bincount(labels, minlength=k).astype(float)
    means, covs = [], []
    for c in range(k):
        pts = va[labels == c]
        core = pts[np.all(np.abs(pts - pts.mean(0)) <= pts.std(0), axis=1)]
        means.append(core.mean(0))
        covs.append(np.cov(core.T, bias=True))
    return counts / counts.sum(), np.array(means), np.array(covs), counts


@pytest.mark.parametrize("num_classes", [None, 7])
def test_affectnet_training_csv_statistics_use_class_codes_with_va(tmp_path, num_classes):
    codes, va = _training_csv(tmp_path / "training.csv", np.random.default_rng(3))
    k = num_classes or 8
    out, stats_path = tmp_path / "out.csv", tmp_path / "stats.json"
    # Before issue 12: "class 9 has no sample" (codes 8-10 were taken for classes).
    summary = va_to_labels(
        tmp_path / "training.csv", out, method="gmm", num_classes=num_classes, save_stats=stats_path
    )
    has_va = ~np.all(va == -2, axis=1)
    keep = has_va & (codes < k)
    priors, means, covs, counts = _expected_stats(va[keep], codes[keep], k)
    got = json.loads(stats_path.read_text())
    np.testing.assert_allclose(got["priors"], priors)
    np.testing.assert_allclose(got["means"], means)
    np.testing.assert_allclose(got["covs"], covs)
    np.testing.assert_allclose(got["counts"], counts)
    assert counts.sum() == 30 * k
    assert "missing VA (-2): 9" in summary  # 2 class rows + 3 code-9 rows + 4 code-10 rows
    assert "code 8 (none): 5, code 9 (uncertain): 4, code 10 (no face): 4" in summary
    assert ("code 7 (contempt): 30" in summary) == (k == 7)
    assert f"class rows (codes 0..{k - 1}) with VA: {int(keep.sum())}, without VA: 2" in summary

    rows = list(csv.DictReader(out.open()))
    names = [c for c in rows[0] if c.startswith("pva_")]
    assert len(names) == k
    dens = np.stack(
        [p * multivariate_normal(m, c).pdf(va) for p, m, c in zip(priors, means, covs, strict=True)], 1
    )
    post = dens / dens.sum(1, keepdims=True)
    for i, row in enumerate(rows):
        pva = [row[n] for n in names]
        fused = [row[n.replace("pva_", "fused_")] for n in names]
        if not has_va[i]:
            assert pva == [""] * k and fused == [""] * k and row["va_missing"] == "1"
            continue
        # Every row with VA gets VA-derived labels (code 8 "none" counts for VA metrics) ...
        np.testing.assert_allclose(np.array(pva, dtype=float), post[i], atol=2e-6)
        if codes[i] < k:  # ... and only class rows a fused label
            want = 0.5 * np.eye(k)[codes[i]] + 0.5 * post[i]
            np.testing.assert_allclose(np.array(fused, dtype=float), want, atol=2e-6)
        else:
            assert fused == [""] * k


def test_codes_outside_affectnet_range_and_generic_tables_stay_strict(tmp_path):
    path = tmp_path / "training.csv"
    _training_csv(path, np.random.default_rng(0))
    text = path.read_text().splitlines()
    cells = text[4].split(",")
    cells[6] = "11"
    text[4] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=r"training.csv:line 5: label 11 outside 0..10"):
        va_to_labels(path, tmp_path / "o.csv")
    generic = tmp_path / "va.csv"
    generic.write_text("valence,arousal,expression\n0.1,0.2,0\n0.3,0.1,8\n")
    with pytest.raises(ValueError, match=r"va.csv:line 3: label 8 outside 0..7"):
        va_to_labels(generic, tmp_path / "o.csv", num_classes=8)


def test_labels_va_shows_its_summary_once(tmp_path, capsys, caplog):
    """Found (new-user audit): `softfer labels va` printed the row counts and logged them too, so each
    count showed twice on the terminal."""
    from softfer.cli import main

    _training_csv(tmp_path / "training.csv", np.random.default_rng(3))
    with caplog.at_level(logging.DEBUG):
        assert main(["labels", "va", str(tmp_path / "training.csv"), "--out", str(tmp_path / "o.csv")]) == 0
    out, err = capsys.readouterr()
    shown = out + err + caplog.text
    for line in ("missing VA (-2): 9", "code 8 (none): 5", "without VA: 2", "method: gmm"):
        assert shown.count(line) == 1, line
    assert f"wrote {tmp_path / 'o.csv'}" in out
