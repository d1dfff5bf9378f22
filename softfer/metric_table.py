"""The one table of the scalar metrics softfer reports: per metric its direction and where it appears.

Cross-validation summaries, comparisons (their paired tests and tables), the HTML report and
docs/METRICS.md all read this table, so adding a metric is one function in ``softfer.metrics`` (and its
key in ``classification_report``) plus one entry here; ``tests/test_metric_table.py`` fails until the
entry exists, the report produces the key, and docs/METRICS.md documents it with the same direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricEntry:
    """One scalar metric of a run's metrics.json.

    Attributes:
        name: the key in metrics.json (group scores: the flattened ``clear_uar``-style key).
        higher_is_better: the direction.
        definition: what the number is, in one line (the reports show it; docs/METRICS.md carries it).
        summarized: averaged over folds by ``cv`` and over runs by ``compare``; False: a run's page only.
        compared: paired differences and tests between configs in ``compare``.
        shown: a column of the ``cv``/``compare`` tables (Markdown and HTML).
        group: a clear/ambiguous group score, flattened from ``clear_vs_ambiguous``.
        needs_votes: scored against the annotators' votes: absent (None), never 0, without them.
        why_not_compared: the reason a summarized metric is not compared.
        value_range: (lowest, highest) value the metric can take (``math.inf``: unbounded above); a
            metrics.json value outside it is refused (``engine.evaluate.metric_value_problems``).
    """

    name: str
    higher_is_better: bool
    definition: str
    summarized: bool = True
    compared: bool = True
    shown: bool = False
    group: bool = False
    needs_votes: bool = False
    why_not_compared: str = ""
    value_range: tuple[float, float] = field(kw_only=True)  # required: every metric states its range


SHARE = (0.0, 1.0)  # a rate or a mean of rates (recall, accuracy, F1, calibration gap, error rate)
NATS = (0.0, math.inf)  # a mean of log-probability terms (nats): no upper bound


METRIC_TABLE: tuple[MetricEntry, ...] = (
    MetricEntry(
        "uar",
        True,
        "mean of the per-class recalls (unweighted average recall)",
        shown=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "war",
        True,
        "share of clips whose top class is the true one (weighted average recall, accuracy)",
        shown=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "macro_f1", True, "unweighted mean of the per-class F1 scores", shown=True, value_range=SHARE
    ),
    MetricEntry("nll", False, "mean -ln p of the true class (nats)", shown=True, value_range=NATS),
    MetricEntry(
        "brier",
        False,
        "mean squared distance of the probabilities to the one-hot label (0 to 2)",
        value_range=(0.0, 2.0),
    ),
    MetricEntry(
        "ece",
        False,
        "gap between top-class confidence and accuracy, averaged over 15 equal-width bins",
        shown=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "ece_equal_mass", False, "the same with 15 bins holding equally many clips", value_range=SHARE
    ),
    MetricEntry(
        "aurc",
        False,
        "mean error rate of the clips kept when abstaining on the least confident first",
        shown=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "soft_cross_entropy",
        False,
        "cross-entropy H(q, p) of the prediction p against the vote distribution q (nats)",
        compared=False,
        needs_votes=True,
        why_not_compared="H(q, p) = H(q) + KL(q || p) and H(q) is the same for every config on a fold, so "
        "its paired differences are kl_to_votes' and testing both would count one result twice",
        value_range=NATS,
    ),
    MetricEntry(
        "kl_to_votes",
        False,
        "KL(q ‖ p) between the vote distribution q and the prediction p (nats)",
        needs_votes=True,
        value_range=NATS,
    ),
    MetricEntry(
        "js_to_votes",
        False,
        "Jensen-Shannon divergence of prediction and votes (nats, at most ln 2)",
        shown=True,
        needs_votes=True,
        value_range=(0.0, math.log(2)),
    ),
    MetricEntry(
        "clear_accuracy",
        True,
        "accuracy on the clear clips (top vote share above the clear threshold)",
        needs_votes=True,
        group=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "clear_uar",
        True,
        "UAR on the clear clips",
        needs_votes=True,
        shown=True,
        group=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "ambiguous_accuracy",
        True,
        "accuracy on the ambiguous clips (top vote share at most the threshold)",
        needs_votes=True,
        group=True,
        value_range=SHARE,
    ),
    MetricEntry(
        "ambiguous_uar",
        True,
        "UAR on the ambiguous clips",
        needs_votes=True,
        shown=True,
        group=True,
        value_range=SHARE,
    ),
    # valence/arousal models only: on a run's page, not averaged (few configs predict VA)
    MetricEntry(
        "rmse_valence",
        False,
        "root mean squared error of the predicted valence",
        summarized=False,
        compared=False,
        value_range=(0.0, math.inf),
    ),
    MetricEntry(
        "rmse_arousal",
        False,
        "root mean squared error of the predicted arousal",
        summarized=False,
        compared=False,
        value_range=(0.0, math.inf),
    ),
    MetricEntry(
        "ccc_valence",
        True,
        "concordance correlation of predicted and true valence",
        summarized=False,
        compared=False,
        value_range=(-1.0, 1.0),
    ),
    MetricEntry(
        "ccc_arousal",
        True,
        "concordance correlation of predicted and true arousal",
        summarized=False,
        compared=False,
        value_range=(-1.0, 1.0),
    ),
)

METRICS_BY_NAME: dict[str, MetricEntry] = {m.name: m for m in METRIC_TABLE}


def metric_range(name: str) -> tuple[float, float] | None:
    """The range metric ``name`` can take (its ``value_range``), None for a name the table lacks."""
    entry = METRICS_BY_NAME.get(name)
    return entry.value_range if entry is not None else None


# Derived views, in the table's order (the reports' order).
SUMMARY_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.summarized)
COMPARED_METRICS: dict[str, bool] = {m.name: m.higher_is_better for m in METRIC_TABLE if m.compared}
SHOWN_IN_TABLE: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.shown)
GROUP_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.group)
VOTE_METRICS: frozenset[str] = frozenset(m.name for m in METRIC_TABLE if m.needs_votes)
RUN_PAGE_KEYS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE)


def _range_text(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"


def metric_table_markdown() -> str:
    """The table as the Markdown section docs/METRICS.md carries (a test keeps the two equal)."""
    yes = {True: "yes", False: ""}
    lines = [
        "| key | better | definition | range | averaged by cv / compare | paired test in compare "
        "| column of the tables | needs votes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in METRIC_TABLE:
        compared = yes[m.compared] or (f"no: {m.why_not_compared}" if m.why_not_compared else "")
        better = "higher" if m.higher_is_better else "lower"
        cells = (
            f"`{m.name}`",
            better,
            m.definition,
            _range_text(m.value_range),
            yes[m.summarized],
            compared,
            yes[m.shown],
            yes[m.needs_votes],
        )
        # a "|" inside a cell (KL(q || p)) would end the cell
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
