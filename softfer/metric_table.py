"""The one table of the scalar metrics softfer reports: per metric its direction and where it appears.

Cross-validation summaries, comparisons (their paired tests and tables), the HTML report and
docs/METRICS.md all read this table, so adding a metric is one function in ``softfer.metrics`` (and its
key in ``classification_report``) plus one entry here; ``tests/test_metric_table.py`` fails until the
entry exists, the report produces the key, and docs/METRICS.md documents it with the same direction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricEntry:
    """One scalar metric of a run's metrics.json.

    Attributes:
        name: the key in metrics.json (group scores: the flattened ``clear_uar``-style key).
        higher_is_better: the direction.
        summarized: averaged over folds by ``cv`` and over runs by ``compare``; False: a run's page only.
        compared: paired differences and tests between configs in ``compare``.
        shown: a column of the ``cv``/``compare`` tables (Markdown and HTML).
        group: a clear/ambiguous group score, flattened from ``clear_vs_ambiguous``.
        needs_votes: scored against the annotators' votes: absent (None), never 0, without them.
        why_not_compared: the reason a summarized metric is not compared.
    """

    name: str
    higher_is_better: bool
    summarized: bool = True
    compared: bool = True
    shown: bool = False
    group: bool = False
    needs_votes: bool = False
    why_not_compared: str = ""


METRIC_TABLE: tuple[MetricEntry, ...] = (
    MetricEntry("uar", True, shown=True),
    MetricEntry("war", True, shown=True),
    MetricEntry("macro_f1", True, shown=True),
    MetricEntry("nll", False, shown=True),
    MetricEntry("brier", False),
    MetricEntry("ece", False, shown=True),
    MetricEntry("ece_equal_mass", False),
    MetricEntry("aurc", False, shown=True),
    MetricEntry(
        "soft_cross_entropy",
        False,
        compared=False,
        needs_votes=True,
        why_not_compared="H(q, p) = H(q) + KL(q || p) and H(q) is the same for every config on a fold, so "
        "its paired differences are kl_to_votes' and testing both would count one result twice",
    ),
    MetricEntry("kl_to_votes", False, needs_votes=True),
    MetricEntry("js_to_votes", False, shown=True, needs_votes=True),
    MetricEntry("clear_accuracy", True, needs_votes=True, group=True),
    MetricEntry("clear_uar", True, needs_votes=True, shown=True, group=True),
    MetricEntry("ambiguous_accuracy", True, needs_votes=True, group=True),
    MetricEntry("ambiguous_uar", True, needs_votes=True, shown=True, group=True),
    # valence/arousal models only: on a run's page, not averaged (few configs predict VA)
    MetricEntry("rmse_valence", False, summarized=False, compared=False),
    MetricEntry("rmse_arousal", False, summarized=False, compared=False),
    MetricEntry("ccc_valence", True, summarized=False, compared=False),
    MetricEntry("ccc_arousal", True, summarized=False, compared=False),
)

METRICS_BY_NAME: dict[str, MetricEntry] = {m.name: m for m in METRIC_TABLE}
# Derived views, in the table's order (the reports' order).
SUMMARY_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.summarized)
COMPARED_METRICS: dict[str, bool] = {m.name: m.higher_is_better for m in METRIC_TABLE if m.compared}
SHOWN_IN_TABLE: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.shown)
GROUP_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.group)
VOTE_METRICS: frozenset[str] = frozenset(m.name for m in METRIC_TABLE if m.needs_votes)
RUN_PAGE_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE)


def metric_table_markdown() -> str:
    """The table as the Markdown section docs/METRICS.md carries (a test keeps the two equal)."""
    yes = {True: "yes", False: ""}
    lines = [
        "| key | better | averaged by cv / compare | paired test in compare | column of the tables "
        "| needs votes |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRIC_TABLE:
        compared = yes[m.compared] or (f"no: {m.why_not_compared}" if m.why_not_compared else "")
        better = "higher" if m.higher_is_better else "lower"
        cells = (f"`{m.name}`", better, yes[m.summarized], compared, yes[m.shown], yes[m.needs_votes])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
