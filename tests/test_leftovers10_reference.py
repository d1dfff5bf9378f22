"""Leftover 10, 2: the demo's reference comparison (reference.json, softfer's own record) converted a number
written as text ("96" epochs, "0.5" a recall) silently, by pydantic's lax mode; it is refused now, naming
the file and the field. Checked on every number of the shipped file; the shipped file still loads."""

import copy
import json
from pathlib import Path

import pytest

from softfer.demo import demo_reference_path
from softfer.studies.converged import load_reference

SHIPPED = [
    demo_reference_path(),
    *Path(__file__).resolve().parents[1].glob("softfer/configs/**/reference.json"),
]


def number_fields(value, at=()):
    """(path, number) of every number of a JSON value (booleans are no numbers), the rows' first only."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from number_fields(sub, (*at, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value[:1] if at == ("rows",) else value):
            yield from number_fields(sub, (*at, i))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield at, value


@pytest.mark.parametrize("path", sorted(set(SHIPPED)), ids=str)
def test_every_shipped_reference_loads_with_its_numbers_as_numbers(path):
    stored = json.loads(path.read_text())
    loaded = load_reference(path)
    assert loaded is not None and loaded["epochs"] == stored["epochs"]
    for at, value in number_fields(stored):
        got = loaded
        for key in at:
            got = got[key]
        assert got == value and isinstance(got, (int, float)), at


def test_a_number_written_as_text_is_refused_naming_the_file_and_field(tmp_path):
    stored = json.loads(demo_reference_path().read_text())
    fields = list(number_fields(stored))
    assert len(fields) > 30  # epochs, folds, seeds, counts, num_classes, a row's fold, seed, metrics, recalls
    accepted = []
    for at, value in fields:
        edited = copy.deepcopy(stored)
        place = edited
        for key in at[:-1]:
            place = place[key]
        place[at[-1]] = str(value)  # "96", "0.5"
        path = tmp_path / "reference.json"
        path.write_text(json.dumps(edited))
        try:
            load_reference(path)
        except ValueError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: "), message
            dotted = ".".join(map(str, at))
            if at == ("version",):  # checked first, by value
                assert "not a reference comparison of version 1" in message
            elif at[0] == "rows" and f'{at[-1]} = "{value}"' in message:  # a compared metric: rows[0]: ...
                assert f'rows[0]: not a number: {at[-1]} = "{value}"' in message, message
            else:
                assert f'{dotted}: "{value}" is text, not a' in message, message
        else:
            accepted.append(".".join(map(str, at)))
    assert accepted == []


def test_numbers_stay_accepted_where_a_float_is_written_as_an_integer(tmp_path):
    stored = json.loads(demo_reference_path().read_text())
    row = stored["rows"][0]
    name = next(iter(row["per_class_recall"]))
    row["per_class_recall"][name] = 1  # JSON's 1 for 1.0: a number, as written by any JSON writer
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(stored))
    assert load_reference(path)["rows"][0]["per_class_recall"][name] == 1.0
