"""The one metrics table: every entry is produced by the code, documented, and read by every summary."""

import re
from pathlib import Path

import numpy as np

from softfer import metrics
from softfer.engine.evaluate import summary_scalars
from softfer.metric_table import (
    COMPARED_METRICS,
    METRIC_TABLE,
    SHOWN_IN_TABLE,
    SUMMARY_KEYS,
    metric_table_markdown,
)
from softfer.studies import crossval, stats_report

DOCS = Path(__file__).resolve().parents[1] / "docs" / "METRICS.md"


def _voted_report() -> dict:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=40)
    votes = rng.dirichlet(np.ones(4) * 0.3, size=40)
    labels = votes.argmax(1)
    return summary_scalars(metrics.classification_report(probs, labels, soft_target=votes))


def test_every_summarized_entry_is_a_number_a_voted_run_reports():
    flat = _voted_report()
    missing = [k for k in SUMMARY_KEYS if not isinstance(flat.get(k), float)]
    assert not missing, f"metric table entries the report does not produce: {missing}"


def test_names_are_unique_and_directions_of_known_metrics_hold():
    names = [m.name for m in METRIC_TABLE]
    assert len(names) == len(set(names))
    flat = _voted_report()
    # a perfect prediction must score at the "better" end of every compared metric
    perfect = summary_scalars(
        metrics.classification_report(
            np.eye(4)[[0, 1, 2, 3] * 5], np.array([0, 1, 2, 3] * 5), soft_target=np.eye(4)[[0, 1, 2, 3] * 5]
        )
    )
    for name, higher in COMPARED_METRICS.items():
        if perfect[name] is None:  # the ambiguous group: unanimous votes leave it empty
            assert name.startswith("ambiguous_")
            continue
        if higher:
            assert perfect[name] >= flat[name], name
        else:
            assert perfect[name] <= flat[name] + 1e-12, name


def test_shown_and_compared_metrics_are_summarized_and_not_compared_ones_say_why():
    assert set(SHOWN_IN_TABLE) <= set(SUMMARY_KEYS)
    assert set(COMPARED_METRICS) <= set(SUMMARY_KEYS)
    for m in METRIC_TABLE:
        if m.summarized and not m.compared:
            assert m.why_not_compared, m.name


def test_the_studies_read_the_table_not_a_copy():
    assert crossval.SUMMARY_KEYS is SUMMARY_KEYS
    assert stats_report.COMPARED_METRICS is COMPARED_METRICS
    assert stats_report.SHOWN_IN_TABLE is SHOWN_IN_TABLE


def test_docs_carry_the_generated_table_and_document_every_metric():
    text = DOCS.read_text(encoding="utf-8")
    section = re.search(r"<!-- metric table: [^>]*-->\n(.*?)<!-- end metric table -->", text, re.S)
    assert section, "docs/METRICS.md lost its generated metric table"
    assert section.group(1) == metric_table_markdown(), "regenerate the table in docs/METRICS.md"
    prose = text[: section.start()]
    undocumented = [m.name for m in METRIC_TABLE if f"`{m.name}`" not in prose and not m.group]
    assert not undocumented, f"metrics without a definition in docs/METRICS.md: {undocumented}"


def test_every_metric_has_a_one_line_definition_that_the_docs_table_carries():
    text = DOCS.read_text(encoding="utf-8")
    for m in METRIC_TABLE:
        assert m.definition.strip() and "\n" not in m.definition and len(m.definition) <= 100, m.name
        assert m.definition.replace("|", "\\|") in text, m.name
