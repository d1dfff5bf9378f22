"""A cross-dataset test set's labels in the training data's class order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from softfer.classes import changed_order
from softfer.data.records import Record

log = logging.getLogger(__name__)


def in_training_order(
    records: list[Record], have: Sequence[str], want: Sequence[str], source: str
) -> list[Record]:
    """``records`` (of ``source``, whose classes are ``have``) with their labels, votes and soft labels in the
    training data's class order ``want`` (FER+'s neutral, happy, surprise, ... for AffectNet's neutral,
    happy, sad, ...): a model is scored in its own order, so a test set listing its classes otherwise was
    scored against the wrong outputs. The records as read stay those of the data fingerprint.

    Raises:
        ValueError: ``have`` is not ``want``'s set of classes in any order (``changed_order``), naming both.
    """
    order = changed_order(  # for each training class, its index among the test data's
        have,
        want,
        f"{source}: its classes {list(have)} are not the training data's {list(want)} in any order; "
        "test on data with the training classes",
    )
    if order is None:
        return records
    log.info("%s: classes %s taken in the training order %s", source, ", ".join(have), ", ".join(want))
    position = np.argsort(order)  # test data's class index -> training class index
    return [
        replace(
            r,
            label=int(position[r.label]) if r.label >= 0 else r.label,
            votes=None if r.votes is None else np.asarray(r.votes)[order],
            soft=None if r.soft is None else np.asarray(r.soft)[order],
        )
        for r in records
    ]
