"""A model's calibration: one temperature for its logits, and the rule that calls a distribution ambiguous.

Temperature scaling (Guo et al., ICML 2017) divides the logits by one scalar T > 0 fitted by minimising the
negative log-likelihood on held-out items: T > 1 softens an over-confident model, T < 1 sharpens an
under-confident one; the top class never changes. A distribution is **ambiguous** when its top-2 margin
(top probability minus the second) is below a threshold: two emotions coexist. The threshold is fitted on
clips with votes (``fit_margin_threshold``: the margin that best separates the vote rule's clear clips from
the ambiguous ones, by Youden's J); a model without one uses ``DEFAULT_MARGIN``.

``softfer calibrate`` (``softfer.engine.calibrate``) fits both and stores them in a new checkpoint under
``"calibration"``; the fits here are pure functions of arrays. docs/OUTPUTS.md documents the states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, ValidationError

from softfer.classes import CLEAR_THRESHOLD
from softfer.inference.checkpoint import StoredModel, stored_problems

# A distribution read as vote shares is clear by the vote rule (top share > CLEAR_THRESHOLD) only if its
# top-2 margin exceeds 2 * CLEAR_THRESHOLD - 1 (top 0.9 leaves at most 0.1 to the second): 0.8, the margin
# below which a model without a fitted threshold calls a distribution ambiguous.
DEFAULT_MARGIN = round(2 * CLEAR_THRESHOLD - 1, 9)
STATES = ("clear", "ambiguous", "no_face")
# The temperatures the fit searches (log-spaced bounds): far beyond any useful scaling on either side. A
# stored temperature outside them was not fitted here (T = 1e-300 made every probability NaN).
T_BOUNDS = (1e-2, 1e2)


def temperature_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood (nats) of ``labels`` under softmax(logits / temperature), in float64."""
    from scipy.special import log_softmax  # here: predict loads this module, and scipy costs 0.5 s

    logp = log_softmax(np.asarray(logits, np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), np.asarray(labels, np.int64)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) on ``labels``.

    The NLL is convex in 1/T, so it has one minimum along log T, which bounded Brent search finds (to
    1e-10 in log T) within ``T_BOUNDS``; a result at a bound means the data ask for more than any
    reasonable scaling (e.g. every item right: T -> 0).

    Raises:
        ValueError: no items, or logits and labels of different lengths.
    """
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if len(logits) == 0 or len(logits) != len(labels):
        raise ValueError(f"temperature fit: {len(logits)} logits and {len(labels)} labels (need >= 1, equal)")
    from scipy.optimize import minimize_scalar  # only a fit needs it (0.5 s import)

    lo, hi = (math.log(t) for t in T_BOUNDS)
    found = minimize_scalar(
        lambda log_t: temperature_nll(logits, labels, math.exp(log_t)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-10},
    )
    # exp(log(100)) is 100.00000000000004: kept within the range a calibrated checkpoint is loaded with
    return float(min(max(math.exp(found.x), T_BOUNDS[0]), T_BOUNDS[1]))


def top2(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top index, second index, top-2 margin) per row of (N, K >= 2) probabilities; NaN rows: -1, -1, NaN."""
    p = np.asarray(probs, np.float64)
    known = ~np.isnan(p).any(axis=1)
    # a stable sort puts the lower class index first among equals, as argmax does
    order = np.argsort(-np.nan_to_num(p, nan=0.0), axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1]
    rows = np.arange(len(p))
    margin = np.where(known, p[rows, first] - p[rows, second], np.nan)
    return np.where(known, first, -1), np.where(known, second, -1), margin


def face_states(probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(state, second) per row: ``no_face`` for rows without a distribution (NaN), ``ambiguous`` when the
    top-2 margin is below ``threshold`` (``second`` then names the second class index, else -1), ``clear``
    otherwise."""
    _, second, margin = top2(probs)
    state = np.full(len(margin), "no_face", dtype=object)
    known = ~np.isnan(margin)
    ambiguous = known & (np.nan_to_num(margin, nan=1.0) < threshold)
    state[known] = "clear"
    state[ambiguous] = "ambiguous"
    return state, np.where(ambiguous, second, -1)


def fit_margin_threshold(margins: np.ndarray, ambiguous: np.ndarray) -> dict[str, Any]:
    """The top-2 margin threshold that best tells ``ambiguous`` items (the vote rule's) from clear ones.

    An item is predicted ambiguous when its margin is below the threshold. Youden's J (sensitivity +
    specificity - 1, i.e. 2 x balanced accuracy - 1) is maximised over every cut between observed
    margins (``sklearn.metrics.roc_curve``); the threshold is the midpoint between the largest margin
    called ambiguous and the next one, so a tie never depends on the order.

    Returns:
        {"threshold", "youden_j", "balanced_accuracy", "clear", "ambiguous"} (the last two: item counts).

    Raises:
        ValueError: the items are all clear or all ambiguous (nothing to separate), or no cut separates
            them better than chance (the margins carry no sign of ambiguity on these items).
    """
    from sklearn.metrics import roc_curve  # a second's import: only `softfer calibrate` needs it

    m, amb = np.asarray(margins, np.float64), np.asarray(ambiguous, bool)
    if amb.all() or not amb.any():
        raise ValueError(
            f"ambiguity threshold: the {len(amb)} clips with votes are all "
            f"{'ambiguous' if amb.any() else 'clear'} by the vote rule (data.clear_threshold): "
            "nothing to separate"
        )
    fpr, tpr, cuts = roc_curve(amb, -m, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    if tpr[best] - fpr[best] <= 0:  # the best "cut" is roc_curve's first, +inf: call nothing ambiguous
        raise ValueError(
            f"ambiguity threshold: no margin cut tells the {int(amb.sum())} ambiguous clips from the "
            f"{int((~amb).sum())} clear ones better than chance (Youden's J <= 0)"
        )
    called = -cuts[best]  # items with margin <= called are predicted ambiguous
    above = m[m > called]
    threshold = (called + above.min()) / 2 if len(above) else float(np.nextafter(called, np.inf))
    j = float(tpr[best] - fpr[best])
    return {
        "threshold": float(threshold),
        "youden_j": j,
        "balanced_accuracy": (j + 1) / 2,
        "clear": int((~amb).sum()),
        "ambiguous": int(amb.sum()),
    }


_Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
_Count = Annotated[int, Field(ge=0)]


class _Exact(StoredModel):
    """Part of the "calibration" entry: only keys ``to_state`` writes, so that a foreign one is refused."""

    model_config = ConfigDict(extra="forbid")


class _Skipped(_Exact):
    count: _Count
    ids: list[str]


class _FittedData(_Exact):  # `softfer calibrate` writes every key; a Calibration made in code may not
    items: Annotated[int, Field(ge=1)] | None = None
    with_votes: _Count | None = None
    source: str = "held-out data"  # ``describe`` names it: no null
    skipped: _Skipped | None = None


class _FittedAmbiguity(_Exact):  # engine.calibrate's threshold fit, or why there is none
    why: str | None = None
    clear_threshold: _Fraction | None = None
    threshold: _Fraction | None = None
    youden_j: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    balanced_accuracy: _Fraction | None = None
    clear: _Count | None = None
    ambiguous: _Count | None = None


class _Fitted(_Exact):
    data: _FittedData = Field(default_factory=_FittedData)  # ``describe`` reads it: no null
    nll_before: Annotated[float, Field(ge=0.0)] | None = None
    nll_after: Annotated[float, Field(ge=0.0)] | None = None
    ece_before: _Fraction | None = None
    ece_after: _Fraction | None = None
    ambiguity: _FittedAmbiguity | None = None


class _Ambiguity(_Exact):
    rule: Literal["top-2 margin"]
    threshold: _Fraction
    fitted: bool


class _Entry(_Exact):
    temperature: Annotated[float, Field(ge=T_BOUNDS[0], le=T_BOUNDS[1])]
    ambiguity: _Ambiguity
    fitted: _Fitted | None = None


@dataclass(frozen=True)
class Calibration:
    """A model's temperature and ambiguity threshold, as stored in its checkpoint under "calibration".

    Attributes:
        temperature: logits are divided by it before the softmax (1: none).
        threshold: the top-2 margin below which a distribution is ambiguous.
        threshold_fitted: whether ``threshold`` was fitted on clips with votes (else ``DEFAULT_MARGIN``).
        fitted: what `softfer calibrate` recorded (data, counts, NLL/ECE before and after); {} when the
            model was never calibrated.
    """

    temperature: float = 1.0
    threshold: float = DEFAULT_MARGIN
    threshold_fitted: bool = False
    fitted: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_state(
        cls, state: dict[str, Any], source: str | Path = "checkpoint", *, name: str = "calibration"
    ) -> Calibration:
        """The calibration a checkpoint dict stores (none: temperature 1, the default threshold); ``name``
        is what errors call the entry (an ONNX file's metadata: "softfer.calibration").

        The entry must be as ``to_state`` writes it: JSON's own types (a boolean, not the string "false"),
        a temperature within ``T_BOUNDS`` (the fit's range), a threshold in [0, 1], the record of the fit
        with its counts, NLL >= 0 and fractions in [0, 1], and no other key. (``weights_sha256`` does not
        cover the entry: outputs record the temperature and threshold they used.)

        Raises:
            ValueError: naming ``source`` and each field that is not so, with the value found.
        """
        stored = state.get("calibration")
        if stored is None:
            return cls()
        try:
            entry = _Entry.model_validate(stored)
        except ValidationError as exc:
            raise ValueError(
                f"{source}: {stored_problems(exc, name)}: not as `softfer calibrate` writes it; "
                "run `softfer calibrate` again"
            ) from None
        amb = entry.ambiguity
        return cls(entry.temperature, amb.threshold, amb.fitted, dict(stored.get("fitted") or {}))

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's "calibration" entry (plain JSON types: safetensors keep it as JSON)."""
        return {
            "temperature": self.temperature,
            "ambiguity": {
                "rule": "top-2 margin",
                "threshold": self.threshold,
                "fitted": self.threshold_fitted,
            },
            "fitted": self.fitted,
        }

    def describe(self) -> dict[str, Any]:
        """What outputs say about it (``meta["calibration"]``, metrics.json ``calibration``)."""
        source = self.fitted.get("data", {}).get("source", "held-out data")
        if self.threshold_fitted:
            how = "fitted on clips with votes by `softfer calibrate`"
        else:
            how = (
                f"default {DEFAULT_MARGIN:g} (= 2 x clear threshold {CLEAR_THRESHOLD:g} - 1), not fitted on "
                "this model: run `softfer calibrate` with data that has votes"
            )
        return {
            "temperature": self.temperature,
            "calibrated": bool(self.fitted),
            "note": f"softmax(logits / {self.temperature:.4g}), fitted by `softfer calibrate` on {source}"
            if self.fitted
            else "not calibrated: the model's own softmax (temperature 1)",
            "ambiguity": {
                "rule": "ambiguous when the top-2 margin (top minus second probability) < threshold",
                "threshold": self.threshold,
                "fitted": self.threshold_fitted,
                "note": how,
            },
        }
