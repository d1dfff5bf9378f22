"""The base of every config section: unknown keys refused, one rule for every numeric key (a boolean,
NaN, inf or a number written as text is refused before the range check, naming the key), one for every
true/false key (a number, or
a word other than true/false/yes/no/on/off, is refused, naming the key) and one for every text key (one
line, no control character), present or future; and ``PathSetting``, the type of every path-valued setting
(a leading ``~`` expanded)."""

from __future__ import annotations

import json
import math
import os
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)


def expand_home(value: str) -> str:
    """``value`` with a leading ``~`` or ``~user`` expanded as a shell would; any other path unchanged
    (a relative one stays relative to the working folder)."""
    # WHY in the schema: a shell leaves ~ alone inside --set run.out_dir=~/x and in YAML files, and a
    # folder literally named ~ in the working folder is never what was meant.
    return os.path.expanduser(value) if value.startswith("~") else value


# Every setting that names a file or folder has this type, so all of them read ~ alike (docs/CONFIG.md
# shows its type as "path": reference.py looks for EXPANDS_HOME).
EXPANDS_HOME = AfterValidator(expand_home)
PathSetting = Annotated[str, EXPANDS_HOME]


def _number_types(annotation: Any) -> set[type]:
    """The types among bool, int and float that ``annotation`` accepts anywhere (tuples, mappings, unions,
    ``Annotated``); sections (models) are not entered: they validate their own fields."""
    if annotation in (bool, int, float):
        return {annotation}
    if typing.get_origin(annotation) is Literal:
        return set()
    found: set[type] = set()
    for arg in typing.get_args(annotation):
        found |= _number_types(arg)
    return found


def _accepts_text(annotation: Any) -> bool:
    """Whether ``annotation`` takes text anywhere a value may stand (``str``, or a ``Literal`` of words);
    a mapping's keys do not count, and sections (models) are not entered."""
    if annotation is str:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return any(isinstance(a, str) for a in args)
    if typing.get_origin(annotation) is dict:
        args = args[1:]
    return any(_accepts_text(a) for a in args)


def _element_problem(value: Any, check: Callable[[Any], str | None]) -> str | None:
    """``check``'s complaint about the first element of a list, tuple or mapping ``value`` that has one,
    naming the element; None for any other value."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = list(enumerate(value)) if isinstance(value, (tuple, list)) else []
    for at, element in items:
        why = check(element)
        if why:
            return f"item {at!r}: {why}"
    return None


# pydantic's lax reading of a text as a number: what it would convert is what is refused below.
_LAX_FLOAT = TypeAdapter(float)


def _number_as_text(value: str) -> str | None:
    """Why the text ``value`` is refused for a number key, or None where another rule refuses it (nan and
    inf have their own message; pydantic's says what a number looks like)."""
    try:
        number = _LAX_FLOAT.validate_python(value)
    except ValidationError:
        return None
    if not math.isfinite(number):
        return None
    plain = value.strip().replace("_", "")
    if re.fullmatch(r"[-+]?[0-9]+", plain):
        plain = str(int(plain))  # "010": write 10 (010 itself is refused as ambiguous)
    # quoted as JSON (double quotes): the way it was written in a YAML or JSON file
    return (
        f"{json.dumps(value)} is text, not a number (a number has no quotes, spaces or underscores): "
        f"write {plain}"
    )


def _not_a_number(value: Any, text_ok: bool = False) -> str | None:
    """Why ``value`` (a number key's value, or an element of it) is no number here, or None; text is
    refused unless ``text_ok`` (the key also takes text)."""
    if isinstance(value, bool):
        return f"{str(value).lower()} is a boolean, not a number: give a number"
    why = _element_problem(value, lambda v: _not_a_number(v, text_ok))
    if why:
        return why
    # WHY: lax mode read " 5" as 5 and "1_000" (plain 1_000 too: YAML 1.2 reads it as text) as 1000, so a
    # quoted or YAML 1.1 number silently became a setting; a number for a boolean is refused alike
    why = _number_as_text(value) if isinstance(value, str) and not text_ok else None
    if why:
        return why
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None  # pydantic says what a number should look like
    if isinstance(value, float) and math.isnan(value):
        return "nan is not a number here: give a number"
    if isinstance(value, float) and math.isinf(value):
        return f"{value} is not a finite number: give a finite number"
    return None


_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# The words a true/false key reads, in any case (docs/CONFIG.md). WHY a list: pydantic's lax mode also reads
# t, f, y, n, so a typo (model.compile=t, or N for "no" where "N" was not meant) silently set a switch.
BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off")


def _not_a_boolean(value: Any) -> str | None:
    """Why ``value`` (a true/false key's value, or an element of it) is no boolean here, or None."""
    why = _element_problem(value, _not_a_boolean)
    if why:
        return why
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    # "1" in quotes is still a number (lax mode reads it as true); yes/no/on/off stay booleans
    if number or (isinstance(value, str) and _DECIMAL.fullmatch(value.strip())):
        return f"{value!r} is a number, not a boolean: give true or false"
    if isinstance(value, str) and value.strip().lower() not in BOOLEAN_WORDS:
        return f"{value!r} is not a boolean: give one of {', '.join(BOOLEAN_WORDS)}"
    return None


# Unicode's control characters (category Cc: C0, DEL, C1) and its line and paragraph separators. WHY refused
# in every text key: a line break in a config's name once became a command line of the sbatch script that
# --launcher slurm submits (a quoted newline ends an `#SBATCH` comment line); names and paths also reach
# log lines, jobs.json and folder names, and no setting needs one.
# A tab is allowed: it breaks no line (a path may hold one), and configs of earlier versions may.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def control_character(text: str) -> str | None:
    """The first control character (a line break, escape, NUL...; not a tab) in ``text``, or None."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def one_line_problem(text: str) -> str | None:
    """Why ``text`` cannot be a text setting (it holds a control character), or None."""
    char = control_character(text)
    if char is None:
        return None
    return (
        f"holds the control character {char!r} at position {text.index(char)}: a text setting is one line "
        "without control characters (line breaks, escapes); remove it"
    )


def error_lines(exc: ValidationError) -> list[str]:
    """pydantic's errors of a settings file or record, one per problem: ``dotted.field: message``."""
    lines = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(map(str, e['loc']))}: {msg}" if e["loc"] else msg)
    return lines


class StrictModel(BaseModel):
    """A config section: unknown keys refused, numbers are numbers (no booleans, NaN, inf or text),
    booleans are booleans (no numbers), and text is one line without control characters."""

    model_config = ConfigDict(extra="forbid")

    # WHY one before-validator for every field: pydantic's lax mode reads true as 1 and nan passes to the
    # range check ("less than or equal to 10"); every numeric key, present or future, gets the same rule.
    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kinds = _number_types(field.annotation) if field is not None else set()
        if kinds & {int, float} and bool not in kinds:
            # text where a number belongs: a strict model (softfer's own records) refuses it itself
            annotation = field.annotation if field is not None else None
            why = _not_a_number(value, bool(cls.model_config.get("strict")) or _accepts_text(annotation))
            if why:
                raise ValueError(why)
        # WHY the converse: lax mode also reads 1 (or 0.5, or "1") as true, so reduced_decode: 1 decoded
        # reduced; a number for a true/false key is refused as a boolean for a number key is
        if kinds == {bool}:
            why = _not_a_boolean(value)
            if why:
                raise ValueError(why)
        return value

    # Fields of free text that only softfer prints (a paper reference's note, which a folded YAML string
    # `note: >` ends with a line break): they reach no script, file name or log line of a run.
    free_text: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _text_is_one_line(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.free_text:
            return value
        why = one_line_problem(value) if isinstance(value, str) else None
        if why:
            raise ValueError(why)
        return value
