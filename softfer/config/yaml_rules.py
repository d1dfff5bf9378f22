"""YAML as softfer reads configs and ``--set`` values: safe loading (no Python tags), plain values read as
the YAML 1.2 core schema reads them, duplicate keys refused, and an integer with a leading zero refused.

WHY not ``yaml.safe_load``: PyYAML reads YAML 1.1, where ``010`` is octal 8, ``yes``/``no``/``on``/``off``
are booleans, ``1_000`` is 1000, ``1:30`` is 90 (base 60) and ``2024-01-01`` a date, and where a key given
twice silently keeps the last value. YAML 1.2 (and JSON) read ``yes``, ``1_000`` and ``1:30`` as the
strings typed; a boolean setting still reads ``yes`` as true (``strict.BOOLEAN_WORDS``), and a number
setting refuses ``1_000`` naming the key (text where a number belongs: ``strict``), never reading it as
1000. ``010`` is refused rather than read as 10: softfer (PyYAML) read it as 8 until now, so a file
that trained seed 8 would otherwise silently train seed 10.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

_TAG = "tag:yaml.org,2002:"
# PyYAML's YAML 1.1 implicit types that YAML 1.2's core schema reads otherwise (null and merge keys stay).
_YAML11_ONLY = {f"{_TAG}{t}" for t in ("bool", "int", "float", "timestamp", "value")}
# YAML 1.2 core schema (spec 10.3.2); hex and octal also take a sign, as PyYAML's hex did.
_CORE = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|[-+]?0o[0-7]+|[-+]?0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
)
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")


class YamlRuleError(ValueError):
    """A YAML text that parses but breaks one of softfer's rules; the message says where and what to do."""


def _line(mark: Any) -> int:
    return mark.line + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core plain scalars, duplicate keys and leading-zero integers refused."""

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML11_ONLY]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    one_line = False

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        """The mapping, refused when a key appears twice (merge keys ``<<`` may be overridden)."""
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == f"{_TAG}merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: PyYAML's own check names it
            if first is not key_node.start_mark:
                lines = "" if self.one_line else f" (lines {_line(first)} and {_line(key_node.start_mark)})"
                raise YamlRuleError(f"duplicate key {key!r}{lines}: give each key once")
        return super().construct_mapping(node, deep=deep)

    def construct_yaml12_int(self, node: Node) -> int:
        """An integer as YAML 1.2 reads it (decimal, 0o octal, 0x hex); a leading zero is refused."""
        text = str(self.construct_scalar(node)).strip()  # type: ignore[arg-type]
        if _LEADING_ZERO.fullmatch(text):
            sign, digits = "-" if text.startswith("-") else "", text.lstrip("+-").lstrip("0") or "0"
            octal = f", or {sign}0o{digits} for octal" if set(digits) <= set("01234567") else ""
            line = "" if self.one_line else f"line {_line(node.start_mark)}: "
            raise YamlRuleError(
                f"{line}{text} is ambiguous (an integer with a leading zero is octal in YAML 1.1, decimal "
                f'in YAML 1.2): write {sign}{digits} for decimal{octal}, or "{text}" (quoted) for a string'
            )
        try:
            return int(text, 0)
        except ValueError:
            raise ConstructorError(None, None, f"{text!r} is not an integer", node.start_mark) from None


for _name, _pattern, _first in _CORE:
    _Loader.add_implicit_resolver(f"{_TAG}{_name}", re.compile(f"^(?:{_pattern})$"), list(_first))
_Loader.add_constructor(f"{_TAG}int", _Loader.construct_yaml12_int)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes a string YAML 1.2 would read as something else (``1e3``, ``0o7``), so
    that what softfer writes reads back the same under either version."""


for _name, _pattern, _first in _CORE:
    _Dumper.add_implicit_resolver(f"{_TAG}{_name}", re.compile(f"^(?:{_pattern})$"), list(_first))


def load_yaml(text: str) -> Any:
    """``text`` read by softfer's rules (see the module docstring).

    Raises:
        YamlRuleError: a duplicate key or a leading-zero integer (the message names its lines unless
            ``text`` is one line, as a ``--set`` value is).
        yaml.YAMLError: text that is not YAML, or a tag safe loading refuses.
    """
    loader = _Loader(text)
    loader.one_line = "\n" not in text.strip()
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def dump_yaml(data: Any) -> str:
    """``data`` as YAML (block style, keys in order) that ``load_yaml`` reads back unchanged."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def yaml_error_place(exc: yaml.YAMLError) -> str:
    """ " at line L, column C: why" for a YAML syntax error: one line (PyYAML's own text spans lines, with a
    caret drawing)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {problem}"
